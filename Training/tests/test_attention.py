"""Sliding-window attention (ssmspeech_ref/attention.py) and the hybrid Mamba + attention encoder.

The references here are independent of MHA's code: a per-frame loop written out below, torch's
nn.MultiheadAttention with copied weights and a banded mask, and scaled_dot_product_attention."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from ssmspeech_ref.attention import MHA
from ssmspeech_ref.encoder import Encoder, EncoderConfig, HybridConfig, MambaConfig, S4DConfig
from mixer_checks import step_through

VOCAB = ["<blank>", " ", "a", "b", "c", "d"]


def _mha(d=16, heads=2, window=8, seed=0, bias=True):
    torch.manual_seed(seed)
    m = MHA(d, heads, window, bias=bias).double()
    with torch.no_grad():
        m.in_proj.weight[:2 * d].mul_(2.0)  # q, k: a peaked softmax, so that which keys are seen matters
        if bias:
            m.in_proj.bias.normal_(0.0, 0.2)
            m.out_proj.bias.normal_(0.0, 0.2)
    return m


def _loop_reference(m, x):
    """Frame by frame, head by head, straight from the definition: frame t attends to frames
    max(0, t - S + 1) .. t with weights softmax(q . k / sqrt(Dh)). x (B, L, D) -> (B, L, D)."""
    W, b = m.in_proj.weight, m.in_proj.bias
    d, heads, S = m.d_model, m.n_heads, m.window
    dh = d // heads
    q, k, v = x @ W[:d].T + b[:d], x @ W[d:2 * d].T + b[d:2 * d], x @ W[2 * d:].T + b[2 * d:]
    out = torch.zeros_like(x)
    for t in range(x.shape[1]):
        lo = max(0, t - S + 1)
        for h in range(heads):
            c = slice(h * dh, (h + 1) * dh)
            scores = (k[:, lo:t + 1, c] @ q[:, t, c, None])[..., 0] / math.sqrt(dh)  # (B, keys)
            p = torch.softmax(scores, dim=-1)
            out[:, t, c] = (p[..., None] * v[:, lo:t + 1, c]).sum(1)
    return out @ m.out_proj.weight.T + m.out_proj.bias


def _torch_mha(m, x):
    """nn.MultiheadAttention with m's weights and a banded causal mask (True = not allowed)."""
    ref = torch.nn.MultiheadAttention(m.d_model, m.n_heads, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_weight.copy_(m.in_proj.weight)
        ref.in_proj_bias.copy_(m.in_proj.bias)
        ref.out_proj.weight.copy_(m.out_proj.weight)
        ref.out_proj.bias.copy_(m.out_proj.bias)
    L = x.shape[1]
    i, j = torch.arange(L)[:, None], torch.arange(L)[None, :]
    blocked = (j > i) | (j <= i - m.window)
    return ref(x, x, x, attn_mask=blocked, need_weights=False)[0]


@pytest.mark.parametrize("d,heads,window,L", [(16, 2, 8, 40), (24, 4, 5, 23), (16, 1, 3, 10), (16, 2, 1, 12)])
@torch.no_grad()
def test_forward_matches_independent_references(d, heads, window, L):
    m = _mha(d, heads, window, seed=L)
    x = torch.randn(2, L, d, dtype=torch.float64)
    y, cache = m(x)
    assert y.shape == (2, L, d) and cache["n"] == L
    assert (y - _loop_reference(m, x)).abs().max() <= 1e-12
    assert (y - _torch_mha(m, x)).abs().max() <= 1e-12
    if window == 1:  # each frame sees only itself: softmax weight 1 on its own value
        v = x @ m.in_proj.weight[2 * d:].T + m.in_proj.bias[2 * d:]
        assert (y - m.out_proj(v)).abs().max() <= 1e-12
    else:  # the window matters: full causal attention gives something else
        full = F.scaled_dot_product_attention(*(t.unflatten(-1, (heads, d // heads)).transpose(1, 2)
                                                for t in m.in_proj(x).chunk(3, -1)), is_causal=True)
        assert (m.out_proj(full.transpose(1, 2).flatten(2)) - y).abs().max() > 1e-2


@pytest.mark.parametrize("window_over_L", [1, 2])
@torch.no_grad()
def test_window_at_least_L_is_full_causal_attention(window_over_L):
    L, d, heads = 30, 16, 4
    m = _mha(d, heads, window_over_L * L, seed=3)
    x = torch.randn(2, L, d, dtype=torch.float64)
    q, k, v = (t.unflatten(-1, (heads, d // heads)).transpose(1, 2) for t in m.in_proj(x).chunk(3, -1))
    full = m.out_proj(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).flatten(2))
    assert (m(x)[0] - full).abs().max() <= 1e-12


@torch.no_grad()
def test_step_equals_forward_over_2000_frames():
    m = _mha(16, 2, 64, seed=7)
    L = 2000
    x = torch.randn(2, L, 16, dtype=torch.float64)
    y, cache = m(x)
    state = m.allocate_inference_cache(2)
    assert state["k"].shape == state["v"].shape == (2, 64, 16) and state["n"] == 0
    y_step, state = step_through(m, x, state)
    assert (y_step - y).abs().max() <= 1e-10
    assert state["n"] == cache["n"] == L
    assert (state["k"] - cache["k"]).abs().max() <= 1e-12 and (state["v"] - cache["v"]).abs().max() <= 1e-12
    # the forward's output far into the stream only depends on the last 64 frames
    y_tail, _ = m(x[:, L - 64 - 99:])
    assert (y_tail[:, 99:] - y[:, L - 64:]).abs().max() <= 1e-12
    # training's path (no cache built) gives the same output
    y_nc, none = m(x, return_cache=False)
    assert none is None and (y_nc - y).abs().max() <= 1e-12


@torch.no_grad()
def test_cache_is_a_ring_buffer_of_the_last_window_frames():
    m = _mha(16, 2, 8, seed=11)
    x = torch.randn(1, 21, 16, dtype=torch.float64)
    k = x @ m.in_proj.weight[16:32].T + m.in_proj.bias[16:32]
    v = x @ m.in_proj.weight[32:].T + m.in_proj.bias[32:]
    _, c = m(x[:, :5])  # not yet full: slots 0-4 hold frames 0-4, slots 5-7 are zeros
    assert c["n"] == 5
    assert (c["k"][0, :5] - k[0, :5]).abs().max() <= 1e-12 and (c["v"][0, :5] - v[0, :5]).abs().max() <= 1e-12
    assert c["k"][0, 5:].abs().max() == 0 and c["v"][0, 5:].abs().max() == 0
    _, c = m(x)  # 21 frames: frames 13..20 in slots 13 % 8 = 5, ..., 20 % 8 = 4
    for j in range(13, 21):
        assert (c["k"][0, j % 8] - k[0, j]).abs().max() <= 1e-12
        assert (c["v"][0, j % 8] - v[0, j]).abs().max() <= 1e-12


@pytest.mark.parametrize("chunks", [[1] * 30, [5, 3, 8, 9, 5], [7, 1, 16, 6], [30], [0, 12, 0, 18], [8, 8, 8, 6]])
@torch.no_grad()
def test_chunked_forward_with_cache_equals_whole_run(chunks):
    """Chunk boundaries inside the window (chunks shorter than 8) and across it (longer ones)."""
    m = _mha(16, 2, 8, seed=5)
    x = torch.randn(2, sum(chunks), 16, dtype=torch.float64)
    y, whole = m(x)
    ys, cache, t = [], None, 0
    for n in chunks:
        before = None if cache is None else {k: (v.clone() if torch.is_tensor(v) else v) for k, v in cache.items()}
        y_c, new = m(x[:, t:t + n], cache)
        if before is not None:  # functional: the incoming cache is not modified
            assert all(torch.equal(before[k], cache[k]) for k in ("k", "v")) and before["n"] == cache["n"]
        ys.append(y_c)
        cache, t = new, t + n
    assert (torch.cat(ys, dim=1) - y).abs().max() <= 1e-12
    assert cache["n"] == whole["n"] and (cache["k"] - whole["k"]).abs().max() <= 1e-12


@torch.no_grad()
def test_forward_and_step_mix():
    m = _mha(16, 2, 8, seed=9)
    x = torch.randn(1, 40, 16, dtype=torch.float64)
    y, _ = m(x)
    y1, c = m(x[:, :13])
    y2, c = step_through(m, x[:, 13:19], c)
    y3, _ = m(x[:, 19:], c)
    assert (torch.cat([y1, y2, y3], dim=1) - y).abs().max() <= 1e-12


def test_float32_gradients_flow():
    m = MHA(16, 4, 6)
    x = torch.randn(2, 20, 16, requires_grad=True)
    y, _ = m(x)
    y.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in m.parameters())
    assert x.grad[:, 0].abs().max() > 0


def test_bad_arguments():
    with pytest.raises(ValueError):
        MHA(16, 3, 8)
    with pytest.raises(ValueError):
        MHA(16, 2, 0)
    assert [n for n, _ in MHA(16, 2, 8).named_parameters()] == [
        "in_proj.weight", "in_proj.bias", "out_proj.weight", "out_proj.bias"]
    assert [n for n, _ in MHA(16, 2, 8, bias=False).named_parameters()] == ["in_proj.weight", "out_proj.weight"]


# --------------------------------------------------------------------------- hybrid encoder

def _hybrid_cfg(**kw):
    args = dict(mixer="hybrid", d_model=16, n_layers=4, norm="rmsnorm", ffn_mult=2,
                mamba=MambaConfig(d_state=8, d_conv=4, expand=2, dt_rank=2),
                hybrid=HybridConfig(attn_every=2, n_heads=2, window=8), vocab=VOCAB)
    args.update(kw)
    return EncoderConfig(**args)


def test_hybrid_layer_kinds_and_names():
    cfg = _hybrid_cfg()
    assert cfg.layer_mixers() == ["mamba", "attention", "mamba", "attention"]
    assert _hybrid_cfg(n_layers=7, hybrid=HybridConfig(attn_every=3)).layer_mixers() == [
        "mamba", "mamba", "attention", "mamba", "mamba", "attention", "mamba"]
    assert _hybrid_cfg(hybrid=HybridConfig(attn_every=1, n_heads=2)).layer_mixers() == ["attention"] * 4
    assert EncoderConfig(mixer="mamba", n_layers=3, vocab=VOCAB).layer_mixers() == ["mamba"] * 3
    enc = Encoder(cfg)
    assert [layer.kind for layer in enc.layers] == cfg.layer_mixers()
    sd = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    for i in (1, 3):
        assert {k[len(f"layers.{i}.mixer."):]: s for k, s in sd.items() if k.startswith(f"layers.{i}.mixer.")} == {
            "in_proj.weight": (48, 16), "in_proj.bias": (48,), "out_proj.weight": (16, 16), "out_proj.bias": (16,)}
    mamba = {k.replace("layers.0.", ""): tuple(s.shape) for k, s in Encoder(
        EncoderConfig(mixer="mamba", d_model=16, n_layers=1, norm="rmsnorm", ffn_mult=2, mamba=cfg.mamba,
                      vocab=VOCAB)).state_dict().items() if k.startswith("layers.0.")}
    for i in (0, 2):
        assert {k.replace(f"layers.{i}.", ""): s for k, s in sd.items() if k.startswith(f"layers.{i}.")} == mamba


@pytest.mark.parametrize("T", [5, 53, 120])
@torch.no_grad()
def test_hybrid_encoder_streaming_equals_forward(T):
    """T 120 gives L 30 output frames, almost four attention windows."""
    torch.manual_seed(T)
    enc = Encoder(_hybrid_cfg())
    with torch.no_grad():
        enc.feature_norm.mean.normal_(-5.0, 1.0)
        enc.feature_norm.std.uniform_(2.0, 3.0)
    x = -5.0 + 3.0 * torch.randn(2, T, 80)
    y = enc(x)
    enc.init_state(2)
    outs = [o for t in range(T) if (o := enc.step_frame(x[:, t])) is not None]
    assert len(outs) == y.shape[1] == enc.output_length(T)
    assert (torch.stack(outs, dim=1) - y).abs().max() <= 1e-4
    assert y.abs().max() > 0.05
    state = enc._stream["layers"]
    assert state[1]["n"] == state[3]["n"] == y.shape[1] and state[1]["k"].shape == (2, 8, 16)
    assert len(state[0]) == 2  # Mamba: (conv_state, ssm_state)


def test_hybrid_config_round_trip_and_validation():
    cfg = _hybrid_cfg()
    d = cfg.to_dict()
    assert d["hybrid"] == {"attn_every": 2, "n_heads": 2, "window": 8}
    assert d["mamba"] == {"d_state": 8, "d_conv": 4, "expand": 2, "dt_rank": 2}
    assert "mamba2" not in d and "s5" not in d
    assert EncoderConfig.from_dict(d) == cfg and EncoderConfig.from_json(cfg.to_json()) == cfg
    assert EncoderConfig.from_dict(json.loads(json.dumps(d))).to_dict() == d
    # defaults: a hybrid config without the section
    assert EncoderConfig.from_dict({"mixer": "hybrid", "vocab": VOCAB}).hybrid == HybridConfig(3, 4, 64)
    for bad in (dict(attn_every=0), dict(n_heads=0), dict(n_heads=3), dict(window=0)):
        with pytest.raises(ValueError, match="hybrid"):
            _hybrid_cfg(hybrid=HybridConfig(**{"attn_every": 2, "n_heads": 2, "window": 8, **bad}))
    with pytest.raises(TypeError):
        EncoderConfig.from_dict({"mixer": "hybrid", "hybrid": {"window": 8, "rope": True}, "vocab": VOCAB})


def test_other_mixers_config_unchanged():
    """A Mamba (or S4D) config is written exactly as before the hybrid existed: no "hybrid" key."""
    mamba = EncoderConfig(mixer="mamba", d_model=16, n_layers=2, mamba=MambaConfig(d_state=8, dt_rank=2), vocab=VOCAB)
    d = mamba.to_dict()
    assert list(d) == ["format", "mixer", "d_model", "n_layers", "norm", "ffn_mult", "n_mels", "subsample_kernel",
                       "subsample_strides", "s4d", "mamba", "vocab", "features"]
    s4d = EncoderConfig(mixer="s4d", s4d=S4DConfig(d_state=8), vocab=VOCAB)
    assert "hybrid" not in s4d.to_dict()
    # a non-default hybrid section in another mixer's config is kept (and round-trips)
    odd = EncoderConfig(mixer="mamba", hybrid=HybridConfig(window=16), vocab=VOCAB)
    assert odd.to_dict()["hybrid"] == {"attn_every": 3, "n_heads": 4, "window": 16}
    assert EncoderConfig.from_json(odd.to_json()) == odd
