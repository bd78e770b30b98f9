"""How each family of models is asked for scores and, where they exist, for vectors.

Every model-specific rule of the recommendation API lives here:

* :class:`GeneralFamily` (WALS, HybridRoBERTa, BPR, LightGCN, EASE, ...): a
  query is a user id, scores come from ``full_sort_predict``.
* :class:`SequentialFamily` (ARGUS, SASRec, LightSANs, GRU4Rec, ...): a query
  is the last ``MAX_ITEM_LIST_LENGTH`` events of a history with every field
  the dataset has (``<field>_list``), built as RecBole builds an evaluation
  sample; the next event's own fields (its context) are the last event's,
  its time ``at`` when given.
* :class:`ContextFamily` (Wukong, DeepFM, ...): a query is a user with the
  interaction-level fields of their last event; every (user, item) pair is
  scored by ``predict`` with the user's and the item's features joined.

:func:`find_tower` finds a model's two-tower view (``score = query . item``)
when it has one: the declared contract (``query_vectors`` / ``item_vectors``),
ARGUS's heads, WALS's and HybridRoBERTa's factors, the embedding tables of
BPR-like models, the propagated embeddings of LightGCN-like ones, or the
sequence encoder of SASRec-like ones. A candidate is used only after it
reproduced the model's own ``full_sort_predict`` on a few users.
"""

import inspect
import threading

import torch
from torch import nn

from recbole.data.interaction import Interaction
from recbole.utils import ModelType

from recbole_ext.recommend.errors import RecommendError

NEG_INF = float("-inf")
#: score cells (users x items) per chunk: 16 MiB of float32
SCORE_CELLS = 1 << 22
#: (user, item) rows per chunk for models that score pairs one by one
PAIR_ROWS = 1 << 15
#: relative tolerance of a tower's scores against ``full_sort_predict``
TOWER_TOLERANCE = 1e-4
_PROBE_USERS = 8


class Tower:
    """A model's two-tower view: ``score(query, item) = query_vectors(query) . item_vectors()[item]``.

    Args:
        name (str): where the vectors come from (shown in exports).
        item_vectors (callable): ``() -> [n_items, D]``.
        query_vectors (callable): ``(Interaction) -> [B, D]``.
        native (bool): the model's own scoring path (scores are computed through
            the tower, not ``full_sort_predict``; e.g. ARGUS, whose
            ``full_sort_predict`` also hides its history window).
    """

    def __init__(self, name, item_vectors, query_vectors, native=False):
        self.name = name
        self._item_vectors = item_vectors
        self._query_vectors = query_vectors
        self.native = native
        self._items = None

    def item_vectors(self):
        if self._items is None:  # the model is in eval mode and never changes
            self._items = self._item_vectors().detach().float()
        return self._items

    def query_vectors(self, query):
        return self._query_vectors(query).detach().float()

    def scores(self, query):
        return self.query_vectors(query) @ self.item_vectors().T


def _tensor(model, name):
    value = getattr(model, name, None)
    return value if isinstance(value, torch.Tensor) else None


def _declared_tower(model):
    """The two-tower contract: ``item_vectors()`` and ``query_vectors(interaction)``."""
    if callable(getattr(model, "query_vectors", None)) and callable(getattr(model, "item_vectors", None)):
        return Tower("query_vectors / item_vectors", model.item_vectors, model.query_vectors, native=True)
    return None


def _argus_tower(model):
    """ARGUS without the contract: its next-item query (divided by the temperature) and output item vectors."""
    if not (hasattr(model, "item_output_vectors") and hasattr(model, "_target_queries")):
        return None
    return Tower(
        "ARGUS next-item query / item_output_vectors",
        model.item_output_vectors,
        lambda query: model._target_queries(query)[0] / model.temperature(),
        native=True,
    )


def _factors_and_item_vectors(model):
    """HybridRoBERTa: WALS user factors against each item's vector (factor when warm, projected text when cold)."""
    if _tensor(model, "user_factors") is None or not callable(getattr(model, "item_vectors", None)):
        return None
    return Tower("user_factors / item_vectors()", model.item_vectors, lambda q: model.user_factors[q[model.USER_ID]])


def _factors(model):
    """WALS-like: ``user_factors`` and ``item_factors``."""
    if _tensor(model, "user_factors") is None or _tensor(model, "item_factors") is None:
        return None
    return Tower("user_factors / item_factors", lambda: model.item_factors, lambda q: model.user_factors[q[model.USER_ID]])


