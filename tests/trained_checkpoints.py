"""Tiny trained checkpoints shared by the recommendation tests (module-scoped fixtures).

A synthetic dataset (conftest's clustered users and items, plus an item file
with titles and genres and a user file with ages) is written to a temporary
folder; ``checkpoint(model)`` trains ``model`` on it once per test module.
"""

import contextlib

import pandas as pd
import pytest

from recbole_ext.recommend import Recommender
from recbole_ext.runner import run

from conftest import save_tiny_roberta, write_tiny_dataset

DATASET = "tiny"
SEQUENCE = {"MAX_ITEM_LIST_LENGTH": 8}  # shorter than the 20-event histories: the window is the last 8
SMALL = {
    "WALS": {"embedding_size": 8, "epochs": 3},
    "BPR": {"embedding_size": 8},
    "DGCF": {"embedding_size": 8, "n_factors": 2, "n_iterations": 1, "n_layers": 1, "train_batch_size": 256},
    "Pop": {},
    "HybridRoBERTa": {"embedding_size": 8, "wals_sweeps": 3, "text_fields": ["title"], "top_layers": 2,
                      "max_text_length": 16},
    "SASRec": {"hidden_size": 16, "inner_size": 32, "n_layers": 1, "n_heads": 1, **SEQUENCE},
    "ARGUS": {"hidden_size": 16, "head_size": 16, "inner_size": 32, "n_layers": 1, "n_heads": 1,
              "uniform_negatives": 16, "ema_decay": 0.0, **SEQUENCE},
    "Wukong": {
        "embedding_size": 8, "fmb_mlp_sizes": [16], "head_mlp_sizes": [16], "threshold": {"rating": 4},
        "load_col": {"inter": ["user_id", "item_id", "rating"], "user": ["user_id", "age"], "item": ["item_id", "genre"]},
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": None, "mode": "labeled"},
        "train_neg_sample_args": None, "metrics": ["AUC"], "valid_metric": "AUC",
    },
}


def write_dataset_with_features(root):
    """conftest's tiny dataset plus an item file (title, genre) and a user file (age)."""
    write_tiny_dataset(root, DATASET)
    folder = root / DATASET
    items = ["item_id:token\ttitle:token_seq\tgenre:token"] + [f"i{i}\tFilm number {i}\tg{i % 4}" for i in range(40)]
    users = ["user_id:token\tage:token"] + [f"u{u}\ta{u % 3}" for u in range(60)]
    (folder / f"{DATASET}.item").write_text("\n".join(items) + "\n")
    (folder / f"{DATASET}.user").write_text("\n".join(users) + "\n")
    return root


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    return write_dataset_with_features(tmp_path_factory.mktemp("recommend_data"))


@pytest.fixture(scope="module")
def raw_events(data_path):
    return pd.read_csv(data_path / DATASET / f"{DATASET}.inter", sep="\t", dtype={0: str, 1: str}).rename(
        columns=lambda column: column.split(":")[0]
    )


@pytest.fixture(scope="module")
def checkpoint(data_path, tmp_path_factory):
    """``checkpoint(model)``: path of a tiny trained model (trained on first use)."""
    paths = {}

    def trained(model):
        if model not in paths:
            folder = tmp_path_factory.mktemp(f"run_{model}")
            settings = {"data_path": str(data_path), "checkpoint_dir": str(folder / "saved"), "epochs": 1,
                        "show_progress": False, "state": "ERROR", "load_col": None, **SMALL[model]}
            if model == "HybridRoBERTa":  # a tiny random RoBERTa saved to a folder (no hub)
                settings["text_encoder"] = save_tiny_roberta(folder / "roberta", seed=0)
                settings["text_cache_dir"] = str(folder / "text_cache")
            with contextlib.chdir(folder):
                run(model, DATASET, overrides=settings)
            # the best checkpoint (training also keeps <run>-last.pth to resume from)
            (paths[model],) = [path for path in (folder / "saved").glob(f"{model}-*.pth")
                               if not path.stem.endswith("-last")]
        return paths[model]

    return trained


@pytest.fixture(scope="module")
def recommender(checkpoint):
    loaded = {}

    def of(model):
        if model not in loaded:
            loaded[model] = Recommender.from_checkpoint(checkpoint(model))
        return loaded[model]

    return of
