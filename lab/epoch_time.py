"""Seconds per training epoch of ARGUS rows that differ in one setting, and of RecBole's built-ins, timed in
turn in one process.

    python -m lab.epoch_time --dataset=amazon-games --variants position_encoding=added position_encoding=decoupled
    python -m lab.epoch_time --dataset=ml-100k --builtins SASRec --variants softmax=auto
    python -m lab.epoch_time --dataset=ml-latest-small --step=4 --builtins SASRec --variants softmax=auto \
        --models ARGUS ARGUSRelativePositions

Every variant (one ``KEY=YAML`` on top of the ablation row ``--step``, 0: id-only) and every built-in (``--builtins``,
with the files and settings of its head-to-head row) is built once; then each round trains one epoch of every
model in turn, so a slow spell of the shared CPU falls on all of them alike. One torch thread. The table
(``results/argus/epoch_time_<dataset>.md``, or ``--name``): each epoch's seconds, their median and the ratio of
medians to the first row (the first built-in when there is one: issue 16's epoch-time target is a ratio to SASRec's
epoch, same run, same thread count).
"""

import argparse
import statistics
import sys
import time

import torch

from lab import argus_study, device_runs
from lab.datasets import ensure_dataset
from lab.probes import register_probes


def build(model, dataset, files, overrides):
    """``model`` on ``dataset`` from ``files`` and ``overrides``: (trainer, training data)."""
    from recbole_ext.runner import build_config, build_model_and_trainer, prepare

    config = build_config(model, dataset, files, {**overrides, "state": "ERROR", "show_progress": False})
    ensure_dataset(dataset, config["data_path"])
    _, train_data, _, _ = prepare(config)
    _, trainer = build_model_and_trainer(config, train_data)
    return trainer, train_data


def build_argus(dataset, settings, model="ARGUS"):
    """ARGUS (or ``model``, a probe of ``lab.probes``) with ``settings`` on ``dataset``: (trainer, training data)."""
    files = argus_study.model_files("ARGUS", dataset)
    return build(model, dataset, files, argus_study.as_overrides(dataset, settings))


def build_builtin(model, dataset):
    """A built-in as its head-to-head row trains it on ``dataset``: (trainer, training data)."""
    files = argus_study.model_files(model, dataset)
    return build(argus_study.trained_class(model), dataset, files, dict(argus_study.OVERRIDES))


def epoch_seconds(built, rounds):
    """``{row: [seconds of each round's epoch]}``, the rows (built-ins, then variants) trained in turn every round."""
    seconds = {variant: [] for variant in built}
    for epoch in range(rounds):
        for variant, (trainer, train_data) in built.items():
            started = time.perf_counter()
            trainer._train_epoch(train_data, epoch)
            seconds[variant].append(time.perf_counter() - started)
    return seconds


def table_rows(seconds):
    first = statistics.median(next(iter(seconds.values())))
    return [
        {
            "row": variant,
            "seconds per epoch, each round": ", ".join(f"{s:.1f}" for s in times),
            "median": f"{statistics.median(times):.1f}",
            "x the first row": f"{statistics.median(times) / first:.3f}",
        }
        for variant, times in seconds.items()
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.epoch_time", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=argus_study.DATASETS, default="ml-100k")
    parser.add_argument("--step", type=int, default=0, help="the ablation row the variants change (0: id-only)")
    parser.add_argument("--variants", nargs="+", required=True, metavar="KEY=YAML")
    parser.add_argument("--builtins", nargs="*", default=[], choices=argus_study.BUILTINS,
                        help="RecBole models timed first, with their head-to-head settings")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=YAML", help="settings every variant shares")
    parser.add_argument("--models", nargs="+", default=["ARGUS"], metavar="MODEL",
                        help="ARGUS and probes of lab.probes: each variant is timed with each (rows 'MODEL: KEY=YAML')")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", help="the table's name under results/argus/ (default: epoch_time_<dataset>)")
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(given)
    sys.argv = sys.argv[:1]  # RecBole's Config reads --key=value options from sys.argv: it gets none of these
    shared = device_runs.parse_settings(args.set)
    variants = {variant: device_runs.parse_settings([variant]) for variant in args.variants}
    bad = [variant for variant, setting in variants.items() if setting is None]
    if shared is None or bad:
        raise SystemExit(f"--variants and --set: every entry is KEY=YAML, got {' '.join(bad or args.set)}")
    if args.rounds < 1:
        raise SystemExit(f"--rounds must be >= 1, got {args.rounds}")
    torch.set_num_threads(1)
    register_probes()
    built = {f"{model} (RecBole)": build_builtin(model, args.dataset) for model in args.builtins}
    built.update({
        variant if args.models == ["ARGUS"] else f"{model}: {variant}": build_argus(
            args.dataset, argus_study.row_settings(args.dataset, args.step, {**shared, **setting}), model)
        for variant, setting in variants.items()
        for model in args.models
    })
    command = "python -m lab.epoch_time " + " ".join(given)
    name = args.name or f"epoch_time_{args.dataset}"
    print(argus_study.write_table(name, table_rows(epoch_seconds(built, args.rounds)), command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
