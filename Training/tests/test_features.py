import math

import numpy as np
import pytest
import torch

from ssmspeech_ref.features import hann_window, log_mel, mel_filterbank, num_frames


def _expected_frames(n):
    return max(0, math.floor((n - 400) / 160) + 1)


@pytest.mark.parametrize("n,frames", [(0, 0), (1, 0), (399, 0), (400, 1), (559, 1), (560, 2),
                                      (561, 2), (16000, 98), (48000, 298)])
def test_framing_count_rule(n, frames):
    assert _expected_frames(n) == frames
    assert num_frames(n) == frames
    assert log_mel(torch.zeros(n)).shape == (frames, 80)


def test_periodic_hann():
    w = hann_window().numpy()
    assert w.shape == (400,)
    assert w[0] == 0.0 and abs(w[200] - 1.0) < 1e-15
    np.testing.assert_allclose(w[1:], w[1:][::-1], atol=1e-15)  # periodic: w[n] == w[400 - n]
    np.testing.assert_allclose(w[100], 0.5, atol=1e-15)


def _independent_fbank():
    # torchaudio's formulation (slopes against f_pts differences), written separately.
    mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)  # noqa: E731
    freqs = np.array([8000.0 * k / 256 for k in range(257)])
    m = np.array([mel(0.0) + (mel(8000.0) - mel(0.0)) * i / 81 for i in range(82)])
    f_pts = 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_diff = np.diff(f_pts)
    slopes = f_pts[None, :] - freqs[:, None]  # (257, 82)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).T  # (80, 257)


def test_mel_filterbank_matches_independent_formula():
    fb = mel_filterbank().numpy()
    assert fb.shape == (80, 257)
    ref = _independent_fbank()
    assert np.abs(fb - ref).max() < 1e-12
    assert fb.min() == 0.0 and fb.max() <= 1.0
    assert np.all(fb[:, 0] == 0.0)  # filter 0 starts at 0 Hz with weight 0
    # no area normalisation: the highest filters peak close to 1
    assert fb[-1].max() > 0.5


def test_log_mel_matches_manual_frames():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, 2000)
    feats = log_mel(x).numpy()
    assert feats.shape == (num_frames(2000), 80) == (11, 80)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    fb = _independent_fbank()
    for t in (0, 3, 10):
        frame = np.zeros(512)
        frame[:400] = x[160 * t:160 * t + 400] * w
        power = np.abs(np.fft.rfft(frame)) ** 2
        ref = np.log(np.maximum(fb @ power, 1e-10))
        assert np.abs(feats[t] - ref).max() < 1e-9


def test_log_floor_and_dtype():
    f = log_mel(torch.zeros(800))
    assert f.dtype == torch.float64
    assert torch.all(f == math.log(1e-10))
    assert log_mel(torch.zeros(800), dtype=torch.float32).dtype == torch.float32


def test_causal_prefix_property():
    x = torch.randn(5000, dtype=torch.float64) * 0.1
    full = log_mel(x)
    for n in (400, 1234, 3999):
        part = log_mel(x[:n])
        assert part.shape[0] == _expected_frames(n)
        assert (part - full[:part.shape[0]]).abs().max() < 1e-12


def test_sine_1khz_peak_bin():
    n = np.arange(16000)
    x = 0.5 * np.sin(2 * np.pi * 1000.0 * n / 16000)
    feats = log_mel(x)
    assert feats.shape == (98, 80)
    peak = int(torch.argmax(feats.mean(0)))
    # filter whose centre is nearest to 1000 Hz, from the HTK formula
    mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)  # noqa: E731
    centres = [700.0 * (10 ** ((mel(8000.0) * (j + 1) / 81) / 2595.0) - 1) for j in range(80)]
    nearest = int(np.argmin([abs(c - 1000.0) for c in centres]))
    assert peak == nearest == 28
    # every frame peaks there; the spectrum falls away on both sides
    assert torch.all(feats.argmax(dim=1) == 28)
    m = feats.mean(0)
    assert m[28] > m[26] + 1.0 and m[28] > m[30] + 1.0
