"""Rebuild a trained model from a RecBole checkpoint, with only what scoring needs.

What RecBole's ``load_data_and_model`` does, without the dataloaders: the
checkpoint's ``Config``, the dataset it names (filtered and remapped as in
training), its training split (models such as LightGCN, ItemKNN or WALS
read their training interactions when they are built), the model class
with the saved ``state_dict`` and ``other_parameter``. Besides, every
interaction of the dataset is kept in an :class:`~.history.EventLog`: a
user's recommendations are computed from the complete history.
"""

import importlib
import os
from pathlib import Path

import torch

from recbole.data.dataset import SequentialDataset
from recbole.utils import ModelType, get_model, init_seed

from recbole_ext.checkpoints import CheckpointError as LoadError
from recbole_ext.checkpoints import load_checkpoint
from recbole_ext.recommend.errors import ModelFileError
from recbole_ext.recommend.history import EventLog

#: the dataset class RecBole's ``create_dataset`` picks for a model type without its own
_DATASET_CLASS_OF_TYPE = {
    ModelType.GENERAL: "Dataset",
    ModelType.SEQUENTIAL: "SequentialDataset",
    ModelType.CONTEXT: "Dataset",
    ModelType.KNOWLEDGE: "KnowledgeBasedDataset",
    ModelType.TRADITIONAL: "Dataset",
    ModelType.DECISIONTREE: "Dataset",
}


def _first_line(error):
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def read_checkpoint(model_file):
    """The checkpoint dict RecBole writes (``config``, ``state_dict``, ``other_parameter``),
    through the project's loading (:mod:`recbole_ext.checkpoints`: an exact list of globals)."""
    path = Path(model_file)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {model_file}")
    try:
        checkpoint = load_checkpoint(path)
    except LoadError as error:
        raise ModelFileError(_first_line(error)) from None
    except Exception as error:  # noqa: BLE001  (anything else unreadable gives the same one line)
        raise ModelFileError(f"{model_file}: not a readable RecBole checkpoint ({_first_line(error)})") from None
    if not isinstance(checkpoint, dict) or not {"config", "state_dict"} <= set(checkpoint):
        raise ModelFileError(f"{model_file}: not a RecBole checkpoint (no 'config' and 'state_dict')")
    return checkpoint


def dataset_class(config):
    """The dataset class RecBole's ``create_dataset`` would build for ``config``."""
    module = importlib.import_module("recbole.data.dataset")
    own = getattr(module, config["model"] + "Dataset", None)
    return own or getattr(module, _DATASET_CLASS_OF_TYPE[config["MODEL_TYPE"]])


def _recording(cls):
    """``cls`` that keeps its events (``_recbole_ext_events``) before sequential augmentation replaces them."""
    if not issubclass(cls, SequentialDataset):
        return cls

    def data_augmentation(self):
        self._recbole_ext_events = self.inter_feat[torch.arange(len(self.inter_feat))]
        return cls.data_augmentation(self)

    return type(cls.__name__, (cls,), {"data_augmentation": data_augmentation})


def _check_dataset_files(config, model_file):
    folder = Path(config["data_path"])
    inter = folder / f"{config['dataset']}.inter"
    if not inter.is_file():
        raise ModelFileError(
            f"{model_file}: its dataset '{config['dataset']}' is missing: no {inter} "
            "(convert it there, or pass data_path=/ --data_path= the folder that holds it)"
        )


#: keys a model gained after some of its checkpoints were written, with the value those checkpoints were trained
#: under (the key's default may now choose otherwise): ARGUS's positions were added to the tokens before session 41,
#: its events fused by a Linear before session 46, its item table trained without weight decay before session 53
KEYS_ADDED_LATER = {"ARGUS": {"position_encoding": "added", "event_token": "linear", "item_weight_decay": 0}}


def _fill_keys_added_later(config):
    for key, value in KEYS_ADDED_LATER.get(config["model"], {}).items():
        if key not in config.final_config_dict:
            config[key] = value


def rebuild(checkpoint, model_file, data_path=None):
    """``(config, dataset, model, log)`` of a checkpoint, the model in eval mode on ``config['device']``."""
    config = checkpoint["config"]
    # Config.__init__ restores numpy aliases (np.long, ...) RecBole's models use; an unpickled Config skips it
    config.compatibility_settings()
    _fill_keys_added_later(config)
    if data_path is not None:
        config["data_path"] = os.path.join(str(data_path), config["dataset"])
    _check_dataset_files(config, model_file)
    if not torch.cuda.is_available():
        config["device"] = torch.device("cpu")
    try:
        model_class = get_model(config["model"])
    except (ValueError, ImportError, AttributeError) as error:
        raise ModelFileError(f"{model_file}: model '{config['model']}' is unknown here ({_first_line(error)})") from None
    try:
        init_seed(config["seed"], config["reproducibility"])  # the split training saw
        dataset = _recording(dataset_class(config))(config)
        train = dataset.build()[0]
        log = _event_log(dataset)
        init_seed(config["seed"], config["reproducibility"])
        model = model_class(config, train).to(config["device"])
    except Exception as error:  # noqa: BLE001
        raise ModelFileError(f"{model_file}: cannot rebuild {config['model']} on {config['dataset']}: {_first_line(error)}") from None
    _load_weights(model, checkpoint, model_file)
    model.eval()
    return config, dataset, model, log


def _event_log(dataset):
    events = getattr(dataset, "_recbole_ext_events", None)
    events = dataset.inter_feat if events is None else events
    return EventLog.from_interactions(events, dataset.uid_field, dataset.iid_field, dataset.time_field, dataset.user_num)


def _load_weights(model, checkpoint, model_file):
    """The saved weights, or one line saying how they do not fit this version's model."""
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        details = " ".join(line.strip() for line in str(error).splitlines()[1:])[:300]
        raise ModelFileError(
            f"{model_file}: its weights do not fit {type(model).__name__} as this version builds it "
            f"(written by an incompatible version?): {details}"
        ) from None
    model.load_other_parameter(checkpoint.get("other_parameter"))
