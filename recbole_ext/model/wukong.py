r"""
Wukong
################################################
Reference:
    Buyun Zhang, Liang Luo, Yuxin Chen et al. "Wukong: Towards a Scaling Law
    for Large-Scale Recommendation." ICML 2024 (arXiv:2403.02545).

Wukong embeds every feature into ``d`` dimensions (``X_0``, ``n x d``) and
stacks ``num_layers`` identical interaction layers. Layer ``i`` runs two
blocks side by side on ``X_i``:

* the Factorization Machine Block,
  ``FMB(X) = reshape(MLP(LN(flatten(X (X^T Y)))))`` with a learnable
  ``Y`` (``n_i x k``), whose output is ``n_F`` new embeddings, and
* the Linear Compress Block, ``LCB(X) = W_L X`` (``W_L``: ``n_L x n_i``),

and combines them as ``X_{i+1} = LN(concat(FMB(X_i), LCB(X_i)) + X_i)``.
Each FMB doubles the highest interaction order while the LCB keeps the
lower ones, so layer ``i`` covers orders 1 to ``2^i`` (Sec. 3.3-3.5).
A flattened ``X_l`` feeds an MLP head that outputs the click logit.

In training, single entries of ``X_0`` are dropped with probability
``embedding_dropout_prob`` before the stack (standard dropout on the input
embeddings; this implementation's addition, measured in
``docs/models/Wukong.md``: it keeps the stack from overfitting the id
tables of small datasets).
"""

import torch
from torch import nn

from recbole.model.abstract_recommender import ContextRecommender
from recbole.model.init import xavier_normal_initialization
from recbole.model.layers import FMEmbedding, MLPLayers

from recbole_ext.data.float_check import FloatCheckedDataset
from recbole_ext.trainer.param_groups import ParamGroupTrainer


def optimized_fm(x, y):
    r"""Low-rank FM interaction ``X (X^T Y)`` of Wukong Sec. 3.6.

    ``x``: ``[batch, n, d]``, ``y``: ``[n, k]``; returns ``[batch, n, k]``.
    Multiplying ``X^T Y`` first costs ``O(nkd)`` instead of the ``O(n^2 d)``
    of the full pairwise dot-product matrix ``X X^T``.
    """
    projected = torch.matmul(x.transpose(1, 2), y)  # [batch, d, k]
    return torch.bmm(x, projected)


def mlp_with_linear_output(input_size, hidden_sizes, output_size, dropout):
    """``MLPLayers`` over ``hidden_sizes`` followed by a plain linear layer.

    The last layer has no activation: its output is reshaped into embeddings
    (FMB, dense features) or is the logit (head).
    """
    layers = []
    if hidden_sizes:
        layers.append(MLPLayers([input_size] + list(hidden_sizes), dropout=dropout))
        input_size = hidden_sizes[-1]
    layers.append(nn.Linear(input_size, output_size))
    return nn.Sequential(*layers)


class FactorizationMachineBlock(nn.Module):
    """FMB of Wukong Sec. 3.4: optimized FM, flatten, LayerNorm, MLP, reshape."""

    def __init__(self, num_inputs, num_outputs, embedding_size, fm_rank, mlp_sizes, dropout):
        super().__init__()
        self.num_outputs = num_outputs
        self.embedding_size = embedding_size
        self.fm_weight = nn.Parameter(torch.empty(num_inputs, fm_rank))  # Y
        self.norm = nn.LayerNorm(num_inputs * fm_rank)
        self.mlp = mlp_with_linear_output(
            num_inputs * fm_rank, mlp_sizes, num_outputs * embedding_size, dropout
        )
        nn.init.xavier_normal_(self.fm_weight)

    def forward(self, x):
        interactions = optimized_fm(x, self.fm_weight).flatten(start_dim=1)
        out = self.mlp(self.norm(interactions))
        return out.view(-1, self.num_outputs, self.embedding_size)


