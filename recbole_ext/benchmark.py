"""Head-to-head benchmark of plugin and built-in models on one dataset and protocol.

``python run.py --benchmark --models=WALS,BPR,EASE --dataset=ml-100k --seeds=3``

Every model gets the same dataset, split and evaluation settings (the
command's config files and ``--key=value`` overrides apply to all of them).
Each finished (model, dataset, settings, seed) run is cached as json under
``benchmarks/cache/``; running the command again reuses finished runs and
only trains missing seeds. The table (markdown on stdout, and ``.md`` /
``.csv`` under ``benchmarks/``) reports best validation score, test metrics
as mean +- std over seeds, epochs run, seconds per training epoch, parameter
count, the test difference to the reference model paired by seed (every
model sees the same split on a given seed, so the paired difference
separates models that the seed-to-seed spread hides), and the training
time each model needs to reach the reference model's best validation
score; a PNG plots the validation score of every
model against training wall time.
"""

import hashlib
import inspect
import json
import statistics
from pathlib import Path

from recbole_ext import registry

BENCHMARK_DIR = Path("benchmarks")
CACHE_DIR = BENCHMARK_DIR / "cache"
SEED_BASE = 2020  # RecBole's default seed; seed i of a benchmark is SEED_BASE + i


def _file_digest(path):
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _plugin_modules(model_class):
    """The model's module and the recbole_ext modules it uses directly (layers, dataset, trainer)."""
    module = inspect.getmodule(model_class)
    used = {module}
    for value in vars(module).values():
        owner = value if inspect.ismodule(value) else inspect.getmodule(value)
        if owner is not None and owner.__name__.startswith("recbole_ext."):
            used.add(owner)
    return sorted(used, key=lambda m: m.__name__)


def _model_source_digest(model):
    """Plugin models are keyed by their code and yaml, so edits invalidate the cache."""
    if not registry.is_plugin_model(model):
        import recbole

        return recbole.__version__
    from recbole.utils import get_model

    digest = hashlib.sha256()
    for module in _plugin_modules(get_model(model)):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest() + str(_file_digest(registry.model_yaml(model)))


def run_key(model, dataset, config_files, overrides, seed):
    settings = {
        "model": model,
        "dataset": dataset,
        "config_files": [(str(f), _file_digest(f)) for f in config_files],
        "overrides": {k: str(v) for k, v in sorted(overrides.items())},
        "dataset_yaml": _file_digest(registry.dataset_yaml(dataset)),
        "code": _model_source_digest(model),
        "seed": seed,
    }
    blob = json.dumps(settings, sort_keys=True)
    return f"{model}-{dataset}-s{seed}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def _count_parameters(model_object):
    """Torch parameters, or for memory-based models (EASE, ItemKNN, Pop) the
    entries of the arrays they store instead (``other_parameter``)."""
    learned = sum(p.numel() for p in model_object.parameters())
    if learned > 1:
        return f"{learned:,}"
    stored = sum(_entries(value) for value in model_object.other_parameter().values())
    return f"{stored:,} stored"


def _entries(value):
    if hasattr(value, "nnz"):  # scipy sparse
        return int(value.nnz)
    if hasattr(value, "numel"):  # torch tensor
        return int(value.numel())
    return int(getattr(value, "size", 1))


def train_once(model, dataset, config_files, overrides, seed):
    """One training run with early stopping; a json-able summary."""
    from recbole_ext.runner import run

    result = run(
        model,
        dataset,
        config_files,
        {**overrides, "seed": seed},
        show_progress=False,
        record=True,
    )
    config = result["config"]
    return {
        "model": model,
        "dataset": dataset,
        "seed": seed,
        "valid_metric": config["valid_metric"].lower(),
        "best_valid_score": float(result["best_valid_score"]),
        "best_valid_result": {k: float(v) for k, v in (result["best_valid_result"] or {}).items()},
        "test_result": {k: float(v) for k, v in result["test_result"].items()},
        "unfiltered_test_result": {k: float(v) for k, v in (result["unfiltered_test_result"] or {}).items()},
        "epochs": len(result["epoch_seconds"]),
        "train_seconds": sum(result["epoch_seconds"]),
        "seconds_per_epoch": statistics.mean(result["epoch_seconds"]),
        "parameters": _count_parameters(result["model_object"]),
        "curve": [
            {"seconds": seconds, "epoch": epoch, "valid": {k: float(v) for k, v in valid.items()}}
            for seconds, epoch, valid in result["curve"]
        ],
    }


