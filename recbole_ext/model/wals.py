r"""
WALS
################################################
Reference:
    Yifan Hu, Yehuda Koren and Chris Volinsky. "Collaborative Filtering for
    Implicit Feedback Datasets." ICDM 2008.

    Weighted alternating least squares as in TensorFlow's ``WALSModel``
    (Krichene et al., "Efficient Training on Very Large Corpora via
    Gramian Estimation", ICLR 2019, for the unobserved-weight formulation).

WALS minimises, over user factors X and item factors Y,

.. math::
    \sum_{(u,i) \in O} w_{ui} (1 - x_u^\top y_i)^2
    + w_0 \sum_{(u,i) \notin O} (x_u^\top y_i)^2
    + \lambda (\|X\|^2 + \|Y\|^2),
    \qquad w_{ui} = w_0 + c(v_{ui})\, f_i

with ``c`` the confidence of an interaction strength ``v`` (linear
``alpha * v`` or log ``alpha * log(1 + v / eps)``) and ``f_i = n_i^{-e}`` an
optional item-frequency weight. ``w_0 = 1, e = 0`` with linear confidence is
exactly Hu, Koren and Volinsky's ``1 + alpha * r``.

Each half-step solves every row exactly (or by a few warm-started conjugate
gradient steps) using the Gram trick: the unobserved term contributes
``w_0 Y^T Y`` to every row's normal equations, so no dense users x items
matrix is ever formed.
"""

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType

from recbole_ext.trainer.sweep import SweepTrainer

# Upper bound on gathered factor entries per block (rows x max_len x dim).
_BLOCK_BUDGET = 1 << 22


def confidence(values, alpha, kind="linear", eps=1.0):
    """Confidence ``c(v)`` of interaction strengths ``values``."""
    if kind == "linear":
        return alpha * values
    if kind == "log":
        return alpha * np.log1p(values / eps)
    raise ValueError(f"confidence must be 'linear' or 'log', got {kind!r}")


def excess_weights(matrix, alpha, kind, eps, freq_weight_exp):
    """CSR matrix of ``w_ui - w0 = c(v_ui) f_i`` on the observed cells."""
    matrix = matrix.tocsr().astype(np.float64)
    matrix.sum_duplicates()
    weights = matrix.copy()
    weights.data = confidence(matrix.data, alpha, kind, eps)
    if freq_weight_exp:
        counts = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float64)
        freq = np.power(np.maximum(counts, 1.0), -freq_weight_exp)
        weights.data *= freq[weights.indices]
    return weights


class _PaddedRows:
    """Rows of a CSR matrix, sorted by length and cut into padded blocks."""

    def __init__(self, csr, dim):
        self.indptr = csr.indptr
        self.indices = csr.indices
        self.data = csr.data
        lengths = np.diff(csr.indptr)
        order = np.argsort(lengths, kind="stable")
        self.blocks = []
        start = 0
        while start < len(order):
            stop = start + 1
            while stop < len(order):
                longest = max(lengths[order[stop]], 1)
                if (stop - start + 1) * longest * dim > _BLOCK_BUDGET:
                    break
                stop += 1
            self.blocks.append(order[start:stop])
            start = stop

    def gather(self, rows):
        """Column indices, weights and mask of ``rows``, padded to one length."""
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        width = int(lengths.max()) if len(rows) else 0
        offsets = starts[:, None] + np.arange(width)[None, :]
        mask = np.arange(width)[None, :] < lengths[:, None]
        offsets = np.where(mask, offsets, 0)
        if len(self.indices) == 0:
            cols = np.zeros_like(offsets)
            weights = np.zeros(offsets.shape)
        else:
            cols = self.indices[offsets]
            weights = np.where(mask, self.data[offsets], 0.0)
        return (
            torch.from_numpy(cols).long(),
            torch.from_numpy(weights),
            torch.from_numpy(mask),
        )


def _normal_matrices(fixed, cols, excess, mask, w0):
    """Per-row ``sum_i e_ui y_i y_i^T`` and right-hand sides ``sum_i w_ui y_i``."""
    excess = excess.to(fixed.dtype)
    gathered = fixed[cols] * mask.unsqueeze(-1)
    weighted = gathered * excess.unsqueeze(-1)
    lhs = torch.bmm(gathered.transpose(1, 2), weighted)
    rhs = weighted.sum(1) + w0 * gathered.sum(1)
    return gathered, excess, lhs, rhs


def _conjugate_gradient(base, gathered, excess, rhs, start, steps):
    """A few CG steps on ``(base + Y_u^T E_u Y_u) x = rhs`` for every row."""

    def matvec(v):
        projected = torch.einsum("blk,bk->bl", gathered, v) * excess
        return v @ base + torch.einsum("blk,bl->bk", gathered, projected)

    x = start.clone()
    residual = rhs - matvec(x)
    direction = residual.clone()
    rs_old = (residual * residual).sum(1, keepdim=True)
    for _ in range(steps):
        a_dir = matvec(direction)
        denom = (direction * a_dir).sum(1, keepdim=True)
        step = torch.where(denom > 0, rs_old / denom.clamp_min(1e-300), torch.zeros_like(denom))
        x = x + step * direction
        residual = residual - step * a_dir
        rs_new = (residual * residual).sum(1, keepdim=True)
        beta = torch.where(rs_old > 0, rs_new / rs_old.clamp_min(1e-300), torch.zeros_like(rs_old))
        direction = residual + beta * direction
        rs_old = rs_new
    return x


