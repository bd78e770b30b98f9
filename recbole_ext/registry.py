"""Makes plugin models visible to stock RecBole by name.

RecBole looks a model up in its own packages (``recbole.utils.get_model``),
its trainer in ``recbole.trainer`` (``get_trainer``), its dataset class in
``recbole.data.dataset`` (``create_dataset``) and its default yaml in its own
``properties/model`` folder (``Config``). Registration places each plugin
model where those stock look-ups find it, so every entry point (``Config``,
``run_recbole``, ``objective_function``/``HyperTuning``,
``load_data_and_model``) works without changing RecBole. Built-in models are
untouched: a plugin may not shadow a built-in name.

Adding a model: write ``recbole_ext/model/<name>.py`` with the class, add
``recbole_ext/properties/model/<Name>.yaml``, and add one line to
:data:`PLUGIN_MODELS`. A model class that needs its own dataset or trainer
declares them as the class attributes ``dataset_class`` / ``trainer_class``;
a model that builds on another one's settings names it in ``config_bases``
(its yaml is then read first, the model's own yaml over it). Code outside the
package (the lab's baselines, a user's own model) calls :func:`register_model`
with the path of its yaml.

Every trainer a registered model gets carries the plugin's trainer settings
(:func:`recbole_ext.trainer.with_plugin_settings`: NaN guard, weight average,
history rule); their defaults are in ``recbole_ext/properties/overall.yaml``,
which every config reads right after RecBole's own ``overall.yaml``.
"""

import functools
import importlib
import importlib.resources
import os
import re
import sys
from pathlib import Path

from recbole.utils import ModelType

#: model name -> module that defines the class of that name
PLUGIN_MODELS = {
    "WALS": "recbole_ext.model.wals",
    "ARGUS": "recbole_ext.model.argus",
    "HybridRoBERTa": "recbole_ext.model.hybrid_roberta",
    "Wukong": "recbole_ext.model.wukong",
}


def _properties_dir():
    override = os.environ.get("RECBOLE_EXT_PROPERTIES")
    if override:
        return Path(override)
    return Path(str(importlib.resources.files("recbole_ext").joinpath("properties")))


#: the plugin's yaml defaults, shipped inside the package (``RECBOLE_EXT_PROPERTIES`` overrides)
PROPERTIES_DIR = _properties_dir()

_TYPE_TO_SUBPACKAGE = {
    ModelType.GENERAL: "general_recommender",
    ModelType.TRADITIONAL: "general_recommender",
    ModelType.SEQUENTIAL: "sequential_recommender",
    ModelType.CONTEXT: "context_aware_recommender",
    ModelType.DECISIONTREE: "context_aware_recommender",
    ModelType.KNOWLEDGE: "knowledge_aware_recommender",
}

#: registered model name -> its own yaml (None: no yaml)
_registered = {}


def model_yaml(model_name):
    """Path of a registered model's own default yaml (may not exist)."""
    if model_name in _registered and _registered[model_name] is not None:
        return Path(_registered[model_name])
    return PROPERTIES_DIR / "model" / f"{model_name}.yaml"


def model_yamls(model_name):
    """The yaml files of a registered model, in reading order: its ``config_bases``' first, its own last."""
    from recbole.utils import get_model

    files = []
    for base in getattr(get_model(model_name), "config_bases", ()):
        files += model_yamls(base)
    own = model_yaml(model_name)
    return files + ([own] if own.is_file() else [])


def dataset_yaml(dataset_name):
    """Path of a dataset yaml shipped by the plugin (may not exist)."""
    return PROPERTIES_DIR / "dataset" / f"{dataset_name}.yaml"


def overall_yaml():
    """The plugin's settings for every model (trainer settings and evaluation rules)."""
    return PROPERTIES_DIR / "overall.yaml"


def is_plugin_model(model_name):
    return model_name in _registered


def plugin_model_names():
    return sorted(_registered)


def _builtin_model_files():
    import recbole.model

    root = Path(recbole.model.__file__).parent
    for sub in set(_TYPE_TO_SUBPACKAGE.values()) | {"exlib_recommender"}:
        yield from (root / sub).glob("*.py")


@functools.lru_cache(maxsize=None)
def builtin_model_names():
    """Class names of RecBole's own models, read from its source files."""
    names = set()
    for path in _builtin_model_files():
        for match in re.finditer(r"^class (\w+)\(", path.read_text(), re.M):
            if match.group(1).lower() == path.stem:
                names.add(match.group(1))
    return tuple(sorted(names))


