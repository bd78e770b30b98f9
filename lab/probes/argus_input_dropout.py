"""ARGUS with SASRec's dropout on the input tokens only (issue 16, item 1).

RecBole's SASRec applies its dropout (0.5) to the item-plus-position embeddings before the first block, as
well as inside the blocks; ARGUS's ``hidden_dropout_prob`` (0.2) sets both. SASRec's 0.5 everywhere made
ARGUS learn slowly and lower (amazon-games, session 30); masking whole input items lifted both splits there
(:mod:`lab.probes.argus_item_mask`). This probe raises only the dropout on the fused input tokens (after their
LayerNorm) to ``input_dropout_prob``, keeping 0.2 inside the encoder and the heads: input-side noise on the
item embeddings, at SASRec's strength.
"""

from torch import nn

from recbole_ext.model.argus import ARGUS


class ARGUSInputDropout50(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with dropout 0.5 on its input tokens (SASRec's embedding dropout)."""

    config_bases = ("ARGUS",)
    input_dropout_prob = 0.5

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.input_dropout = nn.Dropout(self.input_dropout_prob)
