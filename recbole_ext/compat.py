"""Compatibility fixes that let stock RecBole 1.2.1 run on today's packages.

This module and :mod:`recbole_ext.registry` are the only places that touch
RecBole's internals. Everything here is applied once, by :func:`apply`, when
``recbole_ext`` is imported; each fix is idempotent.

Fixes:

* **torch >= 2.6 checkpoints.** ``torch.load`` defaults to ``weights_only=True``
  and RecBole's checkpoints pickle its ``Config``. Torch's weights-only
  unpickler reads pickle protocol 2 only, and RecBole writes protocol 4
  (``Trainer._save_checkpoint``): so every RecBole trainer here writes its
  checkpoints with protocol 2, and whole or not at all (a temporary file
  renamed over the old one). Where RecBole loads a
  checkpoint (the best-checkpoint reload in ``Trainer.evaluate``,
  ``Trainer.resume_checkpoint``, ``load_data_and_model``) the load runs inside
  torch's own ``safe_globals`` context with exactly the globals that file needs
  from :mod:`recbole_ext.checkpoints`' list (nothing is imported to check them);
  a file naming anything else is refused with one line. ``torch.load`` itself is
  not replaced: every other load in the process keeps torch's defaults. The
  model constructors that load a pretrained RecBole checkpoint themselves
  (ConvNCF, NAIS, NeuMF, RaCT, S3Rec, KD_DAGFM) are not wrapped. A checkpoint
  written by stock RecBole (protocol 4) is refused with one line saying so.
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
* **Data-parallel training without CUDA.** RecBole's multi-process path
  (``nproc`` / ``world_size``, torch DistributedDataParallel) hard-codes the
  NCCL backend and CUDA devices. Without CUDA the process group uses gloo and
  the model stays on the CPU; with CUDA RecBole's own code runs unchanged.
  Two of its bugs are fixed for every backend: every rank now reloads the
  best checkpoint that rank 0 wrote (the same file name on all ranks, and a
  barrier so that no rank reads it before rank 0 has finished writing it).
* **Folder races.** RecBole creates its log and dataset folders with
  check-then-create; two processes starting together (two ranks, two runs side
  by side) crash with ``FileExistsError``. Creating an existing folder is a no-op.
* **Warnings.** Deprecation warnings from RecBole's dependencies flood the run
  log; they are silenced (errors are not).
"""

import functools
import logging
import os
import types
import warnings

import numpy as np
import torch

_APPLIED = False


def _checkpoint_loading(original, path_of):
    """``original`` with the checkpoint it loads, ``path_of(*args, **kwargs)``, allowed its globals."""

    @functools.wraps(original)
    def load_with_allowed_globals(*args, **kwargs):
        from recbole_ext.checkpoints import allowing

        path = path_of(*args, **kwargs)
        if path is None:
            return original(*args, **kwargs)
        with allowing(path):
            return original(*args, **kwargs)

    load_with_allowed_globals._recbole_ext_patched = True
    return load_with_allowed_globals


def save_checkpoint(trainer, epoch, verbose=True, **kwargs):
    """RecBole's ``Trainer._save_checkpoint``, written with pickle protocol 2 (torch's
    weights-only loader reads no other) to a temporary file renamed over the target."""
    from recbole.utils import set_color

    from recbole_ext.files import atomic_path

    if not trainer.config["single_spec"] and trainer.config["local_rank"] != 0:
        return
    saved_model_file = kwargs.pop("saved_model_file", trainer.saved_model_file)
    state = {
        "config": trainer.config,
        "epoch": epoch,
        "cur_step": trainer.cur_step,
        "best_valid_score": trainer.best_valid_score,
        "state_dict": trainer.model.state_dict(),
        "other_parameter": trainer.model.other_parameter(),
        "optimizer": trainer.optimizer.state_dict(),
        **kwargs,
    }
    with atomic_path(saved_model_file) as tmp:
        torch.save(state, tmp, pickle_protocol=2)
    if verbose:
        trainer.logger.info(set_color("Saving current", "blue") + f": {saved_model_file}")


def _best_checkpoint_of(self, eval_data=None, load_best_model=True, model_file=None, show_progress=False):
    return (model_file or self.saved_model_file) if load_best_model else None


def _patch_checkpoint_loading():
    import recbole.quick_start
    from recbole.quick_start import quick_start
    from recbole.trainer import trainer as trainer_module

    if getattr(quick_start.load_data_and_model, "_recbole_ext_patched", False):
        return
    trainer_module.Trainer._save_checkpoint = save_checkpoint
    trainer_module.Trainer.evaluate = _checkpoint_loading(trainer_module.Trainer.evaluate, _best_checkpoint_of)
    trainer_module.Trainer.resume_checkpoint = _checkpoint_loading(
        trainer_module.Trainer.resume_checkpoint, lambda self, resume_file: resume_file
    )
    patched = _checkpoint_loading(quick_start.load_data_and_model, lambda model_file: model_file)
    quick_start.load_data_and_model = patched
    recbole.quick_start.load_data_and_model = patched


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


