"""Recommendations out of trained checkpoints (recbole_ext.recommend).

Tiny models are trained once per module on a synthetic dataset written to a
temporary folder. Expected results are computed independently: the model
comes from RecBole's own ``load_data_and_model``, histories from the raw
atomic file.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch

import recbole_ext  # noqa: F401
from recbole.data.interaction import Interaction
from recbole.quick_start import load_data_and_model

from recbole_ext.checkpoints import load_checkpoint
from recbole_ext.cli import main
from recbole_ext.recommend import ModelFileError, RecommendError, Recommender, UnknownIdError

from trained_checkpoints import checkpoint, data_path, raw_events, recommender  # noqa: F401  (fixtures)

def recbole_model(path):
    """The checkpoint's model and dataset as RecBole's own ``load_data_and_model`` rebuilds them."""
    config, model, dataset, *_ = load_data_and_model(str(path))
    return config, model.eval(), dataset


def full_history_query(config, dataset, user):
    """RecBole's evaluation sample for the event after ``user``'s last one, from its augmented dataset."""
    feat = dataset.inter_feat
    uid = dataset.token2id(dataset.uid_field, user)
    row = int(torch.nonzero(feat[dataset.uid_field] == uid).max())
    length = int(feat[config["ITEM_LIST_LENGTH_FIELD"]][row])
    width = config["MAX_ITEM_LIST_LENGTH"]
    data = {dataset.uid_field: torch.tensor([uid])}
    fields = (dataset.iid_field, "timestamp", "timestamp_seconds", "rating")  # ARGUS reads its exact copy of the time
    for field in (f for f in fields if f + "_list" in feat):
        events = torch.cat([feat[field + "_list"][row][:length], feat[field][row : row + 1]])[-width:]
        padded = torch.zeros(width, dtype=events.dtype)
        padded[: len(events)] = events
        data[field + "_list"] = padded[None]
        data[field] = feat[field][row : row + 1]
    data[config["ITEM_LIST_LENGTH_FIELD"]] = torch.tensor([min(length + 1, width)])
    data[dataset.iid_field] = torch.tensor([0])
    return Interaction(data)


def expected_scores(path, user, raw_events):
    """Every item's score for ``user`` by the RecBole-loaded model, the user's items at -inf."""
    config, model, dataset = recbole_model(path)
    if config["MODEL_TYPE"].name == "SEQUENTIAL":
        query = full_history_query(config, dataset, user)
    else:
        query = Interaction({dataset.uid_field: torch.tensor([dataset.token2id(dataset.uid_field, user)])})
    with torch.no_grad():
        scores = model.full_sort_predict(query).view(-1).clone()
    seen = dataset.token2id(dataset.iid_field, raw_events.item_id[raw_events.user_id == user].tolist())
    scores[0] = float("-inf")
    scores[torch.from_numpy(seen)] = float("-inf")
    return dataset, scores


# ---------------------------------------------------------------- top-k against the model's own scores
@pytest.mark.parametrize("model", ["WALS", "HybridRoBERTa", "BPR", "SASRec", "ARGUS"])
def test_recommend_is_the_top_k_of_the_models_full_sort_scores(model, checkpoint, recommender, raw_events):
    """General and sequential, plugin and built-in: the top-k of full_sort_predict over the full history."""
    for user in ("u0", "u7"):
        dataset, scores = expected_scores(checkpoint(model), user, raw_events)
        frame = recommender(model).recommend([user], k=5)
        assert list(frame.columns) == ["user", "rank", "item", "score", "title"]
        assert frame.user.eq(user).all() and frame["rank"].tolist() == [1, 2, 3, 4, 5]
        best = torch.topk(scores, 5).values.numpy()
        np.testing.assert_allclose(frame.score.to_numpy(), best, rtol=1e-5, atol=1e-6)  # the k best values
        ids = dataset.token2id(dataset.iid_field, frame.item.tolist())
        np.testing.assert_allclose(scores[ids].numpy(), frame.score.to_numpy(), rtol=1e-5, atol=1e-6)  # of these items
        assert frame.title.tolist() == [f"Film number {item[1:]}" for item in frame.item]


def test_filter_seen_removes_exactly_the_users_items(recommender, raw_events):
    rec = recommender("WALS")
    everything = rec.recommend(["u3"], k=100, filter_seen=False)
    unseen = rec.recommend(["u3"], k=100, filter_seen=True)
    own = set(raw_events.item_id[raw_events.user_id == "u3"])
    assert len(everything) == 40 and set(everything.item) == set(raw_events.item_id)
    assert set(unseen.item) == set(everything.item) - own
    assert unseen.score.tolist() == everything[~everything.item.isin(own)].score.tolist()


def test_candidate_items_restrict_the_recommendations(recommender):
    frame = recommender("WALS").recommend(["u1", "u2"], k=3, items=["i0", "i1", "i2", "i3", "i5"], filter_seen=False)
    assert set(frame.item) <= {"i0", "i1", "i2", "i3", "i5"} and len(frame) == 6


@pytest.mark.parametrize("model", ["WALS", "ARGUS"])
def test_chunked_scoring_equals_unchunked(model, recommender):
    rec = recommender(model)
    whole = rec.recommend(k=7, batch_size=1000)
    chunked = rec.recommend(k=7, batch_size=7)
    assert len(whole) == 60 * 7
    pd.testing.assert_frame_equal(whole, chunked, rtol=1e-5)


@pytest.mark.parametrize("model", ["SASRec", "ARGUS"])
def test_recommend_for_history_of_a_users_full_history_equals_recommend(model, recommender, raw_events):
    rec = recommender(model)
    for user in ("u4", "u11"):
        events = raw_events[raw_events.user_id == user].sort_values("timestamp", kind="stable")
        session = rec.recommend_for_history(
            events.item_id.tolist(), timestamps=events.timestamp.tolist(), feedback=events.rating.tolist(), k=6
        )
        known = rec.recommend([user], k=6)
        pd.testing.assert_frame_equal(session, known.drop(columns="user"), rtol=1e-5)


def test_recommend_for_history_of_a_new_session(recommender):
    rec = recommender("ARGUS")
    frame = rec.recommend_for_history(["i1", "i5", "i9"], k=4)
    assert len(frame) == 4 and not set(frame.item) & {"i1", "i5", "i9"}
    assert len(rec.recommend_for_history(["i1", "i5", "i9"], k=40, filter_seen=False)) == 40


# ---------------------------------------------------------------- vectors
@pytest.mark.parametrize("model", ["WALS", "HybridRoBERTa", "BPR", "DGCF", "SASRec", "ARGUS"])
def test_exported_vectors_reproduce_the_models_scores(model, checkpoint, tmp_path, raw_events):
    Recommender.from_checkpoint(checkpoint(model)).export(tmp_path / "export")
    users = pd.read_csv(tmp_path / "export" / "users.csv", dtype=str).user_id.tolist()
    items = pd.read_csv(tmp_path / "export" / "items.csv", dtype=str)
    user_vectors = np.load(tmp_path / "export" / "user_vectors.npy")
    item_vectors = np.load(tmp_path / "export" / "item_vectors.npy")
    meta = json.loads((tmp_path / "export" / "meta.json").read_text())
    assert len(users) == 60 and len(items) == 40 and meta["model"] == model
    assert user_vectors.shape == (60, meta["dimension"]) and item_vectors.shape == (40, meta["dimension"])
    assert items.title.tolist() == [f"Film number {item[1:]}" for item in items.item_id]
    for user in ("u0", "u9"):
        dataset, scores = expected_scores(checkpoint(model), user, raw_events)
        dots = user_vectors[users.index(user)] @ item_vectors.T
        internal = torch.from_numpy(dataset.token2id(dataset.iid_field, items.item_id.tolist()))
        hidden = ~torch.isfinite(scores[internal]).numpy()  # the user's own items: not compared
        np.testing.assert_allclose(dots[~hidden], scores[internal].numpy()[~hidden], rtol=1e-4, atol=1e-5)


def test_models_without_vectors_refuse_export_and_similar_items(recommender, tmp_path):
    rec = recommender("Pop")
    assert not rec.has_vectors()
    with pytest.raises(RecommendError, match="dot product"):
        rec.export(tmp_path / "out")
    with pytest.raises(RecommendError, match="dot product"):
        rec.similar_items(["i1"])
    assert not (tmp_path / "out").exists()
    assert len(rec.recommend(["u1"], k=3)) == 3  # top-k still works: from full_sort_predict


def test_similar_items_are_the_nearest_by_cosine(recommender):
    rec = recommender("WALS")
    frame = rec.similar_items(["i2", "i3"], k=4)
    assert frame.groupby("item").size().to_dict() == {"i2": 4, "i3": 4}
    ids, vectors = rec.item_vectors()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    row = list(ids).index("i2")
    cosine = unit @ unit[row]
    cosine[row] = -np.inf
    best = np.argsort(-cosine)[:4]
    np.testing.assert_allclose(frame[frame.item == "i2"].score, cosine[best], rtol=1e-5)
    assert "i2" not in set(frame[frame.item == "i2"].similar_item)


def test_ann_search_finds_the_exact_top_k_on_a_small_catalog(recommender):
    pytest.importorskip("faiss")
    rec = recommender("WALS")
    exact = rec.recommend(k=5)
    approximate = rec.recommend(k=5, ann=True)
    assert (exact.item.to_numpy() == approximate.item.to_numpy()).mean() > 0.95
    pd.testing.assert_frame_equal(rec.recommend(k=5, ann="exact"), exact, rtol=1e-4)
    assert (rec.recommend(k=5, ann="hnsw_l2").item.to_numpy() == exact.item.to_numpy()).mean() > 0.9
    own = recommender("WALS").log.items(rec.users.internal(["u5"])[0]).numpy()
    assert not set(rec.items.internal(approximate[approximate.user == "u5"].item.tolist())) & set(own)


# ---------------------------------------------------------------- context models
def test_rank_orders_candidates_by_the_context_models_predict(checkpoint, recommender):
    _, model, _, _, _, test_data = load_data_and_model(str(checkpoint("Wukong")))
    model.eval()
    batch = next(iter(test_data))[0]
    rec = recommender("Wukong")
    user = batch[rec.dataset.uid_field][0]
    rows = batch[batch[rec.dataset.uid_field] == user]
    with torch.no_grad():
        expected = model.predict(rows).numpy()
    external_user = rec.users.external(np.array([int(user)]))[0]
    candidates = rec.items.external(rows[rec.dataset.iid_field].numpy())
    frame = rec.rank(external_user, candidates)
    assert sorted(frame.item) == sorted(candidates) and frame.score.is_monotonic_decreasing
    by_item = dict(zip(candidates, expected))
    np.testing.assert_allclose(frame.score, [by_item[item] for item in frame.item], rtol=1e-5)
    assert len(rec.recommend([external_user], k=5)) == 5  # context models rank the whole catalogue too


def test_rank_with_a_general_model_uses_its_full_sort_scores(recommender):
    rec = recommender("WALS")
    frame = rec.rank("u1", ["i3", "i1", "i2"])
    everything = rec.recommend(["u1"], k=40, filter_seen=False).set_index("item").score
    assert frame.score.tolist() == sorted(frame.score, reverse=True)
    np.testing.assert_allclose(frame.score, everything[frame.item].to_numpy(), rtol=1e-6)


# ---------------------------------------------------------------- bad input
def test_unknown_ids_name_the_id(recommender):
    rec = recommender("ARGUS")
    with pytest.raises(UnknownIdError, match="unknown user id 'nobody'.*recommend_for_history") as caught:
        rec.recommend(["u1", "nobody"])
    assert caught.value.id == "nobody" and "\n" not in str(caught.value)
    with pytest.raises(UnknownIdError, match="unknown item id 'i999'"):
        rec.recommend_for_history(["i1", "i999"])
    with pytest.raises(UnknownIdError, match="unknown item id 'x'"):
        rec.similar_items(["x"])
    with pytest.raises(RecommendError, match="k must be a positive integer"):
        rec.recommend(["u1"], k=0)
    with pytest.raises(RecommendError, match="timestamp has 1 values for 2 items"):
        rec.recommend_for_history(["i1", "i2"], timestamps=[1.0])
    with pytest.raises(RecommendError, match="needs a sequential model"):
        recommender("WALS").recommend_for_history(["i1"])


def test_checkpoints_that_cannot_be_rebuilt_give_one_line(checkpoint, tmp_path):
    def one_line(path, match, **kwargs):
        with pytest.raises(ModelFileError, match=match) as caught:
            Recommender.from_checkpoint(path, **kwargs)
        assert "\n" not in str(caught.value)

    one_line(tmp_path / "missing.pth", "model file not found")
    torch.save({"weights": torch.ones(2)}, tmp_path / "plain.pth")
    one_line(tmp_path / "plain.pth", "not a RecBole checkpoint")
    (tmp_path / "garbage.pth").write_bytes(b"not a pickle at all")
    one_line(tmp_path / "garbage.pth", "truncated or corrupt")
    import datetime

    torch.save({"config": datetime.date(2026, 1, 1), "state_dict": {}}, tmp_path / "odd.pth")
    one_line(tmp_path / "odd.pth", "names datetime.date.*refused")  # the project's exact list of globals
    one_line(checkpoint("WALS"), "dataset 'tiny' is missing", data_path=tmp_path / "elsewhere")
    saved = load_checkpoint(checkpoint("WALS"))
    saved["state_dict"]["item_embedding"] = saved["state_dict"]["item_embedding"][:, :4]
    torch.save(saved, tmp_path / "old.pth")
    one_line(tmp_path / "old.pth", "do not fit WALS as this version builds it.*item_embedding")


def test_a_checkpoint_written_before_a_key_existed_rebuilds_as_it_was_trained(checkpoint, tmp_path):
    from recbole_ext.runner import build_model_and_trainer, prepare

    saved = load_checkpoint(checkpoint("ARGUS"))
    config = saved["config"]
    config.compatibility_settings()
    # ARGUS before session 41 (positions added to the tokens), 46 (events fused by a Linear) and 53 (no item decay)
    config["position_encoding"], config["event_token"], config["item_weight_decay"] = "added", "linear", 0
    _, train_data, _, _ = prepare(config)
    saved["state_dict"] = build_model_and_trainer(config, train_data)[0].state_dict()
    for key in ("position_encoding", "event_token", "item_weight_decay"):
        del config.final_config_dict[key]
    torch.save(saved, tmp_path / "before.pth")
    model = Recommender.from_checkpoint(tmp_path / "before.pth").model
    assert model.position_encoding == "added" and model.position_bias is None and model.event_fusion is not None
    assert model.item_weight_decay == 0


# ---------------------------------------------------------------- command line
def test_cli_recommend_writes_the_table(checkpoint, tmp_path, capsys):
    output = tmp_path / "recs.csv"
    assert main(["--recommend", f"--model_file={checkpoint('WALS')}", "--users=u1,u2", "--topk=3",
                 f"--output={output}"]) == 0
    table = pd.read_csv(output, dtype={"user": str, "item": str})
    assert list(table.columns) == ["user", "rank", "item", "score", "title"] and len(table) == 6
    assert main(["--recommend", f"--model_file={checkpoint('ARGUS')}", "--history=i1,i2,i3", "--topk=2"]) == 0
    assert "Film number" in capsys.readouterr().out


def test_cli_errors_are_one_line_and_leave_the_output_alone(checkpoint, tmp_path, capsys):
    output = tmp_path / "recs.csv"
    output.write_text("previous\n")
    code = main(["--recommend", f"--model_file={checkpoint('WALS')}", "--users=u1,ghost", f"--output={output}"])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and "unknown user id 'ghost'" in error and "--history" in error
    assert output.read_text() == "previous\n"
    assert main(["--recommend", f"--model_file={checkpoint('WALS')}"]) == 2
    assert "exactly one of --users" in capsys.readouterr().err
    assert main(["--recommend", f"--model_file={tmp_path / 'none.pth'}", "--users=u1"]) == 1
    assert "model file not found" in capsys.readouterr().err
    assert main(["--recommend", f"--model_file={checkpoint('WALS')}", "--users=u1", "--epochs=3"]) == 2
    assert "--epochs does not apply" in capsys.readouterr().err


def test_cli_export(checkpoint, tmp_path):
    assert main([f"--export={tmp_path / 'vectors'}", f"--model_file={checkpoint('BPR')}"]) == 0
    assert sorted(path.name for path in (tmp_path / "vectors").iterdir()) == [
        "item_vectors.npy", "items.csv", "meta.json", "user_vectors.npy", "users.csv"]
    assert main([f"--export={tmp_path / 'pop'}", f"--model_file={checkpoint('Pop')}"]) == 2
    assert not (tmp_path / "pop").exists()


def test_cli_recommend_in_a_fresh_process(checkpoint, repo_root, tmp_path):
    """A new process has built no RecBole Config before unpickling the checkpoint's (numpy aliases)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    done = subprocess.run(
        [sys.executable, str(repo_root / "run.py"), "--recommend", f"--model_file={checkpoint('Wukong')}",
         "--users=u3", "--topk=4", f"--output={tmp_path / 'wukong.csv'}"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(tmp_path / "wukong.csv")) == 4


def test_argus_reads_the_request_time_given_as_at(recommender, raw_events):
    """ARGUS scores the next item given the request's time (its target context): ``at`` must reach the field it
    reads, the exact float64 copy of the time."""
    rec = recommender("ARGUS")
    last = float(raw_events.timestamp.max())
    morning, evening = rec.recommend(["u4"], k=10, at=last + 3600), rec.recommend(["u4"], k=10, at=last + 11 * 3600)
    assert not np.allclose(morning.score.to_numpy(), evening.score.to_numpy())
