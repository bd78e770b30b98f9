"""One text per item, rebuilt from a RecBole dataset's item fields.

RecBole stores a ``token_seq`` field (e.g. ml-100k ``movie_title``) as ids
of the pieces it split on ``seq_separator``; ``dataset.field2id_token``
turns them back into those pieces, which are re-joined with the same
separator. ``token`` fields give their single token, ``float`` fields their
value. Several fields are joined with ``separator``; fields that are empty
for an item are skipped, so an item without any text gets ``""``.
"""

import numpy as np
import scipy.sparse
import torch
from recbole.utils import FeatureType
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize


def _field_strings(dataset, field, seq_separator):
    column = dataset.item_feat[field]
    kind = dataset.field2type[field]
    if torch.is_tensor(column):
        column = column.numpy()
    if kind in (FeatureType.TOKEN, FeatureType.TOKEN_SEQ):
        vocabulary = dataset.field2id_token[field]
        rows = column if kind == FeatureType.TOKEN_SEQ else np.asarray(column).reshape(-1, 1)
        return [seq_separator.join(vocabulary[i] for i in np.asarray(row) if i != 0) for row in rows]
    if kind == FeatureType.FLOAT:
        return [f"{float(value):g}" for value in np.asarray(column).reshape(-1)]
    return [
        seq_separator.join(f"{float(v):g}" for v in np.asarray(row).reshape(-1)) for row in column
    ]


def item_texts(dataset, text_fields, separator=". "):
    """``texts[i]`` is the text of internal item id ``i`` (``""`` for padding id 0)."""
    available = [] if dataset.item_feat is None else list(dataset.item_feat.columns)
    available = [f for f in available if f != dataset.iid_field]
    for field in text_fields:
        if field not in available:
            raise ValueError(
                f"text_fields: item field '{field}' is not loaded for dataset "
                f"'{dataset.dataset_name}' (available item fields: {', '.join(available) or 'none'}; "
                f"load it with load_col: {{item: [item_id, {field}]}})"
            )
    seq_separator = dataset.config["seq_separator"]
    columns = [_field_strings(dataset, field, seq_separator) for field in text_fields]
    n_items = dataset.item_num
    texts = [separator.join(part for part in parts if part) for parts in zip(*columns)]
    texts = (texts + [""] * n_items)[:n_items]
    texts[0] = ""
    return texts


def _tfidf(documents, analyzer):
    """Sublinear TF-IDF of lower-cased words, or of the character 3-5-grams that two texts or more share (none
    when no gram is shared)."""
    if analyzer == "word":
        return TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", sublinear_tf=True).fit_transform(documents)
    try:
        return TfidfVectorizer(analyzer=analyzer, ngram_range=(3, 5), sublinear_tf=True, min_df=2).fit_transform(documents)
    except ValueError:  # scikit-learn's "no terms remain" for a handful of unrelated texts
        return scipy.sparse.csr_matrix((len(documents), 0))


def text_lsa_vectors(texts, dims, seed=0):
    """``[len(texts), dims]`` L2-normalised latent-semantic vectors of ``texts`` (latent semantic analysis:
    Deerwester et al., JASIS 1990): TF-IDF of the lower-cased words and character 3-5-grams (so "Emblem:" and
    "emblem" share most of their grams), reduced by a truncated SVD fitted on ``texts`` themselves. Empty texts
    get zeros; ``dims`` shrinks to what the texts' vocabulary allows."""
    has_text = np.array([bool(text.strip()) for text in texts], dtype=bool)
    documents = [text for text, present in zip(texts, has_text) if present]
    vectors = np.zeros((len(texts), dims), dtype=np.float32)
    if len(documents) < 2:
        return torch.from_numpy(vectors)
    tfidf = scipy.sparse.hstack([_tfidf(documents, analyzer) for analyzer in ("word", "char_wb")]).tocsr()
    width = min(dims, tfidf.shape[1] - 1, len(documents) - 1)
    vectors[has_text, :width] = normalize(TruncatedSVD(n_components=width, random_state=seed).fit_transform(tfidf))
    return torch.from_numpy(vectors)
