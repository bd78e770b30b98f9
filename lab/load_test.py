"""Bounded HTTP load test of ``run.py --serve``: p50/p99 latency and requests per second of /recommend.

    python lab/load_test.py --model_file=F [--data_path=DIR] [--requests=3000] [--concurrency=8] [--k=10]
        [--output=results/recommend/load_NAME.md]

Starts the server on a free port of 127.0.0.1 (a separate process), waits for
/health, sends ``--requests`` GET /recommend requests for users drawn at
random from the dataset (after 50 warm-up requests) from ``--concurrency``
concurrent clients, then stops the server. Client and server share this
machine's cores.
"""

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from lab.report import publish

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARM_UP = 50


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dataset_users(model_file, data_path):
    """External user ids of the checkpoint's dataset (its .inter file's first column)."""
    import pandas as pd

    import recbole_ext  # noqa: F401
    from recbole_ext.checkpoints import load_checkpoint

    config = load_checkpoint(model_file)["config"]
    folder = Path(data_path) / config["dataset"] if data_path else Path(config["data_path"])
    inter = pd.read_csv(folder / f"{config['dataset']}.inter", sep="\t", usecols=[0], dtype=str)
    return config["model"], config["dataset"], sorted(set(inter.iloc[:, 0]))


def start_server(args, port):
    command = [sys.executable, str(ROOT / "run.py"), "--serve", f"--model_file={args.model_file}",
               "--host=127.0.0.1", f"--port={port}"]
    if args.data_path:
        command.append(f"--data_path={args.data_path}")
    return subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)})


async def wait_healthy(client, server, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with status {server.returncode}")
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except Exception:  # noqa: BLE001  (not listening yet)
            pass
        await asyncio.sleep(0.5)
    raise SystemExit("server did not answer /health in time")


async def load(client, users, requests, concurrency, k):
    """Latencies (s) and status codes of ``requests`` GET /recommend from ``concurrency`` workers."""
    queue = iter(range(requests))
    latencies, statuses = [], []

    async def worker():
        for _ in queue:
            user = random.choice(users)
            start = time.perf_counter()
            answer = await client.get("/recommend", params={"user": user, "k": k})
            latencies.append(time.perf_counter() - start)
            statuses.append(answer.status_code)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return np.array(latencies), statuses, time.perf_counter() - start


async def run(args):
    import httpx

    model, dataset, users = dataset_users(args.model_file, args.data_path)
    random.seed(0)
    port = free_port()
    server = start_server(args, port)
    try:
        limits = httpx.Limits(max_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as client:
            await wait_healthy(client, server)
            await load(client, users, WARM_UP, args.concurrency, args.k)
            latencies, statuses, seconds = await load(client, users, args.requests, args.concurrency, args.k)
    finally:
        server.terminate()
        server.wait(timeout=30)
    ok = sum(status == 200 for status in statuses)
    return model, dataset, {
        "requests": len(statuses), "ok": ok, "seconds": seconds, "rps": len(statuses) / seconds,
        "p50_ms": 1000 * np.percentile(latencies, 50), "p99_ms": 1000 * np.percentile(latencies, 99),
        "mean_ms": 1000 * latencies.mean(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_file", required=True)
    parser.add_argument("--data_path")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--output")
    args = parser.parse_args()
    model, dataset, result = asyncio.run(run(args))
    lines = [
        f"# HTTP load test: GET /recommend, {model} on {dataset}",
        "",
        f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} python {' '.join(sys.argv)}`",
        "",
        "| requests | answered 200 | concurrency | seconds | requests/s | p50 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|---|---|---|",
        f"| {result['requests']:,} | {result['ok']:,} | {args.concurrency} | {result['seconds']:.1f} | "
        f"{result['rps']:,.0f} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | {result['mean_ms']:.1f} |",
    ]
    publish(lines, args.output)


if __name__ == "__main__":
    main()
