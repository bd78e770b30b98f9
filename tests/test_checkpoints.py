"""Checkpoints: loaded by torch's weights-only unpickler with an exact list of globals, written
whole or not at all, and resumable training that ends exactly where an uninterrupted run does."""

import os
import pickle
import sys
import zipfile

import pytest
import torch

from recbole_ext import checkpoints, runner
from recbole_ext.checkpoints import CheckpointError, load_checkpoint

from conftest import quiet_config

# a model of every family, plugin and built-in; the list of globals must cover exactly their checkpoints
FAMILIES = {
    "WALS": {"epochs": 1, "embedding_size": 8},
    "ARGUS": {"epochs": 1, "hidden_size": 16, "head_size": 16, "inner_size": 32, "MAX_ITEM_LIST_LENGTH": 10,
              "feedback_fields": {}, "feedback_loss_weights": {}, "time_context": False},
    "Wukong": {"epochs": 1, "embedding_size": 4, "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO",
               "group_by": None, "mode": "labeled"}, "train_neg_sample_args": None, "threshold": {"rating": 3},
               "metrics": ["AUC"], "valid_metric": "AUC", "load_col": {"inter": ["user_id", "item_id", "rating"]}},
    "BPR": {"epochs": 1, "embedding_size": 8},
    "EASE": {},
    "ItemKNN": {},
    "Pop": {},
    "SASRec": {"epochs": 1, "hidden_size": 16, "inner_size": 32, "n_layers": 1, "MAX_ITEM_LIST_LENGTH": 10,
               "train_neg_sample_args": None},
    "DeepFM": {"epochs": 1, "embedding_size": 4, "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO",
               "group_by": None, "mode": "labeled"}, "train_neg_sample_args": None, "threshold": {"rating": 3},
               "metrics": ["AUC"], "valid_metric": "AUC", "load_col": {"inter": ["user_id", "item_id", "rating"]}},
}


def _trained_checkpoint(model, tiny_data_path, **settings):
    config = runner.build_config(model, "tiny", [], quiet_config(data_path=str(tiny_data_path), load_col=None, **settings))
    trained = runner.train(config, show_progress=False)
    return trained.trainer.saved_model_file, trained


