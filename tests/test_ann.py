"""faiss item indexes (recbole_ext.ann): every kind returns the largest inner products and their scores.

Correctness only (a search beam as wide as the catalogue); how well each kind
does at a given beam is measured by lab/ann_benchmark.py."""

import numpy as np
import pytest

pytest.importorskip("faiss")

from recbole_ext.ann import ItemIndex  # noqa: E402


@pytest.fixture(scope="module")
def catalogue():
    rng = np.random.default_rng(0)
    items = rng.standard_normal((2000, 16)).astype(np.float32) * rng.lognormal(0, 0.5, (2000, 1)).astype(np.float32)
    return items, rng.standard_normal((50, 16)).astype(np.float32)


@pytest.mark.parametrize("kind", ["exact", "hnsw", "hnsw_l2"])
def test_index_returns_the_top_inner_products_with_their_scores(kind, catalogue):
    items, queries = catalogue
    truth = np.argsort(-(queries @ items.T), axis=1)[:, :10]
    index = ItemIndex(items, kind=kind, ef_search=len(items))  # a beam as wide as the catalogue: exact
    scores, rows = index.search(queries, 10)
    found = np.mean([len(set(r) & set(t)) / 10 for r, t in zip(rows, truth)])
    assert found >= 0.99
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, items[rows]), rtol=1e-3, atol=1e-3)


def test_allowed_rows_restrict_the_search(catalogue):
    items, queries = catalogue
    for kind in ("exact", "hnsw", "hnsw_l2"):
        _, rows = ItemIndex(items, kind=kind).search(queries[:5], 5, allowed_rows=np.arange(100, 120))
        found = rows[rows >= 0]  # a graph search may find fewer than k among few allowed rows (-1)
        assert len(found) and ((found >= 100) & (found < 120)).all()


def test_unknown_kind_is_one_line():
    with pytest.raises(ValueError, match="unknown index kind 'ivf'"):
        ItemIndex(np.zeros((3, 2), np.float32), kind="ivf")
