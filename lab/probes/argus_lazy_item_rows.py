"""ARGUS whose optimizer moves only the item rows a batch touched (issue 16, item 1).

With the sampled softmax (every catalogue above ``full_softmax_max_items``: ml-latest-small, amazon-games) a
step gives a gradient to the item rows of the batch's inputs and candidates only; amazon-games' ~17 events an
item leave most rows without one for many steps. Adam still moves every row: a row's first gradient after a
long gap meets a second moment that has decayed towards zero (a step of about ``3 lr`` per coordinate), and its
momentum keeps moving it for the next ~10 steps with no gradient at all. RecBole's SASRec trains with the full
softmax, where every row has a gradient every step. The trained id-only core on amazon-games (seed 2020) has
its rarest items' embeddings the longest (mean norm 2.79 for items with fewer than 5 events against 2.30 for
50-300), the reverse of what a full softmax does to them. This probe trains the item table with "lazy" Adam
(TensorFlow's ``LazyAdam``, the semantics of ``torch.optim.SparseAdam``): rows without a gradient in a step
keep their values and their Adam moments; every other parameter trains with Adam as before.
"""

import torch

from recbole_ext.model.argus import ARGUS, ARGUSTrainer


class LazyRowsAdam(torch.optim.Adam):
    """Adam that leaves the rows of ``lazy_params`` (2-d tables) whose gradient is zero untouched, values and
    moments both; every other parameter steps as in ``torch.optim.Adam``."""

    def __init__(self, params, lazy_params, **kwargs):
        super().__init__(params, **kwargs)
        self.lazy_params = list(lazy_params)

    def _untouched_rows(self):
        saved = []
        for param in self.lazy_params:
            if param.grad is None:
                continue
            rows = torch.nonzero(param.grad.abs().sum(1) == 0).flatten()
            moments = {key: value[rows].clone() for key, value in self.state.get(param, {}).items() if key != "step"}
            saved.append((param, rows, param[rows].clone(), moments))
        return saved

    @torch.no_grad()
    def step(self, closure=None):
        saved = self._untouched_rows()
        loss = super().step(closure)
        for param, rows, values, moments in saved:
            param[rows] = values
            for key, value in moments.items():
                self.state[param][key][rows] = value
        return loss


class LazyItemRowsTrainer(ARGUSTrainer):
    """ARGUS's trainer with :class:`LazyRowsAdam` over the item table."""

    def _build_optimizer(self, **kwargs):
        if self.config["learner"].lower() != "adam":
            raise ValueError(f"{type(self.model).__name__} probes Adam only (learner: adam)")
        return LazyRowsAdam(
            kwargs.get("params", self.model.parameters()),
            [self.model.item_embedding.weight],
            lr=kwargs.get("learning_rate", self.learning_rate),
            weight_decay=kwargs.get("weight_decay", self.weight_decay),
        )


class ARGUSLazyItemRows(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose item rows move only in the steps that touch them."""

    config_bases = ("ARGUS",)
    trainer_class = LazyItemRowsTrainer

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if not isinstance(self.item_embedding, torch.nn.Embedding):
            raise ValueError(f"{type(self).__name__} probes the exact item table only (item_hash_buckets: 0, no item_feature_fields)")
