"""Trainer for models fitted by closed-form sweeps instead of SGD."""

from recbole.trainer import Trainer

from recbole_ext.trainer.nan_guard import NaNGuardMixin


class SweepTrainer(NaNGuardMixin, Trainer):
    """One epoch = one call of ``model.sweep()`` (e.g. an ALS user + item pass).

    Everything else is RecBole's ``Trainer``: validation every ``eval_step``,
    early stopping on ``valid_metric``, the best checkpoint reloaded for test.
    """

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self._current_epoch = epoch_idx
        self.model.train()
        objective = self.model.sweep(show_progress=show_progress)
        self._check_nan(objective)
        return objective
