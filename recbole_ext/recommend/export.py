"""Export of a dot-product model: user vectors, item vectors and id maps.

Folder layout (written whole or not at all)::

    item_vectors.npy   float32 [n_items, D]   row i is the item of items.csv row i
    items.csv          item_id[,<name field>]
    user_vectors.npy   float32 [n_users, D]   row u is the user of users.csv row u
    users.csv          user_id
    meta.json          model, dataset, checkpoint, dimension, where the vectors come from

``user_vectors[u] @ item_vectors[i]`` is the model's score of item ``i`` for
user ``u`` (for sequential models the user vector is the query after the
user's complete history, the two-tower deployment of ARGUS).
"""

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from recbole_ext.files import atomic_path


@contextmanager
def atomic_directory(directory):
    """A temporary folder next to ``directory`` that replaces it only when the block ends without error."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        yield staging
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            directory.rename(old)
        staging.rename(directory)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def atomic_write_csv(frame, path):
    """``frame`` as CSV at ``path``, through a temporary file renamed over it (never half written)."""
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False)


def export(recommender, directory, batch_size=None):
    """Write ``recommender``'s vectors and id maps to ``directory``; returns its path."""
    item_ids, item_vectors = recommender.item_vectors()
    user_ids, user_vectors = recommender.user_vectors(batch_size=batch_size)
    items = pd.DataFrame({"item_id": item_ids})
    if recommender.item_names is not None:
        items[recommender.name_field] = recommender.item_names[1:]
    meta = {
        "model": recommender.model_name,
        "dataset": recommender.dataset_name,
        "checkpoint": recommender.model_file,
        "kind": recommender.kind,
        "dimension": int(item_vectors.shape[1]),
        "n_users": int(len(user_ids)),
        "n_items": int(len(item_ids)),
        "score": "user_vectors @ item_vectors.T",
        "vectors_from": recommender.family.tower().name,
        "user_vector": "query after the user's complete history" if recommender.kind == "sequential"
        else "the user's vector",
    }
    with atomic_directory(directory) as staging:
        np.save(staging / "item_vectors.npy", item_vectors.astype(np.float32))
        np.save(staging / "user_vectors.npy", user_vectors.astype(np.float32))
        items.to_csv(staging / "items.csv", index=False)
        pd.DataFrame({"user_id": user_ids}).to_csv(staging / "users.csv", index=False)
        (staging / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return Path(directory)
