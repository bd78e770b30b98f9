"""Exponential moving average (EMA) of the weights, used for validation, checkpoints and test."""

import torch


class WeightAveragingMixin:
    """Mixin for RecBole trainers: evaluate and save an EMA of the trained weights.

    With ``ema_decay`` in (0, 1) every optimizer step also updates
    ``ema = d * ema + (1 - d) * weights``, with ``d = min(ema_decay, (1 + t) / (10 + t))``
    at step ``t`` so that the first steps do not stay anchored to the random
    initialisation. After each training epoch the averaged weights are swapped
    into the model, so validation, early stopping, the best checkpoint and the
    test all see them; the raw weights are swapped back before the next epoch
    trains on. A small batch and a high learning rate make the raw weights jump
    between epochs (a noisy validation curve that early stopping reads badly);
    the average follows the same trajectory with the jumps smoothed out
    (Polyak and Juditsky, 1992). ``ema_decay`` unset, 0 or ``None``: off.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        decay = config["ema_decay"]
        self.ema_decay = float(decay or 0.0)
        self._ema_step = 0
        self._params = [p for p in self.model.parameters() if p.requires_grad]
        self._averaged = None
        self._raw = None
        if self.ema_decay > 0:
            self.optimizer.register_step_post_hook(lambda *args: self._update_average())

    @torch.no_grad()
    def _update_average(self):
        if self._averaged is None:
            self._averaged = [p.detach().clone() for p in self._params]
        decay = min(self.ema_decay, (1 + self._ema_step) / (10 + self._ema_step))
        for average, param in zip(self._averaged, self._params):
            average.lerp_(param.detach(), 1.0 - decay)
        self._ema_step += 1

    @torch.no_grad()
    def _swap_in_average(self):
        if self._averaged is None or self._raw is not None:
            return
        self._raw = [p.detach().clone() for p in self._params]
        for param, average in zip(self._params, self._averaged):
            param.copy_(average)

    @torch.no_grad()
    def _swap_in_raw(self):
        if self._raw is None:
            return
        for param, raw in zip(self._params, self._raw):
            param.copy_(raw)
        self._raw = None

    def training_state(self):
        state = super().training_state()
        state["weight_average"] = {"step": self._ema_step, "averaged": self._averaged, "raw": self._raw}
        return state

    @torch.no_grad()
    def load_training_state(self, state):
        super().load_training_state(state)
        saved = state["weight_average"]
        self._ema_step = saved["step"]
        self._averaged = saved["averaged"]
        self._raw = saved["raw"]

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self._swap_in_raw()
        loss = super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)
        self._swap_in_average()
        return loss
