"""The lab: benchmarks and studies built on recbole_ext (not part of the installed package).

Everything here trains through the library's one training path
(:mod:`recbole_ext.runner`) and writes under ``results/``. Run it from the
repository root: ``python run.py --benchmark ...``, ``python -m lab.cold_start ...``,
``python -m lab.scaling ...``.
"""
