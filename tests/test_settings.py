"""Nothing silently wrong: each bad setting and each bad file ends as one line naming it and a
non-zero exit, before any data is loaded (settings) or before anything is half-written."""

import subprocess
import sys

import pytest
from recbole.config import Config

from recbole_ext import cli, registry
from recbole_ext.settings import SettingsError, declared

from conftest import REPO_ROOT


def _quiet(data_path):
    return [f"--data_path={data_path}", "--show_progress=False", "--state=ERROR"]


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--model=WALS", "--epochs=-1"], "setting epochs=-1 (from the config dict) must be >= 1"),
        (["--model=WALS", "--learning_rate=abc"], "setting learning_rate='abc' (from the config dict) must be float"),
        (["--model=SASRec", "--MAX_ITEM_LIST_LENGTH=0"], "MAX_ITEM_LIST_LENGTH=0 (from the config dict) must be >= 1"),
        (["--model=ARGUS", "--hidden_dropout_prob=1.0"], "hidden_dropout_prob=1.0 (from the config dict) must be < 1"),
        (["--model=ARGUS", "--argus_variant=fast"], "argus_variant='fast' (from the config dict) must be one of full, simplified"),
        (["--model=SASRec", "--ema_decay=1.0"], "ema_decay=1.0 (from the config dict) must be < 1"),
        (["--model=WALS", "--train_batch_size=0"], "train_batch_size=0 (from the config dict) must be >= 1"),
        (["--model=WALS", "--solver=lu"], "solver='lu' (from the config dict) must be one of cg, cholesky"),
    ],
)
def test_a_value_off_its_rule_is_one_line_and_exit_2(args, message, capsys):
    assert cli.main(args) == 2
    assert message in _one_line(capsys)


def test_a_misspelled_key_in_a_config_file_is_refused_with_a_did_you_mean(tmp_path, capsys):
    config = tmp_path / "my.yaml"
    config.write_text("learnin_rate: 0.01\n")
    assert cli.main(["--model=WALS", f"--config_files={config}"]) == 2
    assert "unknown setting 'learnin_rate' (from a config file)" in (err := _one_line(capsys))
    assert "did you mean learning_rate" in err


def test_a_config_file_may_carry_the_keys_of_several_models(tmp_path, tiny_data_path):
    shared = tmp_path / "shared.yaml"
    shared.write_text("epochs: 1\nalpha: 2.0\nn_layers: 1\n")  # WALS's alpha, SASRec's n_layers
    config = Config(model="Pop", dataset="tiny", config_file_list=[str(shared)], config_dict={"data_path": str(tiny_data_path)})
    assert config["alpha"] == 2.0


def test_a_yaml_syntax_error_names_file_line_and_column(tmp_path, capsys):
    config = tmp_path / "broken.yaml"
    config.write_text("epochs: 3\nload_col: {inter: [user_id, item_id]\nseed: 1\n")
    assert cli.main(["--model=WALS", f"--config_files={config}"]) == 2
    err = _one_line(capsys)
    assert f"{config}:3:" in err and "not valid yaml" in err


@pytest.mark.parametrize(
    "content,message",
    [
        ("\ufeffuser_id:token\titem_id:token\nu1\ti1\n", "bad.inter:1: the file starts with a byte-order mark"),
        ("user_id:token\titem_id:token\tuser_id:token\nu1\ti1\tu2\n", "bad.inter:1: field 'user_id' appears twice"),
        ("user_id:token\titem_id:tokn\nu1\ti1\n", "bad.inter:1: header column 'item_id:tokn' must be 'name:type'"),
    ],
)
def test_a_bad_atomic_file_is_one_line(tmp_path, capsys, content, message):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "bad.inter").write_text(content, encoding="utf-8")
    assert cli.main(["--model=WALS", "--dataset=bad", f"--data_path={tmp_path}"]) == 1
    assert message in _one_line(capsys)


def test_a_file_where_the_log_folder_goes_is_one_line(tmp_path, tiny_data_path, capsys):
    (tmp_path / "log").write_text("my notes")
    assert cli.main(["--model=Pop", "--dataset=tiny", *_quiet(tiny_data_path)]) == 1
    assert "'log' is a file where a folder must go" in _one_line(capsys)
    assert (tmp_path / "log").read_text() == "my notes"


def test_run_py_prints_no_traceback_for_a_users_error(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "run.py"), "--model=WALS", "--epochs=-1"], capture_output=True, text=True,
        timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["error: setting epochs=-1 (from the config dict) must be >= 1"]


def test_every_shipped_default_keeps_its_own_rule():
    # the package's own models (not whatever lab models an earlier test registered) and some built-ins
    for model in sorted(registry.PLUGIN_MODELS) + ["SASRec", "LightSANs", "BPR", "DeepFM", "DCNV2", "EASE", "GRU4Rec"]:
        extra = {"train_neg_sample_args": None} if model in ("SASRec", "LightSANs", "GRU4Rec") else {}
        Config(model=model, dataset="ml-100k", config_dict=extra)  # raises SettingsError otherwise
    _, rules, _ = declared()
    assert rules["epochs"].comparisons == [(">=", 1.0)] and rules["argus_variant"].choices == ["full", "simplified"]


def test_every_plugin_setting_declares_its_rule_beside_its_default():
    import re

    for path in sorted(registry.PROPERTIES_DIR.glob("model/*.yaml")) + [registry.overall_yaml()]:
        for line in path.read_text().splitlines():
            if re.match(r"^[A-Za-z_]\w*\s*:", line):
                assert re.search(r"#\s*\([^)]+\)", line), f"{path.name}: no (rule) comment on '{line}'"


def test_config_refuses_unknown_keys_from_python_too():
    with pytest.raises(SettingsError, match="unknown setting 'n_layer' .*did you mean n_layers"):
        Config(model="SASRec", dataset="ml-100k", config_dict={"n_layer": 2, "train_neg_sample_args": None})
