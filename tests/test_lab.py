"""The lab: the head-to-head benchmark, its run records and their keys, the shared statistics."""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from recbole_ext import cli
from recbole_ext.trainer.resume import ResumableMixin

from lab import benchmark, resumable, runs
from lab.stats import mean_std

from conftest import REPO_ROOT


def _quiet(data_path):
    return [f"--data_path={data_path}", "--show_progress=False", "--state=ERROR"]


#: two packed chunks and a padding slot, for the probes' token tests
PROBE_ITEMS = torch.tensor([[3, 4, 5, 6, 7, 0]])
PROBE_SEGMENTS = torch.tensor([[1, 1, 1, 2, 2, 0]])
#: events that carry nothing but their items (no feedback, no time context)
ID_ONLY = {"feedback_fields": {}, "feedback_loss_weights": {}, "time_context": False, "use_target_context": False}


def _probe_built(probe, overrides):
    """A probe of ``lab.probes`` built on the embedded ml-100k, its trainer and its training data."""
    from lab.probes import register_probes
    from recbole_ext.runner import build_config, prepare, build_model_and_trainer

    register_probes()
    config = build_config(probe, "ml-100k", overrides={"state": "ERROR", **overrides})
    _, train_data, _, _ = prepare(config)
    return (*build_model_and_trainer(config, train_data), train_data)


