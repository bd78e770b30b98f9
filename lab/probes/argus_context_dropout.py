"""ARGUS whose events lose their context and feedback vectors at random while training (issue 16).

On ml-latest-small every rung of the ablation ladder after the id-only core sits below it on validation but
the item features' (session 46: id-only 0.0911; + ratings 0.0881; + hour / weekday / gap 0.0887; + absolute time
0.0801; + item features 0.0921): the summed event token lets the encoder lean on the ratings and the times of a
user's events, which identify the user's period and habits well enough to fit the training histories but carry
less about the next item. Dropping whole input modalities at random is the usual guard (feature / modality
dropout; Neverova et al., "ModDrop: adaptive multi-modal gesture recognition", TPAMI 2016): in training each
history event's context vector and, independently, its feedback vector are zeroed with probability
``context_dropout_prob`` (the class's; a probe has no yaml of its own), so the encoder must also work from the
items alone. The target's context read by the query, the targets and the feedback head's inputs stay whole;
evaluation drops nothing.
"""

import torch

from recbole_ext.model.argus import ARGUS


class ARGUSContextDropout50(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) trained with half of its events' context and feedback
    vectors zeroed in the input tokens."""

    config_bases = ("ARGUS",)
    context_dropout_prob = 0.5

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.variant != "simplified" or not self.additive_tokens:
            raise ValueError(f"{type(self).__name__} probes the summed token only (argus_variant: simplified, event_token: sum)")

    def dropped(self, vectors):
        """``vectors`` (``[B, L, d]``) with each event's zeroed w.p. ``context_dropout_prob`` (training only)."""
        if not self.training:
            return vectors
        kept = torch.rand(vectors.shape[:-1], device=vectors.device) >= self.context_dropout_prob
        return vectors * kept.unsqueeze(-1).to(vectors.dtype)

    def _encode(self, item_vectors, context, feedback, segments):
        return super()._encode(item_vectors, self.dropped(context), self.dropped(feedback), segments)


class ARGUSContextDropout25(ARGUSContextDropout50):
    """The same with a quarter of the context and feedback vectors zeroed."""

    context_dropout_prob = 0.25
