r"""
ARGUS
################################################
Reference:
    Kirill Khrylchenko, Artem Matveev, Sergei Makeev and Vladimir Baikalov.
    "Scaling Recommender Transformers to One Billion Parameters."
    arXiv 2507.15994, 2025.

ARGUS (AutoRegressive Generative User Sequential modeling) reads a user
history as a sequence of (context, item, feedback) events, every
interaction included, not only the positive ones, and learns two tasks at
every position in one causal transformer pass:

* next-item prediction, :math:`P(item_t \mid history_{<t}, context_t)`,
  trained with the exact softmax over the whole catalogue when it has at
  most ``full_softmax_max_items`` items (``softmax: auto``), else with a
  sampled softmax over in-batch and uniformly drawn items corrected by
  :math:`\log Q` (Yi et al., "Sampling-Bias-Corrected Neural Modeling for
  Large Corpus Item Recommendations", RecSys 2019), both scaled by a learned
  temperature :math:`T = e^{\tau}` clipped to [0.01, 100]. The exact softmax
  subtracts the same :math:`\log Q` from its logits (``full_softmax_log_q``:
  the sampled softmax with every item a candidate), which keeps popular items'
  scores where the sampled loss leaves them (docs/models/ARGUS.md, sessions 44-45);
* feedback prediction, :math:`P(feedback_t \mid history_{<t}, context_t, item_t)`,
  one pointwise loss per feedback signal (BCE for binary, MSE for real).

Two variants (``argus_variant``):

* ``full``: three tokens per event; the item is predicted from the hidden
  state of the event's context token, the feedback from that of its item token.
* ``simplified``: one token per event, its item token plus its context and
  feedback vectors (``event_token: sum``; ``linear``: one Linear over the three,
  the fused token before session 46); the item is predicted from the previous
  position's hidden state (with the current context through an MLP into a
  compressed dimension when the query reads it), the feedback from that plus
  the current item embedding through a second MLP.

With nothing but item ids the simplified variant is a causal transformer over
items like SASRec (Kang and McAuley, "Self-Attentive Sequential
Recommendation", ICDM 2018), and it scores as SASRec does: an item-only event
is its item token (a fusion layer over one input only re-parameterises the
embedding, and starting at the initialiser's scale it slows learning), and
with no context in the events the query is the hidden state itself, dotted
with the item tokens (``query_head: auto``; docs/models/ARGUS.md, sessions 38-39).
Item-only events also get SASRec's encoder, RecBole's post-LayerNorm stack,
with a learning-rate warm-up (``norm_first: auto``, ``warmup_steps: auto``),
and their positions weigh the events through the attention logits instead of
entering the item tokens (``position_encoding: auto``; LightSANs' decoupled
position encoding, Fan et al., SIGIR 2021, in the form of TUPE's untied
positional attention, Ke et al., ICLR 2021; docs/models/ARGUS.md, session 41).
Events with feedback or context keep that layout: their context and feedback
vectors are added to the item token, as BERT sums its input embeddings
(Devlin et al., NAACL 2019), and the same encoder, positions and query read
them (docs/models/ARGUS.md, session 46). The item token's tables alone get
decoupled weight decay (``item_weight_decay``; AdamW's, Loshchilov and Hutter,
"Decoupled Weight Decay Regularization", ICLR 2019): decay on the other weights
did not help (docs/models/ARGUS.md, sessions 51-53). An item's text
(``item_text_fields``, e.g. a title) can add a fixed latent-semantic vector
of its words and character n-grams, fitted on the catalogue's texts, through
a learned map that starts at zero: related titles start near each other
however seldom their items were seen (docs/models/ARGUS.md, session 57).
"""

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recbole.model.abstract_recommender import SequentialRecommender
from recbole.trainer import Trainer
from recbole.utils import FeatureSource, FeatureType, InputType

from recbole_ext.data.argus_dataset import CUT_FIELD, SEGMENT_FIELD, ARGUSDataset, seconds_field_of, time_settings_on
from recbole_ext.data.item_text import item_texts, text_lsa_vectors
from recbole_ext.model.layers import (
    CausalTransformerEncoder,
    ItemTokenEmbedding,
    UntiedPositionalBias,
    build_mlp,
    init_weights,
    segment_causal_mask,
    segment_positions,
    segment_starts,
)
from recbole_ext.model.post_ln_encoder import PostLNEncoder

TEMPERATURE_MIN = 0.01
TEMPERATURE_MAX = 100.0
_GAP_BUCKETS = 34  # bucket 0: unknown gap, then floor(log2(1 + seconds)) + 1
_SECONDS_PER_HOUR = 3600
_SECONDS_PER_DAY = 86400
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
#: evaluation rows run together, cut to the longest of them (see ``ARGUS._slot_heads``)
EVAL_GROUP_ROWS = 256
_SOFTMAX_MODES = ("auto", "full", "sampled")
#: RecBole learners whose Adam update can apply decoupled weight decay to one parameter group
_DECOUPLED_DECAY_LEARNERS = ("adam", "adamw")
#: ``warmup_steps: auto`` for the post-LayerNorm encoder: at ARGUS's learning rate it diverges on some seeds
#: without a warm-up (Xiong et al., "On Layer Normalization in the Transformer Architecture", ICML 2020);
#: 300 steps were best on the validation of all three benchmark datasets (docs/models/ARGUS.md, session 38)
POST_LN_WARMUP_STEPS = 300
#: the encoder keys of ARGUS.yaml (besides ``n_layers`` and ``hidden_size``), shared by both encoders
ENCODER_KEYS = ("n_heads", "inner_size", "attn_dropout_prob", "hidden_dropout_prob", "hidden_act", "layer_norm_eps")


def clipped_temperature(log_temperature):
    """:math:`T = e^{\tau}` clipped to [0.01, 100] (ARGUS's learned temperature)."""
    return log_temperature.clamp(math.log(TEMPERATURE_MIN), math.log(TEMPERATURE_MAX)).exp()


def log_expected_count(item_probs, in_batch_draws, uniform_draws, n_candidates):
    r"""log Q(i): log-probability that item ``i`` is among the unique candidates.

    In-batch candidates are ``in_batch_draws`` draws from the training target
    distribution ``item_probs``; ``uniform_draws`` more are uniform over the
    ``n_candidates`` real items. :math:`Q(i) = 1 - (1 - p_i)^{B} (1 - 1/N)^{U}`.
    """
    log_absent = in_batch_draws * torch.log1p(-item_probs.clamp(max=1 - 1e-7))
    log_absent = log_absent + uniform_draws * math.log1p(-1.0 / n_candidates)
    return torch.log((-torch.expm1(log_absent)).clamp_min(1e-30))


