"""Tests of the Wukong model (arXiv:2403.02545) and the frappe converter."""

import recbole_ext  # noqa: F401  (registers the plugin models)

import math

import numpy as np
import pandas as pd
import pytest
import torch
from recbole.config import Config
from recbole.data import create_dataset
from recbole.quick_start import run_recbole
from recbole.utils import get_model, init_seed
from sklearn.metrics import roc_auc_score

from recbole_ext.data.frappe import FRAPPE_FIELDS, convert_frappe, main as frappe_main
from recbole_ext.model.wukong import LinearCompressBlock, Wukong, WukongLayer, optimized_fm

from conftest import settings_changed


LABELED_RS = {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": None, "mode": "labeled"}


def write_inter(folder, name, columns, rows):
    """``folder/name/name.inter`` with ``columns`` (``field:type``) and ``rows``."""
    path = folder / name
    path.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(columns)] + ["\t".join(str(value) for value in row) for row in rows]
    (path / f"{name}.inter").write_text("\n".join(lines) + "\n")


def synthetic_config(tmp_path, name, **overrides):
    config_dict = {
        "data_path": str(tmp_path),
        "checkpoint_dir": str(tmp_path / "saved"),
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "RATING_FIELD": None,
        "TIME_FIELD": None,
        "LABEL_FIELD": "label",
        "threshold": None,
        "load_col": None,
        "normalize_all": False,
        "train_neg_sample_args": None,
        "eval_args": LABELED_RS,
        "metrics": ["AUC", "LogLoss"],
        "valid_metric": "AUC",
        "state": "ERROR",
        "show_progress": False,
    }
    config_dict.update(overrides)
    return Config(model="Wukong", dataset=name, config_dict=config_dict)


# ---------------------------------------------------------------- optimized FM


def test_optimized_fm_equals_naive_product():
    torch.manual_seed(0)
    x = torch.randn(3, 7, 5, dtype=torch.float64)
    y = torch.randn(7, 4, dtype=torch.float64)
    naive = torch.matmul(torch.matmul(x, x.transpose(1, 2)), y)
    assert torch.allclose(optimized_fm(x, y), naive)


def test_full_rank_identity_gives_plain_fm_interactions():
    torch.manual_seed(1)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    pairwise_dots = torch.einsum("bid,bjd->bij", x, x)
    assert torch.allclose(optimized_fm(x, torch.eye(6, dtype=torch.float64)), pairwise_dots)


# ---------------------------------------------------------------- one layer


def _silence_blocks(layer):
    """Zero the FMB and LCB so a layer's output is LN(residual) only."""
    with torch.no_grad():
        for parameter in list(layer.fmb.mlp.parameters()) + [layer.lcb.weight]:
            parameter.zero_()


def test_layer_shape_and_projected_residual():
    torch.manual_seed(2)
    layer = WukongLayer(num_inputs=5, embedding_size=4, fm_rank=3, fmb_units=2, lcb_units=4, fmb_mlp_sizes=[8], dropout=0.0)
    x = torch.randn(6, 5, 4)
    assert layer(x).shape == (6, 6, 4)
    assert isinstance(layer.residual, LinearCompressBlock)
    assert layer.residual.weight.shape == (6, 5)
    _silence_blocks(layer)
    expected = torch.nn.functional.layer_norm(torch.matmul(layer.residual.weight, x), (4,))
    assert torch.allclose(layer(x), expected, atol=1e-5)


def test_layer_keeps_identity_residual_when_sizes_match():
    torch.manual_seed(3)
    layer = WukongLayer(num_inputs=6, embedding_size=4, fm_rank=3, fmb_units=2, lcb_units=4, fmb_mlp_sizes=[], dropout=0.0)
    assert isinstance(layer.residual, torch.nn.Identity)
    x = torch.randn(5, 6, 4)
    _silence_blocks(layer)
    assert torch.allclose(layer(x), torch.nn.functional.layer_norm(x, (4,)), atol=1e-5)


