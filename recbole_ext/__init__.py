"""recbole_ext: plugin models for RecBole 1.2.1.

Importing this package applies the compatibility layer and registers every
plugin model, so stock RecBole entry points find them by name::

    import recbole_ext  # noqa: F401
    from recbole.quick_start import run_recbole
    run_recbole(model="WALS", dataset="ml-100k")
"""

from recbole_ext import compat as _compat

_compat.apply()

from recbole_ext import registry as _registry  # noqa: E402

_registry.register_all()

__version__ = "0.1.0"
__all__ = ["__version__"]
