"""Top-k over many rows in chunks: memory follows the chunk, not rows x items."""

import numpy as np
import torch


def chunked_top_k(n_rows, k, chunk_size, score_chunk):
    """The ``k`` best cells of each row, scoring ``chunk_size`` rows at a time.

    Args:
        n_rows (int): number of rows (users, queries).
        k (int): cells kept per row.
        chunk_size (int): rows scored together.
        score_chunk (callable): ``(start, stop) -> [stop - start, n_cols]`` scores
            with excluded cells at ``-inf``.

    Returns:
        tuple of np.ndarray: ``(scores, columns)``, both ``[n_rows, k]``, best
        first; missing cells (a row with fewer than ``k`` allowed cells) have
        score ``-inf``.
    """
    scores = np.full((n_rows, k), -np.inf, dtype=np.float32)
    columns = np.zeros((n_rows, k), dtype=np.int64)
    for start in range(0, n_rows, chunk_size):
        stop = min(start + chunk_size, n_rows)
        block = score_chunk(start, stop)
        kept = min(k, block.shape[1])
        values, indices = torch.topk(block, kept, dim=1)
        scores[start:stop, :kept] = values.cpu().numpy()
        columns[start:stop, :kept] = indices.cpu().numpy()
    return scores, columns


def exclude(scores, rows=None, columns=None, allowed=None):
    """Set excluded cells of ``scores`` to ``-inf`` in place: column 0 (padding),
    the ``(rows, columns)`` pairs, and every column where ``allowed`` is False."""
    scores[:, 0] = float("-inf")
    if rows is not None:
        scores[rows.to(scores.device), columns.to(scores.device)] = float("-inf")
    if allowed is not None:
        scores.masked_fill_(~allowed.to(scores.device), float("-inf"))
    return scores


def first_valid(scores, labels, valid, k):
    """Per row, the first ``k`` entries where ``valid`` (keeping their order); the rest ``-inf`` / 0."""
    order = np.argsort(~valid, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(scores))[:, None]
    kept_scores = np.where(valid[rows, order], scores[rows, order], -np.inf).astype(np.float32)
    kept_labels = np.where(valid[rows, order], labels[rows, order], 0)
    if kept_scores.shape[1] < k:
        pad = k - kept_scores.shape[1]
        kept_scores = np.pad(kept_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        kept_labels = np.pad(kept_labels, ((0, 0), (0, pad)))
    return kept_scores, kept_labels