class LinearCompressBlock(nn.Module):
    """LCB of Wukong Sec. 3.5: ``W_L X``, a recombination along the feature axis
    that keeps the interaction order of its input."""

    def __init__(self, num_inputs, num_outputs):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_outputs, num_inputs))  # W_L
        nn.init.xavier_normal_(self.weight)

    def forward(self, x):
        return torch.matmul(self.weight, x)


class WukongLayer(nn.Module):
    """One interaction layer, ``X_{i+1} = LN(concat(FMB(X_i), LCB(X_i)) + X_i)``.

    When the layer changes the number of embeddings (``n_i != n_F + n_L``)
    the residual ``X_i`` is projected along the feature axis by a learnable
    ``(n_F + n_L) x n_i`` matrix.
    """

    def __init__(self, num_inputs, embedding_size, fm_rank, fmb_units, lcb_units, fmb_mlp_sizes, dropout):
        super().__init__()
        self.num_outputs = fmb_units + lcb_units
        self.fmb = FactorizationMachineBlock(
            num_inputs, fmb_units, embedding_size, fm_rank, fmb_mlp_sizes, dropout
        )
        self.lcb = LinearCompressBlock(num_inputs, lcb_units)
        self.residual = (
            LinearCompressBlock(num_inputs, self.num_outputs)
            if num_inputs != self.num_outputs
            else nn.Identity()
        )
        self.norm = nn.LayerNorm(embedding_size)

    def forward(self, x):
        combined = torch.cat([self.fmb(x), self.lcb(x)], dim=1)
        return self.norm(combined + self.residual(x))


class SplitOptimizer(torch.optim.Optimizer):
    """One optimizer object over two: ``dense`` (the trainer's ``learner``) and
    ``sparse`` (the embedding tables), stepped together.

    Its ``param_groups`` are the two optimizers' own group dicts, so a
    scheduler or a step hook (the weight average) sees every parameter; its
    state dict holds both optimizers' state dicts.
    """

    def __init__(self, dense, sparse):
        self.dense, self.sparse = dense, sparse
        super().__init__([{"params": []}], {})
        self.param_groups = dense.param_groups + sparse.param_groups

    @torch.no_grad()
    def step(self, closure=None):
        loss = self.dense.step(closure)
        self.sparse.step()
        return loss

    def zero_grad(self, set_to_none=True):
        self.dense.zero_grad(set_to_none)
        self.sparse.zero_grad(set_to_none)

    def state_dict(self):
        return {"dense": self.dense.state_dict(), "sparse": self.sparse.state_dict()}

    def load_state_dict(self, state_dict):
        self.dense.load_state_dict(state_dict["dense"])
        self.sparse.load_state_dict(state_dict["sparse"])


class WukongTrainer(ParamGroupTrainer):
    """RecBole's trainer with Wukong's embedding-table optimizer.

    ``embedding_optimizer: adagrad`` trains the embedding tables with
    AdaGrad at ``embedding_learning_rate`` and the rest with ``learner`` at
    ``learning_rate``, as large recommendation models train their sparse and
    dense parameters apart. ``same`` (default): one ``learner`` for all
    parameters, the embedding tables at ``embedding_learning_rate`` when it
    is set (through :meth:`Wukong.optimizer_param_groups`).
    """

    def _build_optimizer(self, **kwargs):
        if self.config["embedding_optimizer"] != "adagrad" or "params" in kwargs:
            return super()._build_optimizer(**kwargs)
        learning_rate = kwargs.get("learning_rate", self.learning_rate)
        dense = super()._build_optimizer(params=self.model.dense_parameters(), **kwargs)
        sparse = torch.optim.Adagrad(
            self.model.embedding_parameters(), lr=self.config["embedding_learning_rate"] or learning_rate
        )
        return SplitOptimizer(dense, sparse)


