"""Stops training on a non-finite loss with a message naming the epoch."""

import math

import torch


class NaNLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class NaNGuardMixin:
    """Mixin for RecBole trainers: a non-finite loss stops training cleanly.

    RecBole's own check raises a bare ``ValueError("Training loss is nan")``.
    This one names the epoch and where the last good checkpoint is; that
    checkpoint is only ever written after a validation improvement, so it is
    never overwritten by the failing epoch.
    """

    _current_epoch = None

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self._current_epoch = epoch_idx
        loss = super()._train_epoch(
            train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress
        )
        self._check_nan(loss)
        return loss

    def _check_nan(self, loss):
        values = loss if isinstance(loss, tuple) else (loss,)
        for value in values:
            value = float(value.detach().sum()) if torch.is_tensor(value) else float(value)
            if not math.isfinite(value):
                raise NaNLossError(
                    f"training loss is {value} at epoch {self._current_epoch}; training stopped, "
                    f"last good checkpoint kept at {self.saved_model_file}"
                )
