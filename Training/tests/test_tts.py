"""The synthesizer recipe (Training/tts): alignment search, inverse STFT, causality of the decoder and the
vocoder (what lets the Swift engine stream them), the text front end, and that training learns."""
from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tts import frontend  # noqa: E402
from tts.model import (AcousticConfig, AcousticModel, AudioConfig, MelSpec, TTSConfig, Vocoder,  # noqa: E402
                       VocoderConfig, acoustic_losses, durations_from_log, frame_positions, hann, istft,
                       monotonic_alignment, synthesize_audio)
from ssmspeech_ref.encoder import S4DConfig  # noqa: E402


def tiny_config(vocab_size: int = 12) -> TTSConfig:
    return TTSConfig(vocab=["_", "^", "$", " ", ",", ".", "?", "!"] + [chr(97 + i) for i in range(vocab_size - 8)],
                     acoustic=AcousticConfig(d_model=16, enc_layers=2, dur_layers=1, dec_d_model=12, dec_layers=2,
                                             s4d=S4DConfig(d_state=8)),
                     vocoder=VocoderConfig(dim=16, intermediate=24, layers=2))


def test_monotonic_alignment_is_the_best_path():
    g = torch.Generator().manual_seed(0)
    for T, N in [(5, 2), (6, 3), (7, 4), (8, 8)]:
        logp = torch.randn(1, T, N, generator=g)
        dur = monotonic_alignment(logp, torch.tensor([N]), torch.tensor([T]))[0]
        # brute force: every way to give N phonemes >= 1 frame each, summing to T
        best, best_d = -math.inf, None
        for cuts in itertools.combinations(range(1, T), N - 1):
            d = np.diff([0, *cuts, T])
            idx = np.repeat(np.arange(N), d)
            s = float(logp[0, np.arange(T), idx].sum())
            if s > best:
                best, best_d = s, d
        assert dur.tolist() == best_d.tolist()
        assert int(dur.sum()) == T and int(dur.min()) >= 1


def test_istft_reconstructs_the_framing_of_melspec():
    a = AudioConfig()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 40 * a.hop, generator=g)
    win = hann(a.n_fft)
    xp = torch.nn.functional.pad(x, (a.n_fft - a.hop, 0))
    frames = xp.unfold(-1, a.n_fft, a.hop)  # frame t covers [t*hop - (n_fft - hop), t*hop + hop)
    spec = torch.fft.rfft(frames * win, dim=-1)
    y = istft(spec.abs(), spec.angle(), win, a.hop)
    assert y.shape == x.shape
    # every sample is covered by all n_fft/hop frames except the last 3 hops
    n = (40 - 3) * a.hop
    assert torch.allclose(y[0, :n], x[0, :n], atol=1e-5)


def test_acoustic_decoder_is_causal_and_matches_streamed_blocks():
    torch.manual_seed(0)
    m = AcousticModel(tiny_config()).eval()
    T = 30
    h, pos, mu = torch.randn(1, T, 16), torch.rand(1, T, 2), torch.randn(1, T, 80)
    with torch.no_grad():
        full = m.decode(h, pos, mu)
        part = m.decode(h[:, :17], pos[:, :17], mu[:, :17])
        assert torch.allclose(full[:, :17], part, atol=1e-5)
        # recurrent mode, one frame at a time, as the Swift engine runs it
        x = m.dec_in(torch.cat([h, pos], -1))
        states = [layer.init_state(1) for layer in m.dec_layers]
        outs = []
        for t in range(T):
            xt = x[:, t]
            for i, layer in enumerate(m.dec_layers):
                xt, states[i] = layer.step(xt, states[i])
            outs.append(m.dec_out(m.dec_norm(xt)) + mu[:, t])
        assert torch.allclose(torch.stack(outs, 1), full, atol=1e-4)


def test_vocoder_is_causal():
    torch.manual_seed(0)
    v = Vocoder(tiny_config()).eval()
    hop = v.cfg.audio.hop
    mel = torch.randn(1, 40, 80)
    with torch.no_grad():
        full = v(mel)
        part = v(mel[:, :25])
    # samples before (k - 3) * hop only depend on frames < k
    n = (25 - 3) * hop
    assert torch.allclose(full[:, :n], part[:, :n], atol=1e-5)
    assert not torch.allclose(full[:, n:25 * hop], part[:, n:25 * hop], atol=1e-5)


def test_durations_rounding_and_positions():
    d = durations_from_log(torch.log1p(torch.tensor([0.0, 0.49, 0.5, 2.4, 7.0])))
    assert d.tolist() == [0, 0, 1, 2, 7]
    idx, pos = frame_positions(torch.tensor([2, 0, 3]))
    assert idx.tolist() == [0, 0, 2, 2, 2]
    assert torch.allclose(pos[:, 0], torch.tensor([0.25, 0.75, 1 / 6, 0.5, 5 / 6]))


def test_synthesize_audio_length():
    torch.manual_seed(0)
    cfg = tiny_config()
    ac, vo = AcousticModel(cfg).eval(), Vocoder(cfg).eval()
    with torch.no_grad():
        ac.duration.proj.bias.fill_(1.5)
    audio, mel, dur = synthesize_audio(ac, vo, torch.tensor([1, 9, 10, 11, 5, 2]))
    assert mel.shape[0] == int(dur.sum()) > 0
    assert audio.shape[0] == mel.shape[0] * cfg.audio.hop


def test_clauses_and_marks():
    assert frontend.clauses("Hello, world! How are you") == [("Hello", ","), ("world", "!"), ("How are you", "")]
    assert frontend.clauses("What?! No; maybe: yes...") == [("What", "!"), ("No", ","), ("maybe", ","), ("yes", ".")]
    assert frontend.clauses("... , .") == []


@pytest.mark.skipif(not Path("/usr/lib/x86_64-linux-gnu/libespeak-ng.so.1").exists(), reason="libespeak-ng not installed")
def test_phoneme_string_through_espeak():
    ph = frontend.phoneme_string("Hello, world")
    assert ph.endswith(".") and "," in ph and " " in ph
    assert frontend.phoneme_string("It costs $5.") == frontend.phoneme_string("It costs five dollars.")
    vocab = frontend.build_vocab([ph])
    ids = frontend.encode(ph, vocab)
    assert ids[0] == vocab.index("^") and ids[-1] == vocab.index("$") and len(ids) == len(ph) + 2


def test_training_reduces_the_losses():
    torch.manual_seed(0)
    cfg = tiny_config()
    m = AcousticModel(cfg, dropout=0.0)
    g = torch.Generator().manual_seed(3)
    tokens = torch.tensor([[1, 8, 9, 10, 11, 5, 2], [1, 11, 10, 9, 5, 2, 0]])
    n_tok = torch.tensor([7, 6])
    # targets: piecewise-constant mels, a different level per token, 4-6 frames each
    mels, n_frm = torch.zeros(2, 40, 80), torch.tensor([38, 30])
    for b in range(2):
        t = 0
        for n in range(int(n_tok[b])):
            d = 4 + (n + b) % 3
            mels[b, t:t + d] = torch.randn(80, generator=g) * 0 + (tokens[b, n] - 6) * 0.3
            t += d
        n_frm[b] = t
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss = acoustic_losses(m, tokens, n_tok, mels, n_frm)
        first = first or {k: float(v.detach()) for k, v in loss.items()}
        opt.zero_grad(); loss["total"].backward(); opt.step()
    last = {k: float(v.detach()) for k, v in acoustic_losses(m, tokens, n_tok, mels, n_frm).items()}
    assert last["total"] < 0.5 * first["total"], (first, last)
    assert last["mel"] < first["mel"]
