"""run.py: exit codes and one-line errors, single runs and HyperTuning (the benchmark: test_lab.py)."""

import subprocess
import sys

import pytest

from recbole_ext import cli
from recbole_ext.runner import automatic_settings

from conftest import REPO_ROOT


def run_cli(*args):
    """run.py in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "run.py"), *args], capture_output=True, text=True, timeout=600
    )


def _quiet(data_path):
    return [f"--data_path={data_path}", "--show_progress=False", "--state=ERROR"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--model=NoSuchModel"], "unknown model 'NoSuchModel'"),
        (["--model=WALS", "--dataset=no-such-data"], "unknown dataset 'no-such-data'"),
        (["--model=WALS", "--learning_rat=0.1"], "unknown option --learning_rat"),
        (["--model=WALS", "stray"], "unexpected argument 'stray'"),
        (["--model=WALS", "--config_files=missing.yaml"], "config file not found: missing.yaml"),
        (["--model=WALS", "--params_file=hyper/WALS.test", "--algo=grid"], "unknown --algo 'grid'"),
        ([], "missing --model"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(args, message, capsys):
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_run_py_option_and_exits_0(flag, capsys):
    assert cli.main(["--model=WALS", flag]) == 0
    out = capsys.readouterr().out
    assert "python run.py --model=WALS" in out
    assert all(f"--{option} " in out for option in cli._CLI_OPTIONS)


def test_error_lists_valid_choices(capsys):
    cli.main(["--model=SASRecc"])
    err = capsys.readouterr().err
    assert "did you mean SASRec" in err and "WALS" in err and "LightSANs" in err


@pytest.mark.parametrize(
    "line,message",
    [
        ("embedding_size choice 64", "must be a non-empty list"),
        ("embedding_size choice [", "must be a Python list literal"),
        ("reg_weight loguniform 2,1", "needs 2 comma-separated numbers"),
        ("reg_weight normal 0,1", "unknown type 'normal'"),
        ("alpha", "expected 'name type values'"),
        ("learnin_rate choice [0.01,0.1]", "'learnin_rate' is not a setting of WALS; did you mean learning_rate"),
        ("epochs choice [1,0]", "choice 0 for 'epochs' must be >= 1"),
        ("solver choice ['cg','lu']", "choice 'lu' for 'solver' must be one of cg, cholesky"),
    ],
)
def test_a_bad_params_file_line_is_one_line_before_any_trial(tmp_path, capsys, line, message):
    params = tmp_path / "bad.test"
    params.write_text(f"embedding_size choice [8,16]\n{line}\n")
    assert cli.main(["--model=WALS", f"--params_file={params}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{params}:2:" in err and message in err


def test_shipped_hyper_files_are_valid():
    from recbole_ext.runner import known_settings

    for path in sorted((REPO_ROOT / "hyper").glob("*.test")):
        cli.check_params_file(str(path))
        known = known_settings(path.stem, "ml-100k")
        names = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
        assert set(names) <= known, f"{path.name}: {set(names) - known} are not {path.stem} settings"


def test_bad_data_gives_one_line_and_exit_1(tmp_path, tiny_data_path, capsys):
    assert cli.main(["--model=WALS", "--dataset=tiny", "--interaction_field=plays", *_quiet(tiny_data_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: interaction_field 'plays' is not a field") and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "content,message",
    [
        ("user_id:token\titem_id:token\nu1\ti1\nu2\n", "bad.inter:3: 1 columns, header has 2"),
        ("user_id:token\tscore:float\nu1\tabc\n", "bad.inter:2: field 'score:float' is not a number"),
        ("user_id\titem_id:token\nu1\ti1\n", "bad.inter:1: header column 'user_id' must be 'name:type'"),
    ],
)
def test_malformed_atomic_file_gives_one_line(tmp_path, capsys, content, message):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "bad.inter").write_text(content)
    assert cli.main(["--model=WALS", "--dataset=bad", f"--data_path={tmp_path}"]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_ce_models_get_sampling_switched_off_with_a_log_line(caplog):
    with caplog.at_level("INFO", logger="recbole_ext"):
        assert automatic_settings("SASRec", "ml-100k", [], {}) == {"train_neg_sample_args": None}
        assert automatic_settings("LightSANs", "ml-100k", [], {}) == {"train_neg_sample_args": None}
    assert "loss_type=CE" in caplog.text
    assert automatic_settings("BPR", "ml-100k", [], {}) == {}
    with pytest.raises(ValueError, match="loss_type is CE"):  # an explicit user choice is respected
        automatic_settings("SASRec", "ml-100k", [], {"train_neg_sample_args": "{'distribution': 'uniform', 'sample_num': 1}"})


def test_run_py_trains_and_prints_test_result(tiny_data_path):
    done = run_cli("--model=WALS", "--dataset=tiny", "--epochs=2", *_quiet(tiny_data_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test result (WALS on tiny):" in done.stdout and "ndcg@10" in done.stdout


def test_run_py_hyper_tuning_writes_result_file(tmp_path, tiny_data_path):
    params = tmp_path / "space.test"
    params.write_text("embedding_size choice [4,8]\n")
    out = tmp_path / "out.result"
    done = run_cli(
        "--model=WALS", "--dataset=tiny", f"--params_file={params}", f"--output_file={out}", "--epochs=1",
        *_quiet(tiny_data_path),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "best params: {'embedding_size':" in done.stdout
    assert out.read_text().count("embedding_size:") == 2


def test_tuning_trials_train_through_the_run_path(tmp_path, tiny_data_path, monkeypatch):
    """HyperTuning trials use runner.run (so plugin settings such as the
    history filter apply to them as they do to run.py and the benchmark)."""
    from recbole_ext import runner

    calls, scores = [], {}
    real_run = runner.run

    def recorded_run(*args, **kwargs):
        calls.append(args[3])
        result = real_run(*args, **kwargs)
        scores[args[3]["embedding_size"]] = result["best_valid_score"]
        return result

    monkeypatch.setattr(runner, "run", recorded_run)
    params = tmp_path / "space.test"
    params.write_text("embedding_size choice [4,8]\n")
    overrides = {"data_path": str(tiny_data_path), "epochs": 1, "show_progress": False, "state": "ERROR"}
    best = runner.tune("WALS", "tiny", [], overrides, str(params), "exhaustive", 10, 10, str(tmp_path / "out.result"))
    assert sorted(call["embedding_size"] for call in calls) == [4, 8]
    assert all(call["data_path"] == str(tiny_data_path) for call in calls)
    assert scores[4] != scores[8]
    assert best["params"]["embedding_size"] == max(scores, key=scores.get)
    assert best["best_valid_score"] == max(scores.values()) and "ndcg@10" in best["test_result"]
