"""ARGUS whose attention logits also get a learned bias of the distance between two events (issue 16, item 1).

On amazon-games' short histories (~9 events a user) the event that matters most is the latest one, and
positions counted from the start of a chunk say how recent an event is only together with the query's own
position. The default for item-only events (``position_encoding: decoupled``) weighs events through the
product of their absolute positions; this probe adds to it one learned scalar per head and per distance
``i - j`` (0 to ``MAX_ITEM_LIST_LENGTH - 1``), the relative attention bias of T5 (Raffel et al., JMLR 2020)
that HSTU puts beside its time bias (Zhai et al., "Actions Speak Louder than Words", ICML 2024). The table
starts at zero, so the probe starts as the default does; distances are taken inside each packed chunk and
the causal and block-diagonal masks are unchanged, so nothing of a target or of another user is read.
"""

import torch
from torch import nn

from recbole_ext.model.argus import ARGUS
from recbole_ext.model.layers import segment_positions


def distance_bias(table, segments, tokens_per_event=1):
    """``[B, H, L, L]`` attention bias ``table[h, i - j]`` (``table``: ``[H, max distance + 1]``) of the
    positions ``i`` and ``j`` of two events inside their chunk (``segments``: ``[B, L]``); pairs that the
    causal mask hides (``j > i``) or that cross chunks get a clipped distance and are masked anyway."""
    index = segment_positions(segments).repeat_interleave(tokens_per_event, dim=1)
    distance = (index.unsqueeze(2) - index.unsqueeze(1)).clamp(0, table.shape[1] - 1)
    return table[:, distance].transpose(0, 1)


class ARGUSRelativePositions(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with a per-head bias of each event pair's distance."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.position_bias is None:
            raise ValueError("ARGUSRelativePositions probes the attention bias (position_encoding: decoupled)")
        self.distance_table = nn.Parameter(torch.zeros(config["n_heads"], self.max_seq_length))

    def _run_encoder(self, tokens, segments, positions, tokens_per_event):
        mask = self._attention_mask(segments, tokens_per_event)
        bias = self.position_bias(positions.repeat_interleave(tokens_per_event, dim=1))
        bias = bias + distance_bias(self.distance_table, segments, tokens_per_event)
        return self.encoder(tokens, mask, attn_bias=bias)