def _builtin_exists(model_name):
    return any(path.stem == model_name.lower() for path in _builtin_model_files())


def register_model(model_class, yaml=None, dataset_class=None, trainer_class=None):
    """Expose ``model_class`` to RecBole's look-ups under its class name.

    Args:
        yaml (str | Path): the model's default yaml; default
            ``recbole_ext/properties/model/<Name>.yaml``.
        dataset_class, trainer_class: override the class attributes of the same names.
    """
    name = model_class.__name__
    if name in _registered:
        return
    if _builtin_exists(name):
        raise ValueError(f"plugin model {name} would shadow RecBole's built-in {name}")
    import recbole.data.dataset
    import recbole.trainer

    from recbole_ext.trainer import with_plugin_settings

    subpackage = _TYPE_TO_SUBPACKAGE[model_class.type]
    alias = f"recbole.model.{subpackage}.{name.lower()}"
    sys.modules[alias] = sys.modules[model_class.__module__]
    setattr(importlib.import_module(f"recbole.model.{subpackage}"), name.lower(), sys.modules[alias])
    dataset_class = dataset_class or getattr(model_class, "dataset_class", None)
    trainer_class = trainer_class or getattr(model_class, "trainer_class", None)
    if dataset_class is not None:
        setattr(recbole.data.dataset, f"{name}Dataset", dataset_class)
    if trainer_class is None:
        from recbole.utils import get_trainer

        trainer_class = get_trainer(model_class.type, "__no_such_model__")  # RecBole's default for the type
    setattr(recbole.trainer, f"{name}Trainer", with_plugin_settings(trainer_class, name=f"{name}Trainer"))
    _registered[name] = yaml


def _patch_config_yaml_lookup():
    """Load plugin yaml exactly where RecBole loads its own overall/model/dataset yaml,
    and check every finished config (:func:`recbole_ext.settings.check_config`).

    ``Config._load_internal_config_dict`` reads overall.yaml, the model yaml
    from RecBole's folder, sample.yaml, then the dataset yaml. The plugin's
    overall.yaml follows RecBole's; a plugin model's yaml files go in the
    model's slot (right before sample.yaml); a dataset yaml shipped by the
    plugin, for a dataset RecBole has none for, goes in the dataset's slot
    (right after sample.yaml).
    """
    from recbole.config import Config

    if getattr(Config, "_recbole_ext_patched", False):
        return
    original_load = Config._load_internal_config_dict
    original_update = Config._update_internal_config_dict
    recbole_dataset_dir = Path(importlib.import_module("recbole").__file__).parent / "properties" / "dataset"

    def load_internal(self, model, model_class, dataset):
        plugin_dataset = dataset_yaml(dataset)
        self._recbole_ext_slots = (
            model_yamls(model) if is_plugin_model(model) else [],
            plugin_dataset
            if plugin_dataset.is_file() and not (recbole_dataset_dir / f"{dataset}.yaml").is_file()
            else None,
        )
        try:
            original_load(self, model, model_class, dataset)
        finally:
            self._recbole_ext_slots = None

    def update_internal(self, file):
        slots = getattr(self, "_recbole_ext_slots", None)
        name = os.path.basename(file)
        if name == "overall.yaml" and Path(file) != overall_yaml():
            result = original_update(self, file)
            if overall_yaml().is_file():
                original_update(self, str(overall_yaml()))
            return result
        if slots is None or name != "sample.yaml":
            return original_update(self, file)
        self._recbole_ext_slots = None
        plugin_models, plugin_dataset = slots
        for path in plugin_models:
            original_update(self, str(path))
        result = original_update(self, file)
        if plugin_dataset is not None:
            keys = original_update(self, str(plugin_dataset)) or {}
            self.parameters["Dataset"] += [k for k in keys if k not in self.parameters["Dataset"]]
        return result

    original_init = Config.__init__

    @functools.wraps(original_init)
    def checked_init(self, model=None, dataset=None, config_file_list=None, config_dict=None):
        from recbole_ext.settings import check_config, check_yaml_file

        for path in config_file_list or []:
            check_yaml_file(path)
        original_init(self, model, dataset, config_file_list, config_dict)
        check_config(self)

    Config.__init__ = checked_init
    Config._load_internal_config_dict = load_internal
    Config._update_internal_config_dict = update_internal
    Config._recbole_ext_patched = True


def register_all():
    """Import every plugin model module and register its class."""
    _patch_config_yaml_lookup()
    for name, module_path in PLUGIN_MODELS.items():
        module = importlib.import_module(module_path)
        register_model(getattr(module, name))
