"""PyTorch reference implementation of SSMSpeech (see Docs/ARCHITECTURE.md).

This package is the numeric reference for the Swift engine: the log-mel front end
(`features`), the layers (`layers`: S4D, Mamba, CausalConv1d, norms; `mamba2`: Mamba-2; `s5`: S5;
`attention`: the sliding-window attention of the hybrid encoder) and the CTC encoder (`encoder`).
`Training/export_fixtures.py` uses it to write `Tests/Fixtures/`.
"""

from .features import log_mel, mel_filterbank, hann_window, num_frames
from .layers import (
    CausalConv1d,
    LayerNorm,
    Mamba,
    RMSNorm,
    S4D,
    S4DKernel,
    gelu,
    selective_scan_chunked,
    selective_scan_ref,
)
from .mamba2 import Mamba2, ssd_scan_chunked, ssd_scan_ref
from .s5 import S5, s5_scan_chunked, s5_scan_ref
from .attention import MHA
from .encoder import Encoder, EncoderConfig, HybridConfig, Mamba2Config, MambaConfig, S4DConfig, S5Config

__all__ = [
    "log_mel", "mel_filterbank", "hann_window", "num_frames",
    "CausalConv1d", "LayerNorm", "RMSNorm", "S4D", "S4DKernel", "Mamba", "gelu",
    "selective_scan_ref", "selective_scan_chunked",
    "Mamba2", "ssd_scan_ref", "ssd_scan_chunked", "S5", "s5_scan_ref", "s5_scan_chunked", "MHA",
    "Encoder", "EncoderConfig", "S4DConfig", "MambaConfig", "Mamba2Config", "S5Config", "HybridConfig",
]
