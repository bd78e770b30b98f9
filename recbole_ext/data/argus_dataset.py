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
chunks of ``MAX_ITEM_LIST_LENGTH`` events, at each of ``chunk_cuts`` places
(cutting ``c`` first sets the newest ``c x MAX_ITEM_LIST_LENGTH / chunk_cuts``
events of a history longer than one chunk apart as one chunk; a history that
fits one chunk is that chunk in every cutting); a row's ``CUT_FIELD`` says which cutting it
belongs to, and ARGUS's trainer trains one cutting an epoch, in turn, so every
training event is a target once an epoch, after other events each epoch. With ``pack_training_rows`` the
chunks are packed, several per row, into rows of ``MAX_ITEM_LIST_LENGTH``
slots (best-fit decreasing); a row's ``SEGMENT_FIELD`` numbers its chunks
so the model can keep each to itself (block-diagonal causal attention,
positions restarting per chunk; Krell et al., "Efficient Sequence Packing
without Cross-contamination", arXiv 2107.02027, 2021). Without packing a row
holds one chunk and short histories leave most of a row as padding.

ARGUS reads event times from its own copy of the time field,
``<time field>_seconds`` (:func:`seconds_field_of`), in raw units and in
float64: RecBole stores float fields as float32, which rounds Unix times
to 64-128 seconds, so gaps inside a rating session would vanish, and it may
min-max scale the time field (``normalize_all``). The time field itself is
left to RecBole, so events are ordered, and the data split, exactly as for
SASRec or LightSANs under the same config (events in one float32 time step
keep the file's order, for every model alike).

Fields a setting needs are checked when the files are read, each missing one
in one line that names the setting, the field and the two ways out (load it,
or switch the setting off): the time field for ``time_context`` and
``absolute_time_context`` (without either, a time field that ``load_col``
leaves out is replaced by the events' order in the file), every entry of
``feedback_fields``, and the item file and its fields for
``item_feature_fields`` and ``item_text_fields``.
"""

import os

import numpy as np
import torch

from recbole.data.dataset import SequentialDataset
from recbole.data.interaction import Interaction, cat_interactions
from recbole.utils import FeatureSource, FeatureType

#: training-row field numbering the chunks packed into a row (1, 2, ...; 0 = padding)
SEGMENT_FIELD = "argus_segment_list"
#: training-row field: which of the ``chunk_cuts`` cuttings of the histories a row belongs to (0, 1, ...)
CUT_FIELD = "argus_cut"
#: settings that name item fields (read from the item file by item id)
ITEM_FIELD_KEYS = ("item_feature_fields", "item_text_fields")


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


def pack_chunks(lengths, capacity):
    """Best-fit decreasing packing of chunks into rows of ``capacity`` slots.

    Each chunk (longest first) goes to the open row whose free space fits it
    most tightly, or to a new row.

    Returns:
        tuple of np.ndarray: ``(row, offset, segment)`` per chunk: its row,
        its first slot in that row, and its 1-based number within the row.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and (lengths.max() > capacity or lengths.min() < 1):
        raise ValueError(f"chunk lengths must be in [1, {capacity}], got {lengths.min()}..{lengths.max()}")
    rows_by_free_space = [[] for _ in range(capacity + 1)]
    used, count = [], []
    row, offset, segment = (np.empty(len(lengths), dtype=np.int64) for _ in range(3))
    for chunk in np.argsort(-lengths, kind="stable"):
        length = lengths[chunk]
        target = next((rows_by_free_space[f].pop() for f in range(length, capacity + 1) if rows_by_free_space[f]), None)
        if target is None:
            target = len(used)
            used.append(0)
            count.append(0)
        row[chunk], offset[chunk] = target, used[target]
        used[target] += length
        count[target] += 1
        segment[chunk] = count[target]
        if used[target] < capacity:
            rows_by_free_space[capacity - used[target]].append(target)
    return row, offset, segment


def _file_fields(path):
    """Field names in an atomic file's header (``name:type`` columns), ``[]`` without the file."""
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").lstrip("\ufeff")
    return [column.split(":")[0] for column in header.split("\t") if column]


def seconds_field_of(time_field):
    """ARGUS's float64 copy of the time field, in the field's raw units."""
    return f"{time_field}_seconds"


def time_settings_on(config):
    """The settings on in ``config`` that read the time field."""
    return [key for key in ("time_context", "absolute_time_context") if config[key]]


class ARGUSDataset(SequentialDataset):
    """RecBole's :class:`SequentialDataset` with chunked one-pass training samples.

    It also keeps the feedback fields named in ``feedback_fields`` in their
    raw units (``normalize_all`` would min-max scale them), so feedback
    thresholds are written in the field's own units (e.g. ``rating >= 4``),
    and adds :attr:`seconds_field`, the times hour of day, day of week and
    gaps are read from (module docstring).
    """

    @property
    def seconds_field(self):
        return None if self.time_field is None else seconds_field_of(self.time_field)

    def _load_data(self, token, dataset_path):
        super()._load_data(token, dataset_path)
        self._check_time_field(token)
        self._check_feedback_fields(token, dataset_path)
        self._check_item_feature_fields(token, dataset_path)
        self._add_seconds_field()

    def _add_seconds_field(self):
        if self.time_field is None or self.time_field not in self.inter_feat.columns:
            return
        self.inter_feat[self.seconds_field] = self.inter_feat[self.time_field].astype(np.float64)
        self.set_field_property(self.seconds_field, FeatureType.FLOAT, FeatureSource.INTERACTION, 1)

    def _dataframe_to_interaction(self, data):
        interaction = super()._dataframe_to_interaction(data)
        if self.seconds_field in data:
            interaction.interaction[self.seconds_field] = torch.from_numpy(data[self.seconds_field].to_numpy(np.float64))
        return interaction

    def _loaded_inter_fields(self):
        return ", ".join(self.inter_feat.columns)

    def _check_time_field(self, token):
        """A time field that is not loaded: one line when a setting reads it, else the file order."""
        field = self.time_field
        if field is None or field in self.inter_feat.columns:
            return
        settings = time_settings_on(self.config)
        if settings:
            offs = ", ".join(f"{key}: False" for key in settings)
            raise ValueError(
                f"{' and '.join(settings)} {'need' if len(settings) > 1 else 'needs'} the time field '{field}', "
                f"which dataset '{token}' does not load (loaded interaction fields: {self._loaded_inter_fields()}): "
                f"load it (add '{field}' to load_col: inter) or switch {'them' if len(settings) > 1 else 'it'} off ({offs})"
            )
        # nothing reads the time: the events keep the order of the file (a user's sequence as written)
        self.inter_feat[field] = np.arange(len(self.inter_feat), dtype=np.float64)
        self.set_field_property(field, FeatureType.FLOAT, FeatureSource.INTERACTION, 1)
        self.logger.info(f"ARGUS: time field '{field}' not loaded; events keep the order of {token}.inter")

    def _check_feedback_fields(self, token, dataset_path):
        for field in self.config["feedback_fields"] or {}:
            if field in self.inter_feat.columns:
                continue
            in_file = field in _file_fields(os.path.join(dataset_path, f"{token}.inter"))
            load = f"load it (add '{field}' to load_col: inter)" if in_file else f"add it to {token}.inter"
            raise ValueError(
                f"feedback_fields entry '{field}' is not a loaded interaction field of dataset '{token}' "
                f"(loaded: {self._loaded_inter_fields()}): {load} or switch feedback off "
                "(feedback_fields: {}, feedback_loss_weights: {})"
            )

    def _check_item_feature_fields(self, token, dataset_path):
        for key in ITEM_FIELD_KEYS:
            self._check_item_fields(key, list(self.config[key] or []), token, dataset_path)

    def _check_item_fields(self, key, fields, token, dataset_path):
        if not fields:
            return
        path = os.path.join(dataset_path, f"{token}.item")
        in_file = _file_fields(path)
        if self.item_feat is None:
            where = (
                f"load_col does not load {token}.item (its fields: {', '.join(in_file)}): add 'item: [{self.iid_field}, "
                f"{', '.join(fields)}]' to load_col"
                if in_file
                else f"dataset '{token}' has no item file ({path})"
            )
            raise ValueError(f"{key} ({', '.join(fields)}) needs item features: {where}, or set {key}: []")
        for field in fields:
            if field in self.item_feat.columns and field != self.iid_field:
                kind = self.field2type[field]
                if kind not in (FeatureType.TOKEN, FeatureType.TOKEN_SEQ):
                    raise ValueError(
                        f"{key} entry '{field}' is a {kind.value} field of {token}.item; "
                        "it must be a token or token_seq field"
                    )
                continue
            available = [f for f in in_file if f != self.iid_field]
            hint = f"; add it to load_col: item" if field in in_file else ""
            raise ValueError(
                f"{key} entry '{field}' is not an item field of dataset '{token}' "
                f"(item fields in {token}.item: {', '.join(available) or 'none'}){hint}"
            )

    def _fields_kept_raw(self):
        fields = set(self.config["feedback_fields"] or {})
        if self.seconds_field is not None:
            fields.add(self.seconds_field)
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

    def _chunk_cuts(self):
        cuts = self.config["chunk_cuts"]
        if cuts > self.max_item_list_len:
            raise ValueError(
                f"chunk_cuts ({cuts}) must be at most MAX_ITEM_LIST_LENGTH ({self.max_item_list_len}): "
                "the cuttings of a history are that many events apart at least"
            )
        return cuts

    def _training_chunks(self, train_split):
        """Training rows of every cutting (``chunk_cuts``), each row tagged with its cutting in ``CUT_FIELD``."""
        user_starts, history_lengths = self._training_history_lengths(train_split)
        cuts = self._chunk_cuts()
        parts = []
        # a history that fits one chunk stays whole in every cutting: cutting it would only hide its own
        # events from its targets (at a 200-event window that took the rows' validation from 0.091 to 0.080)
        longer_than_a_chunk = history_lengths > self.max_item_list_len
        for cut in range(cuts):
            newest = np.where(longer_than_a_chunk, cut * self.max_item_list_len // cuts, 0)
            # each history in two spans: the events before its newest `newest` ones, and those
            rows = self._chunk_rows(
                np.concatenate([user_starts, user_starts + history_lengths - newest]),
                np.concatenate([history_lengths - newest, newest]),
            )
            rows.update(Interaction({CUT_FIELD: torch.full((len(rows),), cut, dtype=torch.long)}))
            parts.append(rows)
        return parts[0] if cuts == 1 else cat_interactions(parts)

    def _chunk_rows(self, span_starts, span_lengths):
        """Training rows: every non-overlapping chunk of every span of events (each cut from its most
        recent end), one per row or packed several per row (``pack_training_rows``)."""
        max_len = self.max_item_list_len
        spans, starts, lengths = chunk_bounds(span_lengths, max_len)
        first_event = span_starts[spans] + starts
        if self.config["pack_training_rows"]:
            row, offset, segment = pack_chunks(lengths, max_len)
        else:
            row, offset, segment = np.arange(len(lengths)), np.zeros_like(lengths), np.ones_like(lengths)
        n_rows = int(row.max()) + 1 if len(row) else 0

        # every training event once: chunk c's k-th event goes to slot offset[c] + k of row[c]
        chunk_of_event = np.repeat(np.arange(len(lengths)), lengths)
        within = np.arange(len(chunk_of_event)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        slot = (row[chunk_of_event], offset[chunk_of_event] + within)
        event_index = np.zeros((n_rows, max_len), dtype=np.int64)
        event_index[slot] = first_event[chunk_of_event] + within
        segments = np.zeros((n_rows, max_len), dtype=np.int64)
        segments[slot] = segment[chunk_of_event]
        present = torch.from_numpy(segments > 0)
        event_index = torch.from_numpy(event_index)
        first_of_row = first_event[np.flatnonzero(segment == 1)[np.argsort(row[segment == 1])]]

        chunks = {
            self.uid_field: self._events[self.uid_field][torch.from_numpy(first_of_row)],
            self.item_list_length_field: present.sum(1),
            SEGMENT_FIELD: torch.from_numpy(segments),
        }
        for field in self._events.columns:
            if field == self.uid_field:
                continue
            values = self._events[field][event_index]
            mask = present.view(present.shape + (1,) * (values.dim() - 2))
            chunks[getattr(self, f"{field}_list_field")] = torch.where(mask, values, torch.zeros_like(values))
        return Interaction(chunks)
