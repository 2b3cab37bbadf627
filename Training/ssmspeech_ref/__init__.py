"""PyTorch reference implementation of SSMSpeech (see Docs/ARCHITECTURE.md).

This package is the numeric reference for the Swift engine: the log-mel front end
(`features`), the layers (`layers`: S4D, Mamba, CausalConv1d, norms) and the CTC encoder
(`encoder`). `Training/export_fixtures.py` uses it to write `Tests/Fixtures/`.
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
from .encoder import Encoder, EncoderConfig, MambaConfig, S4DConfig

__all__ = [
    "log_mel", "mel_filterbank", "hann_window", "num_frames",
    "CausalConv1d", "LayerNorm", "RMSNorm", "S4D", "S4DKernel", "Mamba", "gelu",
    "selective_scan_ref", "selective_scan_chunked",
    "Encoder", "EncoderConfig", "S4DConfig", "MambaConfig",
]