def _probe_model_and_trainer(probe, overrides):
    """A probe of ``lab.probes`` built on the embedded ml-100k, and its trainer."""
    return _probe_built(probe, overrides)[:2]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--models=WALS,Nope"], "unknown model 'Nope'"),
        ([], "--benchmark needs --models"),
        (["--models=WALS,Pop", "--seeds=BPR:2"], "--seeds names 'BPR'"),
        (["--models=WALS,Pop", "--reference=BPR"], "--reference 'BPR' is not in --models"),
        (["--models=WALS,Pop", "--alphaa=2"], "unknown option --alphaa"),
    ],
)
def test_bad_benchmark_command_lines_exit_2_with_one_line(args, message, capsys):
    assert benchmark.main(["--benchmark", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_run_py_dispatches_the_benchmark_to_the_lab():
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "run.py"), "--benchmark", "--help"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and all(f"--{option} " in done.stdout for option in benchmark.BENCHMARK_OPTIONS)


def test_best_config_is_a_yaml_the_benchmark_reads_per_model(tmp_path, tiny_data_path):
    import yaml

    best = tmp_path / "tuned" / "WALS.yaml"
    cli.write_best_config(best, {"embedding_size": 8, "reg_weight": 0.5}, "hyper/WALS.test", 0.4)
    assert yaml.safe_load(best.read_text()) == {"embedding_size": 8, "reg_weight": 0.5}
    cli.write_best_config(tmp_path / "tuned" / "Wukong.yaml", {"fmb_mlp_sizes": "[64]"}, "hyper/Wukong.test", 0.7)
    assert yaml.safe_load((tmp_path / "tuned" / "Wukong.yaml").read_text()) == {"fmb_mlp_sizes": [64]}
    assert benchmark.model_config_files("WALS", tmp_path / "tuned") == [str(best)]
    assert benchmark.model_config_files("Pop", tmp_path / "tuned") == []

    args = ["--benchmark", "--models=WALS,Pop", "--dataset=tiny", "--name=s/t", "--epochs=1", *_quiet(tiny_data_path)]
    assert benchmark.main(args + [f"--model_configs={tmp_path / 'tuned'}"]) == 0
    assert "WALS" in (tmp_path / "results" / "s" / "t.md").read_text()
    assert benchmark.main(args + ["--model_configs=no/such/folder"]) == 2


def test_benchmark_table_records_and_added_seeds(tmp_path, tiny_data_path, monkeypatch):
    trained = []
    real_train = runs.train_once
    monkeypatch.setattr(runs, "train_once", lambda *a: trained.append(a[0]) or real_train(*a))
    args = ["--benchmark", "--models=WALS,Pop", "--dataset=tiny", "--name=study/t", "--epochs=2", *_quiet(tiny_data_path)]
    assert benchmark.main(args + ["--seeds=1"]) == 0
    assert trained == ["WALS", "Pop"]
    records = sorted((tmp_path / "results" / "study" / "runs").glob("*.json"))
    assert len(records) == 2 and all(json.loads(p.read_text())["key"] == p.stem for p in records)
    assert benchmark.main(args + ["--seeds=WALS:2,Pop:1"]) == 0
    assert trained == ["WALS", "Pop", "WALS"]  # only the new seed trains
    rows = list(csv.DictReader(open(tmp_path / "results" / "study" / "t.csv")))
    assert [row["model"] for row in rows] == ["WALS", "Pop"]
    assert rows[0]["seeds"] == "2" and rows[0]["epochs run"] == "2, 2 of 2"
    assert (tmp_path / "results" / "study" / "t.md").read_text().startswith("Command: `python run.py --benchmark")
    assert (tmp_path / "results" / "study" / "t.png").stat().st_size > 1000
    # another study reuses these records: nothing trains
    other_study = [arg if not arg.startswith("--name=") else "--name=other/t" for arg in args]
    assert benchmark.main(other_study + ["--seeds=1"]) == 0
    assert trained == ["WALS", "Pop", "WALS"]


def test_paired_difference_matches_hand_computation():
    def runs_of(*scores):
        return [{"seed": 2020 + i, "test_result": {"auc": s}} for i, s in enumerate(scores)]

    # differences +0.02, +0.01, +0.03 (seed 2023 has no reference run): mean 0.02, s.e. 0.01 / sqrt(3)
    assert benchmark.paired_difference(runs_of(0.72, 0.61, 0.83, 0.5), runs_of(0.70, 0.60, 0.80), "auc") == (
        "+0.0200 ± 0.0058 (3 seeds)"
    )
    assert benchmark.paired_difference(runs_of(0.5), runs_of(0.7), "auc") == "-0.2000 (1 seed)"
    assert benchmark.paired_difference(runs_of(0.5), runs_of(0.7), "ndcg@10") == "n/a"


def test_tables_use_the_sample_standard_deviation():
    assert mean_std([1.0, 2.0, 3.0]) == "2.0000 ± 1.0000"  # ddof=1 (ddof=0 would give 0.8165)
    assert mean_std([0.5]) == "0.5000"


def test_benchmark_runs_keep_their_checkpoints_apart(tmp_path, monkeypatch):
    # RecBole names checkpoints by start second: runs started together must not share a file
    seen = []
    monkeypatch.setattr(runs, "train_once", lambda *a: seen.append(a[3]["checkpoint_dir"]) or {})
    for seed in (2020, 2021):
        runs.cached_run("Pop", "ml-100k", [], {"epochs": "1"}, seed, results_dir=tmp_path)
    keys = [runs.run_key("Pop", "ml-100k", [], {"epochs": "1"}, seed) for seed in (2020, 2021)]
    assert seen == [os.path.join("saved", key) for key in keys] and keys[0] != keys[1]
    runs.cached_run("Pop", "ml-100k", [], {"epochs": "2", "checkpoint_dir": "mine"}, 2020, results_dir=tmp_path)
    assert seen[-1] == "mine"  # an explicit setting wins


class _SessionEnded(Exception):
    pass


def test_a_benchmark_run_stopped_part_way_is_continued_and_recorded_as_if_never_stopped(tmp_path, tiny_data_path, monkeypatch):
    settings = {"data_path": str(tiny_data_path), "epochs": "4", "stopping_step": "10", "show_progress": "False",
                "state": "ERROR"}
    monkeypatch.chdir((tmp_path / "whole").mkdir() or tmp_path / "whole")
    whole = runs.cached_run("BPR", "tiny", [], settings, 2020, "s", results_dir=tmp_path / "whole")

    monkeypatch.chdir((tmp_path / "parts").mkdir() or tmp_path / "parts")
    save_last = ResumableMixin._save_last

    def save_then_end_the_session(trainer, epoch_idx):
        save_last(trainer, epoch_idx)
        if epoch_idx == 1:
            raise _SessionEnded

    monkeypatch.setattr(ResumableMixin, "_save_last", save_then_end_the_session)
    with pytest.raises(_SessionEnded):
        resumable.cached_run("BPR", "tiny", [], settings, 2020, "s", results_dir=tmp_path / "parts")
    monkeypatch.setattr(ResumableMixin, "_save_last", save_last)
    assert list((tmp_path / "parts").glob("s/runs/*.json")) == []
    assert resumable.last_checkpoint(tmp_path / "parts" / "saved" / whole["key"]) is not None
    # a run that trained to its end (and died while tested, say) is not continued: it would train an extra epoch
    assert resumable.last_checkpoint(tmp_path / "whole" / "saved" / whole["key"]) is None

    continued = resumable.cached_run("BPR", "tiny", [], settings, 2020, "s", results_dir=tmp_path / "parts")
    assert continued["key"] == whole["key"] and continued["resumed_at_epoch"] == 2
    assert continued["epochs"] == whole["epochs"] == 4
    assert [point["epoch"] for point in continued["curve"]] == [2, 3]
    assert [point["valid"] for point in continued["curve"]] == [point["valid"] for point in whole["curve"][2:]]
    assert continued["best_valid_score"] == whole["best_valid_score"]
    assert continued["test_result"] == whole["test_result"]
    assert json.loads((tmp_path / "parts" / "s" / "runs" / f"{whole['key']}.json").read_text()) == continued
    # the record now exists: asking again trains nothing, even with the last checkpoint still there
    monkeypatch.setattr(runs, "train_once", lambda *a: pytest.fail("trained again"))
    assert resumable.cached_run("BPR", "tiny", [], settings, 2020, "s", results_dir=tmp_path / "parts") == continued


def test_benchmark_passes_each_model_only_the_overrides_it_knows(tiny_data_path):
    overrides = {"alpha": "2.0", "epochs": "3", "data_path": str(tiny_data_path)}
    assert benchmark.overrides_for("WALS", "tiny", [], overrides) == overrides
    assert benchmark.overrides_for("Pop", "tiny", [], overrides) == {"epochs": "3", "data_path": str(tiny_data_path)}


def test_the_key_covers_the_code_a_run_executes():
    shared = runs.import_closure(runs.TRAINING_PATH)
    for module in ("recbole_ext.runner", "recbole_ext.compat", "recbole_ext.registry", "recbole_ext.trainer.history_filter",
                   "recbole_ext.trainer.weight_averaging", "recbole_ext.trainer.nan_guard", "lab.runs"):
        assert module in shared
    assert "recbole_ext.model.argus" not in shared  # editing ARGUS does not re-key SASRec's runs
    argus = runs.import_closure([*runs.TRAINING_PATH, "recbole_ext.model.argus"])
    assert {"recbole_ext.model.argus", "recbole_ext.model.layers", "recbole_ext.data.argus_dataset"} <= set(argus)


def test_changing_a_data_file_or_the_runner_gives_a_new_key(tmp_path, tiny_data_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(tiny_data_path, data)
    overrides = {"data_path": str(data), "epochs": "1"}
    key = runs.run_key("SASRec", "tiny", [], overrides, 2020)
    assert runs.run_key("SASRec", "tiny", [], overrides, 2020) == key

    inter = data / "tiny" / "tiny.inter"
    original = inter.read_text()
    inter.write_text(original + "u0\ti1\t3\t999999999\n")
    assert runs.run_key("SASRec", "tiny", [], overrides, 2020) != key
    inter.write_text(original)
    assert runs.run_key("SASRec", "tiny", [], overrides, 2020) == key

    edited_runner = tmp_path / "runner.py"
    edited_runner.write_text((REPO_ROOT / "recbole_ext" / "runner.py").read_text() + "\n# an edit\n")
    real_module_file = runs._module_file
    monkeypatch.setattr(runs, "_module_file", lambda name: edited_runner if name == "recbole_ext.runner" else real_module_file(name))
    assert runs.run_key("SASRec", "tiny", [], overrides, 2020) != key


def test_config_files_are_keyed_by_content_not_path(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("epochs: 1\n")
    second.write_text("epochs: 1\n")
    assert runs.run_key("Pop", "ml-100k", [str(first)], {}, 2020) == runs.run_key("Pop", "ml-100k", [str(second)], {}, 2020)
    second.write_text("epochs: 2\n")
    assert runs.run_key("Pop", "ml-100k", [str(first)], {}, 2020) != runs.run_key("Pop", "ml-100k", [str(second)], {}, 2020)


def test_a_history_window_line_counts_for_the_run_it_measured_only():
    from lab.argus_study import _measures

    record = {"key": "ARGUS-x-s2020-new", "test_result": {"ndcg@10": 0.1}}
    assert _measures({"key": "ARGUS-x-s2020-new", "own rule": {"ndcg@10": 0.2}}, record)
    assert not _measures({"key": "ARGUS-x-s2020-old", "own rule": {"ndcg@10": 0.1}}, record)
    # lines written before they carried a key: the same own-rule figure
    assert _measures({"own rule": {"ndcg@10": 0.1}}, record)
    assert not _measures({"own rule": {"ndcg@10": 0.2}}, record)


def test_the_history_window_study_masks_exactly_the_last_events():
    import torch

    from lab.history_window import last_events_mask

    items = torch.tensor([[5, 6, 7, 8, 0, 0], [9, 3, 0, 0, 0, 0]])  # left-aligned histories, 0 = padding
    interaction = {"item_id_list": items, "item_length": torch.tensor([4, 2])}

    def plain(batch):
        return interaction, torch.zeros(2, 10), None, None

    _, scores, _, _ = last_events_mask(3, "item_id_list", "item_length", plain)(None)
    masked = [set(torch.nonzero(row == float("-inf")).flatten().tolist()) for row in scores]
    assert masked == [{0, 6, 7, 8}, {0, 9, 3}]  # the last 3 events (item 5 is older); padding id 0 as RecBole


def test_overlapping_chunks_make_every_event_a_target_once_with_its_window():
    from recbole_ext.data.argus_dataset import chunk_bounds

    from lab.probes.argus_overlapping_chunks import STRIDE, newest_positions

    window, history = 50, 137
    targets = []
    for cut in range(0, window, STRIDE):
        _, starts, lengths = chunk_bounds([max(history - cut, 0)], window)
        for start, length in zip(starts, lengths):
            segments = torch.ones(1, int(length), dtype=torch.long)
            newest = newest_positions(segments, STRIDE)[0]
            targets += [(int(start) + k, k) for k in range(int(length)) if newest[k]]
    assert sorted(event for event, _ in targets) == list(range(history))
    # each target sees at least window - STRIDE earlier events, or all of them near the start of the history
    assert all(context >= min(event, window - STRIDE) for event, context in targets)
    # in a packed row the newest positions are counted per chunk
    packed = torch.tensor([[1, 1, 1, 2, 2, 0]])
    assert newest_positions(packed, 2).tolist() == [[False, True, True, True, True, True]]


def test_the_sasrec_recipe_probe_is_the_post_layernorm_encoder_on_overlapping_chunks():
    from lab.probes.argus_overlapping_chunks import ARGUSOverlappingChunks, ARGUSOverlappingChunksDataset
    from lab.probes.argus_post_ln import ARGUSPostLN
    from lab.probes.argus_sasrec_recipe import ARGUSSASRecRecipe

    assert ARGUSSASRecRecipe.dataset_class is ARGUSOverlappingChunksDataset
    assert ARGUSSASRecRecipe._build_layers is ARGUSPostLN._build_layers
    assert ARGUSSASRecRecipe.calculate_loss is ARGUSOverlappingChunks.calculate_loss


def test_the_sasrec_windows_probe_is_the_post_layernorm_encoder_on_a_window_per_target():
    from lab.probes.argus_post_ln import ARGUSPostLN
    from lab.probes.argus_sasrec_windows import ARGUSSASRecWindows
    from lab.probes.argus_window_per_target import ARGUSWindowPerTarget, ARGUSWindowPerTargetDataset

    assert ARGUSSASRecWindows.dataset_class is ARGUSWindowPerTargetDataset
    assert ARGUSSASRecWindows._build_layers is ARGUSPostLN._build_layers
    assert ARGUSSASRecWindows.calculate_loss is ARGUSWindowPerTarget.calculate_loss


def test_the_sasrec_direct_windows_probe_adds_the_direct_item_token_to_the_sasrec_windows_probe():
    from lab.probes.argus_direct_item_token import ARGUSDirectItemToken
    from lab.probes.argus_sasrec_direct_windows import ARGUSSASRecDirectWindows
    from lab.probes.argus_sasrec_windows import ARGUSSASRecWindows

    assert ARGUSSASRecDirectWindows._encode is ARGUSDirectItemToken._encode
    for method in ("dataset_class", "_build_layers", "calculate_loss"):
        assert getattr(ARGUSSASRecDirectWindows, method) is getattr(ARGUSSASRecWindows, method)


def test_the_item_text_probe_adds_each_items_frozen_text_vector_to_its_token(tiny_encoder):
    from recbole_ext.data.item_text import item_texts

    overrides = {**ID_ONLY, "item_text_fields": ["movie_title"], "text_encoder": tiny_encoder,
                 "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"], "item": ["item_id", "movie_title"]}}
    model, _, train_data = _probe_built("ARGUSItemText", overrides)
    texts = item_texts(train_data.dataset, ["movie_title"])
    vectors = model.item_text_vectors
    norms = vectors.norm(dim=-1)
    assert norms[0] == 0 and torch.allclose(norms[1:], torch.ones_like(norms[1:]))
    first_of_text, repeats = {}, []
    for item, text in enumerate(texts[1:], start=1):
        if text in first_of_text:
            repeats.append((first_of_text[text], item))
        first_of_text.setdefault(text, item)
    assert repeats and all(torch.allclose(vectors[i], vectors[j], atol=1e-6) for i, j in repeats)  # ml-100k repeats titles
    # the projection starts at zero (ARGUS's own tokens), then adds W t_i to the id and title rows of item i
    plain = model._all_item_tokens().detach().clone()
    torch.nn.init.normal_(model.item_text_projection.weight)
    items = torch.tensor([[1, 5, 9], [2, 0, 7]])
    expected = plain[items] + vectors[items] @ model.item_text_projection.weight.T
    assert torch.allclose(model.item_tokens(items), expected, atol=1e-6)
    assert torch.allclose(model._all_item_tokens()[items], expected, atol=1e-6)


def test_the_interest_pooling_probe_pools_earlier_events_of_the_same_user_only():
    from types import SimpleNamespace

    from lab.probes.argus_interest_pooling import INTERESTS, ARGUSInterestPooling

    torch.manual_seed(0)
    d = 8
    layers = SimpleNamespace(interest_scores=torch.nn.Linear(d, INTERESTS, bias=False),
                             interest_projection=torch.nn.Linear(INTERESTS * d, d))

    def pooled(tokens):
        return ARGUSInterestPooling.pooled_interests(layers, tokens, items, segments)[0]

    # two users packed in one row (positions 0-2 and 3-5), then padding
    items = torch.tensor([[3, 4, 5, 6, 7, 8, 0, 0]])
    segments = torch.tensor([[1, 1, 1, 2, 2, 2, 0, 0]])
    tokens = torch.randn(1, 8, d)
    before = pooled(tokens)
    # the first event of each user has nothing before it
    assert torch.equal(before[0], before[3]) and torch.equal(before[0], layers.interest_projection.bias)
    changed = tokens.clone()
    changed[0, 2] += 5  # the first user's last event
    changed[0, 4] += 5  # the second user's middle event
    after = pooled(changed)
    # an event reaches only the later positions of its own user
    assert torch.equal(after[:3], before[:3]) and torch.equal(after[3:5], before[3:5])
    assert not torch.allclose(after[5], before[5])
    assert torch.equal(after[6:], before[6:])


def test_the_dropout_copies_probe_averages_its_losses_term_by_term():
    from lab.probes.argus_dropout_copies import mean_losses

    assert mean_losses([torch.tensor(1.0), torch.tensor(3.0)]) == 2.0
    assert mean_losses([(torch.tensor(1.0), torch.tensor(4.0)), (torch.tensor(3.0), torch.tensor(0.0))]) == (2.0, 2.0)


def test_the_last_item_probe_reads_the_event_before_of_the_same_user():
    from lab.probes.argus_last_item import previous_tokens

    tokens = torch.arange(1.0, 7.0).view(1, 6, 1)
    segments = torch.tensor([[1, 1, 1, 2, 2, 0]])  # two users packed, then padding
    assert previous_tokens(tokens, segments).flatten().tolist() == [0.0, 1.0, 2.0, 0.0, 4.0, 0.0]


def test_the_item_mask_probe_masks_real_input_items_in_training_only():
    from types import SimpleNamespace

    from lab.probes.argus_item_mask import ARGUSItemMask20

    items = torch.tensor([[3, 4, 5, 0] * 500])  # padding is never masked
    tokens = torch.ones(1, 2000, 2)
    probe = SimpleNamespace(training=True, item_mask_prob=0.2, item_mask_vector=torch.full((2,), -1.0))
    masked = ARGUSItemMask20.masked_inputs(probe, tokens, items)[0, :, 0]
    assert set(masked.unique().tolist()) == {-1.0, 1.0}
    assert not (masked[items[0] == 0] == -1).any()
    assert abs((masked[items[0] > 0] == -1).float().mean().item() - 0.2) < 0.04
    probe.training = False
    assert ARGUSItemMask20.masked_inputs(probe, tokens, items) is tokens


def test_the_context_dropout_probe_zeroes_whole_event_vectors_in_training_only():
    from types import SimpleNamespace

    from lab.probes.argus_context_dropout import ARGUSContextDropout50

    vectors = torch.ones(1, 4000, 3)
    probe = SimpleNamespace(training=True, context_dropout_prob=0.5)
    dropped = ARGUSContextDropout50.dropped(probe, vectors)[0]
    assert set(dropped.sum(-1).unique().tolist()) == {0.0, 3.0}  # an event's vector is kept or zeroed whole
    assert abs((dropped.sum(-1) == 0).float().mean().item() - 0.5) < 0.04
    probe.training = False
    assert ARGUSContextDropout50.dropped(probe, vectors) is vectors


def test_the_lazy_rows_probe_leaves_rows_without_gradient_and_their_moments_alone():
    from lab.probes.argus_lazy_item_rows import LazyRowsAdam

    torch.manual_seed(0)
    table, dense = torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))
    reference_table, reference_dense = (torch.nn.Parameter(p.detach().clone()) for p in (table, dense))
    lazy = LazyRowsAdam([table, dense], [table], lr=0.1)
    plain = torch.optim.Adam([reference_table, reference_dense], lr=0.1)

    def train_step(optimizer, rows, t, d):
        optimizer.zero_grad()
        ((t[rows] * d).sum() ** 2).backward()
        optimizer.step()

    train_step(lazy, [0, 1, 2], table, dense)
    train_step(plain, [0, 1, 2], reference_table, reference_dense)
    assert torch.allclose(table, reference_table) and torch.allclose(dense, reference_dense)  # every row touched
    before, moment = table.detach().clone(), lazy.state[table]["exp_avg"].clone()
    train_step(lazy, [1], table, dense)  # rows 0, 2, 3, 4 get no gradient
    train_step(plain, [1], reference_table, reference_dense)
    untouched = [0, 2, 3, 4]
    assert torch.equal(table[untouched], before[untouched])
    assert torch.equal(lazy.state[table]["exp_avg"][untouched], moment[untouched])
    assert not torch.equal(reference_table[[0, 2]], before[[0, 2]])  # plain Adam's momentum moves them
    assert torch.allclose(table[1], reference_table[1]) and torch.allclose(dense, reference_dense)


