"""ARGUS's shifted-chunks probe with the cut drawn per row instead of per epoch (issue 16, item 1).

:mod:`lab.probes.argus_shifted_chunks` trains the rows of one of its ``PHASES`` cuts per epoch, which needs the
epoch from the trainer. This probe keeps each row of a batch with probability ``1 / PHASES`` whatever its
cut, so it needs no epoch count (nor anything from the trainer or the data loader): every training event is a
target once per epoch on average, after another window each time, at one pass's compute.
"""

import torch

from lab.probes.argus_shifted_chunks import PHASES, ARGUSShiftedChunks


class ARGUSRandomCuts(ARGUSShiftedChunks):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, each training row kept with probability 1 / PHASES."""

    def calculate_loss(self, interaction):
        items = interaction[self.ITEM_SEQ]
        rows = torch.rand(items.shape[0], device=items.device) < 1.0 / PHASES
        if not rows.any():
            return sum(parameter.sum() for parameter in self.parameters()) * 0.0
        return super(ARGUSShiftedChunks, self).calculate_loss(interaction[rows])
