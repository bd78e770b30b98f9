r"""
ImplicitALS
################################################
The ``implicit`` library's CPU ALS (Ben Frederickson, https://github.com/benfred/implicit),
wrapped as a RecBole model so it is trained on the same split and scored by
the same evaluator as :class:`~recbole_ext.model.wals.WALS`. Benchmark-only:
``implicit`` is an optional extra (``pip install -e .[bench]``).

implicit weighs an observed cell by the value it is given and every
unobserved cell by 1, so it receives ``1 + alpha * v``: the same objective as
WALS with ``unobserved_weight: 1`` and linear confidence.
"""

import numpy as np
import torch
from torch import nn

from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType

from recbole_ext.trainer.sweep import SweepTrainer


def _load_implicit_als():
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError:
        raise ImportError(
            "ImplicitALS needs the 'implicit' package (benchmark extra): pip install -e '.[bench]'"
        ) from None
    return AlternatingLeastSquares


class ImplicitALS(GeneralRecommender):
    """``implicit.cpu.als.AlternatingLeastSquares``, one ALS iteration per epoch."""

    input_type = InputType.POINTWISE
    type = ModelType.GENERAL
    trainer_class = SweepTrainer

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        als_class = _load_implicit_als()
        value_field = config["interaction_field"]
        matrix = dataset.inter_matrix(form="csr", value_field=value_field).astype(np.float32)
        matrix.sum_duplicates()
        matrix.data = 1.0 + config["alpha"] * matrix.data
        self.confidence = matrix
        self.als = als_class(
            factors=config["embedding_size"],
            regularization=config["reg_weight"],
            alpha=1.0,
            use_cg=config["solver"] == "cg",
            iterations=1,
            calculate_training_loss=False,
            random_state=config["seed"],
            num_threads=torch.get_num_threads(),  # the same thread budget as the torch models
        )
        self.als.cg_steps = config["cg_steps"]  # not a constructor argument in implicit 0.7
        self.user_embedding = nn.Parameter(torch.zeros(self.n_users, config["embedding_size"]), requires_grad=False)
        self.item_embedding = nn.Parameter(torch.zeros(self.n_items, config["embedding_size"]), requires_grad=False)

    @torch.no_grad()
    def sweep(self, show_progress=False):
        """One implicit ALS iteration, continuing from the current factors."""
        self.als.fit(self.confidence, show_progress=False)
        self.user_embedding.copy_(torch.from_numpy(np.asarray(self.als.user_factors)))
        self.item_embedding.copy_(torch.from_numpy(np.asarray(self.als.item_factors)))
        return 0.0

    def calculate_loss(self, interaction):
        return torch.zeros(1)

    def predict(self, interaction):
        users = self.user_embedding[interaction[self.USER_ID]]
        return (users * self.item_embedding[interaction[self.ITEM_ID]]).sum(-1)

    def full_sort_predict(self, interaction):
        users = self.user_embedding[interaction[self.USER_ID]]
        return (users @ self.item_embedding.T).view(-1)
