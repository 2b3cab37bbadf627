"""The synthesizer's PyTorch reference: acoustic model (phonemes -> mel frames) and streaming vocoder
(mel frames -> samples). The Swift engine (``Sources/SSMSynthesis``) runs the same math, one decoder step
and one vocoder frame at a time; golden fixtures (``export.py``) hold the two to the same numbers.

Dimension letters
    B batch · N phoneme tokens · T mel frames (10 ms) · D encoder width · E decoder width
    M mel bins (80) · C vocoder width · I vocoder hidden (3C) · F STFT bins (n_fft/2+1) · S samples

Acoustic model (after Glow-TTS/Grad-TTS's encoder with monotonic alignment search, and FastSpeech's
duration predictor; the decoder is this project's causal SSM block stack run in recurrent mode):
    tokens (B, N) -> embedding -> L x [h += ReLU(Conv1d_k(LN(h)))] -> LN -> h (B, N, D)
    mu = proj_mu(h) (B, N, M): the mean mel frame of each phoneme (trained by MAS, unit variance)
    log_dur = duration predictor(h.detach()) (B, N): log(1 + frames)
    decoder input per frame t of phoneme n (k-th of d frames):
        [h_n, (k + 0.5)/d, log(d)/4] -> Linear -> E, then SSM blocks (causal) -> LN -> Linear -> + mu_n
Training alignment: MAS (Kim et al. 2020, Glow-TTS, ``monotonic_align``): the most likely monotonic path of
frames over phonemes under N(mu_n, I); its run lengths are the duration targets.

Vocoder (after Vocos, Siuzdenko 2023, made causal; no adversarial training here):
    mel (B, T, M) -> CausalConv1d(M, C, 7) -> LN -> L x ConvNeXt[depthwise causal conv 7, LN, C->I, GELU,
    I->C, x gamma, residual] -> LN -> Linear(C, 2F) -> log magnitude (clamped at 7), phase p
    -> spectrum exp(logmag) (cos p + i sin p) -> irfft(n_fft) x Hann -> overlap-add, / window envelope.
Frame t covers samples [t*hop - (n_fft - hop), t*hop + hop): the same span the mel frame t was computed on,
so sample s is final once frame floor((s + n_fft - hop)/hop) has been made (algorithmic delay 30 ms).
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ssmspeech_ref.encoder import Block, EncoderConfig, S4DConfig, MambaConfig  # noqa: E402
from ssmspeech_ref.features import mel_filterbank  # noqa: E402
from ssmspeech_ref.layers import CausalConv1d, LayerNorm, gelu  # noqa: E402

FORMAT = "ssmspeech-tts-v1"


@dataclass
class AudioConfig:
    sample_rate: int = 16000
    n_fft: int = 640  # also the window length (periodic Hann)
    hop: int = 160
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0
    mel_floor: float = 1e-5

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1


@dataclass
class AcousticConfig:
    d_model: int = 192
    enc_layers: int = 4
    enc_kernel: int = 5
    dur_layers: int = 2
    dur_kernel: int = 3
    dec_d_model: int = 192
    dec_layers: int = 4
    dec_mixer: str = "s4d"
    dec_ffn_mult: int = 2
    s4d: S4DConfig = field(default_factory=S4DConfig)
    mamba: MambaConfig = field(default_factory=MambaConfig)


@dataclass
class VocoderConfig:
    dim: int = 192
    intermediate: int = 576
    layers: int = 6
    kernel: int = 7
    max_log_magnitude: float = 7.0


@dataclass
class TTSConfig:
    """``config.json`` beside ``acoustic.safetensors`` and ``vocoder.safetensors`` in a voice folder."""
    format: str = FORMAT
    voice: str = "slt"
    source: str = ""
    vocab: list[str] = field(default_factory=list)
    espeak_voice: str = "en-us"
    audio: AudioConfig = field(default_factory=AudioConfig)
    acoustic: AcousticConfig = field(default_factory=AcousticConfig)
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict) -> "TTSConfig":
        d = dict(d)
        ac = dict(d.get("acoustic", {}))
        ac["s4d"] = S4DConfig(**ac.get("s4d", {}))
        ac["mamba"] = MambaConfig(**ac.get("mamba", {}))
        return cls(format=d["format"], voice=d.get("voice", ""), source=d.get("source", ""), vocab=d["vocab"],
                   espeak_voice=d.get("espeak_voice", "en-us"), audio=AudioConfig(**d.get("audio", {})),
                   acoustic=AcousticConfig(**ac), vocoder=VocoderConfig(**d.get("vocoder", {})))

    @classmethod
    def load(cls, path) -> "TTSConfig":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------------------------
# Features: the mel frames both models are trained on
# ----------------------------------------------------------------------------------------------
def hann(n: int) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)
    return (0.5 - 0.5 * torch.cos(2 * math.pi * k / n)).float()


class MelSpec(nn.Module):
    """Log-mel frames; frame t covers samples [t*hop - (n_fft - hop), t*hop + hop) (zeros outside).
    (B, S) -> (B, ceil(S/hop), M)."""

    def __init__(self, a: AudioConfig):
        super().__init__()
        self.a = a
        self.register_buffer("window", hann(a.n_fft), persistent=False)  # (n_fft)
        fb = mel_filterbank(a.n_mels, a.n_freqs, a.sample_rate, a.f_min, a.f_max, dtype=torch.float32)
        self.register_buffer("fb", fb, persistent=False)  # (M, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a
        t = -(-x.shape[-1] // a.hop)
        x = F.pad(x, (a.n_fft - a.hop, t * a.hop - x.shape[-1]))
        frames = x.unfold(-1, a.n_fft, a.hop)  # (B, T, n_fft)
        mag = torch.fft.rfft(frames * self.window, dim=-1).abs()  # (B, T, F)
        return torch.log(torch.clamp(mag @ self.fb.T, min=a.mel_floor))  # (B, T, M)


# ----------------------------------------------------------------------------------------------
# Acoustic model
# ----------------------------------------------------------------------------------------------
class ConvLayer(nn.Module):
    """h += ReLU(Conv1d(LN(h))) over the phoneme axis, 'same' padding; padded tokens stay zero."""

    def __init__(self, d: int, k: int, dropout: float):
        super().__init__()
        self.norm = LayerNorm(d)  # weight (D), bias (D)
        self.conv = nn.Conv1d(d, d, k, padding=k // 2)  # weight (D, D, K), bias (D)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (B, N, D), (B, N, 1)
        y = self.conv(self.norm(h).transpose(1, 2)).transpose(1, 2)
        return (h + self.drop(F.relu(y))) * mask


class DurationPredictor(nn.Module):
    def __init__(self, d: int, k: int, layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList([ConvLayer(d, k, dropout) for _ in range(layers)])
        self.norm = LayerNorm(d)
        self.proj = nn.Linear(d, 1)  # weight (1, D), bias (1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # -> (B, N) log(1 + frames)
        for layer in self.layers:
            h = layer(h, mask)
        return self.proj(self.norm(h))[..., 0] * mask[..., 0]


def frame_positions(dur: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For durations (N) (ints): phoneme index per frame (T) and the two position features (T, 2)."""
    idx = torch.repeat_interleave(torch.arange(len(dur)), dur)
    starts = torch.cumsum(dur, 0) - dur
    d = dur[idx].float()
    k = torch.arange(len(idx)) - starts[idx]
    feats = torch.stack([(k.float() + 0.5) / d, torch.log(d) / 4.0], dim=-1)
    return idx, feats


