"""ARGUS whose event token is the sum of its item, context and feedback vectors (issue 16, item 1).

The simplified variant fuses an event's context, item and feedback vectors through one Linear (``event_fusion``),
whose weights start at the initialiser's 0.02 scale: at first each event token is mostly its position embedding.
:mod:`lab.probes.argus_direct_item_token` dropped the fusion for the id-only core (the item vector plus position,
as SASRec's input). This probe does the same with everything ARGUS reads: the token is item + context + feedback
+ position (BERT's sum of input embeddings), each part already in the token width.
"""

from recbole_ext.model.argus import ARGUS
from recbole_ext.model.layers import segment_positions


class ARGUSAddedEventToken(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), simplified variant, with the event's vectors added into
    its token instead of fused by a Linear (Devlin et al., NAACL 2019, sum their input embeddings the same way)."""

    config_bases = ("ARGUS",)

    def _encode(self, item_vectors, context, feedback, segments):
        if self.variant != "simplified":
            raise ValueError("ARGUSAddedEventToken is a probe of the simplified variant: set argus_variant: simplified")
        tokens = item_vectors + context + feedback + self.position_embedding(segment_positions(segments))
        return self.encoder(self.input_dropout(self.input_norm(tokens)), self._attention_mask(segments, 1))
