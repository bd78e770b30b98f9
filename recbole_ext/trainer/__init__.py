"""Trainers and the trainer settings recbole_ext gives every model.

:func:`with_plugin_settings` adds, to any RecBole trainer class, the NaN
guard, the weight average (``ema_decay``), the history rule
(``exclude_history_items``) and resumable training (a last checkpoint every
epoch, ``resume``); the settings' defaults are in
``recbole_ext/properties/overall.yaml``. The registry gives it to every
plugin model's trainer, the runner to every built-in model's.
"""

from recbole_ext.trainer.history_filter import HistoryFilterMixin, mask_history_items
from recbole_ext.trainer.nan_guard import NaNGuardMixin, NaNLossError
from recbole_ext.trainer.resume import ResumableMixin
from recbole_ext.trainer.sweep import SweepTrainer
from recbole_ext.trainer.weight_averaging import WeightAveragingMixin

# the weight average extends the resumable state, so it comes first in the method order
_PLUGIN_MIXINS = (WeightAveragingMixin, HistoryFilterMixin, NaNGuardMixin, ResumableMixin)


def with_plugin_settings(trainer_class, name=None):
    """``trainer_class`` with every plugin trainer mixin it lacks (itself when it has them all)."""
    missing = tuple(mixin for mixin in _PLUGIN_MIXINS if not issubclass(trainer_class, mixin))
    if not missing:
        return trainer_class
    return type(name or trainer_class.__name__, missing + (trainer_class,), {})


__all__ = [
    "HistoryFilterMixin",
    "NaNGuardMixin",
    "NaNLossError",
    "ResumableMixin",
    "SweepTrainer",
    "WeightAveragingMixin",
    "mask_history_items",
    "with_plugin_settings",
]
