"""ARGUS with every user's chunks cut at a random place every epoch (issue 16, item 1).

``chunk_cuts`` rotates one cutting of all histories per epoch, at ``chunk_cuts`` fixed places. This probe
draws, every epoch and for every user on its own, how many of the newest events form the newest chunk
(uniform in ``0 .. MAX_ITEM_LIST_LENGTH - 1``) and rebuilds the training rows from that: every training event
is still a target exactly once an epoch, after earlier events that change from epoch to epoch and differ
between users, at one pass's compute (plus rebuilding the rows, once an epoch).
"""

import numpy as np

from recbole_ext.data.argus_dataset import ARGUSDataset
from recbole_ext.model.argus import ARGUS, ARGUSTrainer


class ARGUSUserShiftsDataset(ARGUSDataset):
    """ARGUS's dataset that can cut its training histories again at random places per user."""

    def _chunk_cuts(self):
        return 1

    def _training_chunks(self, train_split):
        self._history_spans = self._training_history_lengths(train_split)
        return super()._training_chunks(train_split)

    def build(self):
        datasets = super().build()
        datasets[0]._history_spans = self._history_spans
        return datasets

    def epoch_rows(self, epoch):
        """Training rows with each user's newest chunk holding a random number of its newest events."""
        user_starts, history_lengths = self._history_spans
        draw = np.random.default_rng([self.config["seed"], epoch])
        newest = np.minimum(draw.integers(0, self.max_item_list_len, len(history_lengths)), history_lengths)
        return self._chunk_rows(
            np.concatenate([user_starts, user_starts + history_lengths - newest]),
            np.concatenate([history_lengths - newest, newest]),
        )


class ARGUSUserShiftsTrainer(ARGUSTrainer):
    """ARGUS's trainer on the rows :meth:`ARGUSUserShiftsDataset.epoch_rows` builds for each epoch."""

    def _epoch_rows(self, train_data, epoch_idx):
        dataset = train_data._dataset
        loader = type(train_data)(self.config, dataset.copy(dataset.epoch_rows(epoch_idx)), train_data._sampler, shuffle=True)
        loader.generator.manual_seed(self.config["seed"] + epoch_idx)
        return loader


class ARGUSUserShifts(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), its chunks cut anew for every user every epoch."""

    config_bases = ("ARGUS",)
    dataset_class = ARGUSUserShiftsDataset
    trainer_class = ARGUSUserShiftsTrainer
