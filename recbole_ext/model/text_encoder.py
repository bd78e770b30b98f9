"""Item text -> per-layer pooled transformer embeddings, cached on disk.

The representation follows the "top layers" recipe of the hybrid WALS +
RoBERTa write-ups the project starts from: run the encoder with hidden
states, mean-pool each layer's token vectors under the attention mask
(Reimers and Gurevych, "Sentence-BERT", EMNLP 2019, mean pooling) and combine
the top ``top_layers`` layers, by their mean or by learned softmax weights
(the scalar mix of Peters et al., "Deep contextualized word
representations", NAACL 2018).

A frozen encoder is run once per (encoder, texts, settings); the pooled
``[n_texts, top_layers, hidden]`` tensor is stored under a hash of all of
them, so the layer weights can still be learned without re-running it.

``transformers`` is imported inside functions only: ``import recbole_ext``
must stay fast.
"""

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

#: bump when the cached tensor's meaning changes
CACHE_FORMAT = 1


def load_encoder(name_or_path):
    """Tokenizer and model (with hidden states) from a hub name or a local directory."""
    from transformers import AutoModel, AutoTokenizer

    local = Path(name_or_path).expanduser()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(local) if local.is_dir() else name_or_path)
        model = AutoModel.from_pretrained(
            str(local) if local.is_dir() else name_or_path, output_hidden_states=True
        )
    except (OSError, ValueError, EnvironmentError) as error:
        tried = (
            f"local directory {local}"
            if local.is_dir()
            else f"'{name_or_path}' as a local directory (not found) and as a Hugging Face hub id"
        )
        raise ValueError(
            f"text_encoder: could not load a tokenizer and model from {tried} "
            f"({type(error).__name__}); pass a directory holding a saved model, "
            f"e.g. text_encoder=/path/to/dir"
        ) from error
    return tokenizer, model


def encoder_fingerprint(name_or_path):
    """What identifies an encoder for the cache: a hub id, or a directory's files."""
    local = Path(name_or_path).expanduser()
    if not local.is_dir():
        return {"hub_id": str(name_or_path)}
    files = sorted(p for p in local.rglob("*") if p.is_file())
    return {
        "directory": str(local.resolve()),
        "files": [[str(p.relative_to(local)), p.stat().st_size, p.stat().st_mtime_ns] for p in files],
    }


def masked_mean(hidden, mask):
    """Mean of token vectors ``hidden [B, T, H]`` where ``mask [B, T]`` is 1."""
    mask = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def pooled_top_layers(hidden_states, mask, top_layers):
    """Masked means of the top ``top_layers`` hidden states, ``[B, top_layers, H]``.

    ``hidden_states`` is the encoder's tuple (embeddings, layer 1, ..., layer n);
    the result is ordered from the lowest of the top layers to the last one.
    """
    if top_layers > len(hidden_states) - 1:
        raise ValueError(
            f"top_layers={top_layers} but the text encoder has only {len(hidden_states) - 1} layers"
        )
    return torch.stack([masked_mean(h, mask) for h in hidden_states[-top_layers:]], dim=1)


def tokenize(tokenizer, texts, max_text_length):
    return tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=max_text_length,
        return_tensors="pt",
    )


def encode_layers(tokenizer, model, texts, top_layers, max_text_length, batch_size=64):
    """Pooled top-layer embeddings of ``texts`` with a frozen ``model``, in batches."""
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = None
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = tokenize(tokenizer, [texts[i] for i in index], max_text_length)
            hidden = model(**batch).hidden_states
            pooled = pooled_top_layers(hidden, batch["attention_mask"], top_layers)
            if out is None:
                out = torch.zeros(len(texts), *pooled.shape[1:])
            out[torch.tensor(index)] = pooled.float()
    return out


