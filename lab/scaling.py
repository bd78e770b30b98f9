"""Scaling study: test AUC and LogLoss against FLOPs per example, Wukong vs DCNV2.

Wukong's claim (Zhang et al., arXiv:2403.02545, Sec. 6) is that its quality
keeps improving as the interaction stack is scaled up, where other models
level off. This command trains a ladder of Wukong configurations spanning
more than 100x FLOPs per example and the same ladder for DCNV2, on one
dataset, same split (random 8/1/1, labeled mode), through the library's
training path; every run is a record in ``results/wukong_scaling/runs/``
(:mod:`lab.runs`), so running the command again trains only what is
missing. It writes

* ``results/wukong_scaling/<dataset>.csv`` and ``.md``: one row per run, and
* ``results/wukong_scaling/<dataset>.png``: test AUC and LogLoss against FLOPs.

FLOPs per example are counted twice: ``flops_recbole`` is what RecBole logs
(``recbole.utils.get_flops``, thop hooks on modules; a bare ``torch.matmul``
such as DCNV2's cross weights or Wukong's FM is not seen), and
``macs_all_ops`` is PyTorch's own counter (``torch.utils.flop_counter``)
over every matmul of one prediction, halved to multiply-adds so both columns
share thop's unit.

    python -m lab.scaling --dataset=frappe --data_path=dataset --epochs=4
"""

import argparse
import csv
import re
import sys
from logging import getLogger
from pathlib import Path

import recbole_ext  # noqa: F401  (registers Wukong)
from recbole_ext.files import atomic_path, write_text_atomically

from lab import runs
from lab.datasets import ensure_dataset
from lab.stats import std

STUDY = "wukong_scaling"
CONFIGS = Path(__file__).resolve().parent / "configs"

#: per model, configurations from smallest to largest
LADDERS = {
    "Wukong": [
        {"embedding_size": 8, "num_layers": 1, "fm_rank": 2, "fmb_units": 2, "lcb_units": 2,
         "fmb_mlp_sizes": [16], "head_mlp_sizes": [16]},
        {"embedding_size": 16, "num_layers": 2, "fm_rank": 4, "fmb_units": 4, "lcb_units": 4,
         "fmb_mlp_sizes": [64], "head_mlp_sizes": [64]},
        {"embedding_size": 16, "num_layers": 3, "fm_rank": 8, "fmb_units": 8, "lcb_units": 8,
         "fmb_mlp_sizes": [256], "head_mlp_sizes": [256, 64]},
        {"embedding_size": 32, "num_layers": 4, "fm_rank": 16, "fmb_units": 16, "lcb_units": 16,
         "fmb_mlp_sizes": [512, 512], "head_mlp_sizes": [512, 128]},
    ],
    "DCNV2": [
        {"embedding_size": 8, "cross_layer_num": 1, "mlp_hidden_size": [16]},
        {"embedding_size": 16, "cross_layer_num": 2, "mlp_hidden_size": [64]},
        {"embedding_size": 16, "cross_layer_num": 3, "mlp_hidden_size": [256, 64]},
        {"embedding_size": 32, "cross_layer_num": 4, "mlp_hidden_size": [1024, 512]},
    ],
}

#: settings every rung of a ladder keeps: the Wukong ladder was measured with one embedding per
#: field (``embeddings_per_field`` came later, with a default of 3) and scales d, l, k, n_F and n_L
FIXED_SETTINGS = {"Wukong": {"embeddings_per_field": 1}}


def ctr_config_files(dataset):
    """The CTR protocol file of ``dataset`` (frappe's protocol is in its own dataset yaml)."""
    path = CONFIGS / f"ctr_{dataset}.yaml"
    return [str(path)] if path.is_file() else []


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


COLUMNS = ["model", "config", "seed", "flops_recbole", "macs_all_ops", "params", "epochs", "test_auc", "test_logloss",
           "train_seconds"]