def test_lcb_recombines_along_feature_axis():
    block = LinearCompressBlock(num_inputs=3, num_outputs=2)
    with torch.no_grad():
        block.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, -1.0, 0.0]]))
    x = torch.arange(12, dtype=torch.float32).view(1, 3, 4)
    assert torch.equal(block(x)[0], torch.stack([x[0, 0] + 2 * x[0, 2], -x[0, 1]]))


# ---------------------------------------------------------------- whole model on a small dataset


@pytest.fixture(scope="module")
def mixed_dataset(tmp_path_factory):
    """Two token fields, one token_seq field and two float fields."""
    folder = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(0)
    rows = [
        (f"u{rng.integers(7)}", f"i{rng.integers(5)}", f"c{rng.integers(3)}",
         " ".join(f"t{t}" for t in rng.choice(6, size=rng.integers(1, 4), replace=False)),
         round(float(rng.normal()), 4), round(float(rng.normal()), 4), float(rng.integers(2)))
        for _ in range(60)
    ]
    columns = ["user_id:token", "item_id:token", "city:token", "tags:token_seq", "price:float", "age:float", "label:float"]
    write_inter(folder, "mixed", columns, rows)
    config = synthetic_config(
        folder, "mixed", numerical_features=["price", "age"], embedding_size=4, num_layers=2, fm_rank=3,
        fmb_units=2, lcb_units=3, fmb_mlp_sizes=[7], head_mlp_sizes=[6, 5], dense_mlp_sizes=[9], dropout_prob=0.0,
    )
    init_seed(config["seed"], True)
    dataset = create_dataset(config)
    train, _, _ = dataset.build()
    return config, train


def _linear(n_in, n_out, bias=True):
    return n_in * n_out + (n_out if bias else 0)


def _mlp(sizes):
    return sum(_linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))


def expected_parameter_count(config, dataset):
    """Wukong's trainable parameters, written out from the paper's blocks."""
    d, k, m = config["embedding_size"], config["fm_rank"], config["embeddings_per_field"]
    n_f, n_l = config["fmb_units"], config["lcb_units"]
    tokens = sum(dataset.num(f) for f in ("user_id", "item_id", "city")) * m * d
    token_seq = dataset.num("tags") * m * d
    n_dense = len(config["numerical_features"])
    dense = _mlp([n_dense] + config["dense_mlp_sizes"] + [n_dense * d])
    total, n = tokens + token_seq + dense, (3 + 1) * m + n_dense
    for _ in range(config["num_layers"]):
        fmb = n * k + 2 * n * k + _mlp([n * k] + config["fmb_mlp_sizes"] + [n_f * d])
        lcb = n_l * n
        residual = (n_f + n_l) * n if n != n_f + n_l else 0
        total += fmb + lcb + residual + 2 * d
        n = n_f + n_l
    return total + _mlp([n * d] + config["head_mlp_sizes"] + [1])


def wukong_with_embeddings_per_field(config, dataset, m):
    """A Wukong with ``m`` embeddings per field and its expected parameter count."""
    with settings_changed(config, embeddings_per_field=m):
        return Wukong(config, dataset), expected_parameter_count(config, dataset)


@pytest.mark.parametrize("embeddings_per_field", [1, 3])
def test_trainable_parameter_count_matches_formula(mixed_dataset, embeddings_per_field):
    model, expected = wukong_with_embeddings_per_field(*mixed_dataset, embeddings_per_field)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected
    assert model.first_order_linear is None and model.float_embedding_table is None


def test_each_categorical_field_gives_m_embeddings_read_from_its_own_row(mixed_dataset):
    _, dataset = mixed_dataset
    model, _ = wukong_with_embeddings_per_field(*mixed_dataset, 3)
    batch = dataset[torch.arange(4)]
    x0 = model.embed_features(batch)
    # 1 token_seq and 3 token fields, 3 embeddings each, then the 2 dense ones.
    assert x0.shape == (4, 4 * 3 + 2, 4)
    item_rows = model.token_embedding_table(
        torch.stack([batch[f] for f in model.token_field_names], dim=1)
    )  # [4, 3 token fields, 3 * 4]
    first_token = len(model.token_seq_field_names) * 3
    assert torch.equal(x0[:, first_token : first_token + 3].reshape(4, -1), item_rows[:, 0])


