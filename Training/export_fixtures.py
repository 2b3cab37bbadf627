#!/usr/bin/env python3
"""Write the Swift test fixtures into Tests/Fixtures/ (Docs/ARCHITECTURE.md, "Test fixtures").

    python Training/export_fixtures.py [--out DIR]

Every fixture is deterministic (fixed seeds). Weights are float32; reference outputs are
computed in float64 from those float32 weights and inputs, then rounded to float32.
Activations are saved without a batch dim.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from safetensors.torch import save_file

TRAINING = Path(__file__).resolve().parent
sys.path.insert(0, str(TRAINING))

from ssmspeech_ref.attention import MHA  # noqa: E402
from ssmspeech_ref.encoder import (  # noqa: E402
    Encoder, EncoderConfig, HybridConfig, Mamba2Config, MambaConfig, OnlineCMNConfig, S4DConfig, S5Config,
)
from ssmspeech_ref.features import (  # noqa: E402
    HOP_LENGTH, N_FFT, SAMPLE_RATE, hann_window, log_mel, mel_center_frequencies, mel_filterbank,
)
from ssmspeech_ref.layers import (  # noqa: E402
    CausalConv1d, LayerNorm, Mamba, RMSNorm, S4D, gelu, silu, softplus,
)
from ssmspeech_ref.mamba2 import Mamba2  # noqa: E402
from ssmspeech_ref.s5 import S5, s5_scan_ref  # noqa: E402

DEFAULT_OUT = TRAINING.parent / "Tests" / "Fixtures"
WAV = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav")
REAL_SECONDS = 3.0
VOCAB = ["<blank>", " ", "a", "b", "c", "d"]


def _save(out: Path, name: str, tensors: dict, meta: dict | None) -> None:
    data = {k: v.detach().to(torch.float32).clone().contiguous() for k, v in tensors.items()}
    save_file(data, str(out / f"{name}.safetensors"))
    if meta is not None:
        (out / f"{name}.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _f64(module: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(module).double()


def _weights(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# --------------------------------------------------------------------------- features

def export_features(out: Path) -> None:
    info = sf.info(str(WAV))
    if info.samplerate != SAMPLE_RATE or info.channels != 1:
        raise RuntimeError(f"{WAV}: expected 16000 Hz mono, got {info.samplerate} Hz, {info.channels} ch")
    n = int(REAL_SECONDS * SAMPLE_RATE)
    audio, _ = sf.read(str(WAV), dtype="float32", frames=n, always_2d=False)
    audio = torch.from_numpy(np.ascontiguousarray(audio))  # (n) float32
    feats = log_mel(audio.double())  # (T, 80) float64
    _save(out, "features_real", {
        "audio": audio,
        "features": feats,
        "mel_fbank": mel_filterbank(),  # (80, 257)
        "window": hann_window(),  # (400)
    }, {
        "features": "logmel-v1",
        "source": WAV.name,
        "sample_rate": SAMPLE_RATE,
        "n_samples": int(audio.numel()),
        "n_frames": int(feats.shape[0]),
        "n_mels": int(feats.shape[1]),
        "note": "first 3.0 s read with soundfile as float32 (int16 / 32768); features computed "
                "in float64 from the float32 samples, stored as float32",
    })

    freq, amp = 1000.0, 0.5
    t = torch.arange(SAMPLE_RATE, dtype=torch.float64)
    sine = (amp * torch.sin(2 * math.pi * freq * t / SAMPLE_RATE)).to(torch.float32)  # (16000)
    feats = log_mel(sine.double())
    fb = mel_filterbank()
    fft_bin = round(freq * N_FFT / SAMPLE_RATE)  # 32
    peak = int(torch.argmax(feats.mean(dim=0)))
    _save(out, "features_sine", {"audio": sine, "features": feats}, {
        "features": "logmel-v1",
        "frequency_hz": freq,
        "amplitude": amp,
        "sample_rate": SAMPLE_RATE,
        "n_samples": int(sine.numel()),
        "n_frames": int(feats.shape[0]),
        "fft_peak_bin": fft_bin,
        "expected_peak_mel_bin": peak,
        "peak_mel_bin_by_filter_weight": int(torch.argmax(fb[:, fft_bin])),
        "peak_mel_bin_center_hz": float(mel_center_frequencies()[peak]),
        "hop_length": HOP_LENGTH,
    })


# --------------------------------------------------------------------------- layers

def make_s4d_fixture_layer() -> S4D:
    torch.manual_seed(1001)
    h, n = 8, 16
    m = S4D(h, d_state=n, transposed=False, dt_min=0.005, dt_max=0.05)
    with torch.no_grad():
        m.kernel.log_A_real.add_(0.5 * torch.randn(h, n // 2))
        m.kernel.A_imag.add_(0.3 * torch.randn(h, n // 2))
        m.kernel.C.mul_(0.5)
        m.D.copy_(torch.randn(h))
    return m


def export_s4d(out: Path) -> None:
    m = make_s4d_fixture_layer()
    torch.manual_seed(1002)
    L = 64
    u = torch.randn(1, L, m.h)
    with torch.no_grad():
        y, s = _f64(m)(u.double())
    _save(out, "s4d_layer", {
        **_weights(m),
        "input": u[0],  # (L, H)
        "output": y[0],  # (L, H)
        "state_out_real": s[0].real,  # (H, N/2)
        "state_out_imag": s[0].imag,
    }, {
        "layer": "s4d", "d_model": m.h, "d_state": m.n, "transposed": False, "seq_len": L,
        "initial_state": "zeros",
        "note": "state_out is the complex diagonal state after the last step (N/2 modes of the conjugate pairs)",
    })


def make_mamba_fixture_layer() -> Mamba:
    torch.manual_seed(2001)
    m = Mamba(16, d_state=8, d_conv=4, expand=2, dt_rank=2, dt_min=0.005, dt_max=0.1)
    with torch.no_grad():
        m.A_log.add_(0.3 * torch.randn_like(m.A_log))
        m.D.copy_(1.0 + 0.5 * torch.randn_like(m.D))
        m.conv1d.bias.copy_(0.3 * torch.randn_like(m.conv1d.bias))
        m.out_proj.weight.mul_(4.0)  # output of order 0.1-1 so the 1e-4 tolerance is meaningful
    return m


def export_mamba(out: Path) -> None:
    m = make_mamba_fixture_layer()
    torch.manual_seed(2002)
    L = 64
    u = torch.randn(1, L, m.d_model)
    with torch.no_grad():
        y, cs, ss = _f64(m)(u.double(), scan="ref")
    _save(out, "mamba_layer", {
        **_weights(m),
        "input": u[0],  # (L, D)
        "output": y[0],  # (L, D)
        "conv_state_out": cs[0],  # (E, W): last W conv inputs, oldest first
        "ssm_state_out": ss[0],  # (E, N)
    }, {
        "layer": "mamba", "d_model": m.d_model, "d_state": m.d_state, "d_conv": m.d_conv,
        "expand": m.expand, "dt_rank": m.dt_rank, "d_inner": m.d_inner, "seq_len": L,
        "initial_state": "zeros",
    })


def make_mamba2_fixture_layer() -> Mamba2:
    """d_model 16, expand 2 (E 32), headdim 8 (H 4 heads), ngroups 2 (heads 0-1 read group 0, 2-3 group 1)."""
    torch.manual_seed(5001)
    # Slower decays (A in [-4, -0.5]) and larger steps than the defaults, so the state carries over
    # tens of steps and the SSM term, not D x, shapes the output.
    m = Mamba2(16, d_state=8, d_conv=4, expand=2, headdim=8, ngroups=2, dt_min=0.01, dt_max=0.2,
               A_init_range=(0.5, 4))
    with torch.no_grad():
        m.A_log.add_(0.3 * torch.randn_like(m.A_log))
        m.dt_bias.add_(0.3 * torch.randn_like(m.dt_bias))
        m.D.copy_(0.5 + 0.25 * torch.randn_like(m.D))
        m.conv1d.bias.copy_(0.3 * torch.randn_like(m.conv1d.bias))
        m.norm.weight.copy_(1.0 + 0.3 * torch.randn_like(m.norm.weight))
        m.in_proj.weight[2 * m.d_inner:2 * m.d_inner + 2 * m.ngroups * m.d_state].mul_(3.0)  # B, C rows
    return m


def export_mamba2(out: Path) -> None:
    m = make_mamba2_fixture_layer()
    torch.manual_seed(5002)
    L = 64
    u = torch.randn(1, L, m.d_model)
    with torch.no_grad():
        y, cs, ss = _f64(m)(u.double(), scan="ref")  # sequential scan, float64
    _save(out, "mamba2_layer", {
        **_weights(m),
        "input": u[0],  # (L, D)
        "output": y[0],  # (L, D)
        "conv_state_out": cs[0],  # (C, W): last W conv inputs (xBC before the conv), oldest first
        "ssm_state_out": ss[0],  # (H, P, N)
    }, {
        "layer": "mamba2", "d_model": m.d_model, "d_state": m.d_state, "d_conv": m.d_conv,
        "expand": m.expand, "headdim": m.headdim, "ngroups": m.ngroups, "nheads": m.nheads,
        "d_inner": m.d_inner, "conv_dim": m.conv_dim, "seq_len": L, "initial_state": "zeros",
    })


def make_s5_fixture_layer() -> S5:
    """d_model 16, P 16 (8 stored modes), 2 HiPPO-N blocks; clip_eigs on, with one eigenvalue made unstable
    (Re(Lambda) > 0) so that the clamp to -1e-4 matters."""
    torch.manual_seed(6001)
    m = S5(16, d_state=16, blocks=2, dt_min=0.005, dt_max=0.05, clip_eigs=True)
    with torch.no_grad():
        m.Lambda_re.mul_(torch.exp(0.5 * torch.randn_like(m.Lambda_re)))  # no longer all -1/2
        m.Lambda_re[5] = 0.5  # clamped to -1e-4 when discretising
        m.Lambda_im.add_(0.3 * torch.randn_like(m.Lambda_im))
        m.B.mul_(4.0)  # the state, not D u, dominates the SSM output
        m.C.mul_(4.0)
        m.output_linear[0].bias.copy_(0.2 * torch.randn_like(m.output_linear[0].bias))
    return m


def export_s5(out: Path) -> None:
    m = make_s5_fixture_layer()
    torch.manual_seed(6002)
    L = 64
    u = torch.randn(1, L, m.h)
    with torch.no_grad():
        m64 = _f64(m)
        _, Lambda_bar, B_bar, C_tilde = m64.discretize()  # complex128
        y, x = s5_scan_ref(Lambda_bar, B_bar, C_tilde, m64.D, u.double())  # sequential scan, float64
        y = m64._post(y)  # GELU -> Linear(H, 2H) -> GLU
    _save(out, "s5_layer", {
        **_weights(m),
        "input": u[0],  # (L, H)
        "output": y[0],  # (L, H)
        "state_out_re": x[0].real,  # (P/2)
        "state_out_im": x[0].imag,  # (P/2)
    }, {
        "layer": "s5", "d_model": m.h, "d_state": m.p, "blocks": m.blocks, "clip_eigs": m.clip_eigs,
        "seq_len": L, "initial_state": "zeros", "discretization": "zoh",
    })


def export_attention(out: Path) -> None:
    """Causal multi-head self-attention, the baseline for the SSM scaling comparison. The reference is
    torch's own nn.MultiheadAttention with a causal mask (not our code); the Swift layer runs it one
    frame at a time with a KV cache."""
    torch.manual_seed(2501)
    d, heads, L = 16, 2, 40
    att = torch.nn.MultiheadAttention(d, heads, batch_first=True)
    with torch.no_grad():
        att.in_proj_bias.copy_(0.2 * torch.randn_like(att.in_proj_bias))
        att.out_proj.bias.copy_(0.2 * torch.randn_like(att.out_proj.bias))
    x = torch.randn(1, L, d)
    mask = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)  # True = masked (future)
    with torch.no_grad():
        a = _f64(att)
        y, _ = a(x.double(), x.double(), x.double(), attn_mask=mask, need_weights=False)
    _save(out, "attention_layer", {**_weights(att), "input": x[0], "output": y[0]},
          {"layer": "causal_attention", "d_model": d, "n_heads": heads, "seq_len": L})


def make_hybrid_attention_fixture_layer() -> MHA:
    """The hybrid encoder's attention layer: d_model 16, 2 heads of 8, window 8, non-zero biases."""
    torch.manual_seed(7001)
    m = MHA(16, n_heads=2, window=8)
    with torch.no_grad():
        m.in_proj.weight[:2 * m.d_model].mul_(2.0)  # q, k rows: a peaked softmax, not a near-uniform average
        m.in_proj.bias.copy_(0.2 * torch.randn_like(m.in_proj.bias))
        m.out_proj.bias.copy_(0.2 * torch.randn_like(m.out_proj.bias))
    return m


