"""CTC encoder (Docs/ARCHITECTURE.md, "Encoder specification" and "Checkpoint names").

features (B, T, F) -> (x - mean)/std (mean: global, or a running mean, OnlineCMNConfig) -> CausalConv1d(F->D, K, s2) -> GELU -> CausalConv1d(D->D, K, s2)
-> GELU -> n_layers x [x += mixer(norm(x)); if ffn_mult > 0: x += ffn(ffn_norm(x))] -> norm_f
-> ctc_head -> logits (B, L, V), L = ceil(ceil(T/2)/2).

The mixer (`EncoderConfig.mixer`) is S4D or Mamba (layers.py), Mamba-2 (mamba2.py) or S5 (s5.py);
its parameters are read from the config section of the same name.

Mixer "hybrid" (Jamba-style, AI21 2024) interleaves two kinds of layer: layer i (0-based) is a causal
sliding-window multi-head self-attention layer (`MHA`, attention.py; section "hybrid": heads, window)
when (i + 1) % attn_every == 0, and a Mamba layer (section "mamba") otherwise; with attn_every 3 the
layers are Mamba, Mamba, attention, Mamba, Mamba, attention, ... There is no positional encoding (the
Mamba layers carry position). Block i's parameters keep the names layers.<i>.mixer.* whichever the kind
(attention: mixer.in_proj.weight (3D, D), mixer.in_proj.bias (3D), mixer.out_proj.weight (D, D),
mixer.out_proj.bias (D)).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from .attention import MHA
from .layers import CausalConv1d, LayerNorm, Mamba, RMSNorm, S4D, gelu
from .mamba2 import Mamba2
from .s5 import S5

FORMAT = "ssmspeech-encoder-v1"
MIXERS = ("s4d", "mamba", "mamba2", "s5", "hybrid")


@dataclass
class S4DConfig:
    d_state: int = 64


@dataclass
class MambaConfig:
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | str = "auto"  # "auto" = ceil(d_model / 16)


@dataclass
class Mamba2Config:
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    headdim: int = 64  # nheads = expand * d_model / headdim
    ngroups: int = 1  # B, C shared by the nheads / ngroups heads of a group
    chunk_size: int = 64  # chunk length of the training-time SSD scan; no effect on the results


@dataclass
class S5Config:
    d_state: int = 64  # P, the full complex state size (P/2 modes stored, conjugate symmetry)
    blocks: int = 1  # J, blocks of the block-diagonal HiPPO-N initialisation (P multiple of 2 J)
    clip_eigs: bool = False  # clamp Re(Lambda) <= -1e-4 when discretising


@dataclass
class HybridConfig:
    """Mixer "hybrid": Mamba layers (section "mamba") with a sliding-window attention layer every
    `attn_every` layers (layer i is attention iff (i + 1) % attn_every == 0)."""

    attn_every: int = 3
    n_heads: int = 4  # A heads of width D / A
    window: int = 64  # S: frames an output frame attends to, itself included


CMN_MAX_FRAMES = 1_000_000  # the engine's bound on online_cmn's frame counts


@dataclass
class OnlineCMNConfig:
    """Online mean normalisation of the log-mel features (section "online_cmn"; off when window_frames
    is 0). A causal running mean m_t replaces the global mean: m_{-1} = the global mean buffer,
    m_t = m_{t-1} + w_t (x_t - m_{t-1}), w_t = max(1 / (prior_frames + t + 1), 1 / window_frames):
    the mean of the frames so far plus `prior_frames` frames of the global mean, until that count
    reaches `window_frames`, then an exponential window of `window_frames` frames. After Kaldi's online
    CMN (apply-cmvn-online: global-frames, cmn-window), but with an exponential window, so the prior is
    not dropped after `window_frames` frames as in Kaldi: it fades (with 200 and 600, its weight is 1/3
    when the window is reached and 12 % another 600 frames later)."""

    prior_frames: int = 0
    window_frames: int = 0  # 0: off (the global mean only)

    @property
    def enabled(self) -> bool:
        return self.window_frames > 0


@dataclass
class EncoderConfig:
    """The `config.json` stored beside `model.safetensors`."""

    format: str = FORMAT
    mixer: str = "mamba"  # "s4d" | "mamba" | "mamba2" | "s5" | "hybrid"; only that mixer's section is used
    # (the hybrid uses two: "mamba" and "hybrid")
    d_model: int = 256
    n_layers: int = 6
    norm: str = "rmsnorm"  # "layernorm" | "rmsnorm"
    ffn_mult: int = 0
    n_mels: int = 80
    subsample_kernel: int = 3
    # Strides of the two front-end convolutions; their product is the frame rate divisor
    # (2·2 = 40 ms output frames, 3·1 = 30 ms).
    subsample_strides: list[int] = field(default_factory=lambda: [2, 2])
    s4d: S4DConfig = field(default_factory=S4DConfig)
    mamba: MambaConfig = field(default_factory=MambaConfig)
    # Sections added after the shipped models: config.json files without them get the defaults, and
    # to_dict() leaves them out unless the mixer uses them or they differ from the defaults.
    mamba2: Mamba2Config = field(default_factory=Mamba2Config)
    s5: S5Config = field(default_factory=S5Config)
    hybrid: HybridConfig = field(default_factory=HybridConfig)
    online_cmn: OnlineCMNConfig = field(default_factory=OnlineCMNConfig)
    vocab: list[str] = field(default_factory=lambda: ["<blank>"])
    features: str = "logmel-v1"

    def __post_init__(self):
        if self.format != FORMAT:
            raise ValueError(f"unsupported config format {self.format!r}")
        if self.mixer not in MIXERS:
            raise ValueError(f"unknown mixer {self.mixer!r}")
        if self.norm not in ("layernorm", "rmsnorm"):
            raise ValueError(f"unknown norm {self.norm!r}")
        if len(self.subsample_strides) != 2 or min(self.subsample_strides) < 1:
            raise ValueError(f"subsample_strides must be two positive ints, got {self.subsample_strides!r}")
        if self.features != "logmel-v1":
            raise ValueError(f"unknown features {self.features!r}")
        c = self.online_cmn
        if not (0 <= c.prior_frames <= CMN_MAX_FRAMES and 0 <= c.window_frames <= CMN_MAX_FRAMES) or (
                c.window_frames == 0 and c.prior_frames != 0):
            raise ValueError(f"online_cmn needs 0 <= prior_frames <= {CMN_MAX_FRAMES} and 1 <= window_frames <= "
                             f"{CMN_MAX_FRAMES} (or both 0), got {c}")
        if self.mixer == "hybrid":
            h = self.hybrid
            if h.attn_every < 1:
                raise ValueError(f"hybrid.attn_every must be >= 1, got {h.attn_every}")
            if h.n_heads < 1 or self.d_model % h.n_heads != 0:
                raise ValueError(f"hybrid.n_heads must be >= 1 and divide d_model {self.d_model}, got {h.n_heads}")
            if h.window < 1:
                raise ValueError(f"hybrid.window must be >= 1, got {h.window}")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def layer_mixers(self) -> list[str]:
        """The mixer of each layer: `mixer` for all, except in a hybrid, "attention" for layer i when
        (i + 1) % attn_every == 0 and "mamba" otherwise."""
        if self.mixer != "hybrid":
            return [self.mixer] * self.n_layers
        k = self.hybrid.attn_every
        return ["attention" if (i + 1) % k == 0 else "mamba" for i in range(self.n_layers)]

    def to_dict(self) -> dict:
        """All fields, except a section added after the first format (mamba2, s5, hybrid) that another
        mixer's config leaves at its defaults: so configs of the older mixers are written as before."""
        d = dataclasses.asdict(self)
        for key in _OPTIONAL_SECTIONS:
            if key != self.mixer and getattr(self, key) == _SECTIONS[key]():
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderConfig":
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        for key, section in _SECTIONS.items():
            if key in d and not isinstance(d[key], section):
                d[key] = section(**d[key])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "EncoderConfig":
        return cls.from_dict(json.loads(text))

    def save(self, path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path) -> "EncoderConfig":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


