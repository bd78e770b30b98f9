"""ARGUS trained on overlapping chunks (issue 16, item 1): every target with (nearly) the full history window
before it, as RecBole's prefix samples give SASRec, instead of the events before it in its own chunk.

Chunks of ``MAX_ITEM_LIST_LENGTH`` events end every :data:`STRIDE` events of a user's training history (the
library's non-overlapping chunking of the history cut short by 0, STRIDE, 2 x STRIDE, ... events), and only
the newest :data:`STRIDE` positions of a chunk carry loss, so every training event is a target exactly once,
with at least ``MAX_ITEM_LIST_LENGTH - STRIDE`` events of context (fewer only near the start of a history),
at ``MAX_ITEM_LIST_LENGTH / STRIDE`` times the compute. Id-only: no feedback loss. The sampled softmax's Q
counts an event once per chunk holding it (the full softmax, ``auto`` on small catalogues, has no Q).
"""

import numpy as np
from recbole.data.interaction import cat_interactions

from recbole_ext.data.argus_dataset import ARGUSDataset
from recbole_ext.model.argus import ARGUS
from recbole_ext.model.layers import segment_positions

#: events between the ends of consecutive chunks, and the newest positions of a chunk that carry loss
STRIDE = 10


class ARGUSOverlappingChunksDataset(ARGUSDataset):
    """ARGUS's dataset with training chunks ending every :data:`STRIDE` events."""

    _history_cut = 0

    def _chunk_cuts(self):
        return 1  # its own layout: the same chunks every epoch

    def _training_chunks(self, train_split):
        parts = []
        for cut in range(0, self.max_item_list_len, STRIDE):
            self._history_cut = cut
            parts.append(super()._training_chunks(train_split))
        self._history_cut = 0
        return cat_interactions(parts)

    def _training_history_lengths(self, train_split):
        starts, lengths = super()._training_history_lengths(train_split)
        return starts, np.maximum(lengths - self._history_cut, 0)


def newest_positions(segments, count):
    """``[B, L]`` bool: the ``count`` newest positions of each chunk of a (packed) row."""
    same = segments.unsqueeze(2) == segments.unsqueeze(1)
    chunk_length = same.sum(-1)
    return (chunk_length - 1 - segment_positions(segments)) < count


class ARGUSOverlappingChunks(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, trained on overlapping chunks."""

    config_bases = ("ARGUS",)
    dataset_class = ARGUSOverlappingChunksDataset

    def calculate_loss(self, interaction):
        if self.feedback_fields:
            raise ValueError("ARGUSOverlappingChunks is an id-only probe: set feedback_fields: {}")
        items = interaction[self.ITEM_SEQ]
        queries, _ = self.forward(interaction)
        targets = (items > 0) & newest_positions(self._segments(interaction), STRIDE)
        return self.next_item_loss(queries[targets], items[targets])
