"""Head-to-head benchmark of plugin and built-in models on one dataset and protocol.

``python run.py --benchmark --models=WALS,BPR,EASE --dataset=ml-100k --seeds=3 --name=wals/ml-100k``
(or ``python -m lab.benchmark ...`` with the same options)

Every model gets the same dataset, split and evaluation settings (the
command's config files and ``--key=value`` overrides apply to all of them,
each model receiving the keys it knows). Each finished (model, dataset,
settings, seed) run is a record under ``results/<study>/runs/``
(:mod:`lab.runs`); running the command again reuses the records and only
trains missing seeds. The table (markdown on stdout, and ``.md`` / ``.csv``
as ``results/<study>/<table>``) reports best validation score, test metrics
as mean ± std over seeds, the epochs each model ran against its cap,
seconds per training epoch, parameter count, the test difference to the
reference model paired by seed (every model sees the same split on a given
seed, so the paired difference separates models that the seed-to-seed
spread hides), and the training time each model needs to reach the
reference model's best validation score; a PNG plots the validation score
of every model against training wall time.
"""

import statistics
import sys
from pathlib import Path

from recbole_ext.files import atomic_path, write_text_atomically

from lab import resumable, runs
from lab.probes import register_probes
from lab.stats import mean_std
from lab.stats import paired_difference as paired_mean_difference


def paired_difference(runs_of_model, reference_runs, metric):
    """Test ``metric`` minus the reference's on the same seed: mean ± standard error over shared seeds."""
    values = {r["seed"]: r["test_result"][metric] for r in runs_of_model if metric in r["test_result"]}
    reference = {r["seed"]: r["test_result"].get(metric) for r in reference_runs}
    return paired_mean_difference(values, reference)


def seconds_to_reach(run, metric, target):
    """Training seconds until the validation ``metric`` first reaches ``target``."""
    for point in run["curve"]:
        if point["valid"].get(metric, float("-inf")) >= target:
            return point["seconds"]
    return None


def _best_on_curve(run, metric):
    return max((p["valid"].get(metric, float("-inf")) for p in run["curve"]), default=float("-inf"))


def _epochs_cell(runs_of_model):
    """Epochs each seed ran, and the cap: a run that stopped at its cap did not early-stop."""
    cap = runs_of_model[0].get("max_epochs")
    ran = ", ".join(str(r["epochs"]) for r in runs_of_model)
    return f"{ran} of {cap}" if cap else ran


def summarise(runs_by_model, reference, target_metric):
    """One row per model, aggregated over its seeds.

    The time-to-reach column races each run to the reference model's best
    validation ``target_metric`` on the same seed (hence the same split).
    """
    targets = {run["seed"]: _best_on_curve(run, target_metric) for run in runs_by_model[reference]}
    fallback = max(targets.values())
    rows = []
    for model, runs_of_model in runs_by_model.items():
        metrics = list(runs_of_model[0]["test_result"])
        reach = [seconds_to_reach(r, target_metric, targets.get(r["seed"], fallback)) for r in runs_of_model]
        reached = [s for s in reach if s is not None]
        row = {
            "model": model,
            "seeds": len(runs_of_model),
            f"best valid {runs_of_model[0]['valid_metric']}": mean_std([r["best_valid_score"] for r in runs_of_model]),
        }
        row.update({f"test {m}": mean_std([r["test_result"][m] for r in runs_of_model]) for m in metrics})
        unfiltered = [r.get("unfiltered_test_result") for r in runs_of_model]
        if all(unfiltered):
            row[f"test {target_metric}, history not filtered"] = mean_std([u[target_metric] for u in unfiltered])
        if model != reference:
            row[f"test {target_metric} - {reference}, paired (± s.e.)"] = paired_difference(
                runs_of_model, runs_by_model[reference], target_metric
            )
        row["epochs run"] = _epochs_cell(runs_of_model)
        row["s/epoch"] = f"{statistics.mean(r['seconds_per_epoch'] for r in runs_of_model):.3g}"
        params = runs_of_model[0]["parameters"]
        row["params"] = f"{params:,}" if isinstance(params, int) else params
        row[f"s to {reference} best valid {target_metric}"] = (
            f"{statistics.mean(reached):.1f} ({len(reached)}/{len(runs_of_model)})" if reached else "not reached"
        )
        rows.append(row)
    return rows