def _is_distributed(config):
    return not config["single_spec"]


def _patch_checkpoint_names():
    from recbole.trainer import trainer as trainer_module

    original_init = trainer_module.Trainer.__init__
    if getattr(original_init, "_recbole_ext_patched", False):
        return

    @functools.wraps(original_init)
    def __init__(self, config, model):
        original_init(self, config, model)
        root, extension = os.path.splitext(self.saved_model_file)
        name = [f"{root}-pid{os.getpid()}{extension}"]
        if _is_distributed(config):
            # rank 0 alone writes the checkpoint; every rank must read that file
            torch.distributed.broadcast_object_list(name, src=0)
        self.saved_model_file = name[0]

    __init__._recbole_ext_patched = True
    trainer_module.Trainer.__init__ = __init__


def _wait_for_best_checkpoint(original_evaluate):
    @functools.wraps(original_evaluate)
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if load_best_model and _is_distributed(self.config):
            torch.distributed.barrier()
        return original_evaluate(
            self, eval_data, load_best_model=load_best_model, model_file=model_file, show_progress=show_progress
        )

    evaluate._recbole_ext_patched = True
    return evaluate


def _ensure_dir(dir_path):
    os.makedirs(dir_path, exist_ok=True)


def _patch_ensure_dir():
    import recbole.data.utils
    import recbole.utils
    import recbole.utils.logger
    import recbole.utils.utils
    from recbole.trainer import trainer as trainer_module

    for module in (recbole.utils.utils, recbole.utils, recbole.utils.logger, recbole.data.utils, trainer_module):
        module.ensure_dir = _ensure_dir


def _cuda_requested(config_dict):
    return bool(config_dict["gpu_id"]) and torch.cuda.is_available()


def _init_cpu_process_group(config):
    """What RecBole's ``Config._init_device`` does for a distributed run, with gloo on the CPU."""
    config_dict = config.final_config_dict
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(
            backend="gloo",
            rank=config_dict["local_rank"] + config_dict["offset"],
            world_size=config_dict["world_size"],
            init_method=f"tcp://{config_dict['ip']}:{config_dict['port']}",
        )
    config_dict["device"] = torch.device("cpu")
    config_dict["single_spec"] = False
    if config_dict["local_rank"] != 0:
        config_dict["state"] = "error"
        config_dict["show_progress"] = False
        config_dict["verbose"] = False


def _patch_distributed_on_cpu():
    from recbole.config import configurator
    from recbole.trainer import trainer as trainer_module

    original_init_device = configurator.Config._init_device
    if getattr(original_init_device, "_recbole_ext_patched", False):
        return

    @functools.wraps(original_init_device)
    def _init_device(self):
        config_dict = self.final_config_dict
        gpu_id = config_dict["gpu_id"]
        config_dict["gpu_id"] = ",".join(map(str, gpu_id)) if isinstance(gpu_id, tuple) else str(gpu_id)
        if "local_rank" not in config_dict or _cuda_requested(config_dict):
            return original_init_device(self)
        os.environ["CUDA_VISIBLE_DEVICES"] = config_dict["gpu_id"]
        return _init_cpu_process_group(self)

    original_trainer_init = trainer_module.AbstractTrainer.__init__

    @functools.wraps(original_trainer_init)
    def trainer_init(self, config, model):
        if not _is_distributed(config) or config["device"].type != "cpu":
            return original_trainer_init(self, config, model)
        self.config = config
        self.model = model
        # a CPU module takes no device_ids; SyncBatchNorm has no CPU kernel
        self.distributed_model = torch.nn.parallel.DistributedDataParallel(model)

    _init_device._recbole_ext_patched = True
    configurator.Config._init_device = _init_device
    trainer_module.AbstractTrainer.__init__ = trainer_init
    trainer_module.Trainer.evaluate = _wait_for_best_checkpoint(trainer_module.Trainer.evaluate)


def apply():
    """Apply every compatibility fix once."""
    global _APPLIED
    if _APPLIED:
        return
    _silence_warnings()
    _undo_global_anomaly_detection()
    _patch_checkpoint_loading()
    _patch_hyperopt_rng()
    _patch_tune_report()
    _patch_checkpoint_names()
    _patch_distributed_on_cpu()
    _patch_ensure_dir()
    _APPLIED = True
