r"""
HybridRoBERTa
################################################
Reference:
    The hybrid "WALS set + RoBERTa set" retrieval model of the write-ups the
    project starts from (``shared/seeds/000_*``, ``001_*``): WALS factors for
    the collaborative part, a transformer's top-4 layers for item text, one
    linear projection without activation from text into the factor space
    and an optional head (Dense 128 ReLU, Dense 1) over the two scores.

    Liu et al., "RoBERTa: A Robustly Optimized BERT Pretraining Approach", 2019.
    Hu, Koren and Volinsky, "Collaborative Filtering for Implicit Feedback
    Datasets", ICDM 2008 (WALS, :mod:`recbole_ext.model.wals`).
    Gantner et al., "Learning Attribute-to-Feature Mappings for Cold-Start
    Recommendations", ICDM 2010 (regressing warm items' factors from content).
    Volkovs, Yu and Poutanen, "DropoutNet", NeurIPS 2017 (dropping the
    collaborative input in training so the model also learns to score from
    content alone).

An item's vector is its WALS factor when the item was seen in training and
its projected text ``W t_i + b`` otherwise; the score is ``x_u . v_i``.
The projection is the closed-form ridge fit of warm items' factors
(``hybrid_loss: ridge``, nothing trained by gradients), or is trained from
it by regressing those factors (``regression``), by BPR over training
interactions scored from text alone (``ranking``), or both. Optionally
(``text_knn_weight``) cold items' scores add the user's history similarity
in text space (item-kNN over the text embeddings).
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType

from recbole_ext.checkpoints import load_checkpoint
from recbole_ext.data.cold_start import ColdStartDataset
from recbole_ext.data.item_text import item_texts
from recbole_ext.model.text_encoder import (
    LayerPooling,
    TextKNN,
    TrainableTopLayers,
    cached_layer_embeddings,
)
from recbole_ext.model.wals import WALS
from recbole_ext.trainer.param_groups import ParamGroupTrainer



def fit_wals_factors(config, dataset, sweeps):
    """User and item factors of the plugin's WALS fitted on ``dataset`` for ``sweeps`` sweeps."""
    wals = WALS(config, dataset)
    for _ in range(sweeps):
        wals.sweep()
    return wals.user_factors.float(), wals.item_factors.float()


def load_wals_factors(path, n_users, n_items):
    """User and item factors from a RecBole checkpoint of a WALS run on the same dataset."""
    checkpoint = load_checkpoint(path)
    state = checkpoint.get("state_dict", checkpoint)
    users, items = state.get("user_embedding"), state.get("item_embedding")
    if users is None or items is None:
        raise ValueError(f"wals_checkpoint {path}: no user_embedding/item_embedding (not a WALS checkpoint)")
    if users.shape[0] != n_users or items.shape[0] != n_items:
        raise ValueError(
            f"wals_checkpoint {path}: factors for {users.shape[0]} users x {items.shape[0]} items, "
            f"dataset has {n_users} x {n_items} (train WALS on the same dataset and split)"
        )
    return users.float(), items.float()


def ridge_projection(text, targets, ridge):
    """Closed-form ``W, b`` minimising ``||text W + b - targets||^2 + ridge ||W||^2``."""
    text, targets = text.double(), targets.double()
    text_mean, target_mean = text.mean(0), targets.mean(0)
    centred = text - text_mean
    gram = centred.T @ centred + ridge * torch.eye(text.shape[1], dtype=text.dtype, device=text.device)
    weight = torch.linalg.solve(gram, centred.T @ (targets - target_mean))
    return weight.T.float(), (target_mean - text_mean @ weight).float()


