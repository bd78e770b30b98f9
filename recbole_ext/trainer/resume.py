"""Resumable training: a "last" checkpoint after every validated epoch, and resuming from it."""

import random
from pathlib import Path

import numpy as np
import torch

from recbole_ext.checkpoints import load_checkpoint


def last_checkpoint_path(best_checkpoint_path):
    """``saved/X.pth`` -> ``saved/X-last.pth``."""
    path = Path(best_checkpoint_path)
    return str(path.with_name(f"{path.stem}-last{path.suffix}"))


def rng_state(train_data):
    """Every random-number state a training epoch draws from (the data loader's shuffle included)."""
    numpy_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]),
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    generator = getattr(train_data, "generator", None)
    if generator is not None:
        state["loader"] = generator.get_state()
    return state


def set_rng_state(state, train_data):
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    if "loader" in state and getattr(train_data, "generator", None) is not None:
        train_data.generator.set_state(state["loader"])


class ResumableMixin:
    """Mixin for RecBole trainers: ``<best>-last.pth`` after every validated epoch, and :meth:`resume`.

    The last checkpoint holds what the next epoch needs to run exactly as it
    would have: weights, optimizer (and scheduler, when the trainer has one),
    the early-stopping state, the epoch index, every random-number state, the
    path of the best checkpoint so far, and :meth:`training_state` (other
    mixins add theirs: the weight average). A run stopped at any point resumes
    from its last completed validation with ``trainer.resume(path)`` before
    ``fit`` (``run.py --resume=PATH``); on the CPU with RecBole's
    deterministic settings it ends with the weights and metrics of a run that
    was never stopped. One process (a data-parallel run is not resumed).
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        self.last_model_file = last_checkpoint_path(self.saved_model_file)
        self._pending_rng_state = None

    def training_state(self):
        """Trainer state beyond RecBole's, for the last checkpoint (mixins extend it)."""
        return {}

    def load_training_state(self, state):
        """Restore :meth:`training_state` (mixins extend it)."""

    def _scheduler(self):
        return getattr(self, "scheduler", None)

    def _save_last(self, epoch_idx):
        scheduler = self._scheduler()
        self._save_checkpoint(
            epoch_idx,
            verbose=False,
            saved_model_file=self.last_model_file,
            kind="last",
            best_model_file=self.saved_model_file,
            best_valid_result=self.best_valid_result,
            scheduler=scheduler.state_dict() if scheduler is not None else None,
            rng=rng_state(self._train_data),
            training_state=self.training_state(),
        )

    def resume(self, path):
        """Continue the interrupted run whose last checkpoint is ``path`` (call before ``fit``)."""
        checkpoint = load_checkpoint(path, map_location=self.device)
        if checkpoint.get("kind") != "last":
            raise ValueError(f"--resume: {path} is not a last checkpoint (resume from the '-last.pth' file a run writes)")
        if checkpoint["config"]["model"] != self.config["model"]:
            raise ValueError(f"--resume: {path} is a {checkpoint['config']['model']} run, not {self.config['model']}")
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if checkpoint.get("scheduler") is not None and self._scheduler() is not None:
            self._scheduler().load_state_dict(checkpoint["scheduler"])
        self.start_epoch = checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        self.best_valid_result = checkpoint["best_valid_result"]
        self.saved_model_file = checkpoint["best_model_file"]
        self.last_model_file = str(path)
        self.load_training_state(checkpoint["training_state"])
        self._pending_rng_state = checkpoint["rng"]

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self._train_data = train_data
        if self._pending_rng_state is not None:
            set_rng_state(self._pending_rng_state, train_data)
            self._pending_rng_state = None

        def after_validation(epoch_idx, valid_score):
            if saved:
                self._save_last(epoch_idx)
            if callback_fn is not None:
                callback_fn(epoch_idx, valid_score)

        return super().fit(train_data, valid_data, verbose, saved, show_progress, after_validation)