def earlier_items(items, segments):
    """``[B, L, L]``: at ``[b, t, s]`` the item of event ``s`` when it is before ``t`` in the same chunk, else 0."""
    length = items.shape[1]
    before = torch.ones(length, length, dtype=torch.bool, device=items.device).tril(-1)
    same_chunk = segments.unsqueeze(2) == segments.unsqueeze(1)
    return torch.where(before & same_chunk, items.unsqueeze(1), torch.zeros_like(items).unsqueeze(1))


def history_candidate_mask(candidates, earlier, positives):
    """``[M, C]`` bool: candidate ``c`` (``candidates`` sorted) is one of row ``m``'s earlier items
    (``earlier``: ``[M, E]``, 0 for none) and not its positive (a repeated item stays a positive)."""
    index = torch.searchsorted(candidates, earlier).clamp(max=len(candidates) - 1)
    hit = (candidates[index] == earlier) & (earlier > 0) & (earlier != positives.unsqueeze(1))
    counts = torch.zeros(len(earlier), len(candidates), dtype=torch.int32, device=earlier.device)
    return counts.scatter_add_(1, index, hit.int()) > 0


def sampled_softmax_loss(
    query, item_vectors, positives, candidates, log_q, temperature, extra_logits=None, excluded=None
):
    r"""Mean logQ-corrected sampled softmax cross-entropy (ARGUS next-item loss).

    For each query row ``u`` with positive item ``p``:
    :math:`s(u, i) = u^\top v_i / T - \log Q(i)` and the loss is
    :math:`-s(u, p) + \log(e^{s(u, p)} + \sum_{n \in N, n \neq p} e^{s(u, n)})`,
    candidates equal to the positive (accidental hits) being left out.

    Args:
        query (torch.Tensor): ``[M, D]`` query vectors.
        item_vectors (torch.Tensor): ``[n_items, D]`` output vectors of all items.
        positives (torch.LongTensor): ``[M]`` target item ids.
        candidates (torch.LongTensor): ``[C]`` negative candidate ids.
        log_q (torch.Tensor): ``[n_items]`` log Q of every item.
        temperature (torch.Tensor): scalar temperature.
        extra_logits (torch.Tensor): optional ``[M, E]`` logits of further
            per-row negatives (``-inf`` where a row has none), added as they are.
        excluded (torch.BoolTensor): optional ``[M, C]``, candidates left out of a row's softmax.
    """
    positive_logits = (query * item_vectors[positives]).sum(-1) / temperature - log_q[positives]
    candidate_logits = query @ item_vectors[candidates].T / temperature - log_q[candidates]
    left_out = candidates.unsqueeze(0) == positives.unsqueeze(1)  # accidental hits
    if excluded is not None:
        left_out = left_out | excluded
    candidate_logits = candidate_logits.masked_fill(left_out, float("-inf"))
    parts = [positive_logits.unsqueeze(1), candidate_logits]
    if extra_logits is not None:
        parts.append(extra_logits)
    all_logits = torch.cat(parts, dim=1)
    return (torch.logsumexp(all_logits, dim=1) - positive_logits).mean()


class _CatalogueCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of each row of ``query @ items.T + bias`` (entries ``(rows, cols)`` left out) at its
    ``positives``, with the gradient taken from the softmax directly: the ``[M, N]`` logits are passed over
    far fewer times than by ``cross_entropy`` after a masked fill, and each pass costs about what the
    product does."""

    @staticmethod
    def forward(ctx, query, items, bias, positives, rows, cols):
        logits = query @ items.T if bias is None else torch.addmm(bias, query, items.T)
        logits.index_put_((rows, cols), logits.new_tensor(float("-inf")))
        log_norm = torch.logsumexp(logits, dim=1)
        ctx.save_for_backward(query, items, logits, log_norm, positives)
        ctx.spent = False
        return (log_norm - logits.gather(1, positives.unsqueeze(1)).squeeze(1)).mean()

    @staticmethod
    def backward(ctx, grad):
        if ctx.spent:
            raise RuntimeError("the exact softmax's backward pass reuses its logits' memory: it runs once per forward")
        ctx.spent = True
        query, items, logits, log_norm, positives = ctx.saved_tensors
        probs = logits.sub_(log_norm.unsqueeze(1)).exp_()  # in place: the logits are this function's own; left out: 0
        probs[torch.arange(len(positives), device=probs.device), positives] -= 1.0
        scale = grad / len(positives)
        return (probs @ items) * scale, (probs.T @ query) * scale, None, None, None, None


def full_softmax_loss(query, item_vectors, positives, temperature, earlier=None, log_q=None):
    r"""Mean exact softmax cross-entropy over every real item (ids ``1..n_items-1``).

    :math:`-s(u, p) + \log \sum_{i \ge 1} e^{s(u, i)}` with :math:`s(u, i) = u^\top v_i / T`:
    the loss RecBole's SASRec trains with (``loss_type: CE``), scaled by ARGUS's temperature.
    ``log_q`` (``[n_items]``, optional, not trained) is subtracted from every logit, :math:`s(u, i) - \log Q(i)`:
    :func:`sampled_softmax_loss` with every item a candidate (``full_softmax_log_q``).
    ``earlier`` (``[M, E]`` item ids, 0: none; optional): items left out of each row's softmax, its positive
    excepted (``loss_excludes_history``).
    """
    rows = cols = positives.new_zeros(0)
    if earlier is not None:
        left_out = (earlier > 0) & (earlier != positives.unsqueeze(1))
        rows, slots = left_out.nonzero(as_tuple=True)
        cols = earlier[rows, slots] - 1
    bias = None if log_q is None else -log_q[1:].detach()
    return _CatalogueCrossEntropy.apply(query / temperature, item_vectors[1:], bias, positives - 1, rows, cols)


def resolve_softmax(mode, n_items, max_items):
    """``'full'`` or ``'sampled'`` for ``softmax`` = ``mode`` on a catalogue of ``n_items`` ids."""
    if mode not in _SOFTMAX_MODES:
        raise ValueError(f"softmax must be one of {_SOFTMAX_MODES}, got {mode!r}")
    if mode != "auto":
        return mode
    if not isinstance(max_items, int) or max_items < 0:
        raise ValueError(f"full_softmax_max_items must be a non-negative int, got {max_items!r}")
    return "full" if n_items - 1 <= max_items else "sampled"


def resolve_loss_excludes_history(setting, exclude_history_items, history_negatives):
    """Whether the next-item softmax leaves out each target's earlier items (``loss_excludes_history``;
    ``~``: exactly when the evaluation never ranks them, ``exclude_history_items``)."""
    if setting is None:
        return bool(exclude_history_items) and not history_negatives
    if not isinstance(setting, bool):
        raise ValueError(f"loss_excludes_history must be True, False or ~, got {setting!r}")
    if setting and history_negatives:
        raise ValueError(
            "loss_excludes_history leaves each target's earlier items out of its softmax and history_negatives "
            "adds them as negatives: switch one off"
        )
    return setting


def resolve_item_weight_decay(weight_decay, learner):
    """``item_weight_decay`` checked against the optimizer (``learner``) that must apply it."""
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
        raise ValueError(f"item_weight_decay must be a number >= 0, got {weight_decay!r}")
    if weight_decay and str(learner).lower() not in _DECOUPLED_DECAY_LEARNERS:
        raise ValueError(
            f"item_weight_decay is decoupled weight decay (AdamW's): it needs learner adam or adamw, got {learner!r} "
            "(or set item_weight_decay: 0)"
        )
    return float(weight_decay)


def item_table_decay_groups(model, weight_decay):
    """Optimizer parameter groups: the item token's tables (``item_embedding``: the item id table, and the
    feature or unified tables with ``item_feature_fields``) with decoupled weight decay ``weight_decay``, every
    other weight with the optimizer's own settings."""
    tables, others = [], []
    for name, parameter in model.named_parameters():
        (tables if name.startswith("item_embedding.") else others).append(parameter)
    return [{"params": tables, "weight_decay": weight_decay, "decoupled_weight_decay": True}, {"params": others}]


