"""ARGUS with a learned bias per item added to every next-item logit (issue 16, item 1).

amazon-games' id-only core gains from every change that lets popularity into its scores: the exact softmax
without log Q (+0.0017 on test), and Adam's L2 term, which shrinks the rows of items seldom in a batch
(+0.0012). BERT4Rec's output layer (Sun et al., CIKM 2019) gives each item a bias of its own beside the dot
product; SASRec has none. The bias is one more column of the item vectors and a constant column of the
queries, so the losses, the history negatives and the serving contract (``query_vectors @ item_vectors().T``)
all read it unchanged.
"""

import torch
from torch import nn

from recbole_ext.model.argus import ARGUS


class ARGUSItemBias(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose next-item logit of item ``i`` adds a learned
    ``b_i`` (zero at the start, padding's never trained)."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.item_bias = nn.Parameter(torch.zeros(self.n_items, 1))
        self.head_size += 1  # the scored width (the layers are built): queries and item vectors carry the bias column

    def _item_queries(self, state, context=None):
        queries = super()._item_queries(state, context)
        # the bias column's query is the temperature, so the logit's bias survives the division by it
        return torch.cat([queries, self.temperature().detach().expand(*queries.shape[:-1], 1)], -1)

    def item_vectors(self, items=None):
        vectors = super().item_vectors(items)
        bias = self.item_bias if items is None else self.item_bias[items]
        return torch.cat([vectors, bias], -1)