_SECTIONS = {"s4d": S4DConfig, "mamba": MambaConfig, "mamba2": Mamba2Config, "s5": S5Config,
             "hybrid": HybridConfig, "online_cmn": OnlineCMNConfig}
# omitted from to_dict() when unused and default
_OPTIONAL_SECTIONS = ("mamba2", "s5", "hybrid", "online_cmn")


class FeatureNorm(nn.Module):
    """(x - mean) / std per mel bin; `mean`, `std` are buffers (F). With online CMN (OnlineCMNConfig)
    the mean is the causal running mean m_t, started from the `mean` buffer."""

    def __init__(self, n_mels: int, cmn: OnlineCMNConfig | None = None):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_mels))  # (F)
        self.register_buffer("std", torch.ones(n_mels))  # (F)
        self.cmn = cmn if cmn is not None else OnlineCMNConfig()

    def weight(self, t: int) -> float:
        """w_t of frame t (0-based) of the running mean."""
        return max(1.0 / (self.cmn.prior_frames + t + 1), 1.0 / self.cmn.window_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, T, F)
        if not self.cmn.enabled:
            return (x - self.mean) / self.std
        state, out = self.init_state(x.shape[0]), torch.empty_like(x)
        for t in range(x.shape[1]):
            out[:, t] = self.step(x[:, t], state)
        return out

    def init_state(self, batch_size: int) -> dict:
        return {"mean": self.mean.expand(batch_size, -1).clone(), "t": 0}

    def step(self, x: torch.Tensor, state: dict) -> torch.Tensor:  # (B, F) -> (B, F)
        if not self.cmn.enabled:
            return (x - self.mean) / self.std
        state["mean"] = state["mean"] + self.weight(state["t"]) * (x - state["mean"])
        state["t"] += 1
        return (x - state["mean"]) / self.std


