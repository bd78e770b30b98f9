"""ARGUS without position embeddings (issue 16, item 1).

ARGUS trains every position of a chunk (positions 0-49 equally often) but predicts at the end of a full
window, where SASRec's prefix samples put almost all of its training targets. With no position embedding the
causal mask alone tells the order (Haviv et al., *Transformer Language Models without Positional Encodings
Still Learn Positional Information*, Findings of EMNLP 2022), so nothing is specific to a slot.
"""

from recbole_ext.model.argus import ARGUS


class ARGUSNoPositions(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with its position embedding fixed at zero."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.position_embedding.weight.data.zero_()
        self.position_embedding.weight.requires_grad_(False)
