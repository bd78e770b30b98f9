"""Run records: one finished (model, dataset, settings, seed) training run, keyed so a stale one is never reused.

A record is a small json file under ``results/<study>/runs/<key>.json``,
committed with the study's tables, so a fresh clone reuses every run it
holds instead of retraining (a SASRec run costs hours on a CPU). Any
study's record of the same key is reused: the key says everything the
run's outcome depends on,

* the settings: model, dataset, seed, the command's overrides and the
  content of every config file (not their paths);
* the data: the digest of the dataset's atomic files;
* the code: the digest of every module of ``recbole_ext`` and ``lab``
  that the run's code imports (found by reading their import statements:
  the training path ``recbole_ext.runner``, this module, and for a plugin
  model its own module), the yaml defaults it reads (RecBole's are pinned
  by its version), and the versions of RecBole, torch, numpy and scipy.

So editing ARGUS re-keys ARGUS's runs only, editing the runner or a
trainer mixin re-keys every run, and re-converting a dataset re-keys the
runs on it.
"""

import ast
import functools
import hashlib
import importlib.util
import json
import statistics
from pathlib import Path

from recbole_ext import registry
from recbole_ext.files import write_text_atomically

RESULTS_DIR = Path("results")
SEED_BASE = 2020  # RecBole's default seed; seed i of a benchmark is SEED_BASE + i
#: code every run executes, besides a plugin model's own module
TRAINING_PATH = ("recbole_ext", "recbole_ext.runner", "lab.runs")
_OWN_PACKAGES = ("recbole_ext", "lab")


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_digest(path):
    path = Path(path)
    return _sha256(path.read_bytes()) if path.is_file() else None