def test_forward_shapes_and_loss(mixed_dataset):
    config, dataset = mixed_dataset
    model = Wukong(config, dataset)
    batch = dataset.inter_feat[:8]
    x0 = model.embed_features(batch)
    m = config["embeddings_per_field"]
    assert x0.shape == (8, 4 * m + 2, config["embedding_size"])  # m per token (3) and token_seq (1) field + 2 float
    scores = model.predict(batch)
    assert scores.shape == (8,) and bool(((scores > 0) & (scores < 1)).all())
    loss = model.calculate_loss(batch)
    loss.backward()
    assert math.isfinite(loss.item())
    assert model.dense_embedding[-1].weight.grad.abs().sum() > 0


def test_embedding_dropout_drops_entries_of_x0_in_training_only(mixed_dataset):
    config, dataset = mixed_dataset
    batch = dataset.inter_feat[:16]
    with settings_changed(config, embedding_dropout_prob=0.5):
        model = Wukong(config, dataset)
    with settings_changed(config, embedding_dropout_prob=0.0):
        plain = Wukong(config, dataset)
    plain.load_state_dict(model.state_dict())
    model.eval()
    plain.eval()
    with torch.no_grad():
        assert torch.equal(model.predict(batch), plain.predict(batch))
        x0 = model.embed_features(batch)
        model.train()
        torch.manual_seed(3)
        loss = model.calculate_loss(batch)
        torch.manual_seed(3)
        dropped = torch.nn.functional.dropout(x0, 0.5, training=True)
        assert torch.equal(loss, model.loss(model._logit(dropped), batch[model.LABEL]))  # the loss reads dropped X_0
        assert 0.3 < (dropped == 0).float().mean().item() < 0.7
        assert not torch.equal(loss, plain.train().calculate_loss(batch))


# ---------------------------------------------------------------- embedding regularisation and optimizers


def test_embedding_reg_weight_adds_squared_norm_of_the_batch_rows(mixed_dataset):
    config, dataset = mixed_dataset
    batch = dataset.inter_feat[:8]
    init_seed(7, True)
    model = Wukong(config, dataset)
    model.eval()  # no dropout: both losses see the same network
    plain = model.calculate_loss(batch)
    categorical = model.embed_features(batch)[:, : model.num_embeddings - model.num_dense_fields]
    penalty = categorical.pow(2).sum(dim=(1, 2)).mean()
    with settings_changed(config, embedding_reg_weight=0.5):
        init_seed(7, True)
        regularised = Wukong(config, dataset)
    regularised.eval()
    assert penalty > 0
    assert torch.allclose(regularised.calculate_loss(batch), plain + 0.5 * penalty, atol=1e-6)


def _trainer(config, dataset):
    """Wukong and the trainer every run gets (the runner's ``with_plugin_settings`` class)."""
    from recbole.utils import get_trainer

    from recbole_ext.trainer import with_plugin_settings

    model = Wukong(config, dataset)
    return model, with_plugin_settings(get_trainer(config["MODEL_TYPE"], "Wukong"))(config, model)


def test_embedding_tables_and_dense_part_split_every_parameter_once(mixed_dataset):
    config, dataset = mixed_dataset
    model = Wukong(config, dataset)
    sparse, dense = model.embedding_parameters(), model.dense_parameters()
    assert {id(p) for p in sparse}.isdisjoint(id(p) for p in dense)
    assert len(sparse) + len(dense) == len(list(model.parameters()))
    assert model.token_embedding_table.embedding.weight in sparse


