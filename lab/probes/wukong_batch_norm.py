"""Wukong whose MLPs batch-normalise every hidden layer (issue 19).

DCNV2, the best built-in on frappe, builds its deep network with ``MLPLayers(..., bn=True)``, and the
public CTR benchmarks (FuxiCTR's BARS settings for frappe) run their MLPs with batch normalisation; Wukong's
MLPs (FMB, head, dense features) have none. This probe inserts a ``BatchNorm1d`` after each hidden linear
layer of every ``MLPLayers`` in the model, where RecBole's ``bn=True`` puts it (dropout, linear, batch norm,
activation); the linear output layers stay as they are. It adds no random parameters, so it starts from the
same weights as ``Wukong`` with the same seed.
"""

from torch import nn

from recbole.model.layers import MLPLayers

from recbole_ext.model.wukong import Wukong


def batch_normalised(mlp_layers):
    """The ``nn.Sequential`` inside an ``MLPLayers``, rebuilt with a ``BatchNorm1d`` after each ``Linear``."""
    modules = []
    for module in mlp_layers:
        modules.append(module)
        if isinstance(module, nn.Linear):
            modules.append(nn.BatchNorm1d(module.out_features))
    return nn.Sequential(*modules)


class WukongBatchNorm(Wukong):
    """Wukong (Zhang et al., ICML 2024) with batch normalisation in the hidden layers of its MLPs."""

    config_bases = ("Wukong",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        for module in list(self.modules()):
            if isinstance(module, MLPLayers):
                module.mlp_layers = batch_normalised(module.mlp_layers)
