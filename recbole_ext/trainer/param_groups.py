"""Trainer that lets a model give parts of itself their own learning rate."""

from recbole.trainer import Trainer

from recbole_ext.trainer.nan_guard import NaNGuardMixin


class ParamGroupTrainer(NaNGuardMixin, Trainer):
    """RecBole's ``Trainer`` whose optimizer takes ``model.optimizer_param_groups(lr)``.

    The model returns torch optimizer parameter groups (dicts with ``params``
    and optionally ``lr``), e.g. a fine-tuned text encoder at 2e-5 next to a
    projection at ``learning_rate``. Models without that method train as usual.
    A model whose ``closed_form`` is true has nothing to train: one epoch, as
    RecBole's ``TraditionalTrainer`` runs for EASE.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        if getattr(model, "closed_form", False):
            self.epochs = 1

    def _build_optimizer(self, **kwargs):
        groups = getattr(self.model, "optimizer_param_groups", None)
        if groups is not None and "params" not in kwargs:
            kwargs["params"] = groups(kwargs.get("learning_rate", self.learning_rate))
        return super()._build_optimizer(**kwargs)
