"""ARGUS whose training step makes fewer passes over memory: the same loss and gradients (issue 16, item 2).

A profile of ml-latest-small's chosen row (``python -m lab.profile_step --dataset=ml-latest-small --step=4``,
session 47) found the step's CPU time led by passes over memory, not by its matrix products:

* the unified item table (65,536 x 64) is read through one ``embedding_bag`` per field (the id, genres and year)
  for the history's tokens and again for every item's output vector: each call's backward pass fills and adds a
  dense table-sized gradient, six of them a step;
* the exact softmax's ``[targets, catalogue]`` logits are divided by the temperature, corrected by ``log Q`` and
  masked by a history mask that is built as an int32 ``[targets, catalogue]`` count, compared and filled: each one
  a full pass forward and another backward, each about as costly as the product that made the logits.

The probe computes the same quantities in fewer passes: every field's hashed rows in one ``embedding_bag`` (a
sum of per-field bags is one bag over their rows, weights and all), the query scaled by the temperature and
``log Q`` added by the product itself (``addmm``), and each target's earlier items set to ``-inf`` in place at
their own (row, item) positions. Tests check that its loss and every parameter's gradient equal ARGUS's; what
it changes is the time (``python -m lab.epoch_time --model=ARGUSFusedStep``).
"""

import torch
import torch.nn.functional as F

from recbole_ext.model.argus import ARGUS, log_expected_count
from recbole_ext.model.layers import ItemTokenEmbedding


def one_bag_tokens(embedding, items):
    """``embedding(items)`` of a unified-table :class:`~recbole_ext.model.layers.ItemTokenEmbedding` read in one
    bag over every field's hashed rows."""
    flat = items.reshape(-1)
    rows, weights = [], []
    for field_index in range(1 + len(embedding.fields)):
        values = flat.unsqueeze(1) if field_index == 0 else embedding.feature_values(field_index - 1)[flat]
        present = (values > 0).float()
        value_weights = present / present.sum(1, keepdim=True).clamp_min(1.0)
        rows.append(embedding.hash_rows(field_index, values).flatten(1))
        weights.append((value_weights / embedding.n_hashes).repeat_interleave(embedding.n_hashes, dim=1))
    vectors = F.embedding_bag(torch.cat(rows, 1), embedding.table.weight, per_sample_weights=torch.cat(weights, 1),
                              mode="sum")
    vectors = vectors * (flat > 0).float().unsqueeze(1)
    return vectors.view(items.shape + (embedding.dim,))


def fused_full_softmax_loss(query, item_vectors, positives, temperature, earlier=None, log_q=None):
    """:func:`recbole_ext.model.argus.full_softmax_loss` in fewer passes: ``earlier`` (``[M, E]`` item ids, 0:
    none) are the items each row's softmax leaves out (never its positive)."""
    scaled = query / temperature
    if log_q is None:
        logits = scaled @ item_vectors[1:].T
    else:
        logits = torch.addmm(-log_q[1:], scaled, item_vectors[1:].T)
    if earlier is not None:
        left_out = (earlier > 0) & (earlier != positives.unsqueeze(1))
        rows, slots = left_out.nonzero(as_tuple=True)
        logits = logits.index_put_((rows, earlier[rows, slots] - 1), logits.new_tensor(float("-inf")))
    return F.cross_entropy(logits, positives - 1)


class ARGUSFusedStep(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with its exact-softmax training step in fewer memory passes."""

    config_bases = ("ARGUS",)

    def _unified_table(self):
        return isinstance(self.item_embedding, ItemTokenEmbedding) and self.item_embedding.buckets > 0

    def item_tokens(self, items):
        return one_bag_tokens(self.item_embedding, items) if self._unified_table() else super().item_tokens(items)

    def _all_item_tokens(self):
        if not self._unified_table():
            return super()._all_item_tokens()
        return self.item_tokens(torch.arange(self.n_items, device=self.log_temperature.device))

    def next_item_loss(self, queries, positives, history_logits=None, earlier=None):
        if self.softmax != "full":
            return super().next_item_loss(queries, positives, history_logits, earlier)
        log_q = None
        if self.full_softmax_log_q:
            log_q = log_expected_count(self.target_item_probs, len(positives), self.uniform_negatives, self.n_items - 1)
        return fused_full_softmax_loss(queries, self.item_vectors(), positives, self.temperature(), earlier, log_q)
