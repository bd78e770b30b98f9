"""Where the sequential head-to-head's test score comes from: targets by the time since the event before them.

On MovieLens a user often rates many films in a row, one every few seconds, going down a list the site
shows; a target rated seconds after the previous event follows from it much more than one rated a day
later. This splits the test users of ``lab.argus_study``'s head-to-head by the gap between their test
target and the event before it (the validation target) and gives each row's test NDCG@10 per group, under
the built-ins' 50-event history rule, from the best checkpoint that each row's recorded run left in
``saved/<run key>/`` (a row whose checkpoint is gone is listed as such; ``head2head`` retrains nothing
that has a record):

    python -m lab.argus_study head2head --dataset=ml-latest-small     # the rows and their records
    python -m lab.target_gaps --dataset=ml-latest-small --seed=2020

RecBole sorts every model's events by its float32 time field, stably: events within one float32 step (128 s
at ml-latest-small's raw Unix times; about 1 s for ml-100k's min-max scaled ones) keep the order of the
dataset's file, which for ml-latest-small is by user and then film id. So a "test target" can have been
rated up to a couple of minutes before the event ranked before it: the first group below. Writes
``results/argus/target_gaps_<dataset>.md``.
"""

import argparse
import math
import sys

import torch

import recbole_ext  # noqa: F401  (registers ARGUS)
from recbole_ext import runner
from recbole_ext.checkpoints import load_checkpoint
from recbole_ext.files import write_text_atomically

from lab import argus_study, runs
from lab.history_window import BUILTIN_WINDOW, last_events_mask, saved_best_checkpoint

#: (label, smallest gap, largest gap) in seconds
GAP_GROUPS = (("rated before the event before it", -math.inf, -1), ("same second", 0, 0),
              ("1 s to 1 min", 1, 60), ("1 min to 1 h", 61, 3600), ("over 1 h", 3601, math.inf))
DATASETS = ("ml-100k", "ml-latest-small")  # real timestamps (amazon-games' are positions)


def head_to_head_runs(dataset):
    """``(label, model, config files, overrides)`` of every head-to-head row: the built-ins, then ARGUS's."""
    for model in ("SASRec", "LightSANs"):
        yield model, model, argus_study.model_files(model, dataset), dict(argus_study.OVERRIDES)
    for label, step, extra in argus_study.HEAD_TO_HEAD:
        settings = argus_study.row_settings(dataset, step, extra)
        yield label, "ARGUS", argus_study.model_files("ARGUS", dataset), argus_study.as_overrides(dataset, settings)


def _built(model, dataset, files, overrides, seed):
    config = runner.build_config(model, dataset, files, {**overrides, "seed": seed,
                                                         "checkpoint_dir": f"saved/target_gaps_{seed}"})
    data, train_data, _, test_data = runner.prepare(config)
    model_object, trainer = runner.build_model_and_trainer(config, train_data)
    return config, data, model_object, trainer, test_data


def _test_batches(trainer, test_data, config):
    """``(interaction, scores, positive_u, positive_i)`` of every test batch under the 50-event rule."""
    trainer.exclude_history_items = False
    trainer.tot_item_num = test_data._dataset.item_num  # what trainer.evaluate sets before its batches
    evaluate = last_events_mask(BUILTIN_WINDOW, config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"],
                                config["ITEM_LIST_LENGTH_FIELD"], trainer._full_sort_batch_eval)
    with torch.no_grad():
        for batch in test_data:
            yield evaluate(batch)


def ndcg_by_user(model, dataset, files, overrides, seed, checkpoint):
    """``{raw user id: test NDCG@10}`` of the weights in ``checkpoint`` under the 50-event rule."""
    config, data, model_object, trainer, test_data = _built(model, dataset, files, overrides, seed)
    state = load_checkpoint(str(checkpoint))
    model_object.load_state_dict(state["state_dict"])
    model_object.load_other_parameter(state.get("other_parameter"))
    model_object.eval()
    users = data.field2id_token[config["USER_ID_FIELD"]]
    found = {}
    for interaction, scores, positive_u, positive_i in _test_batches(trainer, test_data, config):
        gains = ndcg_at_10(scores[positive_u], positive_i)
        for user, gain in zip(interaction[config["USER_ID_FIELD"]][positive_u].tolist(), gains.tolist()):
            found[users[user]] = gain
    return found


def ndcg_at_10(scores, targets):
    """``[B]`` NDCG@10 of one target a row (``scores``: ``[B, n_items]``; ties rank the target first)."""
    rank = (scores > scores.gather(1, targets.unsqueeze(1))).sum(1).float()
    return torch.where(rank < 10, 1 / torch.log2(rank + 2), torch.zeros_like(rank))


def target_gaps(dataset, seed):
    """``{raw user id: seconds between the test target and the event before it}``, from ARGUS's exact copy of
    the time (RecBole's float32 time field is 64-128 s coarse)."""
    _, model, files, overrides = next(row for row in head_to_head_runs(dataset) if row[1] == "ARGUS")
    config, data, _, _, test_data = _built(model, dataset, files, overrides, seed)
    users = data.field2id_token[config["USER_ID_FIELD"]]
    time = data.seconds_field
    gaps = {}
    for interaction, _, _, _ in test_data:
        last = interaction[config["ITEM_LIST_LENGTH_FIELD"]].long() - 1
        previous = interaction[time + config["LIST_SUFFIX"]][torch.arange(len(last)), last]
        for user, gap in zip(interaction[config["USER_ID_FIELD"]].tolist(), (interaction[time] - previous).tolist()):
            gaps[users[user]] = gap
    return gaps


def group_of(gap):
    return next(label for label, low, high in GAP_GROUPS if low <= round(gap) <= high)


def mean_of(scores, users):
    return sum(scores[user] for user in users) / max(len(users), 1)


def table(scores_by_row, gaps, seed):
    groups = {label: [user for user, gap in gaps.items() if group_of(gap) == label] for label, _, _ in GAP_GROUPS}
    header = ["row", "all users"] + [f"{label} ({len(users)} users)" for label, users in groups.items()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, scores in scores_by_row.items():
        if scores is None:
            lines.append(f"| {row} | no saved checkpoint of seed {seed} |" + " |" * (len(header) - 2))
            continue
        cells = [f"{mean_of(scores, users):.4f}" for users in [list(gaps), *groups.values()]]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.target_gaps", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, default="ml-latest-small")
    parser.add_argument("--seed", type=int, default=runs.SEED_BASE)
    args = parser.parse_args(argv)
    sys.argv = sys.argv[:1]  # RecBole's Config reads --key=value options from sys.argv
    scores_by_row = {}
    for label, model, files, overrides in head_to_head_runs(args.dataset):
        key = runs.run_key(model, args.dataset, files, overrides, args.seed)
        checkpoint = saved_best_checkpoint(key) if runs.find_record(key) else None
        scores_by_row[label] = checkpoint and ndcg_by_user(model, args.dataset, files, overrides, args.seed, checkpoint)
    text = (f"Command: `python -m lab.target_gaps --dataset={args.dataset} --seed={args.seed}`\n\n"
            f"Test NDCG@10 under the built-ins' {BUILTIN_WINDOW}-event rule, seed {args.seed}, by the time between "
            "each user's test target and the event before it:\n\n"
            + table(scores_by_row, target_gaps(args.dataset, args.seed), args.seed) + "\n")
    path = argus_study.RESULTS / f"target_gaps_{args.dataset}.md"
    write_text_atomically(path, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
