"""ARGUS whose learning rate decays as the inverse square root of the step after its warm-up (issue 16, item 1).

ARGUS trains at a constant rate after a linear warm-up. amazon-games' id-only core peaks on validation after
about 900 steps and overfits while its training loss keeps falling; a lower constant rate (0.002) lowered that
peak, and halving the rate on each validation plateau (``argus_plateau_decay``) decayed too early on
ml-latest-small. The Transformer's own schedule (Vaswani et al., NeurIPS 2017) keeps the full rate to the end of the
warm-up and then shrinks it as ``sqrt(warmup_steps / step)``: large steps early, smaller ones as the fit
sharpens, with no horizon to guess (early stopping decides the length of a run).
"""

import math

from recbole_ext.model.argus import ARGUS, ARGUSTrainer, optimizer_step


def inverse_sqrt_scale(step, warmup_steps):
    """The rate's multiplier at optimizer step ``step`` (0-based): linear up to 1 over ``warmup_steps`` steps,
    then ``sqrt(warmup_steps / (step + 1))``."""
    steps_done = step + 1.0
    return min(steps_done / warmup_steps, math.sqrt(warmup_steps / steps_done))


class InverseSqrtDecayTrainer(ARGUSTrainer):
    """ARGUS's trainer, with the rate after the warm-up decaying as :func:`inverse_sqrt_scale` (read from Adam's
    step count, so a resumed run continues the schedule)."""

    def __init__(self, config, model):
        if not model.warmup_steps:
            raise ValueError("ARGUSInverseSqrtDecay needs warmup_steps > 0 (the decay starts where the warm-up ends)")
        super().__init__(config, model)

    def _warm_up(self, optimizer, *args):
        scale = inverse_sqrt_scale(optimizer_step(optimizer), self.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = self.learning_rate * scale


class ARGUSInverseSqrtDecay(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) trained with the inverse-square-root learning-rate decay
    after its warm-up."""

    config_bases = ("ARGUS",)
    trainer_class = InverseSqrtDecayTrainer
