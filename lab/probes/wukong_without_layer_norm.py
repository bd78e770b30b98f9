"""Wukong whose layers do not LayerNorm their output embeddings (issue 19).

Every Wukong layer ends in ``LN(concat(FMB(X), LCB(X)) + X)``, LayerNorm over each embedding's ``d`` entries,
so the head only sees embeddings of one scale: the norm of an id's embedding (in a factorization model a
strong popularity and confidence signal) no longer reaches it. Wukong without layers, whose head reads the raw
embeddings, is the one model that does not overfit ml-100k by epoch 15 (session 31); even layers without
products (``WukongWithoutFMB``) overfit. This probe drops the output LayerNorm of every layer,
``X_{i+1} = concat(FMB(X_i), LCB(X_i)) + X_i`` (the FMB keeps the LayerNorm of its flattened interactions),
to tell whether the normalisation is what costs.
"""

from torch import nn

from recbole_ext.model.wukong import Wukong


class WukongWithoutLayerNorm(Wukong):
    """Wukong (Zhang et al., ICML 2024) with the output LayerNorm of every layer removed."""

    config_bases = ("Wukong",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        for layer in self.interaction_stack:
            layer.norm = nn.Identity()