def test_embedding_learning_rate_gives_the_tables_their_own_group(mixed_dataset):
    config, dataset = mixed_dataset
    with settings_changed(config, embedding_learning_rate=0.05):
        model, trainer = _trainer(config, dataset)
    groups = trainer.optimizer.param_groups
    assert [group["lr"] for group in groups] == [config["learning_rate"], 0.05]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.embedding_parameters()}


def test_adagrad_trains_the_tables_and_the_learner_the_rest(mixed_dataset):
    from recbole_ext.model.wukong import SplitOptimizer

    config, dataset = mixed_dataset
    with settings_changed(config, embedding_optimizer="adagrad", embedding_learning_rate=0.05):
        model, trainer = _trainer(config, dataset)
    optimizer = trainer.optimizer
    assert isinstance(optimizer, SplitOptimizer)
    assert isinstance(optimizer.sparse, torch.optim.Adagrad) and isinstance(optimizer.dense, torch.optim.Adam)
    assert optimizer.sparse.param_groups[0]["lr"] == 0.05
    before = [p.detach().clone() for p in model.parameters()]
    optimizer.zero_grad()
    model.calculate_loss(dataset.inter_feat[:16]).backward()
    optimizer.step()
    moved = [not torch.equal(b, p) for b, p in zip(before, model.parameters())]
    assert sum(moved) > len(moved) // 2  # both parts stepped
    assert model.token_embedding_table.embedding.weight in optimizer.sparse.param_groups[0]["params"]
    # the state of both optimizers round-trips (the resumable last checkpoint saves it)
    state = optimizer.state_dict()
    assert set(state) == {"dense", "sparse"} and state["sparse"]["state"]
    with settings_changed(config, embedding_optimizer="adagrad", embedding_learning_rate=0.05):
        _, other = _trainer(config, dataset)
    other.optimizer.load_state_dict(state)
    assert torch.equal(other.optimizer.sparse.state_dict()["state"][0]["sum"], state["sparse"]["state"][0]["sum"])


# ---------------------------------------------------------------- 4th-order task: depth matters


def write_quartic(folder, rows=3000, seed=0):
    """Label = sign(x1 x2 x3 x4) of four Gaussian float features, 5% flipped.

    No product of fewer than four of them carries any signal, so the task
    needs a 4th-order interaction: one FM layer's products reach order 2,
    two layers' reach order 4.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    label = (x.prod(axis=1) > 0) ^ (rng.random(rows) < 0.05)
    ids = rng.integers(0, 3, size=(rows, 2))
    columns = ["user_id:token", "item_id:token"] + [f"x{j}:float" for j in range(1, 5)] + ["label:float"]
    data = [
        (f"u{i}", f"i{j}", *(f"{value:.5f}" for value in features), float(y))
        for (i, j), features, y in zip(ids, x, label)
    ]
    write_inter(folder, "quartic", columns, data)


def fit_and_test_auc(config, train, test, num_layers, seed, steps=200):
    """Full-batch Adam on the model's own loss; test AUC of the result."""
    config["num_layers"] = num_layers
    init_seed(seed, True)
    model = Wukong(config, train)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model.calculate_loss(train.inter_feat).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        scores = model.predict(test.inter_feat).numpy()
    return roc_auc_score(test.inter_feat["label"].numpy(), scores)


def test_two_layers_beat_one_on_fourth_order_interaction(tmp_path):
    write_quartic(tmp_path)
    # Linear dense embedding and linear head: the FM stack is the only
    # source of feature products, as in the paper's order argument.
    config = synthetic_config(
        tmp_path, "quartic", numerical_features=["x1", "x2", "x3", "x4"], dense_mlp_sizes=[], head_mlp_sizes=[],
        fmb_mlp_sizes=[], embedding_size=8, fm_rank=8, fmb_units=4, lcb_units=4, dropout_prob=0.0,
        embeddings_per_field=1,  # the id fields are noise here; one embedding each, as the test was calibrated
        eval_args={**LABELED_RS, "split": {"RS": [0.8, 0.0, 0.2]}},
    )
    # RecBole's random split draws from torch's RNG: seed it, or every run
    # tests on another split (test AUCs then vary by +-0.03 between runs).
    init_seed(config["seed"], True)
    train, _, test = create_dataset(config).build()
    # The LayerNorms make even one layer more than order 2 (it reaches AUC
    # ~0.9 here), so single runs can flip; the mean over three seeds cannot.
    seeds = (1, 2, 3)
    one_layer = np.mean([fit_and_test_auc(config, train, test, 1, seed) for seed in seeds])
    two_layers = np.mean([fit_and_test_auc(config, train, test, 2, seed) for seed in seeds])
    assert two_layers > 0.9
    assert two_layers > one_layer + 0.01