def test_the_second_next_probe_pairs_each_position_with_the_event_after_next_of_its_own_chunk():
    from lab.probes.argus_second_next import second_next_pairs

    items = torch.tensor([[5, 6, 7, 8, 9, 0]])
    segments = torch.tensor([[1, 1, 1, 2, 2, 0]])  # two users packed, then padding
    rows, targets = second_next_pairs(items, segments)
    assert rows.tolist() == [[True, True, False, True, False, False]]
    assert targets[rows].tolist() == [6, 7, 9]


def test_ndcg_at_10_scores_each_row_by_its_targets_rank():
    import math

    from lab.target_gaps import ndcg_at_10

    scores = torch.arange(12.0).expand(3, 12)  # item 11 ranks first, item 0 last
    targets = torch.tensor([11, 10, 0])  # ranked first, second, twelfth (below the top 10)
    assert torch.allclose(ndcg_at_10(scores, targets), torch.tensor([1.0, 1 / math.log2(3), 0.0]))


def test_the_input_dropout_probe_raises_only_the_input_tokens_dropout():
    model, trainer = _probe_model_and_trainer("ARGUSInputDropout50", {})
    assert model.input_dropout.p == 0.5
    encoder_rates = {m.p for m in model.encoder.modules() if isinstance(m, torch.nn.Dropout)}
    assert encoder_rates == {trainer.config["hidden_dropout_prob"]}


