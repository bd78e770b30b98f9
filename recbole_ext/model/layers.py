"""Layers shared by several plugin models.

* :class:`CausalSelfAttention`, :class:`PreLNTransformerBlock` and
  :class:`CausalTransformerEncoder`: a decoder-only (causal) pre-LayerNorm
  transformer (Xiong et al., "On Layer Normalization in the Transformer
  Architecture", ICML 2020) built on
  :func:`torch.nn.functional.scaled_dot_product_attention`.
* :func:`build_mlp`: a plain multi-layer perceptron from a list of sizes.
* :class:`ItemTokenEmbedding`: an item's id plus its categorical features
  (token and token_seq fields) as one vector, from exact tables or from one
  unified table that every (field, value) is hashed into several times
  (:func:`universal_hash_rows`; Coleman et al., "Unified Embedding:
  Battle-Tested Feature Representations for Web-Scale ML Systems",
  NeurIPS 2023), so that its memory does not grow with the catalogue.

Sequences are expected left-aligned (RecBole's layout: real tokens first,
padding after), so a causal mask alone keeps padding out of every real
position's receptive field and no key-padding mask is needed. A row that
packs several sequences one after the other passes ``segments`` to
:func:`segment_causal_mask`: its block-diagonal causal mask keeps every
sequence to itself (Krell et al., "Efficient Sequence Packing without
Cross-contamination", arXiv 2107.02027, 2021).
"""

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "swish": nn.SiLU, "silu": nn.SiLU, "tanh": nn.Tanh}


def activation_layer(name):
    """A fresh activation module by name (``gelu``, ``relu``, ``swish``/``silu``, ``tanh``)."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]()


def build_mlp(sizes, activation="gelu", dropout=0.0, final_activation=False):
    """``Linear -> activation -> dropout`` for every consecutive pair of ``sizes``.

    The last ``Linear`` has no activation or dropout unless ``final_activation``.
    """
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least an input and an output size, got {sizes}")
    layers = []
    last = len(sizes) - 2
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(size_in, size_out))
        if index < last or final_activation:
            layers.append(activation_layer(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position ``t`` sees positions ``<= t``."""

    def __init__(self, hidden_size, n_heads, attn_dropout_prob=0.0, hidden_dropout_prob=0.0):
        super().__init__()
        if hidden_size % n_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of n_heads ({n_heads})")
        self.n_heads = n_heads
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.out = nn.Linear(hidden_size, hidden_size)
        self.attn_dropout_prob = attn_dropout_prob
        self.dropout = nn.Dropout(hidden_dropout_prob)

    def forward(self, x, attn_mask=None):
        """``attn_mask``: optional boolean ``[B, 1, L, L]`` (True = may attend), replacing
        the plain causal mask (e.g. :func:`segment_causal_mask` for packed rows)."""
        batch, length, hidden = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.n_heads, hidden // self.n_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attn_mask,
            dropout_p=self.attn_dropout_prob if self.training else 0.0,
            is_causal=attn_mask is None,
        )
        attended = attended.transpose(1, 2).reshape(batch, length, hidden)
        return self.dropout(self.out(attended))


class PreLNTransformerBlock(nn.Module):
    """``x + attn(LN(x))`` then ``x + ffn(LN(x))``."""

    def __init__(
        self,
        hidden_size,
        n_heads,
        inner_size,
        attn_dropout_prob=0.0,
        hidden_dropout_prob=0.0,
        hidden_act="gelu",
        layer_norm_eps=1e-6,
    ):
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.attention = CausalSelfAttention(hidden_size, n_heads, attn_dropout_prob, hidden_dropout_prob)
        self.feed_forward_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.feed_forward = nn.Sequential(
            build_mlp([hidden_size, inner_size, hidden_size], hidden_act, hidden_dropout_prob),
            nn.Dropout(hidden_dropout_prob),
        )

    def forward(self, x, attn_mask=None):
        x = x + self.attention(self.attention_norm(x), attn_mask)
        return x + self.feed_forward(self.feed_forward_norm(x))


