"""ARGUS whose sampled softmax leaves out each target's earlier items (issue 16, item 1).

The head-to-head ranks every model's items under one history rule: no model may rank an item of the user's
last 50 events (on these datasets nobody takes an item twice). Without the rule, on amazon-games, id-only ARGUS
is level with SASRec (test NDCG@10 0.0454 against 0.0450) and ARGUS with titles with LightSANs (0.0471 against
0.0477); the rule lifts the built-ins by 0.018-0.019 and ARGUS by 0.006 (session 30). So the built-ins keep the
user's own items high and rank the other items better below them, and ARGUS learns to push its own earlier items
down, work the rule makes useless: its in-batch negatives always hold the chunk's earlier items (every event of a
packed batch is a candidate), under a logQ correction that treats them as drawn at random. This probe trains
under the rule it is tested with: each position's softmax leaves out the items of its earlier events in the same
chunk (never its own positive). Sampled softmax only.
"""

import torch

from recbole_ext.model.argus import ARGUS, log_expected_count


def earlier_items(items, segments):
    """``[B, L, L]``: at ``[b, t, s]`` the item of event ``s`` when it is before ``t`` in the same chunk, else 0."""
    length = items.shape[1]
    before = torch.ones(length, length, dtype=torch.bool, device=items.device).tril(-1)
    same_chunk = segments.unsqueeze(2) == segments.unsqueeze(1)
    return torch.where(before & same_chunk, items.unsqueeze(1), torch.zeros_like(items).unsqueeze(1))


def candidate_mask(candidates, earlier, positives):
    """``[M, C]`` bool: candidate ``c`` is one of row ``m``'s earlier items (``[M, E]``, 0: none) and not its positive."""
    index = torch.searchsorted(candidates, earlier).clamp(max=len(candidates) - 1)
    hit = (candidates[index] == earlier) & (earlier > 0) & (earlier != positives.unsqueeze(1))
    counts = torch.zeros(len(earlier), len(candidates), dtype=torch.int32, device=earlier.device)
    return counts.scatter_add_(1, index, hit.int()) > 0


class ARGUSHistoryMaskedSoftmax(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) trained with the evaluation's history rule."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.softmax != "sampled" or self.history_negatives:
            raise ValueError("ARGUSHistoryMaskedSoftmax probes the sampled softmax without history_negatives")
        self._earlier = None

    def calculate_loss(self, interaction):
        items = interaction[self.ITEM_SEQ]
        self._earlier = earlier_items(items, self._segments(interaction))[items > 0]
        try:
            return super().calculate_loss(interaction)
        finally:
            self._earlier = None

    def next_item_loss(self, queries, positives, history_logits=None):
        in_batch = torch.unique(positives)
        uniform = torch.randint(1, self.n_items, (self.uniform_negatives,), device=positives.device)
        candidates = torch.unique(torch.cat([in_batch, uniform]))
        log_q = log_expected_count(self.target_item_probs, len(positives), self.uniform_negatives, self.n_items - 1)
        vectors = self.item_vectors(candidates)
        local_positives = torch.searchsorted(candidates, positives)
        temperature = self.temperature()
        positive_logits = (queries * vectors[local_positives]).sum(-1) / temperature - log_q[positives]
        logits = queries @ vectors.T / temperature - log_q[candidates]
        left_out = (candidates.unsqueeze(0) == positives.unsqueeze(1)) | candidate_mask(candidates, self._earlier, positives)
        logits = logits.masked_fill(left_out, float("-inf"))
        all_logits = torch.cat([positive_logits.unsqueeze(1), logits], dim=1)
        return (torch.logsumexp(all_logits, dim=1) - positive_logits).mean()
