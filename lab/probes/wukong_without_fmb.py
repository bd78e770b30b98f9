"""Wukong whose layers have no factorization-machine block (issue 19).

Each layer keeps its linear compress block, residual and LayerNorm, ``X_{i+1} = LN(concat(0, LCB(X_i)) + X_i)``
(the FMB's ``n_F`` output embeddings are zeros), so the stack mixes embeddings linearly and normalises them but
multiplies none. On ml-100k, where every layered Wukong overfits by epoch 10 and the no-layer one does not,
this tells whether the FMB's pairwise products are what overfits or the layer's structure around them.
"""

import torch
from torch import nn

from recbole_ext.model.wukong import Wukong


class ZeroBlock(nn.Module):
    """Stands in for an FMB: ``num_outputs`` zero embeddings of size ``embedding_size``."""

    def __init__(self, num_outputs, embedding_size):
        super().__init__()
        self.num_outputs, self.embedding_size = num_outputs, embedding_size

    def forward(self, x):
        return x.new_zeros(x.shape[0], self.num_outputs, self.embedding_size)


class WukongWithoutFMB(Wukong):
    """Wukong (Zhang et al., ICML 2024) with the FMB of every layer replaced by zeros."""

    config_bases = ("Wukong",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        for layer in self.interaction_stack:
            layer.fmb = ZeroBlock(self.fmb_units, self.embedding_size)
