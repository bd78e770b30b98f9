"""Shared fixtures: every test runs in a scratch working directory, so RecBole's
``log/``, ``saved/`` and the benchmark cache never land in the repository."""

import os
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import recbole_ext  # noqa: F401  (compat + registration, as users get it)

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    yield tmp_path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The tiny tensors of these tests gain nothing from threads; on 2 shared cores they only wait."""

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def repo_root():
    return REPO_ROOT


def quiet_config(**extra):
    """Settings that keep RecBole runs small and silent in tests."""
    return {"show_progress": False, "state": "ERROR", "checkpoint_dir": os.path.join(os.getcwd(), "saved"), **extra}


@contextmanager
def settings_changed(config, **settings):
    """``config`` with ``settings`` for the block, its own values back afterwards
    (module-scoped fixtures share one RecBole Config between tests)."""
    saved = {key: config[key] for key in settings}
    for key, value in settings.items():
        config[key] = value
    try:
        yield config
    finally:
        for key, value in saved.items():
            config[key] = value


def write_tiny_dataset(root, name="tiny", users=60, items=40, per_user=20, seed=0):
    """A small implicit-feedback dataset with cluster structure, as atomic files.

    Users and items fall into 4 groups; a user mostly interacts with items of
    their own group, so collaborative models can learn it in a few epochs.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    groups = 4
    for user in range(users):
        group = user % groups
        own = [i for i in range(items) if i % groups == group]
        chosen = set()
        while len(chosen) < per_user:
            pool = own if rng.random() < 0.85 else range(items)
            chosen.add(int(rng.choice(list(pool))))
        for step, item in enumerate(sorted(chosen, key=lambda _: rng.random())):
            lines.append(f"u{user}\ti{item}\t{int(rng.integers(1, 6))}\t{1_000_000 + step * 60}")
    (folder / f"{name}.inter").write_text("\n".join(lines) + "\n")
    return Path(root)


@pytest.fixture(scope="session")
def tiny_data_path(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


CORPUS = [
    "Toy Story",
    "Animation Children's Comedy",
    "GoldenEye",
    "Action Adventure Thriller",
    "Four Rooms",
    "Drama Romance War",
    "the movie of the year",
]


def save_tiny_roberta(directory, seed):
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        CORPUS * 3, vocab_size=300, min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False,
    )
    bpe._tokenizer.post_processor = RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>"))
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", mask_token="<mask>", model_max_length=128,
    )
    torch.manual_seed(seed)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=140, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    tokenizer.save_pretrained(directory)
    RobertaModel(config).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    """A tiny random RoBERTa and its BPE tokenizer saved to a folder (no hub needed)."""
    return save_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta"), seed=0)
