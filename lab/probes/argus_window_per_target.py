"""ARGUS trained on SASRec's layout, a window per target (issue 16, item 1): the direct test of what one pass costs.

RecBole gives SASRec one training sample per target, the ``MAX_ITEM_LIST_LENGTH`` events before it, each
encoded on its own with its own dropout mask. One pass encodes a chunk once for all of its targets. This
probe is :mod:`lab.probes.argus_overlapping_chunks` with chunks ending at every event and only the newest
position of a chunk carrying loss: every training event is a target exactly once, after up to
``MAX_ITEM_LIST_LENGTH - 1`` earlier events, encoded once per target, at about ``MAX_ITEM_LIST_LENGTH`` times
the compute of one pass (SASRec's epoch). Id-only: no feedback loss.
"""

from recbole.data.interaction import cat_interactions

from recbole_ext.data.argus_dataset import ARGUSDataset
from lab.probes.argus_overlapping_chunks import ARGUSOverlappingChunks, ARGUSOverlappingChunksDataset, newest_positions


class ARGUSWindowPerTargetDataset(ARGUSOverlappingChunksDataset):
    """ARGUS's dataset with a training chunk ending at every event of a user's training history."""

    def _training_chunks(self, train_split):
        parts = []
        for cut in range(self.max_item_list_len):
            self._history_cut = cut
            parts.append(ARGUSDataset._training_chunks(self, train_split))
        self._history_cut = 0
        return cat_interactions(parts)


class ARGUSWindowPerTarget(ARGUSOverlappingChunks):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, one window per target as SASRec trains
    (Kang and McAuley, ICDM 2018; RecBole's prefix samples)."""

    config_bases = ("ARGUS",)
    dataset_class = ARGUSWindowPerTargetDataset

    def calculate_loss(self, interaction):
        if self.feedback_fields:
            raise ValueError("ARGUSWindowPerTarget is an id-only probe: set feedback_fields: {}")
        items = interaction[self.ITEM_SEQ]
        queries, _ = self.forward(interaction)
        targets = (items > 0) & newest_positions(self._segments(interaction), 1)
        return self.next_item_loss(queries[targets], items[targets])
