"""Wukong whose interaction layers are dropped at random per example while training (issue 19).

Stochastic depth (Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016), as DropPath: in training
each example skips a layer's interaction branch with probability ``layer_drop_prob`` (the branch of the kept
ones scaled by ``1 / (1 - p)``; ``p`` is the class's ``layer_drop_prob``: a probe has no yaml of its own), ``X_{i+1} = LN(b * concat(FMB(X_i), LCB(X_i)) / (1 - p) + residual(X_i))``;
evaluation uses every layer. On ml-100k any layered Wukong overfits after 8-15 epochs where the same model
without layers trains 20 (session 31): this regularises the stack itself rather than its tables or MLPs.
"""

import torch

from recbole_ext.model.wukong import Wukong


class WukongLayerDrop50(Wukong):
    """Wukong (Zhang et al., ICML 2024) with stochastic depth on its interaction layers: p = 0.5."""

    config_bases = ("Wukong",)
    layer_drop_prob = 0.5

    def _branch_keep(self, x):
        """Per-example multiplier of a layer's interaction branch: 0 or 1 / (1 - p) in training, 1 otherwise."""
        if not self.training or not self.layer_drop_prob:
            return 1.0
        keep = 1.0 - self.layer_drop_prob
        return torch.bernoulli(torch.full((x.shape[0], 1, 1), keep, device=x.device)) / keep

    def _logit(self, x):
        for layer in self.interaction_stack:
            branch = torch.cat([layer.fmb(x), layer.lcb(x)], dim=1)
            x = layer.norm(self._branch_keep(x) * branch + layer.residual(x))
        return self.head(x.flatten(start_dim=1)).squeeze(-1)


class WukongLayerDrop20(WukongLayerDrop50):
    """Stochastic depth with p = 0.2."""

    layer_drop_prob = 0.2