def export_hybrid_attention(out: Path) -> None:
    m = make_hybrid_attention_fixture_layer()
    torch.manual_seed(7002)
    L = 40  # five windows
    x = torch.randn(1, L, m.d_model)
    with torch.no_grad():
        y, _ = _f64(m)(x.double())
    _save(out, "hybrid_attention_layer", {
        **_weights(m),  # in_proj.weight (3D, D), in_proj.bias (3D), out_proj.weight (D, D), out_proj.bias (D)
        "input": x[0],  # (L, D)
        "output": y[0],  # (L, D)
    }, {
        "layer": "sliding_window_attention", "d_model": m.d_model, "n_heads": m.n_heads, "window": m.window,
        "seq_len": L,
        "note": "output frame t attends to frames max(0, t - window + 1) .. t (itself included); in_proj rows "
                "[q | k | v], each n_heads heads of d_model / n_heads contiguous; softmax scale "
                "1/sqrt(d_model / n_heads); no positional encoding; empty cache at the start",
    })


def export_blocks(out: Path) -> None:
    torch.manual_seed(3001)
    t = {}
    with torch.no_grad():
        ln = LayerNorm(16)
        ln.weight.copy_(1.0 + 0.2 * torch.randn(16))
        ln.bias.copy_(0.2 * torch.randn(16))
        x = 2.0 * torch.randn(5, 16) + 1.0
        t.update({"layernorm.weight": ln.weight, "layernorm.bias": ln.bias, "layernorm.input": x,
                  "layernorm.output": _f64(ln)(x.double())})

        rms = RMSNorm(16)
        rms.weight.copy_(1.0 + 0.2 * torch.randn(16))
        x = 2.0 * torch.randn(5, 16) + 0.5
        t.update({"rmsnorm.weight": rms.weight, "rmsnorm.input": x, "rmsnorm.output": _f64(rms)(x.double())})

        lin = torch.nn.Linear(12, 7)
        x = torch.randn(5, 12)
        t.update({"linear.weight": lin.weight, "linear.bias": lin.bias, "linear.input": x,
                  "linear.output": _f64(lin)(x.double())})

        conv = CausalConv1d(6, 5, 3, stride=2)
        x = torch.randn(11, 6)
        t.update({"conv.weight": conv.weight, "conv.bias": conv.bias, "conv.input": x,
                  "conv.output": _f64(conv)(x.double()[None])[0]})

        x = torch.cat([torch.linspace(-10.0, 10.0, 60), torch.tensor([-30.0, -20.5, 20.5, 30.0])]).reshape(4, 16)
        for name, fn in (("gelu", gelu), ("silu", silu), ("softplus", softplus)):
            t.update({f"{name}.input": x, f"{name}.output": fn(x.double())})
    _save(out, "blocks", t, {
        "layernorm": {"eps": 1e-5, "shape": [5, 16]},
        "rmsnorm": {"eps": 1e-5, "shape": [5, 16]},
        "linear": {"in": 12, "out": 7, "rows": 5},
        "conv": {"c_in": 6, "c_out": 5, "kernel": 3, "stride": 2, "layout": "channel-last (L, C)",
                 "input_len": 11, "output_len": 6},
        "gelu": "exact (erf)", "silu": "x*sigmoid(x)", "softplus": "log(1+exp(x)), x for x > 20",
    })


