"""tools/train_compare.py: several models trained on one identical batch stream."""
import json
import subprocess
import sys
import zipfile

import pytest
import torch
from safetensors.torch import load_file, save_file

from test_train import TRAINING, _corpus, _run

SHARED = ["--d-model", "32", "--n-layers", "2", "--ffn-mult", "1", "--batch-seconds", "2", "--lr", "3e-3",
          "--warmup", "1", "--aug", "0.3", "--augmenter", "recipe"]
MODELS = ["--model", "m=--mixer mamba --d-state 4 --expand 1", "--model", "s=--mixer s4d --d-state 8",
          "--model", "h=--mixer hybrid --d-state 4 --expand 1 --attn-every 2 --attn-heads 2 --attn-window 4"]


def _compare(tmp_path, manifest, *extra):
    out = tmp_path / "cmp"
    _run([sys.executable, str(TRAINING / "tools" / "train_compare.py"), "--out", str(out), "--minutes", "60",
          "--max-steps", "3", "--zip", str(tmp_path / "cmp.zip"), *MODELS, *extra, "--", "--train", str(manifest),
          *SHARED])
    return out


def test_models_share_steps_and_transplanted_weights(tmp_path):
    manifest = _corpus(tmp_path)
    # A source model for --transplant: a hybrid's non-mixer tensors have the shapes of every model's.
    src = tmp_path / "src"
    out0 = _compare(tmp_path, manifest)
    src.mkdir()
    (src / "config.json").write_text((out0 / "m" / "config.json").read_text())
    theirs = {k: torch.randn_like(v) for k, v in load_file(str(out0 / "m" / "model.safetensors")).items()}
    save_file(theirs, str(src / "model.safetensors"))

    out = _compare(tmp_path, manifest, "--transplant", str(src), "--workers", "1")
    summary = json.loads((out / "compare.json").read_text())
    assert summary["steps"] == 3 and summary["final"] and set(summary["models"]) == {"m", "s", "h"}
    for name in ("m", "s", "h"):
        mine = load_file(str(out / name / "model.safetensors"))
        cfg = json.loads((out / name / "config.json").read_text())
        assert cfg["mixer"] == {"m": "mamba", "s": "s4d", "h": "hybrid"}[name]
        # feature statistics are not trained: they are exactly the source's
        assert torch.equal(mine["feature_norm.mean"], theirs["feature_norm.mean"])
        # every non-mixer tensor started from the source: after 3 small steps it is still near it, far
        # nearer than a fresh initialisation (the source is N(0, 1) noise)
        for k, v in theirs.items():
            if ".mixer." not in k:
                assert (mine[k] - v).abs().max() < 0.1, (name, k)
        assert any(".mixer." in k for k in mine)
    with zipfile.ZipFile(tmp_path / "cmp.zip") as z:
        assert {"compare.json", "m/model.safetensors", "h/config.json"} <= set(z.namelist())


def test_shared_flags_must_be_shared(tmp_path):
    manifest = _corpus(tmp_path)
    r = subprocess.run([sys.executable, str(TRAINING / "tools" / "train_compare.py"), "--out", str(tmp_path / "o"),
                        "--minutes", "1", "--model", "a=--mixer s4d", "--model", "b=--mixer s4d --lr 1e-2",
                        "--", "--train", str(manifest), *SHARED], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "changes the shared flag --lr" in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("bad", ["noequals", "=--mixer s4d"])
def test_model_spec_needs_a_name(tmp_path, bad):
    r = subprocess.run([sys.executable, str(TRAINING / "tools" / "train_compare.py"), "--out", str(tmp_path / "o"),
                        "--minutes", "1", "--model", bad, "--", "--train", "x.jsonl"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "NAME=FLAGS" in r.stderr


def test_transplant_source_must_match_outside_the_mixers(tmp_path):
    """Strides change no weight shape, so the source's config is compared, not just its tensor shapes."""
    manifest = _corpus(tmp_path)
    out0 = _compare(tmp_path, manifest)
    src = tmp_path / "src"
    src.mkdir()
    cfg = json.loads((out0 / "m" / "config.json").read_text())
    cfg["subsample_strides"] = [2, 2]
    (src / "config.json").write_text(json.dumps(cfg))
    (src / "model.safetensors").write_bytes((out0 / "m" / "model.safetensors").read_bytes())
    r = subprocess.run([sys.executable, str(TRAINING / "tools" / "train_compare.py"), "--out", str(tmp_path / "o"),
                        "--minutes", "1", "--transplant", str(src), *MODELS, "--", "--train", str(manifest), *SHARED],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "differs outside the mixers" in r.stderr and "subsample_strides" in r.stderr, \
        r.stderr[-2000:]
