"""ARGUS study (issue 16): head-to-heads with the built-ins, the ablation ladder, long histories, scaling,
and the unified item table's memory against catalogue size.

Every sequential run uses the head-to-head protocol, ``lab/configs/seq.yaml`` then
``lab/configs/seq_<dataset>.yaml`` (history rule for every model, patience 5, no epoch cap that binds,
item features loaded), then the model's own ``lab/configs/seq_models/<dataset>/<Model>.yaml`` when it
exists, with the override ``state: ERROR`` -- exactly what

    python run.py --benchmark --models=<M> --dataset=<d> --seeds=<n> --config_files="lab/configs/seq.yaml lab/configs/seq_<d>.yaml" --model_configs=lab/configs/seq_models/<d> --name=argus/builtins_<d>_<M> --state=ERROR

runs, so the records of the built-ins SASRec, LightSANs and SASRecF (``results/argus/runs/``) are found
by their key (:mod:`lab.runs`) and reused, never retrained here: a built-in seed without a record shows
as missing (``--train_builtins`` trains it instead). ARGUS's own rows are records too
(:func:`lab.runs.cached_run`), so running a command again trains only what is missing.

ARGUS's ``seq_models/<dataset>/ARGUS.yaml`` is "everything ARGUS knows at request time" on that dataset;
every other ARGUS row is that file plus overrides switching parts off (:data:`STEPS`, :func:`row_settings`),
written only where they differ from the file, so a row that two tables share is one record. The head-to-head
also runs the settings ARGUS would be given by validation (:func:`chosen_step`: the ablation row with the best
seed-2020 validation MRR@10 among those with the built-ins' history window), with and without target context
(with it, the query head chosen on the same validation: :func:`chosen_target_query`; each row's item-table decay,
:func:`with_chosen_decay`).

    python -m lab.argus_study head2head --dataset=ml-100k --seeds=3
    python -m lab.argus_study ablation --dataset=ml-latest-small --seeds=3
    python -m lab.argus_study core --dataset=ml-100k --seeds=3  # id-only core: SASRec's design choices, probes
    python -m lab.argus_study history --seeds=1            # ml-latest-small, MAX_ITEM_LIST_LENGTH 50..1000
    python -m lab.argus_study scaling --seeds=1            # ml-latest-small, 3 sizes x 3 lengths
    python -m lab.argus_study memory                       # item table: parameters and memory to 10M items
    python -m lab.argus_study row --dataset=ml-latest-small --step=6 --seeds=1 --set "feedback_loss_weights={rating: 0.2}"

``--cached_only`` never trains (tables from the records there are); ``--seed_order=first`` trains seed
2020 of every row before the later seeds. Outputs: ``results/argus/<table>.md`` / ``.csv`` / ``.png``.
"""

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

import recbole_ext  # noqa: F401  (registers ARGUS)
from recbole_ext import registry
from recbole_ext.files import atomic_path, write_text_atomically

from lab import device_runs, resumable, runs
from lab.baselines import register_baselines
from lab.datasets import ensure_dataset
from lab.probes import register_probes
from lab.stats import mean_std, paired_difference

STUDY = "argus"
RESULTS = runs.RESULTS_DIR / STUDY
CONFIGS = Path(__file__).resolve().parent / "configs"
DATASETS = ("ml-100k", "ml-latest-small", "amazon-games")
BUILTINS = ("SASRec", "LightSANs", "SASRecF")
#: the class a built-in's row trains, where RecBole's own cannot finish a run here (``lab.baselines``)
BUILTIN_CLASSES = {"SASRecF": "SASRecFLoadable"}
OVERRIDES = {"state": "ERROR"}
METRIC = "ndcg@10"
SEEDS = 3
#: the built-ins' history window (RecBole's MAX_ITEM_LIST_LENGTH), hence the width of their history rule
BUILTIN_WINDOW = 50

#: every setting an ablation step switches on, and its value when off (the id-only core)
OFF = {
    "feedback_fields": {},
    "feedback_loss_weights": {},
    "time_context": False,
    "absolute_time_context": False,
    "item_feature_fields": [],
    "item_hash_buckets": 0,
    "item_text_fields": [],
    "MAX_ITEM_LIST_LENGTH": 50,
    "train_batch_size": 32,
    "use_target_context": False,
}
#: the ablation ladder: each row adds its settings (their values in the dataset's ARGUS.yaml) to the rows above
STEPS = (
    ("id-only core", ()),
    ("+ feedback", ("feedback_fields", "feedback_loss_weights")),
    ("+ hour/weekday/gap context", ("time_context",)),
    ("+ absolute time", ("absolute_time_context",)),
    ("+ item features", ("item_feature_fields", "item_hash_buckets", "item_text_fields")),
    ("+ longer history", ("MAX_ITEM_LIST_LENGTH", "train_batch_size")),
    ("+ target context", ("use_target_context",)),
)
#: why a step is not run on a dataset (its ARGUS.yaml leaves the step's settings off)
NOT_APPLICABLE = {
    "amazon-games": {
        "+ feedback": "no feedback: amazon-games has no ratings",
        "+ hour/weekday/gap context": "no real time: the timestamp is the position in the user's sequence",
        "+ absolute time": "no real time: the timestamp is the position in the user's sequence",
        "+ longer history": "~9 events per user: the 50-event history already holds nearly every sequence",
        "+ target context": "nothing is known about the target event but its position",
    },
}
#: the head-to-head's ARGUS rows: (label, ablation step whose settings it has, settings changed on top)
HEAD_TO_HEAD = (
    ("ARGUS id-only", 0, {}),
    ("ARGUS everything", len(STEPS) - 1, {}),
    ("ARGUS everything, use_target_context=False", len(STEPS) - 1, {"use_target_context": False}),
)
#: the long-history study (ml-latest-small): history lengths, each with ~1,600 events per batch
HISTORY_DATASET = "ml-latest-small"
HISTORY_LENGTHS = (50, 200, 500, 1000)
EVENTS_PER_BATCH = 1600
#: the scaling study: model sizes (with the dropout each size gets) x history lengths
SIZES = {
    "small": {"n_layers": 1, "n_heads": 1, "hidden_size": 32, "head_size": 32, "inner_size": 128,
              "hidden_dropout_prob": 0.1, "attn_dropout_prob": 0.1},
    "base": {},  # the defaults: 2 layers, 2 heads, 64 wide, dropout 0.2
    "large": {"n_layers": 4, "n_heads": 4, "hidden_size": 128, "head_size": 128, "inner_size": 512,
              "hidden_dropout_prob": 0.3, "attn_dropout_prob": 0.3},
}
SCALING_LENGTHS = (50, 200, 1000)
#: the core study (issue 16, item 1): the id-only core with one of SASRec's design choices at a time
#: (RecBole's SASRec.yaml: dropout 0.5, the input item embeddings as output vectors, the hidden state as the
#: query, learning rate 0.001), to find which of them the core's gap to SASRec comes from
SASREC_DROPOUT = {"hidden_dropout_prob": 0.5, "attn_dropout_prob": 0.5}
#: ARGUS's own encoder, the id-only default until session 38 (a constant learning rate: ``warmup_steps: auto``)
PRE_LN = {"norm_first": True}
#: the post-LayerNorm probes below were measured without a warm-up (``warmup_steps: auto`` gives them one now)
NO_WARMUP = {"warmup_steps": 0}
#: SASRec's loss: the exact softmax, no log Q (the defaults' exact softmax subtracts it, ``full_softmax_log_q``)
SASREC_LOSS = {"softmax": "full", "full_softmax_log_q": False}
SASREC_SCORING = {"item_output": "tied", "query_head": "linear"}
#: SASRec's scoring as ARGUSSASRecModel (lab.probes) runs it: the tied item embeddings, logits as raw dot products
SASREC_MODEL_SCORING = {"item_output": "tied", "temperature_init": 1.0, **NO_WARMUP}
SASREC_MODEL_TRAINING = {**SASREC_MODEL_SCORING, **SASREC_DROPOUT, "learning_rate": 0.001}
#: SASRec's choices together (besides its batch, which each layout sets): scoring, dropout, learning rate, the exact
#: full softmax, no weight average, temperature 1 (SASRec's logits are raw dot products)
SASREC_RECIPE = {**SASREC_SCORING, **SASREC_DROPOUT, "learning_rate": 0.001, **SASREC_LOSS, "ema_decay": 0,
                 "temperature_init": 1.0}


