"""The one training path: configs, data, model, trainer, fit and test, as ``run.py`` runs them.

Every way of training a model goes through :func:`train` (and :func:`run`,
which adds the test): ``run.py``, HyperTuning with hyperopt or Ray, the
data-parallel ranks, and the lab's benchmarks and studies.
"""

import logging
from dataclasses import dataclass
from logging import getLogger
from pathlib import Path
from time import perf_counter

from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, get_trainer, init_logger, init_seed

from recbole_ext.trainer import with_plugin_settings

log = getLogger("recbole_ext")


_CE_CONFLICT = "when the loss_type is CE"

#: what RecBole's ``objective_function`` returns to HyperTuning
_OBJECTIVE_KEYS = ("model", "best_valid_score", "valid_score_bigger", "best_valid_result", "test_result")


def _set_in_files(key, config_files):
    import yaml

    for path in config_files:
        with open(path, encoding="utf-8") as handle:
            if key in (yaml.safe_load(handle) or {}):
                return True
    return False


def automatic_settings(model, dataset, config_files, overrides):
    """Settings a RecBole user would add by hand for this model, logged with why.

    RecBole's overall default samples one uniform negative per interaction,
    which its own Config rejects for CE-loss sequential models (SASRec,
    LightSANs, ...); RecBole's docs tell users to switch sampling off for
    them. Done only when the user did not choose a sampling setting.
    """
    try:
        Config(model=model, dataset=dataset, config_file_list=config_files, config_dict=dict(overrides))
    except ValueError as error:
        chosen = "train_neg_sample_args" in overrides or _set_in_files("train_neg_sample_args", config_files)
        if _CE_CONFLICT not in str(error) or chosen:
            raise
        log.info(automatic_note(model))
        return {"train_neg_sample_args": None}
    return {}


def automatic_note(model):
    return (
        f"{model} uses loss_type=CE, which needs no negative sampling: run.py set "
        "train_neg_sample_args=None (RecBole's default samples uniform negatives)"
    )


def build_config(model, dataset, config_files=None, overrides=None):
    """RecBole ``Config`` with the plugin's dataset yaml and automatic settings."""
    overrides = dict(overrides or {})
    config_files = list(config_files or [])
    automatic = automatic_settings(model, dataset, config_files, overrides)
    config = Config(model=model, dataset=dataset, config_file_list=config_files, config_dict={**automatic, **overrides})
    # Logged again by prepare(), once RecBole's logger writes to the run log.
    config.automatic_notes = [automatic_note(model)] if automatic else []
    return config


def known_settings(model, dataset, config_files=()):
    """Every setting name the model's config has: RecBole's, the plugin's, the model yaml's, the files'."""
    return set(build_config(model, dataset, list(config_files), {}).final_config_dict)


def prepare(config):
    """Logger, seed, dataset and the three dataloaders, as ``run_recbole`` does."""
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(config)
    for note in getattr(config, "automatic_notes", []):
        logger.warning(note)
    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    return dataset, train_data, valid_data, test_data


def build_model_and_trainer(config, train_data):
    """The model and its trainer, with the plugin's trainer settings for built-in models too."""
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    getLogger().info(model)
    trainer_class = with_plugin_settings(get_trainer(config["MODEL_TYPE"], config["model"]))
    return model, trainer_class(config, model)


def evaluate_without_history_filter(trainer, test_data, show_progress):
    """Test result of the loaded weights with the history rule off (None when it was off)."""
    if not getattr(trainer, "exclude_history_items", False):
        return None
    trainer.exclude_history_items = False
    try:
        return trainer.evaluate(test_data, load_best_model=False, show_progress=show_progress)
    finally:
        trainer.exclude_history_items = True


class TrainingRecorder:
    """Times every training epoch and records each validation result."""

    def __init__(self, trainer):
        self.epoch_seconds = []
        self.curve = []  # (training seconds so far, epoch, valid result)
        self._train_epoch = trainer._train_epoch
        self._valid_epoch = trainer._valid_epoch
        trainer._train_epoch = self.train_epoch
        trainer._valid_epoch = self.valid_epoch

    def train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        start = perf_counter()
        loss = self._train_epoch(train_data, epoch_idx, *args, **kwargs)
        self.epoch_seconds.append(perf_counter() - start)
        self._epoch = epoch_idx
        return loss

    def valid_epoch(self, valid_data, *args, **kwargs):
        score, result = self._valid_epoch(valid_data, *args, **kwargs)
        self.curve.append((sum(self.epoch_seconds), self._epoch, dict(result)))
        return score, result


