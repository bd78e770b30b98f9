"""How much of an ARGUS head-to-head row's test score comes from the width of its history rule.

The head-to-head's history rule (``exclude_history_items``) masks the items of each model's own history
window, ``MAX_ITEM_LIST_LENGTH`` events: 50 for RecBole's SASRec, LightSANs and SASRecF, 200 for ARGUS's
"everything" rows on ml-100k. A wider window masks more of the user's earlier items, which on MovieLens
(no repeats) can never be the target, so the same weights score higher under it. This tests the best
checkpoint of a row of ``lab.argus_study``'s head-to-head under the rule of its own window, under the
built-ins' 50-event window, and with no rule; the checkpoint is the one its record's run left in
``saved/<run key>/``, or, when that is gone, a retrain with the record's settings and seed:

    python -m lab.argus_study head2head --dataset=ml-100k           # the rows and their records
    python -m lab.history_window --row="ARGUS everything" --seeds=2020,2021,2022

The long-history and scaling studies' rows (``python -m lab.argus_study history`` / ``scaling``) are measured
the same way:

    python -m lab.history_window --dataset=ml-latest-small --history_lengths=50,200,500,1000 --seeds=2020,2021,2022
    python -m lab.history_window --history_lengths=200,1000 --size=large --seeds=2020    # the scaling study's rows

Each result is one line of ``results/argus/history_window_<dataset>.jsonl``; the table is printed.
"""

import argparse
import json
import statistics
import sys

from pathlib import Path

import torch

import recbole_ext  # noqa: F401  (registers ARGUS)
from recbole_ext import runner
from recbole_ext.trainer.resume import last_checkpoint_path

from lab import argus_study, runs

BUILTIN_WINDOW = argus_study.BUILTIN_WINDOW
METRICS = ("ndcg@10", "mrr@10", "recall@10")


def last_events_mask(window, seq_field, len_field, evaluate_batch):
    """``evaluate_batch`` (a trainer's ``_full_sort_batch_eval`` with the rule off) with the items of each
    user's last ``window`` history events masked: the history rule of a model whose window is ``window``."""

    def masked(batched_data):
        interaction, scores, positive_u, positive_i = evaluate_batch(batched_data)
        items = interaction[seq_field].to(scores.device)
        length = interaction[len_field].to(scores.device).unsqueeze(1)
        slot = torch.arange(items.shape[1], device=items.device).unsqueeze(0)
        in_window = (slot >= length - window) & (slot < length)
        return interaction, scores.scatter(1, torch.where(in_window, items, 0), float("-inf")), positive_u, positive_i

    return masked


def _scores(result):
    return {metric: float(result[metric]) for metric in METRICS if metric in result}


def measure(dataset, label, seed):
    """Head-to-head row ``label`` on ``seed`` under each rule (:func:`measure_run`)."""
    step, extra = {row: (s, e) for row, s, e in argus_study.HEAD_TO_HEAD}[label]
    overrides = argus_study.as_overrides(dataset, argus_study.row_settings(dataset, step, extra))
    return measure_run(dataset, label, overrides, seed)


def measure_length(length, seed, size=None):
    """The long-history (or scaling) study's ``length`` row of model ``size`` on ``seed`` under each rule
    (:func:`measure_run`); None when the row has no record."""
    overrides = argus_study.length_overrides(length, size)
    label = argus_study.length_label(length, size)
    return measure_run(argus_study.HISTORY_DATASET, label, overrides, seed, needs_record=True)


def measure_run(dataset, label, overrides, seed, needs_record=False):
    """An ARGUS run's test results under each rule: tested from the best checkpoint of its record's run when
    that is still on disk, else retrained with the same settings and seed; None when ``needs_record`` and the
    run has no record."""
    files = argus_study.model_files("ARGUS", dataset)
    key = runs.run_key("ARGUS", dataset, files, overrides, seed)
    recorded = runs.find_record(key) is not None
    if needs_record and not recorded:
        return None
    checkpoint = saved_best_checkpoint(key) if recorded else None
    config, trainer, test_data = best_weights(dataset, files, overrides, seed, checkpoint)
    return {**rule_scores(dataset, label, seed, config, trainer, test_data, checkpoint), "key": key}


