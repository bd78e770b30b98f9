"""ARGUS whose input item tokens are masked at random while training (issue 16, item 1).

On amazon-games (~9 events a user, ~17 events an item) ARGUS's validation climbs for about five epochs and
then stops while its training loss keeps falling: it fits the few events of each user. Masking input items is
the augmentation that sparse sequential data responds to (the "item mask" of CL4SRec: Xie et al.,
"Contrastive Learning for Sequential Recommendation", ICDE 2022; BERT4Rec's cloze inputs): in training each
history event's item token is replaced by one learned mask vector with probability ``item_mask_prob`` (the
class's, a probe has no yaml of its own), so a query must predict its target from an incomplete history. The
targets, the output item vectors and the feedback head's item input stay whole; evaluation masks nothing.
"""

import torch
from torch import nn

from recbole_ext.model.argus import ARGUS


class ARGUSItemMask20(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) trained on histories with 20 % of the input items masked."""

    config_bases = ("ARGUS",)
    item_mask_prob = 0.2

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.variant != "simplified":
            raise ValueError(f"{type(self).__name__} probes the simplified variant only (argus_variant: simplified)")
        self.item_mask_vector = nn.Parameter(torch.empty(self.hidden_size))
        nn.init.normal_(self.item_mask_vector, std=config["initializer_range"])

    def masked_inputs(self, item_tokens, items):
        """The input item tokens with each real event's replaced by the mask vector w.p. ``item_mask_prob``
        (training only)."""
        if not self.training:
            return item_tokens
        masked = (torch.rand(items.shape, device=items.device) < self.item_mask_prob) & (items > 0)
        return torch.where(masked.unsqueeze(-1), self.item_mask_vector.to(item_tokens.dtype), item_tokens)

    def _heads(self, items, context, feedback, segments):
        item_tokens = self.item_tokens(items)
        hidden = self._encode(self.masked_inputs(item_tokens, items), context, feedback, segments)
        previous, query_context = self._simplified_query_inputs(hidden, context, segments)
        queries = self._item_queries(previous, query_context)
        feedback_inputs = torch.cat([previous, query_context, item_tokens], -1)
        return queries, self.feedback_head(feedback_inputs)


class ARGUSItemMask40(ARGUSItemMask20):
    """The same with 40 % of the input items masked."""

    item_mask_prob = 0.4
