"""Scaling study: test AUC and LogLoss against FLOPs per example, Wukong vs DCNV2 and DeepFM.

Wukong's claim (Zhang et al., arXiv:2403.02545, Sec. 6) is that its quality
keeps improving as the interaction stack is scaled up, where other models
level off. This command trains a ladder of configurations per model
(``LADDERS``, each spanning more than 100x FLOPs per example) on one
dataset, same split per seed (random 8/1/1, labeled mode), through the
library's training path; every run is a record in
``results/wukong_scaling/runs/`` (:mod:`lab.runs`), so running the command
again trains only what is missing. By default every run trains to early
stopping on validation AUC (``lab/configs/ctr_converged.yaml``: patience 3,
a cap of 500 epochs that does not bind); ``--epochs=N`` caps every run at N
epochs instead (a short budget). Settings a rung does not name keep the
model's defaults. It writes

* ``results/wukong_scaling/<dataset>_<protocol>.csv`` and ``.md``: one row per
  run, the mean ± std per rung, and per model the top rung against the bottom
  one (the difference of the means, the seed spread, the paired difference), and
* ``results/wukong_scaling/<dataset>_<protocol>.png``: test AUC and LogLoss
  against FLOPs, mean ± std over seeds.

FLOPs per example are counted twice: ``flops_recbole`` is what RecBole logs
(``recbole.utils.get_flops``, thop hooks on modules; a bare ``torch.matmul``
such as DCNV2's cross weights or Wukong's FM is not seen), and
``macs_all_ops`` is PyTorch's own counter (``torch.utils.flop_counter``)
over every matmul of one prediction, halved to multiply-adds so both columns
share thop's unit.

    python -m lab.scaling --dataset=ml-latest-small --seeds=3
    python -m lab.scaling --dataset=ml-latest-small --flops_only
    python -m lab.scaling --dataset=ml-latest-small --models=Wukong,DCNV2 --rungs=1,2,3,4,5 --seeds=2
"""

import argparse
import csv
import re
import statistics
import sys
from logging import getLogger
from pathlib import Path

import recbole_ext  # noqa: F401  (registers Wukong)
from recbole_ext.files import atomic_path, write_text_atomically

from lab import resumable, runs
from lab.datasets import ensure_dataset
from lab.stats import paired_difference, std

STUDY = "wukong_scaling"
CONFIGS = Path(__file__).resolve().parent / "configs"
CONVERGED = CONFIGS / "ctr_converged.yaml"


def _wukong(d, layers, k, units, fmb, head):
    return {"embedding_size": d, "num_layers": layers, "fm_rank": k, "fmb_units": units, "lcb_units": units,
            "fmb_mlp_sizes": fmb, "head_mlp_sizes": head}


#: per model, configurations from smallest to largest (FLOPs per example on ml-latest-small:
#: ``python -m lab.scaling --dataset=ml-latest-small --flops_only``)
LADDERS = {
    "Wukong": [
        _wukong(4, 1, 2, 2, [8], [8]),
        _wukong(8, 1, 4, 4, [32], [32]),
        _wukong(16, 2, 8, 8, [128], [128, 64]),
        _wukong(16, 3, 16, 16, [256, 256], [256, 128]),
        _wukong(32, 4, 24, 16, [512, 512], [512, 256]),
        _wukong(32, 6, 32, 32, [1024, 1024], [1024, 512]),
    ],
    "DCNV2": [
        {"embedding_size": 4, "cross_layer_num": 1, "mlp_hidden_size": [8]},
        {"embedding_size": 8, "cross_layer_num": 1, "mlp_hidden_size": [32]},
        {"embedding_size": 16, "cross_layer_num": 2, "mlp_hidden_size": [128, 64]},
        {"embedding_size": 16, "cross_layer_num": 3, "mlp_hidden_size": [512, 256]},
        {"embedding_size": 32, "cross_layer_num": 4, "mlp_hidden_size": [1024, 1024]},
        {"embedding_size": 32, "cross_layer_num": 6, "mlp_hidden_size": [2048, 2048]},
    ],
    "DeepFM": [
        {"embedding_size": 4, "mlp_hidden_size": [8]},
        {"embedding_size": 8, "mlp_hidden_size": [32, 32]},
        {"embedding_size": 16, "mlp_hidden_size": [128, 128]},
        {"embedding_size": 16, "mlp_hidden_size": [512, 512, 256]},
        {"embedding_size": 32, "mlp_hidden_size": [1024, 1024, 512]},
        {"embedding_size": 32, "mlp_hidden_size": [2048, 2048, 1024]},
    ],
}


