"""How a trained ARGUS row treats items by their popularity (issue 16, the amazon-games core).

From the best checkpoint that a row's recorded run left in ``saved/<run key>/`` (train the row first; a row with
a record is never retrained), under the row's own history rule:

    python -m lab.argus_study row --dataset=amazon-games --seeds=1            # the id-only row, seed 2020
    python -m lab.item_popularity --dataset=amazon-games --seed=2020 [--step=0] [--model=ARGUS] [--set KEY=YAML ...]

prints, by the number of training events of an item: the mean norm of its input item embedding, the hit@10 of the
test targets and the share of the top 10; then the test and validation NDCG@10 of the scores plus
``a * log(1 + training events of the item)`` for each ``a`` of ``SHIFTS``. A model that ranks popular items too
high (or too low) gains from some ``a`` below (above) 0; a calibrated one peaks near 0.
"""

import argparse
import math
import sys

import torch

import recbole_ext  # noqa: F401  (registers ARGUS)
from recbole_ext import runner
from recbole_ext.checkpoints import load_checkpoint
from recbole_ext.data.argus_dataset import CUT_FIELD

from lab import argus_study, device_runs, runs
from lab.history_window import saved_best_checkpoint
from lab.target_gaps import ndcg_at_10
from lab.probes import register_probes

SHIFTS = (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3)
#: training events of an item: [low, high) buckets
BUCKETS = ((0, 10), (10, 30), (30, 100), (100, 300), (300, math.inf))


def training_counts(model, train_data):
    """``[n_items]`` training events of every item (each event once: the rows of one cutting)."""
    rows = train_data._dataset.inter_feat
    items = rows[model.ITEM_SEQ]
    if CUT_FIELD in rows:
        items = items[rows[CUT_FIELD] == 0]
    return torch.bincount(items[items > 0], minlength=model.n_items).float()


def scan(trainer, data, counts):
    """One pass over ``data`` under the history rule: per target, its NDCG@10 with ``a * log(1 + counts)`` added to
    the scores for every ``a`` of ``SHIFTS``, whether it is in the top 10, its training events and those of the
    top 10's items."""
    trainer.tot_item_num = data._dataset.item_num
    log_counts = torch.log1p(counts)
    found = {"gains": {shift: [] for shift in SHIFTS}, "hits": [], "target_counts": [], "top_counts": []}
    with torch.no_grad():
        for batch in data:
            _, scores, positive_u, targets = trainer._full_sort_batch_eval(batch)
            scores = scores[positive_u]
            for shift in SHIFTS:
                found["gains"][shift].append(ndcg_at_10(scores + shift * log_counts, targets))
            top = scores.topk(10, dim=1).indices
            found["hits"].append((top == targets.unsqueeze(1)).any(1))
            found["target_counts"].append(counts[targets])
            found["top_counts"].append(counts[top].flatten())
    return {"gains": {shift: torch.cat(values).mean().item() for shift, values in found["gains"].items()},
            **{key: torch.cat(found[key]) for key in ("hits", "target_counts", "top_counts")}}


def bucket_lines(model, counts, test):
    """Table lines by the item's training events: items, input-embedding norm, targets, their hit@10, top-10 share."""
    norms = model.item_tokens(torch.arange(model.n_items)).norm(dim=-1)
    hits, target_counts, top_counts = test["hits"], test["target_counts"], test["top_counts"]
    lines = ["| training events of the item | items | mean input-embedding norm | test targets | their hit@10 | share of the top 10 |",
             "|---|---|---|---|---|---|"]
    for low, high in BUCKETS:
        items = (counts >= low) & (counts < high)
        items[0] = False
        targets = (target_counts >= low) & (target_counts < high)
        lines.append(f"| [{low}, {high}) | {int(items.sum())} | {norms[items].mean():.2f} | {targets.float().mean():.3f} | "
                     f"{hits[targets].float().mean():.4f} | {((top_counts >= low) & (top_counts < high)).float().mean():.3f} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.item_popularity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=argus_study.DATASETS, default="amazon-games")
    parser.add_argument("--seed", type=int, default=runs.SEED_BASE)
    parser.add_argument("--step", type=int, default=0)
    parser.add_argument("--model", default="ARGUS")
    parser.add_argument("--set", nargs="*", default=[], dest="assignments")
    args = parser.parse_args(argv)
    sys.argv = sys.argv[:1]  # RecBole's Config reads --key=value options from sys.argv
    register_probes()
    files = argus_study.model_files("ARGUS", args.dataset)
    settings = argus_study.row_settings(args.dataset, args.step, device_runs.parse_settings(args.assignments))
    overrides = argus_study.as_overrides(args.dataset, settings)
    key = runs.run_key(args.model, args.dataset, files, overrides, args.seed)
    checkpoint = saved_best_checkpoint(key) if runs.find_record(key) else None
    if checkpoint is None:
        raise SystemExit(f"no record with a saved checkpoint for {key}: train it with python -m lab.argus_study row")
    config = runner.build_config(args.model, args.dataset, files, {**overrides, "seed": args.seed,
                                                                    "checkpoint_dir": f"saved/item_popularity_{args.seed}"})
    _, train_data, valid_data, test_data = runner.prepare(config)
    model, trainer = runner.build_model_and_trainer(config, train_data)
    model.load_state_dict(load_checkpoint(str(checkpoint))["state_dict"])
    model.eval()
    counts = training_counts(model, train_data)
    test = scan(trainer, test_data, counts)
    print(f"{key}, its own history rule\n")
    print("\n".join(bucket_lines(model, counts, test)) + "\n")
    for name, found in (("test", test), ("valid", scan(trainer, valid_data, counts))):
        print(f"{name} NDCG@10 with a * log(1 + training events) added: "
              + ", ".join(f"a={shift:+.1f}: {value:.4f}" for shift, value in found["gains"].items()))


if __name__ == "__main__":
    main()
