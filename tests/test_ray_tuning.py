"""HyperTuning trials in parallel with Ray Tune (run.py --tool=ray) on the tiny dataset."""

import math

import pytest

from recbole_ext.cli import main
from recbole_ext.ray_tuning import search_space


def _trials(path):
    """``{params line: (valid block, test block)}`` of a HyperTuning result file."""
    blocks = [b.splitlines() for b in path.read_text().strip().split("\n\n")]
    return {lines[0]: (lines[2], lines[4]) for lines in blocks}


def test_search_space_reads_recbole_test_lines(tmp_path):
    params = tmp_path / "space.test"
    params.write_text("learning_rate loguniform -8,0\nembedding_size choice [8,16]\nreg uniform 0.1,0.5\n")
    space = search_space(params, "random")
    assert math.isclose(space["learning_rate"].lower, math.exp(-8))  # RecBole's bounds are in log space
    assert math.isclose(space["learning_rate"].upper, 1.0)
    assert space["embedding_size"].categories == [8, 16]
    assert (space["reg"].lower, space["reg"].upper) == (0.1, 0.5)
    grid = tmp_path / "grid.test"
    grid.write_text("embedding_size choice [8,16]\n")
    assert search_space(grid, "exhaustive")["embedding_size"] == {"grid_search": [8, 16]}
    with pytest.raises(ValueError, match="'learning_rate' is loguniform"):
        search_space(params, "exhaustive")


def test_ray_trials_match_recbole_hypertuning(tmp_path, tiny_data_path, capsys):
    """The same grid through Ray (trials in parallel worker processes) and through RecBole's
    HyperTuning (one at a time, in this process): identical results per trial."""
    params = tmp_path / "bpr.test"
    params.write_text("learning_rate choice [0.01,0.001]\n")
    common = ["--model=BPR", "--dataset=tiny", f"--data_path={tiny_data_path}", f"--params_file={params}",
              "--epochs=2", "--show_progress=False", "--state=ERROR"]
    assert main([*common, "--tool=ray", f"--output_file={tmp_path / 'ray.result'}"]) == 0
    ray_out = capsys.readouterr().out
    assert main([*common, f"--output_file={tmp_path / 'hyperopt.result'}"]) == 0
    hyperopt_out = capsys.readouterr().out
    ray_trials = _trials(tmp_path / "ray.result")
    assert len(ray_trials) == 2 and ray_trials == _trials(tmp_path / "hyperopt.result")
    best = [line for line in ray_out.splitlines() if line.startswith("best params")]
    assert best and best == [line for line in hyperopt_out.splitlines() if line.startswith("best params")]


def test_a_failing_ray_trial_is_one_line(tmp_path, tiny_data_path, capsys):
    params = tmp_path / "bad.test"
    params.write_text("learning_rate choice [1e30]\n")  # the loss turns NaN
    code = main(["--model=BPR", "--dataset=tiny", f"--data_path={tiny_data_path}", f"--params_file={params}",
                 "--tool=ray", "--epochs=3", "--show_progress=False", "--state=ERROR"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and "learning_rate:1e+30 failed" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tool=ray"], "--tool applies to HyperTuning"),
        (["--params_file=hyper/ARGUS.test", "--tool=spark"], "unknown --tool 'spark'"),
        (["--params_file=hyper/ARGUS.test", "--tool=ray", "--algo=bayes"], "--tool=ray runs --algo=exhaustive"),
        (["--params_file=hyper/ARGUS.test", "--cpus_per_trial=2"], "--cpus_per_trial applies to HyperTuning with --tool=ray"),
    ],
)
def test_bad_ray_options(args, message, capsys, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    assert main(["--model=ARGUS", *args]) == 2
    assert message in capsys.readouterr().err
