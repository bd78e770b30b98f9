"""ARGUS's ``chunk_cuts`` rotation applied only to histories longer than one chunk (issue 16, item 1).

The rotation (``chunk_cuts``) lifts the id-only core at a 50-event window, where most histories are cut into
several chunks anyway and the rotation only moves where; at a 200-event window, where one chunk holds most
histories, it splits them and takes long context from the targets after each cut, and the rows fell. This
probe keeps a history that fits in one chunk whole in every cutting (it is one chunk, as in one pass) and moves
the cuts of the longer ones only.
"""

import numpy as np

from recbole_ext.data.argus_dataset import ARGUSDataset
from recbole_ext.model.argus import ARGUS


class ARGUSLongCutsDataset(ARGUSDataset):
    """ARGUS's dataset whose cuttings leave the histories of at most ``MAX_ITEM_LIST_LENGTH`` events whole."""

    def _training_history_lengths(self, train_split):
        starts, lengths = super()._training_history_lengths(train_split)
        self._fits_one_chunk = lengths <= self.max_item_list_len
        return starts, lengths

    def _chunk_rows(self, span_starts, span_lengths):
        # the library passes each history as two spans (before its newest events, and those); a history that
        # fits one chunk is given back whole as its first span, its second span empty
        users = len(self._fits_one_chunk)
        whole = np.concatenate([self._fits_one_chunk, np.zeros(users, dtype=bool)])
        newest = np.concatenate([np.zeros(users, dtype=np.int64), span_lengths[users:]])
        span_lengths = np.where(whole, span_lengths + np.roll(newest, -users), span_lengths)
        span_lengths[users:] = np.where(self._fits_one_chunk, 0, span_lengths[users:])
        return super()._chunk_rows(span_starts, span_lengths)


class ARGUSLongCuts(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), its cuts moved only in histories longer than a chunk."""

    config_bases = ("ARGUS",)
    dataset_class = ARGUSLongCutsDataset