def table_columns(rows):
    return list(dict.fromkeys(column for row in rows for column in row))


def markdown_table(rows):
    header = table_columns(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row.get(h, "")) for h in header) + " |" for row in rows]
    return "\n".join(lines)


def plot_curves(runs_by_model, metric, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model, runs_of_model in runs_by_model.items():
        for index, run in enumerate(runs_of_model):
            xs = [p["seconds"] for p in run["curve"]]
            ys = [p["valid"].get(metric) for p in run["curve"]]
            ax.plot(xs, ys, marker=".", color=f"C{list(runs_by_model).index(model)}",
                    alpha=1.0 if index == 0 else 0.35, label=model if index == 0 else None)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("training wall time (s, CPU)")
    ax.set_ylabel(f"validation {metric}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def study_and_table(name):
    """``study/table`` -> (study, table); a bare name goes to the study ``misc``."""
    study, _, table = name.rpartition("/")
    return study or "misc", table


def write_outputs(rows, runs_by_model, metric, name, command, results_dir=None):
    """``results/<study>/<table>.md``, ``.csv`` and ``.png``; returns the markdown table."""
    import csv

    study, table_name = study_and_table(name)
    folder = Path(results_dir or runs.RESULTS_DIR) / study
    folder.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows)
    write_text_atomically(folder / f"{table_name}.md", f"Command: `{command}`\n\n{table}\n")
    with atomic_path(folder / f"{table_name}.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=table_columns(rows))
        writer.writeheader()
        writer.writerows(rows)
    with atomic_path(folder / f"{table_name}.png") as tmp:
        plot_curves(runs_by_model, metric, tmp)
    return table


def overrides_for(model, dataset, config_files, overrides):
    """The overrides that mean something to ``model`` (a key only another model
    knows, such as an ARGUS option, neither reaches nor re-keys a built-in's runs)."""
    from recbole_ext.runner import known_settings

    known = known_settings(model, dataset, config_files)
    return {key: value for key, value in overrides.items() if key in known}


def model_config_files(model, folder):
    """``[folder/<model>.yaml]`` when that file exists, else ``[]``."""
    if folder is None:
        return []
    path = Path(folder) / f"{model}.yaml"
    return [str(path)] if path.is_file() else []


def run_benchmark(
    models,
    dataset,
    seeds,
    config_files=(),
    overrides=None,
    name=None,
    reference=None,
    target_metric=None,
    command=None,
    model_configs=None,
    results_dir=None,
):
    """Train (or reuse) every model x seed, then write and return the table.

    Args:
        seeds (dict | int): seeds per model, or one count for all.
        name (str): ``study/table``: the outputs go to ``results/<study>/``.
        reference (str): model whose best validation ``target_metric`` the
            time-to-reach column races to (default: the first model).
        model_configs (str): folder whose ``<Model>.yaml`` (tuned settings,
            say) is added after ``config_files`` for that model only.
    """
    overrides = dict(overrides or {})
    config_files = list(config_files)
    if isinstance(seeds, int):
        seeds = {model: seeds for model in models}
    name = name or f"misc/{dataset}_{'-'.join(models)}"
    study, _ = study_and_table(name)
    runs_by_model = {}
    for model in models:
        files = config_files + model_config_files(model, model_configs)
        own = overrides_for(model, dataset, files, overrides)
        runs_by_model[model] = [
            resumable.cached_run(model, dataset, files, own, runs.SEED_BASE + index, study, results_dir)
            for index in range(seeds[model])
        ]
    reference = reference or models[0]
    target_metric = (target_metric or runs_by_model[reference][0]["valid_metric"]).lower()
    rows = summarise(runs_by_model, reference, target_metric)
    command = command or "python run.py --benchmark --models={} --dataset={} --seeds={} --name={}".format(
        ",".join(models), dataset, ",".join(f"{m}:{n}" for m, n in seeds.items()), name
    )
    return write_outputs(rows, runs_by_model, target_metric, name, command, results_dir)


# ----------------------------------------------------------------------------- command line
BENCHMARK_OPTIONS = {
    "benchmark": "run the head-to-head benchmark (this command)",
    "models": "comma-separated model names",
    "dataset": "dataset name (default ml-100k, embedded in RecBole)",
    "config_files": "space-separated yaml files, for every model",
    "seeds": "seeds per model (N, or Model:N,...)",
    "name": "STUDY/TABLE: outputs in results/STUDY/, run records in results/STUDY/runs/",
    "reference": "model whose best validation score others race to (default: the first)",
    "target_metric": "metric of the time-to-reach and paired columns (default valid_metric)",
    "model_configs": "folder of per-model yaml (<Model>.yaml, e.g. tuned settings) added to that model's config files",
}


def _parse_seeds(value, models):
    from recbole_ext.cli import UsageError, positive_int, split_list

    if ":" not in value:
        return {m: positive_int({"seeds": value}, "seeds", 1) for m in models}
    seeds = {m: 1 for m in models}
    for part in split_list(value):
        name, _, count = part.partition(":")
        if name not in seeds:
            raise UsageError(f"--seeds names '{name}', which is not in --models")
        seeds[name] = positive_int({"seeds": count}, "seeds", 1)
    return seeds


def _model_configs_dir(value):
    from recbole_ext.cli import UsageError

    if value is not None and not Path(value).is_dir():
        raise UsageError(f"--model_configs '{value}' is not a folder")
    return value


def _benchmark_from_options(options, overrides, argv):
    from recbole_ext import cli

    from lab.baselines import register_baselines
    from lab.datasets import ensure_dataset

    register_baselines()
    dataset = options.get("dataset", "ml-100k")
    config_files = cli.split_list(options.get("config_files", ""))
    cli.check_config_files(config_files)
    ensure_dataset(dataset, cli.data_path(overrides, config_files))
    cli.check_dataset(dataset, overrides, config_files)
    models = cli.split_list(options.get("models", ""))
    if not models:
        raise cli.UsageError("--benchmark needs --models=A,B,...")
    for model in models:
        cli.check_model(model)
    cli.check_overrides(models, dataset, config_files, overrides)
    reference = options.get("reference")
    if reference is not None and reference not in models:
        raise cli.UsageError(f"--reference '{reference}' is not in --models")
    return run_benchmark(
        models,
        dataset,
        seeds=_parse_seeds(options.get("seeds", "1"), models),
        config_files=config_files,
        overrides=overrides,
        model_configs=_model_configs_dir(options.get("model_configs")),
        name=options.get("name"),
        reference=reference,
        target_metric=options.get("target_metric"),
        command="python run.py " + " ".join(argv),
    )


def main(argv=None):
    """``python run.py --benchmark ...``: the table on stdout; one line and exit 2 for a bad command line."""
    from recbole_ext import cli

    argv = sys.argv[1:] if argv is None else argv
    if any(arg in ("-h", "--help") for arg in argv):
        print(cli.options_help(__doc__.split("\n\n")[1], BENCHMARK_OPTIONS))
        return 0
    argv = argv if "--benchmark" in argv else ["--benchmark", *argv]
    register_probes()  # the lab's diagnostic models (lab.probes) run by name beside the library's
    return cli.run_main(lambda: print(_benchmark_from_options(*cli.parse_args(argv, BENCHMARK_OPTIONS), argv)))


if __name__ == "__main__":
    sys.exit(main())
