"""Seconds and peak memory of every user's top-k in one call, at several chunk sizes.

    OMP_NUM_THREADS=1 python lab/recommend_all.py --model_file=F [--data_path=DIR] [--k=10]
        [--batch_sizes=0,64,4096] [--output=results/recommend/NAME.md]

A batch size of 0 is the default chunk (about 4M scores). Each batch size
is measured in a fresh process (memory freed by an earlier run would hide
what the next one needs): it loads the checkpoint, then resets the
resident high-water mark (VmHWM) and scores every user, so "added by
scoring" is the peak on top of the loaded model and dataset.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import recbole_ext  # noqa: E402,F401
from recbole_ext.recommend import Recommender  # noqa: E402
from lab.report import publish  # noqa: E402


def memory_kib(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def reset_peak():
    """Start a new resident high-water mark (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    Path("/proc/self/clear_refs").write_text("5")


def measure(rec, k, batch_size):
    reset_peak()
    before = memory_kib("VmRSS")
    start = time.perf_counter()
    frame = rec.recommend(k=k, batch_size=batch_size or None)
    seconds = time.perf_counter() - start
    return {"rows": len(frame), "users": frame.user.nunique(), "seconds": seconds,
            "rss_before_mib": before / 1024, "peak_mib": memory_kib("VmHWM") / 1024,
            "added_mib": (memory_kib("VmHWM") - before) / 1024}


def measure_one(args):
    """Load, score every user once with ``--one`` users per chunk; print the figures as JSON."""
    reset_peak()
    start = time.perf_counter()
    rec = Recommender.from_checkpoint(args.model_file, data_path=args.data_path)
    result = {"load_seconds": time.perf_counter() - start, "load_peak_mib": memory_kib("VmHWM") / 1024,
              "model": rec.model_name, "dataset": rec.dataset_name, "n_users": len(rec.known_users()),
              "n_items": len(rec.items) - 1, "chunk": args.one or rec.family.rows_per_chunk()}
    result.update(measure(rec, args.k, args.one))
    print("RESULT " + json.dumps(result), flush=True)


def measure_in_fresh_process(args, batch_size):
    command = [sys.executable, __file__, f"--model_file={args.model_file}", f"--k={args.k}", f"--one={batch_size}"]
    if args.data_path:
        command.append(f"--data_path={args.data_path}")
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_file", required=True)
    parser.add_argument("--data_path")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch_sizes", default="0")
    parser.add_argument("--output")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        return measure_one(args)

    results = [measure_in_fresh_process(args, int(size)) for size in args.batch_sizes.split(",")]
    first = results[0]
    n_users, n_items = first["n_users"], first["n_items"]
    lines = [
        f"# All users' top-{args.k}: {first['model']} on {first['dataset']}",
        "",
        f"`{' '.join(['OMP_NUM_THREADS=' + os.environ.get('OMP_NUM_THREADS', '?'), 'python'] + sys.argv)}`",
        "",
        f"{n_users:,} users x {n_items:,} items; loading the checkpoint (dataset, split, model) took "
        f"{first['load_seconds']:.1f} s with a peak RSS of {first['load_peak_mib']:.0f} MiB. A dense users x items "
        f"float32 score matrix would be {n_users * n_items * 4 / 2**20:,.0f} MiB.",
        "",
        "| users per chunk | users | rows | seconds | users/s | RSS after loading (MiB) | peak RSS while scoring (MiB) | added by scoring (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result, size in zip(results, args.batch_sizes.split(",")):
        chunk = f"{result['chunk']} (default)" if size == "0" else result["chunk"]
        lines.append(
            f"| {chunk} | {result['users']:,} | {result['rows']:,} | {result['seconds']:.2f} | "
            f"{result['users'] / result['seconds']:,.0f} | {result['rss_before_mib']:.0f} | "
            f"{result['peak_mib']:.0f} | {result['added_mib']:.0f} |"
        )
    publish(lines, args.output)


if __name__ == "__main__":
    main()
