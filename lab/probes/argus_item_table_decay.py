"""ARGUS with weight decay on the item table only, or on everything but it (issue 16, item 1).

Decoupled weight decay (AdamW, ``learner: adamw``, ``weight_decay: 0.3``) lifts amazon-games' id-only core on
both splits and lowers ml-latest-small's; Adam's coupled L2 term did the same. The two datasets differ most in
their item tables: amazon-games' 12k items are seen about 17 times each in training, ml-latest-small's 9.7k
about 10 times but by users with long histories. These probes ask which weights the decay helps through: the
item table (every id's row: its input token and, tied, its output vector) or the encoder's.
"""

from recbole_ext.model.argus import ARGUS, ARGUSTrainer

ITEM_TABLE = "item_embedding."


def split_decay_groups(model, decay_item_table):
    """Two optimizer parameter groups: the decayed (``weight_decay`` of the optimizer) and the others (0)."""
    decayed, kept = [], []
    for name, parameter in model.named_parameters():
        (decayed if name.startswith(ITEM_TABLE) == decay_item_table else kept).append(parameter)
    return [{"params": decayed}, {"params": kept, "weight_decay": 0.0}]


class _SplitDecayTrainer(ARGUSTrainer):
    decay_item_table = True

    def _build_optimizer(self, **kwargs):
        kwargs.setdefault("params", split_decay_groups(self.model, self.decay_item_table))
        return super()._build_optimizer(**kwargs)


class ItemTableDecayTrainer(_SplitDecayTrainer):
    """The optimizer's weight decay on the item table only."""

    decay_item_table = True


class EncoderDecayTrainer(_SplitDecayTrainer):
    """The optimizer's weight decay on every weight but the item table."""

    decay_item_table = False


class ARGUSItemTableDecay(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with ``weight_decay`` on its item table only."""

    config_bases = ("ARGUS",)
    trainer_class = ItemTableDecayTrainer


class ARGUSEncoderDecay(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with ``weight_decay`` on every weight but its item table."""

    config_bases = ("ARGUS",)
    trainer_class = EncoderDecayTrainer
