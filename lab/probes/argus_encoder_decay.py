"""ARGUS with weight decay on every weight but its item table (issue 16, item 1).

Decoupled weight decay (AdamW, ``learner: adamw``, ``weight_decay: 0.3``) on every weight lifts amazon-games'
id-only core on both splits and lowers ml-latest-small's; Adam's coupled L2 term did the same. The two datasets
differ most in their item tables: amazon-games' 16,859 items are seen about 20 times each in training,
ml-latest-small's 9.7k about 10 times but by users with long histories. On the item table alone the decay helps
on all three datasets and became ARGUS's ``item_weight_decay`` (session 53); this probe keeps the other half of
that question: the same decay on the encoder's weights instead, the item table left without any.
"""

from recbole_ext.model.argus import ARGUS, ARGUSTrainer

ITEM_TABLE = "item_embedding."


def encoder_decay_groups(model):
    """Two optimizer parameter groups: every weight but the item table (the optimizer's ``weight_decay``), and
    the item table (none)."""
    decayed, kept = [], []
    for name, parameter in model.named_parameters():
        (kept if name.startswith(ITEM_TABLE) else decayed).append(parameter)
    return [{"params": decayed}, {"params": kept, "weight_decay": 0.0}]


class EncoderDecayTrainer(ARGUSTrainer):
    """The optimizer's weight decay on every weight but the item table."""

    def _build_optimizer(self, **kwargs):
        kwargs.setdefault("params", encoder_decay_groups(self.model))
        return super()._build_optimizer(**kwargs)


class ARGUSEncoderDecay(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with ``weight_decay`` on every weight but its item table."""

    config_bases = ("ARGUS",)
    trainer_class = EncoderDecayTrainer
