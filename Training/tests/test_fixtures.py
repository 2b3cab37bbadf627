"""The fixtures in Tests/Fixtures are what export_fixtures.py produces, and they are consistent
with the reference modules when loaded the way the Swift tests load them."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ssmspeech_ref.attention import MHA
from ssmspeech_ref.encoder import Encoder, EncoderConfig
from ssmspeech_ref.layers import Mamba, S4D, gelu
from ssmspeech_ref.mamba2 import Mamba2
from ssmspeech_ref.s5 import S5, s5_scan_ref

TRAINING = Path(__file__).resolve().parents[1]
FIXTURES = TRAINING.parent / "Tests" / "Fixtures"
NAMES = ["features_real", "features_sine", "s4d_layer", "mamba_layer", "mamba2_layer", "s5_layer", "blocks",
         "hybrid_attention_layer", "encoder_s4d_tiny", "encoder_mamba_tiny", "encoder_mamba2_tiny", "encoder_s5_tiny",
         "encoder_hybrid_tiny", "encoder_mamba_cmn_tiny"]
# Fixtures written by other exporters: model_<name> by export_model.py (shipped recognizers),
# tts_* and voice_* by Training/tts/export.py (tested in test_tts.py).
OTHER_EXPORTERS = ("model_", "tts_", "voice_")


def _exporter():
    spec = importlib.util.spec_from_file_location("export_fixtures", TRAINING / "export_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    mod = _exporter()
    if not mod.WAV.exists():
        pytest.skip(f"{mod.WAV} not available")
    out = tmp_path_factory.mktemp("fixtures")
    mod.export_all(out)
    return out


def test_fixtures_on_disk_match_export(regenerated):
    fresh = sorted(p.name for p in regenerated.iterdir())
    disk = sorted(p.name for p in FIXTURES.iterdir()
                  if p.suffix in (".json", ".safetensors") and not p.name.startswith(OTHER_EXPORTERS))
    assert fresh == disk
    for name in fresh:
        a, b = regenerated / name, FIXTURES / name
        if name.endswith(".json"):
            assert json.loads(a.read_text()) == json.loads(b.read_text()), name
            continue
        ta, tb = load_file(str(a)), load_file(str(b))
        assert sorted(ta) == sorted(tb), name
        for k in ta:
            assert ta[k].dtype == tb[k].dtype == torch.float32, (name, k)
            assert ta[k].shape == tb[k].shape, (name, k)
            # identical on the same machine; allow 1 float32 ulp of platform FFT/BLAS differences
            assert torch.allclose(ta[k], tb[k], rtol=1e-6, atol=1e-6), (name, k)


def test_fixture_set_and_size():
    for n in NAMES:
        assert (FIXTURES / f"{n}.safetensors").exists(), n
        assert (FIXTURES / f"{n}.json").exists(), n
    # The recognizer's fixtures stay under 1.1 MB; the whole folder (voices included) under 2 MB.
    ours = sum(p.stat().st_size for p in FIXTURES.iterdir()
               if p.is_file() and not p.name.startswith(OTHER_EXPORTERS))
    assert ours < 1_100_000
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert total < 2_000_000


def test_feature_fixtures():
    real = load_file(str(FIXTURES / "features_real.safetensors"))
    assert real["audio"].shape == (48000,) and real["audio"].abs().max() <= 1.0
    assert real["audio"].abs().max() > 0.05
    assert real["features"].shape == (298, 80)
    assert real["mel_fbank"].shape == (80, 257) and real["window"].shape == (400,)
    sine = load_file(str(FIXTURES / "features_sine.safetensors"))
    meta = json.loads((FIXTURES / "features_sine.json").read_text())
    assert meta["expected_peak_mel_bin"] == 28 == int(sine["features"].mean(0).argmax())
    assert meta["fft_peak_bin"] == 32


def _split(tensors, extra):
    weights = {k: v for k, v in tensors.items() if k not in extra}
    return weights, {k: tensors[k] for k in extra}


@torch.no_grad()
def test_s4d_fixture_reproduced_in_float32():
    meta = json.loads((FIXTURES / "s4d_layer.json").read_text())
    w, io = _split(load_file(str(FIXTURES / "s4d_layer.safetensors")),
                   ["input", "output", "state_out_real", "state_out_imag"])
    m = S4D(meta["d_model"], d_state=meta["d_state"], transposed=False)
    m.load_state_dict(w, strict=True)
    y, s = m(io["input"][None])
    assert (y[0] - io["output"]).abs().max() <= 1e-4
    assert (s[0].real - io["state_out_real"]).abs().max() <= 1e-4
    assert (s[0].imag - io["state_out_imag"]).abs().max() <= 1e-4
    # direct (non-FFT) causal convolution gives the same output, and the memory matters:
    # truncating the kernel to 4 taps changes the output a lot
    u = io["input"].T  # (H, L)
    k = m.kernel(64)  # (H, L)

    def direct(kern):
        ssm = torch.stack([(kern[:, :t + 1].flip(-1) * u[:, :t + 1]).sum(-1) for t in range(64)], dim=-1)
        return m.output_linear(gelu(ssm + u * m.D[:, None])[None])[0].T  # (L, H)

    assert (direct(k) - io["output"]).abs().max() <= 1e-4
    k4 = k.clone()
    k4[:, 4:] = 0
    assert (direct(k4) - io["output"]).abs().max() > 0.05
    assert k[:, 63].abs().max() > 0.05 * k[:, 0].abs().max()


@torch.no_grad()
def test_mamba_fixture_reproduced_in_float32():
    meta = json.loads((FIXTURES / "mamba_layer.json").read_text())
    w, io = _split(load_file(str(FIXTURES / "mamba_layer.safetensors")),
                   ["input", "output", "conv_state_out", "ssm_state_out"])
    m = Mamba(meta["d_model"], d_state=meta["d_state"], d_conv=meta["d_conv"], expand=meta["expand"],
              dt_rank=meta["dt_rank"])
    m.load_state_dict(w, strict=True)
    y, cs, ss = m(io["input"][None])
    assert io["output"].abs().max() > 0.1
    assert (y[0] - io["output"]).abs().max() <= 1e-4
    assert (cs[0] - io["conv_state_out"]).abs().max() <= 1e-4
    assert (ss[0] - io["ssm_state_out"]).abs().max() <= 1e-4
    assert ss.abs().max() > 0.01


def _mamba2_from_fixture():
    meta = json.loads((FIXTURES / "mamba2_layer.json").read_text())
    w, io = _split(load_file(str(FIXTURES / "mamba2_layer.safetensors")),
                   ["input", "output", "conv_state_out", "ssm_state_out"])
    m = Mamba2(meta["d_model"], d_state=meta["d_state"], d_conv=meta["d_conv"], expand=meta["expand"],
               headdim=meta["headdim"], ngroups=meta["ngroups"], chunk_size=16)
    m.load_state_dict(w, strict=True)
    assert (m.nheads, m.d_inner, m.conv_dim) == (meta["nheads"], meta["d_inner"], meta["conv_dim"]) == (4, 32, 64)
    return m, io


@torch.no_grad()
def test_mamba2_fixture_reproduced_in_float32():
    """The chunked forward (4 chunks of 16) and the step-by-step streaming both reproduce the float64
    sequential reference; the states are as documented (conv: last W inputs oldest first; ssm (H, P, N))."""
    m, io = _mamba2_from_fixture()
    u = io["input"][None]  # (1, L, D)
    y, cs, ss = m(u)
    assert io["output"].abs().max() > 0.5
    assert (y[0] - io["output"]).abs().max() <= 1e-4
    assert (cs[0] - io["conv_state_out"]).abs().max() <= 1e-4
    assert (ss[0] - io["ssm_state_out"]).abs().max() <= 1e-4
    assert ss.abs().max() > 0.03
    # conv_state_out is the last W = 4 xBC in_proj outputs (before the conv), oldest first
    xbc = m.in_proj(u[0, -4:])[:, m.d_inner:m.d_inner + m.conv_dim]  # (W, C)
    assert (io["conv_state_out"] - xbc.T).abs().max() <= 1e-5
    cs, ss = m.allocate_inference_cache(1)
    ys = [m.step(u[:, t:t + 1], cs, ss)[0] for t in range(u.shape[1])]
    assert (torch.cat(ys, dim=1)[0] - io["output"]).abs().max() <= 1e-4
    assert (ss[0] - io["ssm_state_out"]).abs().max() <= 1e-4


@torch.no_grad()
def test_mamba2_fixture_depends_on_groups_and_state():
    """Every head must read its own group's B and C: letting group 1 use group 0's B changes the output."""
    m, io = _mamba2_from_fixture()
    u = io["input"][None]
    e, gn, n = m.d_inner, m.ngroups * m.d_state, m.d_state
    m.in_proj.weight[2 * e + n:2 * e + 2 * n] = m.in_proj.weight[2 * e:2 * e + n]  # B of group 1 := B of group 0
    m.conv1d.weight[e + n:e + 2 * n] = m.conv1d.weight[e:e + n]
    m.conv1d.bias[e + n:e + 2 * n] = m.conv1d.bias[e:e + n]
    assert (m(u)[0][0] - io["output"]).abs().max() > 0.05
    m, _ = _mamba2_from_fixture()
    y_late, _, _ = m(u[:, 32:])  # the second half from a zero state
    assert (y_late[0] - io["output"][32:]).abs().max() > 0.5


def _s5_from_fixture():
    meta = json.loads((FIXTURES / "s5_layer.json").read_text())
    w, io = _split(load_file(str(FIXTURES / "s5_layer.safetensors")),
                   ["input", "output", "state_out_re", "state_out_im"])
    m = S5(meta["d_model"], d_state=meta["d_state"], blocks=meta["blocks"], clip_eigs=meta["clip_eigs"])
    m.load_state_dict(w, strict=True)
    assert meta["discretization"] == "zoh" and meta["initial_state"] == "zeros"
    return m, io


@torch.no_grad()
def test_s5_fixture_reproduced_in_float32():
    m, io = _s5_from_fixture()
    u = io["input"][None]  # (1, L, H)
    y, s = m(u)
    assert io["output"].abs().max() > 0.5
    assert (y[0] - io["output"]).abs().max() <= 1e-4
    assert (s[0].real - io["state_out_re"]).abs().max() <= 1e-4
    assert (s[0].imag - io["state_out_im"]).abs().max() <= 1e-4
    state = m.default_state(1)
    ys = []
    for t in range(u.shape[1]):
        y_t, state = m.step(u[:, t], state)
        ys.append(y_t)
    assert (torch.stack(ys, dim=1)[0] - io["output"]).abs().max() <= 1e-4
    assert (state[0].real - io["state_out_re"]).abs().max() <= 1e-4


@torch.no_grad()
def test_s5_fixture_discretisation_written_out():
    """The fixture's output from the formulas a Swift port implements (float64): Lambda = clamp(Lambda_re,
    max=-1e-4) + i Lambda_im (clip_eigs), Delta = exp(log_step), Lambda_bar = exp(Lambda Delta),
    B_bar = expm1(Lambda Delta) / Lambda * B_tilde, y = 2 Re(C_tilde x) + D u -> GELU -> Linear -> GLU."""
    m, io = _s5_from_fixture()
    w = {k: v.double() for k, v in m.state_dict().items()}
    lam = torch.complex(w["Lambda_re"].clamp(max=-1e-4), w["Lambda_im"])  # (P/2)
    dtA = lam * torch.exp(w["log_step"][:, 0])
    lam_bar = torch.exp(dtA)
    b_bar = (torch.expm1(dtA) / lam)[:, None] * torch.complex(w["B"][..., 0], w["B"][..., 1])  # (P/2, H)
    c = torch.complex(w["C"][..., 0], w["C"][..., 1])  # (H, P/2)
    u = io["input"].double()
    x = torch.zeros(lam.shape[0], dtype=torch.complex128)
    ys = []
    for t in range(u.shape[0]):
        x = lam_bar * x + b_bar @ u[t].to(torch.complex128)
        ys.append(2.0 * (c @ x).real + w["D"] * u[t])
    z = gelu(torch.stack(ys)) @ w["output_linear.0.weight"][..., 0].T + w["output_linear.0.bias"]  # (L, 2H)
    y = z[:, :16] * torch.sigmoid(z[:, 16:])  # GLU: first half * sigmoid(second half)
    assert (y - io["output"]).abs().max() <= 1e-5
    assert (x.real - io["state_out_re"]).abs().max() <= 1e-5 and (x.imag - io["state_out_im"]).abs().max() <= 1e-5
    # the clamp matters (one Re(Lambda) > 0 in the fixture), and so does the conjugate-symmetry factor 2
    assert (w["Lambda_re"] > 0).sum() == 1
    m.clip_eigs = False
    assert (m(io["input"][None])[0][0] - io["output"]).abs().max() > 0.05
    m.clip_eigs = True
    _, lb, bb, ct = m.double().discretize()
    y1, _ = s5_scan_ref(lb, bb, ct / 2, m.D, u[None])
    assert (m._post(y1)[0] - io["output"]).abs().max() > 0.5


@torch.no_grad()
def test_hybrid_attention_fixture_reproduced_in_float32():
    """MHA's forward and its ring-buffer step reproduce the fixture; so does torch's nn.MultiheadAttention
    (same [q | k | v] in_proj layout) with a banded mask, and the window matters (full causal attention and a
    window one frame shorter both give something else)."""
    meta = json.loads((FIXTURES / "hybrid_attention_layer.json").read_text())
    w, io = _split(load_file(str(FIXTURES / "hybrid_attention_layer.safetensors")), ["input", "output"])
    assert meta["layer"] == "sliding_window_attention" and meta["seq_len"] == 40 > meta["window"] == 8
    m = MHA(meta["d_model"], meta["n_heads"], meta["window"])
    m.load_state_dict(w, strict=True)
    x = io["input"][None]  # (1, L, D)
    assert io["output"].abs().max() > 0.3 and w["in_proj.bias"].abs().min() > 0
    assert (m(x)[0][0] - io["output"]).abs().max() <= 1e-4
    cache = m.allocate_inference_cache(1)
    ys = []
    for t in range(x.shape[1]):
        y_t, cache = m.step(x[:, t], cache)
        ys.append(y_t)
    assert (torch.cat(ys) - io["output"]).abs().max() <= 1e-4

    ref = torch.nn.MultiheadAttention(meta["d_model"], meta["n_heads"], batch_first=True)
    ref.load_state_dict({"in_proj_weight": w["in_proj.weight"], "in_proj_bias": w["in_proj.bias"],
                         "out_proj.weight": w["out_proj.weight"], "out_proj.bias": w["out_proj.bias"]})
    i, j = torch.arange(40)[:, None], torch.arange(40)[None, :]

    def banded(window):
        return ref(x, x, x, attn_mask=(j > i) | (j <= i - window), need_weights=False)[0][0]

    assert (banded(8) - io["output"]).abs().max() <= 1e-4
    assert (banded(40) - io["output"]).abs().max() > 0.05
    assert (banded(7) - io["output"]).abs().max() > 0.05


@pytest.mark.parametrize("name", ["encoder_s4d_tiny", "encoder_mamba_tiny", "encoder_mamba2_tiny", "encoder_s5_tiny",
                                  "encoder_hybrid_tiny", "encoder_mamba_cmn_tiny"])
@torch.no_grad()
def test_encoder_fixture_reproduced_in_float32(name):
    cfg = EncoderConfig.load(FIXTURES / f"{name}.json")
    w, io = _split(load_file(str(FIXTURES / f"{name}.safetensors")), ["input", "output"])
    enc = Encoder(cfg)
    enc.load_state_dict(w, strict=True)
    assert io["input"].shape == (50, 80) and io["output"].shape == (enc.output_length(50), len(cfg.vocab))
    assert (enc(io["input"][None])[0] - io["output"]).abs().max() <= 1e-4
    assert (w["feature_norm.std"] - 1).abs().min() > 0.5  # non-trivial normalisation