def durations_from_log(log_dur: torch.Tensor, length_scale: float = 1.0) -> torch.Tensor:
    """Integer frames per phoneme: floor((exp(log_dur) - 1) * length_scale + 0.5), at least 0.
    (The Swift engine rounds the same way.)"""
    return torch.clamp(torch.floor((torch.exp(log_dur) - 1.0) * length_scale + 0.5), min=0).long()


class AcousticModel(nn.Module):
    def __init__(self, cfg: TTSConfig, dropout: float = 0.1):
        super().__init__()
        self.cfg = cfg
        c, m = cfg.acoustic, cfg.audio.n_mels
        self.embedding = nn.Embedding(len(cfg.vocab), c.d_model)  # weight (V, D)
        self.encoder = nn.ModuleList([ConvLayer(c.d_model, c.enc_kernel, dropout) for _ in range(c.enc_layers)])
        self.enc_norm = LayerNorm(c.d_model)
        self.proj_mu = nn.Linear(c.d_model, m)  # weight (M, D), bias (M)
        self.duration = DurationPredictor(c.d_model, c.dur_kernel, c.dur_layers, dropout)
        self.dec_in = nn.Linear(c.d_model + 2, c.dec_d_model)  # weight (E, D+2), bias (E)
        bc = EncoderConfig(mixer=c.dec_mixer, d_model=c.dec_d_model, n_layers=c.dec_layers, norm="layernorm",
                           ffn_mult=c.dec_ffn_mult, s4d=c.s4d, mamba=c.mamba)
        self.dec_layers = nn.ModuleList([Block(bc) for _ in range(c.dec_layers)])
        self.dec_norm = LayerNorm(c.dec_d_model)
        self.dec_out = nn.Linear(c.dec_d_model, m)  # weight (M, E), bias (M)
        # Per-bin statistics of the training mels: the models read and write normalised mels.
        self.register_buffer("mel_mean", torch.zeros(m))  # (M)
        self.register_buffer("mel_std", torch.ones(m))  # (M)

    def encode(self, tokens: torch.Tensor, mask: torch.Tensor):
        """tokens (B, N), mask (B, N, 1) -> h (B, N, D), mu (B, N, M), log_dur (B, N)."""
        h = self.embedding(tokens) * mask
        for layer in self.encoder:
            h = layer(h, mask)
        h = self.enc_norm(h) * mask
        return h, self.proj_mu(h) * mask, self.duration(h.detach(), mask)

    def decode(self, h_frames: torch.Tensor, pos: torch.Tensor, mu_frames: torch.Tensor) -> torch.Tensor:
        """Parallel (training) form of the recurrent decoder: (B, T, D), (B, T, 2), (B, T, M) -> (B, T, M)."""
        x = self.dec_in(torch.cat([h_frames, pos], dim=-1))
        for layer in self.dec_layers:
            x = layer(x)
        return self.dec_out(self.dec_norm(x)) + mu_frames

    @torch.no_grad()
    def synthesize(self, tokens: torch.Tensor, length_scale: float = 1.0):
        """One utterance: tokens (N) -> normalised mel (T, M), durations (N)."""
        mask = torch.ones(1, len(tokens), 1)
        h, mu, log_dur = self.encode(tokens[None], mask)
        dur = durations_from_log(log_dur[0], length_scale)
        idx, pos = frame_positions(dur)
        return self.decode(h[0, idx][None], pos[None], mu[0, idx][None])[0], dur