def _embedding_tables(model):
    """BPR-like general models: ``user_embedding`` and ``item_embedding`` tables."""
    users, items = getattr(model, "user_embedding", None), getattr(model, "item_embedding", None)
    if not (isinstance(users, nn.Embedding) and isinstance(items, nn.Embedding)):
        return None
    return Tower("user_embedding / item_embedding", lambda: items.weight, lambda q: users(q[model.USER_ID]))


def _required_parameters(function):
    return [
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is inspect.Parameter.empty and parameter.kind is not parameter.VAR_KEYWORD
    ]


def _propagated(model):
    """LightGCN-like general models: ``forward()`` returns every user's and item's embedding."""
    if model.type != ModelType.GENERAL or _required_parameters(model.forward):
        return None
    cache = {}

    def both():
        if "both" not in cache:
            cache["both"] = model.forward()
        return cache["both"]

    return Tower("forward() user / item embeddings", lambda: both()[1], lambda q: both()[0][q[model.USER_ID]])


def _sequence_encoder(model):
    """SASRec-like sequential models: ``forward(item_seq, item_seq_len)`` against ``item_embedding``."""
    items = getattr(model, "item_embedding", None)
    if not isinstance(items, nn.Embedding) or _required_parameters(model.forward) != ["item_seq", "item_seq_len"]:
        return None
    return Tower(
        "forward(item_seq, item_seq_len) / item_embedding",
        lambda: items.weight,
        lambda q: model.forward(q[model.ITEM_SEQ], q[model.ITEM_SEQ_LEN]),
    )


#: candidate two-tower views, most specific first
TOWER_CANDIDATES = (
    _declared_tower,
    _argus_tower,
    _factors_and_item_vectors,
    _factors,
    _embedding_tables,
    _propagated,
    _sequence_encoder,
)


def tower_reproduces(tower, expected, query):
    """Whether ``tower`` gives ``expected`` (the model's own full-sort scores) on ``query``.

    Cells the model hides (``-inf``, e.g. ARGUS's history window) are not compared.
    """
    try:
        got = tower.scores(query)
    except Exception:  # noqa: BLE001  (a candidate that does not apply to this model)
        return False
    if got.shape != expected.shape:
        return False
    finite = torch.isfinite(expected)
    if not finite.any():
        return False
    scale = expected[finite].abs().max().clamp_min(1.0)
    return bool(((got[finite] - expected[finite]).abs() <= TOWER_TOLERANCE * scale).all())


@torch.no_grad()
def find_tower(family):
    """The first candidate tower that reproduces ``family``'s model scores, or None."""
    probe = family.probe_query()
    if probe is None:
        return None
    expected = family.model_scores(probe)
    for candidate in TOWER_CANDIDATES:
        tower = candidate(family.model)
        if tower is not None and tower_reproduces(tower, expected, probe):
            return tower
    return None


def event_time_fields(dataset):
    """The dataset's time field, then the copies of it a model reads (ARGUS's exact float64
    ``ARGUSDataset.seconds_field``): a time given for an event goes into each of them."""
    copy = getattr(dataset, "seconds_field", None)
    return [dataset.time_field] + ([copy] if copy is not None else [])


