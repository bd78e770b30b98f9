"""HybridRoBERTa with a tiny random RoBERTa saved to a temporary directory.

The encoder and its byte-level BPE tokenizer are built here (the Hugging
Face hub is not needed) and loaded by path, through the same
``AutoModel``/``AutoTokenizer`` code users go through.
"""

import math

import numpy as np
import pytest
import torch

import recbole_ext  # noqa: F401
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.quick_start import run_recbole
from recbole.utils import init_seed

from recbole_ext.checkpoints import load_checkpoint
from recbole_ext.data.item_text import item_texts
from recbole_ext.model import text_encoder
from recbole_ext.model.hybrid_roberta import HybridRoBERTa, ridge_projection
from recbole_ext.trainer.param_groups import ParamGroupTrainer
from recbole_ext.model.text_encoder import (
    LayerPooling,
    cached_layer_embeddings,
    load_encoder,
    masked_mean,
    pooled_top_layers,
)

from conftest import save_tiny_roberta, settings_changed

@pytest.fixture(scope="module")
def other_encoder(tmp_path_factory):
    return save_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta_other"), seed=1)


ML100K_ITEMS = {
    "load_col": {
        "inter": ["user_id", "item_id", "rating", "timestamp"],
        "item": ["item_id", "movie_title", "class"],
    }
}


def ml100k_config(encoder, cache_dir, **overrides):
    return {
        **ML100K_ITEMS,
        "text_encoder": encoder,
        "text_cache_dir": str(cache_dir),
        "embedding_size": 8,
        "wals_sweeps": 2,
        "epochs": 1,
        "show_progress": False,
        "checkpoint_dir": str(cache_dir / "saved"),
        "cold_item_ratio": 0.2,
        **overrides,
    }


@pytest.fixture(scope="module")
def ml100k(tiny_encoder, tmp_path_factory):
    """Config and train split of ml-100k with 20 % of items held out."""
    cache = tmp_path_factory.mktemp("ml100k")
    config = Config(model="HybridRoBERTa", dataset="ml-100k", config_dict=ml100k_config(tiny_encoder, cache))
    init_seed(config["seed"], config["reproducibility"])
    train, _, _ = data_preparation(config, create_dataset(config))
    return config, train._dataset


# --------------------------------------------------------------------- pooling
def test_pooling_over_top_layers_matches_hand_computation(tiny_encoder):
    tokenizer, model = load_encoder(tiny_encoder)
    batch = tokenizer(["Toy Story", "GoldenEye Four Rooms"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).hidden_states
    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1], "needs padding"

    layers = pooled_top_layers(hidden, batch["attention_mask"], top_layers=2)
    for row in range(2):
        n_tokens = int(batch["attention_mask"][row].sum())
        for slot, layer in enumerate((-2, -1)):
            by_hand = hidden[layer][row, :n_tokens].sum(0) / n_tokens
            torch.testing.assert_close(layers[row, slot], by_hand)

    mean = LayerPooling(2, "mean")(layers)
    torch.testing.assert_close(mean, (layers[:, 0] + layers[:, 1]) / 2)
    weighted = LayerPooling(2, "weighted")
    with torch.no_grad():
        weighted.logits.copy_(torch.tensor([0.0, math.log(3.0)]))
    torch.testing.assert_close(weighted(layers), 0.25 * layers[:, 0] + 0.75 * layers[:, 1])


def test_masked_mean_ignores_padding_and_survives_empty_rows():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]], [[5.0], [7.0], [9.0]]])
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    torch.testing.assert_close(masked_mean(hidden, mask), torch.tensor([[2.0], [0.0]]))