# ---------------------------------------------------------------- by name, on ml-100k


def test_run_recbole_by_name_on_ml100k_labeled(tmp_path):
    assert get_model("Wukong") is Wukong
    result = run_recbole(
        model="Wukong",
        dataset="ml-100k",
        config_dict={
            "load_col": {"inter": ["user_id", "item_id", "rating"], "user": ["user_id", "age", "gender", "occupation"],
                         "item": ["item_id", "release_year", "class"]},
            "threshold": {"rating": 4},
            "eval_args": LABELED_RS,
            "train_neg_sample_args": None,
            "metrics": ["AUC", "LogLoss"],
            "valid_metric": "AUC",
            "epochs": 1,
            "train_batch_size": 4096,
            "embedding_size": 8,
            "fmb_mlp_sizes": [16],
            "head_mlp_sizes": [16],
            "checkpoint_dir": str(tmp_path / "saved"),
            "state": "ERROR",
            "show_progress": False,
        },
        saved=False,
    )
    test_result = result["test_result"]
    assert 0.55 < test_result["auc"] <= 1.0
    assert 0.0 < test_result["logloss"] < 1.0


# ---------------------------------------------------------------- bad input


def test_dataset_without_feature_fields_is_refused(tmp_path):
    rows = [(round(0.1 * i, 1), float(i % 2)) for i in range(20)]
    write_inter(tmp_path, "bare", ["score:float", "label:float"], rows)
    config = synthetic_config(tmp_path, "bare", USER_ID_FIELD=None, ITEM_ID_FIELD=None)
    dataset = create_dataset(config)
    with pytest.raises(ValueError, match=r"no usable feature field.*score"):
        Wukong(config, dataset)


def test_nan_in_float_feature_is_refused(tmp_path):
    rows = [(f"u{i % 3}", f"i{i % 4}", "" if i == 5 else 1.5 * i, float(i % 2)) for i in range(20)]
    write_inter(tmp_path, "holes", ["user_id:token", "item_id:token", "price:float", "label:float"], rows)
    config = synthetic_config(tmp_path, "holes", numerical_features=["price"])
    with pytest.raises(ValueError, match=r"float field 'price'.*1 NaN"):
        create_dataset(config)


# ---------------------------------------------------------------- frappe converter


def _libfm_line(label, indices):
    return f"{label} " + " ".join(f"{index}:1" for index in indices)


def _frappe_rows(count, seed):
    """Ten one-hot indices per row, in disjoint per-field index ranges."""
    rng = np.random.default_rng(seed)
    offsets = 100 * np.arange(len(FRAPPE_FIELDS))
    return [(int(rng.choice([1, -1])), offsets + rng.integers(0, 3, size=len(FRAPPE_FIELDS))) for _ in range(count)]