def _module_file(name):
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _imported_names(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _with_parents(name):
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def import_closure(roots):
    """``{module name: file}`` of the project modules ``roots`` import, directly or not.

    Import statements anywhere in a module count (also those inside
    functions); a package's ``__init__`` counts whenever one of its modules does.
    """
    found, pending = {}, [parent for root in roots for parent in _with_parents(root)]
    while pending:
        name = pending.pop()
        if name in found or not name.startswith(_OWN_PACKAGES):
            continue
        path = _module_file(name)
        if path is None:
            continue
        found[name] = path
        for imported in _imported_names(ast.parse(path.read_text())):
            if imported.startswith(_OWN_PACKAGES):
                pending += _with_parents(imported)
    return found


@functools.lru_cache(maxsize=None)
def _source_bytes(path):
    """A module file's bytes, read once per process: a file edited while a benchmark runs must not
    re-key runs that still execute the code loaded at its start."""
    return Path(path).read_bytes()


def source_digest(model):
    """Digest of the code and yaml defaults a run of ``model`` depends on (module docstring)."""
    import numpy
    import recbole
    import scipy
    import torch

    roots = list(TRAINING_PATH)
    if registry.is_plugin_model(model):
        from recbole.utils import get_model

        roots.append(get_model(model).__module__)
    digest = hashlib.sha256()
    for name, path in sorted(import_closure(roots).items()):
        digest.update(name.encode() + b"\0" + _source_bytes(path))
    yamls = [registry.overall_yaml()] + (registry.model_yamls(model) if registry.is_plugin_model(model) else [])
    for path in yamls:
        digest.update(str(file_digest(path)).encode())
    for package in (recbole, torch, numpy, scipy):
        digest.update(package.__version__.encode())
    return digest.hexdigest()


def dataset_digest(config):
    """Digest of the atomic files (``<dataset>.*``) a config's dataset is read from."""
    folder = Path(config["data_path"])
    digest = hashlib.sha256()
    for path in sorted(folder.glob(f"{config['dataset']}.*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run_settings(model, dataset, config_files, overrides, seed):
    """What the key says about the run's settings (and the record shows)."""
    return {
        "model": model,
        "dataset": dataset,
        "seed": seed,
        "config_files": [file_digest(f) for f in config_files],
        "overrides": {k: str(v) for k, v in sorted(overrides.items())},
        "dataset_yaml": file_digest(registry.dataset_yaml(dataset)),
    }


def key_inputs(model, dataset, config_files, overrides, seed):
    """Everything a run's key hashes: its settings, the data's digest and the code's digest."""
    from recbole_ext.runner import build_config

    config = build_config(model, dataset, config_files, overrides)
    return {
        "settings": run_settings(model, dataset, config_files, overrides, seed),
        "data": dataset_digest(config),
        "code": source_digest(model),
    }


def key_of(model, dataset, seed, inputs):
    blob = json.dumps(inputs, sort_keys=True)
    return f"{model}-{dataset}-s{seed}-{_sha256(blob.encode())[:16]}"


def run_key(model, dataset, config_files, overrides, seed):
    """``<model>-<dataset>-s<seed>-<hash>``: the hash of the settings, the data and the code."""
    return key_of(model, dataset, seed, key_inputs(model, dataset, config_files, overrides, seed))


def _count_parameters(model_object):
    """Torch parameters, or for memory-based models (EASE, ItemKNN, Pop) the
    entries of the arrays they store instead (``other_parameter``)."""
    learned = sum(p.numel() for p in model_object.parameters())
    if learned > 1:
        return f"{learned:,}"
    stored = sum(_entries(value) for value in model_object.other_parameter().values())
    return f"{stored:,} stored"


def _entries(value):
    if hasattr(value, "nnz"):  # scipy sparse
        return int(value.nnz)
    if hasattr(value, "numel"):  # torch tensor
        return int(value.numel())
    return int(getattr(value, "size", 1))


def _floats(result):
    return {k: float(v) for k, v in (result or {}).items()}


def train_once(model, dataset, config_files, overrides, seed):
    """One training run with early stopping, through the library's training path; a json-able summary."""
    from recbole_ext.runner import run

    result = run(model, dataset, config_files, {**overrides, "seed": seed}, show_progress=False, record=True)
    config = result["config"]
    return {
        "model": model,
        "dataset": dataset,
        "seed": seed,
        "valid_metric": config["valid_metric"].lower(),
        "best_valid_score": float(result["best_valid_score"]),
        "best_valid_result": _floats(result["best_valid_result"]),
        "test_result": _floats(result["test_result"]),
        "unfiltered_test_result": _floats(result["unfiltered_test_result"]),
        "epochs": len(result["epoch_seconds"]),
        "max_epochs": int(config["epochs"]),
        "train_seconds": sum(result["epoch_seconds"]),
        "seconds_per_epoch": statistics.mean(result["epoch_seconds"]),
        "parameters": _count_parameters(result["model_object"]),
        "curve": [
            {"seconds": seconds, "epoch": epoch, "valid": _floats(valid)} for seconds, epoch, valid in result["curve"]
        ],
    }


def find_record(key, results_dir=None):
    """The record of ``key`` in any study's ``runs/`` folder, or None."""
    for path in sorted(Path(results_dir or RESULTS_DIR).glob(f"*/runs/{key}.json")):
        return json.loads(path.read_text())
    return None


def cached_run(model, dataset, config_files, overrides, seed, study="misc", results_dir=None):
    """The record of this run, trained (and written to ``results/<study>/runs/``) when no study has it."""
    inputs = key_inputs(model, dataset, config_files, overrides, seed)
    key = key_of(model, dataset, seed, inputs)
    record = find_record(key, results_dir)
    if record is not None:
        return record
    # each run's checkpoint lies in a folder named like its key (compat also makes the
    # file name unique per process, so concurrent benchmarks never share a checkpoint)
    run_overrides = {"checkpoint_dir": str(Path("saved") / key), **overrides}
    summary = {"key": key, "key_inputs": inputs, **train_once(model, dataset, config_files, run_overrides, seed)}
    write_text_atomically(Path(results_dir or RESULTS_DIR) / study / "runs" / f"{key}.json", json.dumps(summary, indent=1))
    return summary
