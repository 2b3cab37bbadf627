"""train.py end to end on a tiny corpus: the loss falls, a run resumes where it stopped, and the same
script runs under torchrun (two CPU processes, gloo)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

TRAINING = Path(__file__).resolve().parents[1]
TEXTS = ["a cab", "bad", "a dab", "cad"]


def _corpus(tmp_path: Path) -> Path:
    """Four 1 s clips, each a different chord of tones, with a fixed transcript (memorisable)."""
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    entries = []
    for i, text in enumerate(TEXTS):
        f0 = 150 + 90 * i
        x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in (1, 2, 3)) * 0.2
        x = (x * np.hanning(len(t)) + rng.standard_normal(len(t)) * 0.003).astype(np.float32)
        path = tmp_path / f"u{i}.wav"
        sf.write(path, x, 16000)
        entries.append({"audio_filepath": path.name, "text": text, "duration": 1.0})
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return manifest


def _args(manifest: Path, runs: Path, mixer: str, steps: int, *extra: str, run_flag: str = "--run") -> list[str]:
    return ["--train", str(manifest), run_flag, "r", "--runs-dir", str(runs), "--mixer", mixer,
            "--d-model", "32", "--n-layers", "1", "--d-state", "4", "--expand", "1", "--ffn-mult", "1",
            "--threads", "1", "--batch-seconds", "2", "--lr", "3e-3", "--warmup", "1", "--minutes", "60",
            "--max-steps", str(steps), *extra]


def _log(runs: Path) -> list[dict]:
    return [json.loads(line) for line in (runs / "r" / "log.jsonl").read_text().splitlines()]


def _run(cmd: list[str], timeout: int = 300) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, cwd=TRAINING.parent, capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]

def _trained_folder(tmp_path: Path, manifest: Path, steps: int):
    """Train a tiny one-block Mamba for `steps` steps and export it as a model folder (config.json,
    model.safetensors): returns (folder, the run's checkpoint)."""
    import torch
    from safetensors.torch import save_file

    runs = tmp_path / "runs"
    _run([sys.executable, str(TRAINING / "train.py"), *_args(manifest, runs, "mamba", steps, "--aug", "0")])
    ck = torch.load(runs / "r" / "last.pt", map_location="cpu", weights_only=False)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(ck["config"]))
    save_file({k: v.float().contiguous() for k, v in ck["model"].items()}, str(folder / "model.safetensors"))
    return folder, ck



@pytest.mark.parametrize("mixer,augmenter,workers", [("s4d", "simple", 0), ("mamba", "recipe", 1)])
def test_loss_falls_and_run_resumes(tmp_path, mixer, augmenter, workers):
    """workers 1: batches are prepared in a data-loading process (the GPU recipe's path)."""
    manifest, runs = _corpus(tmp_path), tmp_path / "runs"
    aug = ["--aug", "0.3", "--augmenter", augmenter, "--workers", str(workers)]
    _run([sys.executable, str(TRAINING / "train.py"), *_args(manifest, runs, mixer, 40, *aug)])
    losses = {e["step"]: e["loss"] for e in _log(runs) if "loss" in e}
    first = np.mean([losses[s] for s in (1, 2, 3)])
    assert losses[40] < 0.6 * first, losses
    # resume: a larger step budget continues from the checkpoint (step 40), it does not start over
    _run([sys.executable, str(TRAINING / "train.py"), *_args(manifest, runs, mixer, 60, *aug)])
    log = _log(runs)
    resume = [e for e in log if e.get("event") == "resume"]
    assert len(resume) == 1 and resume[0]["step"] == 40
    assert [e["step"] for e in log if e.get("event") == "done"] == [40, 60]
    assert max(e["step"] for e in log if "loss" in e) == 60


def test_torchrun_two_processes(tmp_path):
    pytest.importorskip("torch.distributed")
    manifest, runs = _corpus(tmp_path), tmp_path / "runs"
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          str(TRAINING / "train.py"), *_args(manifest, runs, "s4d", 8, "--aug", "0", run_flag="--run-name")])
    log = _log(runs)  # rank 0 writes the log and the checkpoint
    assert [e["step"] for e in log if e.get("event") == "done"] == [8]
    import torch
    ck = torch.load(runs / "r" / "last.pt", map_location="cpu", weights_only=False)
    assert ck["step"] == 8


