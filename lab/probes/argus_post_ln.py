"""ARGUS with SASRec's encoder: RecBole's post-LayerNorm ``TransformerEncoder`` instead of ARGUS's pre-LayerNorm
stack (issue 16, item 1: where the id-only core's gap to SASRec comes from).

Everything else is ARGUS's (data, chunks, heads, loss, trainer); the yaml defaults are ARGUS's.
"""

import torch
from recbole.model.layers import TransformerEncoder
from torch import nn

from recbole_ext.model.argus import ARGUS

#: the config keys of RecBole's ``TransformerEncoder`` (besides ``hidden_size``), the same names in ARGUS.yaml
ENCODER_KEYS = ("n_layers", "n_heads", "inner_size", "hidden_dropout_prob", "attn_dropout_prob", "hidden_act",
                "layer_norm_eps")
#: RecBole's additive attention mask value (``SequentialRecommender.get_attention_mask``)
MASKED = -10000.0


class PostLNEncoder(nn.Module):
    """RecBole's ``TransformerEncoder`` (SASRec's: residual, then LayerNorm) behind ARGUS's encoder call;
    ``options`` are its own arguments (:data:`ENCODER_KEYS`)."""

    def __init__(self, **options):
        super().__init__()
        self.layers = TransformerEncoder(**options)

    def forward(self, x, attn_mask=None):
        """``attn_mask``: ``[B, 1, L, L]`` bool (True: may attend) or ``None`` (causal)."""
        if attn_mask is None:
            length = x.shape[1]
            attn_mask = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()[None, None]
        additive = torch.zeros(attn_mask.shape, dtype=x.dtype, device=x.device).masked_fill(~attn_mask, MASKED)
        return self.layers(x, additive, output_all_encoded_layers=False)[-1]


class ARGUSPostLN(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with SASRec's post-LayerNorm encoder (Kang and McAuley,
    ICDM 2018, as RecBole implements it)."""

    config_bases = ("ARGUS",)

    def _build_layers(self, config, dataset):
        super()._build_layers(config, dataset)
        self.encoder = PostLNEncoder(hidden_size=self.hidden_size, **{key: config[key] for key in ENCODER_KEYS})
