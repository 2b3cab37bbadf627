"""tools/grow_depth.py: a deeper model that starts out computing exactly what the original computes,
whose new blocks still learn, and which train.py --init accepts."""
import json
import subprocess
import sys

import pytest
import torch

from ssmspeech_ref.encoder import Encoder, EncoderConfig
from test_train import TRAINING, _args, _corpus, _log, _run, _trained_folder

sys.path.insert(0, str(TRAINING / "tools"))
import grow_depth  # noqa: E402


def _tiny(mixer: str, n_layers: int = 3) -> Encoder:
    cfg = EncoderConfig.from_dict({"mixer": mixer, "d_model": 16, "n_layers": n_layers, "ffn_mult": 1, "n_mels": 80,
                                   "s4d": {"d_state": 4}, "mamba": {"d_state": 4, "expand": 1, "dt_rank": 4}})
    torch.manual_seed(1)
    model = Encoder(cfg)
    with torch.no_grad():  # a "trained" model: nothing zero, non-trivial feature statistics
        model.feature_norm.mean.normal_()
        model.feature_norm.std.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("mixer", ["mamba", "s4d", "s5"])
def test_grown_model_computes_the_same_logits(mixer):
    model = _tiny(mixer)
    grown = grow_depth.grow(model, [0, 2, 2]).eval()
    assert grown.cfg.n_layers == 6 and model.cfg.n_layers == 3
    x = torch.randn(2, 57, 80)
    with torch.no_grad():
        a, b = model(x), grown(x)
    assert a.shape == b.shape
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    # the original blocks moved to 0, 2, 3 (new ones at 1, 4, 5): their weights are the originals'
    old, new = model.state_dict(), grown.state_dict()
    for i_old, i_new in ((0, 0), (1, 2), (2, 3)):
        for k, v in old.items():
            if k.startswith(f"layers.{i_old}."):
                assert torch.equal(new[f"layers.{i_new}." + k[len(f'layers.{i_old}.'):]], v), k
    # a new block is not a copy of any: its input projection is freshly initialised (not zero)
    first = next(k for k in new if k.startswith("layers.1.mixer.") and new[k].dim() >= 2 and new[k].abs().sum() > 0)
    assert first


def test_new_blocks_receive_gradient_and_silencing_matters():
    model = _tiny("mamba")
    grown = grow_depth.grow(model, [1])
    x = torch.randn(2, 40, 80)
    grown(x).logsumexp(-1).sum().backward()
    out = grown.layers[2].mixer.out_proj.weight
    assert out.abs().sum() == 0 and out.grad is not None and out.grad.abs().sum() > 0
    assert grown.layers[2].ffn.fc2.weight.grad.abs().sum() > 0
    # without the silencing, a fresh block changes the logits: the identity above is not an accident
    grown2 = grow_depth.grow(model, [1]).eval()
    fresh = Encoder(grown2.cfg)
    with torch.no_grad():
        for k, v in fresh.layers[2].state_dict().items():
            grown2.layers[2].state_dict()[k].copy_(v)
        assert not torch.allclose(model.eval()(x), grown2(x), atol=1e-3)


def test_bad_positions_are_refused():
    with pytest.raises(ValueError, match="blocks 0..2"):
        grow_depth.grow(_tiny("mamba"), [3])


def test_cli_output_starts_a_training_run(tmp_path):
    """The folder the command writes is accepted by train.py --init with the grown depth, and the run's
    first loss equals the original model's (same batch, same weights' function)."""
    manifest = _corpus(tmp_path)
    src, _ = _trained_folder(tmp_path, manifest, 2)
    out = tmp_path / "grown"
    r = subprocess.run([sys.executable, str(TRAINING / "tools" / "grow_depth.py"), "--model", str(src),
                        "--insert-after", "0", "0", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "1 -> 3 blocks" in r.stdout and json.loads((out / "config.json").read_text())["n_layers"] == 3
    first = {}
    for name, src_folder, n in (("orig", src, "1"), ("deep", out, "3")):
        runs_n = tmp_path / f"runs-{name}"
        _run([sys.executable, str(TRAINING / "train.py"),
              *_args(manifest, runs_n, "mamba", 1, "--aug", "0", "--init", str(src_folder), "--n-layers", n)])
        first[name] = next(e["loss"] for e in _log(runs_n) if "loss" in e)
    assert first["orig"] == pytest.approx(first["deep"], abs=1e-3)
    bad = subprocess.run([sys.executable, str(TRAINING / "tools" / "grow_depth.py"), "--model", str(tmp_path),
                          "--insert-after", "0", "--out", str(tmp_path / "x")], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
