"""Scaling study: test AUC and LogLoss against FLOPs per example, Wukong vs DCNV2.

Wukong's claim (Zhang et al., arXiv:2403.02545, Sec. 6) is that its quality
keeps improving as the interaction stack is scaled up, where other models
level off. This command trains a ladder of Wukong configurations spanning
more than 100x FLOPs per example and the same ladder for DCNV2, on one
dataset, same split (random 8/1/1, labeled mode), and writes

* ``benchmarks/scaling_<dataset>.csv`` and ``.md``: one row per run, and
* ``benchmarks/scaling_<dataset>.png``: test AUC and LogLoss against FLOPs.

FLOPs per example are counted twice: ``flops_recbole`` is what RecBole logs
(``recbole.utils.get_flops``, thop hooks on modules; a bare ``torch.matmul``
such as DCNV2's cross weights or Wukong's FM is not seen), and
``macs_all_ops`` is PyTorch's own counter (``torch.utils.flop_counter``)
over every matmul of one prediction, halved to multiply-adds so both columns
share thop's unit.

    python -m recbole_ext.scaling --dataset=frappe --data_path=dataset --epochs=4

Finished runs are kept in the csv: running the same command again trains
only the configurations (and settings) that are not there yet.
"""

import argparse
import csv
import itertools
import re
import sys
import time
from logging import getLogger
from pathlib import Path

import recbole_ext  # noqa: F401  (registers Wukong)

from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.data.transform import construct_transform
from recbole.utils import get_flops, get_model, get_trainer, init_logger, init_seed

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

#: labeled-mode CTR settings shared by every run
CTR_SETTINGS = {
    "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": None, "mode": "labeled"},
    "train_neg_sample_args": None,
    "metrics": ["AUC", "LogLoss"],
    "valid_metric": "AUC",
}

#: dataset-specific settings (frappe's live in properties/dataset/frappe.yaml)
DATASET_SETTINGS = {
    "ml-100k": {
        "load_col": {
            "inter": ["user_id", "item_id", "rating"],
            "user": ["user_id", "age", "gender", "occupation"],
            "item": ["item_id", "release_year", "class"],
        },
        "threshold": {"rating": 4},
    },
    "ml-latest-small": {
        "load_col": {"inter": ["user_id", "item_id", "rating"], "item": ["item_id", "release_year", "class"]},
        "threshold": {"rating": 4},
    },
    "frappe": {},
}


def ladder_config(dataset, model_name, overrides, args, seed):
    config_dict = {
        **CTR_SETTINGS, **DATASET_SETTINGS.get(dataset, {}), **FIXED_SETTINGS.get(model_name, {}), **overrides
    }
    config_dict.update(
        epochs=args.epochs, seed=seed, checkpoint_dir=args.checkpoint_dir, show_progress=False,
        train_batch_size=args.batch_size, learning_rate=args.learning_rate,
    )
    data_path = args.data_path
    if data_path:
        config_dict["data_path"] = data_path
    return config_dict


