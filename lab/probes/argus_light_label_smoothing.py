"""ARGUS trained with half the label smoothing of :mod:`lab.probes.argus_label_smoothing` (0.05, issue 16).

0.1 lifted ml-100k and amazon-games but lowered ml-latest-small on every seed; this probe asks whether a
lighter smoothing keeps the first two gains without the third loss.
"""

from lab.probes.argus_label_smoothing import ARGUSLabelSmoothing


class ARGUSLightLabelSmoothing(ARGUSLabelSmoothing):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose full-softmax next-item loss smooths its labels by 0.05."""

    label_smoothing = 0.05