def test_frappe_converter_concatenates_parts_with_named_fields(tmp_path):
    src = tmp_path / "raw"
    src.mkdir()
    valid, test = _frappe_rows(30, 0), _frappe_rows(12, 1)
    (src / "frappe.validation.libfm").write_text("\n".join(_libfm_line(*row) for row in valid) + "\n")
    (src / "frappe.test.libfm").write_text("\n".join(_libfm_line(*row) for row in test) + "\n")
    folder = convert_frappe(src, tmp_path / "out")
    inter = pd.read_csv(folder / "frappe.inter", sep="\t", dtype=str)
    assert list(inter.columns) == [f"{field}:token" for field in FRAPPE_FIELDS] + ["label:float"]
    assert len(inter) == 42
    rows = valid + test
    assert inter["label:float"].astype(float).tolist() == [1.0 if label == 1 else 0.0 for label, _ in rows]
    assert inter["city:token"].tolist() == [str(indices[-1]) for _, indices in rows]

    # The shipped dataset yaml (labeled mode) loads the converted files.
    config = Config(model="Wukong", dataset="frappe",
                    config_dict={"data_path": str(tmp_path / "out"), "state": "ERROR", "checkpoint_dir": str(tmp_path / "saved")})
    assert config["eval_args"]["mode"] == {"valid": "labeled", "test": "labeled"}
    dataset = create_dataset(config)
    assert dataset.label_field == "label" and len(dataset) == 42
    assert set(FRAPPE_FIELDS) <= set(dataset.field2type)


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("2 1:1 2:1 3:1 4:1 5:1 6:1 7:1 8:1 9:1 10:1", "label must be"),
        ("1 1:1 2:1 3:1", "expected 10"),
        ("-1 1:1 2:1 3:1 4:1 5:1 6:1 7:1 8:1 9:1 ten:1", "is not of the form"),
    ],
)
def test_frappe_converter_names_file_and_line_of_bad_input(tmp_path, bad_line, message, capsys):
    src = tmp_path / "raw"
    src.mkdir()
    good = _libfm_line(1, range(10))
    (src / "frappe.validation.libfm").write_text(f"{good}\n{good}\n{bad_line}\n")
    with pytest.raises(ValueError, match=rf"frappe.validation.libfm:3: .*{message}"):
        convert_frappe(src, tmp_path / "out")
    assert frappe_main(["--src", str(src), "--out", str(tmp_path / "out")]) == 2
    assert "frappe.validation.libfm:3" in capsys.readouterr().err
    assert not (tmp_path / "out" / "frappe" / "frappe.inter").exists()


def test_scaling_summary_averages_seeds_per_configuration():
    from lab.scaling import mean_by_config

    def row(config, seed_auc):
        return {"model": "Wukong", "config": config, "flops_recbole": 10.0, "macs_all_ops": 12.0, "params": 5,
                "test_auc": seed_auc, "test_logloss": 1 - seed_auc}

    summary = mean_by_config([row("a", 0.70), row("a", 0.80), row("b", 0.90)])
    first, second = summary
    assert (first["config"], first["seeds"], second["seeds"]) == ("a", 2, 1)
    assert abs(first["test_auc"] - 0.75) < 1e-12 and abs(first["test_auc_std"] - 0.0707107) < 1e-6
    assert second["test_auc_std"] == 0.0


def test_scaling_ends_compare_top_and_bottom_rung_by_seed():
    from lab.scaling import ends_of_ladders

    def row(config, macs, seed, auc):
        return {"model": "Wukong", "config": config, "macs_all_ops": macs, "seed": seed, "test_auc": auc}

    rows = [row("small", 10.0, 2020, 0.70), row("small", 10.0, 2021, 0.72), row("mid", 100.0, 2020, 0.9),
            row("big", 1000.0, 2020, 0.75), row("big", 1000.0, 2021, 0.78)]
    (end,) = ends_of_ladders(rows)
    assert (end["bottom"], end["top"], end["flops_ratio"]) == (0.71, 0.765, 100.0)
    assert abs(end["difference"] - 0.055) < 1e-12
    assert abs(end["spread"] - (0.03 / 2 ** 0.5)) < 1e-12  # the larger seed std: the top rung's
    assert end["above_spread"]
    assert end["paired"].startswith("+0.0550 ± 0.0050 (2 seeds)")


