"""ARGUS whose next-item loss skips the targets with no earlier event in their chunk (issue 16, item 1).

One pass trains the next item at every position of a chunk, the first one included: a target predicted from
no history at all (a user's first event, or the first event of a later chunk, whose earlier events are in
another chunk). RecBole's SASRec never trains such a target (its shortest training prefix holds one event) and
no validation or test target is one. On amazon-games, about 7 training events a user, they are about one
target in seven (on MovieLens one in 40 to 100), and there ARGUS's validation stops climbing early while its
training loss still falls. This probe keeps the feedback loss at every position (a feedback target reads its
own item) and drops the next-item loss of each chunk's first event.
"""

from recbole_ext.model.argus import ARGUS
from recbole_ext.model.layers import segment_starts


def has_earlier_event(items, segments):
    """``[B, L]`` bool: a real event with at least one earlier event of the same chunk."""
    return (items > 0) & ~segment_starts(segments)


class ARGUSNoEmptyTargets(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) without next-item targets that have no history."""

    config_bases = ("ARGUS",)

    def calculate_loss(self, interaction):
        items = interaction[self.ITEM_SEQ]
        present = items > 0
        segments = self._segments(interaction)
        targets = has_earlier_event(items, segments)
        queries, feedback_outputs = self.forward(interaction)
        history_logits = None
        if self.history_negatives:
            history_logits = self.history_logits(queries, items, segments)[targets]
        next_item_loss = self.next_item_loss(queries[targets], items[targets], history_logits)
        feedback_values = self._feedback_values(interaction)
        if feedback_values is None:
            return next_item_loss
        return next_item_loss, self.feedback_loss(feedback_outputs[present], feedback_values[present])
