"""ARGUS trained with twice the label smoothing of :mod:`lab.probes.argus_label_smoothing` (0.2, issue 16).

0.1 on the exact softmax brought amazon-games' id-only core level with LightSANs (0.999 x) and its runs still
peak at the 5th-6th epoch; this probe asks whether a stronger smoothing holds the short-history core back from
that early peak for longer.
"""

from lab.probes.argus_label_smoothing import ARGUSLabelSmoothing


class ARGUSStrongLabelSmoothing(ARGUSLabelSmoothing):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose full-softmax next-item loss smooths its labels by 0.2."""

    label_smoothing = 0.2
