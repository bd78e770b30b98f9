"""Seconds and peak memory of every user's top-k in one call, at several chunk sizes.

    OMP_NUM_THREADS=1 python lab/recommend_all.py --model_file=F [--data_path=DIR] [--k=10]
        [--batch_sizes=0,64,4096] [--output=results/recommend/NAME.md]

A batch size of 0 is the default chunk (about 4M scores). Peak memory is the
process's resident high-water mark (VmHWM), reset after loading, so it
counts what scoring adds on top of the loaded model and dataset.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import recbole_ext  # noqa: E402,F401
from recbole_ext.recommend import Recommender  # noqa: E402


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_file", required=True)
    parser.add_argument("--data_path")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch_sizes", default="0")
    parser.add_argument("--output")
    args = parser.parse_args()

    reset_peak()
    start = time.perf_counter()
    rec = Recommender.from_checkpoint(args.model_file, data_path=args.data_path)
    load_seconds, load_peak = time.perf_counter() - start, memory_kib("VmHWM") / 1024
    n_users, n_items = len(rec.known_users()), len(rec.items) - 1
    lines = [
        f"# All users' top-{args.k}: {rec.model_name} on {rec.dataset_name}",
        "",
        f"`{' '.join(['OMP_NUM_THREADS=' + os.environ.get('OMP_NUM_THREADS', '?'), 'python'] + sys.argv)}`",
        "",
        f"{n_users:,} users x {n_items:,} items; loading the checkpoint (dataset, split, model): "
        f"{load_seconds:.1f} s, peak RSS {load_peak:.0f} MiB. A dense users x items float32 block would be "
        f"{n_users * n_items * 4 / 2**20:,.0f} MiB.",
        "",
        "| users per chunk | users | rows | seconds | users/s | RSS before (MiB) | peak RSS (MiB) | added by scoring (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for batch_size in [int(size) for size in args.batch_sizes.split(",")]:
        result = measure(rec, args.k, batch_size)
        chunk = batch_size or f"{rec.family.rows_per_chunk()} (default)"
        lines.append(
            f"| {chunk} | {result['users']:,} | {result['rows']:,} | {result['seconds']:.1f} | "
            f"{result['users'] / result['seconds']:,.0f} | {result['rss_before_mib']:.0f} | {result['peak_mib']:.0f} | "
            f"{result['added_mib']:.0f} |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