class HybridRoBERTa(GeneralRecommender):
    r"""WALS factors for warm items, projected transformer text embeddings for cold ones."""

    input_type = InputType.PAIRWISE
    type = ModelType.GENERAL
    dataset_class = ColdStartDataset
    trainer_class = ParamGroupTrainer
    config_bases = ("WALS",)  # WALS's yaml is read under this model's: any WALS key may be set
    data_parallel = False  # fits WALS and caches text embeddings inside the model: one process does it

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.hybrid_loss = config["hybrid_loss"]
        self.text_learning_rate = config["text_learning_rate"]
        self.head_dropout = config["wals_score_dropout"]

        self._build_text(config, dataset)
        self.wals_checkpoint = config["wals_checkpoint"]
        self.wals_sweeps = config["wals_sweeps"]
        self.wals = WALS(config, dataset)  # fitted by fit_before_epochs(), which the trainer calls
        counts = np.bincount(dataset.inter_feat[self.ITEM_ID].numpy(), minlength=self.n_items)
        self.register_buffer("warm_items", torch.from_numpy(counts > 0))

        self.n_warm = max(int(self.warm_items[1:].sum()), 1)
        self.ridge_lambda = config["ridge_lambda"]
        self.layer_pooling = LayerPooling(config["top_layers"], config["layer_pooling"])
        self.projection = nn.Linear(self.text_dim, self.wals.embedding_size)
        self.mix_logit = nn.Parameter(torch.tensor(-4.0)) if config["warm_mix"] else None
        self.score_head = (
            nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 1))
            if config["score_head"]
            else None
        )
        self.projection_init = config["projection_init"]
        if self.hybrid_loss == "ridge":
            self._keep_closed_form_projection(config)
        if self.closed_form:
            self.dummy_param = nn.Parameter(torch.zeros(1))  # the optimizer needs one (as RecBole's EASE)
        self.text_knn = self._cold_text_knn(config, dataset)

    @property
    def closed_form(self):
        """True when nothing is trained by gradients: the trainer then runs one no-op epoch."""
        return self.hybrid_loss == "ridge" and self.mix_logit is None and self.score_head is None

    @property
    def user_factors(self):
        return self.wals.user_factors.float()

    @property
    def item_factors(self):
        return self.wals.item_factors.float()

    @torch.no_grad()
    def fit_before_epochs(self):
        """Fit what gradients do not train: the WALS factors (or load them from
        ``wals_checkpoint``), then the ridge start of the projection.

        Called by the trainer before its first epoch, so that a model rebuilt
        from a checkpoint (``load_data_and_model``) is not fitted again.
        """
        if self.wals_checkpoint:
            users, items = load_wals_factors(self.wals_checkpoint, self.n_users, self.n_items)
            self.wals.user_embedding.copy_(users)
            self.wals.item_embedding.copy_(items)
        else:
            for _ in range(self.wals_sweeps):
                self.wals.sweep()
        if self.projection_init == "ridge":
            self._init_projection_by_ridge(self.ridge_lambda)

    # ----------------------------------------------------------------- building

    def _build_text(self, config, dataset):
        texts = item_texts(dataset, config["text_fields"], config["text_separator"])
        self.fine_tuned_encoder = None
        self._eval_text = None
        if config["text_fine_tune_layers"]:
            self.fine_tuned_encoder = TrainableTopLayers(
                config["text_encoder"],
                texts,
                config["top_layers"],
                config["max_text_length"],
                config["text_fine_tune_layers"],
            )
        layers = cached_layer_embeddings(
            config["text_encoder"],
            texts,
            config["top_layers"],
            config["max_text_length"],
            config["text_cache_dir"],
            batch_size=config["text_batch_size"],
            logger=self.logger,
        )
        # Recomputed from the cache on load, so checkpoints stay small.
        self.register_buffer("text_layers", layers, persistent=False)
        self.text_dim = layers.shape[-1]

    def item_groups(self):
        """Boolean numpy masks ``(warm, cold)``: items with / without a training interaction (padding in neither)."""
        warm = self.warm_items.cpu().numpy().copy()
        warm[0] = False
        cold = ~warm
        cold[0] = False
        return warm, cold

    @torch.no_grad()
    def _init_projection_by_ridge(self, ridge):
        warm = torch.from_numpy(self.item_groups()[0])
        text = self.layer_pooling(self.text_layers[warm])
        weight, bias = ridge_projection(text, self.item_factors[warm], ridge)
        self.projection.weight.copy_(weight)
        self.projection.bias.copy_(bias)

    def _keep_closed_form_projection(self, config):
        if config["projection_init"] != "ridge":
            raise ValueError("hybrid_loss 'ridge' keeps the ridge fit: it needs projection_init 'ridge'")
        if config["layer_pooling"] == "weighted" or config["text_fine_tune_layers"]:
            raise ValueError(
                "hybrid_loss 'ridge' keeps the closed-form projection, which cannot follow trained text "
                "features (layer_pooling 'weighted', text_fine_tune_layers > 0): use hybrid_loss "
                "'regression', 'ranking' or 'both' with them"
            )
        self.projection.requires_grad_(False)

    def _cold_text_knn(self, config, dataset):
        """Text item-kNN over users' training histories, for cold items' scores (None when off)."""
        self.text_knn_weight = config["text_knn_weight"]
        if not self.text_knn_weight:
            return None
        history = dataset.inter_matrix(form="csr").astype(np.float64)
        history.data[:] = 1.0
        warm, cold = self.item_groups()
        with torch.no_grad():
            text = self.layer_pooling(self.text_layers)
        lengths = torch.from_numpy(np.diff(history.indptr)).float().clamp_min(1.0)
        # A longer history sums more similarities: divide by sqrt(length), so that a
        # heavy user's kNN term does not drown out the projected-text score.
        self.register_buffer("knn_user_scale", self.text_knn_weight / lengths.sqrt(), persistent=False)
        return TextKNN(text, history, warm, config["text_knn_neighbours"], targets=cold)

    def _text_knn_scores(self, user, item=None):
        """``text_knn_weight`` x the users' text-kNN scores (of ``item`` pairs, or of every item)."""
        users = user.cpu().numpy()
        if item is None:
            scores = self.text_knn.scores(users)
            return scores.to(self.device) * self.knn_user_scale[user].unsqueeze(-1)
        return self.text_knn.pair_scores(users, item.cpu().numpy()).to(self.device) * self.knn_user_scale[user]

    def optimizer_param_groups(self, learning_rate):
        """The encoder's trainable blocks at ``text_learning_rate``, the rest at ``learning_rate``."""
        encoder = [p for p in self.fine_tuned_encoder.parameters()] if self.fine_tuned_encoder else []
        encoder_ids = {id(p) for p in encoder}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in encoder_ids]
        groups = [{"params": rest, "lr": learning_rate}]
        trainable = [p for p in encoder if p.requires_grad]
        if trainable:
            groups.append({"params": trainable, "lr": self.text_learning_rate})
        return groups

    # ----------------------------------------------------------------- scoring
    def text_vectors(self, items=None):
        """Projected text of ``items`` (all items when None) in the factor space.

        In eval mode all items' vectors are computed once (RecBole scores a
        few users per ``full_sort_predict`` call); ``train()``/``eval()`` drop them.
        """
        if items is None and not self.training:
            if self._eval_text is None:
                with torch.no_grad():
                    self._eval_text = self._project(self._all_text_layers())
            return self._eval_text
        if items is None:
            return self._project(self._all_text_layers())
        if self.fine_tuned_encoder is not None:
            # A batch of interactions repeats popular items: run the encoder once per distinct item.
            distinct, position = items.unique(return_inverse=True)
            return self._project(self.fine_tuned_encoder(distinct))[position]
        return self._project(self.text_layers[items])

    def _project(self, layers):
        return self.projection(self.layer_pooling(layers))

    def _all_text_layers(self):
        if self.fine_tuned_encoder is None:
            return self.text_layers
        return self._all_fine_tuned_layers()

    def train(self, mode=True):
        self._eval_text = None
        return super().train(mode)

    def _all_fine_tuned_layers(self, batch_size=256):
        items = torch.arange(self.n_items, device=self.device)
        return torch.cat([self.fine_tuned_encoder(chunk) for chunk in items.split(batch_size)])

    def item_vectors(self, items=None):
        """WALS factor for warm items, projected text for cold ones (optional learned mix)."""
        text = self.text_vectors(items)
        factors = self.item_factors if items is None else self.item_factors[items]
        warm = (self.warm_items if items is None else self.warm_items[items]).unsqueeze(-1)
        if self.mix_logit is not None:
            share = torch.sigmoid(self.mix_logit)
            factors = (1 - share) * factors + share * text
        return torch.where(warm, factors, text)

    def _head_scores(self, collaborative, text):
        return self.score_head(torch.stack([collaborative, text], dim=-1)).squeeze(-1)

    def forward(self, user, item):
        users = self.user_factors[user]
        if self.score_head is None:
            return (users * self.item_vectors(item)).sum(-1)
        warm = self.warm_items[item].float()
        collaborative = (users * self.item_factors[item]).sum(-1) * warm
        text = (users * self.text_vectors(item)).sum(-1)
        return self._head_scores(collaborative, text)

    def _with_text_knn(self, scores, user, item=None):
        return scores if self.text_knn is None else scores + self._text_knn_scores(user, item)

    # ----------------------------------------------------------------- training
    def calculate_loss(self, interaction):
        if self.closed_form:
            return torch.zeros((), device=self.device, requires_grad=True)
        user = interaction[self.USER_ID]
        pos, neg = interaction[self.ITEM_ID], interaction[self.NEG_ITEM_ID]
        # Negatives drawn among held-out items would teach "cold text = bad".
        valid = self.warm_items[neg].float()
        loss = torch.zeros((), device=self.device)  # hybrid_loss 'ridge' adds no projection term
        pos_text, neg_text = self.text_vectors(pos), self.text_vectors(neg)
        if self.hybrid_loss in ("regression", "both"):
            loss = loss + self._ridge_loss(pos_text, self.item_factors[pos])
        if self.hybrid_loss in ("ranking", "both"):
            users = self.user_factors[user]
            margin = (users * pos_text).sum(-1) - (users * neg_text).sum(-1)
            loss = loss + self._bpr(margin, valid)
        if self.mix_logit is not None or self.score_head is not None:
            loss = loss + self._bpr(self._combined_margin(user, pos, neg), valid)
        return loss

    def _ridge_loss(self, predicted, factors):
        """The ridge objective of ``ridge_projection``, divided by the number of warm items.

        Batch items come with their training interactions, so popular items
        weigh more than in the closed form. Without the penalty, gradient
        steps drift from the ridge solution towards least squares and overfit
        (cold NDCG@10 fell, see docs/models/HybridRoBERTa.md).
        """
        penalty = self.ridge_lambda / self.n_warm * self.projection.weight.square().sum()
        return (predicted - factors).square().sum(-1).mean() + penalty

    def _combined_margin(self, user, pos, neg):
        if self.score_head is None:
            return self.forward(user, pos) - self.forward(user, neg)
        users = self.user_factors[user]
        # DropoutNet: hide the WALS score for some pairs so the head also learns text-only scoring.
        keep = (torch.rand(len(user), device=self.device) >= self.head_dropout).float()
        scores = []
        for item in (pos, neg):
            collaborative = (users * self.item_factors[item]).sum(-1) * keep
            scores.append(self._head_scores(collaborative, (users * self.text_vectors(item)).sum(-1)))
        return scores[0] - scores[1]

    @staticmethod
    def _bpr(margin, weights):
        return -(F.logsigmoid(margin) * weights).sum() / weights.sum().clamp_min(1.0)

    # ----------------------------------------------------------------- prediction
    def predict(self, interaction):
        user, item = interaction[self.USER_ID], interaction[self.ITEM_ID]
        return self._with_text_knn(self.forward(user, item), user, item)

    def full_sort_predict(self, interaction):
        user = interaction[self.USER_ID]
        users = self.user_factors[user]
        if self.score_head is None:
            scores = users @ self.item_vectors().T
        else:
            collaborative = (users @ self.item_factors.T) * self.warm_items.float()
            scores = self._head_scores(collaborative, users @ self.text_vectors().T)
        return self._with_text_knn(scores, user).view(-1)