def test_init_from_exported_model_folder(tmp_path):
    """--init takes an exported model folder (config.json + model.safetensors): the new run starts from
    exactly those weights (compared after one step at a learning rate of 1e-9)."""
    import torch

    manifest = _corpus(tmp_path)
    folder, ck = _trained_folder(tmp_path, manifest, 3)
    runs2 = tmp_path / "runs2"
    _run([sys.executable, str(TRAINING / "train.py"),
          *_args(manifest, runs2, "mamba", 1, "--aug", "0", "--init", str(folder), "--lr", "1e-9", "--ssm-lr", "1e-9")])
    log = _log(runs2)
    assert [e["from"] for e in log if e.get("event") == "init"] == [str(folder / "model.safetensors")]
    # a folder whose config disagrees with the flags (40 ms strides change no weight shape) is refused
    bad = subprocess.run([sys.executable, str(TRAINING / "train.py"),
                          *_args(manifest, tmp_path / "runs3", "mamba", 1, "--aug", "0", "--init", str(folder),
                                 "--strides", "2", "2")], cwd=TRAINING.parent, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode != 0 and "subsample_strides" in bad.stderr, bad.stderr[-2000:]
    ck2 = torch.load(runs2 / "r" / "last.pt", map_location="cpu", weights_only=False)
    for k, v in ck["model"].items():
        assert torch.allclose(v.float(), ck2["model"][k].float(), atol=1e-6), k
    # online CMN is the one setting a run may change from its --init folder's: no weight depends on it
    runs4 = tmp_path / "runs4"
    _run([sys.executable, str(TRAINING / "train.py"),
          *_args(manifest, runs4, "mamba", 1, "--aug", "0", "--init", str(folder), "--online-cmn", "200", "600")])
    cfg4 = json.loads((runs4 / "r" / "config.json").read_text())
    assert cfg4["online_cmn"] == {"prior_frames": 200, "window_frames": 600}
    assert "online_cmn" not in json.loads((folder / "config.json").read_text())


@pytest.mark.parametrize("mixer,flags,section,weight", [
    ("mamba2", ["--headdim", "8", "--ngroups", "2", "--chunk-size", "16"],
     {"d_state": 4, "d_conv": 4, "expand": 1, "headdim": 8, "ngroups": 2, "chunk_size": 16}, "layers.0.mixer.dt_bias"),
    ("s5", ["--blocks", "2", "--clip-eigs"], {"d_state": 4, "blocks": 2, "clip_eigs": True},
     "layers.0.mixer.Lambda_re"),
    # two layers: 0 Mamba, 1 attention
    ("hybrid", ["--n-layers", "2", "--attn-every", "2", "--attn-heads", "2", "--attn-window", "8"],
     {"attn_every": 2, "n_heads": 2, "window": 8}, "layers.1.mixer.in_proj.bias"),
])
def test_new_mixers_smoke(tmp_path, mixer, flags, section, weight):
    """A few steps with the Mamba-2, S5 and hybrid mixers: the flags reach the config, the loss is finite,
    and the run resumes from its checkpoint."""
    import torch

    manifest, runs = _corpus(tmp_path), tmp_path / "runs"
    args = [*_args(manifest, runs, mixer, 4, "--aug", "0", *flags)]
    _run([sys.executable, str(TRAINING / "train.py"), *args])
    cfg = json.loads((runs / "r" / "config.json").read_text())
    assert cfg["mixer"] == mixer and cfg[mixer] == section
    if mixer == "hybrid":  # its Mamba layers from the Mamba flags
        assert cfg["mamba"] == {"d_state": 4, "d_conv": 4, "expand": 1, "dt_rank": "auto"}
        assert "mamba2" not in cfg and "s5" not in cfg
    losses = [e["loss"] for e in _log(runs) if "loss" in e]
    assert len(losses) == 4 and all(np.isfinite(losses)), losses
    ck = torch.load(runs / "r" / "last.pt", map_location="cpu", weights_only=False)
    assert ck["step"] == 4 and ck["config"][mixer] == section
    assert weight in ck["model"]
    if mixer == "hybrid":
        assert "layers.0.mixer.A_log" in ck["model"] and "layers.1.mixer.A_log" not in ck["model"]
    _run([sys.executable, str(TRAINING / "train.py"), *_args(manifest, runs, mixer, 6, "--aug", "0", *flags)])
    assert [e["step"] for e in _log(runs) if e.get("event") == "done"] == [4, 6]


# SSM dynamics parameters of each kind of layer (names under layers.<i>.mixer.): no weight decay, --ssm-lr.
# The attention layers of a hybrid have none: in_proj and out_proj are ordinary weights and biases.
SSM_PARAMS = {
    "s4d": {"D", "kernel.log_dt", "kernel.log_A_real", "kernel.A_imag"},
    "mamba": {"D", "A_log", "dt_proj.bias"},
    "mamba2": {"D", "A_log", "dt_bias"},
    "s5": {"D", "Lambda_re", "Lambda_im", "log_step", "B"},
    "attention": set(),
}


@pytest.mark.parametrize("mixer", ["hybrid", "mamba", "mamba2", "s4d", "s5"])
def test_optimizer_groups(mixer):
    """make_optimizer's SSM_PARAM_NAMES substrings catch exactly the SSM dynamics parameters of every
    mixer, and nothing else (e.g. ".D" matches mixer.D only); the rest is split by dimension.
    The hybrid (3 layers, attention every 2nd: Mamba, attention, Mamba) has Mamba's SSM parameters in
    layers 0 and 2, and its attention weights (layer 1) in the ordinary groups."""
    sys.path.insert(0, str(TRAINING))
    import torch
    import train
    from ssmspeech_ref.encoder import (EncoderConfig, Encoder, HybridConfig, Mamba2Config, MambaConfig, S4DConfig,
                                       S5Config)

    cfg = EncoderConfig(mixer=mixer, d_model=16, n_layers=3, norm="layernorm", ffn_mult=2, vocab=["<blank>", "a"],
                        s4d=S4DConfig(d_state=8), mamba=MambaConfig(d_state=4, expand=1),
                        mamba2=Mamba2Config(d_state=8, expand=2, headdim=8, ngroups=2), s5=S5Config(d_state=8),
                        hybrid=HybridConfig(attn_every=2, n_heads=2, window=8))
    kinds = cfg.layer_mixers()
    assert kinds == (["mamba", "attention", "mamba"] if mixer == "hybrid" else [mixer] * 3)
    model = Encoder(cfg)
    opt = train.make_optimizer(model, lr=2e-3, ssm_lr=1e-3, wd=0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    decay, no_decay, ssm = ({names[id(p)] for p in g["params"]} for g in opt.param_groups)
    assert ssm == {f"layers.{i}.mixer.{n}" for i, kind in enumerate(kinds) for n in SSM_PARAMS[kind]}
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0, 0.0]
    assert [g["lr"] for g in opt.param_groups] == [2e-3, 2e-3, 1e-3]
    params = dict(model.named_parameters())
    assert decay == {n for n, p in params.items() if p.dim() >= 2 and n not in ssm}
    assert no_decay == {n for n, p in params.items() if p.dim() < 2 and n not in ssm}
    assert len(decay) + len(no_decay) + len(ssm) == len(params)
    if mixer == "hybrid":
        assert {"layers.1.mixer.in_proj.weight", "layers.1.mixer.out_proj.weight"} <= decay
        assert {"layers.1.mixer.in_proj.bias", "layers.1.mixer.out_proj.bias"} <= no_decay
    assert all(p.dtype == torch.float32 for p in params.values())


def test_learning_curve_reads_eval_events(tmp_path):
    sys.path.insert(0, str(TRAINING / "tools"))
    import learning_curve
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in [
        {"step": 1, "loss": 2.0},
        {"eval": "dev_a", "step": 10, "audio_hours_seen": 0.5, "wer": 0.9},
        {"eval": "dev_b", "step": 10, "audio_hours_seen": 0.5, "wer": 0.8},
        {"eval": "dev_a", "step": 20, "audio_hours_seen": 1.0, "wer": 0.7},
    ]) + "\n")
    sets, rows = learning_curve.curve(log)
    assert sets == ["dev_a", "dev_b"]
    assert rows == [{"step": 10, "hours": 0.5, "dev_a": 0.9, "dev_b": 0.8}, {"step": 20, "hours": 1.0, "dev_a": 0.7}]
