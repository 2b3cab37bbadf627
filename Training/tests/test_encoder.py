import json

import pytest
import torch

from ssmspeech_ref.encoder import Encoder, EncoderConfig, MambaConfig, S4DConfig

VOCAB = ["<blank>", " ", "a", "b", "c", "d"]
CONFIGS = {
    "s4d": EncoderConfig(mixer="s4d", d_model=16, n_layers=2, norm="layernorm", ffn_mult=2,
                         s4d=S4DConfig(d_state=8), vocab=VOCAB),
    "mamba": EncoderConfig(mixer="mamba", d_model=16, n_layers=2, norm="rmsnorm", ffn_mult=0,
                           mamba=MambaConfig(d_state=8, d_conv=4, expand=2, dt_rank=2), vocab=VOCAB),
    "s4d-30ms": EncoderConfig(mixer="s4d", d_model=16, n_layers=1, norm="rmsnorm", ffn_mult=0,
                              subsample_strides=[3, 1], s4d=S4DConfig(d_state=8), vocab=VOCAB),
}


def _encoder(kind, seed=0):
    torch.manual_seed(seed)
    enc = Encoder(CONFIGS[kind])
    with torch.no_grad():
        enc.feature_norm.mean.normal_(-5.0, 1.0)
        enc.feature_norm.std.uniform_(2.0, 3.0)
    return enc


@pytest.mark.parametrize("kind", ["s4d", "mamba", "s4d-30ms"])
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