class Subsample(nn.Module):
    """Two causal strided convolutions with GELU: T -> ceil(ceil(T/s1)/s2)."""

    def __init__(self, n_mels: int, d_model: int, kernel: int, strides: list[int]):
        super().__init__()
        self.conv1 = CausalConv1d(n_mels, d_model, kernel, strides[0])  # weight (D, F, K), bias (D)
        self.conv2 = CausalConv1d(d_model, d_model, kernel, strides[1])  # weight (D, D, K), bias (D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, L, D)
        return gelu(self.conv2(gelu(self.conv1(x))))


class FFN(nn.Module):
    def __init__(self, d_model: int, mult: int):
        super().__init__()
        self.fc1 = nn.Linear(d_model, mult * d_model)  # weight (M, D), bias (M)
        self.fc2 = nn.Linear(mult * d_model, d_model)  # weight (D, M), bias (D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(gelu(self.fc1(x)))


def _make_norm(kind: str, d: int) -> nn.Module:
    return LayerNorm(d) if kind == "layernorm" else RMSNorm(d)


class Block(nn.Module):
    """x += mixer(norm(x)); x += ffn(ffn_norm(x)). `kind` is this layer's mixer (cfg.layer_mixers()[i]):
    "s4d", "mamba", "mamba2", "s5" or "attention" (a hybrid's attention layer); default cfg.mixer."""

    def __init__(self, cfg: EncoderConfig, kind: str | None = None):
        super().__init__()
        d = cfg.d_model
        self.kind = kind = kind or cfg.mixer
        if kind not in ("s4d", "mamba", "mamba2", "s5", "attention"):
            raise ValueError(f"unknown layer kind {kind!r}")
        # s4d, s5: one (complex) state, mixer(h, return_state=False) -> (y, None);
        # attention: one cache (a dict, attention.py), mixer(h) -> (y, cache), step(h, cache) -> (y, cache);
        # mamba, mamba2: states (conv_state, ssm_state), mixer(h) -> (y, conv_state, ssm_state).
        self.single_state = kind in ("s4d", "s5")
        self.norm = _make_norm(cfg.norm, d)
        if kind == "s4d":
            self.mixer = S4D(d, d_state=cfg.s4d.d_state, transposed=False)
        elif kind == "attention":
            self.mixer = MHA(d, n_heads=cfg.hybrid.n_heads, window=cfg.hybrid.window)
        elif kind == "mamba":
            m = cfg.mamba
            self.mixer = Mamba(d, d_state=m.d_state, d_conv=m.d_conv, expand=m.expand, dt_rank=m.dt_rank)
        elif cfg.mixer == "mamba2":
            m = cfg.mamba2
            self.mixer = Mamba2(d, d_state=m.d_state, d_conv=m.d_conv, expand=m.expand, headdim=m.headdim,
                                ngroups=m.ngroups, chunk_size=m.chunk_size)
        else:  # s5
            m = cfg.s5
            self.mixer = S5(d, d_state=m.d_state, blocks=m.blocks, clip_eigs=m.clip_eigs, transposed=False)
        self.has_ffn = cfg.ffn_mult > 0
        if self.has_ffn:
            self.ffn_norm = _make_norm(cfg.norm, d)
            self.ffn = FFN(d, cfg.ffn_mult)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, D)
        h = self.norm(x)
        if self.single_state:
            y, _ = self.mixer(h, return_state=False)
        elif self.kind == "attention":
            y, _ = self.mixer(h, return_cache=False)
        else:
            y, _, _ = self.mixer(h)
        x = x + y
        if self.has_ffn:
            x = x + self.ffn(self.ffn_norm(x))
        return x

    def init_state(self, batch_size: int):
        if self.single_state:
            return self.mixer.default_state(batch_size)
        return self.mixer.allocate_inference_cache(batch_size)  # attention: its ring-buffer cache

    def step(self, x: torch.Tensor, state):  # x (B, D)
        h = self.norm(x)
        if self.single_state or self.kind == "attention":
            y, state = self.mixer.step(h, state)
        else:
            y, cs, ss = self.mixer.step(h[:, None, :], *state)
            y, state = y[:, 0], (cs, ss)
        x = x + y
        if self.has_ffn:
            x = x + self.ffn(self.ffn_norm(x))
        return x, state


