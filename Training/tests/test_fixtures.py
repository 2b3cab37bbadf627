"""The fixtures in Tests/Fixtures are what export_fixtures.py produces, and they are consistent
with the reference modules when loaded the way the Swift tests load them."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ssmspeech_ref.encoder import Encoder, EncoderConfig
from ssmspeech_ref.layers import Mamba, S4D, gelu

TRAINING = Path(__file__).resolve().parents[1]
FIXTURES = TRAINING.parent / "Tests" / "Fixtures"
NAMES = ["features_real", "features_sine", "s4d_layer", "mamba_layer", "blocks",
         "encoder_s4d_tiny", "encoder_mamba_tiny"]
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
    # The recognizer's fixtures stay under 1 MB; the whole folder (voices included) under 2 MB.
    ours = sum(p.stat().st_size for p in FIXTURES.iterdir()
               if p.is_file() and not p.name.startswith(OTHER_EXPORTERS))
    assert ours < 1_000_000
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


@pytest.mark.parametrize("name", ["encoder_s4d_tiny", "encoder_mamba_tiny"])
@torch.no_grad()
def test_encoder_fixture_reproduced_in_float32(name):
    cfg = EncoderConfig.load(FIXTURES / f"{name}.json")
    w, io = _split(load_file(str(FIXTURES / f"{name}.safetensors")), ["input", "output"])
    enc = Encoder(cfg)
    enc.load_state_dict(w, strict=True)
    assert io["input"].shape == (50, 80) and io["output"].shape == (enc.output_length(50), len(cfg.vocab))
    assert (enc(io["input"][None])[0] - io["output"]).abs().max() <= 1e-4
    assert (w["feature_norm.std"] - 1).abs().min() > 0.5  # non-trivial normalisation