def optimizer_step(optimizer):
    """The optimizer steps taken so far, from Adam's own state (0.0 before the first)."""
    states = [state for state in optimizer.state.values() if "step" in state]
    return float(states[0]["step"]) if states else 0.0


def time_context_ids(timestamps, event_present, first_of_segment=None):
    """Hour of day, day of week and log2-gap bucket of each event (left-aligned ``[B, L]``).

    The first event of a window (or, in a packed row, of each segment:
    ``first_of_segment``) has no known predecessor: gap bucket 0.
    """
    seconds = timestamps.double()
    hours = torch.div(seconds, _SECONDS_PER_HOUR, rounding_mode="floor").long() % 24
    days = (torch.div(seconds, _SECONDS_PER_DAY, rounding_mode="floor").long() + _EPOCH_WEEKDAY) % 7
    gaps = (seconds[:, 1:] - seconds[:, :-1]).clamp_min(0)
    gap_buckets = torch.floor(torch.log2(1 + gaps)).long().clamp(max=_GAP_BUCKETS - 2) + 1
    gap_buckets = torch.cat([torch.zeros_like(gap_buckets[:, :1]), gap_buckets], dim=1)
    known_gap = event_present & F.pad(event_present[:, :-1], (1, 0), value=False)
    if first_of_segment is not None:
        known_gap = known_gap & ~first_of_segment
    return hours, days, torch.where(known_gap, gap_buckets, torch.zeros_like(gap_buckets))


def _dataset_fields_line(dataset):
    fields = sorted(
        field
        for field, source in dataset.field2source.items()
        if source == FeatureSource.INTERACTION
        and field in dataset.field2type
        and dataset.field2type[field] in (FeatureType.TOKEN, FeatureType.FLOAT)
        and field not in (dataset.config["ITEM_LIST_LENGTH_FIELD"], getattr(dataset, "seconds_field", None))
    )
    return ", ".join(fields)


