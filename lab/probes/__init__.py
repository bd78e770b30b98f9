"""Diagnostic variants of plugin models, for the lab's studies only (never registered by ``import recbole_ext``).

Each probe changes one part of a plugin model to find where a gap to a built-in comes from; a probe that
helps becomes a key of the model itself, one that does not stays here with its measurement.
"""

from recbole_ext import registry


def register_probes():
    """Register every probe model with RecBole's look-ups (idempotent)."""
    from lab.probes.argus_no_positions import ARGUSNoPositions
    from lab.probes.argus_post_ln import ARGUSPostLN

    registry.register_model(ARGUSPostLN)
    registry.register_model(ARGUSNoPositions)
