"""ARGUS with weight decay on every weight but its item table (issue 16, item 1).

Decoupled weight decay (AdamW, ``learner: adamw``, ``weight_decay: 0.3``) on every weight lifts amazon-games'
id-only core on both splits and lowers ml-latest-small's; Adam's coupled L2 term did the same. The two datasets
differ most in their item tables: amazon-games' 16,859 items are seen about 20 times each in training,
ml-latest-small's 9.7k about 10 times but by users with long histories. On the item table alone the decay helps
on all three datasets and became ARGUS's ``item_weight_decay`` (session 53); this probe keeps the other half of
that question: the same decay on the encoder's weights instead, the item table left without any.
"""

from recbole_ext.model.argus import ARGUS, ARGUSTrainer, item_table_decay_groups


class EncoderDecayTrainer(ARGUSTrainer):
    """The optimizer's weight decay on every weight but the item table."""

    def _build_optimizer(self, **kwargs):
        # ARGUS's own groups with no decay on the item table: the optimizer's weight_decay acts on the others
        kwargs.setdefault("params", item_table_decay_groups(self.model, 0.0))
        return super()._build_optimizer(**kwargs)


class ARGUSEncoderDecay(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with ``weight_decay`` on every weight but its item table."""

    config_bases = ("ARGUS",)
    trainer_class = EncoderDecayTrainer
