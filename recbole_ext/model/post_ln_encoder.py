"""RecBole's post-LayerNorm transformer (SASRec's encoder) behind the causal encoder's call.

:class:`PostLNEncoder` takes the same arguments and boolean masks as
:class:`recbole_ext.model.layers.CausalTransformerEncoder` (pre-LayerNorm), so a model picks
either with one key (ARGUS's ``norm_first``). It runs RecBole's own ``TransformerEncoder``
(Kang and McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018, as RecBole implements
it: residual, then LayerNorm; no final norm).
"""

import torch
from recbole.model.layers import TransformerEncoder
from torch import nn

#: RecBole's additive attention mask value (``SequentialRecommender.get_attention_mask``)
MASKED = -10000.0


class PostLNEncoder(nn.Module):
    """RecBole's ``TransformerEncoder``; ``options`` are its own arguments besides ``hidden_size``."""

    def __init__(self, n_layers, hidden_size, **options):
        super().__init__()
        self.layers = TransformerEncoder(n_layers=n_layers, hidden_size=hidden_size, **options)

    def forward(self, x, attn_mask=None, attn_bias=None):
        """``attn_mask``: ``[B, 1, L, L]`` bool (True: may attend) or ``None`` (causal); ``attn_bias``: ``None`` or
        a float ``[B, H, L, L]`` added to the attention logits (:class:`~recbole_ext.model.layers.UntiedPositionalBias`)."""
        if attn_mask is None:
            length = x.shape[1]
            attn_mask = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()[None, None]
        additive = torch.zeros(attn_mask.shape, dtype=x.dtype, device=x.device).masked_fill(~attn_mask, MASKED)
        if attn_bias is not None:
            additive = additive + attn_bias
        return self.layers(x, additive, output_all_encoded_layers=False)[-1]
