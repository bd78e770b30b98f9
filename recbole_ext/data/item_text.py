"""One text per item, rebuilt from a RecBole dataset's item fields.

RecBole stores a ``token_seq`` field (e.g. ml-100k ``movie_title``) as ids
of the pieces it split on ``seq_separator``; ``dataset.field2id_token``
turns them back into those pieces, which are re-joined with the same
separator. ``token`` fields give their single token, ``float`` fields their
value. Several fields are joined with ``separator``; fields that are empty
for an item are skipped, so an item without any text gets ``""``.
"""

import numpy as np
import torch
from recbole.utils import FeatureType


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
