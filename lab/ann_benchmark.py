"""Recall@k and queries per second of HNSW against exact inner-product search (faiss).

    OMP_NUM_THREADS=1 python lab/ann_benchmark.py [--export=DIR ...] [--synthetic=1000000]
        [--synthetic_from=DIR ...] [--queries=1000] [--k=10] [--m=32] [--ef_construction=100] [--ef_search=16,32,64,128]
        [--kinds=hnsw,hnsw_l2] [--output=results/recommend/ann.md]

Catalogues: each ``--export`` folder written by ``run.py --export`` (its item
vectors; queries are its user vectors, drawn at random); for each
``--synthetic_from`` folder, ``--synthetic`` items drawn from a Gaussian with
the mean and covariance of its item vectors (queries: its user vectors); and
``--synthetic`` clustered items (around 1,000 random centres, norms
log-normal like popularity; queries are mixtures of three centres). Exact
search (``IndexFlatIP``) gives the true top-k; recall@k is the share of it
an HNSW search returns. Queries are searched in one batch of ``--queries``,
the same for both indexes, on the threads OMP_NUM_THREADS allows; exact
search is timed before and after the HNSW searches (the mean is reported).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recbole_ext.ann import ItemIndex  # noqa: E402
from lab.report import publish  # noqa: E402


def synthetic_catalogue(n_items, n_queries, dim=64, clusters=1000, seed=0):
    """Clustered item vectors with popularity-like norms, and queries mixing a few cluster centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    items = np.empty((n_items, dim), dtype=np.float32)
    for start in range(0, n_items, 100_000):
        stop = min(start + 100_000, n_items)
        block = centres[rng.integers(0, clusters, stop - start)] + 0.7 * rng.standard_normal((stop - start, dim))
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        items[start:stop] = block * rng.lognormal(0.0, 0.3, (stop - start, 1))
    picks = rng.integers(0, clusters, (n_queries, 3))
    queries = centres[picks].sum(1) + 0.5 * rng.standard_normal((n_queries, dim))
    return items, queries.astype(np.float32)


def fitted_catalogue(directory, n_items, n_queries, seed=0):
    """``n_items`` drawn from a Gaussian fitted to an export's item vectors (mean, covariance); its users as queries."""
    real, queries = exported_catalogue(directory, n_queries, seed)
    rng = np.random.default_rng(seed)
    mean, covariance = real.mean(0), np.cov(real, rowvar=False)
    items = np.empty((n_items, real.shape[1]), dtype=np.float32)
    for start in range(0, n_items, 100_000):
        stop = min(start + 100_000, n_items)
        items[start:stop] = rng.multivariate_normal(mean, covariance, size=stop - start, method="cholesky")
    return items, queries


def exported_catalogue(directory, n_queries, seed=0):
    items = np.load(Path(directory) / "item_vectors.npy")
    users = np.load(Path(directory) / "user_vectors.npy")
    rows = np.random.default_rng(seed).choice(len(users), size=min(n_queries, len(users)), replace=False)
    return items, users[rows]


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def recall(found, truth):
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def benchmark(name, items, queries, args):
    """Markdown rows for one catalogue: exact, then HNSW at each efSearch.

    Both indexes are built first; exact search is timed before and after the
    HNSW searches and its queries/s is the mean of the two, so that a change
    of load on the shared machine during the run does not tilt the ratio.
    """
    exact, exact_build = timed(lambda: ItemIndex(items, kind="exact"))
    graphs = {}
    for kind in args.kinds.split(","):
        graphs[kind] = timed(lambda: ItemIndex(items, kind=kind, m=args.m, ef_construction=args.ef_construction))
    (_, truth), exact_before = timed(lambda: exact.search(queries, args.k))
    measured = []
    for kind, (hnsw, hnsw_build) in graphs.items():
        for ef in [int(value) for value in args.ef_search.split(",")]:
            hnsw.ef_search = ef
            (scores, found), seconds = timed(lambda: hnsw.search(queries, args.k))
            measured.append((kind, hnsw_build, ef, recall(found, truth), len(queries) / seconds))
    _, exact_after = timed(lambda: exact.search(queries, args.k))
    exact_qps = len(queries) / ((exact_before + exact_after) / 2)
    size = f"{len(items):,} x {items.shape[1]}"
    rows = [f"| {name} | {size} | exact (IndexFlatIP) | {exact_build:.1f} | - | 1.000 | {exact_qps:,.0f} | 1.0 |"]
    for kind, hnsw_build, ef, found_recall, qps in measured:
        rows.append(f"| {name} | {size} | {kind} M={args.m}, efC={args.ef_construction}, efSearch={ef} | "
                    f"{hnsw_build:.1f} | {ef} | {found_recall:.3f} | {qps:,.0f} | {qps / exact_qps:.1f} |")
    print("\n".join(rows), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", action="append", default=[])
    parser.add_argument("--synthetic", type=int, default=1_000_000)
    parser.add_argument("--synthetic_from", action="append", default=[],
                        help="export folder whose item vectors' Gaussian fit draws another --synthetic items")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef_construction", type=int, default=100)
    parser.add_argument("--ef_search", default="16,32,64,128")
    parser.add_argument("--kinds", default="hnsw,hnsw_l2", help="HNSW kinds of recbole_ext.ann.ItemIndex to compare")
    parser.add_argument("--output")
    args = parser.parse_args()

    lines = [
        f"# ANN: HNSW against exact inner-product search (recall@{args.k}, queries/s)",
        "",
        f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} python {' '.join(sys.argv)}`",
        "",
        f"{args.queries} queries per catalogue, searched in one batch.",
        "",
        f"| catalogue | items x dim | index | build s | efSearch | recall@{args.k} | queries/s | x exact |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for directory in args.export:
        lines += benchmark(Path(directory).name, *exported_catalogue(directory, args.queries), args)
    for directory in args.synthetic_from:
        name = f"Gaussian fit of {Path(directory).name}"
        lines += benchmark(name, *fitted_catalogue(directory, args.synthetic, args.queries), args)
    if args.synthetic:
        lines += benchmark("synthetic clusters", *synthetic_catalogue(args.synthetic, args.queries), args)
    publish(lines, args.output)


if __name__ == "__main__":
    main()
