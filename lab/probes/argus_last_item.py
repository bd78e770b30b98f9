"""ARGUS whose item query also reads the previous event's item token directly (issue 16, item 1).

On ml-latest-small most of every model's test NDCG@10 comes from targets rated within a minute of the
event before them (a user rating down a list the site showed), where the next item follows from the last
one. ARGUS's query reads the last item only through the encoder's hidden state (LayerNorm, attention and
feed-forward layers in between); SASRec's tied scoring adds the last item's embedding to the hidden state
through the residual stream. This probe gives the query the previous event's input item token as a third
input, a direct item-to-item (Markov) path, as FPMC's transition term does (Rendle et al., "Factorizing
Personalized Markov Chains for Next-Basket Recommendation", WWW 2010). The previous event is before the
target, so nothing of the target reaches its query; the first event of a packed chunk gets a zero vector.
Simplified variant only.
"""

import torch

from recbole_ext.model.argus import ARGUS
from recbole_ext.model.layers import init_weights, segment_starts


def previous_tokens(item_tokens, segments):
    """``[B, L, d]``: at each position the item token of the event before it in the same chunk (zero at a
    chunk's first event)."""
    previous = torch.cat([torch.zeros_like(item_tokens[:, :1]), item_tokens[:, :-1]], dim=1)
    return previous * ~segment_starts(segments).unsqueeze(-1)


class ARGUSLastItem(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose query also reads the previous item's token."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.variant != "simplified":
            raise ValueError("ARGUSLastItem probes the simplified variant only (argus_variant: simplified)")
        self.item_query_head = self._build_query_head(3 * self.hidden_size, config["hidden_act"],
                                                      config["hidden_dropout_prob"])
        self.item_query_head.apply(lambda m: init_weights(m, config["initializer_range"]))

    def _heads(self, items, context, feedback, segments):
        item_tokens = self.item_tokens(items)
        hidden = self._encode(item_tokens, context, feedback, segments)
        previous, query_context = self._simplified_query_inputs(hidden, context, segments)
        last_item = self.input_dropout(previous_tokens(item_tokens, segments))
        queries = self.item_query_head(torch.cat([previous, query_context, last_item], -1))
        feedback_inputs = torch.cat([previous, query_context, item_tokens], -1)
        return queries, self.feedback_head(feedback_inputs)