@pytest.fixture(scope="module")
def saved_checkpoints(tiny_data_path, tmp_path_factory):
    """One checkpoint per family, written by the run path (a module's runs share them)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    paths = {}
    for model, settings in FAMILIES.items():
        settings = {"load_col": None, **settings}
        config = runner.build_config(model, "tiny", [], quiet_config(data_path=str(tiny_data_path),
                                                                   checkpoint_dir=str(folder), **settings))
        paths[model] = runner.train(config, show_progress=False).trainer.saved_model_file
    return paths


def test_every_family_checkpoint_loads_and_the_list_is_exactly_what_they_need(saved_checkpoints):
    named = set()
    for model, path in saved_checkpoints.items():
        checkpoint = load_checkpoint(path)
        assert checkpoint["config"]["model"] == model and checkpoint["state_dict"] is not None
        named |= set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    models = {name for name in named if checkpoints.model_class_named(name) is not None}
    assert len(models) == len(FAMILIES)
    listed = {name for name in checkpoints.safe_globals() if not name.startswith("numpy._core.") and "." in name}
    # every listed global is needed by some family's checkpoint, except numpy's dtype classes
    # (built from numpy.dtype, never named) and containers RecBole's Config may hold
    assert named - models <= listed
    unused = {name for name in listed - named if "dtypes" not in name}
    assert unused <= {"builtins.set", "builtins.frozenset", "recbole.utils.enum_type.FeatureType",
                      "recbole.utils.enum_type.FeatureSource", "scipy.sparse._coo.coo_matrix"}, unused


class _SideEffect:
    """Pickled as a call of a function in an importable module with an import-time side effect."""

    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_a_pickle_naming_another_module_is_refused_before_anything_is_imported(tmp_path):
    module = tmp_path / "side_effect_module.py"
    module.write_text("import pathlib\npathlib.Path('imported.txt').write_text('x')\nclass Payload:\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import side_effect_module

        torch.save({"state_dict": {}, "x": side_effect_module.Payload(), "y": _SideEffect()}, tmp_path / "evil.pth",
                   pickle_protocol=2)
        (tmp_path / "imported.txt").unlink()
        del sys.modules["side_effect_module"]
        with pytest.raises(CheckpointError, match="side_effect_module.Payload|posix.system") as error:
            load_checkpoint(tmp_path / "evil.pth")
        assert "\n" not in str(error.value)
        assert "side_effect_module" not in sys.modules and not (tmp_path / "imported.txt").exists()
        assert not (tmp_path / "pwned.txt").exists()
    finally:
        sys.path.remove(str(tmp_path))


def test_a_recbole_class_off_the_list_is_refused(tmp_path):
    from recbole.data.interaction import Interaction

    torch.save({"x": Interaction({"a": torch.ones(2)})}, tmp_path / "other.pth", pickle_protocol=2)
    with pytest.raises(CheckpointError, match="recbole.data.interaction.Interaction"):
        load_checkpoint(tmp_path / "other.pth")


def test_torch_load_itself_is_left_as_torch_ships_it(tmp_path):
    assert getattr(torch.load, "__module__", "") == "torch.serialization"
    torch.save({"payload": _SideEffect()}, tmp_path / "evil.pth")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(tmp_path / "evil.pth"))
    assert not (tmp_path / "pwned.txt").exists()


def test_truncated_corrupt_or_protocol_4_checkpoints_give_one_line(saved_checkpoints, tmp_path):
    data = open(saved_checkpoints["WALS"], "rb").read()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.pth").write_text("not a checkpoint")
    torch.save({"state_dict": {"w": torch.ones(1)}}, tmp_path / "stock.pth", pickle_protocol=4)
    for name, message in (("truncated.pth", "truncated or corrupt"), ("text.pth", "truncated or corrupt"),
                          ("stock.pth", "not in pickle protocol 2"), ("missing.pth", "not found")):
        with pytest.raises(CheckpointError, match=message) as error:
            load_checkpoint(tmp_path / name)
        assert name in str(error.value) and "\n" not in str(error.value)


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_one_readable(tiny_data_path, monkeypatch):
    path, trained = _trained_checkpoint("BPR", tiny_data_path, epochs=1, embedding_size=8)
    before = load_checkpoint(path)["state_dict"]

    def killed_mid_write(obj, target, *args, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        trained.trainer._save_checkpoint(5)
    after = load_checkpoint(path)["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [p.name for p in os.scandir(os.path.dirname(path)) if p.name.endswith(".tmp")] == []


class _Interrupted(Exception):
    pass


def _resume_settings(tiny_data_path, **extra):
    return quiet_config(
        data_path=str(tiny_data_path), load_col=None, epochs=4, stopping_step=10, hidden_size=16, head_size=16,
        inner_size=32, MAX_ITEM_LIST_LENGTH=10, feedback_fields={}, feedback_loss_weights={}, time_context=False,
        hidden_dropout_prob=0.3, attn_dropout_prob=0.3, **extra,
    )


@pytest.mark.parametrize("model", ["ARGUS", "BPR"])
def test_a_run_stopped_after_epoch_2_of_4_and_resumed_ends_exactly_as_an_uninterrupted_run(model, tiny_data_path, tmp_path):
    settings = _resume_settings(tiny_data_path)
    settings = {k: v for k, v in settings.items() if k in runner.known_settings(model, "tiny")}
    trained_weights = {}

    def keep_trained_weights(name):
        return lambda model_object: trained_weights.update({name: {k: v.clone() for k, v in model_object.state_dict().items()}})

    whole = runner.run(model, "tiny", [], {**settings, "checkpoint_dir": str(tmp_path / "whole")}, record=True,
                       after_fit=keep_trained_weights("whole"))

    config = runner.build_config(model, "tiny", [], {**settings, "checkpoint_dir": str(tmp_path / "parts")})
    dataset, train_data, valid_data, test_data = runner.prepare(config)
    model_object, trainer = runner.build_model_and_trainer(config, train_data)

    def stop_after_second_epoch(epoch_idx, valid_score):
        if epoch_idx == 1:
            raise _Interrupted

    with pytest.raises(_Interrupted):
        trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=stop_after_second_epoch)
    last = trainer.last_model_file
    assert load_checkpoint(last)["epoch"] == 1

    resumed = runner.run(model, "tiny", [], {**settings, "checkpoint_dir": str(tmp_path / "resumed")}, resume=last,
                         record=True, after_fit=keep_trained_weights("resumed"))
    # the resumed run trained epochs 2 and 3 only, and validated them exactly as the whole run did
    assert [epoch for _, epoch, _ in resumed["curve"]] == [2, 3]
    assert [valid for _, _, valid in resumed["curve"]] == [valid for _, _, valid in whole["curve"][2:]]
    final_whole, final_resumed = trained_weights["whole"], trained_weights["resumed"]
    assert all(torch.equal(final_whole[k], final_resumed[k]) for k in final_whole)
    assert resumed["best_valid_score"] == whole["best_valid_score"]
    assert resumed["test_result"] == whole["test_result"]


def test_resume_refuses_a_best_checkpoint_and_another_model(saved_checkpoints, tiny_data_path, tmp_path):
    config = runner.build_config("BPR", "tiny", [], quiet_config(data_path=str(tiny_data_path), load_col=None))
    _, train_data, _, _ = runner.prepare(config)
    _, trainer = runner.build_model_and_trainer(config, train_data)
    with pytest.raises(ValueError, match="not a last checkpoint"):
        trainer.resume(saved_checkpoints["BPR"])
    with pytest.raises(ValueError, match="is a WALS run, not BPR"):
        trainer.resume(checkpoints_last(saved_checkpoints["WALS"]))


def checkpoints_last(best):
    from recbole_ext.trainer.resume import last_checkpoint_path

    return last_checkpoint_path(best)


@pytest.mark.xfail(strict=True, raises=CheckpointError, reason=(
    "known bug, session 30: RecBole's SASRecF (and any model listing a module in other_parameter_name) pickles "
    "that module into its checkpoints, and the loader refuses torch.nn classes; fixing it re-keys every lab record"))
def test_a_checkpoint_holding_a_module_in_other_parameter_loads(tmp_path):
    layer = torch.nn.ModuleList([torch.nn.Embedding(3, 2)])  # what SASRecF's other_parameter() holds
    torch.save({"state_dict": {}, "other_parameter": {"feature_embed_layer": layer}}, tmp_path / "f.pth", pickle_protocol=2)
    assert isinstance(load_checkpoint(tmp_path / "f.pth")["other_parameter"]["feature_embed_layer"], torch.nn.ModuleList)