def test_the_direct_item_token_probe_encodes_item_and_position_only_and_refuses_other_inputs():
    model, _ = _probe_model_and_trainer("ARGUSDirectItemToken", ID_ONLY)
    model.eval()
    items, segments = PROBE_ITEMS, PROBE_SEGMENTS
    vectors = model.item_tokens(items)
    hidden = model._encode(vectors, torch.randn_like(vectors), torch.randn_like(vectors), segments)
    # context and feedback never reach the token; the item does
    assert torch.equal(hidden, model._encode(vectors, torch.randn_like(vectors), torch.randn_like(vectors), segments))
    assert not torch.allclose(hidden, model._encode(model.item_tokens(items.flip(1)), vectors, vectors, segments))
    model.train()
    model._encode(vectors, vectors, vectors, segments).sum().backward()
    assert model.event_fusion is None  # id-only events: since session 38 ARGUS itself builds no fusion layer
    with pytest.raises(ValueError, match="id-only probe"):
        model.time_context = True
        model._encode(vectors, vectors, vectors, segments)


def test_the_added_event_token_probe_sums_item_context_and_feedback_without_the_fusion_layer():
    from recbole_ext.model.layers import segment_positions

    model, _ = _probe_model_and_trainer("ARGUSAddedEventToken", {"event_token": "linear"})
    model.eval()
    segments = PROBE_SEGMENTS
    vectors = model.item_tokens(PROBE_ITEMS)
    context, feedback = torch.randn_like(vectors), torch.randn_like(vectors)
    hidden = model._encode(vectors, context, feedback, segments)
    # only the sum of the three reaches the encoder, with each position's embedding
    swapped = model._encode(context, feedback, vectors, segments)
    assert torch.allclose(hidden, swapped, atol=1e-6)
    tokens = vectors + context + feedback + model.position_embedding(segment_positions(segments))
    assert torch.allclose(hidden, model.encoder(model.input_norm(tokens), model._attention_mask(segments, 1)), atol=1e-6)
    model.train()
    model._encode(vectors, context, feedback, segments).sum().backward()
    assert all(parameter.grad is None for parameter in model.event_fusion.parameters())
    with pytest.raises(ValueError, match="simplified variant"):
        model.variant = "full"
        model._encode(vectors, context, feedback, segments)


@pytest.mark.parametrize("probe,encoder", [("ARGUSSASRecModel", "PostLNEncoder"), ("ARGUSHiddenQuery", "CausalTransformerEncoder")])
def test_the_sasrec_model_probes_score_the_hidden_state_against_the_tied_embeddings_at_a_fixed_temperature(probe, encoder):
    from lab.probes.argus_direct_item_token import ARGUSDirectItemToken

    sasrec_model = {**ID_ONLY, "item_output": "tied", "temperature_init": 1.0, "norm_first": True}
    model, _ = _probe_model_and_trainer(probe, sasrec_model)
    model.eval()
    assert type(model)._encode is ARGUSDirectItemToken._encode and type(model.encoder).__name__ == encoder
    segments = PROBE_SEGMENTS
    zeros = torch.zeros(1, 6, model.hidden_size)
    queries, _ = model._heads(PROBE_ITEMS, zeros, zeros, segments)
    hidden = model._encode(model.item_tokens(PROBE_ITEMS), zeros, zeros, segments)
    # the query at a chunk's event is the hidden state of the event before it in the chunk (the start state first)
    assert torch.equal(queries[0, 1], hidden[0, 0]) and torch.equal(queries[0, 4], hidden[0, 3])
    assert torch.equal(queries[0, 3], model.start_state)
    assert torch.equal(model.item_vectors(), model.item_embedding.weight)
    assert float(model.temperature()) == 1.0 and not model.log_temperature.requires_grad
    with pytest.raises(ValueError, match="item_output: tied"):
        _probe_model_and_trainer(probe, {**sasrec_model, "item_output": "projected"})


def test_target_gaps_groups_every_gap_once_by_whole_seconds():
    from lab.target_gaps import group_of

    assert [group_of(gap) for gap in (-100, -1, 0, 0.4, 1, 60, 61, 3600, 3601, 1e9)] == [
        "rated before the event before it", "rated before the event before it", "same second", "same second",
        "1 s to 1 min", "1 s to 1 min", "1 min to 1 h", "1 min to 1 h", "over 1 h", "over 1 h"]


def test_the_block_memory_probe_reads_finished_blocks_only_and_keeps_packed_users_apart():
    from recbole_ext.model.layers import CausalTransformerEncoder, segment_causal_mask

    from lab.probes.argus_block_memory import BLOCK, BlockMemoryEncoder, block_memory_mask

    length = 2 * BLOCK + 5
    mask = block_memory_mask(torch.ones(length, length, dtype=torch.bool).tril())[0, 0]
    causal, memory = slice(0, length), slice(length, 2 * length)
    assert mask[memory, memory][0, BLOCK - 1]  # a memory token reads its whole block ...
    assert not mask[memory, memory][0, BLOCK]  # ... and no later block
    assert not mask[causal, causal][0, 1]  # causal tokens stay causal
    assert mask[causal, memory][BLOCK, BLOCK - 1] and not mask[causal, memory][BLOCK + 3, BLOCK]
    assert not mask[memory, causal].any()
    torch.manual_seed(0)
    encoder = BlockMemoryEncoder(CausalTransformerEncoder(
        n_layers=2, hidden_size=8, n_heads=2, inner_size=16, hidden_act="gelu")).eval()
    x = torch.randn(1, length, 8)
    changed = x.clone()
    changed[:, BLOCK + 4] = torch.randn(1, 8)
    # a later event never reaches an earlier position, a finished block reaches every later one
    assert torch.allclose(encoder(x)[:, :BLOCK + 4], encoder(changed)[:, :BLOCK + 4])
    assert not torch.allclose(encoder(x)[:, 2 * BLOCK], encoder(changed)[:, 2 * BLOCK])
    # two users packed in one row: changing the second never moves the first; blocks restart per user
    first = BLOCK + 3
    segments = torch.tensor([[1] * first + [2] * (length - first)])
    packed = segment_causal_mask(segments)
    changed = x.clone()
    changed[:, first] = torch.randn(1, 8)
    assert torch.allclose(encoder(x, packed)[:, :first], encoder(changed, packed)[:, :first])
    assert not torch.allclose(encoder(x, packed)[:, first:], encoder(changed, packed)[:, first:])
    packed_mask = block_memory_mask(packed)[0, 0]
    assert packed_mask[first + BLOCK, length + first + BLOCK - 1]
    assert not packed_mask[first + BLOCK - 1, length + first]


