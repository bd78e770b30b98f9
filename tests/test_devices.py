"""Every tensor a plugin model keeps is a parameter or a buffer, and every tensor it makes
follows the model's device: each model, moved to PyTorch's ``meta`` device (shapes, no data),
still scores a batch that is on that device. A tensor made on the CPU, or kept as a plain
attribute, fails the forward pass there."""

import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_ext import runner

from conftest import quiet_config

ML100K_TEXT = {"load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"], "item": ["item_id", "movie_title", "class"]}}
CASES = {
    "WALS": ("ml-100k", {"embedding_size": 8}),
    "ARGUS": ("ml-100k", {"hidden_size": 16, "head_size": 16, "inner_size": 32, "MAX_ITEM_LIST_LENGTH": 10}),
    "Wukong": ("ml-100k", {"embedding_size": 4, "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO",
                                                              "group_by": None, "mode": "labeled"},
                           "train_neg_sample_args": None, "threshold": {"rating": 4}, "metrics": ["AUC"],
                           "valid_metric": "AUC"}),
    "HybridRoBERTa": ("ml-100k", {**ML100K_TEXT, "embedding_size": 8, "cold_item_ratio": 0.2}),
}


def plain_tensor_attributes(model):
    """Tensors a module keeps outside its parameters and buffers (directly or one object down):
    ``model.to(device)`` would leave them behind."""
    found = []
    for name, module in model.named_modules():
        for attribute, value in vars(module).items():
            inner = vars(value).values() if hasattr(value, "__dict__") and not isinstance(value, torch.nn.Module) else []
            if torch.is_tensor(value) or any(torch.is_tensor(v) for v in inner):
                found.append(f"{name}.{attribute}")
    return found


def _on_meta(interaction):
    return Interaction({key: value.to("meta") for key, value in interaction.interaction.items()})


@pytest.mark.parametrize("model_name", sorted(CASES))
def test_plugin_model_scores_on_the_meta_device(model_name, tiny_encoder, tmp_path):
    dataset, settings = CASES[model_name]
    if model_name == "HybridRoBERTa":
        settings = {**settings, "text_encoder": tiny_encoder, "text_cache_dir": str(tmp_path)}
    config = runner.build_config(model_name, dataset, [], quiet_config(**settings))
    _, train_data, _, test_data = runner.prepare(config)
    model, _ = runner.build_model_and_trainer(config, train_data)
    batch = next(iter(test_data))[0]
    model.eval()
    assert plain_tensor_attributes(model) == []
    model.to("meta")
    model.device = torch.device("meta")  # RecBole models keep config["device"] as an attribute and make tensors there
    assert all(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()])
    with torch.no_grad():
        if model_name == "Wukong":
            scores = model.predict(_on_meta(batch))
            assert scores.device.type == "meta" and scores.shape == (len(batch),)
        else:
            scores = model.full_sort_predict(_on_meta(batch))
            assert scores.device.type == "meta" and scores.numel() == len(batch) * model.n_items
