"""Dataset for ARGUS's one-pass autoregressive training.

ARGUS (Khrylchenko et al., "Scaling Recommender Transformers to One Billion
Parameters", arXiv 2507.15994) computes its losses at every position of a
user history in a single causal transformer pass, so a training sample is a
whole stretch of history, not one (prefix, next item) pair. Pre-training
histories are cut into non-overlapping chunks of the maximum history length.

:class:`ARGUSDataset` keeps RecBole's sequential pipeline (filtering,
remapping, prefix augmentation, time-ordered split) so validation and test
samples are exactly those SASRec or LightSANs see, and then replaces the
training split: each user's training events (every event before the user's
first validation or test target) are cut, from the most recent end, into
chunks of ``MAX_ITEM_LIST_LENGTH`` events, one training sample per chunk.
"""

import numpy as np
import torch

from recbole.data.dataset import SequentialDataset
from recbole.data.interaction import Interaction


def chunk_bounds(history_lengths, chunk_length):
    """Start offsets (within each history) and lengths of every chunk.

    A history of ``n`` events becomes ``ceil(n / chunk_length)`` chunks cut
    from its most recent end, so only the oldest chunk may be short.

    Returns:
        tuple of np.ndarray: ``(row, start, length)`` per chunk, where ``row``
        indexes ``history_lengths``.
    """
    history_lengths = np.asarray(history_lengths, dtype=np.int64)
    counts = -(-history_lengths // chunk_length)
    rows = np.repeat(np.arange(len(history_lengths)), counts)
    # rank of each chunk counted from the most recent one (0 = newest)
    first_of_row = np.repeat(np.cumsum(counts) - counts, counts)
    rank_from_end = np.arange(len(rows)) - first_of_row
    ends = history_lengths[rows] - rank_from_end * chunk_length
    starts = np.maximum(ends - chunk_length, 0)
    return rows, starts, ends - starts


class ARGUSDataset(SequentialDataset):
    """RecBole's :class:`SequentialDataset` with chunked one-pass training samples.

    It also keeps the time field and the feedback fields named in
    ``feedback_fields`` in their raw units (``normalize_all`` would min-max
    scale them), so feedback thresholds are written in the field's own units
    (e.g. ``rating >= 4``) and hour of day / day of week can be read from
    the timestamp.
    """

    def _fields_kept_raw(self):
        fields = set(self.config["feedback_fields"] or {})
        if self.time_field is not None:
            fields.add(self.time_field)
        return [field for field in fields if field in self.inter_feat]

    def _normalize(self):
        raw = {field: self.inter_feat[field].copy() for field in self._fields_kept_raw()}
        super()._normalize()
        for field, values in raw.items():
            self.inter_feat[field] = values

    def data_augmentation(self):
        self._check_field("uid_field", "time_field")
        self.sort(by=[self.uid_field, self.time_field], ascending=True)
        # the (user, time)-sorted events, before prefix augmentation replaces them
        self._events = self.inter_feat[np.arange(len(self.inter_feat))]
        super().data_augmentation()

    def build(self):
        datasets = super().build()
        datasets[0] = datasets[0].copy(self._training_chunks(datasets[0]))
        return datasets

    def _training_history_lengths(self, train_split):
        """Per user (in event order): number of events before its first held-out target.

        RecBole sorts stably by time, so a user's ``k`` training samples are
        its ``k`` earliest targets, i.e. events ``1..k``; with event ``0``
        (never a target) the training history is the first ``k + 1`` events.
        """
        users = self._events[self.uid_field].numpy()
        boundaries = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        user_ids = users[boundaries]
        train_counts = np.bincount(train_split.inter_feat[self.uid_field].numpy(), minlength=users.max() + 1)
        return boundaries, train_counts[user_ids] + 1

    def _training_chunks(self, train_split):
        """One sample per non-overlapping chunk of every user's training history."""
        max_len = self.max_item_list_len
        user_starts, history_lengths = self._training_history_lengths(train_split)
        rows, starts, lengths = chunk_bounds(history_lengths, max_len)
        first_event = user_starts[rows] + starts
        offsets = np.arange(max_len)
        present = offsets[None, :] < lengths[:, None]
        event_index = torch.from_numpy(np.where(present, first_event[:, None] + offsets[None, :], 0))
        present = torch.from_numpy(present)

        chunks = {
            self.uid_field: self._events[self.uid_field][torch.from_numpy(first_event)],
            self.item_list_length_field: torch.from_numpy(lengths),
        }
        for field in self._events.columns:
            if field == self.uid_field:
                continue
            values = self._events[field][event_index]
            mask = present.view(present.shape + (1,) * (values.dim() - 2))
            chunks[getattr(self, f"{field}_list_field")] = torch.where(mask, values, torch.zeros_like(values))
        return Interaction(chunks)