def test_the_bidirectional_windows_probe_hides_only_the_target_and_keeps_packed_windows_apart():
    from recbole_ext.model.post_ln_encoder import PostLNEncoder

    from lab.probes.argus_bidirectional_windows import bidirectional_history_mask

    mask = bidirectional_history_mask(PROBE_SEGMENTS)[0, 0]
    # two packed windows (targets at positions 2 and 4), then padding
    assert mask.tolist() == [
        [True, True, False, False, False, False],
        [True, True, False, False, False, False],
        [True, True, True, False, False, False],
        [False, False, False, True, False, False],
        [False, False, False, True, True, False],
        [False, False, False, False, False, True],
    ]
    torch.manual_seed(0)
    encoder = PostLNEncoder(2, 8, n_heads=2, inner_size=16, hidden_dropout_prob=0.0, attn_dropout_prob=0.0,
                            hidden_act="gelu", layer_norm_eps=1e-12).eval()
    x = torch.randn(1, 6, 8)

    def moved(position):
        changed = x.clone()
        changed[:, position] = torch.randn(8)
        after, before = encoder(changed, mask[None, None]), encoder(x, mask[None, None])
        return [not torch.allclose(a, b) for a, b in zip(after[0], before[0])]

    # the target reaches no other position; a later history event reaches an earlier one; windows stay apart
    assert moved(2) == [False, False, True, False, False, False]
    assert moved(1) == [True, True, True, False, False, False]
    assert moved(3) == [False, False, False, True, True, False]


def test_the_window_per_target_probe_makes_every_training_event_a_target_once_after_its_window(tiny_data_path):
    from collections import Counter

    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation

    from recbole_ext.data.argus_dataset import SEGMENT_FIELD

    from lab.probes import register_probes
    from lab.probes.argus_overlapping_chunks import newest_positions
    from tests.conftest import quiet_config

    register_probes()
    window = 6
    config = Config(model="ARGUSWindowPerTarget", dataset="tiny", config_dict=quiet_config(
        data_path=str(tiny_data_path), MAX_ITEM_LIST_LENGTH=window, feedback_fields={}, feedback_loss_weights={},
        time_context=False, use_target_context=False))
    dataset = create_dataset(config)
    train = data_preparation(config, dataset)[0]._dataset
    items, segments = train.inter_feat["item_id_list"], train.inter_feat[SEGMENT_FIELD]
    newest = (items > 0) & newest_positions(segments, 1)
    targets = Counter()
    for row in range(len(items)):
        for slot in torch.nonzero(newest[row]).flatten().tolist():
            start = int((segments[row] == segments[row, slot]).nonzero()[0])
            targets[tuple(items[row, start:slot + 1].tolist())] += 1
    # each user's training history (valid and test targets held out): every event a target exactly once,
    # after the window of events before it, and nothing else
    events, expected = dataset._events, Counter()
    for user in torch.unique(events["user_id"]).tolist():
        history = events["item_id"][events["user_id"] == user].tolist()[:-2]
        expected.update(tuple(history[max(0, index - window + 1):index + 1]) for index in range(len(history)))
    assert targets == expected


def test_the_user_shifts_probe_makes_every_training_event_a_target_once_an_epoch_after_other_cuts(tiny_data_path):
    from collections import Counter

    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_trainer

    from lab.probes import register_probes
    from lab.probes.argus_user_shifts import ARGUSUserShifts
    from tests.conftest import quiet_config

    register_probes()
    config = Config(model="ARGUSUserShifts", dataset="tiny", config_dict=quiet_config(
        data_path=str(tiny_data_path), MAX_ITEM_LIST_LENGTH=4, feedback_fields={}, feedback_loss_weights={},
        time_context=False, use_target_context=False))
    dataset = create_dataset(config)
    train_data = data_preparation(config, dataset)[0]
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, ARGUSUserShifts(config, train_data._dataset))
    events = dataset._events
    expected = Counter()
    for user in torch.unique(events["user_id"]).tolist():
        expected.update(events["item_id"][events["user_id"] == user].tolist()[:-2])
    layouts = set()
    for epoch in range(4):
        rows = [row for batch in trainer._epoch_rows(train_data, epoch) for row in batch["item_id_list"].tolist()]
        assert Counter(item for items in rows for item in items if item) == expected
        layouts.add(tuple(sorted(tuple(items) for items in rows)))
    assert len(layouts) > 1


def test_a_record_trained_under_other_package_versions_is_found_only_while_its_run_is_current(tmp_path, tiny_data_path):
    from lab import device_runs

    overrides = {"data_path": str(tiny_data_path), "epochs": "1"}
    gpu_packages = {"recbole": "1.2.1", "torch": "2.11.0+cu130", "numpy": "2.5.2", "scipy": "1.18.1"}
    with device_runs.package_versions(gpu_packages):
        gpu_key = runs.run_key("SASRec", "tiny", [], overrides, 2020)
    assert gpu_key != runs.run_key("SASRec", "tiny", [], overrides, 2020)  # the versions are in the key
    record = {"key": gpu_key, "environment": {"packages": gpu_packages, "device": "NVIDIA H200", "python": "3.12.3"}}
    folder = tmp_path / "results" / "argus" / "runs"
    folder.mkdir(parents=True)
    (folder / f"{gpu_key}.json").write_text(json.dumps(record))

    found = device_runs.find_record("SASRec", "tiny", [], overrides, 2020, results_dir=tmp_path / "results")
    assert found == record and not device_runs.trained_here(found)
    assert device_runs.find_record("SASRec", "tiny", [], {**overrides, "epochs": "2"}, 2020, tmp_path / "results") is None
    record["environment"]["packages"]["torch"] = "2.12.0+cu130"  # versions that do not give its key: stale
    (folder / f"{gpu_key}.json").write_text(json.dumps(record))
    assert device_runs.find_record("SASRec", "tiny", [], overrides, 2020, results_dir=tmp_path / "results") is None
    assert device_runs.trained_here({"key": "k"}) and not device_runs.trained_here(None)


def test_device_runs_name_a_bad_run_entry_in_one_line():
    from lab import device_runs

    assert device_runs.parse_runs("SASRec:ml-100k:2020,ARGUS:amazon-games:2021:softmax=full+uniform_negatives=4096") == [
        ("SASRec", "ml-100k", 2020, {}), ("ARGUS", "amazon-games", 2021, {"softmax": "full", "uniform_negatives": 4096})]
    for bad in ("SASRec:ml-100k", "ARGUS:ml-100k:2020:softmax"):
        with pytest.raises(SystemExit, match=f"'{bad}' is not Model:dataset:seed"):
            device_runs.parse_runs(bad)


def test_the_no_empty_targets_probe_drops_exactly_each_chunks_first_event():
    from lab.probes.argus_no_empty_targets import has_earlier_event

    items = torch.tensor([[5, 6, 7, 8, 9, 0], [3, 4, 0, 0, 0, 0]])
    segments = torch.tensor([[1, 1, 1, 2, 2, 0], [1, 1, 0, 0, 0, 0]])  # two packed chunks, then one chunk
    assert has_earlier_event(items, segments).tolist() == [
        [False, True, True, False, True, False], [False, True, False, False, False, False]]


def test_a_study_row_names_a_bad_setting_in_one_line():
    from lab import argus_study

    with pytest.raises(SystemExit, match="--set: every entry is KEY=YAML, got foo"):
        argus_study.main(["row", "--cached_only", "--set", "foo"])


