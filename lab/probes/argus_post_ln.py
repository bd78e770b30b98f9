"""ARGUS with SASRec's encoder: RecBole's post-LayerNorm ``TransformerEncoder`` instead of ARGUS's pre-LayerNorm
stack (issue 16, item 1: where the id-only core's gap to SASRec comes from). The library's ``norm_first: False``
since session 38; the probe stays for the probes built on it.
"""

from recbole_ext.model.argus import ENCODER_KEYS, ARGUS
from recbole_ext.model.post_ln_encoder import PostLNEncoder


class ARGUSPostLN(ARGUS):
    """ARGUS (Khrylchenko et al., arXiv 2507.15994) with SASRec's post-LayerNorm encoder (Kang and McAuley,
    ICDM 2018, as RecBole implements it)."""

    config_bases = ("ARGUS",)

    def _build_layers(self, config, dataset):
        super()._build_layers(config, dataset)
        options = {key: config[key] for key in ENCODER_KEYS}
        self.encoder = PostLNEncoder(n_layers=config["n_layers"], hidden_size=self.hidden_size, **options)
