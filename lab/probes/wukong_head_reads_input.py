"""Wukong whose head reads the embedding layer beside the stack's output (issue 19).

On ml-100k Wukong with no interaction layer (its head MLP on the embeddings, a plain DNN) reaches a best
validation AUC of 0.7924 over 18-20 epochs, and every layered Wukong stops near 0.780 after 8-10 (session 31).
This probe keeps the stack and hands the head ``X_0`` as well (``concat(flatten(X_0), flatten(X_l))``), as
DCN-V2's parallel structure and DeepFM's deep part read the raw embeddings: if the stack only loses what ``X_0``
holds, this recovers the no-layer model's figures; if the stack's features themselves overfit, it does not.
"""

import torch

from recbole.model.init import xavier_normal_initialization

from recbole_ext.model.wukong import Wukong, mlp_with_linear_output


class WukongHeadReadsInput(Wukong):
    """Wukong (Zhang et al., ICML 2024) whose prediction head reads ``X_0`` and ``X_l``."""

    config_bases = ("Wukong",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        stack_outputs = self.interaction_stack[-1].num_outputs if self.num_layers else 0
        self.head = mlp_with_linear_output(
            (self.num_embeddings + stack_outputs) * self.embedding_size, self.head_mlp_sizes, 1, self.dropout_prob
        )
        self.head.apply(xavier_normal_initialization)

    def _logit(self, x):
        stacked = x
        for layer in self.interaction_stack:
            stacked = layer(stacked)
        return self.head(torch.cat([x.flatten(start_dim=1), stacked.flatten(start_dim=1)], dim=1)).squeeze(-1)
