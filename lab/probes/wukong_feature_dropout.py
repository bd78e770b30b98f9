"""Wukong with dropout on its input embeddings ``X_0`` (issue 19).

On ml-100k any layered Wukong overfits after 8-15 epochs (session 31), and neither dropout in the MLPs, L2 on
the tables nor stochastic depth moved it. These probes regularise the input of the interaction stack instead,
in training only: ``WukongFeatureDropout<p>`` drops whole embeddings of ``X_0`` (one of the ``n`` vectors of an
example, all ``d`` entries together) with probability p (0.2 or 0.5), as field-level feature dropout does, so the layers
cannot lean on one field; ``WukongEmbeddingDropout<p>`` drops single entries. Kept
entries are scaled by ``1 / (1 - p)``; evaluation reads ``X_0`` unchanged.
"""

import torch

from recbole_ext.model.wukong import Wukong


class WukongFeatureDropout20(Wukong):
    """Wukong (Zhang et al., ICML 2024) dropping whole input embeddings with probability 0.2 in training."""

    config_bases = ("Wukong",)
    input_dropout_prob = 0.2
    whole_embeddings = True

    def _logit(self, x):
        return super()._logit(self._dropped(x))

    def _dropped(self, x):
        """``X_0`` with dropout in training (whole embeddings or single entries), unchanged otherwise."""
        if not self.training:
            return x
        keep = 1.0 - self.input_dropout_prob
        shape = x.shape[:2] + (1,) if self.whole_embeddings else x.shape
        return x * torch.bernoulli(torch.full(shape, keep, device=x.device)) / keep

class WukongEmbeddingDropout20(WukongFeatureDropout20):
    """Dropout of single entries of ``X_0`` with probability 0.2 in training."""

    whole_embeddings = False


class WukongFeatureDropout50(WukongFeatureDropout20):
    """Whole input embeddings dropped with probability 0.5 in training."""

    input_dropout_prob = 0.5


class WukongEmbeddingDropout50(WukongEmbeddingDropout20):
    """Single entries of ``X_0`` dropped with probability 0.5 in training."""

    input_dropout_prob = 0.5
