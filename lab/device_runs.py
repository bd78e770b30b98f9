"""Built-in runs trained on the GPU machine that some sessions are lent, and how the lab finds their records.

A RecBole SASRec or LightSANs run costs 1-4 CPU-hours here on MovieLens and about 11 a seed on amazon-games
(prefix augmentation); on a GPU it takes minutes. This module trains head-to-head runs of the built-ins
(:mod:`lab.argus_study`'s ``Runner.builtin``: the same protocol, files and overrides), or of ARGUS's id-only
row (ARGUS or a probe of :mod:`lab.probes`) with some settings changed (diagnostics: the head-to-head uses
ARGUS records trained here only), side by side on such a machine, and writes the same records as on the CPU
plus an ``environment`` entry (the versions of the packages in the key, the device, Python):

    python -m lab.device_runs --runs=SASRec:amazon-games:2020,ARGUS:amazon-games:2020:softmax=full --deadline=480 --out=$OUT

(the whole device command, with the wheels it installs first, is in ``docs/scaling.md``). A record's key
hashes the code's digest, and that digest includes the versions of RecBole, torch, numpy and scipy
(:mod:`lab.runs`), so a record trained under the GPU machine's packages has another key than the same run
here. :func:`find_record` finds it anyway, and only while it is current: it recomputes the key of the run
as this checkout would run it, with the record's package versions in place of this machine's, so the
settings, the data and every line of code in the key must be exactly those the record was trained with.

Times are not comparable across machines: tables show a GPU record's seconds per epoch apart and leave it out
of every time ratio (:func:`trained_here`).

Two differences of the GPU machine's packages from ``constraints.txt`` are bridged before RecBole is imported
(:func:`bridge_packages`, a no-op under the pins): numpy 2 dropped the ``float_``/``complex_``/``unicode_``
aliases that RecBole 1.2.1's ``Config`` re-exports, and Ray (whose ``tune`` RecBole's ``quick_start`` imports
and a head-to-head run never calls) has no wheel for that machine's Python.
"""

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tarfile
import time
import types
from pathlib import Path

KEY_PACKAGES = ("recbole", "torch", "numpy", "scipy")


def bridge_packages():
    """Let stock RecBole 1.2.1 import under numpy 2 and without Ray (see the module docstring)."""
    import numpy as np

    for alias, kind in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
        if not hasattr(np, alias):
            setattr(np, alias, kind)
    try:
        import ray  # noqa: F401
    except ImportError:
        ray = types.ModuleType("ray")
        ray.tune = types.ModuleType("ray.tune")
        sys.modules.update({"ray": ray, "ray.tune": ray.tune})


def environment():
    """What a record trained in this process ran on: the key's package versions, the device, Python."""
    import importlib

    import torch

    versions = {name: str(importlib.import_module(name).__version__) for name in KEY_PACKAGES}
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {"packages": versions, "device": device, "python": platform.python_version()}


def trained_here(record):
    """Whether a record's times were measured on this kind of machine (records without ``environment`` were)."""
    return record is not None and record.get("environment", {}).get("device", "cpu") == "cpu"


@contextlib.contextmanager
def package_versions(versions):
    """The key's packages report ``versions`` while inside (only :func:`lab.runs.source_digest` reads them)."""
    import importlib

    modules = {name: importlib.import_module(name) for name in versions}
    saved = {name: module.__version__ for name, module in modules.items()}
    try:
        for name, module in modules.items():
            module.__version__ = versions[name]
        yield
    finally:
        for name, module in modules.items():
            module.__version__ = saved[name]


def find_record(model, dataset, config_files, overrides, seed, results_dir=None):
    """The current record of this run trained under other package versions (on the GPU machine), or None."""
    from lab import runs

    folder = Path(results_dir or runs.RESULTS_DIR)
    for path in sorted(folder.glob(f"*/runs/{model}-{dataset}-s{seed}-*.json")):
        record = json.loads(path.read_text())
        if "environment" not in record:
            continue
        with package_versions(record["environment"]["packages"]):
            key = runs.run_key(model, dataset, config_files, overrides, seed)
        if key == record["key"]:
            return record
    return None