# --------------------------------------------------------------------------- encoders

def make_encoder(cfg: EncoderConfig, seed: int) -> Encoder:
    torch.manual_seed(seed)
    enc = Encoder(cfg)
    with torch.no_grad():
        enc.feature_norm.mean.copy_(-5.0 + torch.randn(cfg.n_mels))
        enc.feature_norm.std.copy_(2.0 + torch.rand(cfg.n_mels))
        for name, p in enc.named_parameters():
            if name.endswith("norm.weight") or name.endswith("norm_f.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith("norm.bias") or name.endswith("norm_f.bias"):
                p.copy_(0.1 * torch.randn_like(p))
    return enc


def tiny_configs() -> dict:
    return {
        "encoder_s4d_tiny": EncoderConfig(mixer="s4d", d_model=16, n_layers=2, norm="layernorm", ffn_mult=2,
                                          s4d=S4DConfig(d_state=8), vocab=list(VOCAB)),
        "encoder_mamba_tiny": EncoderConfig(mixer="mamba", d_model=16, n_layers=2, norm="rmsnorm", ffn_mult=0,
                                            mamba=MambaConfig(d_state=8, d_conv=4, expand=2, dt_rank=2),
                                            subsample_strides=[3, 1], vocab=list(VOCAB)),
        "encoder_mamba2_tiny": EncoderConfig(mixer="mamba2", d_model=16, n_layers=2, norm="rmsnorm", ffn_mult=2,
                                             mamba2=Mamba2Config(d_state=8, d_conv=4, expand=2, headdim=8, ngroups=1),
                                             subsample_strides=[3, 1], vocab=list(VOCAB)),
        "encoder_s5_tiny": EncoderConfig(mixer="s5", d_model=16, n_layers=2, norm="layernorm", ffn_mult=2,
                                         s5=S5Config(d_state=8, blocks=1), subsample_strides=[2, 2], vocab=list(VOCAB)),
        # layers 0, 2 Mamba, 1, 3 attention with a window of 8 frames (L = 17 here)
        "encoder_hybrid_tiny": EncoderConfig(mixer="hybrid", d_model=16, n_layers=4, norm="rmsnorm", ffn_mult=2,
                                             mamba=MambaConfig(d_state=8, d_conv=4, expand=2, dt_rank=2),
                                             hybrid=HybridConfig(attn_every=2, n_heads=2, window=8),
                                             subsample_strides=[3, 1], vocab=list(VOCAB)),
        # online CMN with 3 prior frames and a window of 7: the 50 input frames cover its cumulative and
        # its exponential part
        # (width 8, one block: the recognizer's fixtures stay under 1 MB)
        "encoder_mamba_cmn_tiny": EncoderConfig(mixer="mamba", d_model=8, n_layers=1, norm="layernorm", ffn_mult=2,
                                                mamba=MambaConfig(d_state=4, d_conv=4, expand=1, dt_rank=1),
                                                online_cmn=OnlineCMNConfig(prior_frames=3, window_frames=7),
                                                subsample_strides=[3, 1], vocab=list(VOCAB)),
    }


def export_encoders(out: Path) -> None:
    for i, (name, cfg) in enumerate(tiny_configs().items()):
        enc = make_encoder(cfg, seed=4001 + i)
        torch.manual_seed(4101 + i)
        x = -5.0 + 3.0 * torch.randn(1, 50, cfg.n_mels)  # (1, T, F)
        with torch.no_grad():
            y = _f64(enc)(x.double())  # (1, L, V)
        assert y.shape[1] == enc.output_length(50) == {(2, 2): 13, (3, 1): 17}[tuple(cfg.subsample_strides)]
        _save(out, name, {**_weights(enc), "input": x[0], "output": y[0]}, None)
        cfg.save(out / f"{name}.json")


def export_all(out: Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    export_features(out)
    export_s4d(out)
    export_mamba(out)
    export_mamba2(out)
    export_s5(out)
    export_attention(out)
    export_hybrid_attention(out)
    export_blocks(out)
    export_encoders(out)
    return sorted(p for p in out.iterdir() if p.suffix in (".safetensors", ".json"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: Tests/Fixtures)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    files = export_all(args.out)
    total = 0
    for p in files:
        size = p.stat().st_size
        total += size
        print(f"{size:>9}  {p}")
    print(f"{total:>9}  total")


if __name__ == "__main__":
    main()