def _tiny_dataset_with_item_genres(tiny_data_path, folder):
    """The tiny dataset's events and an item file with one genre a item (its cluster)."""
    data = folder / "tiny"
    data.mkdir(parents=True)
    shutil.copy(tiny_data_path / "tiny" / "tiny.inter", data / "tiny.inter")
    rows = ["item_id:token\tgenre:token_seq"] + [f"i{item}\tg{item % 4} all" for item in range(40)]
    (data / "tiny.item").write_text("\n".join(rows) + "\n")
    return folder


@pytest.mark.parametrize("model", ["SASRecF", "SASRecFLoadable"])
def test_sasrecf_loadable_reloads_what_recbole_sasrecf_cannot_and_scores_as_trained(model, tiny_data_path, tmp_path):
    from recbole_ext import runner
    from recbole_ext.checkpoints import CheckpointError, load_checkpoint

    from lab.baselines import register_baselines

    from conftest import quiet_config

    register_baselines()
    data_path = _tiny_dataset_with_item_genres(tiny_data_path, tmp_path / "data")
    settings = quiet_config(data_path=str(data_path), checkpoint_dir=str(tmp_path / "saved"), epochs=1,
                            hidden_size=16, inner_size=32, n_layers=1, MAX_ITEM_LIST_LENGTH=10,
                            train_neg_sample_args=None, selected_features=["genre"],
                            load_col={"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "genre"]})
    config = runner.build_config(model, "tiny", [], settings)
    trained = runner.train(config, show_progress=False)
    if model == "SASRecF":  # RecBole's class pickles its feature layer: the loader refuses it (the known bug)
        with pytest.raises(CheckpointError, match="refused"):
            trained.trainer.evaluate(trained.test_data, load_best_model=True, show_progress=False)
        return
    trained.trainer.evaluate(trained.test_data, load_best_model=True, show_progress=False)  # the run's reload
    checkpoint = load_checkpoint(trained.trainer.saved_model_file)
    assert checkpoint["other_parameter"] == {}
    assert any(key.startswith("feature_embed_layer.") for key in checkpoint["state_dict"])
    _, train_data, _, test_data = runner.prepare(config)
    fresh, _ = runner.build_model_and_trainer(config, train_data)
    fresh.load_state_dict(checkpoint["state_dict"])
    trained.model.eval()
    fresh.eval()
    batch = next(iter(test_data))[0]
    with torch.no_grad():
        assert torch.equal(fresh.full_sort_predict(batch), trained.model.full_sort_predict(batch))


def test_the_plateau_decay_probe_halves_the_learning_rate_after_each_stalled_validation_only(monkeypatch):
    from recbole.trainer import Trainer

    _, trainer = _probe_model_and_trainer("ARGUSPlateauDecay", {"learning_rate": 0.004, "warmup_steps": 0})
    scores = iter([0.10, 0.05, 0.10, 0.12])
    monkeypatch.setattr(Trainer, "_valid_epoch", lambda self, data, show_progress=False: (next(scores), {}))
    rates = []
    for best in (-float("inf"), 0.10, 0.10, 0.10):  # the best before each validation, as RecBole's fit keeps it
        trainer.best_valid_score = best
        trainer._valid_epoch(None)
        rates.append(trainer.optimizer.param_groups[0]["lr"])
    # a tie counts as an improvement, as in RecBole's early stopping
    assert rates == [0.004, 0.002, 0.002, 0.002]
    with pytest.raises(ValueError, match="warmup_steps: 0"):
        _probe_model_and_trainer("ARGUSPlateauDecay", {"warmup_steps": 10})


def test_the_inverse_sqrt_probe_warms_up_linearly_then_decays_as_the_root_of_the_step():
    from lab.probes.argus_inverse_sqrt_decay import inverse_sqrt_scale

    model, trainer = _probe_model_and_trainer("ARGUSInverseSqrtDecay", {"learning_rate": 0.004, "warmup_steps": 4})
    rates = []
    for _ in range(16):
        trainer.optimizer.zero_grad()
        sum(p.sum() for p in model.parameters()).backward()
        trainer.optimizer.step()
        rates.append(trainer.optimizer.param_groups[0]["lr"])
    assert rates[:4] == pytest.approx([0.001, 0.002, 0.003, 0.004])
    assert rates[15] == pytest.approx(0.004 * 0.5)  # step 16 = 4 x the warm-up: half the rate
    assert all(later < earlier for earlier, later in zip(rates[3:], rates[4:]))
    assert inverse_sqrt_scale(99, 100) == 1.0
    with pytest.raises(ValueError, match="warmup_steps > 0"):
        _probe_model_and_trainer("ARGUSInverseSqrtDecay", {"warmup_steps": 0})


def test_epoch_time_trains_every_variant_each_round_and_writes_the_ratio_table(tmp_path, monkeypatch):
    from lab import argus_study, epoch_time

    monkeypatch.setattr(argus_study, "RESULTS", tmp_path)
    small = ["hidden_size=8", "inner_size=16", "n_layers=1", "MAX_ITEM_LIST_LENGTH=10"]
    epoch_time.main(["--variants", "position_encoding=added", "position_encoding=decoupled", "--rounds=1", "--set", *small])
    table = (tmp_path / "epoch_time_ml-100k.md").read_text()
    added, decoupled = (line for line in table.splitlines() if line.startswith("| position_encoding="))
    assert added.endswith("| 1.000 |") and float(added.split("|")[2]) > 0
    assert "decoupled" in decoupled and float(decoupled.split("|")[2]) > 0
    with pytest.raises(SystemExit, match="every entry is KEY=YAML, got oops"):
        epoch_time.main(["--variants", "oops"])


def test_epoch_time_times_each_variant_with_each_model_named(tmp_path, monkeypatch):
    from lab import argus_study, epoch_time

    monkeypatch.setattr(argus_study, "RESULTS", tmp_path)
    small = ["hidden_size=8", "inner_size=16", "n_layers=1", "MAX_ITEM_LIST_LENGTH=10"]
    epoch_time.main(["--variants", "softmax=full", "--models", "ARGUS", "ARGUSRelativePositions", "--rounds=1",
                     "--name=models", "--set", *small])
    rows = [line.split("|")[1].strip() for line in (tmp_path / "models.md").read_text().splitlines()[4:]
            if line.startswith("| ")]
    assert rows == ["ARGUS: softmax=full", "ARGUSRelativePositions: softmax=full"]


def test_epoch_time_times_a_builtin_first_and_gives_the_ratios_to_it(tmp_path, monkeypatch):
    from lab import argus_study, epoch_time

    monkeypatch.setattr(argus_study, "RESULTS", tmp_path)
    small = {"hidden_size": 8, "inner_size": 16, "n_layers": 1, "MAX_ITEM_LIST_LENGTH": 10, "train_batch_size": 4096}
    monkeypatch.setattr(argus_study, "OVERRIDES", {**argus_study.OVERRIDES, **small})
    epoch_time.main(["--builtins", "SASRec", "--variants", "softmax=auto", "--rounds=1", "--name=builtin"])
    sasrec, argus = (line for line in (tmp_path / "builtin.md").read_text().splitlines()[4:] if line.startswith("| "))
    assert sasrec.startswith("| SASRec (RecBole) |") and sasrec.endswith("| 1.000 |")
    assert argus.startswith("| softmax=auto |") and float(argus.split("|")[-2]) > 0


def test_the_relative_positions_probe_biases_each_pair_by_its_distance_inside_its_chunk():
    from lab.probes.argus_relative_positions import distance_bias

    table = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 10.0, 20.0, 30.0]])  # 2 heads, distances 0-3
    bias = distance_bias(table, PROBE_SEGMENTS)
    assert bias.shape == (1, 2, 6, 6)
    # the first chunk's third event is 1 and 2 events after the chunk's earlier ones; the second chunk restarts
    assert bias[0, 0, 2, :3].tolist() == [2.0, 1.0, 0.0] and bias[0, 1, 4, 3:5].tolist() == [10.0, 0.0]