class CausalTransformerEncoder(nn.Module):
    """A stack of :class:`PreLNTransformerBlock` followed by a final LayerNorm.

    ``block_options`` are :class:`PreLNTransformerBlock`'s own arguments.
    """

    def __init__(self, n_layers, hidden_size, layer_norm_eps=1e-6, **block_options):
        super().__init__()
        self.blocks = nn.ModuleList(
            PreLNTransformerBlock(hidden_size, layer_norm_eps=layer_norm_eps, **block_options)
            for _ in range(n_layers)
        )
        self.final_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    def forward(self, x, attn_mask=None):
        """``attn_mask``: see :meth:`CausalSelfAttention.forward` (``None``: causal)."""
        for block in self.blocks:
            x = block(x, attn_mask)
        return self.final_norm(x)


class UntiedPositionalBias(nn.Module):
    """Per-head attention-logit bias of positions, ``(U_q p_i) . (U_k p_j) / sqrt(2 d_head)``: TUPE's untied
    positional attention (Ke, He and Liu, "Rethinking Positional Encoding in Language Pre-training", ICLR 2021),
    the form of LightSANs' decoupled position encoding (Fan et al., SIGIR 2021). Positions weigh the events
    without entering their tokens; the maps are shared by the layers."""

    def __init__(self, hidden_size, n_heads, layer_norm_eps):
        super().__init__()
        self.n_heads = n_heads
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)

    def forward(self, positions):
        """``[B, H, L, L]`` bias of the position vectors ``positions`` (``[B, L, d]``)."""
        batch, length, width = positions.shape
        head = width // self.n_heads
        positions = self.norm(positions)

        def per_head(x):
            return x.view(batch, length, self.n_heads, head).transpose(1, 2)

        return per_head(self.query(positions)) @ per_head(self.key(positions)).transpose(-1, -2) / math.sqrt(2 * head)


def segment_causal_mask(segments):
    """Block-diagonal causal attention mask ``[B, 1, L, L]`` of packed rows.

    ``segments`` (``[B, L]`` int) numbers the sequences packed into each row
    (1, 2, ...; 0 for trailing padding). Position ``t`` may attend to ``s <= t``
    of the same segment only, so no attention crosses sequences; padding
    attends to padding, which keeps every softmax row non-empty.
    """
    length = segments.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=segments.device).tril()
    same = segments.unsqueeze(2) == segments.unsqueeze(1)
    return (same & causal).unsqueeze(1)


def segment_positions(segments):
    """Position of every token inside its own segment (restarting at 0 per segment), ``[B, L]``."""
    length = segments.shape[1]
    index = torch.arange(length, device=segments.device).expand_as(segments)
    starts = segment_starts(segments)
    return index - torch.where(starts, index, torch.zeros_like(index)).cummax(dim=1).values


def segment_starts(segments):
    """``[B, L]`` bool: True where a segment begins (its first token)."""
    previous = F.pad(segments[:, :-1], (1, 0), value=-1)
    return segments != previous


