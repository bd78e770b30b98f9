"""SASRec written in ARGUS's code, with SASRec's input token too (issue 16, item 1).

:mod:`lab.probes.argus_sasrec_windows` (SASRec's encoder, layout and recipe) climbed far slower than SASRec on
amazon-games (best valid MRR@10 0.0133 after 3 epochs against 0.0237). One part of SASRec it still lacked is the
input token: ARGUS's simplified variant passes the item embedding through its event-fusion Linear, whose
weights start at the initialiser's 0.02 scale, so at first the token is mostly the position embedding, and at
SASRec's learning rate (0.001) the map grows slowly. This probe adds :mod:`lab.probes.argus_direct_item_token`
(item plus position, no fusion layer): if it climbs as SASRec does, ARGUS's code reproduces SASRec and the gap
is in ARGUS's own choices.
"""

from lab.probes.argus_direct_item_token import ARGUSDirectItemToken
from lab.probes.argus_sasrec_windows import ARGUSSASRecWindows


class ARGUSSASRecDirectWindows(ARGUSSASRecWindows, ARGUSDirectItemToken):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994), id-only, as SASRec (Kang and McAuley, ICDM 2018): its input
    token, encoder and layout (a window per target)."""

    config_bases = ("ARGUS",)
