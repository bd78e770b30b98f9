"""ARGUS whose id-only event token is the item's embedding itself (issue 16, item 1).

The simplified variant fuses an event's context, item and feedback vectors through one Linear
(``event_fusion``) before the encoder; with feedback and context off, the item embedding reaches the encoder
only through that map, while the ``tied`` and ``projected`` output vectors read the embedding directly.
RecBole's SASRec adds the position embedding to the item embedding and normalises it, nothing between. This
probe does the same (item vector plus position, ARGUS's input LayerNorm and dropout), everything else ARGUS's.
"""

from recbole_ext.model.argus import ARGUS
from recbole_ext.model.layers import segment_positions


class ARGUSDirectItemToken(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, with SASRec's input token (Kang and McAuley,
    ICDM 2018): item embedding plus position embedding, no fusion layer."""

    config_bases = ("ARGUS",)

    def _encode(self, item_vectors, context, feedback, segments):
        if self.variant != "simplified" or self.feedback_fields or self.context_fields or self.time_context \
                or self.absolute_time_context:
            raise ValueError("ARGUSDirectItemToken is an id-only probe of the simplified variant: set "
                             "argus_variant: simplified, feedback_fields: {}, context_fields: [] and the time contexts off")
        tokens = item_vectors + self.position_embedding(segment_positions(segments))
        return self.encoder(self.input_dropout(self.input_norm(tokens)), self._attention_mask(segments, 1))