def test_the_relative_positions_probe_starts_as_the_default_and_trains_its_table():
    from recbole_ext.model.argus import ARGUS

    model, _ = _probe_model_and_trainer("ARGUSRelativePositions", ID_ONLY)
    assert model.position_encoding == "decoupled" and not model.distance_table.any()
    model.eval()
    tokens = model.item_tokens(PROBE_ITEMS)
    positions = torch.randn_like(tokens)
    hidden = model._run_encoder(tokens, PROBE_SEGMENTS, positions, 1)
    assert torch.equal(hidden, ARGUS._run_encoder(model, tokens, PROBE_SEGMENTS, positions, 1))
    (hidden * torch.randn_like(hidden)).sum().backward()
    assert model.distance_table.grad[:, :3].abs().min() > 0  # distances 0-2 occur in the packed chunks
    with pytest.raises(ValueError, match="position_encoding: decoupled"):
        _probe_model_and_trainer("ARGUSRelativePositions", {**ID_ONLY, "position_encoding": "added"})


def test_the_per_layer_positions_probe_gives_each_layer_its_own_bias_and_the_default_when_they_agree():
    from recbole_ext.model.argus import ARGUS

    model, _ = _probe_model_and_trainer("ARGUSPerLayerPositions", ID_ONLY)
    first, second = model.layer_position_biases
    assert first is model.position_bias and second is not first
    model.eval()
    tokens = model.item_tokens(PROBE_ITEMS)
    positions = torch.randn_like(tokens)
    hidden = model._run_encoder(tokens, PROBE_SEGMENTS, positions, 1)
    second.load_state_dict(first.state_dict())
    assert not torch.allclose(hidden, model._run_encoder(tokens, PROBE_SEGMENTS, positions, 1))
    for segments in (PROBE_SEGMENTS, torch.tensor([[1, 1, 1, 1, 1, 0]])):  # packed, and one user a row
        assert torch.allclose(model._run_encoder(tokens, segments, positions, 1),
                              ARGUS._run_encoder(model, tokens, segments, positions, 1), atol=1e-6)
    with pytest.raises(ValueError, match="position_encoding: decoupled"):
        _probe_model_and_trainer("ARGUSPerLayerPositions", {**ID_ONLY, "position_encoding": "added"})


def test_the_label_smoothing_probe_is_the_exact_softmax_at_zero_and_spreads_only_over_candidates():
    import torch.nn.functional as F

    from lab.probes.argus_label_smoothing import smoothed_cross_entropy
    from recbole_ext.model.argus import full_softmax_loss

    logits, targets = torch.randn(4, 6), torch.tensor([0, 2, 5, 1])
    assert torch.allclose(smoothed_cross_entropy(logits, targets, 0.0), F.cross_entropy(logits, targets))
    assert torch.allclose(smoothed_cross_entropy(logits, targets, 0.1),
                          F.cross_entropy(logits, targets, label_smoothing=0.1))
    excluded = torch.zeros(4, 6, dtype=torch.bool)
    excluded[:, 3] = True  # no row's target
    kept = torch.tensor([0, 1, 2, 4, 5])
    assert torch.allclose(smoothed_cross_entropy(logits, targets, 0.1, excluded),
                          F.cross_entropy(logits[:, kept], torch.tensor([0, 2, 4, 1]), label_smoothing=0.1))
    query, vectors = torch.randn(4, 3), torch.randn(7, 3)
    assert torch.allclose(smoothed_cross_entropy(query @ vectors[1:].T / 0.5, targets, 0.0),
                          full_softmax_loss(query, vectors, targets + 1, torch.tensor(0.5)))


def test_the_label_smoothing_probe_needs_the_full_softmax():
    _probe_model_and_trainer("ARGUSLabelSmoothing", {**ID_ONLY, "softmax": "full"})
    with pytest.raises(ValueError, match="softmax: full"):
        _probe_model_and_trainer("ARGUSLabelSmoothing", {**ID_ONLY, "softmax": "sampled"})


class _ValidationRunner:
    """A cached-only runner whose ARGUS records score each row's validation by ``score(settings, seed)``."""

    def __init__(self, score):
        self.score = score

    def argus(self, dataset, settings, seed, model="ARGUS"):
        value = self.score(settings, seed)
        return None if value is None else {"best_valid_result": {"mrr@10": value}}


SEEDS = (2020, 2021, 2022)


def _rung_of(settings):
    """The ablation rung (ml-latest-small) a row's settings belong to."""
    from lab import argus_study

    return max(step for step in range(len(argus_study.STEPS) - 1)
               if all(settings[key] == value for key, value in argus_study.row_settings(
                   "ml-latest-small", step, {"use_target_context": False}).items() if key != "use_target_context"))


def test_the_chosen_rung_has_the_best_validation_mean_over_the_seeds_not_seed_2020s():
    from lab import argus_study

    def score(settings, seed):  # "+ item features" wins seed 2020 only; the id-only core wins on the mean
        rung = _rung_of(settings)
        return {0: 0.10, 4: 0.11 if seed == 2020 else 0.08}.get(rung, 0.05)

    assert argus_study.chosen_step("ml-latest-small", _ValidationRunner(score), [2020]) == 4
    assert argus_study.chosen_step("ml-latest-small", _ValidationRunner(score), SEEDS) == 0

    def seed_2022_missing(settings, seed):
        return None if seed == 2022 else score(settings, seed)

    assert argus_study.chosen_step("ml-latest-small", _ValidationRunner(seed_2022_missing), SEEDS) is None


def test_the_target_context_row_is_chosen_among_every_rung_with_context_query_head_and_decay():
    from lab import argus_study

    def score(settings, seed):  # the id-only core wins the ladder; with the target's context, rung 2's
        rung = _rung_of(settings)  # hidden-state query without the item-table decay is best
        if not settings["use_target_context"]:
            return 0.10 if rung == 0 else 0.05
        best = rung == 2 and settings.get("query_head") == "hidden" and settings.get("item_weight_decay") == 0
        return 0.09 if best else 0.06 + 0.001 * rung

    (label, step, extra), (label_without, step_without, extra_without) = argus_study.chosen_rows(
        "ml-latest-small", _ValidationRunner(score), SEEDS)
    assert argus_study.STEPS[step][0] == "+ hour/weekday/gap context"
    assert extra == {"use_target_context": True, "query_head": "hidden", "item_weight_decay": 0}
    assert label == ("ARGUS chosen on validation (hour/weekday/gap context + target context, hidden state query, "
                     "no item-table decay)")
    assert (label_without, step_without, extra_without) == ("ARGUS chosen on validation (id-only core)", 0, {})
    candidates = argus_study.target_context_candidates("ml-latest-small")
    assert len(candidates) == 3 * 2 * 2  # the rungs with context (time, absolute time, item features) x query x decay
    assert argus_study.target_context_candidates("amazon-games") == {}


def test_the_target_context_row_takes_the_best_mean_of_the_three_best_on_seed_2020_and_trains_no_other_seeds():
    from lab import argus_study

    asked = []

    def score(settings, seed):  # rung 4's four variants lead seed 2020, rung 3 is fourth and best on every other seed
        asked.append((_rung_of(settings), settings.get("query_head"), settings.get("item_weight_decay"), seed))
        rung = _rung_of(settings)
        if not settings["use_target_context"]:
            return 0.05
        if seed == 2020:
            return {4: 0.10 - 0.001 * (settings.get("query_head") == "hidden") - 0.002 * (
                settings.get("item_weight_decay") == 0), 3: 0.096}.get(rung, 0.05)
        lucky = rung == 4 and settings.get("query_head") is None and settings.get("item_weight_decay") is None
        hidden = settings.get("query_head") == "hidden"  # the best of seed 2020 is the worst on the others
        return {3: 0.2}.get(rung, 0.06 if lucky else 0.08 + 0.005 * hidden)

    label, step, extra = argus_study.chosen_target_context_row("ml-latest-small", _ValidationRunner(score), SEEDS)
    assert argus_study.STEPS[step][0] == "+ item features"
    assert extra == {"use_target_context": True, "query_head": "hidden"}  # second on seed 2020, best of three on the mean
    later = {asked_row[:3] for asked_row in asked if asked_row[3] != 2020}
    assert later == {(4, None, None), (4, "hidden", None), (4, None, 0)}  # only the three screened go on