class Wukong(ContextRecommender):
    r"""Wukong: a stack of factorization-machine layers with a linear-compress
    bypass, built to keep improving as the model is scaled up (Zhang et al.,
    ICML 2024).

    Token and token_seq fields are embedded by RecBole's ``ContextRecommender``
    tables; float fields listed in ``numerical_features`` go together through
    an MLP that outputs one ``d``-dim embedding per float field (Sec. 3.2).
    """

    dataset_class = FloatCheckedDataset
    trainer_class = WukongTrainer

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.embedding_size = config["embedding_size"]
        self.num_layers = config["num_layers"]
        self.fm_rank = config["fm_rank"]
        self.fmb_units = config["fmb_units"]
        self.lcb_units = config["lcb_units"]
        self.fmb_mlp_sizes = config["fmb_mlp_sizes"]
        self.head_mlp_sizes = config["head_mlp_sizes"]
        self.dense_mlp_sizes = config["dense_mlp_sizes"]
        self.dropout_prob = config["dropout_prob"]
        self.embedding_dropout = nn.Dropout(config["embedding_dropout_prob"])
        self.embeddings_per_field = config["embeddings_per_field"]
        self.embedding_reg_weight = config["embedding_reg_weight"]
        self.embedding_learning_rate = config["embedding_learning_rate"]
        self._check_config(config, dataset)
        if self.embeddings_per_field > 1:
            self._widen_categorical_tables()

        # Wukong embeds float fields with its own MLP and has no first-order
        # term: drop the parent's unused tables so they are not trained.
        self.float_embedding_table = None
        self.first_order_linear = None
        self.num_dense_fields = len(self.float_field_names)
        if self.num_dense_fields:
            self.dense_embedding = mlp_with_linear_output(
                self.num_dense_fields,
                self.dense_mlp_sizes,
                self.num_dense_fields * self.embedding_size,
                self.dropout_prob,
            )
        num_categorical = len(self.token_field_names) + len(self.token_seq_field_names)
        self.num_embeddings = self.num_feature_field + (self.embeddings_per_field - 1) * num_categorical
        self.interaction_stack = self._build_interaction_stack()
        self.head = mlp_with_linear_output(
            self.interaction_stack[-1].num_outputs * self.embedding_size
            if self.num_layers
            else self.num_embeddings * self.embedding_size,
            self.head_mlp_sizes,
            1,
            self.dropout_prob,
        )
        self.sigmoid = nn.Sigmoid()
        self.loss = nn.BCEWithLogitsLoss()
        # Embeddings and linear layers as in RecBole's context models; FMB's Y
        # and the LCB matrices are initialised in their own constructors.
        self.apply(xavier_normal_initialization)

    def _check_config(self, config, dataset):
        if self.num_feature_field == 0:
            seen = [f"{field} ({dataset.field2type[field].value})" for field in self.field_names if field != self.LABEL]
            raise ValueError(
                f"Wukong: dataset '{config['dataset']}' has no usable feature field: "
                f"{', '.join(seen) or 'no field besides the label'}; it needs a token or token_seq field, "
                f"or a float field listed in numerical_features"
            )
        for field in (config["discretization"] or {}):
            if field in self.float_field_names:
                raise ValueError(
                    f"Wukong: float field '{field}' goes through the dense MLP; remove it from discretization"
                )

    def _widen_categorical_tables(self):
        """Tables of width ``m * d`` for token and token_seq fields, each row read
        as ``m`` embeddings of size ``d`` (Sec. 3.2: several embeddings for the
        features that matter, which also gives the FM more vectors to pair when
        a dataset has few fields)."""
        width = self.embeddings_per_field * self.embedding_size
        if self.token_field_names:
            self.token_embedding_table = FMEmbedding(self.token_field_dims, self.token_field_offsets, width)
        if self.token_seq_field_names:
            self.token_seq_embedding_table = nn.ModuleList(
                nn.Embedding(dim, width) for dim in self.token_seq_field_dims
            )

    def embedding_parameters(self):
        """The categorical embedding tables (token and token_seq fields)."""
        tables = [self.token_embedding_table] if self.token_field_names else []
        if self.token_seq_field_names:
            tables.append(self.token_seq_embedding_table)
        return [p for table in tables for p in table.parameters()]

    def dense_parameters(self):
        """Every trainable parameter but the embedding tables."""
        sparse = {id(p) for p in self.embedding_parameters()}
        return [p for p in self.parameters() if id(p) not in sparse]

    def optimizer_param_groups(self, learning_rate):
        """Torch parameter groups: the embedding tables at ``embedding_learning_rate`` when set."""
        if self.embedding_learning_rate is None:
            return self.parameters()
        return [
            {"params": self.dense_parameters(), "lr": learning_rate},
            {"params": self.embedding_parameters(), "lr": self.embedding_learning_rate},
        ]

    def _build_interaction_stack(self):
        layers = []
        num_inputs = self.num_embeddings
        for _ in range(self.num_layers):
            layer = WukongLayer(
                num_inputs,
                self.embedding_size,
                self.fm_rank,
                self.fmb_units,
                self.lcb_units,
                self.fmb_mlp_sizes,
                self.dropout_prob,
            )
            layers.append(layer)
            num_inputs = layer.num_outputs
        return nn.ModuleList(layers)

    def embed_features(self, interaction):
        """``X_0``: ``[batch, n, d]``, sparse embeddings then dense ones."""
        categorical, other = self._embedding_parts(interaction)
        return torch.cat(categorical + other, dim=1)

    def _categorical_parts(self, interaction):
        """The token_seq and token blocks of ``X_0`` (the rows of the embedding tables the batch reads)."""
        parts = []
        token_seq = self.embed_token_seq_fields(
            [interaction[field] for field in self.token_seq_field_names]
        )
        if token_seq is not None:
            parts.append(self._split_field_embeddings(token_seq))
        if self.token_field_names:
            tokens = torch.stack([interaction[field] for field in self.token_field_names], dim=1)
            parts.append(self._split_field_embeddings(self.embed_token_fields(tokens)))
        return parts

    def _embedding_parts(self, interaction):
        """The blocks of ``X_0``: ``(categorical ones, float_seq and dense ones)``."""
        parts = []
        float_seq = self.embed_float_seq_fields(
            [interaction[field] for field in self.float_seq_field_names]
        )
        if float_seq is not None:
            parts.append(float_seq)
        if self.num_dense_fields:
            parts.append(self._embed_dense(interaction))
        return self._categorical_parts(interaction), parts

    def _split_field_embeddings(self, embedded):
        """``[batch, fields, m * d]`` -> ``[batch, fields * m, d]``."""
        return embedded.reshape(embedded.shape[0], -1, self.embedding_size)

    def _embed_dense(self, interaction):
        values = []
        for field in self.float_field_names:
            value = interaction[field]
            # RecBole stores a numerical float as the pair [value, bucket index].
            values.append(value[..., 0] if value.dim() == 2 else value)
        dense = torch.stack(values, dim=1).float()
        out = self.dense_embedding(dense)
        return out.view(-1, self.num_dense_fields, self.embedding_size)

    def forward(self, interaction):
        """Click logit, ``[batch]``."""
        x, _ = self._stack_input(interaction)
        return self._logit(x)

    def _stack_input(self, interaction):
        """``(X_0 after the input dropout, the categorical blocks of X_0 before it)``."""
        categorical, other = self._embedding_parts(interaction)
        return self.embedding_dropout(torch.cat(categorical + other, dim=1)), categorical

    def _logit(self, x):
        for layer in self.interaction_stack:
            x = layer(x)
        return self.head(x.flatten(start_dim=1)).squeeze(-1)

    def calculate_loss(self, interaction):
        """BCE, plus ``embedding_reg_weight`` times the squared L2 norm of the
        categorical embeddings the batch reads (per example): only the table
        rows of the batch are regularised, each as often as it is seen."""
        x, categorical = self._stack_input(interaction)
        loss = self.loss(self._logit(x), interaction[self.LABEL])
        if self.embedding_reg_weight and categorical:
            squares = sum(part.pow(2).sum(dim=(1, 2)) for part in categorical)
            loss = loss + self.embedding_reg_weight * squares.mean()
        return loss

    def predict(self, interaction):
        return self.sigmoid(self.forward(interaction))