class ARGUSTrainer(Trainer):
    """RecBole's trainer with decoupled weight decay on the item token's tables (``item_weight_decay``), a
    linear learning-rate warm-up over the model's first ``warmup_steps`` optimizer steps (0: none;
    :meth:`ARGUS._resolve_encoder`), and one cutting of the training histories an epoch (``chunk_cuts``).

    The warm-up's step count is Adam's own (``optimizer.state``), so a resumed run continues the ramp where
    it stopped; the cutting follows the epoch's index, so a resumed run continues the rotation too."""

    def __init__(self, config, model):
        super().__init__(config, model)
        self.warmup_steps = model.warmup_steps
        if self.warmup_steps:
            self.optimizer.register_step_pre_hook(self._warm_up)

    def _build_optimizer(self, **kwargs):
        """RecBole's optimizer, the item token's tables in a group of their own when ``item_weight_decay`` is
        set; Adam's update fused into one kernel a parameter (the same update: its separate element-wise passes
        over a 65,536-row item table cost more than the table's own gradient)."""
        if self.model.item_weight_decay and "params" not in kwargs:
            kwargs["params"] = item_table_decay_groups(self.model, self.model.item_weight_decay)
        optimizer = super()._build_optimizer(**kwargs)
        if type(optimizer) is torch.optim.Adam and not optimizer.defaults["fused"]:
            groups = [{**group, "fused": True} for group in optimizer.param_groups]  # a group's own option wins
            optimizer = torch.optim.Adam(groups, **{**optimizer.defaults, "fused": True})
        return optimizer

    def _warm_up(self, optimizer, *args):
        scale = min(1.0, (optimizer_step(optimizer) + 1.0) / self.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = self.learning_rate * scale

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        epoch_data = self._epoch_rows(train_data, epoch_idx)
        return super()._train_epoch(epoch_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)

    def _epoch_rows(self, train_data, epoch_idx):
        """A loader of the training rows of cutting ``epoch_idx mod chunk_cuts``, shuffled by the epoch's seed."""
        rows = train_data._dataset.inter_feat
        cuts = int(rows[CUT_FIELD].max()) + 1 if CUT_FIELD in rows else 1
        if cuts == 1:
            return train_data
        cut_rows = torch.nonzero(rows[CUT_FIELD] == epoch_idx % cuts).flatten()
        loader = type(train_data)(self.config, train_data._dataset.copy(rows[cut_rows]), train_data._sampler, shuffle=True)
        loader.generator.manual_seed(self.config["seed"] + epoch_idx)
        return loader


class ARGUS(SequentialRecommender):
    r"""ARGUS: autoregressive (context, item, feedback) transformer with two heads.

    Training batches are :class:`~recbole_ext.data.argus_dataset.ARGUSDataset`
    chunks (losses at every position, one pass); evaluation batches are
    RecBole's leave-one-out samples, scored by :meth:`full_sort_predict`
    from the history and, with ``use_target_context``, the target event's
    context (never its item or feedback).
    """

    input_type = InputType.POINTWISE
    dataset_class = ARGUSDataset
    trainer_class = ARGUSTrainer

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.variant = config["argus_variant"]
        self.hidden_size = config["hidden_size"]
        self.head_size = config["head_size"]
        self.query_head = config["query_head"]  # auto: resolved once the context is known (_resolve_scoring)
        self.item_output = config["item_output"]
        self.use_target_context = config["use_target_context"]
        self.time_context = config["time_context"]
        self.uniform_negatives = config["uniform_negatives"]
        self.softmax = resolve_softmax(config["softmax"], self.n_items, config["full_softmax_max_items"])
        self.full_softmax_log_q = config["full_softmax_log_q"]
        self.history_negatives = config["history_negatives"]
        if self.history_negatives and self.softmax == "full":
            raise ValueError(
                "history_negatives needs softmax: sampled (the full softmax already has every item as a negative)"
            )
        self.item_weight_decay = resolve_item_weight_decay(config["item_weight_decay"], config["learner"])
        self.loss_excludes_history = resolve_loss_excludes_history(
            config["loss_excludes_history"], config["exclude_history_items"], self.history_negatives
        )
        self.list_suffix = config["LIST_SUFFIX"]
        self.time_field = config["TIME_FIELD"]
        self.seconds_field = seconds_field_of(self.time_field)  # the times ARGUS reads (exact, raw units)
        self.absolute_time_context = config["absolute_time_context"]

        self._read_feedback_fields(config, dataset)
        self._read_context_fields(config, dataset)
        self._read_item_features(config, dataset)
        self._read_time_range(config, dataset)
        self.item_only_events = not (self.feedback_fields or self._events_carry_context())
        # an event's token is its item token plus added vectors: the id-only core's layout, encoder and query
        self.additive_tokens = self.item_only_events or (self.variant == "simplified" and config["event_token"] == "sum")
        self._resolve_scoring()
        self.norm_first, self.warmup_steps = self._resolve_encoder(config["norm_first"], config["warmup_steps"])
        self.position_encoding = self._resolve_positions(config["position_encoding"])
        self._build_layers(config, dataset)
        self.apply(lambda module: init_weights(module, config["initializer_range"]))
        learned = self.query_head != "hidden"
        initial = math.log(config["temperature_init"]) if learned else 0.0
        self.log_temperature = nn.Parameter(torch.tensor(initial), requires_grad=learned)
        self.register_buffer("target_item_probs", self._target_item_probs(dataset))
        # built last, so every other layer starts as it does with the positions added to the tokens
        self.position_bias = self._build_position_bias(config)
        self.item_text_projection = self._build_item_text(config, dataset)
        self._step_item_tokens = None  # every item's token, while a training step reads the catalogue

    # ------------------------------------------------------------------ config
    def _check_inter_field(self, key, field, dataset):
        if field not in dataset.field2type or dataset.field2source.get(field) != FeatureSource.INTERACTION:
            raise ValueError(
                f"{key} entry '{field}' is not an interaction field of dataset "
                f"'{dataset.dataset_name}' (fields: {_dataset_fields_line(dataset)})"
            )

    def _read_feedback_fields(self, config, dataset):
        """``feedback_fields``: field -> threshold (binary target ``value >= threshold``) or ~ (real)."""
        fields = config["feedback_fields"] or {}
        weights = config["feedback_loss_weights"] or {}
        for key, value in (("feedback_fields", fields), ("feedback_loss_weights", weights)):
            if not isinstance(value, dict):
                raise ValueError(f"{key} must be a dict field -> value, got {value!r}")
        self.feedback_fields = list(fields)
        for field in self.feedback_fields:
            self._check_inter_field("feedback_fields", field, dataset)
        for field in weights:
            if field not in fields:
                raise ValueError(
                    f"feedback_loss_weights entry '{field}' is not in feedback_fields "
                    f"({', '.join(self.feedback_fields) or 'none'})"
                )
        self.feedback_thresholds = {field: fields[field] for field in self.feedback_fields}
        self.feedback_weights = {field: float(weights.get(field, 1.0)) for field in self.feedback_fields}
        means, stds = [], []
        for field in self.feedback_fields:
            values = dataset.inter_feat[field + self.list_suffix][dataset.inter_feat[self.ITEM_SEQ] > 0].double()
            means.append(values.mean().item() if len(values) else 0.0)
            stds.append(values.std().item() if len(values) > 1 else 1.0)
        self.register_buffer("feedback_mean", torch.tensor(means, dtype=torch.float))
        self.register_buffer("feedback_std", torch.tensor(stds, dtype=torch.float).clamp_min(1e-6))

    def _read_context_fields(self, config, dataset):
        self.context_fields = list(config["context_fields"] or [])
        for field in self.context_fields:
            self._check_inter_field("context_fields", field, dataset)
            if field in self.feedback_fields or field == self.ITEM_ID:
                # the target's own item or feedback would leak into its prediction
                raise ValueError(
                    f"context_fields entry '{field}' is the item or a feedback field; "
                    "context must be known before the interaction"
                )
        reading_time = time_settings_on(config)
        if reading_time and self.time_field not in dataset.field2type:
            raise ValueError(
                f"{' and '.join(reading_time)} needs the time field '{self.time_field}', absent from dataset "
                f"'{dataset.dataset_name}' (fields: {_dataset_fields_line(dataset)}): load it or switch "
                f"{', '.join(reading_time)} off"
            )
        self.token_context_fields = [f for f in self.context_fields if dataset.field2type[f] == FeatureType.TOKEN]
        self.float_context_fields = [f for f in self.context_fields if f not in self.token_context_fields]

    def _read_item_features(self, config, dataset):
        """``item_feature_fields``: item token / token_seq fields read from the item table by item id
        (never from an interaction: the target's own features never reach its query)."""
        self.item_feature_fields = list(config["item_feature_fields"] or [])
        self.item_hash_buckets = config["item_hash_buckets"]
        self.item_hashes = config["item_hashes"]
        self.item_features = {}
        for field in self.item_feature_fields:
            # the dataset checked the fields when it read the files (ARGUSDataset._check_item_feature_fields)
            self.item_features[field] = dataset.item_feat[field]

    def _read_time_range(self, config, dataset):
        """Absolute-time buckets: ``absolute_time_bucket_days`` wide from the first training event;
        the last one holds every later time (a request after the training data reads the newest bucket)."""
        self.time_bucket_seconds = config["absolute_time_bucket_days"] * _SECONDS_PER_DAY
        origin, buckets = 0.0, 1
        if self.absolute_time_context:
            times = dataset.inter_feat[self.seconds_field + self.list_suffix][dataset.inter_feat[self.ITEM_SEQ] > 0].double()
            if len(times):
                origin = float(times.min())
                buckets = int((float(times.max()) - origin) // self.time_bucket_seconds) + 1
        self.n_time_buckets = buckets
        self.register_buffer("time_origin", torch.tensor(origin, dtype=torch.float64))

    def _events_carry_context(self):
        return bool(self.context_fields or self.time_context or self.absolute_time_context)

    def _resolve_encoder(self, norm_first, warmup_steps):
        """``norm_first: auto``: RecBole's post-LayerNorm encoder (SASRec's) when an event's token is its item
        token, plus its context and feedback vectors if any (``additive_tokens``), ARGUS's pre-LayerNorm blocks
        for the fused ``linear`` token and the full variant's three tokens (each better on validation there;
        ARGUS.md, sessions 39 and 46); ``warmup_steps: auto``: :data:`POST_LN_WARMUP_STEPS` for the
        post-LayerNorm encoder, else none."""
        if norm_first == "auto":
            norm_first = not self.additive_tokens
        if not isinstance(norm_first, bool):
            raise ValueError(f"norm_first must be True, False or auto, got {norm_first!r}")
        if warmup_steps == "auto":
            warmup_steps = 0 if norm_first else POST_LN_WARMUP_STEPS
        if not isinstance(warmup_steps, int) or isinstance(warmup_steps, bool) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int >= 0 or auto, got {warmup_steps!r}")
        return norm_first, warmup_steps

    def _resolve_positions(self, setting):
        """``position_encoding: auto``: ``decoupled`` (positions as a per-head attention-logit bias,
        :class:`~recbole_ext.model.layers.UntiedPositionalBias`) for additive tokens on the post-LayerNorm
        encoder, where it beat positions ``added`` to the tokens on test on every dataset and seed measured
        (docs/models/ARGUS.md, sessions 41 and 46); ``added`` otherwise."""
        if setting == "auto":
            setting = "decoupled" if self.additive_tokens and not self.norm_first else "added"
        if setting not in ("added", "decoupled"):
            raise ValueError(f"position_encoding must be added, decoupled or auto, got {setting!r}")
        if setting == "decoupled" and self.norm_first:
            raise ValueError("position_encoding: decoupled needs RecBole's post-LayerNorm encoder (norm_first: False)")
        return setting

    def _resolve_scoring(self):
        """``query_head: auto``: ``mlp`` when the query reads the target event's context (``use_target_context``
        and events that carry context), else ``hidden``; with the fused ``linear`` token or the full variant,
        ``mlp`` whenever events carry context (each better on ml-100k's validation there; docs/models/ARGUS.md,
        sessions 39 and 46). A ``hidden`` query meets the item tokens themselves at temperature 1 (SASRec's
        scoring): ``item_output``, ``head_size`` and ``temperature_init`` belong to the other heads."""
        if self.query_head == "auto":
            reads_context = self.use_target_context or not self.additive_tokens
            self.query_head = "mlp" if self._events_carry_context() and reads_context else "hidden"
        if self.query_head == "hidden":
            self.item_output, self.head_size = "tied", self.hidden_size
        if self.item_output == "tied" and self.head_size != self.hidden_size:
            raise ValueError(
                f"item_output 'tied' needs head_size == hidden_size, got {self.head_size} and {self.hidden_size}"
            )

    def absolute_time_buckets(self, timestamps):
        """Bucket of each timestamp: whole ``absolute_time_bucket_days`` since the first training
        event, clipped to the buckets training saw."""
        elapsed = timestamps.double() - self.time_origin
        buckets = torch.div(elapsed, self.time_bucket_seconds, rounding_mode="floor").long()
        return buckets.clamp(0, self.n_time_buckets - 1)

    # ------------------------------------------------------------------ layers
    def _build_layers(self, config, dataset):
        d = self.hidden_size
        if self.item_features or self.item_hash_buckets > 0:
            self.item_embedding = ItemTokenEmbedding(
                self.n_items,
                d,
                features=self.item_features,
                cardinalities={field: dataset.num(field) for field in self.item_features},
                buckets=self.item_hash_buckets,
                n_hashes=self.item_hashes,
            )
        else:
            self.item_embedding = nn.Embedding(self.n_items, d, padding_idx=0)
        self.absolute_time_embedding = nn.Embedding(self.n_time_buckets, d) if self.absolute_time_context else None
        tokens_per_event = 3 if self.variant == "full" else 1
        self.position_embedding = nn.Embedding(self.max_seq_length + 1, d)
        self.token_type_embedding = nn.Embedding(tokens_per_event, d)
        self.null_context = nn.Parameter(torch.zeros(d))
        self.hour_embedding = nn.Embedding(24, d)
        self.weekday_embedding = nn.Embedding(7, d)
        self.gap_embedding = nn.Embedding(_GAP_BUCKETS, d)
        self.context_token_embeddings = nn.ModuleDict(
            {field: nn.Embedding(dataset.num(field), d) for field in self.token_context_fields}
        )
        self.context_float_projection = (
            nn.Linear(len(self.float_context_fields), d) if self.float_context_fields else None
        )
        n_feedback_inputs = sum(2 if self._is_binary(f) else 1 for f in self.feedback_fields)
        self.feedback_projection = nn.Linear(max(n_feedback_inputs, 1), d)
        self.input_dropout = nn.Dropout(config["hidden_dropout_prob"])
        self.input_norm = nn.LayerNorm(d, eps=config["layer_norm_eps"])
        encoder = CausalTransformerEncoder if self.norm_first else PostLNEncoder
        self.encoder = encoder(n_layers=config["n_layers"], hidden_size=d, **{key: config[key] for key in ENCODER_KEYS})
        n_outputs = max(len(self.feedback_fields), 1)
        act, dropout = config["hidden_act"], config["hidden_dropout_prob"]
        if self.variant == "full":
            self.event_fusion = None
            self.start_state = None
            self.item_query_head = self._build_query_head(d, act, dropout)
            self.feedback_head = build_mlp([d, d, n_outputs], act, dropout)
        else:
            self.event_fusion = None if self.additive_tokens else nn.Linear(3 * d, d)
            self.start_state = nn.Parameter(torch.zeros(d))
            self.item_query_head = self._build_query_head(2 * d, act, dropout)
            self.feedback_head = build_mlp([3 * d, d, n_outputs], act, dropout)
        self.item_output_projection = None
        self.item_output_embedding = None
        if self.item_output == "projected":
            self.item_output_projection = nn.Linear(d, self.head_size, bias=False)
        elif self.item_output == "separate":
            self.item_output_embedding = nn.Embedding(self.n_items, self.head_size, padding_idx=0)

    def _build_item_text(self, config, dataset):
        """``item_text_fields``: each item's text as a fixed vector (:meth:`_item_text_vectors`; a buffer, saved
        with the weights) and the map that adds it to the item token, zero at the start (training starts from
        the id and feature rows alone); outside the item tables' decay group, like every other weight."""
        fields = list(config["item_text_fields"] or [])
        if not fields:
            return None
        # the dataset checked the fields when it read the files (ARGUSDataset._check_item_feature_fields)
        vectors = self._item_text_vectors(config, dataset, fields)
        self.register_buffer("item_text_vectors", vectors)
        projection = nn.Linear(vectors.shape[-1], self.hidden_size, bias=False)
        nn.init.zeros_(projection.weight)
        return projection

    def _item_text_vectors(self, config, dataset, fields):
        """``[n_items, width]`` fixed vectors of the items' ``fields`` text: their ``item_text_dims`` LSA vectors
        (a subclass may bring other text vectors, e.g. a pretrained sentence encoder's)."""
        return text_lsa_vectors(item_texts(dataset, fields, separator=". "), config["item_text_dims"])

    def _build_position_bias(self, config):
        if self.position_encoding != "decoupled":
            return None
        bias = UntiedPositionalBias(self.hidden_size, config["n_heads"], config["layer_norm_eps"])
        bias.apply(lambda module: init_weights(module, config["initializer_range"]))
        return bias

    def _build_query_head(self, size_in, act, dropout):
        """``mlp``: Linear-act-dropout-Linear into ``head_size`` (the paper's); ``linear``: one Linear;
        ``hidden``: none (the query is the hidden state, see :meth:`_item_queries`)."""
        if self.query_head == "hidden":
            return None
        if self.query_head == "linear":
            return nn.Linear(size_in, self.head_size)
        return build_mlp([size_in, self.hidden_size, self.head_size], act, dropout)

    def _is_binary(self, field):
        return self.feedback_thresholds[field] is not None

    def _target_item_probs(self, dataset):
        """Empirical next-item distribution of the training positions (in-batch sampling Q)."""
        items = dataset.inter_feat[self.ITEM_SEQ]
        counts = torch.bincount(items[items > 0], minlength=self.n_items).double()
        return (counts / counts.sum().clamp_min(1)).float()

    def temperature(self):
        return clipped_temperature(self.log_temperature)

    # ------------------------------------------------------------------ events
    def _field_list(self, interaction, field):
        return interaction[field + self.list_suffix]

    def _context_embedding(self, interaction, present, target=None, first_of_segment=None):
        """``[B, L, d]`` context of each history event.

        With ``target`` (``[B]`` slot index), the slot also gets the target
        event's own context fields (known at request time). In a packed row,
        ``first_of_segment`` marks where a chunk starts (no known gap there).
        """
        embedding = torch.zeros(present.shape + (self.hidden_size,), device=present.device)
        if self.time_context or self.absolute_time_context:
            timestamps = self._field_list(interaction, self.seconds_field)
            if target is not None:
                timestamps = self._put_target(timestamps, interaction[self.seconds_field], target)
        if self.time_context:
            hours, days, gaps = time_context_ids(timestamps, present, first_of_segment)
            embedding = embedding + self.hour_embedding(hours) + self.weekday_embedding(days)
            embedding = embedding + self.gap_embedding(gaps)
        if self.absolute_time_context:
            embedding = embedding + self.absolute_time_embedding(self.absolute_time_buckets(timestamps))
        for field, table in self.context_token_embeddings.items():
            values = self._field_list(interaction, field)
            if target is not None:
                values = self._put_target(values, interaction[field], target)
            embedding = embedding + table(values.long())
        if self.context_float_projection is not None:
            columns = []
            for field in self.float_context_fields:
                values = self._field_list(interaction, field).float()
                if target is not None:
                    values = self._put_target(values, interaction[field].float(), target)
                columns.append(values)
            embedding = embedding + self.context_float_projection(torch.stack(columns, -1))
        return embedding * present.unsqueeze(-1)

    def _feedback_values(self, interaction):
        """``[B, L, F]`` raw feedback values of the history events."""
        if not self.feedback_fields:
            return None
        return torch.stack([self._field_list(interaction, f).float() for f in self.feedback_fields], -1)

    def _feedback_embedding(self, values, present):
        if values is None:
            return torch.zeros(present.shape + (self.hidden_size,), device=present.device)
        standardized = (values - self.feedback_mean) / self.feedback_std
        features = []
        for index, field in enumerate(self.feedback_fields):
            features.append(standardized[..., index])
            if self._is_binary(field):
                features.append((values[..., index] >= self.feedback_thresholds[field]).float())
        features = torch.stack(features, -1) * present.unsqueeze(-1)
        return self.feedback_projection(features) * present.unsqueeze(-1)

    @staticmethod
    def _put_target(history, target_values, slot):
        """Copy of ``history`` (``[B, L]``) with ``target_values`` written at column ``slot``."""
        history = history.clone()
        history[torch.arange(len(slot), device=slot.device), slot] = target_values.to(history.dtype)
        return history

    @staticmethod
    def _attention_mask(segments, tokens_per_event):
        """Block-diagonal causal mask over the tokens of packed rows; ``None`` (plain
        causal, faster) when no row holds more than one segment."""
        if not segments.is_meta and int(segments.max()) <= 1:
            return None
        return segment_causal_mask(segments.repeat_interleave(tokens_per_event, dim=1))

    def _encode(self, item_vectors, context, feedback, segments):
        """Hidden states: ``[B, L, 3, d]`` (full) or ``[B, L, d]`` (simplified) of the item
        tokens ``item_vectors`` (``[B, L, d]``) with their context and feedback.

        ``segments`` (``[B, L]``) numbers the chunks of a packed row: positions
        restart at each chunk and no attention crosses chunks.
        """
        batch, length = segments.shape
        positions = self.position_embedding(segment_positions(segments))
        token_positions = positions if self.position_bias is None else torch.zeros_like(positions)
        if self.variant == "full":
            if not self.use_target_context:
                # context then travels with the item token; the query token is a null context
                item_vectors = item_vectors + context
                context = self.null_context.expand_as(context)
            tokens = torch.stack([context, item_vectors, feedback], dim=2)
            tokens = tokens + token_positions.unsqueeze(2) + self.token_type_embedding.weight
            tokens = self.input_dropout(self.input_norm(tokens)).view(batch, 3 * length, -1)
            return self._run_encoder(tokens, segments, positions, 3).view(batch, length, 3, -1)
        if self.event_fusion is None:
            tokens = item_vectors + context + feedback  # zeros where events carry nothing but their items
        else:
            tokens = self.event_fusion(torch.cat([context, item_vectors, feedback], dim=-1))
        tokens = self.input_dropout(self.input_norm(tokens + token_positions))
        return self._run_encoder(tokens, segments, positions, 1)

    def _run_encoder(self, tokens, segments, positions, tokens_per_event):
        """The encoder over ``tokens`` (``[B, tokens_per_event * L, d]``) of packed rows, with the position
        vectors ``positions`` (``[B, L, d]``) as an attention bias when they are decoupled from the tokens."""
        mask = self._attention_mask(segments, tokens_per_event)
        if self.position_bias is None:
            return self.encoder(tokens, mask)
        bias = self.position_bias(positions.repeat_interleave(tokens_per_event, dim=1))
        return self.encoder(tokens, mask, attn_bias=bias)

    def _simplified_query_inputs(self, hidden, context, segments):
        """``[h_{t-1}; c_t]`` for every position ``t`` (``h_{-1}``, also at the start of
        every packed chunk, is a learned start state)."""
        start = self.start_state.expand_as(hidden)
        previous = torch.cat([start[:, :1], hidden[:, :-1]], dim=1)
        previous = torch.where(segment_starts(segments).unsqueeze(-1), start, previous)
        if not self.use_target_context:
            context = self.null_context.expand_as(context)
        return previous, context

    def _heads(self, items, context, feedback, segments):
        """Item queries ``[B, L, head]`` and feedback outputs ``[B, L, F]`` at every position."""
        item_tokens = self.item_tokens(items)
        hidden = self._encode(item_tokens, context, feedback, segments)
        if self.variant == "full":
            return self._item_queries(hidden[:, :, 0]), self.feedback_head(hidden[:, :, 1])
        previous, query_context = self._simplified_query_inputs(hidden, context, segments)
        queries = self._item_queries(previous, query_context)
        feedback_inputs = torch.cat([previous, query_context, item_tokens], -1)
        return queries, self.feedback_head(feedback_inputs)

    def _item_queries(self, state, context=None):
        """Item queries from the query token's hidden state (full) or from ``h_{t-1}`` and the target's
        context (simplified): through the query head, or (``query_head: hidden``) the state itself, plus the
        target's context when the query reads it (``use_target_context``), as SASRec scores."""
        if self.query_head != "hidden":
            return self.item_query_head(state if context is None else torch.cat([state, context], -1))
        if context is None or not self.use_target_context:
            return state
        return state + context

    def item_tokens(self, items):
        """Input vectors (``items.shape + (hidden_size,)``) of item ids: the id embedding plus, with
        ``item_feature_fields``, the item's features (exact or unified hashed tables) and, with
        ``item_text_fields``, its mapped text vector."""
        tokens = self._step_item_tokens[items] if self._step_item_tokens is not None else self.item_embedding(items)
        return self._with_item_text(tokens, items)

    def _all_item_tokens(self):
        if self._step_item_tokens is not None:
            tokens = self._step_item_tokens
        elif isinstance(self.item_embedding, nn.Embedding):
            tokens = self.item_embedding.weight
        else:
            tokens = self.item_embedding.all_items()
        return self._with_item_text(tokens)

    def _with_item_text(self, tokens, items=None):
        if self.item_text_projection is None:
            return tokens
        vectors = self.item_text_vectors if items is None else self.item_text_vectors[items]
        return tokens + self.item_text_projection(vectors)

    @contextlib.contextmanager
    def _item_tokens_once(self):
        """Inside, a training step whose loss reads every item's vector (the exact softmax, or history
        negatives) through item features takes its input tokens from the catalogue's tokens, built once: the
        same vectors and gradients, one pass over the item tables instead of two."""
        reads_catalogue = self.softmax == "full" or self.history_negatives
        if reads_catalogue and self.item_output != "separate" and isinstance(self.item_embedding, ItemTokenEmbedding):
            self._step_item_tokens = self.item_embedding.all_items()
        try:
            yield
        finally:
            self._step_item_tokens = None

    def item_vectors(self, items=None):
        """``[n_items, head_size]`` output vectors of every item id (row 0: padding), or of the
        ids ``items`` only (``items.shape + (head_size,)``).

        ``item_output``: the input item tokens (id and item features) through a projection
        (``projected``), the input tokens themselves (``tied``, as SASRec
        scores; Press and Wolf, "Using the Output Embedding to Improve Language
        Models", EACL 2017) or a table of their own (``separate``, ids only).
        """
        if self.item_output == "separate":
            weight = self.item_output_embedding.weight
            return weight if items is None else weight[items]
        tokens = self._all_item_tokens() if items is None else self.item_tokens(items)
        if self.item_output == "projected":
            return self.item_output_projection(tokens)
        return tokens

    def _segments(self, interaction):
        """``[B, L]`` chunk numbers of a training row (packed or not); one chunk otherwise."""
        if SEGMENT_FIELD in interaction:
            return interaction[SEGMENT_FIELD]
        return (interaction[self.ITEM_SEQ] > 0).long()

    # ------------------------------------------------------------------ training
    def forward(self, interaction):
        """Item queries and feedback outputs at every history position."""
        items = interaction[self.ITEM_SEQ]
        present = items > 0
        segments = self._segments(interaction)
        context = self._context_embedding(interaction, present, first_of_segment=segment_starts(segments))
        feedback_values = self._feedback_values(interaction)
        feedback = self._feedback_embedding(feedback_values, present)
        return self._heads(items, context, feedback, segments)

    def calculate_loss(self, interaction):
        """Next-item softmax + weighted feedback losses, every position at once."""
        with self._item_tokens_once():
            return self._losses(interaction)

    def _losses(self, interaction):
        items = interaction[self.ITEM_SEQ]
        present = items > 0
        queries, feedback_outputs = self.forward(interaction)
        history_logits = earlier = None
        if self.history_negatives:
            history_logits = self.history_logits(queries, items, self._segments(interaction))[present]
        if self.loss_excludes_history:
            earlier = earlier_items(items, self._segments(interaction))[present]
        next_item_loss = self.next_item_loss(queries[present], items[present], history_logits, earlier)
        feedback_values = self._feedback_values(interaction)
        if feedback_values is None:
            return next_item_loss
        return next_item_loss, self.feedback_loss(feedback_outputs[present], feedback_values[present])

    def history_logits(self, queries, items, segments=None):
        """``[B, L, L]`` logits of each position's query against the items before it
        (in a packed row: before it in its own chunk).

        Earlier items of the same history are negatives the uniform and
        in-batch samples almost never contain; without them the model never
        learns that a MovieLens user does not rate a film twice. Not
        logQ-corrected (they are not drawn from Q); a later position, padding
        and a copy of the target are masked.
        """
        vectors = self.item_vectors()[items]
        logits = queries @ vectors.transpose(1, 2) / self.temperature()
        length = items.shape[1]
        earlier = torch.ones(length, length, dtype=torch.bool, device=items.device).tril(-1)
        valid = earlier & (items > 0).unsqueeze(1) & (items.unsqueeze(1) != items.unsqueeze(2))
        if segments is not None:
            valid = valid & (segments.unsqueeze(1) == segments.unsqueeze(2))
        return logits.masked_fill(~valid, float("-inf"))

    def next_item_loss(self, queries, positives, history_logits=None, earlier=None):
        """Exact softmax over the catalogue (``softmax`` resolved to ``full``; logQ-corrected
        when ``full_softmax_log_q``) or the logQ-corrected sampled softmax; ``earlier`` (``[M, L]`` item ids, 0: none): items
        each row's softmax leaves out (``loss_excludes_history``)."""
        log_q = log_expected_count(
            self.target_item_probs, len(positives), self.uniform_negatives, self.n_items - 1
        )
        if self.softmax == "full":
            return full_softmax_loss(
                queries, self.item_vectors(), positives, self.temperature(), earlier,
                log_q if self.full_softmax_log_q else None,
            )
        in_batch = torch.unique(positives)
        uniform = torch.randint(1, self.n_items, (self.uniform_negatives,), device=positives.device)
        candidates = torch.unique(torch.cat([in_batch, uniform]))
        # output vectors of the candidates only (every positive is one of them), indexed locally
        local_positives = torch.searchsorted(candidates, positives)
        return sampled_softmax_loss(
            queries,
            self.item_vectors(candidates),
            local_positives,
            torch.arange(len(candidates), device=candidates.device),
            log_q[candidates],
            self.temperature(),
            history_logits,
            None if earlier is None else history_candidate_mask(candidates, earlier, positives),
        )

    def feedback_loss(self, outputs, values):
        """Sum over feedback fields of ``weight * (BCE or MSE)``."""
        total = outputs.new_zeros(())
        for index, field in enumerate(self.feedback_fields):
            prediction = outputs[:, index]
            if self._is_binary(field):
                target = (values[:, index] >= self.feedback_thresholds[field]).float()
                loss = F.binary_cross_entropy_with_logits(prediction, target)
            else:
                target = (values[:, index] - self.feedback_mean[index]) / self.feedback_std[index]
                loss = F.mse_loss(prediction, target)
            total = total + self.feedback_weights[field] * loss
        return total

    # ------------------------------------------------------------------ prediction
    def _target_window(self, interaction):
        """History plus one slot for the target event, in ``max_seq_length`` slots.

        Returns ``(window, items, slot)``: a function that windows any
        ``[B, L]`` history list the same way, the windowed items and the
        target's slot. Where the history is full its oldest event is dropped
        (training chunks also predict position ``L - 1`` from ``L - 1`` earlier
        events). The slot holds item 0 and no feedback.
        """
        items = interaction[self.ITEM_SEQ]
        lengths = interaction[self.ITEM_SEQ_LEN].long()
        batch, length = items.shape
        full = lengths >= length
        slot = torch.where(full, lengths - 1, lengths)

        def window(values):
            values = F.pad(values, (0, 1))
            return torch.where(full.unsqueeze(1), values[:, 1:], values[:, :-1])

        return window, window(items), slot

    def _target_queries(self, interaction, target_items=None):
        """Next-item queries ``[B, head]`` and feedback outputs ``[B, F]`` for the target event.

        Reads the history, the target's context (``use_target_context``) and,
        only when ``target_items`` is given (feedback prediction), that item.
        """
        window, items, slot = self._target_window(interaction)
        rows = torch.arange(len(slot), device=slot.device)
        history = items > 0
        present = history.clone()
        present[rows, slot] = True

        windowed = {}
        for field in self._list_fields_read():
            windowed[field + self.list_suffix] = window(self._field_list(interaction, field))
            if field in self._context_fields_read():
                windowed[field] = interaction[field]
        context = self._context_embedding(windowed, present, target=slot if self.use_target_context else None)
        if not self.use_target_context:
            # the target slot has no context of its own
            context[rows, slot] = 0
        feedback_values = None
        if self.feedback_fields:
            feedback_values = torch.stack(
                [windowed[f + self.list_suffix].float() for f in self.feedback_fields], -1
            )
        feedback = self._feedback_embedding(feedback_values, history)
        if target_items is not None:
            items = self._put_target(items, target_items, slot)
        return self._slot_heads(items, context, feedback, present, slot)

    def _slot_heads(self, items, context, feedback, present, slot):
        """Heads at each row's ``slot`` only, without compute on the padding after it.

        Rows are sorted by slot and run in groups of ``EVAL_GROUP_ROWS``, each
        cut to its longest row: causal attention makes the outputs up to a slot
        independent of the columns after it, so the result is that of the whole
        padded batch (short-history datasets: ~9 real events in 50 columns).
        """
        queries = context.new_empty(len(slot), self.head_size)
        feedback_outputs = context.new_empty(len(slot), max(len(self.feedback_fields), 1))
        for group in torch.argsort(slot).split(EVAL_GROUP_ROWS):
            # a meta tensor (shapes without values, as in the device test) cannot be cut by value
            width = items.shape[1] if slot.is_meta else int(slot[group].max()) + 1
            group_queries, group_feedback = self._heads(
                items[group, :width], context[group, :width], feedback[group, :width], present[group, :width].long()
            )
            at = torch.arange(len(group), device=slot.device), slot[group]
            queries[group], feedback_outputs[group] = group_queries[at], group_feedback[at]
        return queries, feedback_outputs

    def _context_fields_read(self):
        reads_time = self.time_context or self.absolute_time_context
        return ([self.seconds_field] if reads_time else []) + self.context_fields

    def _list_fields_read(self):
        return list(dict.fromkeys(self._context_fields_read() + self.feedback_fields))

    def query_vectors(self, interaction):
        """``[B, head_size]`` next-item queries of the targets, temperature folded in:
        the score of item ``i`` is ``query_vectors(interaction) @ item_vectors()[i]``."""
        queries, _ = self._target_queries(interaction)
        return queries / self.temperature()

    def full_sort_predict(self, interaction):
        scores = self.query_vectors(interaction) @ self.item_vectors().T
        scores[:, 0] = float("-inf")  # padding id
        return scores

    def predict(self, interaction):
        item_vectors = self.item_vectors()[interaction[self.ITEM_ID]]
        return (self.query_vectors(interaction) * item_vectors).sum(-1)

    def predict_feedback(self, interaction):
        """Predicted feedback of the target event given its item (probabilities for binary fields).

        Returns a dict field -> ``[B]`` tensor (binary: P(value >= threshold);
        real: the value in the field's raw units).
        """
        _, outputs = self._target_queries(interaction, target_items=interaction[self.ITEM_ID])
        predictions = {}
        for index, field in enumerate(self.feedback_fields):
            if self._is_binary(field):
                predictions[field] = torch.sigmoid(outputs[:, index])
            else:
                predictions[field] = outputs[:, index] * self.feedback_std[index] + self.feedback_mean[index]
        return predictions


@torch.no_grad()
def feedback_auc(model, eval_data, field=None):
    """ROC AUC of a binary feedback field's prediction on the targets of ``eval_data``.

    ``eval_data`` is a RecBole evaluation data loader (validation or test).
    """
    from sklearn.metrics import roc_auc_score

    field = field or next(f for f in model.feedback_fields if model._is_binary(f))
    model.eval()
    scores, labels = [], []
    for batch in eval_data:
        interaction = batch[0].to(model.device)
        scores.append(model.predict_feedback(interaction)[field].cpu().numpy())
        labels.append((interaction[field] >= model.feedback_thresholds[field]).cpu().numpy())
    return float(roc_auc_score(np.concatenate(labels), np.concatenate(scores)))