class Family:
    """Queries and scores of one kind of model. Subclasses set ``kind``."""

    kind = None
    takes_sessions = False

    def __init__(self, model, dataset, log, config):
        self.model = model
        self.dataset = dataset
        self.log = log
        self.config = config
        self.n_items = dataset.item_num
        self._tower = None
        self._tower_searched = False
        self._tower_lock = threading.Lock()

    @property
    def device(self):
        return self.config["device"]

    def rows_per_chunk(self):
        """Users scored together: their score block stays within :data:`SCORE_CELLS`."""
        return max(1, SCORE_CELLS // self.n_items)

    def query(self, rows, log=None, users=None, at=None, context=None):
        """The model's input for ``rows`` of ``log`` (default: the dataset's users ``rows``)."""
        raise NotImplementedError

    def model_scores(self, query):
        """``[B, n_items]`` scores of every item, from the model's own full sort."""
        return self.model.full_sort_predict(query.to(self.device)).view(len(query), -1).float()

    def scores(self, query, items=None):
        """``[B, n_items]`` scores (``[B, len(items)]`` for given item ids), through the native tower if any."""
        tower = self.tower()
        scores = tower.scores(query.to(self.device)) if tower is not None and tower.native else self.model_scores(query)
        return scores if items is None else scores[:, items]

    def probe_query(self):
        """A query of a few users with histories (for :func:`tower_reproduces`), or None."""
        rows = torch.nonzero(torch.from_numpy(self.log.lengths(range(self.log.n_rows)) > 0)).view(-1)
        return None if len(rows) == 0 else self.query(rows[:_PROBE_USERS].numpy())

    def tower(self):
        """The model's verified two-tower view, or None when its scores are not a dot product."""
        with self._tower_lock:
            if not self._tower_searched:
                self._tower = find_tower(self)
                if self._tower is not None:
                    self._tower.item_vectors()  # computed once, here, not by concurrent callers
                self._tower_searched = True
        return self._tower

    def _set_request_time(self, data, at):
        """The request's time ``at`` as the next event's time."""
        if at is None:
            return
        for field in event_time_fields(self.dataset):
            if field in data:
                data[field] = torch.full_like(data[field], float(at))


class GeneralFamily(Family):
    kind = "general"

    def query(self, rows, log=None, users=None, at=None, context=None):
        users = torch.as_tensor(rows if users is None else users, dtype=torch.long)
        return Interaction({self.model.USER_ID: users})


class SequentialFamily(Family):
    """Sequential models read a window of the history as RecBole's evaluation samples hold it."""

    kind = "sequential"
    takes_sessions = True

    def __init__(self, model, dataset, log, config):
        super().__init__(model, dataset, log, config)
        self.width = config["MAX_ITEM_LIST_LENGTH"]
        self.list_suffix = config["LIST_SUFFIX"]

    def query(self, rows, log=None, users=None, at=None, context=None):
        log = self.log if log is None else log
        lists, lengths, last = log.window(rows, self.width)
        data = {self.model.ITEM_SEQ_LEN: lengths}
        for field in lists:
            data[field + self.list_suffix] = lists[field]
            data[field] = last[field]  # the next event's own fields: the last event's
        users = torch.as_tensor(rows if users is None else users, dtype=torch.long)
        data[self.model.USER_ID] = users
        data[self.model.ITEM_ID] = torch.zeros_like(users)
        self._set_request_time(data, at)
        return Interaction(data)


class ContextFamily(Family):
    """Context (CTR) models score (user, item) pairs with the user's and item's features."""

    kind = "context"

    def rows_per_chunk(self):
        return max(1, PAIR_ROWS // self.n_items)

    def _pair_fields(self):
        """Interaction-level fields the model reads besides user, item and label."""
        skip = {self.dataset.uid_field, self.dataset.iid_field, self.config["LABEL_FIELD"]}
        return [field for field in self.log.fields if field not in skip and field in self.model.field_names]

    def query(self, rows, log=None, users=None, at=None, context=None):
        log = self.log if log is None else log
        _, _, last = log.window(rows, 1)
        users = torch.as_tensor(rows if users is None else users, dtype=torch.long)
        data = {self.dataset.uid_field: users}
        for field in self._pair_fields():
            data[field] = last[field]
        self._set_request_time(data, at)
        for field, value in (context or {}).items():
            data[field] = torch.full_like(data[field], self._context_value(field, value))
        return Interaction(data)

    def _context_value(self, field, value):
        """The internal value of a context field given in external units (a token, or a number)."""
        fields = self._pair_fields()
        if field not in fields:
            raise RecommendError(f"unknown context field '{field}'; this model reads: {', '.join(fields) or 'none'}")
        tokens = self.dataset.field2token_id.get(field)
        if tokens is None:
            return float(value)
        if str(value) not in tokens:
            raise RecommendError(f"unknown value '{value}' of context field '{field}'")
        return tokens[str(value)]

    def model_scores(self, query, items=None):
        every_item = items is None
        items = torch.arange(1, self.n_items) if every_item else torch.as_tensor(items, dtype=torch.long)
        count = len(items)
        data = {field: values.repeat_interleave(count, 0) for field, values in query.interaction.items()}
        data[self.dataset.iid_field] = items.repeat(len(query))
        pairs = self.dataset.join(Interaction(data)).to(self.device)
        scores = self.model.predict(pairs).view(len(query), count).float()
        if every_item:  # column 0 is the padding item
            scores = torch.cat([scores.new_full((len(query), 1), NEG_INF), scores], dim=1)
        return scores

    def scores(self, query, items=None):
        return self.model_scores(query, items)

    def tower(self):
        return None


def family_of(model, dataset, log, config):
    """The :class:`Family` that knows how to query ``model``."""
    if model.type == ModelType.SEQUENTIAL:
        return SequentialFamily(model, dataset, log, config)
    if model.type in (ModelType.CONTEXT, ModelType.DECISIONTREE):
        return ContextFamily(model, dataset, log, config)
    return GeneralFamily(model, dataset, log, config)
