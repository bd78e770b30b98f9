"""ARGUS: causal mask, leakage, losses, chunked training data, end-to-end learning."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import recbole_ext  # noqa: F401  (registers ARGUS)
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.data.dataset import SequentialDataset
from recbole.data.interaction import Interaction
from recbole.quick_start import run_recbole
from recbole.utils import get_model, get_trainer, init_seed

from recbole_ext.data.argus_dataset import CUT_FIELD, SEGMENT_FIELD, ARGUSDataset, chunk_bounds, pack_chunks
from recbole_ext.model.argus import (
    ARGUS,
    POST_LN_WARMUP_STEPS,
    clipped_temperature,
    earlier_items,
    feedback_auc,
    full_softmax_loss,
    history_candidate_mask,
    item_table_decay_groups,
    log_expected_count,
    resolve_loss_excludes_history,
    resolve_softmax,
    sampled_softmax_loss,
)
from recbole_ext.model.layers import CausalTransformerEncoder, segment_causal_mask, segment_positions, segment_starts
from recbole_ext.model.post_ln_encoder import PostLNEncoder
from recbole_ext.trainer.nan_guard import NaNLossError
from tests.conftest import quiet_config

N_ITEMS = 30
N_USERS = 60
EVENTS_PER_USER = 24
CHUNK = 8


def _synthetic_events(seed=0):
    """Each user walks item -> item + 1 (mod N_ITEMS); like (rating 5) iff the item id is even."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, N_USERS + 1):
        item = int(rng.integers(N_ITEMS))
        start = 1_000_000_000 + int(rng.integers(10**6))
        length = EVENTS_PER_USER - int(rng.integers(0, 6))
        for step in range(length):
            item_id = item + 1
            rows.append((user, item_id, 5.0 if item_id % 2 == 0 else 1.0, start + 3600 * step))
            item = (item + 1) % N_ITEMS
    return rows



