"""ARGUS trained with the exact softmax whose logits carry the sampled softmax's log Q correction (issue 16).

On amazon-games (~9 events a user) the exact full softmax beats the default logQ-corrected sampled one; on
ml-latest-small (165 events a user) it loses to it on test. The two differ in two ways: the sampled softmax sees
only a step's in-batch and uniform candidates (noise), and it subtracts :math:`\\log Q(i)`, the log-probability that
item ``i`` is a candidate (Yi et al., RecSys 2019), from every logit it trains, which leaves popular items' scores
higher than the exact softmax learns them. This probe keeps the second and drops the first: every item is a
candidate, each logit corrected by the same :math:`\\log Q(i)` the step's sampled softmax would use. Evaluation is
unchanged.
"""

import torch
import torch.nn.functional as F

from recbole_ext.model.argus import ARGUS, history_candidate_mask, log_expected_count


def log_q_corrected_full_softmax_loss(query, item_vectors, positives, temperature, log_q, excluded=None):
    """Mean cross-entropy over every real item (ids ``1..n_items-1``) of ``query @ v_i / T - log_q[i]``
    (``excluded``: ``[M, n_items - 1]`` bool, items left out of a row's softmax)."""
    logits = query @ item_vectors[1:].T / temperature - log_q[1:]
    if excluded is not None:
        logits = logits.masked_fill(excluded, float("-inf"))
    return F.cross_entropy(logits, positives - 1)


class ARGUSLogQFullSoftmax(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose exact softmax subtracts the sampled softmax's log Q."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.softmax != "full" or self.history_negatives:
            raise ValueError(
                f"{type(self).__name__} corrects the exact softmax only (softmax: full, history_negatives: False)"
            )

    def next_item_loss(self, queries, positives, history_logits=None, earlier=None):
        every_item = torch.arange(1, self.n_items, device=positives.device)
        excluded = None if earlier is None else history_candidate_mask(every_item, earlier, positives)
        log_q = log_expected_count(self.target_item_probs, len(positives), self.uniform_negatives, self.n_items - 1)
        return log_q_corrected_full_softmax_loss(
            queries, self.item_vectors(), positives, self.temperature(), log_q, excluded
        )