def test_scaling_rungs_pick_ladder_entries_and_reject_missing_ones():
    from lab.scaling import LADDERS, parse_rungs

    assert parse_rungs(None, ["DCNV2"]) == {"DCNV2": list(range(1, len(LADDERS["DCNV2"]) + 1))}
    assert parse_rungs("1,3", ["Wukong", "DeepFM"]) == {"Wukong": [1, 3], "DeepFM": [1, 3]}
    assert parse_rungs("0", ["Wukong"]).startswith("--rungs: Wukong has rungs 1 to")
    assert parse_rungs("2,x", ["Wukong"]).startswith("--rungs: '2,x' is not")


# ---------------------------------------------------------------- the lab's Wukong probes (lab.probes)


def test_rezero_probe_starts_as_the_head_on_the_embeddings(mixed_dataset):
    from lab.probes.wukong_rezero import WukongReZero

    config, dataset = mixed_dataset
    config["lcb_units"] = 14 - config["fmb_units"]  # 4 categorical fields x 3 embeddings + 2 dense ones
    try:
        model = WukongReZero(config, dataset).eval()
    finally:
        config["lcb_units"] = 3
    batch = dataset.inter_feat[:8]
    with torch.no_grad():
        x0 = model.embed_features(batch)
        assert torch.allclose(model.forward(batch), model.head(x0.flatten(start_dim=1)).squeeze(-1))
        model.layer_scales.fill_(1.0)
        assert not torch.allclose(model.forward(batch), model.head(x0.flatten(start_dim=1)).squeeze(-1))


def _probe_and_embeddings(probe_class, mixed_dataset):
    """A probe built on the mixed dataset (eval mode), 8 rows of it and their ``X_0``."""
    config, dataset = mixed_dataset
    model = probe_class(config, dataset).eval()
    batch = dataset.inter_feat[:8]
    with torch.no_grad():
        return model, batch, model.embed_features(batch)


def test_without_fmb_probe_layers_add_no_products(mixed_dataset):
    from lab.probes.wukong_without_fmb import WukongWithoutFMB

    model, _, x = _probe_and_embeddings(WukongWithoutFMB, mixed_dataset)
    config = mixed_dataset[0]
    with torch.no_grad():
        layer = model.interaction_stack[0]
        expected = layer.norm(torch.cat([torch.zeros(8, config["fmb_units"], 4), layer.lcb(x)], 1) + layer.residual(x))
        assert torch.allclose(layer(x), expected)


def test_head_reads_input_probe_reads_the_embeddings_and_the_stack(mixed_dataset):
    from lab.probes.wukong_head_reads_input import WukongHeadReadsInput

    model, batch, x0 = _probe_and_embeddings(WukongHeadReadsInput, mixed_dataset)
    with torch.no_grad():
        stacked = model.interaction_stack[1](model.interaction_stack[0](x0))
        expected = model.head(torch.cat([x0.flatten(start_dim=1), stacked.flatten(start_dim=1)], 1)).squeeze(-1)
        assert torch.allclose(model.forward(batch), expected)


def test_layer_drop_probe_keeps_every_layer_in_evaluation_and_drops_whole_branches_in_training(mixed_dataset):
    from lab.probes.wukong_layer_drop import WukongLayerDrop50
    from recbole_ext.model.wukong import Wukong

    model, batch, x0 = _probe_and_embeddings(WukongLayerDrop50, mixed_dataset)
    plain = Wukong(*mixed_dataset).eval()
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.allclose(model.forward(batch), plain.forward(batch))
        assert model._branch_keep(x0) == 1.0
        model.train()
        keep = model._branch_keep(torch.zeros(4000, 1, 1))
    assert set(keep.unique().tolist()) == {0.0, 2.0}
    assert abs((keep == 0).float().mean().item() - 0.5) < 0.05
    # every branch dropped: the stack is its residual path alone (the logit reads the multiplier)
    model.eval()
    model._branch_keep = lambda x: 0.0
    with torch.no_grad():
        residual_only = x0
        for layer in model.interaction_stack:
            residual_only = layer.norm(layer.residual(residual_only))
        expected = model.head(residual_only.flatten(start_dim=1)).squeeze(-1)
        assert torch.allclose(model.forward(batch), expected)
        assert not torch.allclose(plain.forward(batch), expected)


