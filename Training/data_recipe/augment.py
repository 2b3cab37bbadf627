"""On-the-fly waveform and feature augmentation (numpy; seeded through ``numpy.random.Generator``).

Everything takes and returns float32 mono waveforms in [-1, 1] at ``sr`` Hz (16 kHz by default), so a
training data loader can apply fresh augmentation every epoch:

    aug = Augmenter(seed=epoch * 100003 + worker_id, babble_pool=[...])
    y = aug(x)                      # random chain, see Augmenter
    feats = spec_augment(feats, rng) / vtlp_spectrogram(...)   # on features

Waveform functions
    read_mono(src, sr)                    an audio file (path or bytes) -> mono float32 at ``sr`` Hz
    resample(x, orig_sr, new_sr)          windowed-sinc polyphase resampler (pure numpy)
    speed_perturb(x, factor)              tempo and pitch together (Kaldi-style, resampling)
    time_stretch(x, rate)                 tempo only (phase vocoder)
    pitch_shift(x, semitones)             pitch only (time_stretch + resample)
    colored_noise(n, kind, rng)           white / pink / brown noise
    hum(n, rng, sr)                       50/60 Hz mains hum with harmonics
    babble(n, pool, rng, k)               sum of k other utterances
    add_noise(x, noise, snr_db)           mixes at an exact signal-to-noise ratio
    synthetic_rir(rng, sr, rt60)          exponentially decaying room impulse response
    reverberate(x, rir)                   convolution (FFT), same length, same RMS
    mu_law_roundtrip / a_law_roundtrip    8-bit companding round trips
    telephone(x, rng, sr, codec)          300-3400 Hz band, 8 kHz, mu-law / A-law / GSM round trip
    gsm_roundtrip(x, sr)                  GSM 06.10 through ``sox`` (offline; needs the binary)
    gain(x, db)
    random_eq(x, rng, sr)                 channel colouration: smooth random EQ curve + high-pass corner
    acoustics.py                          real noise clips, simulated room IRs, cabinet IRs; used through
                                          Augmenter(acoustics=...) / Augmenter.with_acoustics(...)

Feature functions
    vtlp_spectrogram(spec, alpha, sr)     vocal-tract-length perturbation as a frequency warp of a
                                          (..., T, F) linear-frequency spectrogram (Jaitly & Hinton 2013)
    vtlp_warp_matrix(n_freq, alpha, sr)   the same warp as an (F, F) matrix, to fold into a mel bank
    spec_augment(feats, rng, ...)         frequency and time masking (Park et al. 2019)

Run ``python -m Training.data_recipe.augment`` for a self-test.
"""
from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "resample", "speed_perturb", "time_stretch", "pitch_shift", "colored_noise", "hum", "babble",
    "add_noise", "snr_db", "synthetic_rir", "reverberate", "mu_law_roundtrip", "a_law_roundtrip",
    "telephone", "gsm_roundtrip", "gain", "random_eq", "vtlp_spectrogram", "vtlp_warp_matrix", "spec_augment",
    "Augmenter",
]

EPS = 1e-10


# ----------------------------------------------------------------------------------------------
# Resampling
# ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _polyphase_filters(up: int, down: int, zeros: int, rolloff: float):
    cutoff = min(1.0, up / down) * rolloff            # in units of the input Nyquist
    half = int(math.ceil(zeros / cutoff))             # taps each side, in input samples
    j = np.arange(-half + 1, half + 1)                # tap offsets relative to floor(t)
    phase = np.arange(up)[:, None] / up               # fractional position of each phase
    tau = phase - j[None, :]                          # t - n, in input samples
    w = np.cos(np.clip(tau / half, -1, 1) * math.pi / 2) ** 2      # Hann-like window
    h = cutoff * np.sinc(cutoff * tau) * w
    return j.astype(np.int64), h.astype(np.float32)


