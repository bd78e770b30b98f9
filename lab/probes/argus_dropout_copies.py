"""ARGUS trained on several dropout draws of each batch (issue 16, item 1).

RecBole's SASRec encodes a window once per training target, each time with its own dropout masks; ARGUS's one
pass encodes a chunk once for all of its targets with one set of masks. With causal attention the expected
gradient is the same, and only its noise differs: the targets of a chunk share their dropout noise. This
probe averages the loss of each batch over ``COPIES`` forward passes with independent masks (``COPIES`` x the
compute), which divides that shared noise as encoding every target apart would, without changing the data,
the steps or the expected gradient.
"""

from recbole_ext.model.argus import ARGUS

#: forward passes (independent dropout masks) averaged per batch
COPIES = 4


def mean_losses(losses):
    """The mean of several ``calculate_loss`` results (tensors, or tuples of tensors term by term)."""
    if isinstance(losses[0], tuple):
        return tuple(sum(terms) / len(terms) for terms in zip(*losses))
    return sum(losses) / len(losses)


class ARGUSDropoutCopies(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose loss is the mean over ``COPIES`` dropout draws."""

    config_bases = ("ARGUS",)

    def calculate_loss(self, interaction):
        return mean_losses([super(ARGUSDropoutCopies, self).calculate_loss(interaction) for _ in range(COPIES)])
