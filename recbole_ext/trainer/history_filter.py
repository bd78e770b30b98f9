"""The history rule: a sequential model never ranks an item of the user's history window."""

import torch
from recbole.utils import ModelType


def mask_history_items(scores, item_seq):
    """Scores with every item of the history window set to -inf.

    For datasets where a user never interacts with an item twice (MovieLens
    ratings, Amazon purchases), so a history item can never be the next one.
    Padding id 0 is masked too, which RecBole never ranks anyway.
    """
    return scores.scatter(1, item_seq, float("-inf"))


class HistoryFilterMixin:
    """Mixin for RecBole trainers: ``exclude_history_items`` for every sequential model.

    RecBole masks a general model's training items in full ranking but lets a
    sequential model rank the items of its own history window. With the
    setting on, full-sort evaluation masks them for every sequential model,
    plugin and built-in alike, so a head-to-head runs all models under one
    rule. ``trainer.exclude_history_items`` may be switched off to evaluate
    the same weights without the rule.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        self.exclude_history_items = bool(config["exclude_history_items"])
        if self.exclude_history_items and config["MODEL_TYPE"] != ModelType.SEQUENTIAL:
            raise ValueError(
                "exclude_history_items applies to sequential models only (RecBole already skips a "
                f"general model's training items); {config['model']} is not one"
            )
        self._item_seq_field = config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"]

    @torch.no_grad()
    def _full_sort_batch_eval(self, batched_data):
        interaction, scores, positive_u, positive_i = super()._full_sort_batch_eval(batched_data)
        if self.exclude_history_items:
            scores = mask_history_items(scores, interaction[self._item_seq_field].to(scores.device))
        return interaction, scores, positive_u, positive_i
