from recbole_ext.trainer.nan_guard import NaNGuardMixin, NaNLossError
from recbole_ext.trainer.sweep import SweepTrainer

__all__ = ["NaNGuardMixin", "NaNLossError", "SweepTrainer"]
