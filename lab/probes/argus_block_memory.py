"""ARGUS with a bidirectional memory of past blocks (issue 16, item 1: the core's gap to LightSANs).

RecBole's LightSANs encodes every training prefix on its own with no causal mask (its item-to-interest
pooling and position attention span the whole input), so each earlier event's representation is conditioned
on everything up to the target; ARGUS's one causal pass conditions it on what came before that event only.
This probe gives ARGUS the first half of that in one pass: the events of a chunk fall into blocks of
:data:`BLOCK` positions and every event has two tokens,

* a memory token, which attends to every memory token of its own block and of earlier blocks (bidirectional
  within a block: a finished block is read as a whole), and
* a causal token, which attends to the memory tokens of earlier blocks and to the causal tokens of its own
  block up to itself.

Only causal tokens make queries, so the target at position ``t`` reads events before ``t`` only (the memory
of its own block is never read by it): no leakage, at twice the tokens. Simplified variant only.
"""

import torch
from torch import nn

from recbole_ext.model.argus import ARGUS

#: positions per block (the memory of a block is read by the blocks after it)
BLOCK = 10


def block_memory_mask(segment_mask, block=BLOCK):
    """``[B, 1, 2L, 2L]`` bool mask (True: may attend) over ``[causal tokens; memory tokens]`` from the
    ``[B, 1, L, L]`` block-diagonal causal mask of packed rows, or an ``[L, L]`` causal one (one sequence a row).

    Positions restart at every segment (a segment's first position is its row's first True key), so the
    blocks of a packed chunk are those it would have alone.
    """
    if segment_mask.dim() == 2:
        segment_mask = segment_mask[None, None]
    length = segment_mask.shape[-1]
    index = torch.arange(length, device=segment_mask.device)
    starts = segment_mask.float().argmax(-1)  # [B, 1, L]: first key each query may attend to
    blocks = (index - starts) // block + starts * length  # unique per (segment, block)
    same_segment = starts.unsqueeze(-1) == starts.unsqueeze(-2)
    query_block, key_block = blocks.unsqueeze(-1), blocks.unsqueeze(-2)
    causal_to_causal = segment_mask & (key_block == query_block)
    causal_to_memory = segment_mask & (key_block < query_block)
    memory_to_memory = same_segment & (key_block <= query_block)
    nothing = torch.zeros_like(segment_mask)
    top = torch.cat([causal_to_causal, causal_to_memory], dim=-1)
    bottom = torch.cat([nothing, memory_to_memory], dim=-1)
    return torch.cat([top, bottom], dim=-2)


class BlockMemoryEncoder(nn.Module):
    """ARGUS's encoder run over ``[causal tokens; memory tokens]`` (the same inputs twice) under
    :func:`block_memory_mask`; returns the causal tokens' hidden states."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x, attn_mask=None):
        length = x.shape[1]
        if attn_mask is None:
            attn_mask = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        mask = block_memory_mask(attn_mask)
        return self.encoder(torch.cat([x, x], dim=1), mask)[:, :length]


class ARGUSBlockMemory(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose events read a bidirectional memory of the
    finished blocks before them."""

    config_bases = ("ARGUS",)

    def _build_layers(self, config, dataset):
        if config["argus_variant"] != "simplified":
            raise ValueError("ARGUSBlockMemory is a probe of the simplified variant: set argus_variant: simplified")
        super()._build_layers(config, dataset)
        self.encoder = BlockMemoryEncoder(self.encoder)
