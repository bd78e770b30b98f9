"""ARGUS with every SASRec training choice the core study tried one at a time, at once (issue 16, item 1).

SASRec's post-LayerNorm encoder (:mod:`lab.probes.argus_post_ln`) trained on overlapping chunks, so that every
target has nearly a full window of earlier events as RecBole's prefix samples give it
(:mod:`lab.probes.argus_overlapping_chunks`); the scoring, dropout, learning rate, loss and batch of SASRec
are config keys of the core study's row (``lab.argus_study.CORE_PROBES``). If this row reaches SASRec, the gap
is in the combination of choices; if it does not, it is in what ARGUS's id-only core still does differently.
"""

from lab.probes.argus_overlapping_chunks import ARGUSOverlappingChunks
from lab.probes.argus_post_ln import ARGUSPostLN


class ARGUSSASRecRecipe(ARGUSOverlappingChunks, ARGUSPostLN):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, with SASRec's encoder (Kang and McAuley, ICDM 2018)
    on overlapping chunks."""

    config_bases = ("ARGUS",)
