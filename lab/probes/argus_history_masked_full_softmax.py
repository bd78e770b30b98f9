"""ARGUS whose exact full softmax leaves out each target's earlier items (issue 16, item 1).

The full-softmax twin of :mod:`lab.probes.argus_history_masked_softmax` (whose docstring gives the why), for
the catalogues ARGUS scores in full (ml-100k's 1,682 items): each position's softmax runs over every item but
the items of its earlier events in the same chunk (never its own positive), the rule the evaluation ranks with.
"""

import torch
import torch.nn.functional as F

from lab.probes.argus_history_masked_softmax import candidate_mask, earlier_items
from recbole_ext.model.argus import ARGUS


class ARGUSHistoryMaskedFullSoftmax(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) trained with the evaluation's history rule, full softmax."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.softmax != "full" or self.history_negatives:
            raise ValueError("ARGUSHistoryMaskedFullSoftmax probes the full softmax without history_negatives")
        self._earlier = None

    def calculate_loss(self, interaction):
        items = interaction[self.ITEM_SEQ]
        self._earlier = earlier_items(items, self._segments(interaction))[items > 0]
        try:
            return super().calculate_loss(interaction)
        finally:
            self._earlier = None

    def next_item_loss(self, queries, positives, history_logits=None):
        logits = queries @ self.item_vectors()[1:].T / self.temperature()
        every_item = torch.arange(1, self.n_items, device=positives.device)
        left_out = candidate_mask(every_item, self._earlier, positives)
        return F.cross_entropy(logits.masked_fill(left_out, float("-inf")), positives - 1)
