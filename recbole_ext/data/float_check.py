"""A RecBole dataset that refuses NaN in the float fields a model embeds.

Stock RecBole silently replaces a missing float value by the column mean
(``Dataset._fill_nan``). For models that feed float fields to an MLP as dense
features (Wukong), a NaN in the raw file is a data error the user should see.
"""

from recbole.data.dataset import Dataset
from recbole.utils import FeatureType


class FloatCheckedDataset(Dataset):
    """``Dataset`` that raises ``ValueError`` naming the first float field
    listed in ``numerical_features`` that holds a NaN, before RecBole fills it."""

    def _fill_nan(self):
        numerical = set(self.config["numerical_features"] or [])
        for feat_name in self.feat_name_list:
            feat = getattr(self, feat_name)
            for field in feat:
                if field in numerical and self.field2type[field] == FeatureType.FLOAT:
                    missing = int(feat[field].isna().sum())
                    if missing:
                        raise ValueError(
                            f"float field '{field}' of {feat_name} has {missing} NaN value(s); "
                            f"fill or drop them, or remove '{field}' from numerical_features"
                        )
        super()._fill_nan()
