"""The recommendation API: top-k out of a trained RecBole or recbole_ext model.

::

    from recbole_ext.recommend import Recommender

    rec = Recommender.from_checkpoint("saved/WALS-....pth")
    rec.recommend(["196", "186"], k=10)              # DataFrame: user, rank, item, score[, movie_title]
    rec.recommend(k=10)                               # every user, scored in chunks
    rec.similar_items(["50"], k=10)                   # models with item vectors
    rec.recommend_for_history(["50", "172", "133"])   # sequential models: a new session
    rec.rank("196", ["50", "172", "1"])               # any model, context models with their features
    rec.export("export/")                             # dot-product models: vectors + id maps

Ids are the dataset's external ids (strings; numbers are accepted and read
as their text). A user's recommendations come from their complete history
in the dataset (every interaction, not an evaluation split's part of it).
"""

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbole_ext.recommend.errors import RecommendError, UnknownIdError
from recbole_ext.recommend.families import event_time_fields, family_of
from recbole_ext.recommend.history import EventLog
from recbole_ext.recommend.loading import read_checkpoint, rebuild
from recbole_ext.recommend.topk import chunked_top_k, exclude, first_valid

#: item fields read as the item's name, first found
NAME_FIELDS = ("movie_title", "title", "item_name", "name")
_NEW_USER_HINT = "; for a new user pass their history (recommend_for_history, run.py --history=...)"
#: extra rows an ANN search fetches per query beyond k and the items it must skip
_ANN_MARGIN = 10


class IdMap:
    """External <-> internal ids of one token field (internal id 0 is RecBole's padding)."""

    def __init__(self, dataset, field, kind, hint=""):
        self.tokens = np.asarray(dataset.field2id_token[field])
        self.index = dataset.field2token_id[field]
        self.kind = kind
        self.dataset_name = dataset.dataset_name
        self.hint = hint

    def __len__(self):
        return len(self.tokens)

    def internal(self, ids):
        """Internal ids of external ``ids``; the first unknown one raises :class:`UnknownIdError`."""
        internal = np.empty(len(ids), dtype=np.int64)
        for position, external in enumerate(ids):
            value = self.index.get(str(external), 0)
            if value == 0:
                raise UnknownIdError(self.kind, external, self.dataset_name, self.hint)
            internal[position] = value
        return internal

    def external(self, internal):
        return self.tokens[internal]


def _as_list(ids):
    if ids is None:
        return None
    if isinstance(ids, (str, int, np.integer)):
        return [ids]
    return list(ids)


def read_item_names(config, dataset):
    """``(field, names)``: each internal item id's name from the dataset's ``.item`` file, or ``(None, None)``."""
    path = Path(config["data_path"]) / f"{config['dataset']}.item"
    if not path.is_file():
        return None, None
    separator = config["field_separator"]
    header = path.open(encoding=config["encoding"]).readline().rstrip("\n\r").split(separator)
    columns = {column.split(":")[0]: column for column in header}
    field = next((name for name in NAME_FIELDS if name in columns), None)
    id_column = columns.get(dataset.iid_field)
    if field is None or id_column is None:
        return None, None
    table = pd.read_csv(path, sep=separator, usecols=[id_column, columns[field]], dtype=str, quoting=3,
                        encoding=config["encoding"], keep_default_na=False)
    names = np.full(dataset.item_num, "", dtype=object)
    index = dataset.field2token_id[dataset.iid_field]
    internal = table[id_column].map(index)
    known = internal.notna().to_numpy()
    names[internal[known].astype(np.int64).to_numpy()] = table[columns[field]].to_numpy()[known]
    return field, names


