#!/usr/bin/env python3
"""Greedy WER / CER of exported model folders in PyTorch (the learning curve's code, train.evaluate),
on up to 300 utterances of each manifest: a quick comparison of checkpoints without the Swift build.

    python Training/tools/greedy_eval.py Resources/models/mamba-30ms [OTHER_MODEL_FOLDER ...] \
        [--manifest M ...] [--threads 2]

Default manifests: dev_real, dev_real_words, test_natural_unseen, test_natural, test_synthetic.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ssmspeech_ref.encoder import Encoder, EncoderConfig  # noqa: E402
from train import evaluate, load_manifest  # noqa: E402

MANIFESTS = HERE.parent / "data" / "manifests"
DEFAULT = ["dev_real", "dev_real_words", "test_natural_unseen", "test_natural", "test_synthetic"]


def load_model(folder: Path) -> Encoder:
    cfg = EncoderConfig.from_dict(json.loads((folder / "config.json").read_text()))
    model = Encoder(cfg)
    model.load_state_dict({k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()})
    return model.eval()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path, help="model folders (config.json + model.safetensors)")
    ap.add_argument("--manifest", action="append", type=Path,
                    help=f"manifest (repeatable; default: {', '.join(DEFAULT)} from {MANIFESTS})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-items", type=int, default=300)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    manifests = args.manifest or [MANIFESTS / f"{n}.jsonl" for n in DEFAULT]
    for folder in args.models:
        model = load_model(folder)
        row = {}
        for m in manifests:
            r = evaluate(model, load_manifest(m), torch.device("cpu"), max_items=args.max_items)
            row[m.stem] = f"{100 * r['wer']:.1f} / {100 * r['cer']:.1f}"
        print(str(folder), json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
