"""ARGUS reading each target's history in both directions, as RecBole's LightSANs does (issue 16, item 1).

On amazon-games' short histories ARGUS's id-only core is SASRec's model and scores level with RecBole's
SASRec, 0.93 x LightSANs. RecBole's LightSANs (Fan et al., "Lighter and Better: Low-Rank Decomposed
Self-Attention Networks for Next-Item Recommendation", SIGIR 2021) has no causal mask: every event of a
training prefix attends to every other one, so the state its query reads at the newest event was built from
the whole history, where a causal encoder builds each event's state from the events before it only. This
probe tests that difference alone. It trains on a window per target
(:mod:`lab.probes.argus_window_per_target`: only a window's newest position carries loss) and lets every event
of a window attend to every other event of that window except the newest one, the target, whose item the
query must not see; packed windows never see each other. Evaluation runs the same rule (the target's slot is
the newest position of its row), so the causal mask is gone everywhere but at the target.
"""

import torch

from lab.probes.argus_overlapping_chunks import newest_positions
from lab.probes.argus_window_per_target import ARGUSWindowPerTarget


def bidirectional_history_mask(segments):
    """``[B, 1, L, L]`` bool (True: may attend): every token sees the tokens of its own window (``segments``
    numbers the windows packed in a row, 0 for padding) except the window's newest one, and itself."""
    length = segments.shape[1]
    same_window = segments.unsqueeze(2) == segments.unsqueeze(1)
    target = (segments > 0) & newest_positions(segments, 1)
    itself = torch.eye(length, dtype=torch.bool, device=segments.device)
    return ((same_window & ~target.unsqueeze(1)) | itself).unsqueeze(1)


class ARGUSBidirectionalWindows(ARGUSWindowPerTarget):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, on a window per target whose history is read
    without a causal mask (LightSANs' view of a prefix, SIGIR 2021)."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        if config["argus_variant"] != "simplified":
            raise ValueError("ARGUSBidirectionalWindows probes the simplified variant: set argus_variant: simplified")
        super().__init__(config, dataset)

    @staticmethod
    def _attention_mask(segments, tokens_per_event):
        return bidirectional_history_mask(segments)
