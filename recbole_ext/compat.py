"""Compatibility fixes that let stock RecBole 1.2.1 run on today's packages.

This module and :mod:`recbole_ext.registry` are the only places that touch
RecBole's internals. Everything here is applied once, by :func:`apply`, when
``recbole_ext`` is imported; each fix is idempotent.

Fixes:

* **torch >= 2.6 checkpoints.** ``torch.load`` defaults to ``weights_only=True``
  and RecBole's checkpoints pickle its ``Config``. A load that fails under the
  implicit default is retried with an unpickler that resolves only torch's own
  weights-only allow-list plus RecBole/recbole_ext classes, numpy arrays and
  scipy sparse matrices. Any other global still fails; ``weights_only`` is
  never flipped globally.
* **hyperopt 0.3.** RecBole's exhaustive search hands hyperopt a legacy
  ``numpy.random.RandomState``; hyperopt 0.3 calls ``rng.integers``.
* **ray.tune outside a Ray session.** ``objective_function`` reports to
  ``ray.tune`` unconditionally; without a session that only logs noise.
* **Anomaly detection.** RecBole's ``sine.py`` calls
  ``torch.autograd.set_detect_anomaly(True)`` at import time, and importing
  any sequential model (SASRec too) imports it: every backward pass of the
  process then runs about twice as slow. It is switched back off.
* **Checkpoint names.** RecBole names a run's checkpoint ``<Model>-<start
  second>.pth``: two runs started in the same second (two ``run.py`` side by
  side, parallel tuning trials) write the same file and reload each other's
  weights. The process id is appended to the name.
* **Warnings.** Deprecation warnings from RecBole's dependencies flood the run
  log; they are silenced (errors are not).
"""

import functools
import logging
import os
import pickle
import types
import warnings

import numpy as np
import torch

_APPLIED = False

# Globals a RecBole checkpoint may hold besides torch's own allow-list:
# RecBole's classes (its Config, enums, models), numpy arrays and scipy
# sparse matrices stored by models such as EASE (``other_parameter``).
_SAFE_EXACT = {
    "builtins.set",
    "builtins.frozenset",
    "builtins.slice",
    "yaml.loader.FullLoader",  # Config keeps its yaml loader class
    "numpy.ndarray",
    "numpy.matrix",  # EASE keeps a dense item-similarity np.matrix
    "numpy.matrixlib.defmatrix.matrix",
    "numpy.dtype",
    "numpy.core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
}
_SAFE_CLASS_PREFIXES = ("recbole.", "recbole_ext.", "numpy.dtypes.", "scipy.sparse.")


def _is_safe_global(module, name, obj):
    qualified = f"{module}.{name}"
    if qualified in _SAFE_EXACT:
        return True
    if qualified.startswith(_SAFE_CLASS_PREFIXES):
        return isinstance(obj, type)
    from torch._weights_only_unpickler import _get_allowed_globals

    return qualified in _get_allowed_globals()


class _RecBoleCheckpointUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals (Python docs' pattern)."""

    def find_class(self, module, name):
        obj = super().find_class(module, name)
        if not _is_safe_global(module, name, obj):
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: not a RecBole checkpoint class"
            )
        return obj


_restricted_pickle = types.SimpleNamespace(
    Unpickler=_RecBoleCheckpointUnpickler,
    load=lambda f, **kw: _RecBoleCheckpointUnpickler(f, **kw).load(),
    __name__="recbole_ext_restricted_pickle",
)


def _make_checkpoint_aware_load(original_load):
    @functools.wraps(original_load)
    def load(f, *args, **kwargs):
        try:
            return original_load(f, *args, **kwargs)
        except pickle.UnpicklingError:
            # Only the implicit weights_only default is relaxed, and only to
            # an allow-list: files needing anything else still fail.
            if "weights_only" in kwargs or "pickle_module" in kwargs or args:
                raise
            if hasattr(f, "seek"):
                f.seek(0)
            return original_load(
                f, weights_only=False, pickle_module=_restricted_pickle, **kwargs
            )

    load._recbole_ext_patched = True
    return load


def _patch_torch_load():
    if getattr(torch.load, "_recbole_ext_patched", False):
        return
    torch.load = _make_checkpoint_aware_load(torch.load)


class _NumpyWithGeneratorRandomState(types.ModuleType):
    """numpy, except that ``random.RandomState`` builds a ``Generator``."""

    def __init__(self):
        super().__init__("numpy")
        self.random = types.SimpleNamespace(
            **{k: getattr(np.random, k) for k in dir(np.random) if not k.startswith("__")}
        )
        self.random.RandomState = np.random.default_rng

    def __getattr__(self, name):
        return getattr(np, name)


def _patch_hyperopt_rng():
    from recbole.trainer import hyper_tuning

    if not isinstance(hyper_tuning.np, _NumpyWithGeneratorRandomState):
        hyper_tuning.np = _NumpyWithGeneratorRandomState()


def _patch_tune_report():
    """Report to ray.tune only inside a Ray Tune session."""
    from recbole.quick_start import quick_start

    if isinstance(quick_start.tune, types.SimpleNamespace):
        return
    real_tune = quick_start.tune

    def report(**metrics):
        from ray.air._internal.session import _get_session

        if _get_session(warn=False) is None:
            return None
        return real_tune.report(**metrics)

    quick_start.tune = types.SimpleNamespace(report=report, real=real_tune)


def _silence_warnings():
    for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", message=".*weights_only.*")
    warnings.filterwarnings("ignore", message=".*torch.cuda.amp.*")
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")
    logging.getLogger("ray").setLevel(logging.ERROR)


def _undo_global_anomaly_detection():
    import recbole.model.sequential_recommender  # noqa: F401  (imports sine.py, which turns it on)

    torch.autograd.set_detect_anomaly(False)


def _patch_checkpoint_names():
    from recbole.trainer import trainer as trainer_module

    original_init = trainer_module.Trainer.__init__
    if getattr(original_init, "_recbole_ext_patched", False):
        return

    @functools.wraps(original_init)
    def __init__(self, config, model):
        original_init(self, config, model)
        root, extension = os.path.splitext(self.saved_model_file)
        self.saved_model_file = f"{root}-pid{os.getpid()}{extension}"

    __init__._recbole_ext_patched = True
    trainer_module.Trainer.__init__ = __init__


def apply():
    """Apply every compatibility fix once."""
    global _APPLIED
    if _APPLIED:
        return
    _silence_warnings()
    _undo_global_anomaly_detection()
    _patch_torch_load()
    _patch_hyperopt_rng()
    _patch_tune_report()
    _patch_checkpoint_names()
    _APPLIED = True