def as_set(*assignments):
    """Settings as ``row --set`` parses them (YAML: ``1e-4`` is a string there, which RecBole evaluates), so that a
    table row's run key is the key of the records its ``--set`` command trained."""
    return device_runs.parse_settings(list(assignments))


def adam_l2(weight_decay):
    """Adam's L2 term ``weight_decay`` on every weight, the item table included (``item_weight_decay: 0``, whose
    decoupled decay would replace it there), as ``row --set weight_decay=<w> item_weight_decay=0``."""
    return as_set(f"weight_decay={weight_decay}", "item_weight_decay=0")


def adamw(weight_decay):
    """RecBole's AdamW (decoupled weight decay) at ``weight_decay`` on every weight, the item table's included, as
    ``row --set learner=adamw weight_decay=<w> item_weight_decay=<w>``."""
    return as_set("learner=adamw", f"weight_decay={weight_decay}", f"item_weight_decay={weight_decay}")


#: (label, overrides of the id-only row, model: ARGUS or a probe of ``lab.probes``)
CORE_PROBES = (
    ("id-only core (ARGUS defaults)", {}, "ARGUS"),
    ("SASRec's dropout (0.5)", SASREC_DROPOUT, "ARGUS"),
    ("SASRec's scoring (tied output, linear query)", SASREC_SCORING, "ARGUS"),
    ("SASRec's scoring and dropout", {**SASREC_SCORING, **SASREC_DROPOUT}, "ARGUS"),
    ("SASRec's learning rate (0.001)", {"learning_rate": 0.001}, "ARGUS"),
    ("SASRec's encoder (post-LayerNorm)", NO_WARMUP, "ARGUSPostLN"),
    # a post-LayerNorm stack is known to need a warm-up at higher learning rates (Xiong et al., ICML 2020)
    ("SASRec's encoder, 400 warm-up steps", {"warmup_steps": 400}, "ARGUSPostLN"),
    ("SASRec's encoder and learning rate (0.001)", {"learning_rate": 0.001, **NO_WARMUP}, "ARGUSPostLN"),
    ("400 warm-up steps (ARGUS's encoder)", {"warmup_steps": 400}, "ARGUS"),
    ("no position embedding", {}, "ARGUSNoPositions"),
    ("overlapping chunks (every target with >= 40 earlier events, 5 x the compute)", {}, "ARGUSOverlappingChunks"),
    ("learning rate 0.01", {"learning_rate": 0.01}, "ARGUS"),
    ("8 rows a batch (4 x the steps)", {"train_batch_size": 8}, "ARGUS"),
    # the scaling study's large size lifted the 'everything' row on seed 2020 (200 events: 0.0943 against 0.0880)
    ("large size (4 layers, 4 heads, 128 wide, dropout 0.3)", SIZES["large"], "ARGUS"),
    # one pass shares a window (and its dropout mask) among its targets: more windows a step, less variance
    ("128 rows a batch (4 x the windows a step)", {"train_batch_size": 128}, "ARGUS"),
    # LightSANs reads each training prefix with no causal mask: earlier events are seen in the light of later ones
    ("bidirectional memory of finished 10-event blocks (2 x the tokens)", {}, "ARGUSBlockMemory"),
    # SASRec's choices together, ~2,000 targets a step (10 of a chunk's 50 positions carry loss)
    ("SASRec's recipe at once (its encoder, scoring, dropout, learning rate, full softmax, batch, windows)",
     {**SASREC_RECIPE, "train_batch_size": 200}, "ARGUSSASRecRecipe"),
    # without dropout one pass and a window per target give the same gradient: what is left is the data
    ("no dropout", {"hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0}, "ARGUS"),
    ("dropout 0.1", {"hidden_dropout_prob": 0.1, "attn_dropout_prob": 0.1}, "ARGUS"),
    ("the loss averaged over 4 dropout draws of each batch (4 x the compute)", {}, "ARGUSDropoutCopies"),
    ("the query also reads 5 causal interest pools of the earlier items (LightSANs' aggregation)", {},
     "ARGUSInterestPooling"),
    ("the query also reads the previous item's token (a direct item-to-item path)", {}, "ARGUSLastItem"),
    # the direct test of what one pass costs: SASRec's layout, every target encoded with its own window and
    # dropout mask, 2,048 targets a step as SASRec's batch (about MAX_ITEM_LIST_LENGTH x one pass's compute)
    ("a window per target (SASRec's layout, ~50 x the compute)", {"train_batch_size": 2048}, "ARGUSWindowPerTarget"),
    ("every user's chunks cut at a random place every epoch (instead of chunk_cuts' rotation)", {}, "ARGUSUserShifts"),
    # SASRec never trains a target with no history, and no test target is one: on amazon-games one in seven
    ("no next-item loss at a chunk's first event (a target with no history)", {}, "ARGUSNoEmptyTargets"),
    # the defaults train under the evaluation's history rule (session 31); before, each target's earlier items
    # were negatives of its softmax, which pushed them down: work the rule makes useless
    ("each target's earlier items kept in its softmax (loss_excludes_history=False)",
     {"loss_excludes_history": False}, "ARGUS"),
    # the simplified variant reaches the encoder through its event-fusion Linear even with nothing to fuse
    ("the item embedding as the event token (item plus position, no fusion layer: SASRec's input)", {},
     "ARGUSDirectItemToken"),
    # ARGUS's learning rate is constant; its validation is noisy enough that patience 5 ends some seeds on a dip
    ("the learning rate halved after each validation below the best (ReduceLROnPlateau, patience 0)",
     PRE_LN, "ARGUSPlateauDecay"),
    # the SASRec probes above kept the fusion and query Linears, which start small and grow slowly at SASRec's
    # learning rate; this is SASRec's model itself (token, encoder, scoring) on ARGUS's one pass
    ("SASRec's model on one pass (item-plus-position token, post-LayerNorm encoder, hidden state as query, tied "
     "output, temperature 1 fixed), its dropout and learning rate, no weight average",
     {**SASREC_MODEL_TRAINING, "ema_decay": 0}, "ARGUSSASRecModel"),
    ("SASRec's model on one pass, its dropout and learning rate, ARGUS's weight average", SASREC_MODEL_TRAINING,
     "ARGUSSASRecModel"),
    ("SASRec's token and scoring on ARGUS's pre-LayerNorm encoder, SASRec's dropout and learning rate",
     {**SASREC_MODEL_TRAINING, **PRE_LN}, "ARGUSHiddenQuery"),
    ("SASRec's model on one pass, ARGUS's dropout (0.2) and learning rate (0.005)", SASREC_MODEL_SCORING,
     "ARGUSSASRecModel"),
    # at 0.005 two of three ml-100k seeds collapse early (raw dot products over the exact full softmax)
    ("SASRec's model on one pass, ARGUS's dropout (0.2), learning rate 0.002", {**SASREC_MODEL_SCORING,
     "learning_rate": 0.002}, "ARGUSSASRecModel"),
    ("SASRec's model on one pass, SASRec's dropout (0.5), learning rate 0.002",
     {**SASREC_MODEL_SCORING, **SASREC_DROPOUT, "learning_rate": 0.002}, "ARGUSSASRecModel"),
    ("SASRec's model on one pass, SASRec's dropout (0.5), ARGUS's learning rate (0.005)",
     {**SASREC_MODEL_SCORING, **SASREC_DROPOUT}, "ARGUSSASRecModel"),
    ("SASRec's token and scoring on ARGUS's pre-LayerNorm encoder, ARGUS's dropout and learning rate",
     {**SASREC_MODEL_SCORING, **PRE_LN}, "ARGUSHiddenQuery"),
    # since session 38 the defaults above are SASRec's token and scoring (query_head: auto), since session 39 its
    # post-LayerNorm encoder with a 300-step warm-up (norm_first: auto)
    ("ARGUS's pre-LayerNorm encoder, no warm-up (the defaults of session 38)", PRE_LN, "ARGUS"),
    ("SASRec's encoder without a warm-up", {"warmup_steps": 0}, "ARGUS"),
    ("learning rate 0.002", {"learning_rate": 0.002}, "ARGUS"),
    # since session 41 the defaults' positions weigh the events through the attention logits (position_encoding:
    # auto, LightSANs' decoupled positions); before, they were added to the item tokens, as in SASRec
    ("positions added to the item tokens (SASRec's; the defaults of session 39)", {"position_encoding": "added"},
     "ARGUS"),
    ("a learned bias of each event pair's distance beside the positions' bias (T5's and HSTU's relative bias)", {},
     "ARGUSRelativePositions"),
    ("each layer's own position maps for the positions' bias (LightSANs'; the default shares one, as TUPE)", {},
     "ARGUSPerLayerPositions"),
    # session 51: RecBole's weight_decay is Adam's L2 term on every weight (the defaults have none)
    ("weight decay 1e-4 (RecBole's weight_decay: Adam's L2 term on every weight)", adam_l2("1e-4"),
     "ARGUS"),
)


def item_table_decay(weight_decay):
    """The core row of ARGUS at ``item_weight_decay: weight_decay``: (label, overrides, model). The default is 0.3
    since session 53 (the probe ``ARGUSItemTableDecay`` at ``adamw(0.3)`` in session 52)."""
    label = ("no weight decay on the item table (the defaults before session 53)" if weight_decay == 0
             else f"decoupled weight decay {weight_decay} on the item table")
    return label, as_set(f"item_weight_decay={weight_decay}"), "ARGUS"


#: the defaults before session 53, a row on every dataset
NO_ITEM_TABLE_DECAY = item_table_decay(0)
#: probes of the sampled softmax (the catalogues above ``full_softmax_max_items``)
SAMPLED_SOFTMAX_PROBES = (
    ("exact full softmax less the sampled softmax's log Q (the defaults' loss up to full_softmax_max_items)",
     {"softmax": "full"}, "ARGUS"),
    ("exact full softmax (SASRec's loss)", SASREC_LOSS, "ARGUS"),
    ("exact full softmax (no log Q) with labels smoothed by 0.1", {"softmax": "full"}, "ARGUSLabelSmoothing"),
)
#: probes of the exact softmax the defaults train on catalogues up to ``full_softmax_max_items`` (ml-100k's 1,682
#: items, ml-latest-small's 9.7k), whose logits carry the sampled softmax's log Q since session 45
EXACT_SOFTMAX_PROBES = (
    ("no log Q on the exact softmax (SASRec's loss; the defaults before session 45)", {"full_softmax_log_q": False},
     "ARGUS"),
    ("labels smoothed by 0.1 on the exact softmax without log Q", {}, "ARGUSLabelSmoothing"),
    # session 53: the defaults before the item table's weight decay (chosen on amazon-games' validation, session 52)
    NO_ITEM_TABLE_DECAY,
)
DATASET_CORE_PROBES = {
    "ml-100k": EXACT_SOFTMAX_PROBES,
    "ml-latest-small": EXACT_SOFTMAX_PROBES + (
        ("the logQ-corrected sampled softmax (the defaults of sessions 41-44 here)", {"softmax": "sampled"}, "ARGUS"),
        ("labels smoothed by 0.05 on the exact softmax without log Q", {}, "ARGUSLightLabelSmoothing"),
        ("SASRec's model on one pass, its dropout, learning rate and loss (the exact full softmax)",
         {**SASREC_MODEL_TRAINING, **SASREC_LOSS}, "ARGUSSASRecModel"),
        # session 52: decoupled weight decay on every weight; session 53: the sampled softmax without item-table decay
        ("decoupled weight decay 0.3 on every weight (AdamW)", adamw(0.3), "ARGUS"),
        (f"the logQ-corrected sampled softmax, {NO_ITEM_TABLE_DECAY[0]}",
         {"softmax": "sampled", **NO_ITEM_TABLE_DECAY[1]}, "ARGUS"),
        item_table_decay(0.1),
        item_table_decay(1.0),
    ),
    # amazon-games' windows are short (~7 to a packed 50-slot row), so 2,048 rows would be ~14,600 targets a step
    # and ~23 steps an epoch; 290 rows give SASRec's ~2,048 targets a step
    "amazon-games": SAMPLED_SOFTMAX_PROBES + (
        ("no weight average (SASRec validates its raw weights)", {"ema_decay": 0}, "ARGUS"),
        ("a window per target, ~2,048 targets a step (SASRec's layout and batch)", {"train_batch_size": 290},
         "ARGUSWindowPerTarget"),
        ("a window per target, ~2,048 targets a step, exact full softmax (SASRec's layout, batch and loss)",
         {"train_batch_size": 290, **SASREC_LOSS}, "ARGUSWindowPerTarget"),
        ("SASRec's recipe on SASRec's layout (a window per target, ~2,048 targets a step, its encoder, scoring, "
         "dropout, learning rate, full softmax)",
         {**SASREC_RECIPE, "train_batch_size": 290}, "ARGUSSASRecWindows"),
        ("SASRec's recipe on SASRec's layout with SASRec's input token (item plus position, no fusion layer)",
         {**SASREC_RECIPE, "train_batch_size": 290}, "ARGUSSASRecDirectWindows"),
        # RecBole's LightSANs has no causal mask: each prefix's events are read in the light of the later ones
        ("a window per target read without the causal mask, the target hidden (LightSANs' view of a prefix)",
         {"train_batch_size": 290}, "ARGUSBidirectionalWindows"),
        ("4,096 uniform negatives (16 x; about 3 x a step's candidates, nearer the full softmax)",
         {"uniform_negatives": 4096}, "ARGUS"),
        # session 50: the core peaks after ~900 steps and overfits; what acts on that
        ("item ids through the unified hashed table (3 rows an id, no features)", {"item_hash_buckets": 65536},
         "ARGUS"),
        ("a longer weight average (ema_decay 0.998)", {"ema_decay": 0.998}, "ARGUS"),
        ("one layer", {"n_layers": 1}, "ARGUS"),
        ("twice the width (128)", {"hidden_size": 128, "head_size": 128, "inner_size": 512}, "ARGUS"),
        ("DuoRec's contrastive term between two dropout draws of each query (2 x the encoder's compute)", {},
         "ARGUSContrastive"),
        ("weight decay 1e-5", adam_l2("1e-5"), "ARGUS"),
        ("weight decay 1e-3", adam_l2("1e-3"), "ARGUS"),
        ("exact full softmax (SASRec's loss) and weight decay 1e-4", {**SASREC_LOSS, **adam_l2("1e-4")},
         "ARGUS"),
        # session 52: the learning rate's schedule, an output bias, decoupled weight decay and where it acts
        ("the rate decaying as 1 / sqrt(step) after the warm-up (the Transformer's schedule)", {},
         "ARGUSInverseSqrtDecay"),
        ("a learned bias per item on every next-item logit (BERT4Rec's output bias)", {}, "ARGUSItemBias"),
        ("decoupled weight decay 0.1 on every weight (AdamW)", adamw(0.1), "ARGUS"),
        ("decoupled weight decay 0.3 on every weight (AdamW)", adamw(0.3), "ARGUS"),
        ("decoupled weight decay 0.3 on every weight but the item table (AdamW)", adamw(0.3), "ARGUSEncoderDecay"),
        NO_ITEM_TABLE_DECAY,
        item_table_decay(0.1),
        item_table_decay(1.0),
    ),
}


def core_probes(dataset):
    """The core study's rows on ``dataset``: the defaults, the dataset's own probes, SASRec's choices."""
    return CORE_PROBES[:1] + DATASET_CORE_PROBES.get(dataset, ()) + CORE_PROBES[1:]


# ----------------------------------------------------------------------------- settings of a row
def protocol_files(dataset):
    return [str(CONFIGS / "seq.yaml"), str(CONFIGS / f"seq_{dataset}.yaml")]


def trained_class(builtin):
    """The model class a built-in's row trains (:data:`BUILTIN_CLASSES`, else the built-in itself)."""
    return BUILTIN_CLASSES.get(builtin, builtin)


def model_files(model, dataset):
    """The protocol files, then ``seq_models/<dataset>/<model>.yaml`` when it exists (the benchmark's rule)."""
    path = CONFIGS / "seq_models" / dataset / f"{model}.yaml"
    return protocol_files(dataset) + ([str(path)] if path.is_file() else [])


def _yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def everything(dataset):
    """Every ablated setting as ARGUS runs it with the dataset's ARGUS.yaml (its defaults otherwise)."""
    defaults = {}
    for path in registry.model_yamls("ARGUS"):
        defaults.update(_yaml(path))
    for path in model_files("ARGUS", dataset):
        defaults.update(_yaml(path))
    return {key: defaults[key] for key in OFF}


def row_settings(dataset, step, extra=None):
    """Ablated settings of ladder row ``step`` (steps ``<= step`` on, later ones off), then ``extra``."""
    full = everything(dataset)
    settings = dict(OFF)
    for _, keys in STEPS[1 : step + 1]:
        settings.update({key: full[key] for key in keys})
    settings.update(extra or {})
    return settings


def as_overrides(dataset, settings):
    """The overrides that turn the dataset's ARGUS.yaml into ``settings``: only what differs, so the same
    settings are always the same overrides (and the same record)."""
    full = everything(dataset)
    return {**OVERRIDES, **{key: value for key, value in settings.items() if full.get(key) != value}}


def step_applies(dataset, step):
    """A step is run when it changes something on this dataset (its settings are on in ARGUS.yaml)."""
    _, keys = STEPS[step]
    full = everything(dataset)
    return step == 0 or any(full[key] != OFF[key] for key in keys)


# ----------------------------------------------------------------------------- runs
class Runner:
    """Runs (or finds) records; ``cached_only`` never trains, built-ins train only with ``train_builtins``."""

    def __init__(self, cached_only=False, train_builtins=False):
        self.cached_only = cached_only
        self.train_builtins = train_builtins

    def record(self, model, dataset, files, overrides, seed, may_train=True):
        ensure_dataset(dataset)
        if self.cached_only or not may_train:
            return runs.find_record(runs.run_key(model, dataset, files, overrides, seed))
        started = time.time()
        record = resumable.cached_run(model, dataset, files, overrides, seed, study=STUDY)
        if time.time() - started > 5:
            print(f"trained {record['key']}: test {METRIC} {record['test_result'][METRIC]:.4f}, "
                  f"{record['epochs']} epochs, {record['seconds_per_epoch']:.1f} s/epoch", flush=True)
        return record

    def builtin(self, model, dataset, seed):
        """A built-in's record: trained here, else trained on the GPU machine (:mod:`lab.device_runs`), else
        trained now with ``train_builtins`` (never with ``cached_only``), else None."""
        files, overrides = model_files(model, dataset), dict(OVERRIDES)
        found = self.record(trained_class(model), dataset, files, overrides, seed, may_train=False)
        found = found or self.builtin_elsewhere(model, dataset, seed)
        if found is None and self.train_builtins:
            found = self.record(trained_class(model), dataset, files, overrides, seed)
        return found

    def builtin_elsewhere(self, model, dataset, seed):
        """The built-in's current record trained on the GPU machine, or None."""
        return device_runs.find_record(trained_class(model), dataset, model_files(model, dataset), dict(OVERRIDES), seed)

    def argus(self, dataset, settings, seed, files=None, model="ARGUS"):
        """An ARGUS row (``model``: ARGUS, or a probe of ``lab.probes`` that reads ARGUS's files)."""
        files = files or model_files("ARGUS", dataset)
        return self.record(model, dataset, files, as_overrides(dataset, settings), seed)


def seeds_of(count):
    return [runs.SEED_BASE + index for index in range(count)]


def run_rows(runner, rows, seeds, seed_order):
    """``rows``: label -> callable(seed) -> record or None. Returns label -> {seed: record or None}."""
    found = {label: {} for label in rows}
    order = [(s, label) for s in seeds for label in rows] if seed_order == "first" else [
        (s, label) for label in rows for s in seeds]
    for seed, label in order:
        found[label][seed] = rows[label](seed)
    return found


# ----------------------------------------------------------------------------- table cells
def _values(records, key=METRIC, part="test_result"):
    return {seed: r[part][key] for seed, r in records.items() if r is not None and key in r.get(part, {})}


def _cell(values, digits=4):
    return mean_std(list(values.values()), digits) if values else "missing"


def _seeds_cell(records):
    done = [r for r in records.values() if r is not None]
    return f"{len(done)} of {len(records)}"


def _epochs_cell(records):
    return ", ".join(str(r["epochs"]) if r else "-" for r in records.values())


def _seconds(records):
    """Mean seconds per epoch of the records trained on this kind of machine (a GPU's times are not comparable)."""
    values = [r["seconds_per_epoch"] for r in records.values() if device_runs.trained_here(r)]
    return statistics.mean(values) if values else None


def _trained_on_cell(records):
    """Where a row's seeds were trained: ``CPU``, or the device and its seeds' count for records from elsewhere."""
    places = ["CPU" if device_runs.trained_here(r) else r["environment"]["device"] for r in records.values() if r]
    counts = {place: places.count(place) for place in dict.fromkeys(places)}
    return ", ".join(place if count == len(places) else f"{place} ({count})" for place, count in counts.items())


def _fmt(value, digits=3):
    return "missing" if value is None else f"{value:.{digits}g}"


def _mean(values):
    return statistics.mean(values.values()) if values else None


def _ratio(value, reference):
    return "n/a" if value is None or not reference else f"{value / reference:.3f}"


def versus_cells(values, reference):
    """``values`` (seed -> test figure) against a built-in's ``reference``: the ratio of their means over the seeds
    both have, and the paired difference."""
    shared = [seed for seed in values if seed in reference]
    if not shared:
        return "n/a", "n/a"
    ratio = _ratio(statistics.mean(values[s] for s in shared), statistics.mean(reference[s] for s in shared))
    return ratio, paired_difference(values, reference)


def _per_seed(values, seeds):
    return ", ".join(f"{values[s]:.4f}" if s in values else "-" for s in seeds)


def write_table(name, rows, command, notes=()):
    """``results/argus/<name>.md`` (command, notes, table) and ``.csv``; returns the markdown."""
    header = list(dict.fromkeys(column for row in rows for column in row))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row.get(h, "")) for h in header) + " |" for row in rows]
    table = "\n".join(lines)
    text = f"Command: `{command}`\n\n{table}\n" + "".join(f"\n{note}\n" for note in notes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text_atomically(RESULTS / f"{name}.md", text)
    with atomic_path(RESULTS / f"{name}.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return text


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------------------- head-to-head
def builtin_rule_values(dataset, label, records, window):
    """Test NDCG@10 per seed under the built-ins' ``BUILTIN_WINDOW``-event history rule: the record's own
    figure when the row's window is that wide, else what ``lab.history_window`` measured for the seed."""
    if window == BUILTIN_WINDOW:
        return _values(records)
    path = RESULTS / f"history_window_{dataset}.jsonl"
    measured = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    rule = f"last {BUILTIN_WINDOW} events rule"
    by_seed = {}
    for seed, record in records.items():
        for m in measured:
            if record is not None and m["row"] == label and m["seed"] == seed and _measures(m, record):
                by_seed[seed] = m[rule][METRIC]
    return by_seed


def _measures(measured, record):
    """Whether a ``lab.history_window`` line measured ``record``'s run: its run key, or, on lines written before
    they carried one, its own-rule test figure equal to the record's."""
    if "key" in measured:
        return measured["key"] == record["key"]
    return measured["own rule"][METRIC] == record["test_result"][METRIC]


RULE_NOTE = (
    f"The history rule masks each row's own history window; ratios, paired differences and targets compare every "
    f"row under the built-ins' {BUILTIN_WINDOW}-event rule, which for a row with a wider window is measured by "
    "retraining its seed and testing the same weights under both rules (`python -m lab.history_window`); a seed "
    "not measured that way is left out of that row's figures."
)
SASRECF_NOTE = (
    "SASRecF has no record yet. It runs as `lab.baselines.SASRecFLoadable`, RecBole's SASRecF whose checkpoints "
    "leave the pickled feature layer out (RecBole's own stop at the library's checkpoint loader, which refuses "
    "it; the weights are in the state dict either way), and costs SASRec's epoch: train it with "
    "`--train_builtins`, or on a GPU machine with `python -m lab.device_runs --runs=SASRecF:<dataset>:<seed>`."
)
DEVICE_NOTE = (
    "Seeds marked with a GPU under 'trained on' are the same runs trained on a GPU machine lent to a session "
    "(`python -m lab.device_runs`, docs/scaling.md): same protocol, files and code, under that machine's "
    "torch/numpy/scipy. Their times are left out of 's/epoch (CPU)', every time ratio and the plot."
)


def machine_check_note(dataset, runner, found):
    """The built-in seeds trained on both machines, side by side (test / best valid / epochs), or None."""
    pairs = []
    for model in BUILTINS:
        for seed, here in found[model].items():
            there = runner.builtin_elsewhere(model, dataset, seed) if device_runs.trained_here(here) else None
            if there is not None:
                pairs.append(f"{model} seed {seed} " + " / ".join(
                    f"{r['test_result'][METRIC]:.4f} (valid {r['best_valid_result']['mrr@10']:.4f}, {r['epochs']} "
                    f"epochs)" for r in (here, there)))
    if not pairs:
        return None
    return "Trained on the CPU / on the GPU: " + "; ".join(pairs) + "."


#: the query heads a target-context row is chosen among on validation (name -> settings): ``query_head: auto``'s
#: MLP over the previous state and the target's context, and the hidden state plus the target's context (SASRec's
#: scoring with the context added). ml-100k's validation preferred the MLP (session 46), ml-latest-small's the
#: hidden state (session 47: 0.0895 against 0.0802, the MLP learning slowly there).
TARGET_CONTEXT_QUERIES = {"auto": {}, "hidden state query": {"query_head": "hidden"}}

#: the item-table decay a chosen row is trained with, chosen on validation too (name -> settings): the default
#: ``item_weight_decay`` (chosen on the id-only core's validation, sessions 52-53) or none; ml-100k's
#: target-context row lost validation with it (session 53)
ITEM_TABLE_DECAYS = {"item-table decay": {}, "no item-table decay": {"item_weight_decay": 0}}

#: how many of the target-context row's candidates (four a rung) go on from seed 2020's validation to every seed's:
#: one seed ranks candidates inside the noise (ml-100k, session 55: seed 2020's best target-context candidate is the
#: worst of the three screened on three seeds' mean validation), and every seed of all twelve would triple their cost
SCREENED = 3


def validation_score(dataset, runner, settings, seeds):
    """The mean best validation MRR@10 of a row's runs over ``seeds``; None until all of them exist (``runner``
    trains them unless it is cached-only)."""
    records = [runner.argus(dataset, settings, seed) for seed in seeds]
    if any(record is None for record in records):
        return None
    return statistics.mean(record["best_valid_result"]["mrr@10"] for record in records)


def _scores(dataset, runner, candidates, seeds):
    scores = {name: validation_score(dataset, runner, settings, seeds) for name, settings in candidates.items()}
    return None if None in scores.values() else scores


def best_on_validation(dataset, runner, candidates, seeds, keep=None):
    """Of ``candidates`` (name -> settings), the name with the best :func:`validation_score` over ``seeds``; with
    ``keep``, only the ``keep`` best on the first seed's validation go on to the other seeds. None until the runs
    it needs exist or when there is no candidate."""
    if keep is not None and len(candidates) > keep:
        first = _scores(dataset, runner, candidates, seeds[:1])
        if first is None:
            return None
        candidates = {name: candidates[name] for name in sorted(first, key=first.get, reverse=True)[:keep]}
    scores = _scores(dataset, runner, candidates, seeds)
    return max(scores, key=scores.get) if scores else None


def rungs_under_builtin_window(dataset):
    """The ablation ladder's steps a chosen row may take: those that run on the dataset and keep the built-ins'
    history window (so that their validation figures are under the same history rule), the target-context
    step excepted (the target-context row adds it itself)."""
    return [step for step in range(len(STEPS) - 1)
            if step_applies(dataset, step) and row_settings(dataset, step)["MAX_ITEM_LIST_LENGTH"] == BUILTIN_WINDOW]


def chosen_step(dataset, runner, seeds):
    """The rung ARGUS without target context is run with when its settings are chosen on validation: of
    :func:`rungs_under_builtin_window`, the one with the best validation MRR@10 averaged over ``seeds`` (the
    head-to-head's, which the ablation ladder trains too: one seed's validation ranks the rungs inside the noise,
    session 54); None until those runs exist."""
    candidates = {step: row_settings(dataset, step) for step in rungs_under_builtin_window(dataset)}
    return best_on_validation(dataset, runner, candidates, seeds)


def _rung(step):
    return STEPS[step][0].lstrip("+ ")


def _chosen_label(description):
    return f"ARGUS chosen on validation ({description})"


def target_context_candidates(dataset):
    """Every target-context row the head-to-head may choose (label suffix -> (step, extra)): each rung of
    :func:`rungs_under_builtin_window` whose events carry context, with each query head and item-table decay;
    none when the dataset's ARGUS.yaml leaves the target's context off."""
    target_context = {"use_target_context": everything(dataset)["use_target_context"]}
    if not target_context["use_target_context"]:
        return {}
    candidates = {}
    for step in (step for step in rungs_under_builtin_window(dataset) if knows_context(dataset, step)):
        for query, query_settings in TARGET_CONTEXT_QUERIES.items():
            for decay, decay_settings in ITEM_TABLE_DECAYS.items():
                named = [name for name, settings in ((query, query_settings), (decay, decay_settings)) if settings]
                label = ", ".join([f"{_rung(step)} + target context", *named])  # the defaults go unnamed
                candidates[label] = step, {**target_context, **query_settings, **decay_settings}
    return candidates


def chosen_target_context_row(dataset, runner, seeds):
    """The target-context row (label, step, extra) with the best validation among
    :func:`target_context_candidates` (rung, query head and item-table decay chosen together): the :data:`SCREENED`
    best on the first seed's validation, then the best mean over ``seeds``; None until their runs exist or when
    there is none."""
    candidates = target_context_candidates(dataset)
    label = best_on_validation(
        dataset, runner, {name: row_settings(dataset, *candidate) for name, candidate in candidates.items()}, seeds,
        keep=SCREENED)
    return None if label is None else (_chosen_label(label), *candidates[label])


def with_chosen_decay(dataset, runner, description, step, extra, seeds):
    """The row (label, step, extra) with the item-table decay of :data:`ITEM_TABLE_DECAYS` whose validation
    averaged over ``seeds`` is best (the label, ``description`` and the decay when it is not the default), or None
    until the runs exist."""
    candidates = {name: row_settings(dataset, step, {**extra, **decay}) for name, decay in ITEM_TABLE_DECAYS.items()}
    decay = best_on_validation(dataset, runner, candidates, seeds)
    if decay is None:
        return None
    suffix = f", {decay}" if ITEM_TABLE_DECAYS[decay] else ""  # the default's settings are empty
    return _chosen_label(description + suffix), step, {**extra, **ITEM_TABLE_DECAYS[decay]}


def chosen_rows(dataset, runner, seeds):
    """Head-to-head rows (label, step, extra) of the settings chosen on validation averaged over ``seeds``: the rung
    without the target's context (:func:`chosen_step`) with its item-table decay (:func:`with_chosen_decay`), and,
    as far as the dataset's ARGUS.yaml uses the target's context, the target-context row
    (:func:`chosen_target_context_row`, any rung whose events carry context)."""
    step = chosen_step(dataset, runner, seeds)
    if step is None:
        return ()
    name = _rung(step) + (", use_target_context=False" if knows_context(dataset, step) else "")
    rows = (chosen_target_context_row(dataset, runner, seeds), with_chosen_decay(dataset, runner, name, step, {}, seeds))
    return tuple(row for row in rows if row is not None)


def knows_context(dataset, step):
    """Whether the events of an ablation step's row carry any context a query could read: time-derived (the
    step's settings) or ``context_fields`` (the dataset's ARGUS.yaml; no step switches them)."""
    settings = row_settings(dataset, step)
    return bool(settings["time_context"] or settings["absolute_time_context"] or everything(dataset).get("context_fields"))


def head_to_head(dataset, runner, n_seeds, seed_order):
    """ARGUS id-only / everything / everything without target context against the built-ins."""
    seeds = seeds_of(n_seeds)
    rows, windows = {}, {model: BUILTIN_WINDOW for model in BUILTINS}
    for label, step, extra in HEAD_TO_HEAD + chosen_rows(dataset, runner, seeds):
        settings = row_settings(dataset, step, extra)
        rows[label] = lambda seed, settings=settings: runner.argus(dataset, settings, seed)
        windows[label] = settings["MAX_ITEM_LIST_LENGTH"]
    for model in BUILTINS:
        rows[model] = lambda seed, model=model: runner.builtin(model, dataset, seed)
    found = run_rows(runner, rows, seeds, seed_order)

    test = {label: _values(records) for label, records in found.items()}
    # ratios, paired differences and targets compare every row under one history rule, the built-ins'
    fair = {label: builtin_rule_values(dataset, label, records, windows[label]) for label, records in found.items()}
    means = {label: _mean(values) for label, values in fair.items()}
    present = [m for m in BUILTINS if means[m] is not None]
    best = max(present, key=lambda m: means[m]) if present else None
    best_sl = max((m for m in ("SASRec", "LightSANs") if means[m] is not None), key=lambda m: means[m], default=None)
    sasrec_seconds = _seconds(found["SASRec"])
    table = []
    for label, records in found.items():
        seconds = _seconds(records)
        own_rule_only = windows[label] != BUILTIN_WINDOW
        row = {
            "model": label,
            "seeds": _seeds_cell(records),
            "history window": windows[label],
            f"test {METRIC}, own history rule": _cell(test[label]) + (" (wider rule)" if own_rule_only else ""),
            f"test {METRIC}, built-ins' {BUILTIN_WINDOW}-event rule": (
                _cell(fair[label]) if fair[label] or not own_rule_only else "not measured"),
            f"per seed ({BUILTIN_WINDOW}-event rule)": _per_seed(fair[label], seeds),
            f"x best built-in ({best or 'none yet'})": _ratio(means[label], means.get(best)),
            f"x better of SASRec/LightSANs ({best_sl or 'none yet'})": _ratio(means[label], means.get(best_sl)),
            f"- {best or 'best built-in'}, paired (± s.e.)": (
                paired_difference(fair[label], fair[best]) if best and label != best else ""),
            "best valid mrr@10": _cell(_values(records, "mrr@10", "best_valid_result")),
            f"test {METRIC}, no history rule": _cell(_values(records, METRIC, "unfiltered_test_result")),
            "epochs (per seed)": _epochs_cell(records),
            "trained on": _trained_on_cell(records),
            "s/epoch (CPU)": _fmt(seconds),
            "x SASRec s/epoch": _ratio(seconds, sasrec_seconds),
        }
        table.append(row)
    notes = [targets_line(dataset, means, found, best, best_sl, sasrec_seconds, fair), RULE_NOTE]
    if any(not device_runs.trained_here(r) for records in found.values() for r in records.values() if r):
        notes.append(DEVICE_NOTE)
    check = machine_check_note(dataset, runner, found)
    if check:
        notes.append(check)
    if not any(found["SASRecF"].values()):
        notes.append(SASRECF_NOTE)
    if dataset == "amazon-games":
        notes.append("On amazon-games nothing is known about a request but its history, so 'everything' has no "
                     "target context and the use_target_context=False row is the same run.")
    command = f"python -m lab.argus_study head2head --dataset={dataset} --seeds={n_seeds}"
    text = write_table(f"head2head_{dataset}", table, command, notes)
    plot_head_to_head(dataset, found)
    return text


def targets_line(dataset, means, found, best, best_sl, sasrec_seconds, fair):
    """The issue's targets, every row under the built-ins' history rule (``fair``: label -> {seed: value})."""

    def verdict(label, reference, factor):
        value = means[label]
        if value is None or not reference:
            return "not measured yet"
        met = "met" if value >= factor * reference else "missed"
        return f"{value / reference:.3f} x ({met}, target {factor:.2f} x; {len(fair[label])} seeds)"

    parts = [
        f"id-only vs better of SASRec/LightSANs: {verdict('ARGUS id-only', means.get(best_sl), 1.0)}",
        f"everything vs best built-in: {verdict('ARGUS everything', means.get(best), 1.10)}",
        "everything, use_target_context=False vs best built-in: "
        + verdict("ARGUS everything, use_target_context=False", means.get(best), 1.0),
    ]
    for label in (label for label in found if label.startswith("ARGUS chosen")):
        factor = 1.10 if "+ target context" in label else 1.0  # a row without it need not beat 1.10
        parts.append(f"{label} vs best built-in: {verdict(label, means.get(best), factor)}")
    argus_seconds = [_seconds(records) for label, records in found.items() if label.startswith("ARGUS") and _seconds(records)]
    if argus_seconds and sasrec_seconds:
        worst = max(argus_seconds) / sasrec_seconds
        parts.append(f"ARGUS epoch time / SASRec's: at most {worst:.3f} ({'met' if worst <= 0.1 else 'missed'}, target 0.1)")
    else:
        parts.append("epoch time vs SASRec: not measured yet")
    built = ", ".join(f"{m} {_seeds_cell(found[m])} seeds" for m in BUILTINS)
    return f"Targets ({dataset}; built-in records present: {built}): " + "; ".join(parts) + "."


def plot_head_to_head(dataset, found):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for index, (label, records) in enumerate(found.items()):
        for k, record in enumerate(r for r in records.values() if device_runs.trained_here(r)):
            xs = [p["seconds"] for p in record["curve"]]
            ys = [p["valid"].get("mrr@10") for p in record["curve"]]
            ax.plot(xs, ys, marker=".", color=f"C{index}", alpha=1.0 if k == 0 else 0.35, label=label if k == 0 else None)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("training wall time (s, CPU)")
    ax.set_ylabel("validation MRR@10")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save_figure(plt, fig, f"{dataset}: validation against training time", f"head2head_{dataset}.png")


# ----------------------------------------------------------------------------- ablation
def ablation(dataset, runner, n_seeds, seed_order):
    seeds = seeds_of(n_seeds)
    rows, skipped = {}, {}
    for step, (label, _) in enumerate(STEPS):
        if step_applies(dataset, step):
            settings = row_settings(dataset, step)
            rows[label] = lambda seed, settings=settings: runner.argus(dataset, settings, seed)
        else:
            skipped[label] = NOT_APPLICABLE.get(dataset, {}).get(label, "off in this dataset's ARGUS.yaml")
    found = run_rows(runner, rows, seeds, seed_order)
    table, previous = [], None
    for step, (label, _) in enumerate(STEPS):
        if label in skipped:
            table.append({"row": label, "seeds": "not run", f"test {METRIC}": skipped[label]})
            continue
        records = found[label]
        test = _values(records)
        row = {
            "row": label,
            "overrides of ARGUS.yaml": ", ".join(f"{k}={v}" for k, v in as_overrides(dataset, row_settings(dataset, step)).items()
                                                 if k not in OVERRIDES) or "none",
            "seeds": _seeds_cell(records),
            f"test {METRIC}": _cell(test),
            f"test {METRIC} per seed": _per_seed(test, seeds),
            "best valid mrr@10": _cell(_values(records, "mrr@10", "best_valid_result")),
            "- row above, paired (± s.e.)": paired_difference(test, previous) if previous is not None else "",
            "epochs (per seed)": _epochs_cell(records),
            "s/epoch": _fmt(_seconds(records)),
        }
        table.append(row)
        previous = test
    command = f"python -m lab.argus_study ablation --dataset={dataset} --seeds={n_seeds}"
    notes = ["Each row adds its settings to the row above (values from "
             f"lab/configs/seq_models/{dataset}/ARGUS.yaml); the last row is that file as it is.",
             "Each row is tested under its own history rule: the '+ longer history' step also widens the rule "
             "(the items of the last 200 events are masked instead of 50), so part of its gain is the wider mask "
             "(python -m lab.history_window)."]
    return write_table(f"ablation_{dataset}", table, command, notes)


# ----------------------------------------------------------------------------- the id-only core against SASRec
def _probe_cell(overrides, model):
    cell = ", ".join(f"{k}={v}" for k, v in overrides.items())
    if model != "ARGUS":
        cell = ", ".join(filter(None, [f"model {model} (lab.probes)", cell]))
    return cell or "none"


def core(dataset, runner, n_seeds, seed_order):
    """The id-only core with one change a row (:func:`core_probes`: SASRec's design choices, the probe models of
    :mod:`lab.probes`, other settings), beside SASRec and LightSANs."""
    notes = ["Every ARGUS row is the head-to-head's id-only row (item ids only, the history rule, patience 5) "
             "with the overrides shown; SASRec and LightSANs are the head-to-head's records (never trained here)."]
    return probe_table("core", dataset, runner, n_seeds, seed_order, 0, core_probes(dataset),
                       ("SASRec", "LightSANs"), notes, versus="LightSANs")


#: the 200-event "everything" rows with and without ``chunk_cuts``' rotation (which leaves a history of at most
#: one chunk whole): (label, overrides, model)
CUT_PROBES = (
    ("everything, chunk_cuts=1", {"chunk_cuts": 1}, "ARGUS"),
    ("everything (chunk_cuts=5)", {}, "ARGUS"),
    ("everything without target context, chunk_cuts=1", {"use_target_context": False, "chunk_cuts": 1}, "ARGUS"),
    ("everything without target context (chunk_cuts=5)", {"use_target_context": False}, "ARGUS"),
)


#: each rotated row paired with the same information's row without the rotation
CUT_PAIRS = {CUT_PROBES[1][0]: CUT_PROBES[0][0], CUT_PROBES[3][0]: CUT_PROBES[2][0]}


def cuts(dataset, runner, n_seeds, seed_order):
    """The "everything" rows (the dataset's full history window) with and without ``chunk_cuts``' rotation."""
    notes = ["Every row is the head-to-head's 'everything' row (its own history window and rule, patience 5) with "
             "the overrides shown; test figures under the row's own history rule (no built-in shares it); each "
             "chunk_cuts=5 row is paired with the chunk_cuts=1 row of the same information."]
    return probe_table("cuts", dataset, runner, n_seeds, seed_order, len(STEPS) - 1, CUT_PROBES,
                       (), notes, CUT_PAIRS)


def _paired_cell(test, label, reference, named):
    """``label``'s paired difference with its reference row (blank without one), naming that row if ``named``."""
    if label not in reference:
        return ""
    difference = paired_difference(test[label], test[reference[label]])
    return f"{difference} vs {reference[label]}" if named else difference


def probe_table(table_name, dataset, runner, n_seeds, seed_order, step, probes, builtins, notes, pairs=None,
                versus=None):
    """Rows of ablation step ``step`` with one change each (``probes``: label, overrides, model), beside the
    ``builtins``' head-to-head records; each row is paired with ``pairs[label]`` (a row with the same
    information) where given, otherwise with the first row, and with the built-in ``versus`` where given."""
    seeds = seeds_of(n_seeds)
    rows = {}
    for label, extra, model in probes:
        settings = row_settings(dataset, step, extra)
        rows[label] = lambda seed, settings=settings, model=model: runner.argus(dataset, settings, seed, model=model)
    for model in builtins:
        rows[model] = lambda seed, model=model: runner.builtin(model, dataset, seed)
    found = run_rows(runner, rows, seeds, seed_order)
    test = {label: _values(records) for label, records in found.items()}
    first_label = probes[0][0]
    reference = pairs if pairs is not None else {label: first_label for label in found if label != first_label}
    paired_column = f"- {first_label}, paired (± s.e.)" if pairs is None else "- the same information's row, paired (± s.e.)"
    table = []
    for (label, records), probe in zip(found.items(), list(probes) + [None] * len(builtins)):
        table.append({
            "row": label,
            "overrides of the id-only row" if step == 0 else "overrides":
                "built-in, RecBole defaults" if probe is None else _probe_cell(*probe[1:]),
            "seeds": _seeds_cell(records),
            f"test {METRIC}": _cell(test[label]),
            f"test {METRIC} per seed": _per_seed(test[label], seeds),
            paired_column: _paired_cell(test, label, reference, named=pairs is not None),
            "best valid mrr@10": _cell(_values(records, "mrr@10", "best_valid_result")),
            "epochs (per seed)": _epochs_cell(records),
            "s/epoch": _fmt(_seconds(records)),
        })
        if versus is not None:
            ratio, paired = versus_cells(test[label], test[versus]) if label != versus else ("", "")
            table[-1].update({f"x {versus} (shared seeds)": ratio, f"- {versus}, paired (± s.e.)": paired})
    command = f"python -m lab.argus_study {table_name} --dataset={dataset} --seeds={n_seeds}"
    return write_table(f"{table_name}_{dataset}", table, command, notes)


# ----------------------------------------------------------------------------- long histories and scaling
def length_settings(length, size=None):
    """The ml-latest-small 'everything' row with ``length``-event histories (``EVENTS_PER_BATCH`` events
    a batch) and the model ``size``."""
    settings = row_settings(HISTORY_DATASET, len(STEPS) - 1)
    settings.update({"MAX_ITEM_LIST_LENGTH": length, "train_batch_size": max(1, round(EVENTS_PER_BATCH / length))})
    return settings, dict(SIZES[size or "base"])


def length_overrides(length, size=None):
    """The run overrides of the history / scaling row with ``length``-event histories and model ``size``."""
    settings, sizes = length_settings(length, size)
    return {**as_overrides(HISTORY_DATASET, settings), **sizes}


def length_label(length, size=None):
    """The history / scaling study's row name (also its rows' name in ``lab.history_window``'s results)."""
    sized = "" if size in (None, "base") else f"{size} size, "
    return f"ARGUS everything, {sized}{length}-event history"


def _length_run(runner, length, size, seed):
    overrides = length_overrides(length, size)
    return runner.record("ARGUS", HISTORY_DATASET, model_files("ARGUS", HISTORY_DATASET), overrides, seed)


def history(runner, n_seeds, seed_order, lengths=HISTORY_LENGTHS):
    seeds = seeds_of(n_seeds)
    rows = {length: (lambda seed, length=length: _length_run(runner, length, None, seed)) for length in lengths}
    found = run_rows(runner, rows, seeds, seed_order)
    rule_values = {length: builtin_rule_values(HISTORY_DATASET, length_label(length), records, length)
                   for length, records in found.items()}
    table = []
    for length, records in found.items():
        test = _values(records)
        table.append({
            "MAX_ITEM_LIST_LENGTH": length,
            "train_batch_size (rows)": length_settings(length)[0]["train_batch_size"],
            "seeds": _seeds_cell(records),
            f"test {METRIC}, own rule": _cell(test),
            f"test {METRIC}, {BUILTIN_WINDOW}-event rule": _cell(rule_values[length]),
            "best valid mrr@10": _cell(_values(records, "mrr@10", "best_valid_result")),
            "epochs (per seed)": _epochs_cell(records),
            "s/epoch": _fmt(_seconds(records)),
            "s/epoch x length 50": _ratio(_seconds(records), _seconds(found[lengths[0]])),
        })
    command = f"python -m lab.argus_study history --seeds={n_seeds}"
    notes = [f"{HISTORY_DATASET}, the 'everything' row (lab/configs/seq_models/{HISTORY_DATASET}/ARGUS.yaml) with "
             f"MAX_ITEM_LIST_LENGTH changed and about {EVENTS_PER_BATCH} events a batch (train_batch_size = "
             f"{EVENTS_PER_BATCH} / length rows): every epoch trains on the same events, once each.",
             f"'own rule' masks the items of the row's whole window (a 1000-event row masks up to 1000 earlier items, "
             f"which on MovieLens can never be the target); the {BUILTIN_WINDOW}-event rule tests the same weights "
             f"with the window the shortest row has (`python -m lab.history_window --history_lengths="
             f"{','.join(map(str, lengths))} --seeds=...`; seeds not measured that way are left out)."]
    text = write_table("history_ml-latest-small", table, command, notes)
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    xs = [length for length in lengths if _values(found[length])]
    ruled = [length for length in xs if rule_values[length]]
    left.plot(xs, [_mean(_values(found[x])) for x in xs], marker="o", label="own rule")
    left.plot(ruled, [_mean(rule_values[x]) for x in ruled], marker="s",
              label=f"{BUILTIN_WINDOW}-event rule")
    left.legend()
    _length_axis(left, f"test {METRIC}")
    right.plot(xs, [_seconds(found[x]) for x in xs], marker="o")
    _length_axis(right, "training s/epoch")
    _save_figure(plt, fig, f"ARGUS on {HISTORY_DATASET}: history length", "history_ml-latest-small.png")
    return text


def _length_axis(ax, ylabel):
    ax.set_xscale("log")
    ax.set_xlabel("MAX_ITEM_LIST_LENGTH")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _save_figure(plt, fig, title, name):
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(RESULTS / name) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def scaling(runner, n_seeds, seed_order, lengths=SCALING_LENGTHS):
    seeds = seeds_of(n_seeds)
    rows = {(size, length): (lambda seed, size=size, length=length: _length_run(runner, length, size, seed))
            for size in SIZES for length in lengths}
    found = run_rows(runner, rows, seeds, seed_order)
    rule_values = {(size, length): builtin_rule_values(HISTORY_DATASET, length_label(length, size), records, length)
                   for (size, length), records in found.items()}
    table = []
    for (size, length), records in found.items():
        done = [r for r in records.values() if r is not None]
        table.append({
            "size": size,
            "settings": ", ".join(f"{k}={v}" for k, v in SIZES[size].items()) or "defaults",
            "parameters": done[0]["parameters"] if done else "missing",
            "MAX_ITEM_LIST_LENGTH": length,
            "seeds": _seeds_cell(records),
            f"test {METRIC}, own rule": _cell(_values(records)),
            f"test {METRIC}, {BUILTIN_WINDOW}-event rule": _cell(rule_values[(size, length)]),
            f"- base, {BUILTIN_WINDOW}-event rule, paired (± s.e.)": (
                "" if size == "base" else paired_difference(rule_values[(size, length)], rule_values[("base", length)])),
            "best valid mrr@10": _cell(_values(records, "mrr@10", "best_valid_result")),
            "epochs (per seed)": _epochs_cell(records),
            "s/epoch": _fmt(_seconds(records)),
        })
    command = f"python -m lab.argus_study scaling --seeds={n_seeds}"
    notes = [f"{HISTORY_DATASET}, the 'everything' row with the size's settings and MAX_ITEM_LIST_LENGTH changed "
             f"({EVENTS_PER_BATCH} events a batch).",
             f"The {BUILTIN_WINDOW}-event rule tests the same weights with the shortest row's window "
             f"(`python -m lab.history_window --history_lengths={','.join(map(str, lengths))} --size=<size> "
             "--seeds=...`); the plot shows it."]
    text = write_table("scaling_ml-latest-small", table, command, notes)
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    for index, size in enumerate(SIZES):
        ruled = [length for length in lengths if rule_values[(size, length)]]
        left.plot(ruled, [_mean(rule_values[(size, x)]) for x in ruled], marker="o", color=f"C{index}", label=size)
        xs = [length for length in lengths if _values(found[(size, length)])]
        right.plot(xs, [_seconds(found[(size, x)]) for x in xs], marker="o", color=f"C{index}", label=size)
    for ax, label in ((left, f"test {METRIC}, {BUILTIN_WINDOW}-event rule"), (right, "training s/epoch")):
        _length_axis(ax, label)
        ax.legend()
    _save_figure(plt, fig, f"ARGUS on {HISTORY_DATASET}: model size x history length", "scaling_ml-latest-small.png")
    return text


# ----------------------------------------------------------------------------- item table memory
def memory(catalogues=(10**4, 10**5, 10**6, 10**7), dim=64, features_per_item=3, vocabulary=1000):
    """Parameters and memory of ARGUS's item token against catalogue size: exact tables against one
    unified table (65,536 rows, the study's, and 524,288 rows x 3 hashes, the paper's), each item with
    ``features_per_item`` feature values of a ``vocabulary``-value token_seq field (synthetic)."""
    import torch

    from recbole_ext.model.layers import ItemTokenEmbedding

    table = []
    for n_items in catalogues:
        generator = torch.Generator().manual_seed(0)
        features = torch.randint(1, vocabulary, (n_items, features_per_item), generator=generator)
        feature_bytes = features.numel() * features.element_size()
        for buckets in (0, 65536, 524288):
            parameters = (n_items + vocabulary) * dim if buckets == 0 else buckets * dim
            row = {
                "catalogue (items)": f"{n_items:,}",
                "item table": "exact (one row per item and per value)" if buckets == 0 else f"unified, {buckets:,} rows x 3 hashes",
                "parameters": f"{parameters:,}",
                "parameter MB (float32)": f"{parameters * 4 / 2**20:,.1f}",
                "training MB (weights, grads, Adam's 2 moments)": f"{parameters * 16 / 2**20:,.1f}",
                "feature ids MB (int64, data)": f"{feature_bytes / 2**20:,.1f}",
            }
            if buckets == 0 and parameters * 4 > 2**30:
                row["ms per batch of 1,600 items (forward + backward)"] = "not built (over 1 GiB)"
            else:
                module = ItemTokenEmbedding(n_items, dim, {"genre": features}, {"genre": vocabulary}, buckets=buckets)
                ids = torch.randint(1, n_items, (32, 50), generator=generator)
                module(ids).sum().backward()  # warm-up
                started = time.perf_counter()
                for _ in range(5):
                    module.zero_grad()
                    module(ids).sum().backward()
                row["ms per batch of 1,600 items (forward + backward)"] = f"{(time.perf_counter() - started) / 5 * 1000:.1f}"
                assert sum(p.numel() for p in module.parameters()) == parameters
                del module
            table.append(row)
    notes = [
        f"Synthetic catalogues: every item has {features_per_item} values of one token_seq feature from a vocabulary of "
        f"{vocabulary:,}; width {dim} (ARGUS's default hidden_size). The rest of the default ARGUS model "
        "(transformer, heads, context tables) does not depend on the catalogue. The unified table's parameters "
        "do not grow with the catalogue; only the items' feature ids (data the model reads by item id) do. "
        "Exact tables above 1 GiB of weights were not allocated (their sizes are computed).",
    ]
    return write_table("item_table_memory", table, "python -m lab.argus_study memory", notes)


# ----------------------------------------------------------------------------- command line
def one_row(dataset, runner, n_seeds, step, model, assignments):
    """One ARGUS row (an ablation step, a probe model, settings changed) on ``n_seeds`` seeds: a line per seed."""
    changed = device_runs.parse_settings(assignments)
    if changed is None:
        raise SystemExit(f"--set: every entry is KEY=YAML, got {' '.join(assignments)}")
    settings = row_settings(dataset, step, changed)
    lines, records = [], {}
    for seed in seeds_of(n_seeds):
        record = runner.argus(dataset, settings, seed, model=model)
        lines.append(" ".join([model, dataset, f"step {step}", *assignments, f"seed {seed}: "]) + (
            "missing" if record is None else f"test {METRIC} {record['test_result'][METRIC]:.4f}, best valid "
            f"mrr@10 {record['best_valid_result']['mrr@10']:.4f}, {record['epochs']} epochs"))
        records[seed] = record
    if settings["MAX_ITEM_LIST_LENGTH"] == BUILTIN_WINDOW:  # the built-ins' history rule: comparable as it is
        lines.append(_versus_line(dataset, runner, _values(records), ROW_VERSUS))
    return "\n".join(lines)


#: the built-in a ``row`` is compared with (the best built-in of every head-to-head)
ROW_VERSUS = "LightSANs"


def _versus_line(dataset, runner, values, builtin):
    """The row's mean test figure against ``builtin``'s head-to-head records of the same seeds."""
    reference = _values({seed: runner.builtin(builtin, dataset, seed) for seed in values})
    ratio, paired = versus_cells(values, reference)
    return f"{_cell(values)}: x {builtin} {ratio} (shared seeds), paired {paired}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.argus_study", description=__doc__.split("\n\n")[0])
    parser.add_argument("table", choices=("head2head", "ablation", "core", "cuts", "history", "scaling", "memory", "row"))
    parser.add_argument("--dataset", choices=DATASETS, default="ml-100k")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--seed_order", choices=("rows", "first"), default="first",
                        help="first: seed 2020 of every row before later seeds; rows: all seeds of a row, then the next")
    parser.add_argument("--cached_only", action="store_true", help="never train: tables from existing records")
    parser.add_argument("--train_builtins", action="store_true", help="train built-in seeds without a record")
    parser.add_argument("--step", type=int, default=0, help="row: the ablation step whose settings it has (0: id-only)")
    parser.add_argument("--model", default="ARGUS", help="row: ARGUS or a probe of lab.probes")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=YAML",
                        help="row: settings changed on top of the step's, e.g. feedback_loss_weights='{rating: 0.2}'")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (two runs of two threads each on 2 busy cores train ~10 x slower)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sys.argv = sys.argv[:1]  # RecBole's Config reads --key=value options from sys.argv: it gets none of these
    register_probes()
    register_baselines()
    runner = Runner(cached_only=args.cached_only, train_builtins=args.train_builtins)
    if args.table == "head2head":
        print(head_to_head(args.dataset, runner, args.seeds, args.seed_order))
    elif args.table == "ablation":
        print(ablation(args.dataset, runner, args.seeds, args.seed_order))
    elif args.table == "core":
        print(core(args.dataset, runner, args.seeds, args.seed_order))
    elif args.table == "cuts":
        print(cuts(args.dataset, runner, args.seeds, args.seed_order))
    elif args.table == "history":
        print(history(runner, args.seeds, args.seed_order))
    elif args.table == "scaling":
        print(scaling(runner, args.seeds, args.seed_order))
    elif args.table == "row":
        print(one_row(args.dataset, runner, args.seeds, args.step, args.model, args.set))
    else:
        print(memory())
    return 0


if __name__ == "__main__":
    sys.exit(main())