def cache_key(encoder, texts, top_layers, max_text_length):
    """Hex digest naming one cached tensor: encoder, texts and pooling settings."""
    text_digest = hashlib.sha256("\x1f".join(texts).encode("utf-8")).hexdigest()
    payload = {
        "format": CACHE_FORMAT,
        "encoder": encoder_fingerprint(encoder),
        "texts": text_digest,
        "n_texts": len(texts),
        "top_layers": top_layers,
        "max_text_length": max_text_length,
        "pooling": "masked_mean",
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def cached_layer_embeddings(
    encoder, texts, top_layers, max_text_length, cache_dir, batch_size=64, logger=None
):
    """``[n_texts, top_layers, H]`` pooled embeddings, computed once and kept on disk."""
    path = Path(cache_dir) / f"{cache_key(encoder, texts, top_layers, max_text_length)}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    tokenizer, model = load_encoder(encoder)
    if logger is not None:
        logger.info(f"encoding {len(texts)} item texts with {encoder}; cache: {path}")
    layers = encode_layers(tokenizer, model, texts, top_layers, max_text_length, batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(layers, partial)
    os.replace(partial, path)
    return layers


class LayerPooling(nn.Module):
    """Combines ``[..., L, H]`` layer embeddings into ``[..., H]``.

    ``mean``: plain average. ``weighted``: softmax-normalised learned weights,
    initialised equal so training starts from the mean.
    """

    def __init__(self, top_layers, mode="mean"):
        super().__init__()
        if mode not in ("mean", "weighted"):
            raise ValueError(f"layer_pooling must be 'mean' or 'weighted', got {mode!r}")
        self.mode = mode
        self.logits = nn.Parameter(torch.zeros(top_layers), requires_grad=mode == "weighted")

    def weights(self):
        if self.mode == "mean":
            return torch.full_like(self.logits, 1.0 / len(self.logits))
        return torch.softmax(self.logits, dim=0)

    def forward(self, layers):
        return torch.einsum("...lh,l->...h", layers, self.weights().to(layers.dtype))


class TrainableTopLayers(nn.Module):
    """An encoder whose top ``n_trainable`` transformer blocks are fine-tuned.

    Items are tokenised once; ``forward(items)`` re-encodes those items.
    """

    def __init__(self, encoder, texts, top_layers, max_text_length, n_trainable):
        super().__init__()
        tokenizer, self.model = load_encoder(encoder)
        self.top_layers = top_layers
        tokens = tokenize(tokenizer, texts, max_text_length)
        self.register_buffer("input_ids", tokens["input_ids"], persistent=False)
        self.register_buffer("attention_mask", tokens["attention_mask"], persistent=False)
        blocks = _transformer_blocks(self.model)
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        for block in blocks[len(blocks) - n_trainable :]:
            for parameter in block.parameters():
                parameter.requires_grad_(True)

    def forward(self, items):
        mask = self.attention_mask[items]
        width = int(mask.sum(1).max())
        mask = mask[:, :width]
        hidden = self.model(input_ids=self.input_ids[items][:, :width], attention_mask=mask).hidden_states
        return pooled_top_layers(hidden, mask, self.top_layers)


def _transformer_blocks(model):
    """The list of transformer blocks of a BERT-family encoder (``model.encoder.layer``)."""
    blocks = getattr(getattr(model, "encoder", None), "layer", None)
    if blocks is None:
        raise ValueError(
            f"text_fine_tune_layers: cannot find the transformer blocks of {type(model).__name__} "
            "(expected model.encoder.layer as in BERT/RoBERTa)"
        )
    return blocks


def text_neighbours(embeddings, sources, k, chunk=2048):
    """Sparse ``[n_items, n_items]``: for every item, cosine to its ``k`` most similar ``sources``
    (``sources``: boolean mask; an item is never its own neighbour; row 0, padding, stays empty)."""
    import scipy.sparse as sp

    unit = torch.nn.functional.normalize(embeddings.float(), dim=1)
    source_ids = torch.from_numpy(np.flatnonzero(sources))
    rows, cols, values = [], [], []
    for start in range(1, len(unit), chunk):
        block = torch.arange(start, min(start + chunk, len(unit)))
        sims = unit[block] @ unit[source_ids].T
        sims[block[:, None] == source_ids[None, :]] = -math.inf
        top = torch.topk(sims, min(k, len(source_ids)), dim=1)
        rows.append(block.repeat_interleave(top.indices.shape[1]).numpy())
        cols.append(source_ids[top.indices].reshape(-1).numpy())
        values.append(top.values.reshape(-1).clamp_min(0).numpy())
    n = len(unit)
    return sp.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


class TextKNN:
    """Item-kNN in text space over users' histories.

    ``score(u, i) = sum of cos(i, h)`` over the items ``h`` of ``u``'s history
    that are among ``i``'s ``k`` text-nearest ``sources``; only ``targets``
    (boolean mask, default every item) get scores, the others score 0.
    """

    def __init__(self, embeddings, history, sources, k, targets=None):
        neighbours = text_neighbours(embeddings, sources, k)
        if targets is not None:
            import scipy.sparse as sp

            neighbours = (sp.diags(np.asarray(targets, dtype=np.float64)) @ neighbours).tocsr()
        self.history = history.tocsr().astype(np.float64)
        self.neighbours = neighbours
        self.neighbours_t = neighbours.T.tocsr()

    def scores(self, users):
        """``[len(users), n_items]`` scores of every item for ``users`` (a 1-d integer tensor or array)."""
        return torch.from_numpy((self.history[np.asarray(users)] @ self.neighbours_t).toarray()).float()

    def pair_scores(self, users, items):
        """Scores of the pairs ``(users[j], items[j])``."""
        rows = self.history[np.asarray(users)].multiply(self.neighbours[np.asarray(items)])
        return torch.from_numpy(np.asarray(rows.sum(1)).ravel()).float()