class Recommender:
    """A trained model ready to recommend, with its dataset's id maps and histories.

    Build it with :meth:`from_checkpoint`. Methods are safe to call from
    several threads at once (the model is only read; lazily built indexes are
    built under a lock).
    """

    def __init__(self, config, dataset, model, log, model_file=None):
        self.config = config
        self.dataset = dataset
        self.model = model
        self.log = log
        self.model_file = model_file
        self.family = family_of(model, dataset, log, config)
        self.users = IdMap(dataset, dataset.uid_field, "user", _NEW_USER_HINT)
        self.items = IdMap(dataset, dataset.iid_field, "item")
        self.name_field, self.item_names = read_item_names(config, dataset)
        self._lock = threading.Lock()
        self._indexes = {}

    @classmethod
    def from_checkpoint(cls, model_file, data_path=None):
        """Load a RecBole checkpoint (``saved/<Model>-....pth``) and rebuild what scoring needs.

        Args:
            model_file (str): checkpoint written by RecBole's trainer.
            data_path (str): folder holding the dataset's folder, when it moved
                since training (default: the checkpoint's ``data_path``).
        """
        checkpoint = read_checkpoint(model_file)
        return cls(*rebuild(checkpoint, model_file, data_path), model_file=str(model_file))

    # ----------------------------------------------------------------- facts
    @property
    def model_name(self):
        return self.config["model"]

    @property
    def dataset_name(self):
        return self.config["dataset"]

    @property
    def kind(self):
        """``general``, ``sequential`` or ``context``."""
        return self.family.kind

    def known_users(self):
        """Internal ids of users with at least one interaction."""
        return np.flatnonzero(self.log.lengths(np.arange(len(self.users))) > 0)

    def has_vectors(self):
        """Whether the model's scores are a dot product of user (query) and item vectors."""
        return self.family.tower() is not None

    # ----------------------------------------------------------------- top-k
    @torch.no_grad()
    def recommend(self, users=None, k=10, filter_seen=True, items=None, batch_size=None, ann=False, at=None):
        """Top-``k`` items for each user, from the user's complete history.

        Args:
            users: external user id(s); None: every user with an interaction.
            k (int): items per user.
            filter_seen (bool): leave out every item the user interacted with.
            items: external ids of the only items that may be recommended (default: all).
            batch_size (int): users scored at once (default: a block of about
                4M scores); peak memory follows it.
            ann (bool or str): search a faiss index of item vectors instead of
                scoring every item (dot-product models, needs faiss): True or
                ``"hnsw"``, ``"hnsw_l2"`` or ``"exact"`` (see :mod:`recbole_ext.ann`).
            at (float): time of the request (sequential and context models that
                read time; default: the time of the user's last event).

        Returns:
            pandas.DataFrame: ``user, rank, item, score`` (and the item's name
            field when the dataset has one), ``k`` rows per user, best first.
        """
        _check_k(k)
        rows = self.known_users() if users is None else self._user_rows(_as_list(users))
        allowed = self._allowed(items)
        chunk = batch_size or self.family.rows_per_chunk()

        def query(start, stop):
            return self.family.query(rows[start:stop], at=at)

        if ann:
            kind = "hnsw" if ann is True else ann
            scores, labels = self._ann_top_k(kind, rows, k, chunk, query, self.log if filter_seen else None, allowed)
        else:
            scores, labels = chunked_top_k(
                len(rows), k, chunk,
                lambda start, stop: self._excluded_scores(query(start, stop), self.log, rows[start:stop],
                                                          filter_seen, allowed),
            )
        return self._frame({"user": self.users.external(rows)}, scores, labels)

    @torch.no_grad()
    def recommend_for_history(self, items, timestamps=None, feedback=None, k=10, filter_seen=True,
                              candidates=None, at=None):
        """Top-``k`` for an anonymous or new user's session, without retraining (sequential models).

        Args:
            items: external item ids of the session, oldest first.
            timestamps: one time per event in the dataset's units (default: the dataset's mean time).
            feedback: values of the dataset's rating field, one per event, or a
                dict field -> values (default: the dataset's mean of each field).
            k (int): items returned.
            filter_seen (bool): leave out the session's items.
            candidates: external ids of the only items that may be recommended.
            at (float): time of the request (default: the last event's time).

        Returns:
            pandas.DataFrame: ``rank, item, score`` (and the name field).
        """
        _check_k(k)
        self._require_sessions("recommend_for_history")
        log = self._session_log(_as_list(items), timestamps, feedback)
        query = self.family.query([0], log=log, users=[0], at=at)
        allowed = self._allowed(candidates)
        scores = self._excluded_scores(query, log, np.array([0]), filter_seen, allowed)
        values, labels = chunked_top_k(1, k, 1, lambda start, stop: scores)
        return self._frame({}, values, labels)

    @torch.no_grad()
    def similar_items(self, items, k=10):
        """The ``k`` items whose vectors have the largest cosine similarity with each item's (itself left out).

        Returns:
            pandas.DataFrame: ``item, rank, similar_item, score`` (and the name field of ``similar_item``).
        """
        _check_k(k)
        rows = self.items.internal(_as_list(items))
        vectors = torch.nn.functional.normalize(self._tower("similar_items").item_vectors(), dim=1)
        scores = vectors[torch.from_numpy(rows)] @ vectors.T
        scores[torch.arange(len(rows)), torch.from_numpy(rows)] = float("-inf")
        values, labels = chunked_top_k(len(rows), k, max(1, len(rows)), lambda start, stop: exclude(scores))
        return self._frame({"item": self.items.external(rows)}, values, labels, item_column="similar_item")

    @torch.no_grad()
    def rank(self, user, candidates, context=None, at=None):
        """``candidates`` ordered by the model's score for ``user`` (every model family).

        Context models (Wukong, DeepFM, ...) score each pair with the user's and
        the item's features; interaction-level fields (time, context) are the
        user's last interaction's unless given in ``context`` (field -> value).
        """
        row = self._user_rows([user])
        columns = self.items.internal(_as_list(candidates))
        if context and self.kind != "context":
            raise RecommendError(f"context applies to context models; {self.model_name} is a {self.kind} model")
        query = self.family.query(row, at=at, context=context)
        scores = self.family.scores(query, torch.from_numpy(columns))[0].cpu().numpy()
        order = np.argsort(-scores, kind="stable")
        return self._frame({"user": self.users.external(row)}, scores[order][None], columns[order][None])

    # ----------------------------------------------------------------- vectors
    @torch.no_grad()
    def item_vectors(self):
        """``(item ids, [n, D] float32)``: every item's vector (dot-product models)."""
        vectors = self._tower("item vectors").item_vectors()[1:]
        return self.items.external(np.arange(1, len(self.items))), vectors.cpu().numpy()

    @torch.no_grad()
    def user_vectors(self, users=None, batch_size=None):
        """``(user ids, [n, D] float32)``: each user's query vector after their complete history.

        ``user_vectors . item_vectors`` are the model's scores (dot-product models).
        """
        tower = self._tower("user vectors")
        rows = self.known_users() if users is None else self._user_rows(_as_list(users))
        chunk = batch_size or self.family.rows_per_chunk()
        parts = [tower.query_vectors(self.family.query(rows[start:start + chunk])).cpu().numpy()
                 for start in range(0, len(rows), chunk)]
        return self.users.external(rows), np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def export(self, directory, batch_size=None):
        """Write user vectors, item vectors and id maps to ``directory`` (see :mod:`.export`)."""
        from recbole_ext.recommend.export import export

        self._tower("export")
        return export(self, directory, batch_size=batch_size)

    # ----------------------------------------------------------------- internals
    def _user_rows(self, users):
        rows = self.users.internal(users)
        empty = rows[self.log.lengths(rows) == 0]
        if len(empty):
            raise RecommendError(f"user '{self.users.external(empty[0])}' has no interaction to recommend from")
        return rows

    def _allowed(self, items):
        if items is None:
            return None
        allowed = torch.zeros(len(self.items), dtype=torch.bool)
        allowed[torch.from_numpy(self.items.internal(_as_list(items)))] = True
        return allowed

    def _excluded_scores(self, query, log, rows, filter_seen, allowed):
        scores = self.family.scores(query)
        seen = log.seen(rows) if filter_seen else (None, None)
        return exclude(scores, *seen, allowed=allowed)

    def _require_sessions(self, what):
        if not self.family.takes_sessions:
            raise RecommendError(
                f"{what} needs a sequential model; {self.model_name} is a {self.kind} model, "
                "which scores the dataset's users only"
            )

    def _tower(self, what):
        tower = self.family.tower()
        if tower is None:
            raise RecommendError(
                f"{what}: {self.model_name}'s scores are not a dot product of user and item vectors "
                "(no vectors of it reproduce its full-sort scores)"
            )
        return tower

    def _session_log(self, items, timestamps, feedback):
        """An :class:`EventLog` of one session: the given fields, the dataset's defaults for the others."""
        if not items:
            raise RecommendError("the history is empty: give at least one item")
        internal = torch.from_numpy(self.items.internal(items))
        fields = {}
        for name, default in self.log.defaults().items():
            fields[name] = default.expand((len(internal),) + default.shape).clone()
        fields[self.dataset.iid_field] = internal
        given = dict(feedback) if isinstance(feedback, dict) else {}
        if feedback is not None and not isinstance(feedback, dict):
            if self.config["RATING_FIELD"] not in fields:
                raise RecommendError(f"feedback: dataset {self.dataset_name} has no rating field "
                                     f"'{self.config['RATING_FIELD']}' (give a dict field -> values)")
            given[self.config["RATING_FIELD"]] = feedback
        if timestamps is not None:
            time_field, *copies = event_time_fields(self.dataset)
            given[time_field] = timestamps  # a dataset without one says so (_session_field)
            given.update({copy: timestamps for copy in copies if copy in fields})
        for name, values in given.items():
            fields[name] = self._session_field(name, values, fields, len(internal))
        return EventLog.of_session(fields, self.dataset.iid_field)

    def _session_field(self, name, values, fields, length):
        if name not in fields or name == self.dataset.iid_field:
            raise RecommendError(f"unknown event field '{name}'; the dataset's events have: "
                                 f"{', '.join(f for f in fields if f != self.dataset.iid_field)}")
        values = list(values)
        if len(values) != length:
            raise RecommendError(f"{name} has {len(values)} values for {length} items: give one per item")
        return torch.tensor(values, dtype=fields[name].dtype)

    def _ann_index(self, kind):
        """Index of ``kind`` over every real item's vector (built once)."""
        from recbole_ext.ann import KINDS, ItemIndex

        if kind not in KINDS:
            raise RecommendError(f"unknown ann index '{kind}'; valid: True, {', '.join(KINDS)}")
        with self._lock:
            if kind not in self._indexes:
                vectors = self.family.tower().item_vectors()[1:].cpu().numpy()
                self._indexes[kind] = ItemIndex(vectors, labels=np.arange(1, len(self.items)), kind=kind)
            return self._indexes[kind]

    def _ann_top_k(self, kind, rows, k, chunk, query, seen_log, allowed):
        """Top-k from a faiss index: fetch enough to skip each user's seen items, then drop them."""
        tower = self._tower("ann")
        index = self._ann_index(kind)
        allowed_rows = None if allowed is None else np.flatnonzero(allowed.numpy()[1:])
        scores, labels = [], []
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            extra = int(seen_log.lengths(part).max()) if seen_log is not None else 0
            fetch = min(len(index), k + extra + _ANN_MARGIN)
            values, found = index.search(tower.query_vectors(query(start, start + len(part))).cpu().numpy(),
                                         fetch, allowed_rows)
            items = np.where(found >= 0, index.labels[np.maximum(found, 0)], 0)
            valid = found >= 0
            if seen_log is not None:
                positions, seen = seen_log.seen(part)
                mask = np.zeros((len(part), len(self.items)), dtype=bool)
                mask[positions.numpy(), seen.numpy()] = True
                valid &= ~mask[np.arange(len(part))[:, None], items]
            kept = first_valid(values, items, valid, k)
            scores.append(kept[0])
            labels.append(kept[1])
        return np.concatenate(scores), np.concatenate(labels)

    def _frame(self, keys, scores, labels, item_column="item"):
        """Long DataFrame of ``[n, k]`` results; cells at ``-inf`` (nothing to recommend) are dropped."""
        n, k = scores.shape
        valid = np.isfinite(scores).ravel()
        columns = {name: np.repeat(values, k)[valid] for name, values in keys.items()}
        columns["rank"] = np.tile(np.arange(1, k + 1), n)[valid]
        columns[item_column] = self.items.external(labels.ravel()[valid])
        columns["score"] = scores.ravel()[valid]
        if self.item_names is not None:
            columns[self.name_field] = self.item_names[labels.ravel()[valid]]
        return pd.DataFrame(columns)


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise RecommendError(f"k must be a positive integer, got {k!r}")