def init_weights(module, std):
    """Normal(0, std) for Linear/Embedding weights, zero biases, unit LayerNorm."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.data.normal_(mean=0.0, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        module.bias.data.zero_()
    elif isinstance(module, nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)


#: modulus of :func:`universal_hash_rows` (a Mersenne prime: every product of two residues stays below 2**62)
HASH_PRIME = 2**31 - 1
#: degree of the hash polynomials: 3 gives 4-wise independent functions, whose collisions on sequential
#: ids (item ids are 1..n) are those of random ones; degree 1 ((a x + b) mod p) spreads them far too evenly
#: or too unevenly depending on a
HASH_DEGREE = 3
#: seed of the hash functions' coefficients: fixed, so an item maps to the same rows in every process
HASH_SEED = 20250721


def hash_coefficients(n_fields, n_hashes, seed=HASH_SEED):
    """``[n_fields, n_hashes, HASH_DEGREE + 1]`` int64 coefficients of independent polynomial hash
    functions mod ``HASH_PRIME`` (leading one non-zero): the same for the same arguments in every process."""
    rng = np.random.default_rng(seed)
    leading = rng.integers(1, HASH_PRIME, size=(n_fields, n_hashes, 1))
    rest = rng.integers(0, HASH_PRIME, size=(n_fields, n_hashes, HASH_DEGREE))
    return torch.from_numpy(np.concatenate([leading, rest], axis=-1).astype(np.int64))


def universal_hash_rows(values, coefficients, buckets):
    """Rows ``h(x) mod buckets`` of non-negative int ``values`` (``< HASH_PRIME``) under each of the
    ``[k, HASH_DEGREE + 1]`` ``coefficients``' hash functions ``h(x) = (c_0 x^3 + c_1 x^2 + c_2 x + c_3)
    mod p`` (Horner's rule; 4-wise independent, Carter and Wegman 1979): ``values.shape + (k,)``.

    Two different values share a row with probability about ``1 / buckets`` per hash function.
    """
    x = values.long().unsqueeze(-1) % HASH_PRIME
    hashed = torch.zeros(values.shape + (coefficients.shape[0],), dtype=torch.long, device=values.device)
    for power in range(coefficients.shape[1]):
        hashed = (hashed * x + coefficients[:, power]) % HASH_PRIME
    return hashed % buckets


class ItemTokenEmbedding(nn.Module):
    """One ``dim`` vector per item: its id's embedding plus the mean embedding of each feature field's
    values (a token field has one value, a token_seq field several; value 0 is "none").

    ``buckets = 0``: an exact table per field (the item id's has a row per item). ``buckets > 0``: one
    unified table of ``buckets`` rows shared by the item id and every feature field; each (field, value)
    reads the mean of the rows its ``n_hashes`` hash functions give (each field has its own functions),
    so the parameters do not depend on the catalogue or the vocabularies. Item 0 (padding) is zero.

    Args:
        n_items (int): item ids ``0..n_items-1``.
        dim (int): embedding width.
        features (dict): field -> ``[n_items]`` or ``[n_items, T]`` long tensor of value ids (0: none).
        cardinalities (dict): field -> number of value ids (exact tables only).
    """

    def __init__(self, n_items, dim, features=None, cardinalities=None, buckets=0, n_hashes=3):
        super().__init__()
        features = dict(features or {})
        self.n_items, self.dim, self.buckets, self.n_hashes = n_items, dim, buckets, n_hashes
        self.fields = list(features)
        for index, field in enumerate(self.fields):
            values = features[field]
            self.register_buffer(f"feature_{index}", values.long().view(n_items, -1).clone())
        if buckets > 0:
            self.table = nn.Embedding(buckets, dim)
            self.register_buffer("hash_coefficients", hash_coefficients(1 + len(self.fields), n_hashes))
            self.field_tables = None
        else:
            self.table = nn.Embedding(n_items, dim, padding_idx=0)
            self.field_tables = nn.ModuleList(
                nn.Embedding(cardinalities[field], dim, padding_idx=0) for field in self.fields
            )
        self._catalogue_matrices = None

    def feature_values(self, index):
        return getattr(self, f"feature_{index}")

    def hash_rows(self, field_index, values):
        """Rows of the unified table that ``values`` of field ``field_index`` (0: the item id) read."""
        return universal_hash_rows(values, self.hash_coefficients[field_index], self.buckets)

    def _rows_and_weights(self, field_index, values):
        """Table rows and bag weights of ``values`` (``[N, T]``, 0 = none) of field ``field_index`` (0: the item
        id): the mean over each row's present values, each value the mean of its hashed rows (unified table)."""
        present = (values > 0).float()
        weights = present / present.sum(1, keepdim=True).clamp_min(1.0)
        if self.buckets == 0:
            return values, weights
        rows = self.hash_rows(field_index, values).flatten(1)
        return rows, (weights / self.n_hashes).repeat_interleave(self.n_hashes, dim=1)

    def _bags(self, flat):
        """Each field's (rows, weights) for items ``flat`` (``[N, 1]``), the item id's first."""
        values = [flat] + [self.feature_values(index)[flat[:, 0]] for index in range(len(self.fields))]
        return [self._rows_and_weights(index, field_values) for index, field_values in enumerate(values)]

    def _unified_bag(self, flat):
        """Rows of the unified table that items ``flat`` read, and their weights: every field's rows in one bag
        (one dense table-sized gradient per call instead of one per field)."""
        return tuple(torch.cat(parts, 1) for parts in zip(*self._bags(flat)))

    def forward(self, items):
        """``items.shape + (dim,)`` vectors of item ids ``items``."""
        flat = items.reshape(-1, 1)
        if self.buckets > 0:
            rows, weights = self._unified_bag(flat)
            vectors = F.embedding_bag(rows, self.table.weight, per_sample_weights=weights, mode="sum")
        else:
            tables = [self.table, *self.field_tables]
            vectors = sum(
                F.embedding_bag(rows, table.weight, per_sample_weights=weights, mode="sum")
                for (rows, weights), table in zip(self._bags(flat), tables)
            )
        vectors = vectors * (flat > 0).float()
        return vectors.view(items.shape + (self.dim,))

    def all_items(self):
        """``[n_items, dim]`` vectors of every item id.

        A training step with the unified table reads it as one product of a fixed sparse ``[n_items, buckets]``
        matrix (each item's hashed rows and weights, built once and kept) with the table, so it neither hashes
        the catalogue again nor sorts its rows for the gradient (:class:`FixedSparseProduct`). Without gradients
        (scoring, serving) one bag per item, built and dropped per call: the kept matrices take about three
        times the memory of the bag's rows, too much to hold beside a catalogue of millions at serving time."""
        if self.buckets == 0 or not torch.is_grad_enabled():
            return self(torch.arange(self.n_items, device=self.table.weight.device))
        return FixedSparseProduct.apply(self.table.weight, *self._catalogue())

    def __getstate__(self):
        # a copy or a pickle rebuilds the matrices on first use (sparse CSR tensors cannot be deep-copied)
        return {**super().__getstate__(), "_catalogue_matrices": None}

    def _catalogue(self):
        """The fixed sparse matrix of every item's rows and its transpose, rebuilt whenever the hash
        coefficients or an item feature changed (loaded, edited in place, moved to another device)."""
        sources = [self.hash_coefficients] + [self.feature_values(index) for index in range(len(self.fields))]
        version = tuple((source.data_ptr(), source._version) for source in sources)
        if self._catalogue_matrices is None or self._catalogue_matrices[0] != version:
            with torch.no_grad():
                flat = torch.arange(self.n_items, device=self.table.weight.device).reshape(-1, 1)
                rows, weights = self._unified_bag(flat)
                self._catalogue_matrices = (version, *sparse_row_matrices(rows, weights * (flat > 0), self.buckets))
        return self._catalogue_matrices[1:]


def sparse_row_matrices(columns, weights, n_columns):
    """The CSR matrix ``[len(columns), n_columns]`` holding ``weights[i, j]`` at ``(i, columns[i, j])``
    (repeats summed), and its transpose, also CSR."""
    row_ids = torch.arange(len(columns), device=columns.device).repeat_interleave(columns.shape[1])
    coo = torch.sparse_coo_tensor(
        torch.stack([row_ids, columns.flatten()]), weights.flatten(), (len(columns), n_columns), check_invariants=True
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return coo.coalesce().to_sparse_csr(), coo.t().coalesce().to_sparse_csr()


class FixedSparseProduct(torch.autograd.Function):
    """``matrix @ dense`` for a constant sparse ``matrix`` given with its ``transposed``: the gradient of
    ``dense`` is ``transposed @ grad``, one sparse product with no sort of the matrix's indices (about a third
    of ``embedding_bag``'s forward and backward time on ml-latest-small's catalogue, one thread)."""

    @staticmethod
    def forward(ctx, dense, matrix, transposed):
        ctx.transposed = transposed
        return matrix @ dense

    @staticmethod
    def backward(ctx, grad):
        return ctx.transposed @ grad, None, None


__all__ = [
    "HASH_PRIME",
    "FixedSparseProduct",
    "ItemTokenEmbedding",
    "hash_coefficients",
    "universal_hash_rows",
    "CausalSelfAttention",
    "CausalTransformerEncoder",
    "PreLNTransformerBlock",
    "activation_layer",
    "build_mlp",
    "init_weights",
    "segment_causal_mask",
    "segment_positions",
    "segment_starts",
    "sparse_row_matrices",
]