class Encoder(nn.Module):
    """SSM (or hybrid SSM + attention) CTC encoder. forward(features (B, T, F)) -> logits (B, L, V).

    Streaming: `init_state(batch_size)` resets (and returns) the stream state, then
    `step_frame(frame)` per 10 ms feature frame (B, F) or (F) returns logits (B, V) or (V)
    whenever an output frame is ready (with strides 2·2: on feature frames 0, 4, 8, ...), else None.
    The streamed logits equal `forward` on the whole sequence.
    """

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.feature_norm = FeatureNorm(cfg.n_mels, cfg.online_cmn)
        self.subsample = Subsample(cfg.n_mels, cfg.d_model, cfg.subsample_kernel, cfg.subsample_strides)
        self.layers = nn.ModuleList([Block(cfg, kind) for kind in cfg.layer_mixers()])
        self.norm_f = _make_norm(cfg.norm, cfg.d_model)
        self.ctc_head = nn.Linear(cfg.d_model, cfg.vocab_size)  # weight (V, D), bias (V)
        self._stream = None

    def output_length(self, t: int) -> int:
        s1, s2 = self.cfg.subsample_strides
        return math.ceil(math.ceil(t / s1) / s2)

    @property
    def frame_seconds(self) -> float:
        """Audio seconds per output frame (10 ms feature hop × the two strides)."""
        s1, s2 = self.cfg.subsample_strides
        return 0.01 * s1 * s2

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.subsample(self.feature_norm(features))  # (B, L, D)
        for layer in self.layers:
            x = layer(x)
        return self.ctc_head(self.norm_f(x))  # (B, L, V)

    def init_state(self, batch_size: int = 1) -> dict:
        self._stream = {
            "norm": self.feature_norm.init_state(batch_size),
            "conv1": self.subsample.conv1.init_state(batch_size),
            "conv2": self.subsample.conv2.init_state(batch_size),
            "layers": [layer.init_state(batch_size) for layer in self.layers],
        }
        return self._stream

    def step_frame(self, feature_frame: torch.Tensor, state: dict | None = None):
        """feature_frame (B, F) or (F). Uses and updates `state` (default: the one from init_state)."""
        if state is None:
            if self._stream is None:
                self.init_state(1 if feature_frame.dim() == 1 else feature_frame.shape[0])
            state = self._stream
        squeeze = feature_frame.dim() == 1
        x = feature_frame[None] if squeeze else feature_frame  # (B, F)
        x = self.feature_norm.step(x, state["norm"])
        x, state["conv1"] = self.subsample.conv1.step(x, state["conv1"])
        if x is None:
            return None
        x, state["conv2"] = self.subsample.conv2.step(gelu(x), state["conv2"])
        if x is None:
            return None
        x = gelu(x)  # (B, D)
        for i, layer in enumerate(self.layers):
            x, state["layers"][i] = layer.step(x, state["layers"][i])
        logits = self.ctc_head(self.norm_f(x))  # (B, V)
        return logits[0] if squeeze else logits
