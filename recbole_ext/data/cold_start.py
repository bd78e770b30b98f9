"""Item cold-start split: a share of items never appears in training.

Protocol of Volkovs, Yu and Poutanen, "DropoutNet: Addressing Cold Start in
Recommender Systems" (NeurIPS 2017) and Gantner et al., "Learning
Attribute-to-Feature Mappings for Cold-Start Recommendations" (ICDM 2010):
``cold_item_ratio`` of the items that have interactions is drawn at random
(seeded by ``seed``); every interaction with them leaves the training split
and is shared at random between validation and test. The remaining (warm)
interactions are split as ``eval_args`` says.
"""

import numpy as np
from recbole.data.dataset import Dataset
from recbole.data.interaction import cat_interactions


def draw_cold_items(item_ids, ratio, seed):
    """Sorted array of ``round(ratio * n)`` distinct items drawn from ``item_ids``."""
    candidates = np.unique(np.asarray(item_ids))
    candidates = candidates[candidates != 0]
    count = int(round(ratio * len(candidates)))
    return np.sort(np.random.RandomState(seed).choice(candidates, size=count, replace=False))


def _request_text_fields(config):
    """Also load the item fields named in ``text_fields``.

    A dataset yaml's ``load_col`` (ml-100k's lists inter fields only) outranks
    the model yaml, so the model asks for its text fields here instead.
    """
    load_col, fields = config["load_col"], config["text_fields"] or []
    if not load_col or not fields:
        return
    item_cols = list(load_col.get("item", [config["ITEM_ID_FIELD"]]))
    missing = [field for field in fields if field not in item_cols]
    if missing:
        config["load_col"] = {**load_col, "item": item_cols + missing}


class ColdStartDataset(Dataset):
    """A RecBole ``Dataset`` whose ``build()`` holds ``cold_item_ratio`` of items out of training.

    ``cold_item_ids`` (sorted internal ids) is set on the dataset and on every split.
    With ``cold_item_ratio`` 0 the splits are RecBole's own.
    """

    cold_item_ids = np.zeros(0, dtype=np.int64)

    def __init__(self, config):
        _request_text_fields(config)
        super().__init__(config)

    def build(self):
        ratio = self.config["cold_item_ratio"] or 0.0
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"cold_item_ratio must be in [0, 1), got {ratio}")
        if ratio == 0.0:
            return super().build()
        # inter_feat is still a DataFrame here: build() converts it.
        self.cold_item_ids = draw_cold_items(
            self.inter_feat[self.iid_field].to_numpy(), ratio, self.config["seed"]
        )
        train, valid, test = super().build()
        is_cold = np.isin(train.inter_feat[self.iid_field].numpy(), self.cold_item_ids)
        moved = train.inter_feat[np.flatnonzero(is_cold)]
        train.inter_feat = train.inter_feat[np.flatnonzero(~is_cold)]
        to_valid = np.random.RandomState(self.config["seed"] + 1).rand(len(moved)) < 0.5
        valid.inter_feat = cat_interactions([valid.inter_feat, moved[np.flatnonzero(to_valid)]])
        test.inter_feat = cat_interactions([test.inter_feat, moved[np.flatnonzero(~to_valid)]])
        return [train, valid, test]

    def cold_item_mask(self):
        """Boolean ``[item_num]`` mask of the held-out items."""
        mask = np.zeros(self.item_num, dtype=bool)
        mask[self.cold_item_ids] = True
        return mask
