"""ARGUS whose events with feedback or context keep the id-only core's token (issue 16, items 1, 3, 4).

With nothing but item ids, an ARGUS event is its item embedding, and the positions enter the attention logits
as a bias (``position_encoding: decoupled``, RecBole's post-LayerNorm encoder). Once events carry feedback or
context, the default token is one Linear over ``[context; item; feedback]`` (``event_fusion``) with the
positions added. This probe keeps the core's token and adds the event's context and feedback vectors to it
(each already ``hidden_size`` wide), so that with ``--set norm_first=false position_encoding=decoupled
query_head=hidden`` a row with ratings or time is the id-only core plus those vectors, nothing else changed.
:mod:`lab.probes.argus_added_event_token` added them the same way but always with positions added to the
token and without the attention bias.
"""

from recbole_ext.model.argus import ARGUS
from recbole_ext.model.layers import segment_positions


class ARGUSCoreEventToken(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), simplified variant, event token = item + context +
    feedback vectors (the sum of input embeddings of Devlin et al., NAACL 2019), on any position encoding."""

    config_bases = ("ARGUS",)

    def _encode(self, item_vectors, context, feedback, segments):
        if self.variant != "simplified":
            raise ValueError("ARGUSCoreEventToken is a probe of the simplified variant: set argus_variant: simplified")
        positions = self.position_embedding(segment_positions(segments))
        tokens = item_vectors + context + feedback
        if self.position_bias is None:
            tokens = tokens + positions
        return self._run_encoder(self.input_dropout(self.input_norm(tokens)), segments, positions, 1)
