import json
from pathlib import Path

import pytest
import torch

from ssmspeech_ref.encoder import (
    Encoder, EncoderConfig, HybridConfig, Mamba2Config, MambaConfig, OnlineCMNConfig, S4DConfig, S5Config,
)

MODELS = Path(__file__).resolve().parents[2] / "Resources" / "models"

VOCAB = ["<blank>", " ", "a", "b", "c", "d"]
CONFIGS = {
    "s4d": EncoderConfig(mixer="s4d", d_model=16, n_layers=2, norm="layernorm", ffn_mult=2,
                         s4d=S4DConfig(d_state=8), vocab=VOCAB),
    "mamba": EncoderConfig(mixer="mamba", d_model=16, n_layers=2, norm="rmsnorm", ffn_mult=0,
                           mamba=MambaConfig(d_state=8, d_conv=4, expand=2, dt_rank=2), vocab=VOCAB),
    "s4d-30ms": EncoderConfig(mixer="s4d", d_model=16, n_layers=1, norm="rmsnorm", ffn_mult=0,
                              subsample_strides=[3, 1], s4d=S4DConfig(d_state=8), vocab=VOCAB),
    # chunk_size 4: the chunked SSD scan runs over several chunks (L up to 18 here)
    "mamba2": EncoderConfig(mixer="mamba2", d_model=16, n_layers=2, norm="rmsnorm", ffn_mult=2,
                            subsample_strides=[3, 1], vocab=VOCAB,
                            mamba2=Mamba2Config(d_state=8, d_conv=4, expand=2, headdim=8, ngroups=2, chunk_size=4)),
    "s5": EncoderConfig(mixer="s5", d_model=16, n_layers=2, norm="layernorm", ffn_mult=2,
                        s5=S5Config(d_state=8, blocks=2), vocab=VOCAB),
    # Mamba, attention, Mamba, attention; window 8 < L (13 output frames at T 50)
    "hybrid": EncoderConfig(mixer="hybrid", d_model=16, n_layers=4, norm="rmsnorm", ffn_mult=2,
                            mamba=MambaConfig(d_state=8, d_conv=4, expand=2, dt_rank=2),
                            hybrid=HybridConfig(attn_every=2, n_heads=2, window=8), vocab=VOCAB),
    # online CMN: 3 prior frames, window 7, so T 50 covers the cumulative and the exponential part
    "mamba-cmn": EncoderConfig(mixer="mamba", d_model=16, n_layers=2, norm="layernorm", ffn_mult=2,
                               subsample_strides=[3, 1], mamba=MambaConfig(d_state=8, d_conv=4, expand=1, dt_rank=2),
                               online_cmn=OnlineCMNConfig(prior_frames=3, window_frames=7), vocab=VOCAB),
}


def _encoder(kind, seed=0):
    torch.manual_seed(seed)
    enc = Encoder(CONFIGS[kind])
    with torch.no_grad():
        enc.feature_norm.mean.normal_(-5.0, 1.0)
        enc.feature_norm.std.uniform_(2.0, 3.0)
    return enc


@pytest.mark.parametrize("kind", ["s4d", "mamba", "s4d-30ms", "mamba2", "s5", "hybrid", "mamba-cmn"])
@pytest.mark.parametrize("T", [1, 4, 5, 50, 53])
@torch.no_grad()
def test_streaming_equals_forward(kind, T):
    enc = _encoder(kind, seed=T)
    x = -5.0 + 3.0 * torch.randn(2, T, 80)
    y = enc(x)
    L = enc.output_length(T)
    every = enc.cfg.subsample_strides[0] * enc.cfg.subsample_strides[1]
    assert y.shape == (2, L, 6)
    enc.init_state(2)
    outs, ready_at = [], []
    for t in range(T):
        o = enc.step_frame(x[:, t])
        if o is not None:
            outs.append(o)
            ready_at.append(t)
    assert ready_at == list(range(0, T, every))  # strides 2·2: a 40 ms output on feature frames 0, 4, 8, ...
    assert (torch.stack(outs, dim=1) - y).abs().max().item() <= 1e-4
    assert y.abs().max() > 0.05


@torch.no_grad()
def test_streaming_single_stream_1d():
    enc = _encoder("mamba", seed=9)
    x = torch.randn(1, 9, 80)
    y = enc(x)[0]
    enc.init_state()
    outs = [o for t in range(9) if (o := enc.step_frame(x[0, t])) is not None]
    assert outs[0].shape == (6,)
    assert (torch.stack(outs) - y).abs().max() <= 1e-4


