"""Wukong whose layers start as the identity (issue 19).

``X_{i+1} = X_i + alpha_i * concat(FMB(X_i), LCB(X_i))`` with a learned scalar ``alpha_i`` that starts at 0 and
no LayerNorm on the layer's output (ReZero: Bachlechner et al., "ReZero is All You Need: Fast Convergence at
Large Depth", UAI 2021). At initialisation the model is Wukong without layers (its head on the embeddings),
which on ml-100k beats every layered Wukong; training then adds only as much interaction as helps the loss.
Needs ``fmb_units + lcb_units`` equal to the number of input embeddings (no residual projection).
"""

import torch
from torch import nn

from recbole_ext.model.wukong import Wukong


class WukongReZero(Wukong):
    """Wukong (Zhang et al., ICML 2024) with ReZero residual layers."""

    config_bases = ("Wukong",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.num_layers and self.fmb_units + self.lcb_units != self.num_embeddings:
            raise ValueError(
                f"WukongReZero needs fmb_units + lcb_units = the {self.num_embeddings} input embeddings, "
                f"got {self.fmb_units} + {self.lcb_units}"
            )
        self.layer_scales = nn.Parameter(torch.zeros(self.num_layers))

    def _logit(self, x):
        for layer, scale in zip(self.interaction_stack, self.layer_scales):
            x = x + scale * torch.cat([layer.fmb(x), layer.lcb(x)], dim=1)
        return self.head(x.flatten(start_dim=1)).squeeze(-1)
