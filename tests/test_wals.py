"""WALS: exact half-steps against a dense reference, monotone objective, quality."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbole_ext.model.wals import ObservedRows, excess_weights, solve_half_step, wals_objective


def _random_problem(seed=0, users=13, items=11, dim=4, density=0.3):
    rng = np.random.default_rng(seed)
    values = sp.random(users, items, density=density, random_state=seed, format="csr") * 5 + 0
    values.data = np.ceil(values.data)  # interaction strengths 1..5
    fixed = torch.from_numpy(rng.normal(size=(items, dim)))
    return values, fixed


def _dense_reference(values, fixed, w0, reg, alpha, kind="linear", eps=1.0, freq_exp=0.0):
    """Solve every row's weighted ridge regression over the dense matrix, cell by cell."""
    dense = values.toarray()
    observed = dense > 0
    counts = np.maximum(observed.sum(0), 1)
    conf = alpha * dense if kind == "linear" else alpha * np.log1p(dense / eps)
    weights = np.where(observed, w0 + conf * counts ** (-freq_exp), w0)
    target = observed.astype(float)
    Y = fixed.numpy()
    rows = []
    for u in range(dense.shape[0]):
        W = np.diag(weights[u])
        A = Y.T @ W @ Y + reg * np.eye(Y.shape[1])
        rows.append(np.linalg.solve(A, Y.T @ W @ target[u]))
    return np.array(rows)


@pytest.mark.parametrize(
    "w0,alpha,kind,freq_exp",
    [(1.0, 10.0, "linear", 0.0), (0.1, 3.0, "log", 0.0), (0.5, 2.0, "linear", 0.7)],
)
def test_exact_half_step_matches_dense_reference(w0, alpha, kind, freq_exp):
    values, fixed = _random_problem()
    excess = excess_weights(values, alpha, kind, 1.0, freq_exp)
    solved = solve_half_step(ObservedRows(excess), fixed, w0, reg=0.3)
    reference = _dense_reference(values, fixed, w0, 0.3, alpha, kind, 1.0, freq_exp)
    assert np.allclose(solved.numpy(), reference, rtol=1e-6, atol=1e-9)


def test_item_half_step_matches_reference_on_transpose():
    values, _ = _random_problem(seed=3)
    users = torch.from_numpy(np.random.default_rng(1).normal(size=(values.shape[0], 4)))
    excess = excess_weights(values, 5.0, "linear", 1.0, 0.0).T.tocsr()
    solved = solve_half_step(ObservedRows(excess), users, 1.0, reg=0.1)
    reference = _dense_reference(values.T.tocsr(), users, 1.0, 0.1, 5.0)
    assert np.allclose(solved.numpy(), reference, rtol=1e-6, atol=1e-9)


def test_conjugate_gradient_converges_to_exact_solution():
    values, fixed = _random_problem(seed=5)
    rows = ObservedRows(excess_weights(values, 4.0, "linear", 1.0, 0.0))
    exact = solve_half_step(rows, fixed, 1.0, 0.2)
    start = torch.zeros_like(exact)
    cg = solve_half_step(rows, fixed, 1.0, 0.2, solver="cg", current=start, cg_steps=8)
    assert torch.allclose(cg, exact, rtol=1e-6, atol=1e-8)


def test_objective_matches_dense_formula_and_never_increases():
    values, _ = _random_problem(seed=7, users=20, items=15)
    w0, reg = 0.4, 0.05
    excess = excess_weights(values, 6.0, "linear", 1.0, 0.0)
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.normal(size=(20, 3)) * 0.1)
    Y = torch.from_numpy(rng.normal(size=(15, 3)) * 0.1)

    dense = values.toarray()
    weights = np.where(dense > 0, w0 + 6.0 * dense, w0)
    pred = X.numpy() @ Y.numpy().T
    expected = (weights * ((dense > 0) - pred) ** 2).sum() + reg * ((X**2).sum() + (Y**2).sum()).item()
    user_rows = ObservedRows(excess)
    item_rows = user_rows.transpose()
    assert wals_objective(user_rows, X, Y, w0, reg) == pytest.approx(expected, rel=1e-10)

    history = [wals_objective(user_rows, X, Y, w0, reg)]
    for solver in ["cholesky"] * 4 + ["cg"] * 4:
        X = solve_half_step(user_rows, Y, w0, reg, solver=solver, current=X)
        history.append(wals_objective(user_rows, X, Y, w0, reg))
        Y = solve_half_step(item_rows, X, w0, reg, solver=solver, current=Y)
        history.append(wals_objective(user_rows, X, Y, w0, reg))
    assert all(b <= a * (1 + 1e-12) for a, b in zip(history, history[1:])), history
    assert history[-1] < 0.5 * history[0]


def test_rows_without_interactions_get_zero_factors():
    values = sp.csr_matrix(np.array([[0, 0, 0], [1, 0, 2]], dtype=float))
    fixed = torch.eye(3, dtype=torch.float64)
    solved = solve_half_step(ObservedRows(excess_weights(values, 1.0, "linear", 1.0, 0.0)), fixed, 1.0, 0.1)
    assert torch.all(solved[0] == 0) and torch.all(torch.isfinite(solved))


def test_float32_sweeps_track_float64():
    values, fixed = _random_problem(seed=11)
    excess = excess_weights(values, 3.0, "linear", 1.0, 0.0)
    exact64 = solve_half_step(ObservedRows(excess), fixed, 1.0, 0.5)
    exact32 = solve_half_step(ObservedRows(excess, torch.float32), fixed.float(), 1.0, 0.5)
    assert torch.allclose(exact32.double(), exact64, rtol=1e-4, atol=1e-5)


def test_bad_confidence_is_rejected():
    with pytest.raises(ValueError, match="confidence"):
        excess_weights(sp.csr_matrix(np.eye(2)), 1.0, "cubic", 1.0, 0.0)


def test_wals_beats_popularity_on_ml100k():
    from recbole.quick_start import run_recbole

    from conftest import quiet_config

    wals = run_recbole(model="WALS", dataset="ml-100k", config_dict=quiet_config(epochs=4), saved=False)
    pop = run_recbole(model="Pop", dataset="ml-100k", config_dict=quiet_config(), saved=False)
    assert wals["test_result"]["ndcg@10"] > 1.3 * pop["test_result"]["ndcg@10"]
    assert wals["test_result"]["recall@10"] > pop["test_result"]["recall@10"]
