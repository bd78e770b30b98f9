"""ARGUS reading event times to the second (issue 16, items 1 and 4).

RecBole stores a float field as float32, whose spacing at today's Unix times (about 1.5e9 s) is 128 seconds:
two ratings a few seconds apart read as the same time, or as 128 s apart. ARGUS's gap context
(``time_context``) then cannot tell a user rating down a list, one film every few seconds, from one who came
back two minutes later, and on ml-latest-small most test targets follow the event before them by less than a
minute (``python -m lab.target_gaps``). This probe's dataset keeps the time field in float64 (exact to well
below a second); nothing else changes.
"""

import numpy as np
import torch

from recbole_ext.data.argus_dataset import ARGUSDataset
from recbole_ext.model.argus import ARGUS


class ExactTimeDataset(ARGUSDataset):
    """ARGUS's dataset with its time field in float64."""

    def _dataframe_to_interaction(self, data):
        interaction = super()._dataframe_to_interaction(data)
        if self.time_field in data:
            interaction.interaction[self.time_field] = torch.from_numpy(data[self.time_field].values.astype(np.float64))
        return interaction


class ARGUSExactTime(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) on :class:`ExactTimeDataset`."""

    config_bases = ("ARGUS",)
    dataset_class = ExactTimeDataset