@torch.no_grad()
def monotonic_alignment(logp: torch.Tensor, n_tok: torch.Tensor, n_frm: torch.Tensor) -> list[torch.Tensor]:
    """MAS: logp (B, T, N) log-likelihood of frame t under phoneme n. Returns per utterance the durations
    (N_b) of the best monotonic path that starts at (0, 0), ends at (T_b-1, N_b-1) and moves 0 or 1 phoneme
    per frame. Requires T_b >= N_b."""
    b, t_max, n_max = logp.shape
    neg = torch.tensor(-1e9)
    q = torch.full((b, t_max, n_max), -1e9)
    q[:, 0, 0] = logp[:, 0, 0]
    for t in range(1, t_max):
        stay = q[:, t - 1]
        move = torch.cat([neg.expand(b, 1), q[:, t - 1, :-1]], dim=1)
        q[:, t] = logp[:, t] + torch.maximum(stay, move)
    qn = q.numpy()
    out = []
    for i in range(b):
        T, N = int(n_frm[i]), int(n_tok[i])
        dur = np.zeros(N, dtype=np.int64)
        n = N - 1
        for t in range(T - 1, -1, -1):
            dur[n] += 1
            if n > 0 and (t == n or qn[i, t - 1, n - 1] > qn[i, t - 1, n]):
                n -= 1
        out.append(torch.from_numpy(dur))
    return out


