"""Data-parallel training through RecBole's DDP path: two CPU processes (gloo) on the tiny dataset."""

import math

import pytest

from recbole_ext.cli import main
from recbole_ext.distributed import run_data_parallel, supports_data_parallel

from conftest import quiet_config

ARGUS_SETTINGS = {
    "MAX_ITEM_LIST_LENGTH": 10,
    "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
}
WUKONG_SETTINGS = {  # labeled mode: the label is rating >= 4
    "load_col": {"inter": ["user_id", "item_id", "rating"]},
    "threshold": {"rating": 4},
    "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": None, "mode": "labeled"},
    "metrics": ["AUC", "LogLoss"],
    "valid_metric": "AUC",
}


@pytest.mark.parametrize("model, settings", [("ARGUS", ARGUS_SETTINGS), ("Wukong", WUKONG_SETTINGS)])
def test_two_ranks_train_one_model(tiny_data_path, model, settings):
    """Each rank trains on its own shard of every epoch; only the gradient all-reduce keeps their
    weights equal. Both ranks then reload rank 0's best checkpoint and test on their shards."""
    result = run_data_parallel(
        model, "tiny", None, quiet_config(data_path=str(tiny_data_path), epochs=3, **settings), nproc=2
    )
    first, second = result["parameter_digests"]
    assert first == second
    assert result["test_result"] and all(math.isfinite(v) for v in result["test_result"].values())


def test_run_py_nproc(tiny_data_path, capsys):
    code = main(["--model=BPR", "--dataset=tiny", f"--data_path={tiny_data_path}", "--nproc=2", "--epochs=2",
                 "--show_progress=False", "--state=ERROR"])
    assert code == 0
    assert "test result (BPR on tiny, 2 ranks)" in capsys.readouterr().out


def test_an_error_in_a_rank_is_one_line(tiny_data_path, capsys):
    code = main(["--model=ARGUS", "--dataset=tiny", f"--data_path={tiny_data_path}", "--nproc=2",
                 "--load_col={'inter': ['user_id', 'item_id', 'rating', 'timestamp']}",
                 "--feedback_fields={'no_such_field': 4}"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and "no_such_field" in err


def test_models_fitted_without_gradients_are_refused(capsys):
    assert not supports_data_parallel("WALS") and not supports_data_parallel("EASE")
    assert supports_data_parallel("ARGUS") and supports_data_parallel("SASRec")
    assert main(["--model=WALS", "--nproc=2"]) == 2
    assert "WALS is fitted without gradient steps" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--nproc=0"], "--nproc must be a positive integer"),
        (["--nproc=2", "--world_size=4"], "--port is needed"),
        (["--nproc=2", "--world_size=2", "--group_offset=1"], "exceeds --world_size"),
        (["--nproc=2", "--port=http"], "--port must be a port number"),
        (["--nproc=2", "--params_file=hyper/ARGUS.test"], "apply to a single training run"),
    ],
)
def test_bad_data_parallel_options(args, message, capsys):
    assert main(["--model=ARGUS", *args]) == 2
    assert message in capsys.readouterr().err