@dataclass
class TrainedRun:
    """A fitted model with its config, data and trainer (the best checkpoint is on disk)."""

    config: object
    dataset: object
    train_data: object
    valid_data: object
    test_data: object
    model: object
    trainer: object
    best_valid_score: float
    best_valid_result: dict
    recorder: object = None


def train(config, show_progress=None, record=False, after_fit=None, resume=None):
    """Data, model and trainer for ``config``; fit with early stopping on validation.

    ``after_fit(model)``, when given, sees the trained weights before the best
    checkpoint replaces them. ``record`` times every epoch and keeps the
    validation curve (``TrainedRun.recorder``). ``resume``: the last
    checkpoint (``<best>-last.pth``) of an interrupted run of the same
    settings, continued from its last completed epoch.
    """
    dataset, train_data, valid_data, test_data = prepare(config)
    model, trainer = build_model_and_trainer(config, train_data)
    if resume is not None:
        trainer.resume(resume)
    recorder = TrainingRecorder(trainer) if record else None
    progress = config["show_progress"] if show_progress is None else show_progress
    best_valid_score, best_valid_result = trainer.fit(train_data, valid_data, saved=True, show_progress=progress)
    if after_fit is not None:
        after_fit(model)
    return TrainedRun(
        config, dataset, train_data, valid_data, test_data, model, trainer, best_valid_score, best_valid_result,
        recorder,
    )


def run(model, dataset, config_files=None, overrides=None, show_progress=None, record=False, after_fit=None,
        resume=None):
    """Train with early stopping (or continue the run whose last checkpoint is ``resume``),
    reload the best checkpoint, evaluate on test."""
    config = build_config(model, dataset, config_files, overrides)
    trained = train(config, show_progress, record, after_fit, resume)
    progress = config["show_progress"] if show_progress is None else show_progress
    test_result = trained.trainer.evaluate(trained.test_data, load_best_model=True, show_progress=progress)
    unfiltered_test_result = evaluate_without_history_filter(trained.trainer, trained.test_data, progress)
    getLogger().info(f"best valid : {trained.best_valid_result}")
    getLogger().info(f"test result: {test_result}")
    result = {
        "model": config["model"],
        "best_valid_score": trained.best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": trained.best_valid_result,
        "test_result": test_result,
        "unfiltered_test_result": unfiltered_test_result,
        "config": config,
        "model_object": trained.model,
    }
    if record:
        result["epoch_seconds"] = trained.recorder.epoch_seconds
        result["curve"] = trained.recorder.curve
    return result


def params_file_lines(path):
    """``(line number, line, (name, type, values) or None)`` for each setting line of a ``.test`` file.

    Blank and ``#`` lines are skipped; values written with spaces are joined
    as RecBole's HyperTuning joins them; a line of fewer than three words
    gives ``None``.
    """
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        yield number, line, (parts[0], parts[1], "".join(parts[2:])) if len(parts) >= 3 else None


def tune(model, dataset, config_files, overrides, params_file, algo, max_evals, early_stop, output_file):
    """RecBole HyperTuning over ``params_file``; returns the best trial.

    Each trial trains through :func:`run`, the path ``run.py`` takes (plugin
    settings such as the history filter included), and hands HyperTuning
    the result keys RecBole's ``objective_function`` returns.
    """
    from recbole.trainer import HyperTuning

    if automatic_settings(model, dataset, config_files, overrides):
        print(automatic_note(model))

    def objective(config_dict, config_file_list):
        result = run(model, dataset, config_file_list or [], {**overrides, **config_dict}, show_progress=False)
        logging.getLogger().handlers.clear()
        return {key: result[key] for key in _OBJECTIVE_KEYS}

    tuner = HyperTuning(
        objective,
        algo=algo,
        early_stop=early_stop,
        max_evals=max_evals,
        params_file=params_file,
        fixed_config_file_list=list(config_files) or None,
    )
    tuner.run()
    Path(output_file).parent.mkdir(parents=True, exist_ok=True)
    tuner.export_result(output_file=output_file)
    best_key = tuner.params2str(tuner.best_params)
    best = tuner.params2result[best_key]
    return {
        "params": tuner.best_params,
        "best_valid_score": best["best_valid_score"],
        "test_result": best["test_result"],
    }


__all__ = ["automatic_settings", "build_config", "params_file_lines", "run", "train", "tune"]
