"""Loading RecBole checkpoints with torch's weights-only unpickler and an exact list of globals.

A RecBole checkpoint pickles its ``Config`` (enums, the yaml loader class,
the model class), and models such as EASE keep numpy arrays and scipy
matrices in it; torch's default ``weights_only`` unpickler refuses all of
them. Rather than unpickling freely, :func:`checkpoint_globals` reads the
globals a file names (``torch.serialization.get_unsafe_globals_in_checkpoint``:
parsing only, nothing is imported or called), accepts exactly those on
:data:`SAFE_GLOBALS` plus the class of a registered plugin model or of a
RecBole built-in model, and refuses anything else with one line naming the
global. The load itself is torch's weights-only unpickler under
``torch.serialization.safe_globals`` with those objects: it looks globals up
in that list (no import) and builds only objects of the listed classes.
``recbole_ext.compat`` opens that context where RecBole loads a checkpoint
(the best-checkpoint reload, ``resume_checkpoint``, ``load_data_and_model``);
``torch.load`` itself is left as torch ships it.

:data:`SAFE_GLOBALS` is what the checkpoints of every plugin model and of
each built-in model family hold (``tests/test_checkpoints.py`` saves them and
checks that the list is exactly that).
"""

import contextlib
import pickle
from pathlib import Path

import torch


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing, truncated, corrupt, or naming a global off the list."""


def _safe_objects():
    import numpy
    import scipy.sparse
    import yaml
    from recbole.config import Config
    from recbole.utils import enum_type

    objects = [
        Config,
        enum_type.ModelType,
        enum_type.InputType,
        enum_type.EvaluatorType,
        enum_type.FeatureType,
        enum_type.FeatureSource,
        yaml.loader.FullLoader,
        set,
        frozenset,
        numpy.ndarray,
        numpy.dtype,
        numpy.matrix,  # EASE's item-item matrix
        numpy.core.multiarray._reconstruct,
        numpy.core.multiarray.scalar,
        scipy.sparse.csr_matrix,  # ItemKNN's and EASE's sparse state
        scipy.sparse.csc_matrix,
        scipy.sparse.coo_matrix,
        scipy.sparse.lil_matrix,
    ]
    # numpy builds these dtype classes (never named in the file); "object" holds the row lists of a lil_matrix
    objects += [type(numpy.dtype(name)) for name in ("float32", "float64", "int32", "int64", "bool", "object")]
    return objects


def _name(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def safe_globals():
    """``{"module.name": object}`` of every non-model global a RecBole checkpoint may name."""
    names = {}
    for obj in _safe_objects():
        names[_name(obj)] = obj
        if obj.__module__ == "builtins":
            names[obj.__qualname__] = obj
    # numpy 1.x pickles its modules under numpy.core, 2.x under numpy._core
    for name, obj in list(names.items()):
        if name.startswith("numpy.core."):
            names["numpy._core." + name[len("numpy.core."):]] = obj
    return names


def model_class_named(qualified):
    """The model class a checkpoint names (``module.Class``), if it is a registered plugin
    model or a RecBole built-in model defined in exactly that module; else None."""
    from recbole.utils import get_model

    from recbole_ext import registry

    module, _, name = qualified.rpartition(".")
    if not (registry.is_plugin_model(name) or name in registry.builtin_model_names()):
        return None
    model_class = get_model(name)
    return model_class if model_class.__module__ == module and model_class.__qualname__ == name else None


def _read_globals(path):
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"checkpoint {path} is not in pickle protocol 2 ({error}): written by stock RecBole (protocol 4) or another "
            "program; recbole_ext loads the checkpoints its trainers write"
        ) from None
    except Exception as error:  # a truncated zip, a file that is no checkpoint at all
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({reason})") from None


def checkpoint_globals(path):
    """What torch's weights-only unpickler may use for the checkpoint at ``path``: the whole
    list (numpy's dtype classes are built, not named, so every entry is passed) and the model
    class the file names. A global off the list: ``CheckpointError``, before anything is loaded."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    allowed = safe_globals()
    models = []
    for name in _read_globals(path):
        if name in allowed:
            continue
        model_class = model_class_named(name)
        if model_class is None:
            raise CheckpointError(
                f"checkpoint {path} names {name}, which a RecBole checkpoint never holds: refused (nothing was imported)"
            )
        models.append((model_class, name))
    return [(obj, name) for name, obj in allowed.items()] + models


@contextlib.contextmanager
def allowing(path):
    """Within the block, torch's weights-only ``torch.load`` of ``path`` accepts the globals it needs."""
    with torch.serialization.safe_globals(checkpoint_globals(path)):
        yield


def load_checkpoint(path, map_location="cpu"):
    """The dict of a RecBole checkpoint (``config``, ``state_dict``, ...), loaded weights-only."""
    with allowing(path):
        try:
            return torch.load(str(path), map_location=map_location, weights_only=True)
        except (RuntimeError, EOFError, OSError) as error:
            raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({str(error).splitlines()[0]})") from None
