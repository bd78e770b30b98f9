"""Every user's complete history, in time order, and the windows models read from it.

RecBole's sequential datasets replace their interactions by prefix samples
(``data_augmentation``) and split them for evaluation, so neither holds "all
of this user's events" any more. :class:`EventLog` keeps them: every
interaction of the dataset (after RecBole's filtering and id remapping),
grouped by user in time order, in a CSR layout (``pointers[u]`` to
``pointers[u + 1]``), with all its fields (item, time, rating, context ...)
in the dataset's own units.
"""

import numpy as np
import torch


class EventLog:
    """Events grouped by row (a user, or one anonymous session) in time order.

    Args:
        fields (dict): field name -> tensor of ``n_events`` values (or rows of
            values), already grouped by row and in time order.
        pointers (np.ndarray): ``n_rows + 1`` offsets of each row's events.
        item_field (str): name of the item id field.
    """

    def __init__(self, fields, pointers, item_field):
        self.fields = fields
        self.pointers = np.asarray(pointers, dtype=np.int64)
        self.item_field = item_field

    @classmethod
    def from_interactions(cls, interactions, user_field, item_field, time_field, n_users):
        """The log of a RecBole ``Interaction`` of events (any order)."""
        users = interactions[user_field].numpy()
        keys = (users,) if time_field not in interactions else (interactions[time_field].numpy(), users)
        order = torch.from_numpy(np.lexsort(keys))
        fields = {name: interactions[name][order] for name in interactions.columns if name != user_field}
        counts = np.bincount(users, minlength=n_users)
        return cls(fields, np.concatenate([[0], np.cumsum(counts)]), item_field)

    @classmethod
    def of_session(cls, fields, item_field):
        """A log of one row: an anonymous session given as field -> 1-d tensor."""
        return cls(fields, [0, len(fields[item_field])], item_field)

    @property
    def n_rows(self):
        return len(self.pointers) - 1

    def lengths(self, rows):
        rows = np.asarray(rows)
        return self.pointers[rows + 1] - self.pointers[rows]

    def _event_index(self, rows, keep=None):
        """``(row position, event index)`` of the events of ``rows``; only the last ``keep`` of each row if given."""
        rows = np.asarray(rows)
        ends = self.pointers[rows + 1]
        starts = self.pointers[rows] if keep is None else np.maximum(self.pointers[rows], ends - keep)
        lengths = ends - starts
        positions = np.repeat(np.arange(len(rows)), lengths)
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)
        return positions, np.arange(lengths.sum()) - first + np.repeat(starts, lengths), lengths

    def items(self, row):
        """Item ids of one row's events, oldest first."""
        return self.fields[self.item_field][self.pointers[row] : self.pointers[row + 1]]

    def seen(self, rows):
        """``(row position, item id)`` tensors of every item the ``rows`` interacted with."""
        positions, events, _ = self._event_index(rows)
        return torch.from_numpy(positions), self.fields[self.item_field][torch.from_numpy(events)]

    def window(self, rows, width):
        """The last ``width`` events of each row, left-aligned and zero-padded.

        Returns:
            tuple: ``(lists, lengths, last)``: field -> ``[len(rows), width, ...]``
            tensor, ``[len(rows)]`` event counts (at most ``width``), and
            field -> ``[len(rows), ...]`` values of each row's most recent event.
        """
        positions, events, lengths = self._event_index(rows, keep=width)
        offsets = np.arange(len(events)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        at = (torch.from_numpy(positions), torch.from_numpy(offsets))
        last = torch.from_numpy(self.pointers[np.asarray(rows) + 1] - 1).clamp_min(0)
        lists = {}
        for name, values in self.fields.items():
            padded = values.new_zeros((len(rows), width) + values.shape[1:])
            padded[at] = values[torch.from_numpy(events)]
            lists[name] = padded
        return lists, torch.from_numpy(lengths), {name: values[last] for name, values in self.fields.items()}

    def defaults(self):
        """A value per field for events whose field is not given: the mean of float fields, 0 (padding) for tokens."""
        return {
            name: values.float().mean(0).to(values.dtype) if values.is_floating_point() else values.new_zeros(values.shape[1:])
            for name, values in self.fields.items()
        }
