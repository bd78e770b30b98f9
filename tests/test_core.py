"""Plugin core: registration through every stock RecBole entry point,
yaml precedence, checkpoint reload, the history rule, HyperTuning (checkpoint safety: test_checkpoints.py)."""

import os
import sys

import pytest
import torch

from recbole.config import Config
from recbole.data import create_dataset
from recbole.data.dataset import Dataset
from recbole.model.general_recommender.bpr import BPR
from recbole.utils import get_model, get_trainer

from recbole_ext import registry
from recbole_ext.model.wals import WALS
from recbole_ext.trainer import HistoryFilterMixin, NaNLossError, SweepTrainer

from conftest import quiet_config


def test_get_model_and_trainer_find_plugin_models():
    assert get_model("WALS") is WALS
    config = Config(model="WALS", dataset="ml-100k")
    trainer = get_trainer(config["MODEL_TYPE"], "WALS")
    assert issubclass(trainer, SweepTrainer) and issubclass(trainer, HistoryFilterMixin)


def test_builtin_models_are_unchanged():
    from recbole.model.sequential_recommender.sasrec import SASRec
    from recbole.trainer import Trainer

    assert get_model("SASRec") is SASRec
    config = Config(model="SASRec", dataset="ml-100k", config_dict={"train_neg_sample_args": None})
    assert get_trainer(config["MODEL_TYPE"], "SASRec") is Trainer
    assert config["n_layers"] == 2 and config["loss_type"] == "CE"


class GuardedToy(BPR):
    """A plugin model without its own trainer."""


class ToyDataset(Dataset):
    pass


class Toy(BPR):
    """A plugin model with its own dataset class."""

    dataset_class = ToyDataset


def test_plugin_models_without_trainer_get_nan_guard():
    from recbole.utils import ModelType

    registry.register_model(GuardedToy)
    assert get_model("GuardedToy") is GuardedToy
    trainer = get_trainer(ModelType.GENERAL, "GuardedToy")
    from recbole_ext.trainer import NaNGuardMixin

    assert issubclass(trainer, NaNGuardMixin)


def test_plugin_may_not_shadow_builtin():
    class EASE(BPR):
        pass

    with pytest.raises(ValueError, match="shadow"):
        registry.register_model(EASE)


def test_plugin_dataset_class_is_used_by_create_dataset(tiny_data_path):
    registry.register_model(Toy)
    config = Config(model="Toy", dataset="tiny", config_dict=quiet_config(data_path=str(tiny_data_path)))
    assert type(create_dataset(config)) is ToyDataset