def ctr_config_files(dataset, epochs=None):
    """The CTR protocol files of ``dataset`` (frappe's protocol is in its own dataset yaml), plus the
    converged protocol when no epoch cap is given."""
    path = CONFIGS / f"ctr_{dataset}.yaml"
    files = [str(path)] if path.is_file() else []
    return files if epochs else files + [str(CONVERGED)]


def macs_all_ops(model, interaction):
    """Multiply-adds of one ``model.predict`` call, every matmul included."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.predict(interaction)
    return counter.get_total_flops() / 2


def count_flops(model_name, dataset_name, config_files, overrides):
    """``(flops_recbole, macs_all_ops)`` of one prediction of an untrained model."""
    from recbole.data.transform import construct_transform
    from recbole.utils import get_flops

    from recbole_ext.runner import build_config, build_model_and_trainer, prepare

    config = build_config(model_name, dataset_name, config_files, {**overrides, "state": "ERROR"})
    dataset, train_data, _, _ = prepare(config)
    model, _ = build_model_and_trainer(config, train_data)
    transform = construct_transform(config)
    flops = get_flops(model, dataset, config["device"], getLogger(), transform)
    one_example = transform(dataset, dataset[[1]].to(config["device"]))
    return float(flops), float(macs_all_ops(model, one_example))


def describe(overrides):
    return " ".join(f"{key}={value}" for key, value in overrides.items()).replace(" ", "")


def _readable(config_key):
    """``a=1b=[2]`` shown as ``a=1 b=[2]``."""
    return re.sub(r"(?<=[\d\]])(?=[a-z_]+=)", " ", config_key)


COLUMNS = ["model", "config", "seed", "flops_recbole", "macs_all_ops", "params", "epochs", "max_epochs",
           "best_valid_auc", "test_auc", "test_logloss", "train_seconds"]


def write_table(rows, csv_path, md_path, command):
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({key: row[key] for key in COLUMNS} for row in rows)
    summary = mean_by_config(rows)
    lines = [f"Command: `{command}`", "", "Mean ± sample std over seeds:", ""] + summary_lines(summary)
    lines += ["", "Top rung against bottom rung (test AUC):", ""] + ends_lines(ends_of_ladders(rows))
    lines += ["", "Every run:", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [
            row["model"], f"`{_readable(row['config'])}`", str(row["seed"]), f"{row['flops_recbole']:.3g}",
            f"{row['macs_all_ops']:.3g}", str(row["params"]), str(row["epochs"]), str(row["max_epochs"]),
            f"{row['best_valid_auc']:.4f}", f"{row['test_auc']:.4f}", f"{row['test_logloss']:.4f}",
            f"{row['train_seconds']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    write_text_atomically(md_path, "\n".join(lines) + "\n")


def runs_by_config(rows):
    """``{(model, config): [its rows, one per seed]}`` in the order the rows come."""
    groups = {}
    for row in rows:
        groups.setdefault((row["model"], row["config"]), []).append(row)
    return groups


def mean_by_config(rows):
    """Per (model, config): FLOPs, params, the epochs each seed ran, and the mean and sample std of the
    best validation AUC and test AUC / LogLoss over seeds."""
    summary = []
    for (model_name, config_key), group in runs_by_config(rows).items():
        entry = {"model": model_name, "config": config_key, "seeds": len(group)}
        for key in ("flops_recbole", "macs_all_ops", "params"):
            entry[key] = group[0][key]
        entry["epochs"] = ", ".join(str(row.get("epochs", "")) for row in group)
        entry["max_epochs"] = group[0].get("max_epochs", "")
        for key in ("best_valid_auc", "test_auc", "test_logloss"):
            values = [row[key] for row in group if key in row]
            if values:
                entry[key] = statistics.mean(values)
                entry[key + "_std"] = std(values)
        summary.append(entry)
    return summary


def summary_lines(summary):
    lines = ["| model | config | seeds | FLOPs (thop) | MACs (all matmuls) | params | epochs run | best valid AUC | "
             "test AUC | test LogLoss |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for entry in summary:
        lines.append(
            f"| {entry['model']} | `{_readable(entry['config'])}` | {entry['seeds']} | {entry['flops_recbole']:.3g} | "
            f"{entry['macs_all_ops']:.3g} | {entry['params']} | {entry['epochs']} of {entry['max_epochs']} | "
            f"{entry['best_valid_auc']:.4f} ± {entry['best_valid_auc_std']:.4f} | "
            f"{entry['test_auc']:.4f} ± {entry['test_auc_std']:.4f} | "
            f"{entry['test_logloss']:.4f} ± {entry['test_logloss_std']:.4f} |"
        )
    return lines


def ends_of_ladders(rows, metric="test_auc"):
    """Per model: its bottom and top rung (fewest and most FLOPs), the difference of their mean ``metric``,
    the larger of their two seed spreads (sample std), whether the difference exceeds it, and the
    difference paired by seed (the same seed is the same split), mean ± standard error."""
    ends = []
    groups = runs_by_config(rows)
    for model_name in dict.fromkeys(model for model, _ in groups):
        own = [group for (model, _), group in groups.items() if model == model_name]
        ordered = sorted(own, key=lambda group: group[0]["macs_all_ops"])
        if len(ordered) < 2:
            continue
        bottom, top = ordered[0], ordered[-1]
        bottom_values, top_values = [r[metric] for r in bottom], [r[metric] for r in top]
        difference = statistics.mean(top_values) - statistics.mean(bottom_values)
        spread = max(std(bottom_values), std(top_values))
        ends.append({
            "model": model_name,
            "bottom": statistics.mean(bottom_values), "top": statistics.mean(top_values),
            "flops_ratio": top[0]["macs_all_ops"] / bottom[0]["macs_all_ops"],
            "difference": difference, "spread": spread, "above_spread": difference > spread,
            "paired": paired_difference({r["seed"]: r[metric] for r in top}, {r["seed"]: r[metric] for r in bottom}),
        })
    return ends


def ends_lines(ends):
    lines = ["| model | bottom rung | top rung | MACs ratio | top − bottom | larger seed std | above the spread | "
             "top − bottom, paired (± s.e.) |",
             "|---|---|---|---|---|---|---|---|"]
    for end in ends:
        lines.append(
            f"| {end['model']} | {end['bottom']:.4f} | {end['top']:.4f} | {end['flops_ratio']:.0f}x | "
            f"{end['difference']:+.4f} | {end['spread']:.4f} | {'yes' if end['above_spread'] else 'no'} | "
            f"{end['paired']} |"
        )
    return lines


def plot(rows, png_path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = mean_by_config(rows)
    figure, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for row_axes, x_key, x_label in (
        (axes[0], "flops_recbole", "FLOPs / example (RecBole get_flops, thop)"),
        (axes[1], "macs_all_ops", "multiply-adds / example (all matmuls)"),
    ):
        for axis, y_key, y_label in ((row_axes[0], "test_auc", "test AUC"), (row_axes[1], "test_logloss", "test LogLoss")):
            for index, model_name in enumerate(dict.fromkeys(e["model"] for e in summary)):
                points = sorted((e[x_key], e[y_key], e[y_key + "_std"]) for e in summary if e["model"] == model_name)
                xs, ys, errors = zip(*points)
                axis.errorbar(xs, ys, yerr=errors, fmt="os^D"[index % 4] + "-", capsize=3, label=model_name)
            axis.set_xscale("log")
            axis.set_xlabel(x_label)
            axis.set_ylabel(y_label)
            axis.grid(True, which="both", alpha=0.3)
            axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    plt.close(figure)


def rung_row(model_name, rung, dataset, config_files, overrides, seed, flops):
    record = resumable.cached_run(model_name, dataset, config_files, overrides, seed, STUDY)
    return {
        "model": model_name,
        "config": describe(rung),
        "seed": seed,
        "flops_recbole": flops[0],
        "macs_all_ops": flops[1],
        "params": record["parameters"],
        "epochs": record["epochs"],
        "max_epochs": record["max_epochs"],
        "best_valid_auc": record["best_valid_score"],
        "test_auc": record["test_result"]["auc"],
        "test_logloss": record["test_result"]["logloss"],
        "train_seconds": record["train_seconds"],
    }


def parse_rungs(text, models):
    """Per model, the rung numbers (1-based) to run: every rung when ``text`` is None; an error line (str)
    when a number is not a rung of some ladder."""
    if text is None:
        return {name: list(range(1, len(LADDERS[name]) + 1)) for name in models}
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        return f"--rungs: '{text}' is not a comma-separated list of rung numbers"
    for name in models:
        wrong = [number for number in numbers if not 1 <= number <= len(LADDERS[name])]
        if wrong or not numbers:
            return f"--rungs: {name} has rungs 1 to {len(LADDERS[name])}, not {text}"
    return {name: numbers for name in models}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-latest-small", help="ml-100k, ml-latest-small or frappe")
    parser.add_argument("--data_path", default="dataset", help="RecBole data_path of converted datasets")
    parser.add_argument("--epochs", type=int, default=None,
                        help="cap every run at this many epochs (default: train to early stopping, ctr_converged.yaml)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per configuration: 2020, 2021, ...")
    parser.add_argument("--batch_size", type=int, default=None, help="train_batch_size (default: RecBole's, 2048)")
    parser.add_argument("--learning_rate", type=float, default=None, help="default: each model's own")
    parser.add_argument("--models", default="Wukong,DCNV2,DeepFM", help="comma-separated, from " + ",".join(LADDERS))
    parser.add_argument("--rungs", default=None,
                        help="comma-separated rung numbers, 1 = the smallest (default: every rung of each ladder)")
    parser.add_argument("--flops_only", action="store_true", help="count FLOPs of the ladders, train nothing, write nothing")
    args = parser.parse_args(argv)
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in models if name not in LADDERS]
    if unknown:
        parser.error(f"--models: no ladder for {', '.join(unknown)} (have {', '.join(LADDERS)})")
    rungs = parse_rungs(args.rungs, models)
    if isinstance(rungs, str):
        parser.error(rungs)
    ensure_dataset(args.dataset, args.data_path)
    config_files = ctr_config_files(args.dataset, args.epochs)
    common = {"show_progress": False, "data_path": args.data_path}
    if args.epochs:
        common["epochs"] = args.epochs
    if args.batch_size:
        common["train_batch_size"] = args.batch_size
    if args.learning_rate:
        common["learning_rate"] = args.learning_rate
    rows = []
    ladder = [(model_name, LADDERS[model_name][number - 1]) for model_name in models for number in rungs[model_name]]
    for model_name, rung in ladder:
        overrides = {**rung, **common}
        flops = count_flops(model_name, args.dataset, config_files, overrides)
        print(f"{model_name:7s} {describe(rung)}: FLOPs {flops[0]:.3g}, all matmuls {flops[1]:.3g}", flush=True)
        if args.flops_only:
            continue
        for seed in range(runs.SEED_BASE, runs.SEED_BASE + args.seeds):
            rows.append(rung_row(model_name, rung, args.dataset, config_files, overrides, seed, flops))
            print(f"  seed {seed}: AUC {rows[-1]['test_auc']:.4f}, LogLoss {rows[-1]['test_logloss']:.4f}, "
                  f"{rows[-1]['epochs']} epochs", flush=True)
    if args.flops_only:
        return 0
    command = "python -m lab.scaling " + " ".join(argv if argv is not None else sys.argv[1:])
    protocol = f"{args.epochs}epochs" if args.epochs else "converged"
    stem = runs.RESULTS_DIR / STUDY / f"{args.dataset}_{protocol}"
    write_table(rows, f"{stem}.csv", f"{stem}.md", command)
    budget = f"at most {args.epochs} epoch(s)" if args.epochs else "early stopping on valid AUC (patience 3)"
    plot(rows, f"{stem}.png", f"{args.dataset}: random 8/1/1 split, labeled mode, {budget}, "
                              f"mean ± std over {args.seeds} seed(s)")
    for line in ends_lines(ends_of_ladders(rows)):
        print(line)
    print(f"wrote {stem}.png, .csv, .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