def test_batch_norm_probe_normalises_every_hidden_layer_and_starts_from_wukongs_weights(mixed_dataset):
    from lab.probes.wukong_batch_norm import WukongBatchNorm
    from recbole.model.layers import MLPLayers
    from recbole_ext.model.wukong import Wukong

    torch.manual_seed(0)
    model = WukongBatchNorm(*mixed_dataset)
    torch.manual_seed(0)
    plain = Wukong(*mixed_dataset)
    hidden = [m for mlp in model.modules() if isinstance(mlp, MLPLayers) for m in mlp.mlp_layers]
    linears = [i for i, m in enumerate(hidden) if isinstance(m, torch.nn.Linear)]
    assert linears and all(isinstance(hidden[i + 1], torch.nn.BatchNorm1d) for i in linears)
    norms = {id(p) for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d) for p in m.parameters()}
    assert len(norms) == 2 * len(linears)  # a scale and a shift per normalised layer
    others = [p for p in model.parameters() if id(p) not in norms]
    assert len(others) == len(list(plain.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(others, plain.parameters()))
    batch = mixed_dataset[1].inter_feat[:8]
    model.train()
    model.calculate_loss(batch).backward()  # trains with batch statistics
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model.predict(batch)).all()


def test_feature_dropout_probe_drops_whole_embeddings_in_training_only(mixed_dataset):
    from lab.probes.wukong_feature_dropout import WukongFeatureDropout20
    from recbole_ext.model.wukong import Wukong

    batch = mixed_dataset[1].inter_feat[:64]
    model = WukongFeatureDropout20(*mixed_dataset).eval()
    plain = Wukong(*mixed_dataset).eval()
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(model.calculate_loss(batch), plain.calculate_loss(batch))
        clean = plain.embed_features(batch)
        model.train()
        dropped = model._dropped(clean)
    zero = dropped == 0
    assert torch.equal(dropped[~zero], clean[~zero] * (1 / 0.8))
    assert abs(zero.all(-1).float().mean().item() - 0.2) < 0.05
    assert torch.equal(zero.all(-1), zero.any(-1))  # a dropped embedding loses all d entries


def test_without_layer_norm_probe_adds_the_blocks_to_the_residual(mixed_dataset):
    from lab.probes.wukong_without_layer_norm import WukongWithoutLayerNorm

    model, _, x = _probe_and_embeddings(WukongWithoutLayerNorm, mixed_dataset)
    with torch.no_grad():
        layer = model.interaction_stack[0]
        expected = torch.cat([layer.fmb(x), layer.lcb(x)], 1) + layer.residual(x)
        assert torch.allclose(layer(x), expected)
        assert not torch.allclose(expected.norm(dim=-1), torch.full(expected.shape[:2], expected.shape[-1] ** 0.5))


def test_residual_dropout_probe_drops_entries_of_each_layers_output_in_training_only(mixed_dataset):
    from lab.probes.wukong_residual_dropout import WukongResidualDropout50
    from recbole_ext.model.wukong import Wukong

    model, batch, x0 = _probe_and_embeddings(WukongResidualDropout50, mixed_dataset)
    plain = Wukong(*mixed_dataset).eval()
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(model._logit(x0), plain._logit(x0))  # evaluation: Wukong's stack
        model.train()
        model.interaction_stack.eval()  # only the residual dropout acts
        model.head.eval()
        torch.manual_seed(0)
        logit = model._logit(x0)
        torch.manual_seed(0)
        x = x0
        for layer in plain.interaction_stack:
            branch = torch.cat([layer.fmb(x), layer.lcb(x)], dim=1)
            mask = torch.empty_like(branch).bernoulli_(0.5)
            x = layer.norm(branch * mask * 2.0 + layer.residual(x))
        assert torch.allclose(logit, plain.head(x.flatten(start_dim=1)).squeeze(-1))
        assert not torch.allclose(logit, plain._logit(x0))