@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("argus_data")
    (root / "syn").mkdir()
    with open(root / "syn" / "syn.inter", "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        for user, item, rating, timestamp in _synthetic_events():
            f.write(f"{user}\t{item}\t{rating}\t{timestamp}\n")
    with open(root / "syn" / "syn.item", "w") as f:
        f.write("item_id:token\tgenre:token_seq\tyear:token\tprice:float\n")
        for item in range(1, N_ITEMS + 1):
            f.write(f"{item}\t{'even' if item % 2 == 0 else 'odd'} g{item % 5}\ty{item % 3}\t{item / 10}\n")
    return root


def _config(data_dir, tmp_path, **overrides):
    settings = {
        "data_path": str(data_dir),
        "checkpoint_dir": str(tmp_path / "saved"),
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "MAX_ITEM_LIST_LENGTH": CHUNK,
        "hidden_size": 32,
        "head_size": 32,
        "inner_size": 64,
        "n_layers": 1,
        "n_heads": 2,
        "hidden_dropout_prob": 0.0,
        "attn_dropout_prob": 0.0,
        "uniform_negatives": 16,
        "train_batch_size": 32,
        "learning_rate": 0.01,
        "epochs": 40,
        "eval_step": 5,
        "stopping_step": 40,
        "show_progress": False,
        "state": "ERROR",
        "metrics": ["Recall", "NDCG"],
        "exclude_history_items": True,  # the synthetic users never repeat an item
        "valid_metric": "Recall@10",
    }
    settings.update(overrides)
    return Config(model="ARGUS", dataset="syn", config_dict=settings)


def _prepare(config):
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model("ARGUS")(config, train._dataset)
    return dataset, train, valid, test, model


def _first_eval_batch(loader):
    return next(iter(loader))[0]


# ---------------------------------------------------------------- losses


def _slow_sampled_softmax(query, item_vectors, positives, candidates, log_q, temperature):
    losses = []
    for row in range(len(query)):
        positive = int(positives[row])
        score = lambda item: float(query[row] @ item_vectors[item]) / temperature - float(log_q[item])
        terms = [score(positive)] + [score(int(c)) for c in candidates if int(c) != positive]
        losses.append(-terms[0] + math.log(sum(math.exp(t) for t in terms)))
    return sum(losses) / len(losses)


def test_sampled_softmax_matches_slow_reference():
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    item_vectors = torch.randn(9, 4, generator=generator, dtype=torch.float64)
    positives = torch.tensor([1, 3, 3, 8, 2])
    candidates = torch.tensor([2, 3, 5, 6, 8])  # holds accidental hits of rows 1, 2, 3, 4
    log_q = torch.randn(9, generator=generator, dtype=torch.float64)
    fast = sampled_softmax_loss(query, item_vectors, positives, candidates, log_q, torch.tensor(0.7, dtype=torch.float64))
    slow = _slow_sampled_softmax(query, item_vectors, positives, candidates, log_q, 0.7)
    assert float(fast) == pytest.approx(slow, rel=1e-9)


def test_sampled_softmax_equals_full_softmax_with_every_item_and_uniform_q():
    generator = torch.Generator().manual_seed(1)
    n_items = 12  # id 0 is padding
    query = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    item_vectors = torch.randn(n_items, 5, generator=generator, dtype=torch.float64)
    positives = torch.randint(1, n_items, (6,), generator=generator)
    every_item = torch.arange(1, n_items)
    uniform_log_q = torch.full((n_items,), math.log(0.3), dtype=torch.float64)
    sampled = sampled_softmax_loss(query, item_vectors, positives, every_item, uniform_log_q, torch.tensor(2.0, dtype=torch.float64))
    full = F.cross_entropy(query @ item_vectors[1:].T / 2.0, positives - 1)
    assert float(sampled) == pytest.approx(float(full), rel=1e-9)


def test_full_softmax_equals_sampled_softmax_with_every_item_and_no_log_q():
    generator = torch.Generator().manual_seed(2)
    n_items = 15  # id 0 is padding
    query = torch.randn(7, 6, generator=generator, dtype=torch.float64)
    item_vectors = torch.randn(n_items, 6, generator=generator, dtype=torch.float64)
    positives = torch.randint(1, n_items, (7,), generator=generator)
    temperature = torch.tensor(0.3, dtype=torch.float64)
    no_correction = torch.zeros(n_items, dtype=torch.float64)
    sampled = sampled_softmax_loss(query, item_vectors, positives, torch.arange(1, n_items), no_correction, temperature)
    full = full_softmax_loss(query, item_vectors, positives, temperature)
    assert float(full) == pytest.approx(float(sampled), rel=1e-12)
    # a candidate set that misses items gives a different (smaller) loss: the test can fail
    partial = sampled_softmax_loss(query, item_vectors, positives, torch.arange(1, 5), no_correction, temperature)
    assert float(partial) < float(full)


def test_full_softmax_with_log_q_is_the_sampled_softmax_with_every_item_a_candidate():
    generator = torch.Generator().manual_seed(3)
    query, vectors = torch.randn(5, 4, generator=generator), torch.randn(9, 4, generator=generator)
    positives, temperature = torch.tensor([1, 3, 3, 8, 5]), torch.tensor(0.5)
    log_q = torch.log(torch.rand(9, generator=generator))
    corrected = full_softmax_loss(query, vectors, positives, temperature, log_q=log_q)
    assert torch.allclose(corrected, sampled_softmax_loss(query, vectors, positives, torch.arange(1, 9), log_q, temperature))
    exact = full_softmax_loss(query, vectors, positives, temperature)
    assert torch.allclose(full_softmax_loss(query, vectors, positives, temperature, log_q=torch.full((9,), -2.0)), exact)
    assert not torch.allclose(corrected, exact)  # a correction that varies by item changes the loss


@pytest.mark.parametrize("log_q_on", [True, False])
def test_full_softmax_leaves_out_each_rows_earlier_items_but_its_positive_as_a_masked_softmax_does(log_q_on):
    """The in-place left-out items give the loss and the gradients of the plain recipe (logits divided,
    corrected, masked by :func:`history_candidate_mask`)."""
    generator = torch.Generator().manual_seed(4)
    n_items, rows = 30, 12
    query = torch.randn(rows, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    vectors = torch.randn(n_items, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    temperature = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    positives = torch.randint(1, n_items, (rows,), generator=generator)
    earlier = torch.randint(0, n_items, (rows, 6), generator=generator)
    earlier[0, :2] = positives[0]  # a repeated positive stays in its row's softmax
    earlier[1, 2:4] = earlier[1, 0]  # a repeated earlier item is left out once
    log_q = torch.log(torch.rand(n_items, generator=generator, dtype=torch.float64)) if log_q_on else None

    def masked_recipe():
        logits = query @ vectors[1:].T / temperature
        if log_q is not None:
            logits = logits - log_q[1:]
        excluded = history_candidate_mask(torch.arange(1, n_items), earlier, positives)
        return F.cross_entropy(logits.masked_fill(excluded, float("-inf")), positives - 1)

    losses, gradients = [], []
    for loss_of in (masked_recipe, lambda: full_softmax_loss(query, vectors, positives, temperature, earlier, log_q)):
        loss = loss_of()
        losses.append(loss)
        gradients.append(torch.autograd.grad(loss, (query, vectors, temperature)))
    assert float(losses[1]) == pytest.approx(float(losses[0]), rel=1e-12)
    for got, expected in zip(gradients[1], gradients[0]):
        assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert float(full_softmax_loss(query, vectors, positives, temperature, log_q=log_q)) > float(losses[1])
    twice = full_softmax_loss(query, vectors, positives, temperature, earlier, log_q)
    twice.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="runs once per forward"):
        twice.backward()


@pytest.mark.parametrize("log_q_on", [True, False])
def test_model_full_softmax_is_the_catalogue_cross_entropy(data_dir, tmp_path, log_q_on):
    """The exact softmax over every item, its logits less the step's log Q (``full_softmax_log_q``) or not."""
    config = _config(data_dir, tmp_path, softmax="full", loss_excludes_history=False, full_softmax_log_q=log_q_on)
    _, train, _, _, model = _prepare(config)
    assert model.softmax == "full"
    model.eval()
    batch = next(iter(train))
    with torch.no_grad():
        queries, _ = model.forward(batch)
        present = batch[model.ITEM_SEQ] > 0
        positives = batch[model.ITEM_SEQ][present]
        logits = queries[present] @ model.item_vectors().T / model.temperature()
        if log_q_on:  # the probability that one step's sampled softmax draws each item (Yi et al., 2019)
            probs = model.target_item_probs
            drawn = 1 - (1 - probs) ** len(positives) * (1 - 1 / (model.n_items - 1)) ** model.uniform_negatives
            logits = logits - torch.log(drawn)
        expected = F.cross_entropy(logits[:, 1:], positives - 1)
        next_item_loss = model.calculate_loss(batch)[0]
    assert float(next_item_loss) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize(
    "mode, max_items, expected", [("auto", 1000, "full"), ("auto", 10, "sampled"), ("full", 0, "full"), ("sampled", 10**6, "sampled")]
)
def test_softmax_mode_is_chosen_by_catalogue_size(mode, max_items, expected):
    assert resolve_softmax(mode, n_items=N_ITEMS + 1, max_items=max_items) == expected


@pytest.mark.parametrize(
    "key, overrides",
    [
        ("softmax", {"softmax": "exact"}),
        ("full_softmax_max_items", {"full_softmax_max_items": -1}),
        ("full_softmax_log_q", {"full_softmax_log_q": "yes"}),
        ("history_negatives", {"history_negatives": True, "softmax": "full"}),
        ("loss_excludes_history", {"loss_excludes_history": True, "history_negatives": True, "softmax": "sampled"}),
        ("loss_excludes_history", {"loss_excludes_history": "yes"}),
        ("query_head", {"query_head": "attention"}),
        ("norm_first", {"norm_first": "yes"}),
        ("event_token", {"event_token": "fused"}),
        ("position_encoding", {"position_encoding": "rotary"}),
        ("position_encoding", {"position_encoding": "decoupled", "norm_first": True}),
        ("warmup_steps", {"warmup_steps": "soon"}),
        ("warmup_steps", {"warmup_steps": -1}),
        ("item_output", {"item_output": "shared"}),
        ("item_output", {"item_output": "tied", "head_size": 16}),
        ("item_weight_decay", {"item_weight_decay": -0.1}),
        ("item_weight_decay", {"item_weight_decay": 0.3, "learner": "sgd"}),
    ],
)
def test_bad_head_settings_are_one_clear_line(data_dir, tmp_path, key, overrides):
    """A value off its rule stops at the config (SettingsError, a ValueError); a combination of
    valid values the model cannot build stops at the model."""
    with pytest.raises(ValueError) as error:
        config = _config(data_dir, tmp_path, **overrides)
        init_seed(config["seed"], True)
        train, _, _ = data_preparation(config, create_dataset(config))
        ARGUS(config, train._dataset)
    assert key in str(error.value) and "\n" not in str(error.value)


def test_history_negatives_are_earlier_items_of_the_same_history(data_dir, tmp_path):
    """Loss with ``history_negatives`` = a slow softmax whose negatives are the
    sampled candidates (logQ-corrected) plus the row's earlier items (not corrected)."""
    config = _config(data_dir, tmp_path, history_negatives=True, uniform_negatives=3, softmax="sampled")
    _, train, _, _, model = _prepare(config)
    model.eval()  # no dropout: forward is deterministic
    batch = next(iter(train))
    batch = batch[batch[SEGMENT_FIELD].max(1).values.argsort(descending=True)[:3]]
    items = batch[model.ITEM_SEQ]
    segments = batch[SEGMENT_FIELD]
    assert int(segments.max()) > 1  # packed rows: earlier items of another user's chunk are no negatives
    items[0, 2] = items[0, 4]  # a repeat of a later target must not count as its negative
    with torch.no_grad():
        queries, _ = model.forward(batch)
        logits = model.history_logits(queries, items, segments)
        vectors, temperature = model.item_vectors(), float(model.temperature())
    for b in range(3):
        for t in range(items.shape[1]):
            for j in range(items.shape[1]):
                expected_valid = (
                    j < t and items[b, j] > 0 and items[b, j] != items[b, t] and segments[b, j] == segments[b, t]
                )
                if not expected_valid:
                    assert logits[b, t, j] == float("-inf")
                else:
                    by_hand = float(queries[b, t] @ vectors[items[b, j]]) / temperature
                    assert float(logits[b, t, j]) == pytest.approx(by_hand, rel=1e-5, abs=1e-8)

    generator = torch.Generator().manual_seed(3)
    query = torch.randn(2, 4, generator=generator, dtype=torch.float64)
    item_vectors = torch.randn(7, 4, generator=generator, dtype=torch.float64)
    positives, candidates = torch.tensor([1, 2]), torch.tensor([2, 5])
    log_q = torch.randn(7, generator=generator, dtype=torch.float64)
    extra = torch.tensor([[0.3, float("-inf")], [1.2, -0.4]], dtype=torch.float64)
    fast = sampled_softmax_loss(query, item_vectors, positives, candidates, log_q, torch.tensor(0.5, dtype=torch.float64), extra)
    rows = []
    for row in range(2):
        score = lambda item: float(query[row] @ item_vectors[item]) / 0.5 - float(log_q[item])
        terms = [score(int(positives[row]))] + [score(int(c)) for c in candidates if c != positives[row]]
        terms += [float(x) for x in extra[row] if x != float("-inf")]
        rows.append(-terms[0] + math.log(sum(math.exp(t) for t in terms)))
    assert float(fast) == pytest.approx(sum(rows) / 2, rel=1e-9)


@pytest.mark.parametrize("softmax", ["full", "sampled"])
def test_loss_excludes_history_leaves_out_each_targets_earlier_items_of_its_chunk(data_dir, tmp_path, softmax):
    """With ``loss_excludes_history`` the next-item loss = a slow softmax per position over the candidates
    (every item, or the in-batch ones) less the items before it in its own chunk, its own positive kept."""
    config = _config(data_dir, tmp_path, softmax=softmax, loss_excludes_history=True, uniform_negatives=0)
    _, train, _, _, model = _prepare(config)
    model.eval()  # no dropout: forward is deterministic
    batch = next(iter(train))
    items, segments = batch[model.ITEM_SEQ], batch[SEGMENT_FIELD]
    assert int(segments.max()) > 1  # packed rows: another user's earlier items stay in the softmax
    items[0, 2] = items[0, 1]  # a repeat: the target stays in its own softmax
    with torch.no_grad():
        loss = model.calculate_loss(batch)
        queries, _ = model.forward(batch)
        vectors, temperature = model.item_vectors(), float(model.temperature())
    present = items > 0
    positives = items[present]
    log_q = log_expected_count(model.target_item_probs, len(positives), 0, model.n_items - 1)
    candidates = list(range(1, model.n_items)) if softmax == "full" else torch.unique(positives).tolist()
    by_hand = []
    for b, t in present.nonzero().tolist():
        positive = int(items[b, t])
        earlier = {int(items[b, s]) for s in range(t) if segments[b, s] == segments[b, t]} - {positive}
        kept = [c for c in candidates if c not in earlier]
        logits = queries[b, t] @ vectors[kept].T / temperature - log_q[kept]
        by_hand.append(torch.logsumexp(logits, 0) - logits[kept.index(positive)])
    next_item_loss = loss[0] if isinstance(loss, tuple) else loss
    assert float(next_item_loss) == pytest.approx(float(torch.stack(by_hand).mean()), rel=1e-5)


def test_history_candidate_mask_marks_exactly_the_earlier_items_of_the_same_chunk():
    items = torch.tensor([[5, 6, 7, 8, 0]])
    segments = torch.tensor([[1, 1, 2, 2, 0]])  # two packed chunks
    earlier = earlier_items(items, segments)[items > 0]
    assert earlier.tolist() == [[0, 0, 0, 0, 0], [5, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 7, 0, 0]]
    candidates = torch.tensor([3, 5, 6, 7, 8])
    positives = torch.tensor([5, 6, 7, 8])
    assert history_candidate_mask(candidates, earlier, positives).tolist() == [
        [False] * 5, [False, True, False, False, False], [False] * 5, [False, False, False, True, False]]
    assert not history_candidate_mask(candidates, earlier, torch.tensor([5, 5, 7, 7])).any()  # a repeat stays


@pytest.mark.parametrize(
    "setting, exclude_history_items, history_negatives, expected",
    [(None, True, False, True), (None, False, False, False), (None, True, True, False), (False, True, False, False),
     (True, False, False, True)],
)
def test_loss_excludes_history_follows_the_evaluations_history_rule_unless_set(
    setting, exclude_history_items, history_negatives, expected
):
    assert resolve_loss_excludes_history(setting, exclude_history_items, history_negatives) is expected


def test_log_expected_count_is_inclusion_probability():
    probs = torch.tensor([0.0, 0.5, 0.1], dtype=torch.float64)
    log_q = log_expected_count(probs, in_batch_draws=3, uniform_draws=2, n_candidates=4)
    expected = 1 - (1 - probs) ** 3 * (1 - 1 / 4) ** 2
    assert torch.allclose(log_q.exp(), expected)


def test_temperature_is_clipped_to_paper_range():
    assert float(clipped_temperature(torch.tensor(10.0))) == pytest.approx(100.0)
    assert float(clipped_temperature(torch.tensor(-10.0))) == pytest.approx(0.01)
    assert float(clipped_temperature(torch.tensor(math.log(3.0)))) == pytest.approx(3.0)


# ---------------------------------------------------------------- data


def test_each_epoch_trains_every_row_of_one_cutting_in_turn(data_dir, tmp_path):
    config = _config(data_dir, tmp_path, chunk_cuts=3, train_batch_size=7)
    _, train, _, _, model = _prepare(config)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    rows = train._dataset.inter_feat
    for epoch in range(7):
        batches = list(trainer._epoch_rows(train, epoch))
        assert all(torch.all(batch[CUT_FIELD] == epoch % 3) for batch in batches)
        trained = sorted(row for batch in batches for row in batch["item_id_list"].tolist())
        assert trained == sorted(rows["item_id_list"][rows[CUT_FIELD] == epoch % 3].tolist())
    assert trainer._epoch_rows(train, 0) is not train
    one_cut = _config(data_dir, tmp_path, chunk_cuts=1)
    _, train, _, _, model = _prepare(one_cut)
    assert get_trainer(one_cut["MODEL_TYPE"], one_cut["model"])(one_cut, model)._epoch_rows(train, 1) is train


def test_more_cuttings_than_the_history_length_is_one_line(data_dir, tmp_path):
    with pytest.raises(ValueError, match=r"^chunk_cuts \(9\) must be at most MAX_ITEM_LIST_LENGTH \(8\)"):
        _prepare(_config(data_dir, tmp_path, chunk_cuts=9))


@pytest.mark.parametrize("window", [6, 20])  # the tiny histories (18 training events) are longer / shorter
def test_cuttings_move_the_cuts_of_histories_longer_than_one_chunk_only(tiny_data_path, window):
    cuts = 3
    config = Config(model="ARGUS", dataset="tiny", config_dict=quiet_config(
        data_path=str(tiny_data_path), MAX_ITEM_LIST_LENGTH=window, chunk_cuts=cuts, feedback_fields={},
        feedback_loss_weights={}, time_context=False, use_target_context=False))
    dataset = create_dataset(config)
    train = data_preparation(config, dataset)[0]._dataset
    items, segments, cut_of_row = (train.inter_feat[f] for f in ("item_id_list", SEGMENT_FIELD, CUT_FIELD))
    events = dataset._events
    histories = [events["item_id"][events["user_id"] == user].tolist()[:-2]
                 for user in torch.unique(events["user_id"]).tolist()]
    for cut in range(cuts):
        chunks = Counter()
        for row in torch.nonzero(cut_of_row == cut).flatten().tolist():
            for segment in torch.unique(segments[row][segments[row] > 0]).tolist():
                chunks[tuple(items[row][segments[row] == segment].tolist())] += 1
        expected = Counter()
        for history in histories:
            end = len(history) - (cut * window // cuts if len(history) > window else 0)
            if end < len(history):
                expected[tuple(history[end:])] += 1
            for stop in range(end, 0, -window):
                expected[tuple(history[max(0, stop - window):stop])] += 1
        assert chunks == expected, cut


@pytest.mark.parametrize("cuts", [1, 3])
def test_training_samples_are_one_per_chunk_of_each_cutting_and_eval_is_unchanged(data_dir, tmp_path, cuts):
    config = _config(data_dir, tmp_path, pack_training_rows=False, chunk_cuts=cuts)
    init_seed(config["seed"], True)
    dataset = create_dataset(config)
    assert isinstance(dataset, ARGUSDataset)
    train, valid, test = dataset.build()

    events = _synthetic_events()
    lengths = np.bincount([user for user, *_ in events])[1:]
    training_lengths = lengths - 2  # the last two events are the validation and test targets
    newest = [cut * CHUNK // cuts for cut in range(cuts)]
    assert len(train) == sum(int(np.sum(-(-(training_lengths - n) // CHUNK) + (n > 0))) for n in newest)
    assert int(train.inter_feat[train.item_list_length_field].max()) <= CHUNK

    # in each cutting, a user's chunks, oldest first, concatenate to exactly its training history, and the
    # newest chunk holds the cutting's newest events (a full chunk in cutting 0)
    users, cut_of_row = train.inter_feat[train.uid_field].numpy(), train.inter_feat[CUT_FIELD].numpy()
    user_token = dataset.field2id_token[dataset.uid_field]
    item_token = dataset.field2id_token[dataset.iid_field]
    for cut in range(cuts):
        for inner_user in np.unique(users)[:5]:
            rows = np.flatnonzero((users == inner_user) & (cut_of_row == cut))
            chunks = train.inter_feat[torch.from_numpy(rows)]
            order = np.argsort(chunks["timestamp_list"][:, 0].numpy())
            items = []
            for row in order:
                length = int(chunks[train.item_list_length_field][row])
                items += [int(item_token[i]) for i in chunks["item_id_list"][row][:length]]
            raw_user = int(user_token[inner_user])
            expected = [item for user, item, *_ in events if user == raw_user][:-2]
            assert items == expected
            assert int(chunks[train.item_list_length_field][order[-1]]) == (newest[cut] or CHUNK)

    # validation and test: RecBole's own leave-one-out samples (ARGUS only keeps the
    # rating in raw units and adds its exact copy of the time)
    plain = SequentialDataset(_config(data_dir, tmp_path))
    _, plain_valid, plain_test = plain.build()
    for ours, theirs in ((valid, plain_valid), (test, plain_test)):
        assert sorted(ours.inter_feat.columns) == sorted(theirs.inter_feat.columns + ["timestamp_seconds",
                                                                                    "timestamp_seconds_list"])
        for field in ("user_id", "item_id", "item_id_list", "item_length", "timestamp", "timestamp_list"):
            assert torch.equal(ours.inter_feat[field], theirs.inter_feat[field]), field


@pytest.mark.parametrize("normalize_all", [True, False])
def test_argus_splits_exactly_as_recbole_when_float32_rounds_unix_times(tmp_path, normalize_all):
    """RecBole stores times in float32 (128 s steps at 1.5e9 s) and may min-max scale them first: ARGUS must
    order events, and so pick the validation and test targets, by the same values; its features read the
    exact seconds."""
    (tmp_path / "clock").mkdir()
    rng = np.random.default_rng(0)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for user in range(1, 9):
        times = 1_500_000_000 + np.cumsum(rng.integers(1, 40, size=12))  # many fall in one float32 step
        for item, time in sorted(zip(rng.permutation(30)[:12] + 1, times)):  # the file is in item order
            lines.append(f"{user}\t{item}\t{time}")
    (tmp_path / "clock" / "clock.inter").write_text("\n".join(lines) + "\n")
    settings = {"data_path": str(tmp_path), "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
                "normalize_all": normalize_all, "feedback_fields": {}, "feedback_loss_weights": {},
                "train_neg_sample_args": None, "state": "ERROR", "show_progress": False}
    ours = create_dataset(Config(model="ARGUS", dataset="clock", config_dict=settings)).build()
    theirs = create_dataset(Config(model="SASRec", dataset="clock", config_dict=settings)).build()
    for our_split, their_split in zip(ours[1:], theirs[1:]):
        for field in ("user_id", "item_id", "item_id_list"):
            assert torch.equal(our_split.inter_feat[field], their_split.inter_feat[field]), field
    seconds = ours[2].inter_feat["timestamp_seconds_list"]
    assert seconds.dtype == torch.float64 and float(seconds.max()) > 1.5e9
    assert (seconds % 1 == 0).all() and len(torch.unique(seconds[seconds > 0])) > 40  # exact, not 128 s steps


def test_chunk_bounds_cut_from_the_recent_end():
    rows, starts, lengths = chunk_bounds([7, 3, 8], 3)
    assert rows.tolist() == [0, 0, 0, 1, 2, 2, 2]
    assert starts.tolist() == [4, 1, 0, 0, 5, 2, 0]
    assert lengths.tolist() == [3, 3, 1, 3, 3, 3, 2]


def test_pack_chunks_places_every_chunk_once_without_overlap():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 9, size=200)
    row, offset, segment = pack_chunks(lengths, 8)
    used = np.zeros((row.max() + 1, 8), dtype=int)
    for chunk, length in enumerate(lengths):
        used[row[chunk], offset[chunk] : offset[chunk] + length] += 1
        assert offset[chunk] + length <= 8
    assert used.max() == 1  # no slot holds two events
    assert used.sum() == lengths.sum()
    assert len(used) <= 11 / 9 * np.ceil(lengths.sum() / 8) + 1  # best-fit decreasing bound (Johnson 1973)
    for r in range(len(used)):  # segments are numbered 1..k by slot order inside a row
        in_row = np.flatnonzero(row == r)
        assert sorted(segment[in_row].tolist()) == list(range(1, len(in_row) + 1))
        assert np.all(np.diff(offset[in_row][np.argsort(segment[in_row])]) > 0)


def _row_chunks(interaction, list_fields):
    """Every chunk of every training row as a tuple of its list fields' values."""
    chunks = []
    for b in range(len(interaction)):
        segments = interaction[SEGMENT_FIELD][b]
        for k in range(1, int(segments.max()) + 1):
            at = segments == k
            chunks.append(tuple(tuple(interaction[field][b][at].tolist()) for field in list_fields))
    return chunks


def test_packed_training_rows_hold_every_chunk_exactly_once(data_dir, tmp_path):
    fields = ["item_id_list", "rating_list", "timestamp_list"]
    splits = {}
    for pack in (False, True):
        config = _config(data_dir, tmp_path, pack_training_rows=pack)
        init_seed(config["seed"], True)
        splits[pack] = create_dataset(config).build()[0].inter_feat
    unpacked, packed = splits[False], splits[True]
    assert len(packed) < len(unpacked)
    assert sorted(_row_chunks(packed, fields)) == sorted(_row_chunks(unpacked, fields))
    assert torch.equal(packed["item_length"], (packed["item_id_list"] > 0).sum(1))


def _build_error(config):
    """The ValueError building data and model for ``config`` raises (one line expected)."""
    with pytest.raises(ValueError) as error:
        init_seed(config["seed"], True)
        train, _, _ = data_preparation(config, create_dataset(config))
        ARGUS(config, train._dataset)
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("key", ["feedback_fields", "context_fields"])
def test_unknown_field_is_one_clear_line(data_dir, tmp_path, key):
    value = {"no_such_field": 1} if key == "feedback_fields" else ["no_such_field"]
    overrides = {key: value}
    if key == "feedback_fields":
        overrides["feedback_loss_weights"] = {}
    message = _build_error(_config(data_dir, tmp_path, **overrides))
    assert key in message and "no_such_field" in message
    assert "rating" in message and "timestamp" in message


ITEM_FEATURES = {"load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"], "item": ["item_id", "genre", "year"]}}


@pytest.mark.parametrize("key", ["item_feature_fields", "item_text_fields"])
@pytest.mark.parametrize(
    "overrides, fields, expected",
    [
        # an entry the item file lacks: named, with the item file's fields
        (ITEM_FEATURES, ["genres"], ["'genres'", "genre, year, price"]),
        # in the file but not loaded: named, with the way to load it
        (ITEM_FEATURES, ["price"], ["'price'", "load_col: item"]),
        # loaded, but not a categorical or text field
        ({"load_col": {**ITEM_FEATURES["load_col"], "item": ["item_id", "price"]}}, ["price"], ["'price'", "token or token_seq"]),
        # an item field and the item file not loaded
        ({}, ["genre"], ["load_col", "genre, year, price"]),
    ],
)
def test_bad_item_fields_are_one_clear_line(data_dir, tmp_path, key, overrides, fields, expected):
    message = _build_error(_config(data_dir, tmp_path, **overrides, **{key: fields}))
    assert key in message and all(part in message for part in expected), message


@pytest.mark.parametrize("key", ["item_feature_fields", "item_text_fields"])
def test_item_field_without_item_file_is_one_clear_line(tmp_path, key):
    root = tmp_path / "data"
    (root / "noitem").mkdir(parents=True)
    with open(root / "noitem" / "noitem.inter", "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        for user, item, rating, timestamp in _synthetic_events():
            f.write(f"{user}\t{item}\t{rating}\t{timestamp}\n")
    settings = {"data_path": str(root), key: ["genre"], "state": "ERROR", "MAX_ITEM_LIST_LENGTH": CHUNK,
                "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"], "item": ["item_id", "genre"]}}
    message = _build_error(Config(model="ARGUS", dataset="noitem", config_dict=settings))
    assert key in message and "no item file" in message


@pytest.mark.parametrize(
    "overrides, setting",
    [
        ({}, "time_context"),
        ({"time_context": False, "absolute_time_context": True}, "absolute_time_context"),
        ({"absolute_time_context": True}, "time_context and absolute_time_context"),
    ],
)
def test_time_field_not_loaded_names_the_setting_and_the_ways_out(data_dir, tmp_path, overrides, setting):
    """Issue 18: a load_col without the timestamp gives one line, not RecBole's "[timestamp] is not exist"."""
    config = _config(data_dir, tmp_path, load_col={"inter": ["user_id", "item_id", "rating"]}, **overrides)
    message = _build_error(config)
    assert message.startswith(setting + " need")
    assert "'timestamp'" in message and "load_col: inter" in message and "time_context: False" in message


def test_feedback_field_not_loaded_names_the_setting_and_the_ways_out(data_dir, tmp_path):
    config = _config(data_dir, tmp_path, load_col={"inter": ["user_id", "item_id", "timestamp"]})
    message = _build_error(config)
    assert "feedback_fields entry 'rating'" in message
    assert "load_col: inter" in message and "feedback_fields: {}" in message


def test_without_time_settings_a_missing_time_field_keeps_the_file_order(data_dir, tmp_path):
    config = _config(
        data_dir, tmp_path, load_col={"inter": ["user_id", "item_id", "rating"]}, time_context=False, pack_training_rows=False
    )
    _, train, _, _, model = _prepare(config)
    assert not model.time_context and not model.absolute_time_context
    # the synthetic file is written in each user's order: chunks are runs of consecutive items
    items = train._dataset.inter_feat["item_id_list"]
    token = np.array(train._dataset.field2id_token["item_id"])
    for row in items[:10]:
        raw = [int(token[i]) for i in row if i > 0]
        assert all(b == a % N_ITEMS + 1 for a, b in zip(raw, raw[1:]))


# ---------------------------------------------------------------- model structure


def test_causal_encoder_never_looks_ahead():
    torch.manual_seed(0)
    encoder = CausalTransformerEncoder(n_layers=2, hidden_size=8, n_heads=2, inner_size=16).eval()
    x = torch.randn(2, 6, 8)
    changed = x.clone()
    changed[:, 4] = torch.randn(2, 8)
    before, after = encoder(x), encoder(changed)
    assert torch.allclose(before[:, :4], after[:, :4])
    assert not torch.allclose(before[:, 4:], after[:, 4:])


def test_the_post_layernorm_encoder_is_causal_and_keeps_packed_users_apart():
    torch.manual_seed(0)
    encoder = PostLNEncoder(n_layers=2, hidden_size=8, n_heads=2, inner_size=16, hidden_dropout_prob=0.0,
                            attn_dropout_prob=0.0, hidden_act="gelu", layer_norm_eps=1e-12).eval()
    x = torch.randn(1, 6, 8)
    changed = x.clone()
    changed[:, 4] = torch.randn(1, 8)
    assert torch.allclose(encoder(x)[:, :4], encoder(changed)[:, :4])
    assert not torch.allclose(encoder(x)[:, 4:], encoder(changed)[:, 4:])
    # two users packed in one row: changing the second never moves the first
    mask = segment_causal_mask(torch.tensor([[1, 1, 1, 2, 2, 2]]))
    changed = x.clone()
    changed[:, 3] = torch.randn(1, 8)
    assert torch.allclose(encoder(x, mask)[:, :3], encoder(changed, mask)[:, :3])
    assert not torch.allclose(encoder(x, mask)[:, 3:], encoder(changed, mask)[:, 3:])


#: item ids only: nothing but the item in an event (the head-to-head's id-only row)
ID_ONLY = {"feedback_fields": {}, "feedback_loss_weights": {}, "time_context": False}
#: SASRec's model on ARGUS's training: the hidden state as query (raw dot products), post-LayerNorm encoder
SASREC_MODEL = {"query_head": "hidden", "norm_first": False}


@pytest.mark.parametrize(
    "overrides, fuses",
    [(ID_ONLY, False), ({}, False), ({"event_token": "linear"}, True), ({**ID_ONLY, "event_token": "linear"}, False)],
)
def test_an_event_token_is_its_item_token_plus_its_context_and_feedback_unless_fused(data_dir, tmp_path, overrides, fuses):
    config = _config(data_dir, tmp_path, position_encoding="added", **overrides)
    _, _, _, _, model = _prepare(config)
    model.eval()
    items = torch.tensor([[3, 4, 5, 9, 10, 0]])
    segments = torch.tensor([[1, 1, 1, 2, 2, 0]])
    vectors = model.item_tokens(items)
    context, feedback = torch.randn_like(vectors), torch.randn_like(vectors)
    with torch.no_grad():
        hidden = model._encode(vectors, context, feedback, segments)
        summed = vectors + context + feedback + model.position_embedding(segment_positions(segments))
        expected = model.encoder(model.input_norm(summed), model._attention_mask(segments, 1))
        swapped = model._encode(context, feedback, vectors, segments)
    assert (model.event_fusion is not None) == fuses
    assert torch.allclose(hidden, expected, atol=1e-6) != fuses
    assert torch.allclose(hidden, swapped, atol=1e-6) != fuses  # summed: only the sum reaches the encoder


def test_summed_event_tokens_take_the_id_only_cores_encoder_positions_and_query(data_dir, tmp_path):
    rich = {"absolute_time_context": True, "use_target_context": False}
    _, _, _, _, model = _prepare(_config(data_dir, tmp_path, **rich))
    assert isinstance(model.encoder, PostLNEncoder) and model.position_encoding == "decoupled"
    assert model.query_head == "hidden" and model.warmup_steps == POST_LN_WARMUP_STEPS
    _, _, _, _, fused = _prepare(_config(data_dir, tmp_path, event_token="linear", **rich))
    assert not isinstance(fused.encoder, PostLNEncoder) and fused.position_encoding == "added"
    assert fused.query_head == "mlp" and fused.warmup_steps == 0


@pytest.mark.parametrize("use_target_context", [True, False])
def test_the_hidden_query_is_the_previous_hidden_state_plus_the_targets_context(data_dir, tmp_path, use_target_context):
    config = _config(data_dir, tmp_path, use_target_context=use_target_context, **SASREC_MODEL)
    _, _, _, _, model = _prepare(config)
    model.eval()
    assert model.item_query_head is None and isinstance(model.encoder, PostLNEncoder)
    items = torch.tensor([[3, 4, 5, 9, 10, 0]])
    segments = torch.tensor([[1, 1, 1, 2, 2, 0]])
    context = torch.randn(1, 6, model.hidden_size)
    feedback = torch.zeros(1, 6, model.hidden_size)
    with torch.no_grad():
        queries, _ = model._heads(items, context, feedback, segments)
        hidden = model._encode(model.item_tokens(items), context, feedback, segments)
    read = context if use_target_context else torch.zeros_like(context)
    # a chunk's query at event t is the hidden state of event t - 1 of the same chunk (the start state first)
    assert torch.allclose(queries[0, 1], hidden[0, 0] + read[0, 1]) and torch.allclose(queries[0, 4], hidden[0, 3] + read[0, 4])
    assert torch.allclose(queries[0, 3], model.start_state + read[0, 3])
    assert model.item_vectors() is model.item_embedding.weight


@pytest.mark.parametrize(
    "overrides, query_head",
    [
        ({}, "mlp"),
        ({"use_target_context": False}, "hidden"),
        ({"use_target_context": False, "event_token": "linear"}, "mlp"),
        ({"time_context": False}, "hidden"),
        (ID_ONLY, "hidden"),
        ({"query_head": "linear"}, "linear"),
    ],
)
def test_auto_query_head_is_the_hidden_state_unless_the_query_reads_the_targets_context(data_dir, tmp_path, overrides, query_head):
    config = _config(data_dir, tmp_path, temperature_init=0.5, **overrides)
    _, train, _, _, model = _prepare(config)
    assert model.query_head == query_head
    # a hidden query meets the item tokens at temperature 1; the other heads learn theirs from temperature_init
    hidden = query_head == "hidden"
    assert (model.item_output == "tied" and model.head_size == model.hidden_size) or not hidden
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for batch in list(train)[:3]:
        optimizer.zero_grad()
        losses = model.calculate_loss(batch)
        (sum(losses) if isinstance(losses, tuple) else losses).backward()
        optimizer.step()
    assert (float(model.temperature()) == 1.0) == hidden
    assert (float(model.temperature()) == 0.5) is False


@pytest.mark.parametrize("variant", ["full", "simplified"])
@pytest.mark.parametrize("inputs", ["plain", "features"])
def test_changing_a_later_event_never_changes_earlier_outputs(data_dir, tmp_path, variant, inputs):
    config = _config(data_dir, tmp_path, argus_variant=variant, **EVERYTHING[inputs])
    _, train, _, _, model = _prepare(config)
    model.eval()
    batch = next(iter(train))
    batch = batch[torch.nonzero(batch[model.ITEM_SEQ_LEN] == CHUNK).view(-1)[:4]]
    later = 5
    changed = batch[torch.arange(len(batch))]
    changed["item_id_list"][:, later] = batch["item_id_list"][:, later] % (model.n_items - 1) + 1
    changed["rating_list"][:, later] = 6.0 - batch["rating_list"][:, later]
    for times in ("timestamp_list", "timestamp_seconds_list"):
        changed[times][:, later:] += 7 * 3600
    with torch.no_grad():
        queries, feedback = model(batch)
        changed_queries, changed_feedback = model(changed)
    assert torch.allclose(queries[:, :later], changed_queries[:, :later], atol=1e-6)
    assert torch.allclose(feedback[:, :later], changed_feedback[:, :later], atol=1e-6)
    assert not torch.allclose(queries[:, later + 1 :], changed_queries[:, later + 1 :], atol=1e-4)


#: every input ARGUS knows at request time: item features (exact and hashed tables), hour/weekday/gap, absolute time
EVERYTHING = {
    "plain": {},
    "features": {**ITEM_FEATURES, "item_feature_fields": ["genre", "year"], "item_text_fields": ["genre"],
                 "absolute_time_context": True, "absolute_time_bucket_days": 1},
    "hashed, no hour/weekday/gap": {**ITEM_FEATURES, "item_feature_fields": ["genre", "year"], "item_hash_buckets": 64,
                                    "absolute_time_context": True, "absolute_time_bucket_days": 1, "time_context": False},
}


@pytest.mark.parametrize("variant", ["full", "simplified"])
@pytest.mark.parametrize("use_target_context", [True, False])
@pytest.mark.parametrize("inputs", list(EVERYTHING))
def test_full_sort_predict_ignores_target_item_and_feedback(data_dir, tmp_path, variant, use_target_context, inputs):
    """Neither the target's item, nor its feedback, nor its item features (which RecBole's loader joins
    into the evaluation batch) move the scores; its time does, exactly with ``use_target_context``."""
    config = _config(data_dir, tmp_path, argus_variant=variant, use_target_context=use_target_context, **EVERYTHING[inputs])
    _, _, _, test, model = _prepare(config)
    model.eval()
    if model.item_text_projection is not None:
        torch.nn.init.normal_(model.item_text_projection.weight)  # the text vectors in play, not zeroed out
    batch = _first_eval_batch(test)
    tampered = batch[torch.arange(len(batch))]
    tampered["rating"] = 6.0 - batch["rating"]
    tampered["item_id"] = batch["item_id"] % (model.n_items - 1) + 1
    for field in model.item_feature_fields:
        assert field in batch  # the target's features are in the batch: the model must not read them
        tampered[field] = torch.roll(batch[field], 1, 0)
    with torch.no_grad():
        scores = model.full_sort_predict(batch)
        tampered_scores = model.full_sort_predict(tampered)
    assert torch.equal(scores, tampered_scores)

    # the target's context is read exactly when use_target_context is on (5 hours: the hour and the gap;
    # 3 days: the absolute-time bucket of 1 day)
    shifted = batch[torch.arange(len(batch))]
    for time in ("timestamp", "timestamp_seconds"):
        shifted[time] = batch[time] + (5 * 3600 if model.time_context else 3 * 86400)
    with torch.no_grad():
        shifted_scores = model.full_sort_predict(shifted)
    assert torch.equal(scores, shifted_scores) != use_target_context


def _unpacked_rows(interaction, row):
    """The chunks of packed training row ``row`` as separate left-aligned rows."""
    segments = interaction[SEGMENT_FIELD][row]
    n_chunks = int(segments.max())
    length = segments.shape[0]
    rows = {}
    for field in interaction.columns:
        if field.endswith("_list"):
            values = torch.zeros((n_chunks,) + interaction[field].shape[1:], dtype=interaction[field].dtype)
            for k in range(1, n_chunks + 1):
                at = segments == k
                values[k - 1, : int(at.sum())] = interaction[field][row][at]
            rows[field] = values
    rows[SEGMENT_FIELD] = (rows["item_id_list"] > 0).long()
    rows["item_length"] = rows[SEGMENT_FIELD].sum(1)
    assert rows["item_id_list"].shape[1] == length
    return Interaction(rows)


def _loss_terms(model, interaction):
    """``calculate_loss``'s terms as a tuple (a lone next-item loss when no feedback is learned)."""
    loss = model.calculate_loss(interaction)
    return loss if isinstance(loss, tuple) else (loss,)


def _packed_row(train):
    """A training row whose later chunks have positions past their first (whose
    outputs read the row's hidden states, in the simplified variant too)."""
    batch = next(iter(train))
    segments = batch[SEGMENT_FIELD]
    later_non_first = ((segments >= 2) & ~segment_starts(segments)).sum(1)
    row = int(later_non_first.argmax())
    assert int(later_non_first[row]) >= 2
    return batch[torch.tensor([row])]


#: positions as an attention bias on events that carry feedback and context (three tokens each in the full variant)
DECOUPLED = {"norm_first": False, "position_encoding": "decoupled"}


@pytest.mark.parametrize(
    "variant, model_settings",
    [("full", {}), ("simplified", {}), ("simplified", SASREC_MODEL), ("simplified", ID_ONLY), ("full", DECOUPLED)],
)
def test_packed_row_equals_its_unpacked_rows(data_dir, tmp_path, variant, model_settings):
    """Same outputs at every position and the same loss (feedback and time context on). The log Q
    correction is off: it depends on the step's number of targets, a packed row's or each chunk's."""
    config = _config(data_dir, tmp_path, argus_variant=variant, softmax="full", loss_excludes_history=False,
                     full_softmax_log_q=False, **model_settings)
    _, train, _, _, model = _prepare(config)
    model.eval()
    packed = _packed_row(train)
    unpacked = _unpacked_rows(packed, 0)
    segments = packed[SEGMENT_FIELD][0]
    with torch.no_grad():
        packed_queries, packed_feedback = model(packed)
        queries, feedback = model(unpacked)
        for k in range(1, int(segments.max()) + 1):
            at, n = segments == k, int((segments == k).sum())
            assert torch.allclose(packed_queries[0][at], queries[k - 1, :n], atol=1e-5)
            assert torch.allclose(packed_feedback[0][at], feedback[k - 1, :n], atol=1e-5)
            # per-user loss: the chunk alone, packed or not
            alone = _unpacked_rows(packed, 0)[torch.tensor([k - 1])]
            chunk_loss = _loss_terms(model, alone)
            positions = packed_queries[0][at]
            item_loss = F.cross_entropy(
                positions @ model.item_vectors()[1:].T / model.temperature(), packed["item_id_list"][0][at] - 1
            )
            assert float(chunk_loss[0]) == pytest.approx(float(item_loss), rel=1e-5)
        packed_loss, unpacked_loss = _loss_terms(model, packed), _loss_terms(model, unpacked)
    for a, b in zip(packed_loss, unpacked_loss):
        assert float(a) == pytest.approx(float(b), rel=1e-5)


@pytest.mark.parametrize(
    "variant, model_settings", [("full", {}), ("simplified", {}), ("simplified", ID_ONLY), ("full", DECOUPLED)]
)
def test_no_attention_crosses_users_in_a_packed_row(data_dir, tmp_path, variant, model_settings):
    config = _config(data_dir, tmp_path, argus_variant=variant, **model_settings)
    _, train, _, _, model = _prepare(config)
    model.eval()
    batch = next(iter(train))
    # a chunk of >= 2 events followed by another chunk in its row (which could attend to it without the mask)
    row, chunk = next(
        (b, k)
        for b in range(len(batch))
        for k in range(1, int(batch[SEGMENT_FIELD][b].max()))
        if int((batch[SEGMENT_FIELD][b] == k).sum()) >= 2
    )
    packed = batch[torch.tensor([row])]
    segments = packed[SEGMENT_FIELD][0]
    user_b = segments == chunk
    changed = packed[torch.tensor([0])]
    changed["item_id_list"][0, user_b] = packed["item_id_list"][0, user_b] % (model.n_items - 1) + 1
    changed["rating_list"][0, user_b] = 6.0 - packed["rating_list"][0, user_b]
    for times in ("timestamp_list", "timestamp_seconds_list"):
        changed[times][0, user_b] += 5 * 3600
    with torch.no_grad():
        queries, feedback = model(packed)
        changed_queries, changed_feedback = model(changed)
    others = (segments > 0) & ~user_b
    assert int(others.sum()) >= 2
    assert torch.allclose(queries[0][others], changed_queries[0][others], atol=1e-6)
    assert torch.allclose(feedback[0][others], changed_feedback[0][others], atol=1e-6)
    assert not torch.allclose(queries[0][user_b][1:], changed_queries[0][user_b][1:], atol=1e-4)


@pytest.mark.parametrize("item_output", ["projected", "tied", "separate"])
@pytest.mark.parametrize("query_head", ["mlp", "linear", "hidden"])
def test_full_sort_predict_is_query_vectors_times_item_vectors(data_dir, tmp_path, item_output, query_head):
    config = _config(data_dir, tmp_path, exclude_history_items=False, item_output=item_output, query_head=query_head)
    _, _, _, test, model = _prepare(config)
    model.eval()
    batch = _first_eval_batch(test)
    with torch.no_grad():
        scores = model.full_sort_predict(batch)
        product = model.query_vectors(batch) @ model.item_vectors().T
        single = model.predict(batch)
    assert model.item_vectors().shape[0] == model.n_items
    assert torch.all(scores[:, 0] == float("-inf"))
    assert torch.allclose(scores[:, 1:], product[:, 1:], atol=1e-5)
    assert torch.allclose(single, product[torch.arange(len(batch)), batch["item_id"]], atol=1e-5)
    if item_output == "tied":
        assert model.item_vectors() is model.item_embedding.weight


@pytest.mark.parametrize("variant", ["full", "simplified"])
def test_evaluation_cut_to_the_longest_row_equals_the_padded_batch(data_dir, tmp_path, variant, monkeypatch):
    """Grouped and cut evaluation rows (``EVAL_GROUP_ROWS``) score exactly as the whole padded batch."""
    import recbole_ext.model.argus as argus_module

    config = _config(data_dir, tmp_path, argus_variant=variant, exclude_history_items=False)
    _, _, _, test, model = _prepare(config)
    model.eval()
    batch = _first_eval_batch(test)
    batch["item_id_list"][:6, 2:] = 0  # a few short histories, so that groups are cut
    batch["item_length"][:6] = 2
    with torch.no_grad():
        padded_width = model._heads
        calls = []
        model._heads = lambda *args: calls.append(args[0].shape[1]) or padded_width(*args)
        monkeypatch.setattr(argus_module, "EVAL_GROUP_ROWS", 4)
        grouped = model.full_sort_predict(batch)
        monkeypatch.setattr(argus_module, "EVAL_GROUP_ROWS", 10**6)
        widths_before = len(calls)
        whole = model.full_sort_predict(batch)
        feedback_grouped = model.predict_feedback(batch)["rating"]
    assert min(calls[:widths_before]) < batch["item_id_list"].shape[1]  # some groups were cut
    assert torch.allclose(grouped, whole, atol=1e-5)
    assert feedback_grouped.shape == (len(batch),)


# ---------------------------------------------------------------- learning


def test_loss_falls(data_dir, tmp_path):
    config = _config(data_dir, tmp_path)
    _, train, _, _, model = _prepare(config)
    batch = next(iter(train))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    initial = float(sum(model.calculate_loss(batch)))
    for _ in range(30):
        optimizer.zero_grad()
        sum(model.calculate_loss(batch)).backward()
        optimizer.step()
    assert float(sum(model.calculate_loss(batch))) < 0.7 * initial


#: the full variant predicts the next item from the target's context token, two tokens after the last item:
#: a 1-layer model at learning rate 0.01 sits on a loss plateau for a seed-dependent number of epochs before
#: it learns to look back that far (seed 2020: still there after 40 epochs; seed 5 at two layers diverged),
#: two layers with a warm-up and a lower rate leave it within 40 epochs on every seed tried (2020, 3, 4, 5)
LEARNING_SETTINGS = {
    "full": {"n_layers": 2, "learning_rate": 0.005, "warmup_steps": 20, "epochs": 60, "chunk_cuts": 2},
    "simplified": {"chunk_cuts": 2},
    "simplified, SASRec's model": {"chunk_cuts": 2, **SASREC_MODEL},
}
# chunk_cuts: 2 puts the cuttings of these 8-event chunks 4 events apart; the default's 5 would put them 1-2
# apart, so that most chunks hold 1-6 events (simplified variant, 40 epochs: recall@10 0.90 at 5 cuttings,
# 1.0 at 1 or 2)


@pytest.mark.parametrize("setting", list(LEARNING_SETTINGS))
def test_learns_next_item_rule_and_feedback_rule(data_dir, tmp_path, setting):
    variant = setting.split(",")[0]
    config = _config(data_dir, tmp_path, argus_variant=variant, **LEARNING_SETTINGS[setting])
    _, train, valid, test, model = _prepare(config)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.fit(train, valid, saved=True, show_progress=False)
    result = trainer.evaluate(test, load_best_model=True, show_progress=False)
    assert result["recall@10"] > 0.9
    assert feedback_auc(trainer.model, test, "rating") > 0.9


def test_nan_loss_stops_with_the_epoch(data_dir, tmp_path):
    config = _config(data_dir, tmp_path, epochs=2)
    _, train, valid, _, model = _prepare(config)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    model.calculate_loss = lambda interaction: model.log_temperature * float("nan")
    with pytest.raises(NaNLossError, match="epoch 0"):
        trainer.fit(train, valid, saved=True, show_progress=False)


@pytest.mark.parametrize("variant", ["full", "simplified"])
def test_run_recbole_finds_argus_by_name(tmp_path, variant):
    result = run_recbole(
        model="ARGUS",
        dataset="ml-100k",
        config_dict={
            "argus_variant": variant,
            "epochs": 1,
            "hidden_size": 16,
            "head_size": 16,
            "inner_size": 32,
            "n_layers": 1,
            "MAX_ITEM_LIST_LENGTH": 20,
            "train_batch_size": 256,
            "warmup_steps": 0,  # one epoch is ~8 steps: a 300-step warm-up would barely move the weights
            "show_progress": False,
            "state": "ERROR",
            "checkpoint_dir": str(tmp_path / "saved"),
        },
    )
    assert set(result["test_result"]) >= {"ndcg@10", "recall@10", "mrr@10"}
    assert result["test_result"]["ndcg@10"] > 0.01  # random ranking of 1,682 items gives about 0.003


# ---------------------------------------------------------------- item features and absolute time


def test_hashed_item_rows_are_the_same_every_time():
    """An item (or feature value) reads the same rows of the unified table in every call and every
    fresh model (the hash coefficients do not depend on torch's seed), and its vector is their mean."""
    from recbole_ext.model.layers import ItemTokenEmbedding

    genres = torch.tensor([[0, 0], [1, 2], [2, 0], [3, 1]])
    torch.manual_seed(0)
    first = ItemTokenEmbedding(4, 8, features={"genre": genres}, buckets=97, n_hashes=3)
    torch.manual_seed(1)
    second = ItemTokenEmbedding(4, 8, features={"genre": genres}, buckets=97, n_hashes=3)
    ids = torch.tensor([1, 2, 3, 3, 1])
    rows = first.hash_rows(0, ids)
    assert rows.shape == (5, 3) and torch.equal(rows, first.hash_rows(0, ids))
    assert torch.equal(rows, second.hash_rows(0, ids))
    assert torch.equal(rows[0], rows[4]) and torch.equal(rows[2], rows[3])
    assert not torch.equal(first.hash_rows(0, ids), first.hash_rows(1, ids))  # each field has its own functions
    vectors = first(ids)
    assert torch.equal(vectors, first(ids))
    table = first.table.weight
    by_hand = table[first.hash_rows(0, torch.tensor(2))].mean(0) + table[first.hash_rows(1, torch.tensor(2))].mean(0)
    assert torch.allclose(vectors[1], by_hand, atol=1e-6)  # item 2: genre 2 only
    assert torch.all(first(torch.tensor([0])) == 0)  # padding


def test_the_unified_tables_catalogue_is_every_items_bag_in_value_and_gradient():
    """``all_items()`` reads the unified table through a fixed sparse matrix built once: the same vectors and
    table gradient as one bag per item, and a new matrix once a feature changes in place or the module is copied."""
    import copy

    from recbole_ext.model.layers import ItemTokenEmbedding

    genres = torch.tensor([[0, 0], [1, 2], [2, 0], [3, 1], [2, 2]])
    module = ItemTokenEmbedding(5, 8, features={"genre": genres}, buckets=13, n_hashes=3)  # 13 rows: collisions
    weights = torch.randn(5, 8)
    for _ in range(2):  # built, then reused
        catalogue = module.all_items()
        (catalogue * weights).sum().backward()
        by_bags = module(torch.arange(5))
        table_grad, module.table.weight.grad = module.table.weight.grad, None
        (by_bags * weights).sum().backward()
        assert torch.allclose(catalogue, by_bags, atol=1e-6) and torch.all(catalogue[0] == 0)
        assert torch.allclose(table_grad, module.table.weight.grad, atol=1e-6)
        module.table.weight.grad = None
    with torch.no_grad():
        module.feature_0[2] = torch.tensor([3, 1])
    assert torch.allclose(module.all_items()[2], module(torch.tensor([2]))[0], atol=1e-6)
    assert torch.allclose(copy.deepcopy(module).all_items(), module.all_items())
    module._catalogue_matrices = None
    with torch.no_grad():  # scoring keeps no matrix
        assert torch.allclose(module.all_items(), module(torch.arange(5))) and module._catalogue_matrices is None


def test_hash_collision_rate_matches_the_bucket_count():
    """N distinct ids in m rows: each hash function puts an id in a row another id shares with
    probability 1 - (1 - 1/m)^(N - 1), and C(N, 2)/m pairs collide; all 3 rows of an id match another
    id's about N^2 / (2 m^3) times."""
    from recbole_ext.model.layers import hash_coefficients, universal_hash_rows

    n, m, k = 5000, 8192, 3
    expected_shared = 1 - (1 - 1 / m) ** (n - 1)
    expected_pairs = n * (n - 1) / 2 / m
    # item ids as RecBole numbers them (1..n), and spread out (a linear hash fails on both)
    for values in (torch.arange(1, n + 1), torch.arange(1, n + 1) * 7919):
        rows = universal_hash_rows(values, hash_coefficients(1, k)[0], m)
        for j in range(k):
            counts = torch.bincount(rows[:, j], minlength=m)
            shared = float((counts[rows[:, j]] > 1).float().mean())
            pairs = float((counts * (counts - 1) / 2).sum())
            assert abs(shared - expected_shared) < 0.03, (j, shared, expected_shared)
            assert abs(pairs - expected_pairs) < 0.1 * expected_pairs, (j, pairs, expected_pairs)
        full_triples = len(rows) - len(torch.unique(rows, dim=0))
        assert full_triples <= 2  # expected about 0.02
    # fewer buckets, more collisions: the rate follows m
    few = universal_hash_rows(values, hash_coefficients(1, 1)[0], 1024)[:, 0]
    shared_few = float((torch.bincount(few, minlength=1024)[few] > 1).float().mean())
    assert abs(shared_few - (1 - (1 - 1 / 1024) ** (n - 1))) < 0.03


def test_unified_table_size_does_not_grow_with_the_catalogue():
    from recbole_ext.model.layers import ItemTokenEmbedding

    def parameters(n_items, buckets):
        features = {"genre": torch.zeros(n_items, 2, dtype=torch.long)}
        module = ItemTokenEmbedding(n_items, 8, features, {"genre": 20}, buckets=buckets)
        return sum(p.numel() for p in module.parameters())

    assert parameters(1000, 512) == parameters(100_000, 512) == 512 * 8
    assert parameters(100_000, 0) == (100_000 + 20) * 8


@pytest.mark.parametrize("buckets", [0, 64])
def test_item_features_reach_the_item_tokens_and_the_output_vectors(data_dir, tmp_path, buckets):
    config = _config(data_dir, tmp_path, item_feature_fields=["genre", "year"], item_hash_buckets=buckets, **ITEM_FEATURES)
    dataset, _, _, test, model = _prepare(config)
    model.eval()
    batch = _first_eval_batch(test)
    item = int(batch["item_id_list"][0, 0])
    with torch.no_grad():
        tokens, vectors, scores = model.item_tokens(torch.arange(model.n_items)), model.item_vectors(), model.full_sort_predict(batch)
        # another genre for one item: its input token, its output vector and the scores move
        model.item_embedding.feature_0[item] = model.item_embedding.feature_0[item % (model.n_items - 1) + 1]
        assert not torch.allclose(model.item_tokens(torch.tensor([item])), tokens[item])
        assert not torch.allclose(model.item_vectors()[item], vectors[item])
        assert not torch.equal(model.full_sort_predict(batch), scores)
        assert torch.allclose(model.item_vectors(torch.tensor([3, item])), model.item_vectors()[[3, item]], atol=1e-6)
    n_params = sum(p.numel() for p in model.item_embedding.parameters())
    if buckets:
        assert n_params == buckets * config["hidden_size"]
    else:
        assert n_params == (model.n_items + dataset.num("genre") + dataset.num("year")) * config["hidden_size"]


def test_text_lsa_vectors_place_related_titles_near_each_other():
    from recbole_ext.data.item_text import text_lsa_vectors

    texts = ["", "Fire Emblem: Awakening", "fire emblem", "Tetris DS", "Tetris", "Mario Kart DS", "Fire Emblem: Awakening"]
    vectors = text_lsa_vectors(texts, 64)
    assert vectors.shape == (7, 64)  # the vocabulary leaves fewer than 64 filled; the width stays
    norms = vectors.norm(dim=-1)
    assert norms[0] == 0 and torch.allclose(norms[1:], torch.ones(6), atol=1e-5)
    assert torch.allclose(vectors[1], vectors[6])  # the same text, the same vector
    similarity = vectors @ vectors.T
    assert similarity[1, 2] > similarity[1, 3] and similarity[1, 2] > similarity[1, 5]  # case and ":" do not split
    assert similarity[3, 4] > similarity[3, 2] and similarity[3, 5] > similarity[3, 1]  # shared words and grams


@pytest.mark.parametrize("buckets", [0, 64])
def test_item_text_vectors_reach_the_item_tokens_through_a_map_that_starts_at_zero(data_dir, tmp_path, buckets):
    from recbole_ext.data.item_text import item_texts, text_lsa_vectors

    config = _config(data_dir, tmp_path, item_feature_fields=["year"], item_text_fields=["genre"], item_text_dims=8,
                     item_hash_buckets=buckets, **ITEM_FEATURES)
    _, train, _, test, model = _prepare(config)
    expected = text_lsa_vectors(item_texts(train._dataset, ["genre"]), 8)
    assert torch.equal(model.item_text_vectors, expected)
    assert torch.equal(model.state_dict()["item_text_vectors"], expected)  # saved with the weights
    items = torch.arange(model.n_items)
    with torch.no_grad():
        plain = model.item_tokens(items).clone()
        assert torch.equal(model._all_item_tokens(), plain)  # zero at the start: the id and feature rows alone
        torch.nn.init.normal_(model.item_text_projection.weight)
        moved = plain + expected @ model.item_text_projection.weight.T
        assert torch.allclose(model.item_tokens(items), moved, atol=1e-6)
        assert torch.allclose(model._all_item_tokens(), moved, atol=1e-6)
        assert torch.allclose(model.item_vectors(), model.item_vectors(items), atol=1e-6)
    groups = item_table_decay_groups(model, 0.5)
    assert not any(p is model.item_text_projection.weight for p in groups[0]["params"])


@pytest.mark.parametrize("buckets", [0, 64])
@pytest.mark.parametrize("softmax", ["full", "sampled"])
def test_a_step_whose_softmax_reads_every_item_takes_its_input_tokens_from_them(data_dir, tmp_path, buckets, softmax):
    """With item features, an exact-softmax step reads the item tables once (every item's token, the inputs
    gathered from them) and gives the loss and gradients of the plain recipe, a bag for the inputs and
    another for the catalogue; a sampled-softmax step bags its inputs alone."""
    import contextlib

    config = _config(data_dir, tmp_path, item_feature_fields=["genre", "year"], item_hash_buckets=buckets,
                     softmax=softmax, **ITEM_FEATURES)
    _, train, _, _, model = _prepare(config)
    batch = next(iter(train))
    bagged = []
    hook = model.item_embedding.register_forward_hook(lambda module, args, output: bagged.append(args[0].shape))
    results = []
    for plain in (False, True):
        if plain:
            hook.remove()
            model._item_tokens_once = contextlib.nullcontext
            model.item_embedding.all_items = lambda: model.item_embedding(torch.arange(model.n_items))
        model.zero_grad()
        torch.manual_seed(0)  # the same negatives
        loss = sum(model.calculate_loss(batch))  # next item + feedback
        loss.backward()
        results.append((loss.detach(), {key: p.grad.clone() for key, p in model.named_parameters() if p.grad is not None}))
    (loss, grads), (plain_loss, plain_grads) = results
    assert torch.allclose(loss, plain_loss, atol=1e-6) and grads.keys() == plain_grads.keys()
    for key in grads:
        assert torch.allclose(grads[key], plain_grads[key], atol=1e-6), key
    assert (batch["item_id_list"].shape in bagged) == (softmax == "sampled")


def test_absolute_time_buckets_count_from_the_first_training_event(data_dir, tmp_path):
    config = _config(data_dir, tmp_path, absolute_time_context=True, absolute_time_bucket_days=1)
    _, train, _, _, model = _prepare(config)
    times = train._dataset.inter_feat["timestamp_seconds_list"][train._dataset.inter_feat["item_id_list"] > 0]
    origin, last = float(times.min()), float(times.max())
    assert float(model.time_origin) == origin
    assert model.n_time_buckets == int((last - origin) // 86400) + 1
    stamps = torch.tensor([origin - 86400, origin, origin + 86400 * 1.5, last, last + 10 * 86400], dtype=torch.float64)
    assert model.absolute_time_buckets(stamps).tolist() == [0, 0, 1, model.n_time_buckets - 1, model.n_time_buckets - 1]


@pytest.mark.parametrize(
    "overrides, post_ln, warmup",
    [
        ({}, True, POST_LN_WARMUP_STEPS),
        ({"event_token": "linear"}, False, 0),
        (ID_ONLY, True, POST_LN_WARMUP_STEPS),
        ({"time_context": False, "event_token": "linear"}, False, 0),
        ({"norm_first": False, "event_token": "linear"}, True, POST_LN_WARMUP_STEPS),
        ({**ID_ONLY, "norm_first": True}, False, 0),
        ({**ID_ONLY, "warmup_steps": 7}, True, 7),
    ],
)
def test_auto_encoder_is_sasrecs_with_a_warm_up_for_additive_event_tokens(data_dir, tmp_path, overrides, post_ln, warmup):
    config = _config(data_dir, tmp_path, **overrides)
    _, _, _, _, model = _prepare(config)
    assert isinstance(model.encoder, PostLNEncoder) == post_ln
    assert isinstance(model.encoder, CausalTransformerEncoder) != post_ln
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    assert model.warmup_steps == trainer.warmup_steps == warmup


@pytest.mark.parametrize(
    "overrides, decoupled",
    [(ID_ONLY, True), ({}, True), ({**ID_ONLY, "norm_first": True}, False), ({"event_token": "linear"}, False),
     ({"norm_first": False, "event_token": "linear"}, False), ({**ID_ONLY, "position_encoding": "added"}, False),
     (DECOUPLED, True)],
)
def test_auto_positions_are_decoupled_for_additive_event_tokens(data_dir, tmp_path, overrides, decoupled):
    config = _config(data_dir, tmp_path, **overrides)
    _, _, _, _, model = _prepare(config)
    assert (model.position_encoding == "decoupled") == decoupled
    assert (model.position_bias is not None) == decoupled


def test_decoupled_positions_act_through_the_attention_logits_only(data_dir, tmp_path):
    config = _config(data_dir, tmp_path, **ID_ONLY)
    _, _, _, _, model = _prepare(config)
    model.eval()
    items = torch.tensor([[3, 4, 5, 9, 10, 11]])
    segments = torch.tensor([[1, 1, 1, 2, 2, 2]])
    zeros = torch.zeros(1, 6, model.hidden_size)
    tokens = model.item_tokens(items)

    def hidden(vectors):
        with torch.no_grad():
            return model._encode(vectors, zeros, zeros, segments)[0]

    before = hidden(tokens)
    with torch.no_grad():
        model.position_embedding.weight.add_(torch.randn_like(model.position_embedding.weight))
        model.position_bias.query.weight.add_(torch.randn_like(model.position_bias.query.weight))
    moved = hidden(tokens)
    # a chunk's first event attends to itself alone: were positions in its token, new ones would move it
    assert torch.allclose(moved[0], before[0], atol=1e-6) and torch.allclose(moved[3], before[3], atol=1e-6)
    assert not torch.allclose(moved[2], before[2], atol=1e-4)
    changed = tokens.clone()
    changed[0, 4] = torch.randn(model.hidden_size)
    after = hidden(changed)
    # causal inside a chunk, nothing across packed chunks
    assert torch.allclose(after[:4], moved[:4], atol=1e-6) and not torch.allclose(after[4], moved[4], atol=1e-4)


@pytest.mark.parametrize("features", [{}, {**ITEM_FEATURES, "item_feature_fields": ["genre"]}])
def test_the_trainer_steps_adam_fused_with_decoupled_decay_on_the_item_tables_only(data_dir, tmp_path, features):
    config = _config(data_dir, tmp_path, weight_decay=0.01, item_weight_decay=0.3, **features)
    _, _, _, _, model = _prepare(config)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    assert type(trainer.optimizer) is torch.optim.Adam
    tables, others = trainer.optimizer.param_groups
    assert all(group["fused"] and group["lr"] == config["learning_rate"] for group in (tables, others))
    assert (tables["weight_decay"], tables["decoupled_weight_decay"]) == (0.3, True)
    assert (others["weight_decay"], others["decoupled_weight_decay"]) == (0.01, False)
    names = {id(p): name for name, p in model.named_parameters()}
    assert len(names) == len(tables["params"]) + len(others["params"])
    assert {names[id(p)].split(".")[0] for p in tables["params"]} == {"item_embedding"}
    assert len(tables["params"]) == (2 if features else 1)  # the id table, and the genre table
    assert not any(names[id(p)].startswith("item_embedding.") for p in others["params"])


def test_item_weight_decay_shrinks_an_item_row_without_gradient_as_adamw_does(data_dir, tmp_path):
    config = _config(data_dir, tmp_path, item_weight_decay=0.3, warmup_steps=0)  # the full rate from the first step
    _, _, _, _, model = _prepare(config)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    items, positions = model.item_embedding.weight, model.position_embedding.weight
    items_before, positions_before = items.detach().clone(), positions.detach().clone()
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    trainer.optimizer.step()
    assert torch.allclose(items.detach(), items_before * (1 - config["learning_rate"] * 0.3), atol=1e-7)
    assert not torch.allclose(items.detach(), items_before, atol=1e-6)
    assert torch.equal(positions.detach(), positions_before)  # no gradient and no decay: unchanged


def test_no_item_weight_decay_is_recboles_single_adam_group(data_dir, tmp_path):
    config = _config(data_dir, tmp_path, weight_decay=0.01, item_weight_decay=0)
    _, _, _, _, model = _prepare(config)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    (group,) = trainer.optimizer.param_groups
    assert group["fused"] and group["weight_decay"] == 0.01 and not group["decoupled_weight_decay"]
    assert {id(p) for p in group["params"]} == {id(p) for p in model.parameters()}


def test_learning_rate_warms_up_over_the_first_steps(data_dir, tmp_path):
    config = _config(data_dir, tmp_path, warmup_steps=4, epochs=1)
    _, train, _, _, model = _prepare(config)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    rates = []
    trainer.optimizer.register_step_post_hook(lambda optimizer, *a: rates.append(optimizer.param_groups[0]["lr"]))
    trainer._train_epoch(train, 0)
    assert len(rates) >= 5
    assert rates[:5] == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01])