def test_weighted_pooling_weights_are_learned():
    pooling = LayerPooling(3, "weighted")
    layers = torch.randn(8, 3, 4)
    target = layers[:, 2]
    optimizer = torch.optim.Adam(pooling.parameters(), lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        (pooling(layers) - target).square().mean().backward()
        optimizer.step()
    assert pooling.weights()[2] > 0.9


# --------------------------------------------------------------------- cache
def test_cache_is_reused_and_invalidated(tiny_encoder, other_encoder, tmp_path, monkeypatch):
    calls = []
    real_encode = text_encoder.encode_layers
    monkeypatch.setattr(
        text_encoder, "encode_layers", lambda *a, **k: calls.append(a[2]) or real_encode(*a, **k)
    )
    texts = ["Toy Story", "", "GoldenEye"]
    first = cached_layer_embeddings(tiny_encoder, texts, 2, 32, tmp_path)
    again = cached_layer_embeddings(tiny_encoder, texts, 2, 32, tmp_path)
    assert len(calls) == 1 and torch.equal(first, again)
    assert first.shape == (3, 2, 16) and torch.isfinite(first).all()

    changed = cached_layer_embeddings(tiny_encoder, ["Toy Story", "", "Four Rooms"], 2, 32, tmp_path)
    assert len(calls) == 2 and torch.equal(changed[:2], first[:2]) and not torch.equal(changed[2], first[2])

    other = cached_layer_embeddings(other_encoder, texts, 2, 32, tmp_path)
    assert len(calls) == 3 and not torch.equal(other, first)
    assert len(list(tmp_path.glob("*.pt"))) == 3


# --------------------------------------------------------------------- item text
def test_item_texts_rebuild_titles_and_genres(ml100k):
    config, dataset = ml100k
    texts = item_texts(dataset, ["movie_title", "class"], ". ")
    toy_story = dataset.token2id(dataset.iid_field, "1")
    assert texts[toy_story] == "Toy Story. Animation Children's Comedy"
    assert texts[0] == "" and len(texts) == dataset.item_num


def test_missing_text_field_names_it_and_the_available_fields(ml100k):
    _, dataset = ml100k
    with pytest.raises(ValueError, match=r"'plot'.*available item fields: movie_title, class"):
        item_texts(dataset, ["movie_title", "plot"])


def test_encoder_not_found_says_what_was_tried_and_how_to_pass_a_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"no-such-encoder.*text_encoder=/path/to/dir") as error:
        load_encoder(str(tmp_path / "no-such-encoder"))
    assert "\n" not in str(error.value)


# --------------------------------------------------------------------- model
def fitted(config, dataset):
    """A HybridRoBERTa with its WALS factors and ridge projection fitted, as its trainer does first."""
    model = HybridRoBERTa(config, dataset)
    model.fit_before_epochs()
    return model


def test_cold_item_gets_a_finite_score_from_its_text_alone(ml100k):
    config, dataset = ml100k
    model = fitted(config, dataset)
    cold = np.flatnonzero(~model.warm_items.numpy()[1:]) + 1
    assert len(cold) > 0 and np.isin(dataset.cold_item_ids, cold).all()
    assert model.item_factors[cold].abs().max() < 1e-6, "WALS knows nothing of cold items"

    item = torch.tensor([int(cold[0])])
    text_only = model.projection(model.layer_pooling(model.text_layers[item]))
    scores = model.full_sort_predict({model.USER_ID: torch.tensor([1, 2])}).view(2, -1)
    assert torch.isfinite(scores).all()
    torch.testing.assert_close(scores[:, item[0]], (model.user_factors[[1, 2]] @ text_only.T).view(-1))
    assert scores[:, item[0]].abs().sum() > 0

    warm = int(np.flatnonzero(model.warm_items.numpy())[1])
    torch.testing.assert_close(scores[0, warm], model.user_factors[1] @ model.item_factors[warm])


def test_projection_learns_a_synthetic_linear_map(ml100k):
    config, dataset = ml100k
    with settings_changed(config, hybrid_loss="regression"):
        model = HybridRoBERTa(config, dataset)
    generator = torch.Generator().manual_seed(0)
    n_items, text_dim, factor_dim = model.n_items, model.text_dim, model.item_factors.shape[1]
    true_map = torch.randn(factor_dim, text_dim, generator=generator)
    model.text_layers = torch.randn(n_items, config["top_layers"], text_dim, generator=generator)
    with torch.no_grad():
        model.wals.item_embedding.copy_(model.layer_pooling(model.text_layers) @ true_map.T + 0.5)
    torch.nn.init.zeros_(model.projection.weight)
    model.ridge_lambda = 0.0

    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    items = torch.from_numpy(np.flatnonzero(model.warm_items.numpy()))
    for step in range(300):
        batch = items[torch.randint(len(items), (256,), generator=generator)]
        interaction = {
            model.USER_ID: torch.ones_like(batch), model.ITEM_ID: batch, model.NEG_ITEM_ID: batch,
        }
        optimizer.zero_grad()
        model.calculate_loss(interaction).backward()
        optimizer.step()
    torch.testing.assert_close(model.projection.weight, true_map, atol=0.05, rtol=0.05)
    torch.testing.assert_close(model.projection.bias, torch.full((factor_dim,), 0.5), atol=0.05, rtol=0.05)