def test_output_length():
    ts = (0, 1, 2, 3, 4, 5, 8, 9, 50)
    assert [_encoder("s4d").output_length(t) for t in ts] == [0, 1, 1, 1, 1, 2, 2, 3, 13]
    assert [_encoder("s4d-30ms").output_length(t) for t in ts] == [0, 1, 1, 1, 2, 2, 3, 3, 17]
    assert _encoder("s4d").frame_seconds == pytest.approx(0.04)
    assert _encoder("s4d-30ms").frame_seconds == pytest.approx(0.03)


def test_bad_strides_rejected():
    with pytest.raises(ValueError, match="subsample_strides"):
        EncoderConfig(mixer="s4d", subsample_strides=[2, 0], vocab=VOCAB)


def test_state_dict_names():
    s4d = {k: tuple(v.shape) for k, v in Encoder(CONFIGS["s4d"]).state_dict().items()}
    expected = {"feature_norm.mean": (80,), "feature_norm.std": (80,),
                "subsample.conv1.weight": (16, 80, 3), "subsample.conv1.bias": (16,),
                "subsample.conv2.weight": (16, 16, 3), "subsample.conv2.bias": (16,),
                "norm_f.weight": (16,), "norm_f.bias": (16,), "ctc_head.weight": (6, 16), "ctc_head.bias": (6,)}
    for i in range(2):
        p = f"layers.{i}."
        expected.update({p + "norm.weight": (16,), p + "norm.bias": (16,),
                         p + "mixer.D": (16,), p + "mixer.kernel.C": (16, 4, 2), p + "mixer.kernel.log_dt": (16,),
                         p + "mixer.kernel.log_A_real": (16, 4), p + "mixer.kernel.A_imag": (16, 4),
                         p + "mixer.output_linear.0.weight": (32, 16, 1), p + "mixer.output_linear.0.bias": (32,),
                         p + "ffn_norm.weight": (16,), p + "ffn_norm.bias": (16,),
                         p + "ffn.fc1.weight": (32, 16), p + "ffn.fc1.bias": (32,),
                         p + "ffn.fc2.weight": (16, 32), p + "ffn.fc2.bias": (16,)})
    assert s4d == expected

    mamba = {k: tuple(v.shape) for k, v in Encoder(CONFIGS["mamba"]).state_dict().items()}
    expected = {"feature_norm.mean": (80,), "feature_norm.std": (80,),
                "subsample.conv1.weight": (16, 80, 3), "subsample.conv1.bias": (16,),
                "subsample.conv2.weight": (16, 16, 3), "subsample.conv2.bias": (16,),
                "norm_f.weight": (16,), "ctc_head.weight": (6, 16), "ctc_head.bias": (6,)}
    for i in range(2):
        p = f"layers.{i}."
        expected.update({p + "norm.weight": (16,), p + "mixer.in_proj.weight": (64, 16),
                         p + "mixer.conv1d.weight": (32, 1, 4), p + "mixer.conv1d.bias": (32,),
                         p + "mixer.x_proj.weight": (18, 32), p + "mixer.dt_proj.weight": (32, 2),
                         p + "mixer.dt_proj.bias": (32,), p + "mixer.A_log": (32, 8), p + "mixer.D": (32,),
                         p + "mixer.out_proj.weight": (16, 32)})
    assert mamba == expected
    buffers = {k for k, _ in Encoder(CONFIGS["mamba"]).named_buffers()}
    assert buffers == {"feature_norm.mean", "feature_norm.std"}


def _mixer_params(kind):
    return {k[len("layers.0.mixer."):]: tuple(v.shape) for k, v in Encoder(CONFIGS[kind]).state_dict().items()
            if k.startswith("layers.0.mixer.")}


