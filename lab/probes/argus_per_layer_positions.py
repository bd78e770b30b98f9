"""ARGUS whose every layer weighs the events by their positions with maps of its own (issue 16, item 1).

The default for item-only events (``position_encoding: decoupled``) computes one positional attention bias and
adds it in every layer, as TUPE shares its untied positional correlation across layers (Ke, He and Liu, ICLR
2021). RecBole's LightSANs, ahead of ARGUS on amazon-games, gives each layer its own position query and key
maps (Fan et al., "Lighter and Better: Low-Rank Decomposed Self-Attention Networks for Next-Item
Recommendation", SIGIR 2021). This probe gives every layer of the post-LayerNorm encoder its own
:class:`~recbole_ext.model.layers.UntiedPositionalBias` of the same position embeddings, the first layer's being
the model's own; masks are unchanged.
"""

import torch
from torch import nn

from recbole_ext.model.argus import ARGUS
from recbole_ext.model.layers import UntiedPositionalBias, init_weights
from recbole_ext.model.post_ln_encoder import MASKED, PostLNEncoder


class ARGUSPerLayerPositions(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with a positional attention bias per encoder layer."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.position_bias is None or not isinstance(self.encoder, PostLNEncoder):
            raise ValueError("ARGUSPerLayerPositions probes the attention bias on the post-LayerNorm encoder "
                             "(position_encoding: decoupled)")
        more = [UntiedPositionalBias(self.hidden_size, config["n_heads"], config["layer_norm_eps"])
                for _ in range(config["n_layers"] - 1)]
        for bias in more:
            bias.apply(lambda module: init_weights(module, config["initializer_range"]))
        self.layer_position_biases = nn.ModuleList([self.position_bias, *more])

    def _run_encoder(self, tokens, segments, positions, tokens_per_event):
        mask = self._attention_mask(segments, tokens_per_event)
        if mask is None:  # one user a row: plain causal
            mask = torch.ones(tokens.shape[1], tokens.shape[1], dtype=torch.bool, device=tokens.device).tril()[None, None]
        additive = tokens.new_zeros(mask.shape).masked_fill(~mask, MASKED)
        positions = positions.repeat_interleave(tokens_per_event, dim=1)
        hidden = tokens
        for layer, bias in zip(self.encoder.layers.layer, self.layer_position_biases):
            hidden = layer(hidden, additive + bias(positions))
        return hidden