def solve_half_step(
    rows, fixed, w0, reg, solver="cholesky", current=None, cg_steps=3, progress=None
):
    """New factors for every row of ``rows`` with the other side ``fixed``.

    Args:
        rows (_PaddedRows): the observed cells of each row with their excess
            weights ``w_ui - w0``.
        fixed (torch.Tensor): float64 factors of the other side, ``[n_cols, k]``.
        w0 (float): weight of every unobserved cell.
        reg (float): L2 regularisation ``lambda``.
        solver (str): ``cholesky`` (exact) or ``cg`` (warm-started from ``current``).
    """
    dim = fixed.shape[1]
    base = w0 * (fixed.T @ fixed) + reg * torch.eye(dim, dtype=fixed.dtype)
    n_rows = len(rows.indptr) - 1
    out = torch.zeros(n_rows, dim, dtype=fixed.dtype) if current is None else current.clone()
    blocks = rows.blocks if progress is None else progress(rows.blocks)
    for block in blocks:
        cols, excess, mask = rows.gather(block)
        gathered, excess, lhs, rhs = _normal_matrices(fixed, cols, excess, mask, w0)
        index = torch.from_numpy(block).long()
        if solver == "cholesky":
            chol = torch.linalg.cholesky(lhs + base)
            out[index] = torch.cholesky_solve(rhs.unsqueeze(-1), chol).squeeze(-1)
        elif solver == "cg":
            out[index] = _conjugate_gradient(base, gathered, excess, rhs, out[index], cg_steps)
        else:
            raise ValueError(f"solver must be 'cholesky' or 'cg', got {solver!r}")
    return out


def wals_objective(excess_csr, user_factors, item_factors, w0, reg):
    """The WALS objective, evaluated without a dense users x items matrix."""
    coo = excess_csr.tocoo()
    users = torch.from_numpy(coo.row).long()
    items = torch.from_numpy(coo.col).long()
    excess = torch.from_numpy(coo.data)
    pred = (user_factors[users] * item_factors[items]).sum(1)
    observed = ((w0 + excess) * (1 - pred) ** 2 - w0 * pred**2).sum()
    all_cells = w0 * ((user_factors.T @ user_factors) * (item_factors.T @ item_factors)).sum()
    penalty = reg * (user_factors.square().sum() + item_factors.square().sum())
    return float(observed + all_cells + penalty)


class WALS(GeneralRecommender):
    r"""Weighted alternating least squares for implicit feedback.

    One training epoch is one sweep (a user half-step, then an item
    half-step), run by :class:`~recbole_ext.trainer.sweep.SweepTrainer`, so
    RecBole's validation, early stopping and best-checkpoint reload apply.
    """

    input_type = InputType.POINTWISE
    type = ModelType.GENERAL
    trainer_class = SweepTrainer

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.embedding_size = config["embedding_size"]
        self.reg_weight = config["reg_weight"]
        self.unobserved_weight = config["unobserved_weight"]
        self.solver = config["solver"]
        self.cg_steps = config["cg_steps"]

        value_field = config["interaction_field"]
        if value_field is not None and value_field not in dataset.inter_feat:
            raise ValueError(
                f"interaction_field '{value_field}' is not a field of dataset "
                f"'{dataset.dataset_name}' (fields: {', '.join(dataset.inter_feat.columns)})"
            )
        matrix = dataset.inter_matrix(form="csr", value_field=value_field)
        self.excess = excess_weights(
            matrix,
            alpha=config["alpha"],
            kind=config["confidence"],
            eps=config["confidence_eps"],
            freq_weight_exp=config["freq_weight_exp"],
        )
        self._user_rows = _PaddedRows(self.excess, self.embedding_size)
        self._item_rows = _PaddedRows(self.excess.T.tocsr(), self.embedding_size)

        generator = torch.Generator().manual_seed(config["seed"])
        init = lambda n: torch.randn(n, self.embedding_size, generator=generator, dtype=torch.float64)
        self.user_embedding = nn.Parameter(init(self.n_users) * config["init_std"], requires_grad=False)
        self.item_embedding = nn.Parameter(init(self.n_items) * config["init_std"], requires_grad=False)

    @property
    def user_factors(self):
        return self.user_embedding.detach()

    @property
    def item_factors(self):
        return self.item_embedding.detach()

    def _half_step(self, rows, fixed, current, desc, show_progress):
        progress = (lambda it: tqdm(it, desc=desc, ncols=100, leave=False)) if show_progress else None
        return solve_half_step(
            rows,
            fixed,
            self.unobserved_weight,
            self.reg_weight,
            solver=self.solver,
            current=current,
            cg_steps=self.cg_steps,
            progress=progress,
        )

    @torch.no_grad()
    def sweep(self, show_progress=False):
        """One ALS sweep; returns the objective after it."""
        users = self._half_step(
            self._user_rows, self.item_factors, self.user_factors, "users", show_progress
        )
        self.user_embedding.copy_(users)
        items = self._half_step(
            self._item_rows, self.user_factors, self.item_factors, "items", show_progress
        )
        self.item_embedding.copy_(items)
        return self.objective()

    def objective(self):
        return wals_objective(
            self.excess, self.user_factors, self.item_factors, self.unobserved_weight, self.reg_weight
        )

    def forward(self, user, item):
        return (self.user_factors[user] * self.item_factors[item]).sum(-1)

    def calculate_loss(self, interaction):
        """WALS is fitted by sweeps, not gradients: report the current objective."""
        return torch.tensor(self.objective())

    def predict(self, interaction):
        return self.forward(interaction[self.USER_ID], interaction[self.ITEM_ID]).float()

    def full_sort_predict(self, interaction):
        users = self.user_factors[interaction[self.USER_ID]]
        return (users @ self.item_factors.T).float().view(-1)