def test_state_dict_names_mamba2_s5():
    # Mamba-2: E 32, H 4 heads of 8, G 2 groups of N 8: conv over C = E + 2GN = 64, in_proj 2E + 2GN + H = 100
    assert _mixer_params("mamba2") == {
        "in_proj.weight": (100, 16), "conv1d.weight": (64, 1, 4), "conv1d.bias": (64,), "dt_bias": (4,),
        "A_log": (4,), "D": (4,), "norm.weight": (32,), "out_proj.weight": (16, 32)}
    # S5: P 8, P/2 = 4 stored modes
    assert _mixer_params("s5") == {
        "Lambda_re": (4,), "Lambda_im": (4,), "B": (4, 16, 2), "C": (16, 4, 2), "D": (16,), "log_step": (4, 1),
        "output_linear.0.weight": (32, 16, 1), "output_linear.0.bias": (32,)}
    rest = {k for k in Encoder(CONFIGS["mamba2"]).state_dict() if ".mixer." not in k}
    assert rest == {k for k in Encoder(CONFIGS["mamba"]).state_dict() if ".mixer." not in k} | {
        f"layers.{i}.{n}" for i in range(2) for n in ("ffn_norm.weight", "ffn.fc1.weight", "ffn.fc1.bias",
                                                      "ffn.fc2.weight", "ffn.fc2.bias")}
    assert ({k for k in Encoder(CONFIGS["s5"]).state_dict() if ".mixer." not in k}
            == {k for k in Encoder(CONFIGS["s4d"]).state_dict() if ".mixer." not in k})


@pytest.mark.parametrize("kind", ["mamba2", "s5", "hybrid"])
@torch.no_grad()
def test_stream_state_shapes(kind):
    enc = _encoder(kind)
    state = enc.init_state(3)["layers"][0]
    if kind == "mamba2":
        conv, ssm = state  # (B, C, W), (B, H, P, N)
        assert conv.shape == (3, 64, 4) and ssm.shape == (3, 4, 8, 8)
    elif kind == "hybrid":
        conv, ssm = state  # layer 0 is Mamba: (B, E, W), (B, E, N)
        assert conv.shape == (3, 32, 4) and ssm.shape == (3, 32, 8)
        cache = enc.init_state(3)["layers"][1]  # layer 1 is attention: ring buffer of S = 8 keys, values (B, S, D)
        assert cache["k"].shape == cache["v"].shape == (3, 8, 16) and cache["n"] == 0
    else:
        assert state.shape == (3, 4) and state.is_complex()  # (B, P/2)


def test_config_json_roundtrip_and_doc_example():
    doc = ('{"format": "ssmspeech-encoder-v1", "mixer": "mamba", "d_model": 256, "n_layers": 6,'
           ' "norm": "rmsnorm", "ffn_mult": 0, "n_mels": 80, "subsample_kernel": 3, "subsample_strides": [3, 1],'
           ' "s4d": {"d_state": 64}, "mamba": {"d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": 16},'
           ' "vocab": ["<blank>", " ", "a", "..."], "features": "logmel-v1"}')
    cfg = EncoderConfig.from_json(doc)
    assert cfg.mamba.dt_rank == 16 and cfg.d_model == 256 and cfg.vocab_size == 4
    assert json.loads(cfg.to_json()) == json.loads(doc)
    old = json.loads(doc)
    del old["subsample_strides"]  # configs written before the field existed mean 40 ms frames
    assert EncoderConfig.from_dict(old).subsample_strides == [2, 2]
    for kind, c in CONFIGS.items():
        assert EncoderConfig.from_json(c.to_json()) == c
    with pytest.raises(ValueError):
        EncoderConfig.from_dict({**json.loads(doc), "extra": 1})
    with pytest.raises(ValueError):
        EncoderConfig.from_dict({**json.loads(doc), "mixer": "lstm"})


def test_config_json_new_sections():
    for kind in ("mamba2", "s5", "hybrid"):
        c = CONFIGS[kind]
        d = json.loads(c.to_json())
        assert d["mixer"] == kind and kind in d  # the mixer's own section is always written
        assert EncoderConfig.from_dict(d) == c
        assert EncoderConfig.from_json(json.dumps(d)).to_dict() == c.to_dict()
    d = json.loads(CONFIGS["mamba2"].to_json())
    assert d["mamba2"] == {"d_state": 8, "d_conv": 4, "expand": 2, "headdim": 8, "ngroups": 2, "chunk_size": 4}
    assert "s5" not in d  # unused and default: left out
    d = json.loads(CONFIGS["s5"].to_json())
    assert d["s5"] == {"d_state": 8, "blocks": 2, "clip_eigs": False} and "mamba2" not in d
    d = json.loads(CONFIGS["hybrid"].to_json())
    assert d["hybrid"] == {"attn_every": 2, "n_heads": 2, "window": 8} and "mamba" in d
    assert "mamba2" not in d and "s5" not in d
    assert "hybrid" not in json.loads(CONFIGS["s5"].to_json())
    # Configs of the older mixers are written exactly as before (no new sections) ...
    for kind in ("s4d", "mamba", "s4d-30ms"):
        d = CONFIGS[kind].to_dict()
        assert "mamba2" not in d and "s5" not in d and "hybrid" not in d
        assert list(d) == ["format", "mixer", "d_model", "n_layers", "norm", "ffn_mult", "n_mels", "subsample_kernel",
                           "subsample_strides", "s4d", "mamba", "vocab", "features"]
    # ... unless a new section differs from its defaults (then it is kept, and round-trips).
    c = EncoderConfig(mixer="s4d", s5=S5Config(d_state=32, clip_eigs=True), vocab=VOCAB)
    assert c.to_dict()["s5"] == {"d_state": 32, "blocks": 1, "clip_eigs": True}
    assert EncoderConfig.from_json(c.to_json()) == c
    # defaults
    c = EncoderConfig.from_dict({"mixer": "mamba2", "vocab": VOCAB})
    assert c.mamba2 == Mamba2Config(d_state=64, d_conv=4, expand=2, headdim=64, ngroups=1, chunk_size=64)
    assert EncoderConfig.from_dict({"mixer": "s5", "vocab": VOCAB}).s5 == S5Config(d_state=64, blocks=1,
                                                                                   clip_eigs=False)
    with pytest.raises(TypeError):
        EncoderConfig.from_dict({"mixer": "s5", "s5": {"d_state": 8, "bogus": 1}})


