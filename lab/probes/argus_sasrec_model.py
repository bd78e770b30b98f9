"""SASRec's model on ARGUS's one pass (issue 16, item 1): its input token, encoder and scoring, ARGUS's training.

The earlier "SASRec in ARGUS's code" probes (:mod:`lab.probes.argus_sasrec_recipe`,
:mod:`lab.probes.argus_sasrec_windows`) kept two of ARGUS's layers that start small at the initialiser's 0.02
scale: the event-fusion Linear before the encoder (the token starts mostly as its position) and the item query
Linear after it (queries start ~6 x shorter than the hidden state, so with the temperature at 1 the logits are too).
At ARGUS's learning rate (0.005) and temperature (0.1) that costs little; at SASRec's (0.001, raw dot products)
both take many epochs to grow, and those probes climbed far slower than SASRec (amazon-games, best valid MRR@10
0.0133 after 3 epochs against 0.0237). This probe is SASRec's model itself: item plus position in
(:mod:`lab.probes.argus_direct_item_token`), RecBole's post-LayerNorm encoder (:mod:`lab.probes.argus_post_ln`),
the hidden state as the query and a fixed temperature (raw dot products against the tied item embeddings).
"""

from torch import nn

from lab.probes.argus_direct_item_token import ARGUSDirectItemToken
from lab.probes.argus_post_ln import ARGUSPostLN


class HiddenStateQuery(nn.Module):
    """The query is the hidden state itself: the first ``width`` features of the simplified variant's query
    input ``[h_{t-1}; c_t]``."""

    def __init__(self, width):
        super().__init__()
        self.width = width

    def forward(self, query_inputs):
        return query_inputs[..., : self.width]


class ARGUSSASRecModel(ARGUSPostLN, ARGUSDirectItemToken):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, with SASRec's model (Kang and McAuley, ICDM 2018):
    item-plus-position tokens, post-LayerNorm encoder, hidden state dotted with the tied item embeddings."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        if config["item_output"] != "tied":
            raise ValueError("ARGUSSASRecModel scores against the input item embeddings: set item_output: tied")
        super().__init__(config, dataset)
        self.log_temperature.requires_grad_(False)

    def _build_query_head(self, size_in, act, dropout):
        return HiddenStateQuery(self.hidden_size)
