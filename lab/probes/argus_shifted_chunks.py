"""ARGUS trained on chunks cut at another place every epoch (issue 16, item 1): one pass's compute, SASRec's variety.

One pass cuts a user's training history into the same non-overlapping chunks every epoch, so a target always
sees the same events before it (none, for the first event of a chunk) and the same chunk-mates. RecBole's
prefix samples show SASRec each target after its own full window, and a window per target (the
:mod:`lab.probes.argus_window_per_target` probe) lifted ARGUS's id-only core, at about 50 x the compute. This
probe keeps one pass's cost and changes only where the cuts fall: in epoch ``e`` the chunk ends sit
``shift = (e mod PHASES) x MAX_ITEM_LIST_LENGTH / PHASES`` events before the end of the history (the newest
``shift`` events form one more, short chunk), so over ``PHASES`` epochs each target is trained after
``PHASES`` different windows, and every epoch still makes every training event a target exactly once.

The dataset holds the rows of every phase (each tagged in :data:`PHASE_FIELD`); the loss of a batch keeps the
rows of the epoch's phase. Set ``train_batch_size`` to ``PHASES`` x ARGUS's so that a step sees as many rows.
Id-only: no feedback loss.
"""

import numpy as np
import torch
from recbole.data.interaction import Interaction, cat_interactions

from recbole_ext.data.argus_dataset import ARGUSDataset
from recbole_ext.model.argus import ARGUS

#: the number of places the cuts take in turn, one per epoch
PHASES = 5
#: training-row field: the phase a row's chunks were cut at
PHASE_FIELD = "argus_phase"


class ARGUSShiftedChunksDataset(ARGUSDataset):
    """ARGUS's training chunks cut at each of :data:`PHASES` places, every phase's rows tagged."""

    _shift = 0
    _newest_only = False

    def _training_chunks(self, train_split):
        parts = []
        for phase in range(PHASES):
            self._shift = phase * (self.max_item_list_len // PHASES)
            for newest_only in (False, True) if self._shift else (False,):
                self._newest_only = newest_only
                part = super()._training_chunks(train_split)
                part.update(Interaction({PHASE_FIELD: torch.full((len(part),), phase, dtype=torch.long)}))
                parts.append(part)
        self._shift, self._newest_only = 0, False
        return cat_interactions(parts)

    def _training_history_lengths(self, train_split):
        """The history before its newest ``shift`` events, or (``_newest_only``) those events alone."""
        starts, lengths = super()._training_history_lengths(train_split)
        newest = np.minimum(self._shift, lengths)
        if self._newest_only:
            return starts + lengths - newest, newest
        return starts, lengths - newest


class ARGUSShiftedChunks(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, its chunks cut at another place every epoch."""

    config_bases = ("ARGUS",)
    dataset_class = ARGUSShiftedChunksDataset

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.feedback_fields:
            raise ValueError("ARGUSShiftedChunks is an id-only probe: set feedback_fields: {}")
        self.epochs_started = 0

    def train(self, mode=True):
        # RecBole's trainer switches the model to training at the start of every epoch, after evaluating
        if mode and not self.training:
            self.epochs_started += 1
        return super().train(mode)

    def current_phase(self):
        return self.epochs_started % PHASES

    def calculate_loss(self, interaction):
        rows = interaction[PHASE_FIELD] == self.current_phase()
        if not rows.any():
            return sum(parameter.sum() for parameter in self.parameters()) * 0.0
        return super().calculate_loss(interaction[rows])
