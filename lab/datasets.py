"""Where the lab's raw datasets live and how they become RecBole atomic files.

The library ships the converters (``recbole_ext.data``) and each converted
dataset's settings (``recbole_ext/properties/dataset/<name>.yaml``); only the
lab knows where the raw copies are: ``../shared/datasets`` beside the
repository, or ``RECBOLE_EXT_RAW_DATA``. A study converts a dataset the first
time it needs it.
"""

import importlib
import os
from pathlib import Path

#: dataset name -> (converter, raw folder name)
RAW_DATASETS = {
    "ml-latest-small": ("recbole_ext.data.movielens:convert_movielens", "ml-latest-small"),
    "amazon-games": ("recbole_ext.data.amazon_games:convert_amazon_games", "amazon-games"),
    "frappe": ("recbole_ext.data.frappe:convert_frappe", "frappe"),
}


def raw_data_root():
    return Path(os.environ.get("RECBOLE_EXT_RAW_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"))


def ensure_dataset(name, data_path="dataset"):
    """Convert the raw copy of ``name`` into ``data_path/name`` unless it is there (ml-100k is embedded)."""
    if name not in RAW_DATASETS or (Path(data_path) / name / f"{name}.inter").is_file():
        return
    target, folder = RAW_DATASETS[name]
    module, function = target.split(":")
    source = raw_data_root() / folder
    if not source.is_dir():
        raise ValueError(f"raw data for {name} not found at {source} (set RECBOLE_EXT_RAW_DATA)")
    getattr(importlib.import_module(module), function)(source, data_path)
