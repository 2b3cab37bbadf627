#!/usr/bin/env python3
"""Export a trained checkpoint to the engine's model format and write its golden fixture.

    python Training/export_model.py --run s4d-small --name s4d-small [--default]

Writes Resources/models/<name>/{config.json, model.safetensors} (float32, checkpoint names of
Docs/ARCHITECTURE.md) and Tests/Fixtures/model_<name>.safetensors: the features of the bundled sample
(Resources/samples/sample.wav, real speech) and the logits PyTorch computes for them in float64, so
that the Swift test can prove the engine gives the same logits on a real utterance.
With --default, Resources/models/DEFAULT names this model (what `--model default` loads).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from ssmspeech_ref.encoder import Encoder, EncoderConfig  # noqa: E402
from ssmspeech_ref import features as feat  # noqa: E402
from train import read_audio  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="Training/runs/<run>/last.pt")
    ap.add_argument("--name", required=True)
    ap.add_argument("--default", action="store_true")
    ap.add_argument("--metrics", help="JSON file of measured metrics to store beside the model")
    args = ap.parse_args()

    ck = torch.load(HERE / "runs" / args.run / "last.pt", map_location="cpu", weights_only=False)
    cfg = EncoderConfig.from_dict(ck["config"])
    model = Encoder(cfg)
    model.load_state_dict(ck["model"])
    model.eval()
    out = ROOT / "Resources" / "models" / args.name
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "ssmspeech-encoder-v1", "run": args.run,
                                                                  "step": str(ck["step"])})
    cfg.save(out / "config.json")
    if args.metrics:
        shutil.copy(args.metrics, out / "metrics.json")
    n_params = sum(v.numel() for v in tensors.values())
    print(f"wrote {out} ({n_params} parameters, {(out / 'model.safetensors').stat().st_size / 1e6:.1f} MB)")

    audio = read_audio(str(ROOT / "Resources" / "samples" / "sample.wav"))
    feats = feat.log_mel(audio, dtype=torch.float64)  # (T, 80)
    model64 = Encoder(cfg).double()
    model64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    model64.eval()
    with torch.no_grad():
        logits = model64(feats[None])[0]  # (L, V)
    fixture = ROOT / "Tests" / "Fixtures" / f"model_{args.name}.safetensors"
    save_file({"features": feats.float().contiguous(), "logits": logits.float().contiguous()}, str(fixture))
    print(f"wrote {fixture} ({feats.shape[0]} frames → {logits.shape[0]} logits)")

    if args.default:
        (ROOT / "Resources" / "models" / "DEFAULT").write_text(args.name + "\n")
        print(f"default model = {args.name}")


if __name__ == "__main__":
    main()