def test_default_projection_is_the_closed_form_ridge_fit_and_nothing_trains(ml100k):
    config, dataset = ml100k
    assert config["hybrid_loss"] == "ridge", "the shipped default"
    model = HybridRoBERTa(config, dataset)
    unfitted = model.item_factors.clone()
    trainer = ParamGroupTrainer(config, model)
    assert trainer.epochs == 1 and model.closed_form and not model.projection.weight.requires_grad
    train_data, _, _ = data_preparation(config, create_dataset(config))
    trainer.fit(train_data, None, saved=False, show_progress=False)  # the trainer fits WALS, then the ridge map
    assert not torch.equal(model.item_factors, unfitted)
    warm = model.warm_items.clone()
    warm[0] = False
    weight, bias = ridge_projection(model.layer_pooling(model.text_layers[warm]), model.item_factors[warm], 30.0)
    torch.testing.assert_close(model.projection.weight, weight)
    torch.testing.assert_close(model.projection.bias, bias)

    with settings_changed(config, hybrid_loss="regression"):
        trained = HybridRoBERTa(config, dataset)
        assert not trained.closed_form and ParamGroupTrainer(config, trained).epochs == config["epochs"]


@pytest.mark.parametrize("setting", [{"layer_pooling": "weighted"}, {"text_fine_tune_layers": 1}])
def test_closed_form_projection_refuses_trained_text_features(ml100k, setting):
    config, dataset = ml100k
    with settings_changed(config, **setting), pytest.raises(ValueError, match=r"hybrid_loss 'ridge'.*regression"):
        HybridRoBERTa(config, dataset)


def test_text_knn_weight_adds_the_history_similarity_to_cold_items_only(ml100k):
    config, dataset = ml100k
    plain = fitted(config, dataset)
    with settings_changed(config, text_knn_weight=0.5, text_knn_neighbours=4):
        model = fitted(config, dataset)
    users = torch.tensor([1, 5])
    extra = model.full_sort_predict({model.USER_ID: users}).view(2, -1) - plain.full_sort_predict(
        {model.USER_ID: users}
    ).view(2, -1)
    warm = model.warm_items.numpy()
    assert extra[:, warm].abs().max() == 0, "warm items keep their WALS scores"

    # slow reference: for each cold item its 4 most cosine-similar warm items, summed over the history
    text = torch.nn.functional.normalize(model.layer_pooling(model.text_layers), dim=1)
    warm_ids = np.flatnonzero(warm[1:]) + 1
    history = dataset.inter_matrix(form="csr")
    for row, user in enumerate(users.tolist()):
        seen = set(history[user].indices.tolist())
        for item in (np.flatnonzero(~warm[1:]) + 1)[:20]:
            best = torch.topk(text[warm_ids] @ text[item], 4)
            near = {int(warm_ids[i]): float(c) for i, c in zip(best.indices, best.values.clamp_min(0))}
            expected = 0.5 / math.sqrt(len(seen)) * sum(c for h, c in near.items() if h in seen)
            assert extra[row, item].item() == pytest.approx(expected, abs=1e-5)
    assert extra.abs().sum() > 0, "the history overlaps some cold items' neighbours"

    pairs = {model.USER_ID: torch.tensor([1, 1, 5]), model.ITEM_ID: torch.tensor([1, 2, 3])}
    full = model.full_sort_predict({model.USER_ID: torch.tensor([1, 5])}).view(2, -1)
    torch.testing.assert_close(model.predict(pairs), torch.stack([full[0, 1], full[0, 2], full[1, 3]]))


def test_ridge_projection_recovers_a_linear_map():
    generator = torch.Generator().manual_seed(1)
    text = torch.randn(500, 6, generator=generator)
    true_map = torch.randn(6, 3, generator=generator)
    weight, bias = ridge_projection(text, text @ true_map - 2.0, ridge=1e-6)
    torch.testing.assert_close(weight, true_map.T, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(bias, torch.full((3,), -2.0), atol=1e-3, rtol=1e-3)


def test_wals_checkpoint_is_loaded_and_checked(ml100k, tmp_path):
    config, dataset = ml100k
    users = torch.randn(dataset.user_num, 8)
    items = torch.randn(dataset.item_num, 8)
    good, bad = tmp_path / "wals.pth", tmp_path / "other.pth"
    torch.save({"state_dict": {"user_embedding": users, "item_embedding": items}}, good)
    torch.save({"state_dict": {"user_embedding": users[:5], "item_embedding": items}}, bad)
    with settings_changed(config, wals_checkpoint=str(good), embedding_size=8):
        model = fitted(config, dataset)
        torch.testing.assert_close(model.user_factors, users)
    with settings_changed(config, wals_checkpoint=str(bad), embedding_size=8):
        with pytest.raises(ValueError, match=r"other.pth: factors for 5 users"):
            fitted(config, dataset)


def test_cold_items_never_reach_training(ml100k):
    config, dataset = ml100k
    assert len(dataset.cold_item_ids) == round(0.2 * (dataset.item_num - 1))
    assert not np.isin(dataset.inter_feat[dataset.iid_field].numpy(), dataset.cold_item_ids).any()


def test_fine_tuning_top_layers_uses_the_text_learning_rate(ml100k):
    config, dataset = ml100k
    with settings_changed(config, text_fine_tune_layers=1, hybrid_loss="ranking"):
        model = HybridRoBERTa(config, dataset)
    groups = model.optimizer_param_groups(1e-3)
    assert [g["lr"] for g in groups] == [1e-3, config["text_learning_rate"]]
    repeated = torch.tensor([3, 5, 3])  # the encoder runs once per distinct item
    direct = model.projection(model.layer_pooling(model.fine_tuned_encoder(repeated)))
    torch.testing.assert_close(model.text_vectors(repeated), direct)
    last_block = list(model.fine_tuned_encoder.model.encoder.layer[-1].parameters())
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in last_block}
    before = [p.detach().clone() for p in last_block]
    first_block = [p.detach().clone() for p in model.fine_tuned_encoder.model.encoder.layer[0].parameters()]

    model.train()
    optimizer = torch.optim.Adam(groups)
    batch = torch.arange(1, 65)
    interaction = {model.USER_ID: batch, model.ITEM_ID: batch, model.NEG_ITEM_ID: batch.flip(0)}
    model.calculate_loss(interaction).backward()
    optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, last_block))
    assert all(
        torch.equal(b, p)
        for b, p in zip(first_block, model.fine_tuned_encoder.model.encoder.layer[0].parameters())
    )