def test_the_chosen_target_context_row_takes_the_query_head_validation_prefers():
    from lab import argus_study

    def score(settings, seed):  # "+ item features" wins the ladder; the target-context row scores by query head
        ladder = 0.1 if settings["item_feature_fields"] else 0.05
        return ladder + {"hidden": 0.02, None: 0.01}[settings.get("query_head")] * settings["use_target_context"]

    rows = argus_study.chosen_rows("ml-latest-small", _ValidationRunner(score), SEEDS)
    (label, step, extra), without = rows
    assert argus_study.STEPS[step][0] == "+ item features" and label.endswith("target context, hidden state query)")
    assert extra == {"use_target_context": True, "query_head": "hidden"}
    assert without[2] == {} and without[0].endswith("use_target_context=False)")

    def mlp_better(settings, seed):
        return score(settings, seed) - 0.02 * (settings.get("query_head") == "hidden")

    (label, _, extra), _ = argus_study.chosen_rows("ml-latest-small", _ValidationRunner(mlp_better), SEEDS)
    assert extra == {"use_target_context": True} and label.endswith("+ target context)")

    def hidden_missing(settings, seed):
        return None if settings.get("query_head") == "hidden" else score(settings, seed)

    (only,) = argus_study.chosen_rows("ml-latest-small", _ValidationRunner(hidden_missing), SEEDS)
    assert only[0].endswith("use_target_context=False)")


def test_each_chosen_row_takes_the_item_table_decay_validation_prefers():
    from lab import argus_study

    def score(settings, seed):  # "+ item features" wins the ladder; without decay, only the target-context row gains
        ladder = 0.1 if settings["item_feature_fields"] else 0.05
        undecayed = settings.get("item_weight_decay") == 0
        undecayed_gain = 0.02 if settings["use_target_context"] else -0.02
        return ladder + 0.01 * settings["use_target_context"] + undecayed_gain * undecayed

    (label, _, extra), (label_without, _, extra_without) = argus_study.chosen_rows(
        "ml-latest-small", _ValidationRunner(score), SEEDS)
    assert extra == {"use_target_context": True, "item_weight_decay": 0}
    assert label.endswith("+ target context, no item-table decay)")
    assert extra_without == {} and label_without.endswith("use_target_context=False)")

    def undecayed_missing(settings, seed):
        return None if settings.get("item_weight_decay") == 0 else score(settings, seed)

    assert argus_study.chosen_rows("ml-latest-small", _ValidationRunner(undecayed_missing), SEEDS) == ()


def test_the_targets_line_holds_every_chosen_target_context_row_to_1_10():
    from lab import argus_study

    labels = ["ARGUS id-only", "ARGUS everything", "ARGUS everything, use_target_context=False",
              "ARGUS chosen on validation (item features + target context, hidden state query)",
              "ARGUS chosen on validation (item features, use_target_context=False)", "LightSANs"]
    means = dict(zip(labels, [1.0, 1.0, 1.0, 1.05, 1.05, 1.0]))
    fair = {label: {2020: value} for label, value in means.items()}
    found = {label: {2020: None} for label in labels + ["SASRec", "SASRecF"]}
    line = argus_study.targets_line("ml-latest-small", means, found, "LightSANs", "LightSANs", None, fair)
    assert "hidden state query) vs best built-in: 1.050 x (missed, target 1.10 x" in line
    assert "use_target_context=False) vs best built-in: 1.050 x (met, target 1.00 x" in line


def test_profile_step_writes_the_operators_of_a_rows_training_steps(tmp_path, monkeypatch):
    from lab import argus_study, profile_step

    monkeypatch.setattr(argus_study, "RESULTS", tmp_path)
    small = ["hidden_size=8", "inner_size=16", "n_layers=1", "MAX_ITEM_LIST_LENGTH=10"]
    profile_step.main(["--steps=1", "--set", *small])
    assert "aten::mm" in (tmp_path / "profile_step_ml-100k_step0.txt").read_text()
    with pytest.raises(SystemExit, match="--steps must be >= 1"):
        profile_step.main(["--steps=0"])


def test_the_contrastive_probe_is_infonce_without_same_target_negatives():
    import math

    import torch.nn.functional as F

    from lab.probes.argus_contrastive import TEMPERATURE, dropout_view_infonce

    torch.manual_seed(0)
    first, second = torch.randn(6, 8), torch.randn(6, 8)
    targets = torch.tensor([1, 1, 3, 4, 3, 5])

    def one_direction(anchors, others):  # row by row: the own draw against the draws of other targets
        losses = []
        for i in range(len(targets)):
            kept = [j for j in range(len(targets)) if j == i or targets[j] != targets[i]]
            sims = torch.stack([F.cosine_similarity(anchors[i], others[j], dim=0) for j in kept]) / TEMPERATURE
            losses.append(-sims[kept.index(i)] + torch.logsumexp(sims, 0))
        return torch.stack(losses).mean()

    expected = (one_direction(first, second) + one_direction(second, first)) / 2
    assert math.isclose(dropout_view_infonce(first, second, targets).item(), expected.item(), rel_tol=1e-5)
    assert dropout_view_infonce(first, first, targets) < dropout_view_infonce(first, second, targets)


def test_the_item_bias_probe_adds_each_items_bias_to_its_logit_and_trains_it():
    from lab.probes import register_probes
    from recbole_ext.runner import build_config, build_model_and_trainer, prepare

    register_probes()
    config = build_config("ARGUSItemBias", "ml-100k", overrides={"state": "ERROR", **ID_ONLY, "softmax": "sampled"})
    _, train_data, _, test_data = prepare(config)
    model, _ = build_model_and_trainer(config, train_data)
    with torch.no_grad():
        model.item_bias.copy_(torch.randn(model.n_items, 1))
    state = torch.randn(3, config["hidden_size"])
    queries = model._item_queries(state) / model.temperature()
    logits = queries @ model.item_vectors().T
    dots = state @ super(type(model), model).item_vectors().T / model.temperature()
    assert torch.allclose(logits, dots + model.item_bias[:, 0], atol=1e-5)
    model.eval()
    with torch.no_grad():
        assert model.full_sort_predict(next(iter(test_data))[0]).shape[1] == model.n_items
    model.train()
    model.calculate_loss(next(iter(train_data))).backward()
    assert model.item_bias.grad.abs().sum() > 0


def test_the_encoder_decay_probe_decays_every_weight_but_the_item_table():
    model, trainer = _probe_model_and_trainer("ARGUSEncoderDecay", {"learner": "adamw", "weight_decay": 0.3})
    decay = {id(p): group["weight_decay"] for group in trainer.optimizer.param_groups for p in group["params"]}
    assert len(decay) == len(list(model.parameters()))
    for name, parameter in model.named_parameters():
        assert decay[id(parameter)] == (0.0 if name.startswith("item_embedding.") else 0.3), name


def test_a_row_is_compared_with_a_built_in_on_the_seeds_both_have():
    from lab.argus_study import versus_cells

    ratio, paired = versus_cells({2020: 0.11, 2021: 0.12}, {2020: 0.10, 2021: 0.10, 2022: 0.30})
    assert ratio == "1.150" and paired.startswith("+0.0150 ± 0.0050 (2 seeds)")
    assert versus_cells({2020: 0.1}, {2021: 0.1}) == ("n/a", "n/a")