def write_table(rows, csv_path, md_path, command):
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({key: row[key] for key in COLUMNS} for row in rows)
    lines = [f"Command: `{command}`", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [
            row["model"], f"`{_readable(row['config'])}`", str(row["seed"]), f"{row['flops_recbole']:.3g}",
            f"{row['macs_all_ops']:.3g}", str(row["params"]), str(row["epochs"]), f"{row['test_auc']:.4f}",
            f"{row['test_logloss']:.4f}", f"{row['train_seconds']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean over seeds:", ""] + summary_lines(mean_by_config(rows))
    write_text_atomically(md_path, "\n".join(lines) + "\n")


def mean_by_config(rows):
    """Per (model, config): FLOPs, params and the mean and sample std of test AUC / LogLoss over seeds."""
    import statistics

    groups = {}
    for row in rows:
        groups.setdefault((row["model"], row["config"]), []).append(row)
    summary = []
    for (model_name, config_key), group in groups.items():
        entry = {"model": model_name, "config": config_key, "seeds": len(group)}
        for key in ("flops_recbole", "macs_all_ops", "params"):
            entry[key] = group[0][key]
        for key in ("test_auc", "test_logloss"):
            values = [row[key] for row in group]
            entry[key] = statistics.mean(values)
            entry[key + "_std"] = std(values)
        summary.append(entry)
    return summary


def summary_lines(summary):
    lines = ["| model | config | seeds | FLOPs (thop) | MACs (all matmuls) | params | test AUC | test LogLoss |",
             "|---|---|---|---|---|---|---|---|"]
    for entry in summary:
        lines.append(
            f"| {entry['model']} | `{_readable(entry['config'])}` | {entry['seeds']} | {entry['flops_recbole']:.3g} | "
            f"{entry['macs_all_ops']:.3g} | {entry['params']} | {entry['test_auc']:.4f} ± {entry['test_auc_std']:.4f} | "
            f"{entry['test_logloss']:.4f} ± {entry['test_logloss_std']:.4f} |"
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
    record = runs.cached_run(model_name, dataset, config_files, overrides, seed, STUDY)
    return {
        "model": model_name,
        "config": describe(rung),
        "seed": seed,
        "flops_recbole": flops[0],
        "macs_all_ops": flops[1],
        "params": record["parameters"],
        "epochs": record["epochs"],
        "test_auc": record["test_result"]["auc"],
        "test_logloss": record["test_result"]["logloss"],
        "train_seconds": record["train_seconds"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="frappe", help="ml-100k, ml-latest-small or frappe")
    parser.add_argument("--data_path", default="dataset", help="RecBole data_path of converted datasets")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1, help="seeds per configuration: 2020, 2021, ...")
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--models", default="Wukong,DCNV2", help="comma-separated, from " + ",".join(LADDERS))
    parser.add_argument("--flops_only", action="store_true", help="count FLOPs of the ladders, train nothing, write nothing")
    args = parser.parse_args(argv)
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in models if name not in LADDERS]
    if unknown:
        parser.error(f"--models: no ladder for {', '.join(unknown)} (have {', '.join(LADDERS)})")
    ensure_dataset(args.dataset, args.data_path)
    config_files = ctr_config_files(args.dataset)
    common = {"epochs": args.epochs, "train_batch_size": args.batch_size, "learning_rate": args.learning_rate,
              "show_progress": False, "data_path": args.data_path}
    rows = []
    ladder = [(model_name, rung) for model_name in models for rung in LADDERS[model_name]]
    for model_name, rung in ladder:
        overrides = {**FIXED_SETTINGS.get(model_name, {}), **rung, **common}
        flops = count_flops(model_name, args.dataset, config_files, overrides)
        print(f"{model_name:7s} {describe(rung)}: FLOPs {flops[0]:.3g}, all matmuls {flops[1]:.3g}", flush=True)
        if args.flops_only:
            continue
        for seed in range(runs.SEED_BASE, runs.SEED_BASE + args.seeds):
            rows.append(rung_row(model_name, rung, args.dataset, config_files, overrides, seed, flops))
            print(f"  seed {seed}: AUC {rows[-1]['test_auc']:.4f}, LogLoss {rows[-1]['test_logloss']:.4f}", flush=True)
    if args.flops_only:
        return 0
    command = "python -m lab.scaling " + " ".join(argv if argv is not None else sys.argv[1:])
    stem = runs.RESULTS_DIR / STUDY / args.dataset
    write_table(rows, f"{stem}.csv", f"{stem}.md", command)
    title = (f"{args.dataset}: random 8/1/1 split, labeled mode, at most {args.epochs} epoch(s), "
             f"mean ± std over {args.seeds} seed(s)")
    plot(rows, f"{stem}.png", title)
    print(f"wrote {stem}.png, .csv, .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