# --------------------------------------------------------------------- end to end
@pytest.mark.parametrize(
    "settings", [{}, {"epochs": 2, "layer_pooling": "weighted", "hybrid_loss": "both"}], ids=["closed_form", "trained"]
)
def test_run_recbole_by_name_with_the_tiny_local_encoder(tiny_encoder, tmp_path, settings):
    result = run_recbole(
        model="HybridRoBERTa",
        dataset="ml-100k",
        config_dict=ml100k_config(tiny_encoder, tmp_path, **settings),
    )
    assert result["test_result"]["ndcg@10"] > 0.05  # random scores give about 0.006 here; WALS warm items lift it
    assert list(tmp_path.glob("*.pt")), "text embeddings were cached"


def test_a_checkpoint_reloads_without_fitting_again(tiny_encoder, tmp_path, monkeypatch):
    from recbole.quick_start import load_data_and_model

    from recbole_ext.model.wals import WALS

    config_dict = ml100k_config(tiny_encoder, tmp_path, checkpoint_dir=str(tmp_path / "saved"))
    run_recbole(model="HybridRoBERTa", dataset="ml-100k", config_dict=config_dict)
    (checkpoint,) = (tmp_path / "saved").glob("HybridRoBERTa-*[0-9].pth")
    monkeypatch.setattr(WALS, "sweep", lambda *a, **k: pytest.fail("load_data_and_model refitted WALS"))
    _, model, _, _, _, _ = load_data_and_model(str(checkpoint))
    saved = load_checkpoint(checkpoint)["state_dict"]
    torch.testing.assert_close(model.user_factors, saved["wals.user_embedding"])
    torch.testing.assert_close(model.projection.weight, saved["projection.weight"])


def test_cold_start_metrics_match_a_hand_computation():
    from lab.cold_start import ranking_metrics

    scores = torch.tensor([[0.9, 0.1, 0.5, 0.0], [0.0, 0.2, 0.1, 0.3]])
    positives = torch.tensor([[False, True, True, False], [False, True, False, False]])
    ndcg, recall = ranking_metrics(scores, positives, k=2)
    torch.testing.assert_close(ndcg, torch.tensor([(1 / math.log2(3)) / (1 + 1 / math.log2(3)), 1 / math.log2(3)]))
    torch.testing.assert_close(recall, torch.tensor([0.5, 1.0]))


def test_oracle_rows_are_given_the_validation_interactions(tiny_encoder, tmp_path):
    from lab.cold_start import run_seed

    overrides = {"text_encoder": tiny_encoder, "text_cache_dir": str(tmp_path), "embedding_size": 8, "wals_sweeps": 4}
    results, info = run_seed("ml-100k", 2020, overrides, tmp_path, knn_k=20, oracles=True)
    cold = lambda method: results[method]["cold"]["ndcg@10"]
    assert info["cold_items"] >= round(0.2 * 1682)
    # having seen half of each cold item's interactions, WALS ranks cold items far better than text can
    assert cold("oracle: WALS given validation") > 2 * max(cold("HybridRoBERTa"), cold("text-kNN"))
    assert cold("oracle: projection fitted on cold items") > cold("HybridRoBERTa")
    assert "cold" not in results["WALS"] and "warm" not in results["oracle: WALS given validation"]