def cached_run(model, dataset, config_files, overrides, seed, cache_dir=None):
    cache_dir = Path(cache_dir or CACHE_DIR)
    key = run_key(model, dataset, config_files, overrides, seed)
    path = cache_dir / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    # each run's checkpoint lies in a folder named like its cache entry (compat also makes the
    # file name unique per process, so concurrent benchmarks never share a checkpoint)
    run_overrides = {"checkpoint_dir": str(Path("saved") / key), **overrides}
    summary = train_once(model, dataset, config_files, run_overrides, seed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(path)
    return summary


def _mean_std(values):
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def paired_difference(runs, reference_runs, metric):
    """Test ``metric`` minus the reference's on the same seed: mean +- standard
    error over the seeds both have, and how many they are."""
    reference = {r["seed"]: r["test_result"].get(metric) for r in reference_runs}
    differences = [
        r["test_result"][metric] - reference[r["seed"]]
        for r in runs
        if metric in r["test_result"] and reference.get(r["seed"]) is not None
    ]
    if not differences:
        return "n/a"
    if len(differences) == 1:
        return f"{differences[0]:+.4f} (1 seed)"
    error = statistics.stdev(differences) / len(differences) ** 0.5
    return f"{statistics.mean(differences):+.4f} ± {error:.4f} ({len(differences)} seeds)"


def seconds_to_reach(run, metric, target):
    """Training seconds until the validation ``metric`` first reaches ``target``."""
    for point in run["curve"]:
        if point["valid"].get(metric, float("-inf")) >= target:
            return point["seconds"]
    return None


def _best_on_curve(run, metric):
    return max((p["valid"].get(metric, float("-inf")) for p in run["curve"]), default=float("-inf"))


def summarise(runs_by_model, reference, target_metric):
    """One row per model, aggregated over its seeds.

    The time-to-reach column races each run to the reference model's best
    validation ``target_metric`` on the same seed (hence the same split).
    """
    targets = {run["seed"]: _best_on_curve(run, target_metric) for run in runs_by_model[reference]}
    fallback = max(targets.values())
    rows = []
    for model, runs in runs_by_model.items():
        metrics = list(runs[0]["test_result"])
        reach = [seconds_to_reach(r, target_metric, targets.get(r["seed"], fallback)) for r in runs]
        reached = [s for s in reach if s is not None]
        row = {
            "model": model,
            "seeds": len(runs),
            f"best valid {runs[0]['valid_metric']}": _mean_std([r["best_valid_score"] for r in runs]),
        }
        row.update({f"test {m}": _mean_std([r["test_result"][m] for r in runs]) for m in metrics})
        unfiltered = [r.get("unfiltered_test_result") for r in runs]
        if all(unfiltered):
            row[f"test {target_metric}, history not filtered"] = _mean_std([u[target_metric] for u in unfiltered])
        if model != reference:
            row[f"test {target_metric} - {reference}, paired (± s.e.)"] = paired_difference(
                runs, runs_by_model[reference], target_metric
            )
        row["epochs"] = f"{statistics.mean(r['epochs'] for r in runs):.1f}"
        row["s/epoch"] = f"{statistics.mean(r['seconds_per_epoch'] for r in runs):.3g}"
        params = runs[0]["parameters"]
        row["params"] = f"{params:,}" if isinstance(params, int) else params
        row[f"s to {reference} best valid {target_metric}"] = (
            f"{statistics.mean(reached):.1f} ({len(reached)}/{len(runs)})" if reached else "not reached"
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
    for model, runs in runs_by_model.items():
        for index, run in enumerate(runs):
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
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(rows, runs_by_model, metric, name, command):
    import csv

    BENCHMARK_DIR.mkdir(exist_ok=True)
    table = markdown_table(rows)
    (BENCHMARK_DIR / f"{name}.md").write_text(f"Command: `{command}`\n\n{table}\n")
    with open(BENCHMARK_DIR / f"{name}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=table_columns(rows))
        writer.writeheader()
        writer.writerows(rows)
    plot_curves(runs_by_model, metric, BENCHMARK_DIR / f"{name}.png")
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
):
    """Train (or reuse) every model x seed, then write and return the table.

    Args:
        seeds (dict | int): seeds per model, or one count for all.
        reference (str): model whose best validation ``target_metric`` the
            time-to-reach column races to (default: the first model).
        model_configs (str): folder whose ``<Model>.yaml`` (tuned settings,
            say) is added after ``config_files`` for that model only.
    """
    overrides = dict(overrides or {})
    config_files = list(config_files)
    if isinstance(seeds, int):
        seeds = {model: seeds for model in models}
    runs_by_model = {}
    for model in models:
        files = config_files + model_config_files(model, model_configs)
        own = overrides_for(model, dataset, files, overrides)
        runs_by_model[model] = [
            cached_run(model, dataset, files, own, SEED_BASE + index) for index in range(seeds[model])
        ]
    reference = reference or models[0]
    target_metric = (target_metric or runs_by_model[reference][0]["valid_metric"]).lower()
    rows = summarise(runs_by_model, reference, target_metric)
    name = name or f"{dataset}_{'-'.join(models)}"
    command = command or "python run.py --benchmark --models={} --dataset={} --seeds={}".format(
        ",".join(models), dataset, ",".join(f"{m}:{n}" for m, n in seeds.items())
    )
    return write_outputs(rows, runs_by_model, target_metric, name, command)