def _write_yaml(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_model_yaml_precedence_matches_recbole(tmp_path, monkeypatch):
    props = tmp_path / "props"
    # epochs: overall.yaml says 300 -> model yaml wins; MAX_ITEM_LIST_LENGTH: the
    # dataset yaml (ml-100k.yaml) is loaded after the model yaml and wins, as for built-ins.
    _write_yaml(props / "model" / "WALS.yaml", "epochs: 7\nalpha: 1.5\nreg_weight: 0.2\nMAX_ITEM_LIST_LENGTH: 9\nembedding_size: 8\n")
    monkeypatch.setattr(registry, "PROPERTIES_DIR", props)
    config_file = _write_yaml(tmp_path / "user.yaml", "alpha: 2.5\nreg_weight: 0.3\n")
    monkeypatch.setattr(sys, "argv", ["prog", "--reg_weight=0.5"])
    config = Config(
        model="WALS", dataset="ml-100k", config_file_list=[str(config_file)], config_dict={"embedding_size": 16}
    )
    assert config["epochs"] == 7  # model yaml over overall.yaml
    assert config["MAX_ITEM_LIST_LENGTH"] == 50  # dataset yaml over model yaml
    assert config["alpha"] == 2.5  # config file over model yaml
    assert config["embedding_size"] == 16  # config dict over model yaml
    assert config["reg_weight"] == 0.5  # command line over everything


def test_plugin_dataset_yaml_is_loaded_for_unknown_datasets(tmp_path, monkeypatch):
    props = tmp_path / "props"
    _write_yaml(props / "model" / "WALS.yaml", "epochs: 3\n")
    _write_yaml(props / "dataset" / "toyset.yaml", "load_col:\n    inter: [user_id, item_id, rating]\n")
    monkeypatch.setattr(registry, "PROPERTIES_DIR", props)
    config = Config(model="WALS", dataset="toyset")
    assert config["load_col"] == {"inter": ["user_id", "item_id", "rating"]}
    assert "load_col" in config.parameters["Dataset"]


def test_load_data_and_model_rebuilds_a_plugin_model_from_its_checkpoint(tmp_path, tiny_data_path):
    from recbole.quick_start import load_data_and_model, run_recbole

    result = run_recbole(
        model="WALS", dataset="tiny", config_dict=quiet_config(epochs=2, data_path=str(tiny_data_path))
    )
    (checkpoint,) = (tmp_path / "saved").glob("WALS-*[0-9].pth")
    config, model, dataset, _, _, test_data = load_data_and_model(str(checkpoint))
    assert isinstance(model, WALS) and config["model"] == "WALS"
    from recbole.utils import get_trainer

    reloaded = get_trainer(config["MODEL_TYPE"], "WALS")(config, model).evaluate(test_data, load_best_model=False)
    assert reloaded == result["test_result"]  # the rebuilt model scores exactly as the run's best checkpoint


def test_the_test_uses_the_best_epoch_weights_not_the_last(tiny_data_path):
    """Validation scores are scripted so that epoch 1 of 4 is the best: the reloaded
    weights must be that epoch's, and differ from the last epoch's."""
    from recbole_ext import runner

    config = runner.build_config("BPR", "tiny", [], quiet_config(data_path=str(tiny_data_path), epochs=4, stopping_step=10))
    _, train_data, valid_data, test_data = runner.prepare(config)
    model, trainer = runner.build_model_and_trainer(config, train_data)
    scripted, snapshots = iter([0.1, 0.5, 0.2, 0.3]), []

    def scripted_valid_epoch(valid_data, show_progress=False):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        score = next(scripted)
        return score, {"mrr@10": score}

    trainer._valid_epoch = scripted_valid_epoch
    trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    trainer.evaluate(test_data, load_best_model=True)
    best, last = snapshots[1], snapshots[3]
    assert any(not torch.equal(best[k], last[k]) for k in best)
    assert all(torch.equal(model.state_dict()[k], best[k]) for k in best)


def test_objective_function_and_hyper_tuning_run_plugin_model(tmp_path, tiny_data_path):
    from recbole.quick_start import objective_function
    from recbole.trainer import HyperTuning

    params = tmp_path / "tiny.test"
    params.write_text("embedding_size choice [8,16]\n")
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(
        f"model: WALS\ndataset: tiny\ndata_path: {tiny_data_path}\nepochs: 1\nshow_progress: False\nstate: ERROR\n"
    )
    for algo in ("exhaustive", "random"):
        tuner = HyperTuning(
            objective_function, algo=algo, params_file=str(params), fixed_config_file_list=[str(fixed)], max_evals=2
        )
        tuner.run()
        assert len(tuner.params_list) == 2, algo
        assert tuner.best_params["embedding_size"] in (8, 16)
        tuner.export_result(output_file=str(tmp_path / f"{algo}.result"))
        assert "embedding_size:" in (tmp_path / f"{algo}.result").read_text()


def test_nan_loss_stops_with_epoch_and_keeps_checkpoint(tmp_path, monkeypatch, tiny_data_path):
    from recbole_ext.runner import build_config, build_model_and_trainer, prepare

    config = build_config("WALS", "tiny", overrides=quiet_config(epochs=4, data_path=str(tiny_data_path)))
    _, train, valid, _ = prepare(config)
    model, trainer = build_model_and_trainer(config, train)
    original_sweep = model.sweep
    calls = []

    def sweep_then_nan(show_progress=False):
        calls.append(1)
        return original_sweep() if len(calls) < 3 else float("nan")

    monkeypatch.setattr(model, "sweep", sweep_then_nan)
    with pytest.raises(NaNLossError, match="epoch 2"):
        trainer.fit(train, valid, saved=True, show_progress=False)
    assert os.path.isfile(trainer.saved_model_file)


def test_runs_started_in_the_same_second_get_their_own_checkpoint(tiny_data_path, monkeypatch):
    """RecBole names checkpoints by start second; two processes must not share one."""
    from recbole_ext import compat
    from recbole_ext.runner import build_config, build_model_and_trainer, prepare

    monkeypatch.setattr("recbole.trainer.trainer.get_local_time", lambda: "Nov-23-2026_04-00-00")
    config = build_config("WALS", "tiny", overrides=quiet_config(epochs=1, data_path=str(tiny_data_path)))
    _, train, _, _ = prepare(config)
    names = []
    for pid in (101, 202):
        monkeypatch.setattr(compat.os, "getpid", lambda pid=pid: pid)
        names.append(os.path.basename(build_model_and_trainer(config, train)[1].saved_model_file))
    assert names == ["WALS-Nov-23-2026_04-00-00-pid101.pth", "WALS-Nov-23-2026_04-00-00-pid202.pth"]


def test_checkpoint_with_numpy_state_reloads(tiny_data_path):
    """EASE keeps numpy/scipy state in its checkpoint (``other_parameter``)."""
    from recbole.quick_start import run_recbole

    result = run_recbole(model="EASE", dataset="tiny", config_dict=quiet_config(data_path=str(tiny_data_path)))
    assert result["test_result"]["ndcg@10"] > 0


def test_anomaly_detection_is_off_after_recbole_imports_sequential_models():
    from recbole.utils import get_model

    get_model("SASRec")  # imports recbole's sine.py, which switches it on globally
    assert not torch.is_anomaly_enabled()


@pytest.mark.parametrize("model", ["SASRec", "LightSANs", "ARGUS"])
def test_history_rule_is_an_evaluation_setting_of_every_sequential_model(tiny_data_path, model):
    """`exclude_history_items` (off by default) masks the history window in full ranking for
    plugin and built-in sequential models alike, on the one training path; run() also reports
    the same weights evaluated without it."""
    from recbole_ext import runner

    settings = quiet_config(
        data_path=str(tiny_data_path), load_col=None, epochs=1, exclude_history_items=True, train_neg_sample_args=None,
        hidden_size=16, inner_size=32, n_layers=1, n_heads=1, MAX_ITEM_LIST_LENGTH=10, head_size=16,
        feedback_fields={}, feedback_loss_weights={}, time_context=False,
    )
    settings = {key: value for key, value in settings.items() if key in runner.known_settings(model, "tiny")}
    config = runner.build_config(model, "tiny", [], settings)
    assert runner.build_config(model, "tiny", [], {})["exclude_history_items"] is False
    _, train_data, _, test_data = runner.prepare(config)
    _, trainer = runner.build_model_and_trainer(config, train_data)
    trainer.tot_item_num = test_data._dataset.item_num  # set by evaluate(), called directly here
    batch = next(iter(test_data))
    interaction, scores, _, _ = trainer._full_sort_batch_eval(batch)
    history = interaction[config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"]]
    assert torch.isinf(scores.gather(1, history)[history > 0]).all()
    trainer.exclude_history_items = False
    interaction, scores, _, _ = trainer._full_sort_batch_eval(batch)
    assert torch.isfinite(scores.gather(1, history)[history > 0]).all()

    result = runner.run(model, "tiny", [], settings)
    filtered, unfiltered = result["test_result"], result["unfiltered_test_result"]
    assert set(filtered) == set(unfiltered) and filtered != unfiltered
    assert runner.run(model, "tiny", [], {**settings, "exclude_history_items": False})["unfiltered_test_result"] is None


def test_history_rule_is_accepted_for_sequential_models_and_refused_for_general_ones(tiny_data_path, capsys):
    from recbole_ext import cli

    cli.check_overrides(["SASRec"], "ml-100k", [], {"exclude_history_items": "True"})  # no UsageError
    args = ["--model=BPR", "--dataset=tiny", "--exclude_history_items=True", "--epochs=1", f"--data_path={tiny_data_path}",
            "--show_progress=False", "--state=ERROR"]
    assert cli.main(args) == 1
    assert "exclude_history_items applies to sequential models only" in capsys.readouterr().err
