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
matrix is ever formed. The observed term is computed with sparse kernels:
the exact solver builds all per-row ``k x k`` matrices with one sparse x dense
product against the items' packed outer products; the CG solver never forms
them (one SDDMM and one SpMM per step), which is what makes it fast.
"""

import warnings

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType

from recbole_ext.trainer.sweep import SweepTrainer

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# torch warns on every CSR tensor it builds that the format is in beta; the kernels used here are tested
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
# Rows per chunk of exact normal matrices: chunk x k(k+1)/2 entries stay small.
_EXACT_CHUNK_ENTRIES = 1 << 23


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


class ObservedRows(nn.Module):
    """The observed cells of each row with their excess weights ``w_ui - w0``,
    as torch CSR tensors so sparse kernels (SpMM, SDDMM) do the heavy lifting.

    The arrays are buffers (moved with the model, not saved: they are rebuilt
    from the dataset).
    """

    def __init__(self, excess_csr, dtype=torch.float64):
        super().__init__()
        excess_csr = excess_csr.tocsr()
        excess_csr.sort_indices()
        self.shape = excess_csr.shape
        self.register_buffer("crow", torch.from_numpy(excess_csr.indptr.astype(np.int64)), persistent=False)
        self.register_buffer("col", torch.from_numpy(excess_csr.indices.astype(np.int64)), persistent=False)
        self.register_buffer("excess_values", torch.from_numpy(excess_csr.data).to(dtype), persistent=False)

    @property
    def excess(self):
        # Built on demand (cheap, no copy): sparse tensors cannot be deep-copied,
        # and RecBole deep-copies models to count FLOPs.
        return self.with_values(self.excess_values)

    def with_values(self, values):
        return torch.sparse_csr_tensor(self.crow, self.col, values, size=self.shape)

    def transpose(self):
        import scipy.sparse as sp

        csr = sp.csr_matrix(
            (self.excess_values.cpu().numpy(), self.col.cpu().numpy(), self.crow.cpu().numpy()), shape=self.shape
        )
        return ObservedRows(csr.T.tocsr(), self.excess_values.dtype).to(self.crow.device)


def _upper_outer(factors):
    """Row-wise upper triangle of ``f f^T``: ``[n, k(k+1)/2]``."""
    upper = torch.triu_indices(factors.shape[1], factors.shape[1], device=factors.device)
    return factors[:, upper[0]] * factors[:, upper[1]], upper


def _exact_solve(rows, fixed, base, w0, progress):
    """Per-row Cholesky solves of ``(base + sum_i e_ui y_i y_i^T) x = sum_i w_ui y_i``."""
    dim = fixed.shape[1]
    rhs = rows.with_values(rows.excess_values + w0) @ fixed
    outer, upper = _upper_outer(fixed)
    chunk = max(1, _EXACT_CHUNK_ENTRIES // outer.shape[1])
    out = torch.empty(rows.shape[0], dim, dtype=fixed.dtype, device=fixed.device)
    starts = range(0, rows.shape[0], chunk)
    for start in starts if progress is None else progress(starts):
        stop = min(start + chunk, rows.shape[0])
        sub = _row_slice(rows, start, stop)
        packed = sub @ outer
        lhs = base.expand(stop - start, dim, dim).clone()
        lhs[:, upper[0], upper[1]] += packed
        lhs[:, upper[1], upper[0]] = lhs[:, upper[0], upper[1]]
        chol = torch.linalg.cholesky(lhs)
        out[start:stop] = torch.cholesky_solve(rhs[start:stop].unsqueeze(-1), chol).squeeze(-1)
    return out


def _row_slice(rows, start, stop):
    lo, hi = int(rows.crow[start]), int(rows.crow[stop])
    return torch.sparse_csr_tensor(
        rows.crow[start : stop + 1] - lo, rows.col[lo:hi], rows.excess_values[lo:hi], size=(stop - start, rows.shape[1])
    )


def _conjugate_gradient(rows, fixed, base, w0, start, steps):
    """``steps`` CG iterations on every row's normal equations at once, warm-started at ``start``.

    The per-row matrices are never formed: ``A_u v = base v + sum_i e_ui (y_i . v) y_i``
    is one sampled dense-dense product (SDDMM) and one sparse-dense product (SpMM).
    """
    fixed_t = fixed.T.contiguous()

    def matvec(v):
        dots = torch.sparse.sampled_addmm(rows.excess, v, fixed_t, beta=0.0).values()
        return v @ base + rows.with_values(dots * rows.excess_values) @ fixed

    rhs = rows.with_values(rows.excess_values + w0) @ fixed
    x = start.clone()
    residual = rhs - matvec(x)
    direction = residual.clone()
    rs_old = (residual * residual).sum(1, keepdim=True)
    for _ in range(steps):
        a_dir = matvec(direction)
        denom = (direction * a_dir).sum(1, keepdim=True)
        step = torch.where(denom > 0, rs_old / denom.clamp_min(1e-30), torch.zeros_like(denom))
        x = x + step * direction
        residual = residual - step * a_dir
        rs_new = (residual * residual).sum(1, keepdim=True)
        beta = torch.where(rs_old > 0, rs_new / rs_old.clamp_min(1e-30), torch.zeros_like(rs_old))
        direction = residual + beta * direction
        rs_old = rs_new
    return x


def solve_half_step(rows, fixed, w0, reg, solver="cholesky", current=None, cg_steps=3, progress=None):
    """New factors for every row of ``rows`` with the other side ``fixed``.

    Args:
        rows (ObservedRows): observed cells and excess weights ``w_ui - w0`` per row.
        fixed (torch.Tensor): factors of the other side, ``[n_cols, k]``, same dtype as ``rows``.
        w0 (float): weight of every unobserved cell.
        reg (float): L2 regularisation ``lambda``.
        solver (str): ``cholesky`` (exact) or ``cg`` (warm-started from ``current``).
    """
    dim = fixed.shape[1]
    base = w0 * (fixed.T @ fixed) + reg * torch.eye(dim, dtype=fixed.dtype, device=fixed.device)
    if solver == "cholesky":
        return _exact_solve(rows, fixed, base, w0, progress)
    if solver == "cg":
        start = fixed.new_zeros(rows.shape[0], dim) if current is None else current
        return _conjugate_gradient(rows, fixed, base, w0, start, cg_steps)
    raise ValueError(f"solver must be 'cholesky' or 'cg', got {solver!r}")


def wals_objective(rows, user_factors, item_factors, w0, reg):
    """The WALS objective, evaluated without a dense users x items matrix."""
    pred = torch.sparse.sampled_addmm(rows.excess, user_factors, item_factors.T.contiguous(), beta=0.0).values()
    excess = rows.excess_values
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
    data_parallel = False  # a sweep solves least squares over all users/items: no gradients to all-reduce

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
        excess = excess_weights(
            matrix,
            alpha=config["alpha"],
            kind=config["confidence"],
            eps=config["confidence_eps"],
            freq_weight_exp=config["freq_weight_exp"],
        )
        dtype = _DTYPES[config["wals_dtype"]]
        self._user_rows = ObservedRows(excess, dtype)
        self._item_rows = self._user_rows.transpose()

        generator = torch.Generator().manual_seed(config["seed"])
        # Small positive factors: the first sweep then starts along the popularity
        # direction (as the implicit library does); a zero-mean start scored lower.
        init = lambda n: torch.rand(n, self.embedding_size, generator=generator, dtype=dtype) * config["init_scale"]
        self.user_embedding = nn.Parameter(init(self.n_users), requires_grad=False)
        self.item_embedding = nn.Parameter(init(self.n_items), requires_grad=False)

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
            self._user_rows, self.user_factors, self.item_factors, self.unobserved_weight, self.reg_weight
        )

    def forward(self, user, item):
        return (self.user_factors[user] * self.item_factors[item]).sum(-1)

    def calculate_loss(self, interaction):
        """WALS is fitted by sweeps, not gradients: report the current objective."""
        return torch.tensor(self.objective(), device=self.user_embedding.device)

    def predict(self, interaction):
        return self.forward(interaction[self.USER_ID], interaction[self.ITEM_ID]).float()

    def full_sort_predict(self, interaction):
        users = self.user_factors[interaction[self.USER_ID]]
        return (users @ self.item_factors.T).float().view(-1)
