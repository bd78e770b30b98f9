"""Where an ARGUS training step's CPU time goes: ``torch.profiler`` over a few steps of an ablation row.

    python -m lab.profile_step --dataset=ml-latest-small --step=4 --steps=10

Builds the row as :mod:`lab.epoch_time` does (one torch thread), trains two warm-up steps, then profiles
``--steps`` more and writes the operators with the most self CPU time, grouped by input shape, to
``results/argus/profile_step_<dataset>_step<k>.txt`` (printed too).
"""

import argparse
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from lab import argus_study, device_runs
from lab.epoch_time import build_argus
from lab.probes import register_probes

WARM_UP_STEPS = 2


def train_step(trainer, batch):
    """One optimizer step on ``batch`` (every loss the model returns, summed, as RecBole's trainer does)."""
    trainer.optimizer.zero_grad()
    losses = trainer.model.calculate_loss(batch.to(trainer.model.device))
    loss = sum(losses) if isinstance(losses, tuple) else losses
    loss.backward()
    trainer.optimizer.step()


def profile_steps(trainer, train_data, steps):
    """The profiler's table of ``steps`` training steps after the warm-up."""
    trainer.model.train()
    batches = iter(train_data)
    for _ in range(WARM_UP_STEPS):
        train_step(trainer, next(batches))
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as profiler:
        for _ in range(steps):
            train_step(trainer, next(batches))
    return profiler.key_averages(group_by_input_shape=True).table(
        sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=40, max_shapes_column_width=60)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.profile_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=argus_study.DATASETS, default="ml-100k")
    parser.add_argument("--step", type=int, default=0, help="the ablation row (0: id-only)")
    parser.add_argument("--steps", type=int, default=10, help="training steps profiled")
    parser.add_argument("--model", default="ARGUS", help="ARGUS or a probe of lab.probes")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=YAML", help="settings changed on top of the row's")
    args = parser.parse_args(argv)
    sys.argv = sys.argv[:1]  # RecBole's Config reads --key=value options from sys.argv: it gets none of these
    changed = device_runs.parse_settings(args.set)
    if changed is None:
        raise SystemExit(f"--set: every entry is KEY=YAML, got {' '.join(args.set)}")
    if args.steps < 1:
        raise SystemExit(f"--steps must be >= 1, got {args.steps}")
    torch.set_num_threads(1)
    register_probes()
    trainer, train_data = build_argus(args.dataset, argus_study.row_settings(args.dataset, args.step, changed), args.model)
    table = profile_steps(trainer, train_data, args.steps)
    model = "" if args.model == "ARGUS" else f"_{args.model}"
    path = argus_study.RESULTS / f"profile_step_{args.dataset}_step{args.step}{model}.txt"
    path.write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