def acoustic_losses(model: AcousticModel, tokens, n_tok, mels, n_frm):
    """tokens (B, N) padded with 0, mels (B, T, M) normalised and padded. Returns dict of scalar losses."""
    b, n_max = tokens.shape
    tmask = (torch.arange(n_max)[None] < n_tok[:, None]).float()[..., None]  # (B, N, 1)
    h, mu, log_dur = model.encode(tokens, tmask)
    # log N(x; mu, I) up to a constant, (B, T, N)
    logp = -0.5 * (mels.square().sum(-1, keepdim=True) - 2 * mels @ mu.transpose(1, 2)
                   + mu.square().sum(-1)[:, None, :])
    durs = monotonic_alignment(logp.detach(), n_tok, n_frm)
    prior, dur_l, mel_l, frames = 0.0, 0.0, 0.0, 0
    h_rows, pos_rows, mu_rows, tgt = [], [], [], []
    for i, d in enumerate(durs):
        idx, pos = frame_positions(d)
        h_rows.append(h[i, idx]); pos_rows.append(pos); mu_rows.append(mu[i, idx]); tgt.append(mels[i, :len(idx)])
        dur_l = dur_l + F.mse_loss(log_dur[i, :len(d)], torch.log1p(d.float()), reduction="sum")
    h_f = nn.utils.rnn.pad_sequence(h_rows, batch_first=True)
    pos_f = nn.utils.rnn.pad_sequence(pos_rows, batch_first=True)
    mu_f = nn.utils.rnn.pad_sequence(mu_rows, batch_first=True)
    tgt_f = nn.utils.rnn.pad_sequence(tgt, batch_first=True)
    fmask = (torch.arange(tgt_f.shape[1])[None] < n_frm[:, None]).float()[..., None]  # (B, T, 1)
    frames = fmask.sum()
    m = mels.shape[-1]
    prior = 0.5 * (((tgt_f - mu_f) ** 2) * fmask).sum() / (frames * m)
    pred = model.decode(h_f, pos_f, mu_f)
    mel_l = ((pred - tgt_f).abs() * fmask).sum() / (frames * m)
    dur_l = dur_l / n_tok.sum()
    return {"prior": prior, "dur": dur_l, "mel": mel_l, "total": prior + dur_l + mel_l}


# ----------------------------------------------------------------------------------------------
# Vocoder
# ----------------------------------------------------------------------------------------------
class DepthwiseCausalConv(nn.Module):
    """Per-channel causal convolution over time, channel-last. weight (C, 1, K), bias (C)."""

    def __init__(self, c: int, k: int):
        super().__init__()
        self.conv = nn.Conv1d(c, c, k, groups=c)
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        return self.conv(F.pad(x.transpose(1, 2), (self.k - 1, 0))).transpose(1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, c: int, i: int, k: int):
        super().__init__()
        self.dwconv = DepthwiseCausalConv(c, k)
        self.norm = LayerNorm(c)
        self.pwconv1 = nn.Linear(c, i)  # weight (I, C), bias (I)
        self.pwconv2 = nn.Linear(i, c)  # weight (C, I), bias (C)
        self.gamma = nn.Parameter(torch.full((c,), 0.1))  # (C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pwconv2(gelu(self.pwconv1(self.norm(self.dwconv(x)))))
        return x + self.gamma * y


