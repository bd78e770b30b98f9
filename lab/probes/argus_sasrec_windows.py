"""ARGUS with SASRec's whole recipe on SASRec's layout (issue 16, item 1): SASRec written in ARGUS's code.

:mod:`lab.probes.argus_sasrec_recipe` put SASRec's choices together on overlapping chunks;
:mod:`lab.probes.argus_window_per_target` put ARGUS's choices on SASRec's layout, a window per target. This
probe does both: SASRec's post-LayerNorm encoder (:mod:`lab.probes.argus_post_ln`) trained on a window per
target, with SASRec's scoring, dropout, learning rate, loss and batch set as config keys of the core study's
row (``lab.argus_study.DATASET_CORE_PROBES``). If it reaches SASRec where ARGUS's one pass and a window per
target both stop short, the gap is in the combination of choices; if it does not, it is in what ARGUS's code
still does differently (its input token, heads and data).
"""

from lab.probes.argus_post_ln import ARGUSPostLN
from lab.probes.argus_window_per_target import ARGUSWindowPerTarget


class ARGUSSASRecWindows(ARGUSWindowPerTarget, ARGUSPostLN):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, with SASRec's encoder on SASRec's layout
    (Kang and McAuley, ICDM 2018; RecBole's prefix samples)."""

    config_bases = ("ARGUS",)
