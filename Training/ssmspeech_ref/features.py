"""Log-mel front end, version "logmel-v1" (Docs/ARCHITECTURE.md, "Feature specification").

16 kHz mono float samples -> (T, 80) natural-log mel energies:
periodic Hann 400, hop 160, 512-point real FFT of the zero-padded frame, power spectrum,
80 HTK triangular filters over 0..8000 Hz without area normalisation, log(max(x, 1e-10)).
Framing is causal without padding: `n` samples give `max(0, floor((n - 400)/160) + 1)` frames.
"""

from __future__ import annotations

import math

import numpy as np
import torch

SAMPLE_RATE = 16000
WIN_LENGTH = 400
HOP_LENGTH = 160
N_FFT = 512
N_FREQS = N_FFT // 2 + 1  # 257
N_MELS = 80
F_MIN = 0.0
F_MAX = 8000.0
LOG_FLOOR = 1e-10


def num_frames(n_samples: int) -> int:
    """Number of complete frames in `n_samples` samples (a trailing partial frame is dropped)."""
    if n_samples < WIN_LENGTH:
        return 0
    return (n_samples - WIN_LENGTH) // HOP_LENGTH + 1


def hann_window(length: int = WIN_LENGTH, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Periodic Hann window `w[n] = 0.5 - 0.5 cos(2 pi n / length)`; shape (length)."""
    n = torch.arange(length, dtype=torch.float64)
    return (0.5 - 0.5 * torch.cos(2.0 * math.pi * n / length)).to(dtype)


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


# Algorithm of torchaudio.functional.melscale_fbanks(norm=None, mel_scale="htk"):
# https://github.com/pytorch/audio/blob/main/src/torchaudio/functional/functional.py
def mel_filterbank(
    n_mels: int = N_MELS,
    n_freqs: int = N_FREQS,
    sample_rate: int = SAMPLE_RATE,
    f_min: float = F_MIN,
    f_max: float = F_MAX,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """HTK triangular mel filters without area normalisation.

    Returns shape (n_mels, n_freqs) = (80, 257): row `j` is filter `j` over the rFFT bins
    (note: torchaudio returns the transpose, (n_freqs, n_mels)).
    Computed in float64, then cast to `dtype`.
    """
    all_freqs = np.linspace(0.0, sample_rate / 2.0, n_freqs)  # (n_freqs)
    m_pts = np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)  # (n_mels + 2)
    f_pts = _mel_to_hz(m_pts)  # (n_mels + 2)
    lower = f_pts[:-2, None]  # (n_mels, 1)
    center = f_pts[1:-1, None]
    upper = f_pts[2:, None]
    down = (all_freqs[None, :] - lower) / (center - lower)  # rising edge, (n_mels, n_freqs)
    up = (upper - all_freqs[None, :]) / (upper - center)  # falling edge
    fb = np.maximum(0.0, np.minimum(down, up))
    return torch.from_numpy(fb).to(dtype)


def mel_center_frequencies(n_mels: int = N_MELS) -> np.ndarray:
    """Centre frequency in Hz of each mel filter, shape (n_mels)."""
    m_pts = np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), n_mels + 2)
    return _mel_to_hz(m_pts)[1:-1]


def log_mel(samples, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """logmel-v1 features of a 1-D signal (16 kHz, values in [-1, 1]).

    `samples`: tensor / array of shape (n). Returns (T, 80) in `dtype` with
    T = max(0, floor((n - 400)/160) + 1); frame t covers samples [160 t, 160 t + 400).
    """
    x = torch.as_tensor(np.asarray(samples) if not torch.is_tensor(samples) else samples)
    x = x.to(dtype).reshape(-1)  # (n)
    t = num_frames(x.numel())
    fb = mel_filterbank(dtype=dtype)  # (80, 257)
    if t == 0:
        return torch.zeros(0, fb.shape[0], dtype=dtype)
    frames = x.unfold(0, WIN_LENGTH, HOP_LENGTH)[:t]  # (T, 400)
    frames = frames * hann_window(dtype=dtype)
    spec = torch.fft.rfft(frames, n=N_FFT, dim=-1)  # (T, 257), zero-padded to 512
    power = spec.real.square() + spec.imag.square()  # (T, 257)
    mel = power @ fb.T  # (T, 80)
    return torch.log(torch.clamp(mel, min=LOG_FLOOR))
