"""Approximate nearest-neighbour search over item vectors (faiss, the optional ``serve`` extra).

An :class:`ItemIndex` holds item vectors in a faiss index searched by inner
product: ``exact`` (``IndexFlatIP``, brute force) or ``hnsw``
(``IndexHNSWFlat`` with the inner-product metric). Build one from a
:class:`~recbole_ext.recommend.Recommender`'s item vectors, or from a folder
written by ``export``::

    index = ItemIndex.from_export("export/", kind="hnsw")
    scores, rows = index.search(user_vectors, k=10)
    index.labels[rows]            # external item ids
"""

from pathlib import Path

import numpy as np

KINDS = ("exact", "hnsw")
#: HNSW defaults: graph degree, build and search beam widths
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 64


def _faiss():
    try:
        import faiss
    except ImportError:
        raise ImportError("ANN search needs faiss: pip install 'recbole_ext[serve]' (faiss-cpu)") from None
    return faiss


class ItemIndex:
    """Inner-product index over item vectors.

    Args:
        vectors (np.ndarray): ``[n, D]`` item vectors.
        labels (np.ndarray): ``[n]`` label of each row (default: the row number).
        kind (str): ``exact`` or ``hnsw``.
        m (int): HNSW graph degree.
        ef_construction (int): HNSW beam width while building.
        ef_search (int): HNSW beam width while searching (raised to ``k`` when smaller).
    """

    def __init__(self, vectors, labels=None, kind="hnsw", m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION,
                 ef_search=HNSW_EF_SEARCH):
        if kind not in KINDS:
            raise ValueError(f"unknown index kind '{kind}'; valid: {', '.join(KINDS)}")
        faiss = _faiss()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.kind = kind
        self.ef_search = ef_search
        self.labels = np.arange(len(vectors)) if labels is None else np.asarray(labels)
        if kind == "exact":
            self.index = faiss.IndexFlatIP(vectors.shape[1])
        else:
            self.index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = ef_construction
        self.index.add(vectors)

    @classmethod
    def from_export(cls, directory, **kwargs):
        """Index of the item vectors an ``export`` wrote; labels are the external item ids."""
        import pandas as pd

        directory = Path(directory)
        vectors = np.load(directory / "item_vectors.npy")
        labels = pd.read_csv(directory / "items.csv", dtype={"item_id": str}, keep_default_na=False)["item_id"]
        return cls(vectors, labels.to_numpy(), **kwargs)

    def __len__(self):
        return self.index.ntotal

    def search(self, queries, k, allowed_rows=None):
        """The ``k`` rows of largest inner product with each query.

        Args:
            queries (np.ndarray): ``[B, D]`` query vectors.
            k (int): rows per query.
            allowed_rows (np.ndarray): only these rows may be returned (default: all).

        Returns:
            tuple of np.ndarray: ``(scores, rows)``, ``[B, k]`` each, best first;
            row ``-1`` (score ``-inf``) where fewer than ``k`` were found.
        """
        faiss = _faiss()
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        selector = None if allowed_rows is None else faiss.IDSelectorBatch(np.asarray(allowed_rows, dtype=np.int64))
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k), sel=selector)
        else:
            params = None if selector is None else faiss.SearchParameters(sel=selector)
        scores, rows = self.index.search(queries, k, params=params)
        return np.where(rows >= 0, scores, -np.inf).astype(np.float32), rows
