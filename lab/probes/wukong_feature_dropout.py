"""Wukong with whole input embeddings dropped at random (issue 19).

On ml-100k any layered Wukong overfits after 8-15 epochs (session 31), and neither dropout in the MLPs, L2 on
the tables nor stochastic depth moved it. Session 34 regularised the input of the interaction stack instead, in
training only: ``WukongFeatureDropout<p>`` drops whole embeddings of ``X_0`` (one of the ``n`` vectors of an
example, all ``d`` entries together) with probability p, as field-level feature dropout does, so the layers
cannot lean on one field; kept embeddings are scaled by ``1 / (1 - p)``; evaluation reads ``X_0`` unchanged.
Dropping single entries instead lifted Wukong most and became its ``embedding_dropout_prob`` key; these probes
were first measured at commit c0c4ebf, before that key existed (so without entry dropout); on today's Wukong they
add whole-embedding dropout on top of its entry dropout (measured again in session 34's review).
"""

from torch.nn import functional as F

from recbole_ext.model.wukong import Wukong


class WukongFeatureDropout20(Wukong):
    """Wukong (Zhang et al., ICML 2024) dropping whole input embeddings with probability 0.2 in training."""

    config_bases = ("Wukong",)
    feature_dropout_prob = 0.2

    def _logit(self, x):
        return super()._logit(self._dropped(x))

    def _dropped(self, x):
        """``X_0`` with whole embeddings dropped in training (``dropout1d`` over the ``n`` embeddings), unchanged otherwise."""
        return F.dropout1d(x, self.feature_dropout_prob, training=self.training)


class WukongFeatureDropout50(WukongFeatureDropout20):
    """Whole input embeddings dropped with probability 0.5 in training."""

    feature_dropout_prob = 0.5