class Vocoder(nn.Module):
    def __init__(self, cfg: TTSConfig):
        super().__init__()
        self.cfg = cfg
        v, a = cfg.vocoder, cfg.audio
        self.embed = CausalConv1d(a.n_mels, v.dim, v.kernel)  # weight (C, M, K), bias (C)
        self.norm = LayerNorm(v.dim)
        self.blocks = nn.ModuleList([ConvNeXtBlock(v.dim, v.intermediate, v.kernel) for _ in range(v.layers)])
        self.final_norm = LayerNorm(v.dim)
        self.head = nn.Linear(v.dim, 2 * a.n_freqs)  # weight (2F, C), bias (2F): log magnitudes, then phases
        self.register_buffer("window", hann(a.n_fft), persistent=False)

    def spectra(self, mel: torch.Tensor):
        """(B, T, M) normalised mel -> log magnitude (B, T, F), phase (B, T, F)."""
        x = self.norm(self.embed(mel))
        for blk in self.blocks:
            x = blk(x)
        y = self.head(self.final_norm(x))
        f = self.cfg.audio.n_freqs
        return torch.clamp(y[..., :f], max=self.cfg.vocoder.max_log_magnitude), y[..., f:]

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, T, M) -> samples (B, T*hop): sample s of frame span as in the module doc."""
        logmag, phase = self.spectra(mel)
        return istft(torch.exp(logmag), phase, self.window, self.cfg.audio.hop)


def istft(mag: torch.Tensor, phase: torch.Tensor, window: torch.Tensor, hop: int) -> torch.Tensor:
    """Overlap-add of windowed irffts, divided by the sum of squared windows of the frames present.
    (B, T, F) -> (B, T*hop); output sample s corresponds to padded position s + n_fft - hop."""
    n_fft = window.shape[0]
    b, t, _ = mag.shape
    frames = torch.fft.irfft(torch.polar(mag, phase), n=n_fft, dim=-1) * window  # (B, T, n_fft)
    total = (t - 1) * hop + n_fft
    y = F.fold(frames.transpose(1, 2), output_size=(1, total), kernel_size=(1, n_fft), stride=(1, hop))[:, 0, 0]
    env = F.fold((window ** 2).expand(1, t, n_fft).transpose(1, 2), output_size=(1, total),
                 kernel_size=(1, n_fft), stride=(1, hop))[:, 0, 0]
    y = y / torch.clamp(env, min=1e-3)
    return y[:, n_fft - hop: n_fft - hop + t * hop]


class MultiResolutionSTFTLoss(nn.Module):
    def __init__(self, resolutions=((512, 128), (1024, 256), (256, 64))):
        super().__init__()
        self.res = resolutions
        for n, _ in resolutions:
            self.register_buffer(f"w{n}", torch.hann_window(n), persistent=False)

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = 0.0
        for n, h in self.res:
            w = getattr(self, f"w{n}")
            s_hat = torch.stft(y_hat, n, h, window=w, return_complex=True).abs().clamp(min=1e-5)
            s = torch.stft(y, n, h, window=w, return_complex=True).abs().clamp(min=1e-5)
            sc = torch.linalg.norm(s - s_hat) / torch.linalg.norm(s)
            loss = loss + sc + (s.log() - s_hat.log()).abs().mean()
        return loss / len(self.res)


PRIMING_FRAMES, TAIL_FRAMES = 48, 3


@torch.no_grad()
def synthesize_audio(acoustic: AcousticModel, vocoder: Vocoder, tokens: torch.Tensor, length_scale: float = 1.0):
    """The reference of the Swift engine's streaming synthesis of one utterance: tokens (N) ->
    (samples (T*hop), normalised mel (T, M), durations (N)). The vocoder sees 48 frames of digital silence
    before the utterance (its training context) and 3 after it (completing the overlap-add)."""
    mel, dur = acoustic.synthesize(tokens, length_scale)
    a = acoustic.cfg.audio
    silence = ((math.log(a.mel_floor) - acoustic.mel_mean) / acoustic.mel_std).to(mel.dtype)  # (M)
    full = torch.cat([silence.expand(PRIMING_FRAMES, -1), mel, silence.expand(TAIL_FRAMES, -1)])
    y = vocoder(full[None])[0]
    t = mel.shape[0]
    return y[PRIMING_FRAMES * a.hop:(PRIMING_FRAMES + t) * a.hop], mel, dur
