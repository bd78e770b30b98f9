"""Wukong with dropout on each interaction layer's output before the residual sum (issue 19).

The Transformer's residual dropout (Vaswani et al., "Attention Is All You Need", NeurIPS 2017, Sec. 5.4):
``X_{i+1} = LN(Dropout(concat(FMB(X_i), LCB(X_i))) + residual(X_i))``, single entries of the layer's new
embeddings dropped with probability ``residual_dropout_prob`` in training (a probe has no yaml of its own);
evaluation is Wukong's. Stochastic depth drops a layer's whole branch per example (``wukong_layer_drop``); this
drops entries, as the input dropout that became ``embedding_dropout_prob`` does for ``X_0``.
"""

import torch
from torch import nn

from recbole_ext.model.wukong import Wukong


class WukongResidualDropout20(Wukong):
    """Wukong (Zhang et al., ICML 2024) with residual dropout on its interaction layers: p = 0.2."""

    config_bases = ("Wukong",)
    residual_dropout_prob = 0.2

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.residual_dropout = nn.Dropout(self.residual_dropout_prob)

    def _logit(self, x):
        for layer in self.interaction_stack:
            branch = torch.cat([layer.fmb(x), layer.lcb(x)], dim=1)
            x = layer.norm(self.residual_dropout(branch) + layer.residual(x))
        return self.head(x.flatten(start_dim=1)).squeeze(-1)


class WukongResidualDropout50(WukongResidualDropout20):
    """Residual dropout with p = 0.5."""

    residual_dropout_prob = 0.5