# ----------------------------------------------------------------------------- training on the device
def parse_settings(assignments):
    """``["key=yaml", ...]`` -> {key: value}; ``None`` when an entry has no ``=``."""
    import yaml

    pairs = [item.split("=", 1) for item in assignments]
    if any(len(pair) != 2 for pair in pairs):
        return None
    return {key: yaml.safe_load(value) for key, value in pairs}


def parse_runs(text):
    """``Model:dataset:seed[:key=value+key=value],...`` -> [(model, dataset, seed, settings)], or one line
    naming the bad entry. Settings apply to ARGUS's id-only row (:func:`lab.argus_study.row_settings`)."""
    found = []
    for entry in filter(None, text.split(",")):
        parts = entry.split(":", 3)
        settings = parse_settings(parts[3].split("+") if len(parts) == 4 else [])
        if len(parts) < 3 or not parts[2].isdigit() or settings is None:
            raise SystemExit(f"--runs: '{entry}' is not Model:dataset:seed[:key=value+key=value]")
        found.append((parts[0], parts[1], int(parts[2]), settings))
    return found


def train_one(model, dataset, seed, settings):
    """Train (or find) one head-to-head run (a built-in, or ARGUS's id-only row with ``settings`` changed)
    and add this process's environment to its record."""
    from lab import argus_study, runs
    from lab.baselines import register_baselines
    from lab.probes import register_probes
    from recbole_ext.files import write_text_atomically

    runner = argus_study.Runner(train_builtins=True)
    if model.startswith("ARGUS"):  # ARGUS, or one of its probes (lab.probes)
        register_probes()
        record = runner.argus(dataset, argus_study.row_settings(dataset, 0, settings), seed, model=model)
    else:
        register_baselines()  # SASRecF runs as lab.baselines.SASRecFLoadable
        record = runner.builtin(model, dataset, seed)
    record["environment"] = environment()
    (path,) = Path(runs.RESULTS_DIR).glob(f"*/runs/{record['key']}.json")
    write_text_atomically(path, json.dumps(record, indent=1))
    print(f"RECORD {path} test ndcg@10 {record['test_result']['ndcg@10']:.4f} epochs {record['epochs']} "
          f"s/epoch {record['seconds_per_epoch']:.1f}", flush=True)


def train_side_by_side(jobs, deadline, out):
    """Each job in its own one-thread process; those still running at ``deadline`` seconds are stopped."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    processes = {}
    for index, (entry, (model, dataset, seed, _)) in enumerate(jobs):
        log = open(out / f"{index:02d}-{model}-{dataset}-{seed}.log", "w")
        command = [sys.executable, "-m", "lab.device_runs", f"--one={entry}"]
        processes[entry] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    for entry, process in processes.items():
        try:
            process.wait(timeout=max(1.0, deadline - (time.time() - started)))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(f"{entry}: exit {process.returncode} after {time.time() - started:.0f} s", flush=True)


def pack_outputs(out, since):
    """The records written since ``since`` into ``out/records.tgz`` and the logs into ``out/logs.tgz``."""
    from lab import runs

    records = [p for p in Path(runs.RESULTS_DIR).glob("*/runs/*.json") if p.stat().st_mtime >= since]
    with tarfile.open(out / "records.tgz", "w:gz") as tar:
        for path in records:
            tar.add(path)
    logs = sorted(out.glob("*.log"))
    with tarfile.open(out / "logs.tgz", "w:gz") as tar:
        for path in logs:
            tar.add(path, arcname=path.name)
    for path in logs:
        path.unlink()
    print(f"{len(records)} records in {out / 'records.tgz'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="", help="Model:dataset:seed[:key=value+...],... trained side by side")
    parser.add_argument("--one", default="", help="one such entry, trained in this process")
    parser.add_argument("--deadline", type=float, default=480, help="seconds after which runs still going are stopped")
    parser.add_argument("--out", default="device_out", help="folder for records.tgz and logs.tgz")
    args = parser.parse_args(argv)
    bridge_packages()
    if args.one:
        (job,) = parse_runs(args.one)
        train_one(*job)
        return
    print(json.dumps(environment()), flush=True)
    since = time.time()
    entries = list(filter(None, args.runs.split(",")))
    train_side_by_side(list(zip(entries, parse_runs(args.runs))), args.deadline, Path(args.out))
    pack_outputs(Path(args.out), since)


if __name__ == "__main__":
    main()
