"""SASRec's token and scoring with ARGUS's encoder (issue 16, item 1): :mod:`lab.probes.argus_sasrec_model` less
its post-LayerNorm encoder, to tell which of SASRec's parts its gain comes from.

The token is the item plus its position (:mod:`lab.probes.argus_direct_item_token`), the query the hidden state of
ARGUS's pre-LayerNorm encoder, scored against the tied item embeddings at a fixed temperature.
"""

from recbole_ext.model.argus import ARGUS

from lab.probes.argus_sasrec_model import ARGUSSASRecModel


class ARGUSHiddenQuery(ARGUSSASRecModel):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, with SASRec's token and scoring (Kang and McAuley,
    ICDM 2018): item-plus-position tokens, hidden state dotted with the tied item embeddings."""

    config_bases = ("ARGUS",)
    _build_layers = ARGUS._build_layers  # ARGUS's pre-LayerNorm encoder, not ARGUSPostLN's
