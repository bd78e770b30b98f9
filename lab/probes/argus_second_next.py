"""ARGUS whose encoder is also trained to predict the event after next, through a head of its own (issue 16).

On amazon-games (~7 training events a user) the id-only core's validation stops climbing after about five
epochs while its training loss keeps falling: a short history gives the encoder few targets. Multi-token
prediction (Gloeckle et al., "Better & Faster Large Language Models via Multi-token Prediction", ICML 2024)
and PinnerFormer's dense all-action loss (Pancha et al., KDD 2022) train one encoder on more targets per
position: here each position's query inputs (``[h_{t-1}; c_t]``) also go through a second query head that
predicts event ``t + 1`` of the same chunk, its loss weighted by ``second_next_weight`` and added to the
next-item loss. The second head is used in training only: evaluation and serving read the next-item head as
before. Under ``loss_excludes_history`` the second target's softmax leaves out the items before it, as the
first's does. Simplified variant, id-only (no feedback loss).
"""

from recbole_ext.model.argus import ARGUS, earlier_items


def second_next_pairs(items, segments):
    """``(query_positions, targets)``: bool ``[B, L]`` of the positions whose event after next is in their
    chunk, and ``[B, L]`` that event's item (0 where there is none)."""
    targets = items.new_zeros(items.shape)
    targets[:, :-1] = items[:, 1:]
    same_chunk = segments.new_zeros(segments.shape, dtype=bool)
    same_chunk[:, :-1] = segments[:, 1:] == segments[:, :-1]
    return same_chunk & (items > 0) & (targets > 0), targets


class ARGUSSecondNext(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, with a training-only head for the event after next."""

    config_bases = ("ARGUS",)
    second_next_weight = 0.5

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.variant != "simplified" or self.feedback_fields:
            raise ValueError(f"{type(self).__name__} probes the id-only simplified variant (feedback_fields: {{}})")
        self.second_query_head = self._build_query_head(2 * self.hidden_size, config["hidden_act"], config["hidden_dropout_prob"])
        self._query_inputs = None
        self.item_query_head.register_forward_pre_hook(self._keep_query_inputs)

    def _keep_query_inputs(self, module, inputs):
        self._query_inputs = inputs[0]

    def calculate_loss(self, interaction):
        next_item_loss = super().calculate_loss(interaction)
        items, segments = interaction[self.ITEM_SEQ], self._segments(interaction)
        rows, targets = second_next_pairs(items, segments)
        queries = self.second_query_head(self._query_inputs[rows])
        earlier = None
        if self.loss_excludes_history:
            # the items before the event after next: its own history, as for any target
            shifted = earlier_items(items, segments)[:, 1:]
            earlier = shifted[rows[:, :-1]]
        return next_item_loss + self.second_next_weight * self.next_item_loss(queries, targets[rows], None, earlier)
