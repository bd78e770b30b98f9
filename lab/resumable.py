"""Benchmark runs that survive being stopped: :func:`cached_run` continues a run's last checkpoint.

A built-in sequential model's run costs hours here, often more than a working
session has left. Every run of :func:`lab.runs.cached_run` trains with the
library's resumable trainer (:mod:`recbole_ext.trainer.resume`), which
writes ``saved/<key>/<name>-last.pth`` after each validated epoch. This
module's :func:`cached_run` is that function with one step first: when the
run has no record but its folder holds a last checkpoint, training continues
from it instead of starting over. On the CPU a resumed run ends with the
weights and metrics of a run never stopped (``tests/test_checkpoints.py``),
so its record is written under the same key and serves every study.

What a resumed record cannot hold is the epochs before the stop as they were
timed and validated: it says so in ``resumed_at_epoch`` (the first epoch it
trained); ``epochs`` counts every epoch of the run, ``curve`` holds the
validations from ``resumed_at_epoch`` on, ``seconds_per_epoch`` is the mean
of the epochs it timed and ``train_seconds`` adds that mean for each earlier
epoch.

This module is outside every run's key on purpose: ``lab.runs`` is in all of
them, and a change there would make every committed record stale.
"""

import contextlib
import functools
import json
from pathlib import Path

from recbole_ext import runner
from recbole_ext.checkpoints import load_checkpoint
from recbole_ext.files import write_text_atomically
from lab import runs


def last_checkpoint(checkpoint_dir):
    """The newest ``*-last.pth`` in a run's checkpoint folder whose run was still training, or None.

    A run whose last checkpoint says it had stopped (patience spent or the last epoch done) was stopped
    after training, while it was tested: continuing it would train an epoch the run never had, so it
    is trained again instead.
    """
    found = sorted(Path(checkpoint_dir).glob("*-last.pth"), key=lambda path: path.stat().st_mtime)
    if not found:
        return None
    state = load_checkpoint(found[-1])
    settings = state["config"]
    still_training = state["cur_step"] <= settings["stopping_step"] and state["epoch"] + 1 < settings["epochs"]
    return found[-1] if still_training else None


@contextlib.contextmanager
def _training_resumes_from(path):
    """``runner.run`` continues ``path`` while inside (``runs.train_once`` calls it, and is kept as it is:
    see the module docstring)."""
    original = runner.run
    runner.run = functools.partial(original, resume=str(path))
    try:
        yield
    finally:
        runner.run = original


def resume_run(model, dataset, config_files, overrides, seed, checkpoint):
    """The summary (as :func:`lab.runs.train_once` gives it) of the run continued from ``checkpoint``."""
    resumed_at = load_checkpoint(checkpoint)["epoch"] + 1
    with _training_resumes_from(checkpoint):
        summary = runs.train_once(model, dataset, config_files, overrides, seed)
    earlier_seconds = resumed_at * summary["seconds_per_epoch"]
    summary.update(
        epochs=resumed_at + summary["epochs"],
        train_seconds=summary["train_seconds"] + earlier_seconds,
        resumed_at_epoch=resumed_at,
    )
    return summary


def cached_run(model, dataset, config_files, overrides, seed, study="misc", results_dir=None):
    """:func:`lab.runs.cached_run`, continuing the run's last checkpoint when it was stopped part-way."""
    inputs = runs.key_inputs(model, dataset, config_files, overrides, seed)
    key = runs.key_of(model, dataset, seed, inputs)
    record = runs.find_record(key, results_dir)
    run_overrides = {"checkpoint_dir": str(Path("saved") / key), **overrides}
    checkpoint = last_checkpoint(run_overrides["checkpoint_dir"]) if record is None else None
    if checkpoint is None:
        return record or runs.cached_run(model, dataset, config_files, overrides, seed, study, results_dir)
    print(f"{key}: continuing {checkpoint}", flush=True)
    summary = {"key": key, "key_inputs": inputs, **resume_run(model, dataset, config_files, run_overrides, seed, checkpoint)}
    path = Path(results_dir or runs.RESULTS_DIR) / study / "runs" / f"{key}.json"
    write_text_atomically(path, json.dumps(summary, indent=1))
    return summary
