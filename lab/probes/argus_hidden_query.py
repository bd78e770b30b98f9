"""SASRec's token and scoring with ARGUS's encoder (issue 16, item 1): :mod:`lab.probes.argus_sasrec_model` less
its post-LayerNorm encoder, to tell which of SASRec's parts its gain comes from.

The token is the item plus its position (:mod:`lab.probes.argus_direct_item_token`), the query the hidden state of
ARGUS's pre-LayerNorm encoder, scored against the tied item embeddings at a fixed temperature.
"""

from lab.probes.argus_direct_item_token import ARGUSDirectItemToken
from lab.probes.argus_sasrec_model import HiddenStateQuery


class ARGUSHiddenQuery(ARGUSDirectItemToken):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, with SASRec's token and scoring (Kang and McAuley,
    ICDM 2018): item-plus-position tokens, hidden state dotted with the tied item embeddings."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        if config["item_output"] != "tied":
            raise ValueError("ARGUSHiddenQuery scores against the input item embeddings: set item_output: tied")
        super().__init__(config, dataset)
        self.log_temperature.requires_grad_(False)

    def _build_query_head(self, size_in, act, dropout):
        return HiddenStateQuery(self.hidden_size)
