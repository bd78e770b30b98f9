"""Baseline adapters for benchmarks: outside models wrapped as RecBole models, and built-ins that need a
stand-in to run here (``SASRecFLoadable``).

They are registered only when the lab asks (:func:`register_baselines`),
never by ``import recbole_ext``.
"""

from pathlib import Path

from recbole_ext import registry

_HERE = Path(__file__).resolve().parent


def register_baselines():
    """Register every baseline adapter with RecBole's look-ups (idempotent)."""
    from lab.baselines import sasrecf_loadable
    from lab.baselines.implicit_als import ImplicitALS

    registry.register_model(ImplicitALS, yaml=_HERE / "ImplicitALS.yaml")
    registry.register_model(sasrecf_loadable.SASRecFLoadable, yaml=sasrecf_loadable.YAML)
