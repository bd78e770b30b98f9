"""The weight average (``ema_decay``) of the plugin's default trainer."""

import pytest
import torch
from torch import nn

from recbole_ext.trainer.weight_averaging import WeightAveragingMixin


class _PlainTrainer:
    """The part of RecBole's Trainer the mixin relies on: a model, an optimizer, ``_train_epoch``."""

    def __init__(self, config, model):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        for x, y in train_data:
            self.optimizer.zero_grad()
            loss = ((self.model(x) - y) ** 2).mean()
            loss.backward()
            self.optimizer.step()
        return float(loss)


class _AveragingTrainer(WeightAveragingMixin, _PlainTrainer):
    pass


def _data(seed):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 3, generator=generator), torch.randn(8, 1, generator=generator)) for _ in range(5)]


def _model():
    torch.manual_seed(0)
    return nn.Linear(3, 1)


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_weight_average_matches_a_hand_computed_ema_and_leaves_training_unchanged():
    decay = 0.9
    plain, averaged = _PlainTrainer({}, _model()), _AveragingTrainer({"ema_decay": decay}, _model())
    expected, step = None, 0
    for epoch in range(3):
        data = _data(epoch)
        # the plain trainer's weights after every step are the raw trajectory
        for batch in data:
            plain._train_epoch([batch], epoch)
            raw = _flat(plain.model)
            rate = min(decay, (1 + step) / (10 + step))
            expected = raw.clone() if expected is None else rate * expected + (1 - rate) * raw
            step += 1
        averaged._train_epoch(data, epoch)
        # after an epoch the model holds the average (what validation and the checkpoint see) ...
        assert torch.allclose(_flat(averaged.model), expected, atol=1e-6)
        assert not torch.allclose(_flat(averaged.model), raw, atol=1e-4)
    # ... while training went on from the raw weights, exactly as without averaging
    averaged._swap_in_raw()
    assert torch.allclose(_flat(averaged.model), _flat(plain.model), atol=1e-6)


@pytest.mark.parametrize("decay", [None, 0.0])
def test_no_decay_means_no_averaging(decay):
    plain, trainer = _PlainTrainer({}, _model()), _AveragingTrainer({"ema_decay": decay}, _model())
    for epoch in range(2):
        plain._train_epoch(_data(epoch), epoch)
        trainer._train_epoch(_data(epoch), epoch)
    assert torch.equal(_flat(trainer.model), _flat(plain.model))


@pytest.mark.parametrize("decay, averaged", [(0.99, True), (None, False)])
def test_run_path_gives_builtin_models_the_same_option(tiny_data_path, decay, averaged):
    from recbole_ext import runner

    from conftest import quiet_config

    overrides = {"data_path": str(tiny_data_path), "epochs": 1, **quiet_config()}
    if decay is not None:
        overrides["ema_decay"] = decay
    config = runner.build_config("BPR", "tiny", [], overrides)
    _, train_data, _, _ = runner.prepare(config)
    _, trainer = runner.build_model_and_trainer(config, train_data)
    assert isinstance(trainer, WeightAveragingMixin)
    trainer.fit(train_data, saved=False)
    assert (getattr(trainer, "_averaged", None) is not None) is averaged


def test_plugin_models_default_trainer_has_the_option():
    from recbole.utils import get_model, get_trainer

    for name in ("ARGUS", "Wukong"):
        assert issubclass(get_trainer(get_model(name).type, name), WeightAveragingMixin)
