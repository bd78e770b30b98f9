"""HyperTuning trials run in parallel by Ray Tune, on this machine or a Ray cluster.

``run.py --params_file=hyper/ARGUS.test --tool=ray`` reads the same ``.test`` file as
RecBole's HyperTuning (``choice``, ``uniform``, ``quniform``, ``loguniform`` with
RecBole's meaning: ``loguniform low,high`` draws ``exp(uniform(low, high))``), and
``--algo=exhaustive`` (every combination of ``choice`` lines) or ``--algo=random``
(``--max_evals`` draws). Ray schedules the trials over its CPUs (``--cpus_per_trial``
each) or over a running cluster (``--ray_address=auto`` or ``HOST:PORT``). Each trial
trains through :func:`recbole_ext.runner.run`, the path of a single ``run.py`` run, and
the result file has the layout of RecBole's HyperTuning output.

RecBole's own ``objective_function`` reports to ``ray.tune`` as well
(``recbole_ext.compat`` keeps that quiet outside Ray).
"""

import ast
import logging
import math
import os
from pathlib import Path

from recbole.utils import dict2str

from recbole_ext.runner import params_file_lines

RAY_ALGOS = ("exhaustive", "random")


def search_space(params_file, algo):
    """Ray Tune domains for every line of a RecBole ``.test`` file."""
    from ray import tune

    if algo not in RAY_ALGOS:
        raise ValueError(f"--tool=ray supports --algo={' or --algo='.join(RAY_ALGOS)}, got {algo!r}")
    space = {}
    for _, _, (name, kind, value) in params_file_lines(params_file):
        if algo == "exhaustive" and kind != "choice":
            raise ValueError(f"{params_file}: --algo=exhaustive needs 'choice' lines, '{name}' is {kind}")
        if kind == "choice":
            values = ast.literal_eval(value)
            space[name] = tune.grid_search(values) if algo == "exhaustive" else tune.choice(values)
            continue
        bounds = [float(b) for b in value.split(",")]
        if kind == "uniform":
            space[name] = tune.uniform(*bounds)
        elif kind == "quniform":
            space[name] = tune.quniform(*bounds)
        else:  # loguniform, bounds in log space as RecBole (hyperopt) reads them
            space[name] = tune.loguniform(math.exp(bounds[0]), math.exp(bounds[1]))
    return space


def _trial(params, model, dataset, config_files, overrides, threads):
    import torch
    from ray.air import session

    import recbole_ext  # noqa: F401  (compat and registration inside the Ray worker)
    from recbole_ext.runner import run

    torch.set_num_threads(threads)
    result = run(model, dataset, config_files, {**overrides, **params}, show_progress=False)
    logging.getLogger().handlers.clear()  # RecBole adds handlers per run; a reused worker would repeat lines
    session.report(
        {
            "best_valid_score": float(result["best_valid_score"]),
            "best_valid_result": dict(result["best_valid_result"] or {}),
            "test_result": dict(result["test_result"]),
        }
    )


def _failure_line(trial):
    text = Path(trial.error_file).read_text() if trial.error_file else "no error file"
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def _params_string(params):
    return ", ".join(f"{name}:{value}" for name, value in params.items())


def write_results(trials, output_file):
    """RecBole HyperTuning's result file: per trial its parameters, valid and test results."""
    Path(output_file).parent.mkdir(parents=True, exist_ok=True)
    with open(output_file, "w") as handle:
        for params, result in trials:
            handle.write(_params_string(params) + "\n")
            handle.write("Valid result:\n" + dict2str(result["best_valid_result"]) + "\n")
            handle.write("Test result:\n" + dict2str(result["test_result"]) + "\n\n")


def _run_trials(space, model, dataset, config_files, overrides, algo, max_evals, cpus_per_trial):
    from ray import tune

    return tune.run(
        tune.with_parameters(
            _trial,
            model=model,
            dataset=dataset,
            config_files=[os.path.abspath(f) for f in config_files],
            overrides=overrides,
            threads=cpus_per_trial,
        ),
        config=space,
        num_samples=1 if algo == "exhaustive" else max_evals,
        resources_per_trial={"cpu": cpus_per_trial},
        chdir_to_trial_dir=False,  # relative data_path, checkpoint_dir and config files keep their meaning
        local_dir=os.path.abspath("ray_log"),
        raise_on_failed_trial=False,
        verbose=0,
    )


def tune_with_ray(model, dataset, config_files, overrides, params_file, algo, max_evals, output_file,
                  valid_score_bigger, address=None, cpus_per_trial=1):
    """Run the trials with Ray Tune; returns the best one as :func:`recbole_ext.runner.tune` does."""
    import ray

    space = search_space(params_file, algo)
    ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
             configure_logging=False)
    tune_logger = logging.getLogger("ray.tune")
    level = tune_logger.level
    tune_logger.setLevel(logging.CRITICAL)  # a failed trial is reported below in one line, not as a traceback
    try:
        analysis = _run_trials(space, model, dataset, config_files, overrides, algo, max_evals, cpus_per_trial)
    finally:
        tune_logger.setLevel(level)
        ray.shutdown()  # stops a Ray started here; only disconnects from a cluster given by address
    failed = [t for t in analysis.trials if t.status == "ERROR"]
    if failed:
        raise ValueError(f"Ray trial {_params_string(failed[0].config)} failed: {_failure_line(failed[0])}")
    trials = [(t.config, t.last_result) for t in analysis.trials]
    write_results(trials, output_file)
    pick = max if valid_score_bigger else min
    params, best = pick(trials, key=lambda trial: trial[1]["best_valid_score"])
    return {"params": params, "best_valid_score": best["best_valid_score"], "test_result": best["test_result"]}
