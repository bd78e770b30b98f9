"""ARGUS whose item token also carries a fixed latent-semantic vector of the item's text, built from the item
file alone (issue 16, item 3).

``ARGUSItemText`` lifts amazon-games' titles rung with a pretrained sentence encoder, knowledge the built-ins do
not have. This probe asks how much of that lift the catalogue's own titles give without it: each item's
``item_feature_fields`` text becomes a TF-IDF vector of its lower-cased words and character 3-5-grams (so
"Emblem:" and "emblem" meet, which the hashed token table keeps apart), reduced by a truncated SVD to
``LSA_DIMS`` dimensions (latent semantic analysis, Deerwester et al., JASIS 1990) and L2-normalised. The
vectors are fitted on the item file's texts, known before any event (no leakage, no outside knowledge), and
enter the item token through ``ARGUSItemText``'s learned map ``W`` (zero at the start).
"""

import numpy as np
import scipy.sparse
import torch
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from torch import nn

from recbole_ext.data.item_text import item_texts
from recbole_ext.model.argus import ARGUS

from lab.probes.argus_item_text import ARGUSItemText

LSA_DIMS = 256


def title_lsa_vectors(texts, dims, seed=0):
    """``[len(texts), dims]`` L2-normalised LSA vectors of ``texts`` (word and character 3-5-gram TF-IDF, truncated
    SVD); empty texts get zeros."""
    has_text = np.array([bool(text.strip()) for text in texts])
    documents = [text for text in texts if text.strip()]
    words = TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\b\w+\b", sublinear_tf=True)
    grams = TfidfVectorizer(lowercase=True, analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2)
    tfidf = scipy.sparse.hstack([words.fit_transform(documents), grams.fit_transform(documents)]).tocsr()
    dims = min(dims, tfidf.shape[1] - 1, len(documents) - 1)
    reduced = normalize(TruncatedSVD(n_components=dims, random_state=seed).fit_transform(tfidf))
    vectors = np.zeros((len(texts), dims), dtype=np.float32)
    vectors[has_text] = reduced
    return torch.from_numpy(vectors)


class ARGUSTitleLSA(ARGUSItemText):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) whose item token adds ``W t_i``: ``t_i`` the LSA vector of item
    ``i``'s ``item_feature_fields`` text over the catalogue's own texts, ``W`` learned from zero."""

    def __init__(self, config, dataset):
        ARGUS.__init__(self, config, dataset)  # not ARGUSItemText's: no sentence encoder
        texts = item_texts(dataset, list(config["item_feature_fields"]), separator=". ")
        vectors = title_lsa_vectors(texts, LSA_DIMS)
        self.register_buffer("item_text_vectors", vectors, persistent=False)
        self.item_text_projection = nn.Linear(vectors.shape[-1], self.hidden_size, bias=False)
        nn.init.zeros_(self.item_text_projection.weight)
