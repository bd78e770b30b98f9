"""Diagnostic variants of plugin models, for the lab's studies only (never registered by ``import recbole_ext``).

Each probe changes one part of a plugin model to find where a gap to a built-in comes from; a probe that
helps becomes a key of the model itself, one that does not stays here with its measurement. A probe is a
model class in a module of this package; this file finds them, so adding a probe never edits it (it is part
of every probe's run key, :mod:`lab.runs`).
"""

import importlib
import pkgutil

from recbole.model.abstract_recommender import AbstractRecommender

from recbole_ext import registry


def register_probes():
    """Register every probe model (each model class defined in a module of this package; idempotent)."""
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, AbstractRecommender) and value.__module__ == module.__name__:
                registry.register_model(value)
