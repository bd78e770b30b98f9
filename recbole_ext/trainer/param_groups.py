"""Trainer for models with parts fitted before training and parts with their own learning rate."""

from recbole.trainer import Trainer

from recbole_ext.trainer.nan_guard import NaNGuardMixin


class ParamGroupTrainer(NaNGuardMixin, Trainer):
    """RecBole's ``Trainer`` for models with a closed-form part and parameter groups.

    * ``model.fit_before_epochs()``, when the model has it, runs once before the
      first epoch: the parts not trained by gradients (HybridRoBERTa's WALS
      factors and ridge projection). In the trainer rather than the model's
      constructor, so a model rebuilt from a checkpoint is not fitted again.
    * The optimizer takes ``model.optimizer_param_groups(lr)`` (torch parameter
      groups, e.g. a fine-tuned text encoder at 2e-5 next to a projection at
      ``learning_rate``). Models without that method train as usual.
    * A model whose ``closed_form`` is true has nothing to train: one epoch,
      as RecBole's ``TraditionalTrainer`` runs for EASE.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        if getattr(model, "closed_form", False):
            self.epochs = 1

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        fit_before_epochs = getattr(self.model, "fit_before_epochs", None)
        if fit_before_epochs is not None and self.start_epoch == 0:
            fit_before_epochs()
        return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def _build_optimizer(self, **kwargs):
        groups = getattr(self.model, "optimizer_param_groups", None)
        if groups is not None and "params" not in kwargs:
            kwargs["params"] = groups(kwargs.get("learning_rate", self.learning_rate))
        return super()._build_optimizer(**kwargs)
