"""ARGUS whose positions steer attention without entering the item tokens (issue 16, item 1).

RecBole's LightSANs (Fan et al., SIGIR 2021) leads SASRec on amazon-games' short histories; one of its two
changes to SASRec is its "decoupled position encoding": the position embedding is not added to the item
embedding, and the positions' own query-key products weigh the events instead. This probe keeps ARGUS's id-only
core (SASRec's model on one pass) and moves its positions the same way, in the form of TUPE's untied positional
attention (Ke, He and Liu, "Rethinking Positional Encoding in Language Pre-training", ICLR 2021): the token
is the item embedding alone, and every layer's attention logits get the bias ``(U_q p_i) . (U_k p_j) /
sqrt(2 d_head)`` per head, from the positions ``p`` (restarting in each packed chunk) through two Linear maps
shared by the layers. The causal and block-diagonal masks stay as they are. Id-only, RecBole's post-LayerNorm
encoder (the id-only default).
"""

import math

import torch
from torch import nn

from recbole_ext.model.argus import ARGUS
from recbole_ext.model.layers import init_weights, segment_causal_mask, segment_positions
from recbole_ext.model.post_ln_encoder import MASKED, PostLNEncoder


def positional_bias(positions, query, key, n_heads):
    """``[B, H, L, L]`` attention-logit bias of position vectors ``positions`` (``[B, L, d]``)."""
    batch, length, width = positions.shape
    head = width // n_heads

    def per_head(x):
        return x.view(batch, length, n_heads, head).transpose(1, 2)

    return per_head(query(positions)) @ per_head(key(positions)).transpose(-1, -2) / math.sqrt(2 * head)


class ARGUSDecoupledPositions(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, with untied positional attention (TUPE, ICLR 2021;
    LightSANs' decoupled position encoding, SIGIR 2021) instead of positions added to the item tokens."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.event_fusion is not None or not isinstance(self.encoder, PostLNEncoder):
            raise ValueError("ARGUSDecoupledPositions is an id-only probe on the post-LayerNorm encoder: set "
                             "feedback_fields: {}, the contexts off and norm_first: auto")
        self.n_heads = config["n_heads"]
        self.position_query = nn.Linear(self.hidden_size, self.hidden_size)
        self.position_key = nn.Linear(self.hidden_size, self.hidden_size)
        self.position_norm = nn.LayerNorm(self.hidden_size, eps=config["layer_norm_eps"])
        for module in (self.position_query, self.position_key):
            module.apply(lambda m: init_weights(m, config["initializer_range"]))

    def _encode(self, item_vectors, context, feedback, segments):
        positions = self.position_norm(self.position_embedding(segment_positions(segments)))
        bias = positional_bias(positions, self.position_query, self.position_key, self.n_heads)
        allowed = segment_causal_mask(segments)
        additive = torch.zeros(allowed.shape, dtype=bias.dtype, device=bias.device).masked_fill(~allowed, MASKED)
        tokens = self.input_dropout(self.input_norm(item_vectors))
        return self.encoder.layers(tokens, additive + bias, output_all_encoded_layers=False)[-1]
