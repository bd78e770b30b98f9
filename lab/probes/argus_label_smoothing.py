"""ARGUS trained with label smoothing on the exact full softmax (issue 16, item 1).

On amazon-games (~9 events a user) the id-only core peaks on validation after about five epochs while its
training loss keeps falling. Label smoothing (Szegedy et al., "Rethinking the Inception Architecture for
Computer Vision", CVPR 2016) moves ``label_smoothing`` of each target's probability mass evenly onto the
items its softmax ranks (the catalogue less the items ``loss_excludes_history`` leaves out), so the loss stops
rewarding ever larger logit gaps. It is defined on the exact softmax only (on a sampled one the mass would land
on whichever negatives were drawn), so the probe needs ``softmax: full``. Evaluation is unchanged.
"""

import torch

from recbole_ext.model.argus import ARGUS, history_candidate_mask


def smoothed_cross_entropy(logits, targets, smoothing, excluded=None):
    """Mean cross-entropy against ``1 - smoothing`` on each row's target plus ``smoothing`` spread evenly over
    the row's candidates (``excluded``: ``[M, C]`` bool, candidates left out of a row's softmax)."""
    if excluded is not None:
        logits = logits.masked_fill(excluded, float("-inf"))
    log_probs = torch.log_softmax(logits, dim=-1)
    target_term = -log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)
    if excluded is None:
        uniform_term = -log_probs.mean(-1)
    else:
        uniform_term = -log_probs.masked_fill(excluded, 0).sum(-1) / (~excluded).sum(-1)
    return ((1 - smoothing) * target_term + smoothing * uniform_term).mean()


class ARGUSLabelSmoothing(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose full-softmax next-item loss smooths its labels by 0.1."""

    config_bases = ("ARGUS",)
    label_smoothing = 0.1

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.softmax != "full" or self.history_negatives:
            raise ValueError(
                f"{type(self).__name__} smooths the exact softmax only (softmax: full, history_negatives: False)"
            )

    def next_item_loss(self, queries, positives, history_logits=None, earlier=None):
        every_item = torch.arange(1, self.n_items, device=positives.device)
        excluded = None if earlier is None else history_candidate_mask(every_item, earlier, positives)
        logits = queries @ self.item_vectors()[1:].T / self.temperature()
        return smoothed_cross_entropy(logits, positives - 1, self.label_smoothing, excluded)