@pytest.mark.parametrize("path", sorted(MODELS.glob("*/config.json")), ids=lambda p: p.parent.name)
def test_shipped_configs_load_and_round_trip(path):
    """The shipped config.json files (written before the mamba2, s5 and hybrid sections existed) load, with the
    missing sections at their defaults, and to_dict() gives back exactly the file's contents (train.py's
    --init compares configs that way)."""
    d = json.loads(path.read_text(encoding="utf-8"))
    cfg = EncoderConfig.from_dict(d)
    if "mamba2" not in d:
        assert cfg.mamba2 == Mamba2Config()
    if "s5" not in d:
        assert cfg.s5 == S5Config()
    if "hybrid" not in d:
        assert cfg.hybrid == HybridConfig()
    assert cfg.to_dict() == d
    assert list(json.loads(cfg.to_json())) == list(d)


def _running_mean_numpy(x, g, prior, window):
    """Independent statement of the online CMN mean: for frame t, the mean of `prior` copies of g and
    frames 0..t while that count is below `window`; afterwards an exponential average with 1/window."""
    import numpy as np  # noqa: PLC0415
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    m = np.asarray(g, dtype=np.float64)
    for t in range(len(x)):
        n = prior + t + 1
        if n <= window:
            m = (prior * np.asarray(g, dtype=np.float64) + x[: t + 1].sum(axis=0)) / n
        else:
            m = m + (x[t] - m) / window
        out[t] = m
    return out


@torch.no_grad()
def test_online_cmn_matches_its_definition():
    enc = _encoder("mamba-cmn", seed=3)
    x = -5.0 + 3.0 * torch.randn(2, 40, 80)
    m = _running_mean_numpy(x[1].numpy(), enc.feature_norm.mean.numpy(), 3, 7)
    y = enc.feature_norm(x)[1].numpy()
    expected = (x[1].numpy() - m) / enc.feature_norm.std.numpy()
    assert abs(y - expected).max() < 1e-4
    # Level invariance (what it is for): a gain (a constant added to the log-mel) is removed once the
    # prior has faded out of the mean.
    shifted = enc.feature_norm(x + 2.0)
    plain = enc.feature_norm(x)
    assert (shifted - plain)[:, 30:].abs().max() < 0.02 * 2.0 / enc.feature_norm.std.min()
    assert (shifted - plain)[:, 0].abs().min() > 0.1  # the first frames still lean on the prior


def test_online_cmn_config_round_trip_and_validation():
    off = CONFIGS["mamba"]
    assert "online_cmn" not in off.to_dict()  # configs without it are written as before
    on = CONFIGS["mamba-cmn"]
    d = json.loads(on.to_json())
    assert d["online_cmn"] == {"prior_frames": 3, "window_frames": 7}
    assert EncoderConfig.from_json(on.to_json()) == on
    with pytest.raises(ValueError, match="online_cmn"):
        EncoderConfig(online_cmn=OnlineCMNConfig(prior_frames=5, window_frames=0), vocab=VOCAB)
    with pytest.raises(ValueError, match="online_cmn"):
        EncoderConfig(online_cmn=OnlineCMNConfig(prior_frames=-1, window_frames=4), vocab=VOCAB)