def macs_all_ops(model, interaction):
    """Multiply-adds of one ``model.predict`` call, every matmul included."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.predict(interaction)
    return counter.get_total_flops() / 2


def train_and_test(model_name, dataset_name, config_dict, flops_only=False):
    """One run: FLOPs per example, parameters, wall time and test metrics
    (metrics are NaN with ``flops_only``)."""
    config = Config(model=model_name, dataset=dataset_name, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model(model_name)(config, train_data._dataset).to(config["device"])
    transform = construct_transform(config)
    flops = get_flops(model, dataset, config["device"], getLogger(), transform)
    one_example = transform(dataset, dataset[[1]].to(config["device"]))
    macs = macs_all_ops(model, one_example)
    start = time.time()
    if flops_only:
        test_result = {"auc": float("nan"), "logloss": float("nan")}
    else:
        trainer = get_trainer(config["MODEL_TYPE"], model_name)(config, model)
        trainer.fit(train_data, valid_data, saved=True, show_progress=False)
        test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    return {
        "model": model_name,
        "flops_recbole": float(flops),
        "macs_all_ops": float(macs),
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "test_auc": float(test_result["auc"]),
        "test_logloss": float(test_result["logloss"]),
        "train_seconds": round(time.time() - start, 1),
    }


def describe(overrides):
    return " ".join(f"{key}={value}" for key, value in overrides.items()).replace(" ", "")


def read_finished_rows(csv_path):
    """Rows of an earlier run of the same command, keyed for reuse."""
    if not Path(csv_path).is_file():
        return {}
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    numeric = ("flops_recbole", "macs_all_ops", "test_auc", "test_logloss", "train_seconds")
    for row in rows:
        row.update({key: float(row[key]) for key in numeric}, params=int(row["params"]))
    return {(row["model"], row["config"], row["settings"]): row for row in rows}


def _readable(config_key):
    """``a=1b=[2]`` (the cache key) shown as ``a=1 b=[2]``."""
    return re.sub(r"(?<=[\d\]])(?=[a-z_]+=)", " ", config_key)


def write_table(rows, csv_path, md_path, command):
    columns = ["model", "config", "settings", "flops_recbole", "macs_all_ops", "params", "test_auc", "test_logloss", "train_seconds"]
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({key: row[key] for key in columns} for row in rows)
    lines = [f"Command: `{command}`", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [
            row["model"], f"`{_readable(row['config'])}`", row["settings"], f"{row['flops_recbole']:.3g}", f"{row['macs_all_ops']:.3g}",
            str(row["params"]), f"{row['test_auc']:.4f}", f"{row['test_logloss']:.4f}", str(row["train_seconds"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean over seeds:", ""] + summary_lines(mean_by_config(rows))
    Path(md_path).write_text("\n".join(lines) + "\n")


def mean_by_config(rows):
    """Per (model, config): FLOPs, params and the mean and std of test AUC / LogLoss over seeds."""
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
            entry[key + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
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


def plot(rows, png_path, dataset_name, epochs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = mean_by_config(rows)
    seeds = max(entry["seeds"] for entry in summary)
    figure, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for row_axes, x_key, x_label in (
        (axes[0], "flops_recbole", "FLOPs / example (RecBole get_flops, thop)"),
        (axes[1], "macs_all_ops", "multiply-adds / example (all matmuls)"),
    ):
        for axis, y_key, y_label in ((row_axes[0], "test_auc", "test AUC"), (row_axes[1], "test_logloss", "test LogLoss")):
            for model_name, marker in (("Wukong", "o-"), ("DCNV2", "s--")):
                points = sorted((e[x_key], e[y_key], e[y_key + "_std"]) for e in summary if e["model"] == model_name)
                if points:
                    xs, ys, errors = zip(*points)
                    axis.errorbar(xs, ys, yerr=errors, fmt=marker, capsize=3, label=model_name)
            axis.set_xscale("log")
            axis.set_xlabel(x_label)
            axis.set_ylabel(y_label)
            axis.grid(True, which="both", alpha=0.3)
            axis.legend()
    figure.suptitle(
        f"{dataset_name}: random 8/1/1 split, labeled mode, at most {epochs} epoch(s), "
        f"mean ± std over up to {seeds} seed(s)"
    )
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="frappe", help="ml-100k, ml-latest-small or frappe (converted)")
    parser.add_argument("--data_path", default=None, help="RecBole data_path of converted datasets (e.g. dataset)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2020, help="first seed")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per configuration: seed, seed+1, ...")
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--models", default="Wukong,DCNV2", help="comma-separated, from " + ",".join(LADDERS))
    parser.add_argument("--out_dir", default="benchmarks")
    parser.add_argument("--checkpoint_dir", default="saved/scaling")
    parser.add_argument("--flops_only", action="store_true", help="count FLOPs of the ladders, train nothing, write nothing")
    args = parser.parse_args(argv)
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in models if name not in LADDERS]
    if unknown:
        parser.error(f"--models: no ladder for {', '.join(unknown)} (have {', '.join(LADDERS)})")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python -m recbole_ext.scaling " + " ".join(argv if argv is not None else sys.argv[1:])
    stem = out_dir / f"scaling_{args.dataset}"
    finished = {} if args.flops_only else read_finished_rows(f"{stem}.csv")
    rows = []
    seeds = range(args.seed, args.seed + (1 if args.flops_only else args.seeds))
    ladder = [(model_name, overrides) for model_name in models for overrides in LADDERS[model_name]]
    for seed, (model_name, overrides) in itertools.product(seeds, ladder):
        settings = f"epochs={args.epochs},batch={args.batch_size},lr={args.learning_rate},seed={seed}"
        key = (model_name, describe(overrides), settings)
        if key in finished:
            rows.append(finished[key])
            continue
        config_dict = ladder_config(args.dataset, model_name, overrides, args, seed)
        row = train_and_test(model_name, args.dataset, config_dict, flops_only=args.flops_only)
        row.update(config=key[1], settings=settings)
        rows.append(row)
        if args.flops_only:
            print(f"{model_name:7s} {row['config']}: FLOPs {row['flops_recbole']:.3g}, "
                  f"all matmuls {row['macs_all_ops']:.3g}, params {row['params']}", flush=True)
            continue
        print(
            f"{model_name:7s} {row['config']}: FLOPs {row['flops_recbole']:.3g} (all matmuls {row['macs_all_ops']:.3g}),"
            f" AUC {row['test_auc']:.4f}, LogLoss {row['test_logloss']:.4f}, {row['train_seconds']}s",
            flush=True,
        )
        write_table(rows, f"{stem}.csv", f"{stem}.md", command)
    if args.flops_only:
        return 0
    write_table(rows, f"{stem}.csv", f"{stem}.md", command)
    plot(rows, out_dir / f"scaling_{args.dataset}.png", args.dataset, args.epochs)
    print(f"wrote {stem}.png, .csv, .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