def read_mono(src, sr: int = 16000) -> np.ndarray:
    """An audio file, given as a path or as its bytes, -> mono float32 at ``sr`` Hz: channels
    averaged, other rates through ``resample``. Samples are not clipped."""
    import io
    import soundfile as sf
    x, file_sr = sf.read(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else str(src),
                         dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return resample(x, file_sr, sr) if file_sr != sr else x


def resample(x, orig_sr: int, new_sr: int, zeros: int = 16, rolloff: float = 0.945) -> np.ndarray:
    """Band-limited resampling by the rational factor new_sr/orig_sr (polyphase windowed sinc)."""
    x = np.asarray(x, dtype=np.float32)
    orig_sr, new_sr = int(orig_sr), int(new_sr)
    if orig_sr == new_sr or x.size == 0:
        return x.copy()
    g = math.gcd(orig_sr, new_sr)
    up, down = new_sr // g, orig_sr // g
    j, h = _polyphase_filters(up, down, zeros, rolloff)
    n_out = int(math.ceil(len(x) * up / down))
    pad = len(j)
    xp = np.concatenate([np.zeros(pad, np.float32), x, np.zeros(pad, np.float32)])
    y = np.empty(n_out, np.float32)
    block = max(1, 2_000_000 // len(j))
    for s in range(0, n_out, block):
        k = np.arange(s, min(n_out, s + block), dtype=np.int64)
        base = (k * down) // up
        ph = (k * down) % up
        idx = base[:, None] + j[None, :] + pad
        y[s:s + len(k)] = np.einsum("ij,ij->i", xp[idx], h[ph])
    return y


def speed_perturb(x, factor: float, sr: int = 16000) -> np.ndarray:
    """Plays the audio ``factor`` times faster (tempo and pitch both scale, as in Kaldi/sox speed).
    The factor is rounded so that sr*factor is a multiple of 100 Hz (keeps the polyphase bank small)."""
    src = int(round(sr * factor / 100.0)) * 100
    return resample(x, src, sr)


def _stft(x, n_fft: int, hop: int):
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    pad = n_fft // 2
    xp = np.pad(x, (pad, pad + n_fft))
    n = 1 + (len(xp) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    return np.fft.rfft(xp[idx] * win, axis=1), win


def _istft(S, win, hop: int, length: int):
    n_fft = len(win)
    frames = np.fft.irfft(S, n=n_fft, axis=1) * win
    out = np.zeros(hop * (len(S) - 1) + n_fft, np.float64)
    norm = np.zeros_like(out)
    for i, f in enumerate(frames):
        out[i * hop:i * hop + n_fft] += f
        norm[i * hop:i * hop + n_fft] += win ** 2
    out /= np.maximum(norm, 1e-3)
    pad = n_fft // 2
    return out[pad:pad + length].astype(np.float32)


def time_stretch(x, rate: float, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Changes tempo by ``rate`` (>1 faster) keeping pitch (phase vocoder with phase locking to the
    analysis phase advance)."""
    x = np.asarray(x, dtype=np.float32)
    if abs(rate - 1.0) < 1e-6 or len(x) < n_fft:
        return x.copy()
    S, win = _stft(x, n_fft, hop)
    steps = np.arange(0, len(S) - 1, rate)
    omega = 2 * np.pi * hop * np.arange(S.shape[1]) / n_fft
    phase = np.angle(S[0])
    out = np.empty((len(steps), S.shape[1]), np.complex128)
    for i, t in enumerate(steps):
        a = int(t)
        frac = t - a
        m = (1 - frac) * np.abs(S[a]) + frac * np.abs(S[a + 1])
        out[i] = m * np.exp(1j * phase)
        dphi = np.angle(S[a + 1]) - np.angle(S[a]) - omega
        dphi -= 2 * np.pi * np.round(dphi / (2 * np.pi))
        phase = phase + omega + dphi
    return _istft(out, win, hop, int(round(len(x) / rate)))


def pitch_shift(x, semitones: float, sr: int = 16000) -> np.ndarray:
    """Shifts pitch (and formants) by ``semitones`` keeping the duration."""
    x = np.asarray(x, dtype=np.float32)
    if abs(semitones) < 1e-3:
        return x.copy()
    factor = 2.0 ** (semitones / 12.0)
    y = speed_perturb(time_stretch(x, 1.0 / factor), factor, sr)
    if len(y) >= len(x):
        return y[:len(x)]
    return np.pad(y, (0, len(x) - len(y)))


# ----------------------------------------------------------------------------------------------
# Noise
# ----------------------------------------------------------------------------------------------
def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise: ``white`` (flat), ``pink`` (1/f power), ``brown`` (1/f^2 power),
    ``blue`` (f power)."""
    alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0}[kind]
    if alpha == 0.0:
        y = rng.standard_normal(n)
    else:
        spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
        f = np.arange(n // 2 + 1, dtype=np.float64)
        f[0] = 1.0
        spec *= f ** (-alpha / 2.0)
        spec[0] = 0.0
        y = np.fft.irfft(spec, n=n)
    y = y / (np.sqrt(np.mean(y ** 2)) + EPS)
    return y.astype(np.float32)


def hum(n: int, rng: np.random.Generator, sr: int = 16000) -> np.ndarray:
    """Unit-RMS mains hum: 50 or 60 Hz (+-0.5 Hz) with a few decaying harmonics and a little noise."""
    f0 = rng.choice([50.0, 60.0]) + rng.uniform(-0.5, 0.5)
    t = np.arange(n) / sr
    y = np.zeros(n)
    for h in range(1, int(rng.integers(3, 9))):
        y += rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
    y += 0.05 * rng.standard_normal(n)
    y = y / (np.sqrt(np.mean(y ** 2)) + EPS)
    return y.astype(np.float32)


def babble(n: int, pool, rng: np.random.Generator, k: int = 4) -> np.ndarray:
    """Unit-RMS babble: k utterances from ``pool`` (a list of waveforms, e.g. other TTS utterances),
    each RMS-normalised, looped to length n and started at a random offset."""
    if not pool:
        return colored_noise(n, "pink", rng)
    y = np.zeros(n, np.float64)
    for _ in range(k):
        u = np.asarray(pool[int(rng.integers(len(pool)))], dtype=np.float64)
        if len(u) == 0:
            continue
        u = u / (np.sqrt(np.mean(u ** 2)) + EPS)
        reps = int(math.ceil((n + len(u)) / len(u)))
        u = np.tile(u, reps)
        off = int(rng.integers(len(u) - n + 1))
        y += u[off:off + n]
    y = y / (np.sqrt(np.mean(y ** 2)) + EPS)
    return y.astype(np.float32)


def snr_db(signal, noise) -> float:
    ps = float(np.mean(np.asarray(signal, np.float64) ** 2))
    pn = float(np.mean(np.asarray(noise, np.float64) ** 2))
    return 10 * math.log10((ps + EPS) / (pn + EPS))


def add_noise(x, noise, snr: float) -> np.ndarray:
    """x + noise scaled so that 10*log10(P_x / P_noise) == snr (powers over the whole signal).
    The noise is tiled or cut to len(x)."""
    x = np.asarray(x, dtype=np.float32)
    noise = np.asarray(noise, dtype=np.float32)
    if len(noise) < len(x):
        noise = np.tile(noise, int(math.ceil(len(x) / max(1, len(noise)))))
    noise = noise[:len(x)]
    px = np.mean(x.astype(np.float64) ** 2)
    pn = np.mean(noise.astype(np.float64) ** 2)
    if pn < EPS or px < EPS:
        return x.copy()
    scale = math.sqrt(px / (pn * 10 ** (snr / 10.0)))
    return (x + scale * noise).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Reverberation
# ----------------------------------------------------------------------------------------------
def synthetic_rir(rng: np.random.Generator, sr: int = 16000, rt60: float | None = None,
                  drr_db: float | None = None) -> np.ndarray:
    """Room impulse response: a direct-path impulse, a few early reflections, and an exponentially
    decaying noise tail with reverberation time ``rt60`` (s; default uniform 0.15-0.9) whose energy is
    ``drr_db`` below the direct sound (default uniform -3..+12 dB).  Peak of the direct path at 0."""
    rt60 = float(rng.uniform(0.15, 0.9)) if rt60 is None else rt60
    drr_db = float(rng.uniform(-3, 12)) if drr_db is None else drr_db
    n = int(sr * min(1.2, rt60 * 1.2))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)       # 60 dB decay at rt60
    tail[: int(0.002 * sr)] = 0.0
    # early reflections within the first 50 ms
    for _ in range(int(rng.integers(3, 8))):
        k = int(rng.uniform(0.002, 0.05) * sr)
        tail[k] += rng.uniform(-0.8, 0.8) * math.exp(-6.9078 * k / sr / rt60) * 4.0
    # simple air absorption: smooth the tail a little
    tail = np.convolve(tail, np.ones(3) / 3.0, mode="same")
    e_tail = np.sum(tail ** 2)
    tail *= math.sqrt(10 ** (-drr_db / 10.0) / (e_tail + EPS))
    h = tail
    h[0] = 1.0
    return h.astype(np.float32)


def _fftconvolve(x, h):
    n = len(x) + len(h) - 1
    nfft = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(h, nfft), nfft)[:n]


def reverberate(x, rir) -> np.ndarray:
    """Convolves with ``rir`` (direct path at index 0); same length and RMS as x."""
    x = np.asarray(x, dtype=np.float32)
    y = _fftconvolve(x.astype(np.float64), np.asarray(rir, np.float64))[:len(x)]
    rx, ry = np.sqrt(np.mean(x.astype(np.float64) ** 2)), np.sqrt(np.mean(y ** 2))
    return (y * (rx / (ry + EPS))).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Telephone channel
# ----------------------------------------------------------------------------------------------
def mu_law_roundtrip(x, mu: int = 255) -> np.ndarray:
    """8-bit mu-law (G.711-style continuous companding) encode/decode."""
    x = np.clip(np.asarray(x, np.float32), -1, 1)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / math.log1p(mu)
    q = np.round((y + 1) / 2 * mu)                    # 256 levels
    y = 2 * q / mu - 1
    return (np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu).astype(np.float32)


def a_law_roundtrip(x, A: float = 87.6) -> np.ndarray:
    """8-bit A-law encode/decode."""
    x = np.clip(np.asarray(x, np.float64), -1, 1)
    ax = np.abs(x)
    la = 1 + math.log(A)
    y = np.where(ax < 1 / A, A * ax / la, (1 + np.log(np.maximum(A * ax, 1e-12))) / la) * np.sign(x)
    y = np.round((y + 1) / 2 * 255) / 255 * 2 - 1
    ay = np.abs(y)
    x2 = np.where(ay < 1 / la, ay * la / A, np.exp(ay * la - 1) / A) * np.sign(y)
    return x2.astype(np.float32)


def _bandpass_fft(x, sr: int, lo: float, hi: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth-magnitude band-pass applied in the frequency domain."""
    n = len(x)
    nfft = 1 << (n - 1).bit_length()
    X = np.fft.rfft(x, nfft)
    f = np.fft.rfftfreq(nfft, 1.0 / sr)
    with np.errstate(divide="ignore"):
        hp = 1.0 / np.sqrt(1.0 + (lo / np.maximum(f, 1e-3)) ** (2 * order))
    lp = 1.0 / np.sqrt(1.0 + (f / hi) ** (2 * order))
    return np.fft.irfft(X * hp * lp, nfft)[:n].astype(np.float32)


def gsm_roundtrip(x, sr: int = 16000) -> np.ndarray:
    """GSM 06.10 full-rate codec round trip at 8 kHz through the ``sox`` binary (offline use; raises
    RuntimeError when sox is missing).  Returns audio at ``sr``, same length."""
    if shutil.which("sox") is None:
        raise RuntimeError("sox not found (apt-get install sox)")
    import soundfile as sf
    x = np.asarray(x, np.float32)
    with tempfile.TemporaryDirectory() as d:
        a, b, c = Path(d) / "a.wav", Path(d) / "b.gsm", Path(d) / "c.wav"
        sf.write(str(a), np.clip(x, -1, 1), sr, subtype="PCM_16")
        subprocess.run(["sox", str(a), "-r", "8000", "-c", "1", str(b)], check=True,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["sox", str(b), "-r", str(sr), "-b", "16", str(c)], check=True,
                       stderr=subprocess.DEVNULL)
        y, _ = sf.read(str(c), dtype="float32")
    if len(y) >= len(x):
        return y[:len(x)]
    return np.pad(y, (0, len(x) - len(y)))


def telephone(x, rng: np.random.Generator | None = None, sr: int = 16000, codec: str | None = None,
              lo_range=(200.0, 400.0), hi_range=(3200.0, 3600.0)) -> np.ndarray:
    """Telephone channel: band-pass ~300-3400 Hz (corners uniform in ``lo_range`` / ``hi_range``,
    4th-order Butterworth magnitude), down to 8 kHz, codec round trip (``mulaw``, ``alaw``, ``gsm``
    (needs sox) or ``none``; random among mulaw/alaw/none by default), back to sr.
    Output length equals input length."""
    rng = rng or np.random.default_rng()
    x = np.asarray(x, np.float32)
    if codec is None:
        codec = str(rng.choice(["mulaw", "mulaw", "alaw", "none"]))
    lo = float(rng.uniform(*lo_range))
    hi = float(rng.uniform(*hi_range))
    y = _bandpass_fft(x, sr, lo, hi)
    if codec == "gsm":
        y = gsm_roundtrip(y, sr)
    else:
        y8 = resample(y, sr, 8000)
        peak = np.max(np.abs(y8)) + EPS
        level = 10 ** (rng.uniform(-12, -1) / 20.0) / peak     # codecs are level dependent
        y8 = y8 * level
        if codec == "mulaw":
            y8 = mu_law_roundtrip(y8)
        elif codec == "alaw":
            y8 = a_law_roundtrip(y8)
        y8 = y8 / level
        y = resample(y8, 8000, sr)
    if len(y) >= len(x):
        return y[:len(x)].astype(np.float32)
    return np.pad(y, (0, len(x) - len(y))).astype(np.float32)


def gain(x, db: float) -> np.ndarray:
    return (np.asarray(x, np.float32) * 10 ** (db / 20.0)).astype(np.float32)


def random_eq(x, rng: np.random.Generator, sr: int = 16000, max_db: float = 9.0, n_points: int = 6) -> np.ndarray:
    """Microphone / channel colouration, which synthetic speech lacks and every real recording has:
    a smooth random gain curve (uniform in +-max_db at ``n_points`` control points spaced evenly in
    log frequency from 100 Hz to sr/2, linear in log frequency between them) times a 2nd-order
    high-pass magnitude with a random corner of 40-250 Hz. Applied in the frequency domain (zero
    phase); output has the input's length and RMS."""
    x = np.asarray(x, np.float32)
    n = len(x)
    if n == 0:
        return x.copy()
    nfft = 1 << max(1, (n - 1).bit_length())
    f = np.fft.rfftfreq(nfft, 1.0 / sr)
    knots = np.log(np.geomspace(100.0, sr / 2, n_points))
    g_db = np.interp(np.log(np.maximum(f, 1.0)), knots, rng.uniform(-max_db, max_db, n_points))
    corner = float(rng.uniform(40.0, 250.0))
    g = 10 ** (g_db / 20.0) / np.sqrt(1.0 + (corner / np.maximum(f, 1e-3)) ** 4)
    y = np.fft.irfft(np.fft.rfft(x, nfft) * g, nfft)[:n]
    rx, ry = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), float(np.sqrt(np.mean(y ** 2)))
    return (y * (rx / ry) if ry > EPS else y).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Feature-domain augmentation
# ----------------------------------------------------------------------------------------------
def _vtlp_map(freqs, alpha: float, sr: int, f_hi: float = 4800.0):
    """Piecewise-linear warp of Jaitly & Hinton: f -> alpha*f below a boundary, then linear to Nyquist."""
    nyq = sr / 2.0
    boundary = f_hi * min(alpha, 1.0) / alpha
    freqs = np.asarray(freqs, np.float64)
    return np.where(freqs <= boundary, freqs * alpha,
                    nyq - (nyq - f_hi * min(alpha, 1.0)) / (nyq - boundary) * (nyq - freqs))


def vtlp_warp_matrix(n_freq: int, alpha: float, sr: int = 16000, f_hi: float = 4800.0) -> np.ndarray:
    """(n_freq, n_freq) matrix W such that ``spec @ W`` warps a linear-frequency power spectrogram
    (..., T, n_freq) by factor alpha (typical range 0.9-1.1).  Fold it into a mel bank as
    ``W @ melbank`` to apply VTLP at no extra cost."""
    freqs = np.linspace(0, sr / 2.0, n_freq)
    warped = _vtlp_map(freqs, alpha, sr, f_hi)
    pos = warped / (sr / 2.0) * (n_freq - 1)
    W = np.zeros((n_freq, n_freq), np.float32)
    lo = np.clip(np.floor(pos).astype(int), 0, n_freq - 1)
    hi = np.clip(lo + 1, 0, n_freq - 1)
    frac = pos - lo
    for i in range(n_freq):                 # source bin i moves to position pos[i]
        W[i, lo[i]] += 1 - frac[i]
        W[i, hi[i]] += frac[i]
    return W


def vtlp_spectrogram(spec, alpha: float, sr: int = 16000, f_hi: float = 4800.0):
    """Warps a linear-frequency (power or magnitude) spectrogram (..., T, F) along frequency.
    Works on numpy arrays and torch tensors."""
    n_freq = spec.shape[-1]
    W = vtlp_warp_matrix(n_freq, alpha, sr, f_hi)
    try:
        import torch
        if isinstance(spec, torch.Tensor):
            return spec @ torch.as_tensor(W, dtype=spec.dtype, device=spec.device)
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(spec) @ W


def spec_augment(feats, rng: np.random.Generator, n_freq_masks: int = 2, max_freq: int = 15,
                 n_time_masks: int | None = None, max_time: int = 40, max_time_ratio: float = 0.05,
                 fill: float | None = None):
    """Frequency and time masking on (T, F) features (numpy or torch; returns a masked copy).
    ``n_time_masks`` defaults to one per ~2.5 s (250 frames) of input, at least 1; each time mask is
    at most min(max_time, max_time_ratio*T) frames.  Masked values are set to ``fill`` (default: the
    mean of the features)."""
    try:
        import torch
        is_torch = isinstance(feats, torch.Tensor)
    except ImportError:  # pragma: no cover
        is_torch = False
    y = feats.clone() if is_torch else np.array(feats, copy=True)
    T, F = y.shape[-2], y.shape[-1]
    value = float(y.mean()) if fill is None else fill
    for _ in range(n_freq_masks):
        w = int(rng.integers(0, max_freq + 1))
        if w and F > w:
            f0 = int(rng.integers(0, F - w + 1))
            y[..., :, f0:f0 + w] = value
    if n_time_masks is None:
        n_time_masks = max(1, T // 250)
    tmax = int(min(max_time, max_time_ratio * T))
    for _ in range(n_time_masks):
        w = int(rng.integers(0, tmax + 1)) if tmax > 0 else 0
        if w and T > w:
            t0 = int(rng.integers(0, T - w + 1))
            y[..., t0:t0 + w, :] = value
    return y


# ----------------------------------------------------------------------------------------------
# A random chain
# ----------------------------------------------------------------------------------------------
class Augmenter:
    """Random augmentation chain for 16 kHz synthetic speech.

    Order: speed (p_speed, factor in speed_range) -> pitch (p_pitch, +-pitch_semitones) ->
    reverb (p_reverb) -> channel EQ (p_eq, ``random_eq``) -> [cabinet IR (p_cabinet)] -> noise
    (p_noise: white/pink/brown/hum/babble, SNR uniform in snr_range) -> telephone (p_telephone) ->
    gain (p_gain, gain_db_range) -> peak <= 1.

    ``babble_pool``: list of waveforms (other utterances) for babble noise; without it babble falls
    back to pink noise.  The instance's Generator is seeded by ``seed``; pass a new seed per epoch and
    data-loader worker for fresh but reproducible augmentation.  ``last`` records what was applied.

    Real acoustics (``acoustics``: an ``acoustics.AcousticBanks`` or the folder built by
    ``python -m Training.data_recipe.acoustics``, default ``Training/data/acoustics``).  Without it
    the chain, its defaults and its random draws are exactly as before.  With it:

    * reverb: with probability ``p_room`` (default 0.8) a simulated room IR from the bank instead of
      ``synthetic_rir``;
    * noise: with probability ``p_real_noise`` (default 0.5) a real recorded clip (random segment,
      looped if short; a source is drawn uniformly, then a clip) at an SNR uniform in
      ``real_snr_range`` (default 0-25 dB) instead of the synthetic kinds;
    * cabinet: with probability ``p_cabinet`` (default 0.1) a loudspeaker/cabinet IR
      (``acoustics.cabinet_colour``), after the EQ and before the noise;
    * telephone: a telephone pass uses GSM 06.10 through sox with probability ``p_gsm`` (default 0:
      it runs two sox processes, ~20 ms) and otherwise the numpy mu-law/A-law/none channel;
      ``telephone_band`` = (lo_range, hi_range) sets its band edges (default ``telephone``'s
      200-400 / 3200-3600 Hz; ``with_acoustics`` uses 250-350 / 3300-3500 Hz).

    For the trainer, the recipe chain with acoustics and probabilities scaled by ``strength``:

        aug = Augmenter.with_acoustics(seed=seed, strength=1.0)     # Training/data/acoustics
        aug = Augmenter.with_acoustics(seed, 1.0, "Training/data/acoustics", p_telephone=0.3)
    """

    def __init__(self, seed: int | None = None, sr: int = 16000, babble_pool=None,
                 p_speed=0.5, speed_range=(0.85, 1.15), p_pitch=0.2, pitch_semitones=2.5,
                 p_reverb=0.3, p_noise=0.6, snr_range=(0.0, 30.0), p_telephone=0.25,
                 p_gain=0.5, gain_db_range=(-18.0, 6.0), noise_weights=None, p_eq=0.0,
                 acoustics=None, p_real_noise=None, real_snr_range=(0.0, 25.0), p_room=None,
                 p_cabinet=None, p_gsm=0.0, telephone_band=None):
        self.rng = np.random.default_rng(seed)
        self.sr = sr
        self.babble_pool = list(babble_pool or [])
        self.p_speed, self.speed_range = p_speed, speed_range
        self.p_pitch, self.pitch_semitones = p_pitch, pitch_semitones
        self.p_reverb, self.p_noise, self.snr_range = p_reverb, p_noise, snr_range
        self.p_telephone, self.p_gain, self.gain_db_range = p_telephone, p_gain, gain_db_range
        self.p_eq = p_eq
        self.noise_weights = noise_weights or {"white": 1, "pink": 2, "brown": 1, "hum": 1, "babble": 3}
        self.acoustics = self._load_banks(acoustics, sr)
        banks = self.acoustics
        self.p_real_noise = (0.5 if p_real_noise is None else p_real_noise) if banks and banks.noise else 0.0
        self.p_room = (0.8 if p_room is None else p_room) if banks and banks.rirs else 0.0
        self.p_cabinet = (0.1 if p_cabinet is None else p_cabinet) if banks and banks.cabinet else 0.0
        self.real_snr_range = real_snr_range
        self.p_gsm = p_gsm if p_gsm and shutil.which("sox") else 0.0
        self.telephone_band = telephone_band        # None or (lo_range, hi_range) for ``telephone``
        self.last: dict = {}

    @staticmethod
    def _load_banks(acoustics, sr: int):
        if acoustics is None:
            return None
        if hasattr(acoustics, "noise") and hasattr(acoustics, "rirs"):
            return acoustics                                  # an AcousticBanks (any import path)
        from .acoustics import AcousticBanks
        return AcousticBanks.load(acoustics, split="train", sr=sr)

    @classmethod
    def with_acoustics(cls, seed: int | None = None, strength: float = 1.0, acoustics_dir=None,
                       p_telephone: float | None = None, **overrides) -> "Augmenter":
        """The recipe chain of ``train.py --augmenter recipe`` (probabilities scaled by ``strength``)
        plus the real-acoustics banks from ``acoustics_dir`` (default ``Training/data/acoustics``;
        FileNotFoundError when it holds no bank).  Reverb is a little more likely than in the recipe
        (0.5 x strength) since it now uses simulated rooms, the telephone share is 0.3 x strength
        (override with ``p_telephone``) with a 250-350 / 3300-3500 Hz band, real noise is 60 % of the
        noise, simulated rooms 80 % of the reverb, cabinet IRs 0.15 x strength; any constructor
        argument can be overridden by keyword (e.g. ``p_gsm=0.1`` where sox is installed)."""
        from .acoustics import DEFAULT_DIR
        s = float(strength)
        kw = dict(p_speed=min(1.0, 0.8 * s), speed_range=(0.88, 1.12), p_pitch=min(1.0, 0.25 * s),
                  pitch_semitones=2.5, p_reverb=min(1.0, 0.5 * s), p_eq=min(1.0, 0.5 * s),
                  p_noise=min(1.0, 0.6 * s), snr_range=(5.0, 30.0), p_gain=1.0, gain_db_range=(-20.0, 6.0),
                  p_telephone=min(1.0, 0.3 * s) if p_telephone is None else p_telephone,
                  p_real_noise=0.6, real_snr_range=(0.0, 25.0), p_room=0.8,
                  p_cabinet=min(1.0, 0.15 * s), p_gsm=0.0, telephone_band=((250.0, 350.0), (3300.0, 3500.0)))
        kw.update(overrides)
        return cls(seed=seed, acoustics=DEFAULT_DIR if acoustics_dir is None else acoustics_dir, **kw)

    def add_to_pool(self, wave, max_size: int = 200):
        self.babble_pool.append(np.asarray(wave, np.float32))
        if len(self.babble_pool) > max_size:
            self.babble_pool.pop(int(self.rng.integers(len(self.babble_pool))))

    def noise(self, n: int) -> tuple[np.ndarray, str]:
        kinds = list(self.noise_weights)
        p = np.array([self.noise_weights[k] for k in kinds], np.float64)
        kind = str(self.rng.choice(kinds, p=p / p.sum()))
        if kind == "hum":
            return hum(n, self.rng, self.sr), kind
        if kind == "babble":
            return babble(n, self.babble_pool, self.rng, int(self.rng.integers(2, 7))), kind
        return colored_noise(n, kind, self.rng), kind

    def __call__(self, x) -> np.ndarray:
        r, sr = self.rng, self.sr
        y = np.asarray(x, np.float32)
        applied = {}
        if r.random() < self.p_speed:
            f = float(r.uniform(*self.speed_range))
            y = speed_perturb(y, f, sr)
            applied["speed"] = round(f, 3)
        if r.random() < self.p_pitch:
            s = float(r.uniform(-self.pitch_semitones, self.pitch_semitones))
            y = pitch_shift(y, s, sr)
            applied["pitch"] = round(s, 2)
        banks = self.acoustics
        if r.random() < self.p_reverb:
            if self.p_room > 0 and r.random() < self.p_room:
                i = int(r.integers(len(banks.rirs)))
                y = reverberate(y, banks.rirs[i])
                applied["room"] = i
            else:
                rt60 = float(r.uniform(0.15, 0.9))
                y = reverberate(y, synthetic_rir(r, sr, rt60))
                applied["rt60"] = round(rt60, 2)
        if r.random() < self.p_eq:
            y = random_eq(y, r, sr)
            applied["eq"] = True
        if self.p_cabinet > 0 and r.random() < self.p_cabinet:
            from .acoustics import cabinet_colour
            i = int(r.integers(len(banks.cabinet)))
            y = cabinet_colour(y, banks.cabinet[i])
            applied["cabinet"] = i
        if r.random() < self.p_noise:
            if self.p_real_noise > 0 and r.random() < self.p_real_noise:
                n, i = banks.noise_segment(len(y), r)
                snr = float(r.uniform(*self.real_snr_range))
                kind = "real:" + str(banks.noise_meta[i].get("id", i))
            else:
                n, kind = self.noise(len(y))
                snr = float(r.uniform(*self.snr_range))
            y = add_noise(y, n, snr)
            applied["noise"] = kind
            applied["snr"] = round(snr, 1)
        if r.random() < self.p_telephone:
            codec = "gsm" if self.p_gsm > 0 and r.random() < self.p_gsm else None
            if self.telephone_band is None:
                y = telephone(y, r, sr, codec)
            else:
                y = telephone(y, r, sr, codec, *self.telephone_band)
            applied["telephone"] = codec or True
        if r.random() < self.p_gain:
            db = float(r.uniform(*self.gain_db_range))
            y = gain(y, db)
            applied["gain_db"] = round(db, 1)
        peak = float(np.max(np.abs(y))) if len(y) else 0.0
        if peak > 1.0:
            y = y / peak * 0.99
        self.last = applied
        return y.astype(np.float32)


# ----------------------------------------------------------------------------------------------
def _self_test() -> None:
    import time
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(sr) / sr
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)

    def peak_hz(x, rate):
        X = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        return np.argmax(X) * rate / len(x)

    y = resample(tone, sr, 22050)
    assert abs(len(y) - 22050) <= 1 and abs(peak_hz(y, 22050) - 440) < 2, peak_hz(y, 22050)
    back = resample(y, 22050, sr)
    err = np.sqrt(np.mean((back[200:-200] - tone[200:-200]) ** 2))
    assert err < 5e-3, err
    y = speed_perturb(tone, 1.1)
    assert abs(len(y) - sr / 1.1) < 2 and abs(peak_hz(y, sr) - 484) < 3
    y = pitch_shift(tone, 12.0)
    assert len(y) == len(tone) and abs(peak_hz(y, sr) - 880) < 6, peak_hz(y, sr)
    y = time_stretch(tone, 0.8)
    assert abs(len(y) - sr / 0.8) < 2 and abs(peak_hz(y, sr) - 440) < 3
    for kind in ("white", "pink", "brown"):
        n = colored_noise(sr, kind, rng)
        assert n.shape == (sr,) and abs(np.sqrt(np.mean(n ** 2)) - 1) < 1e-3
        for snr in (0.0, 10.0, 25.0):
            mix = add_noise(tone, n, snr)
            assert abs(snr_db(tone, mix - tone) - snr) < 0.01
    h = synthetic_rir(rng, sr, 0.5)
    y = reverberate(tone, h)
    assert y.shape == tone.shape and abs(np.sqrt(np.mean(y ** 2)) - np.sqrt(np.mean(tone ** 2))) < 1e-3
    y = telephone(tone, rng, sr, "mulaw")
    assert y.shape == tone.shape
    assert np.max(np.abs(mu_law_roundtrip(tone) - tone)) < 0.02
    assert np.max(np.abs(a_law_roundtrip(tone) - tone)) < 0.03
    spec = np.abs(np.fft.rfft(np.stack([tone[i:i + 400] for i in range(0, 8000, 160)]), 512)) ** 2
    w = vtlp_spectrogram(spec, 1.1, sr)
    assert w.shape == spec.shape
    f_bin = lambda s: np.argmax(s.mean(0)) * sr / 2 / (s.shape[1] - 1)
    assert abs(f_bin(w) - 484) < 20, f_bin(w)
    m = spec_augment(np.ones((300, 80), np.float32), rng, fill=0.0)
    assert m.shape == (300, 80) and m.min() == 0.0
    a1, a2 = Augmenter(seed=7, babble_pool=[tone]), Augmenter(seed=7, babble_pool=[tone])
    t0 = time.time()
    for _ in range(20):
        assert np.array_equal(a1(tone), a2(tone))
    dt = (time.time() - t0) / 40
    print(f"augment self-test passed ({dt * 1000:.1f} ms per 1 s utterance for the random chain)")
    try:
        from .acoustics import DEFAULT_DIR, AcousticBanks
        banks = AcousticBanks.load(DEFAULT_DIR)
    except (ImportError, FileNotFoundError) as ex:
        print(f"(real acoustics not timed: {ex})")
        return
    speech = np.tile(tone, 3) * np.repeat(rng.uniform(0.1, 1.0, 30), sr // 10).astype(np.float32)
    print(f"real acoustics: {banks.summary()}")
    for name, aug in (("default chain", Augmenter(seed=3)),
                      ("with_acoustics chain", Augmenter.with_acoustics(seed=3, acoustics_dir=banks))):
        t0 = time.time()
        for _ in range(30):
            y = aug(speech)
            assert np.isfinite(y).all() and abs(len(y) - len(speech)) < 0.2 * len(speech)
        dt = (time.time() - t0) / 30 / (len(speech) / sr)
        print(f"{name}: {dt * 1000:.1f} ms per second of audio (3 s input)")


if __name__ == "__main__":
    _self_test()
