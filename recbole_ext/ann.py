"""Approximate nearest-neighbour search over item vectors (faiss, the optional ``serve`` extra).

An :class:`ItemIndex` holds item vectors in a faiss index searched by inner
product: ``exact`` (``IndexFlatIP``, brute force), ``hnsw`` (``IndexHNSWFlat``
with the inner-product metric) or ``hnsw_l2``: an HNSW graph over the
Euclidean reduction of the inner-product search (Bachrach et al., RecSys
2014): each item gets an extra coordinate ``sqrt(R^2 - |v|^2)`` (``R`` its
largest norm) and each query a 0, so the nearest item in L2 is the one of
largest inner product, recovered exactly from the distance. A graph built on
the inner product (not a metric) can leave some items unreachable when norms
vary; the reduction keeps a metric graph (``lab/ann_benchmark.py`` compares
both). Build one from a
:class:`~recbole_ext.recommend.Recommender`'s item vectors, or from a folder
written by ``export``::

    index = ItemIndex.from_export("export/", kind="hnsw")
    scores, rows = index.search(user_vectors, k=10)
    index.labels[rows]            # external item ids
"""

from pathlib import Path

import numpy as np

from recbole_ext.errors import require

KINDS = ("exact", "hnsw", "hnsw_l2")
#: HNSW defaults: graph degree, build and search beam widths
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 128


def _faiss():
    return require("faiss", "serve", "ANN search")


class ItemIndex:
    """Inner-product index over item vectors.

    Args:
        vectors (np.ndarray): ``[n, D]`` item vectors.
        labels (np.ndarray): ``[n]`` label of each row (default: the row number).
        kind (str): ``exact``, ``hnsw`` or ``hnsw_l2``.
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
        elif kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        else:
            vectors = self._with_norm_coordinate(vectors)
            self.index = faiss.IndexHNSWFlat(vectors.shape[1], m)
        if kind != "exact":
            self.index.hnsw.efConstruction = ef_construction
        self.index.add(vectors)

    def _with_norm_coordinate(self, vectors):
        """``[v, sqrt(R^2 - |v|^2)]``: every row gets the norm ``R`` of the longest (hnsw_l2)."""
        square_norms = np.square(vectors).sum(1, dtype=np.float64)
        self.max_square_norm = float(square_norms.max()) if len(vectors) else 0.0
        extra = np.sqrt(np.maximum(self.max_square_norm - square_norms, 0.0)).astype(np.float32)
        return np.hstack([vectors, extra[:, None]])

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
        if self.kind == "exact":
            params = None if selector is None else faiss.SearchParameters(sel=selector)
        else:
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k), sel=selector)
        if self.kind != "hnsw_l2":
            scores, rows = self.index.search(queries, k, params=params)
        else:
            padded = np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])
            distances, rows = self.index.search(padded, k, params=params)
            # |(q, 0) - (v, e)|^2 = |q|^2 + R^2 - 2 q.v
            scores = (np.square(queries).sum(1, keepdims=True) + self.max_square_norm - distances) / 2
        return np.where(rows >= 0, scores, -np.inf).astype(np.float32), rows
