"""ARGUS with a causal pool of the history's items beside the query (issue 16, item 1).

LightSANs (Fan et al., "Lighter and Better: Low-Rank Decomposed Self-Attention Networks for Next-Item
Recommendation", SIGIR 2021) pools every event of a window into a few latent interests (its item-to-interest
aggregation) and leads RecBole's causal SASRec on ml-latest-small. ARGUS's query reads the causal hidden
state of the event before the target, where two layers of attention mostly look at recent events. This probe
gives the query a second input that sees the whole history before the target as a set: ``K`` learned
interest vectors each pool the item embeddings of the events before position ``t`` of the same chunk
(softmax over those events of the item's score for that interest), and one Linear maps the ``K`` pools to the
hidden width. A pool at ``t`` reads events before ``t`` only, so nothing of the target reaches its query;
packed chunks pool their own events only. Simplified variant only.
"""

import torch
from torch import nn

from recbole_ext.model.argus import ARGUS
from recbole_ext.model.layers import init_weights

#: interests pooled per position (RecBole's LightSANs default ``k_interests``)
INTERESTS = 5


def earlier_in_segment(segments, present):
    """``[B, L, L]`` bool: column ``j`` is a real event before row ``t`` in the same chunk."""
    length = segments.shape[1]
    earlier = torch.ones(length, length, dtype=torch.bool, device=segments.device).tril(-1)
    same_chunk = segments.unsqueeze(2) == segments.unsqueeze(1)
    return earlier & same_chunk & present.unsqueeze(1)


class ARGUSInterestPooling(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose item query also reads ``INTERESTS`` causal
    attention pools of the earlier items (see the module docstring)."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.variant != "simplified":
            raise ValueError("ARGUSInterestPooling probes the simplified variant only (argus_variant: simplified)")
        d = self.hidden_size
        self.interest_scores = nn.Linear(d, INTERESTS, bias=False)
        self.interest_projection = nn.Linear(INTERESTS * d, d)
        self.item_query_head = self._build_query_head(3 * d, config["hidden_act"], config["hidden_dropout_prob"])
        for module in (self.interest_scores, self.interest_projection, self.item_query_head):
            module.apply(lambda m: init_weights(m, config["initializer_range"]))

    def pooled_interests(self, item_tokens, items, segments):
        """``[B, L, d]``: at each position, the projected interest pools of the chunk's earlier events
        (zero where there is none)."""
        visible = earlier_in_segment(segments, (items > 0) & (segments > 0))  # [B, t, j]
        scores = self.interest_scores(item_tokens).transpose(1, 2)  # [B, K, j]
        scores = scores.unsqueeze(2).masked_fill(~visible.unsqueeze(1), -1e9)  # [B, K, t, j]
        weights = torch.softmax(scores, dim=-1) * visible.any(-1)[:, None, :, None]
        pools = weights @ item_tokens.unsqueeze(1)  # [B, K, t, d]
        batch, _, length, _ = pools.shape
        return self.interest_projection(pools.permute(0, 2, 1, 3).reshape(batch, length, -1))

    def _heads(self, items, context, feedback, segments):
        item_tokens = self.item_tokens(items)
        hidden = self._encode(item_tokens, context, feedback, segments)
        previous, query_context = self._simplified_query_inputs(hidden, context, segments)
        pooled = self.input_dropout(self.pooled_interests(item_tokens, items, segments))
        queries = self.item_query_head(torch.cat([previous, query_context, pooled], -1))
        feedback_inputs = torch.cat([previous, query_context, item_tokens], -1)
        return queries, self.feedback_head(feedback_inputs)
