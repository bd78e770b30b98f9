"""ARGUS whose learning rate halves after every validation that does not improve (issue 16, item 1).

ARGUS trains at a constant learning rate (0.005) and validates an exponential moving average of its weights;
on ml-latest-small its validation curve is noisy enough that patience 5 ends some seeds early on a dip (seed
2022 of the id-only row: 20 epochs, best valid MRR@10 0.0629 against 0.0779-0.0811). Lowering the rate on a
plateau (PyTorch's ``ReduceLROnPlateau`` with patience 0) is the usual remedy: each stalled epoch makes the next
steps smaller, so the weights settle instead of wandering. The halving lives in the optimizer's state, so a
resumed run continues at the rate it stopped at.
"""

from recbole_ext.model.argus import ARGUS, ARGUSTrainer

#: the learning rate is multiplied by this after each validation below the best so far
PLATEAU_FACTOR = 0.5


class PlateauDecayTrainer(ARGUSTrainer):
    """ARGUS's trainer, with the learning rate cut by :data:`PLATEAU_FACTOR` after each epoch whose validation
    score is below the best so far (RecBole's early stopping counts the same epochs)."""

    def __init__(self, config, model):
        if model.warmup_steps:
            raise ValueError("ARGUSPlateauDecay needs warmup_steps: 0 (the warm-up sets the learning rate every step)")
        super().__init__(config, model)

    def _valid_epoch(self, valid_data, show_progress=False):
        valid_score, valid_result = super()._valid_epoch(valid_data, show_progress=show_progress)
        stalled = valid_score < self.best_valid_score if self.valid_metric_bigger else valid_score > self.best_valid_score
        if stalled:
            for group in self.optimizer.param_groups:
                group["lr"] *= PLATEAU_FACTOR
        return valid_score, valid_result


class ARGUSPlateauDecay(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) trained with its learning rate halved on every
    validation plateau."""

    config_bases = ("ARGUS",)
    trainer_class = PlateauDecayTrainer