def best_weights(dataset, files, overrides, seed, checkpoint=None):
    """``(config, trainer, test data)`` of an ARGUS run: trained with early stopping, or, given the run's best
    ``checkpoint``, only built (the trainer then tests that file)."""
    config = runner.build_config("ARGUS", dataset, files, {**overrides, "seed": seed,
                                                            "checkpoint_dir": f"saved/history_window_{seed}"})
    if checkpoint is None:
        trained = runner.train(config, show_progress=False)
        return config, trained.trainer, trained.test_data
    _, train_data, _, test_data = runner.prepare(config)
    _, trainer = runner.build_model_and_trainer(config, train_data)
    return config, trainer, test_data


def saved_best_checkpoint(key):
    """The best checkpoint that :func:`lab.runs.cached_run` left in ``saved/<key>/``, or None."""
    folder = Path("saved") / key
    best = [path for path in sorted(folder.glob("*.pth")) if not path.name.endswith("-last.pth")]
    complete = [path for path in best if Path(last_checkpoint_path(str(path))).is_file()]
    return complete[-1] if complete else None


def rule_scores(dataset, label, seed, config, trainer, test_data, checkpoint):
    """Test results of the best weights (the trainer's, or ``checkpoint``'s) under the row's own rule, the
    built-ins' ``BUILTIN_WINDOW``-event rule and no rule."""
    model_file = None if checkpoint is None else str(checkpoint)
    own_window = config["MAX_ITEM_LIST_LENGTH"]
    result = {"dataset": dataset, "row": label, "seed": seed, "own_window": own_window,
              "own rule": _scores(trainer.evaluate(test_data, load_best_model=True, model_file=model_file,
                                                   show_progress=False))}
    trainer.exclude_history_items = False
    plain = trainer._full_sort_batch_eval
    seq_field = config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"]
    trainer._full_sort_batch_eval = last_events_mask(BUILTIN_WINDOW, seq_field, config["ITEM_LIST_LENGTH_FIELD"], plain)
    result[f"last {BUILTIN_WINDOW} events rule"] = _scores(trainer.evaluate(test_data, load_best_model=False, show_progress=False))
    trainer._full_sort_batch_eval = plain
    result["no rule"] = _scores(trainer.evaluate(test_data, load_best_model=False, show_progress=False))
    return result


def table(results):
    """Markdown: per row, mean test NDCG@10 under each rule over the seeds measured."""
    rules = ("own rule", f"last {BUILTIN_WINDOW} events rule", "no rule")
    lines = ["| row | seeds | own window | " + " | ".join(f"test ndcg@10, {r}" for r in rules) + " |",
             "|---|---|---|" + "---|" * len(rules)]
    for label in dict.fromkeys(r["row"] for r in results):
        mine = [r for r in results if r["row"] == label]
        cells = []
        for rule in rules:
            values = [r[rule]["ndcg@10"] for r in mine]
            spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.4f}{spread} ({', '.join(f'{v:.4f}' for v in values)})")
        seeds = ", ".join(str(r["seed"]) for r in mine)
        lines.append(f"| {label} | {seeds} | {mine[0]['own_window']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.history_window", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=argus_study.DATASETS, default="ml-100k")
    rows = parser.add_mutually_exclusive_group(required=True)
    rows.add_argument("--row", choices=[label for label, _, _ in argus_study.HEAD_TO_HEAD])
    rows.add_argument("--history_lengths", help="comma-separated lengths of the long-history study "
                      f"(on {argus_study.HISTORY_DATASET})")
    parser.add_argument("--size", choices=list(argus_study.SIZES), default="base",
                        help="model size of the --history_lengths rows (the scaling study's)")
    parser.add_argument("--seeds", default="2020", help="comma-separated seeds")
    args = parser.parse_args(argv)
    sys.argv = sys.argv[:1]  # RecBole's Config reads --key=value options from sys.argv
    if args.history_lengths:
        args.dataset = argus_study.HISTORY_DATASET
    path = argus_study.RESULTS / f"history_window_{args.dataset}.jsonl"
    lengths = [int(length) for length in args.history_lengths.split(",")] if args.history_lengths else [None]
    measured = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for length in lengths:
            result = (measure(args.dataset, args.row, seed) if length is None
                      else measure_length(length, seed, args.size))
            if result is None:
                print(f"no record of the {args.size} {length}-event history row, seed {seed}: run "
                      "`python -m lab.argus_study history` (or `scaling`) first; skipped")
                continue
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(result) + "\n")
            measured.append(result)
    if measured:  # this call's runs only: the file also keeps lines of code since changed
        print(table(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
