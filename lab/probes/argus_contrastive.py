"""ARGUS with a contrastive term between two dropout draws of every query (issue 16, item 1).

On amazon-games (~9 events a user) the id-only core peaks on validation after about four epochs while its
training loss keeps falling; label smoothing, dropout, weight averages and hashed ids did not lift that peak
far enough. Contrastive regularisation is the lever the sequential-recommendation literature reports on such
short Amazon histories: DuoRec (Qiu et al., "Contrastive Learning for Representation Degeneration Problem in
Sequential Recommendation", WSDM 2022) encodes each sequence twice with independent dropout masks and pulls
the two representations together against the batch's other sequences (InfoNCE), leaving out of the negatives
those whose next item is the same (they are not negatives of one another). This probe does that at every
position of ARGUS's one pass: the batch is encoded twice, the next-item loss reads the first draw's queries,
and ``WEIGHT`` x InfoNCE on the cosine similarity of the two draws' queries (temperature ``TEMPERATURE``;
positions of the same target masked out of each other's negatives) is added. About 2 x the encoder's compute.
"""

import torch
import torch.nn.functional as F

from recbole_ext.model.argus import ARGUS, earlier_items

#: weight of the contrastive term (DuoRec's lambda)
WEIGHT = 0.1
#: temperature of the cosine similarities (SimCSE's order of magnitude)
TEMPERATURE = 0.1


def dropout_view_infonce(first, second, targets, temperature=TEMPERATURE):
    """InfoNCE of each row of ``first`` against every row of ``second`` (``[M, D]`` each): its own row in
    ``second`` is the positive, the rows of other targets the negatives; rows of the same target other than
    its own are left out (DuoRec's false negatives). Symmetric: the mean of both directions."""
    first, second = F.normalize(first, dim=-1), F.normalize(second, dim=-1)
    logits = first @ second.T / temperature
    same_target = targets.unsqueeze(0) == targets.unsqueeze(1)
    own = torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    logits = logits.masked_fill(same_target & ~own, float("-inf"))
    labels = torch.arange(len(targets), device=targets.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


class ARGUSContrastive(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) plus DuoRec's dropout-view contrastive term on its queries."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.feedback_fields or self.history_negatives:
            raise ValueError(
                f"{type(self).__name__} probes the id-only core (feedback_fields: {{}}, history_negatives: False)"
            )

    def _losses(self, interaction):
        items = interaction[self.ITEM_SEQ]
        present = items > 0
        first, _ = self.forward(interaction)
        second, _ = self.forward(interaction)
        earlier = earlier_items(items, self._segments(interaction))[present] if self.loss_excludes_history else None
        positives = items[present]
        next_item = self.next_item_loss(first[present], positives, None, earlier)
        return next_item + WEIGHT * dropout_view_infonce(first[present], second[present], positives)
