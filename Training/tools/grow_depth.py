#!/usr/bin/env python3
"""Grow a trained encoder deeper without changing what it computes: the model-size ablation's start.

New blocks are inserted between the trained ones. Each starts as a freshly initialised block whose two
residual branches are switched off: the mixer's output projection (`mixer.out_proj`, or the S4D/S5
output convolution before their GLU) and the FFN's second linear (`ffn.fc2`) are zero, so the block
adds nothing and the grown model's logits equal the original's. Training then opens the branches (their gradients are not zero:
a zero output projection still receives the gradient of its input times the residual's gradient). This
is the zero-initialised residual trick, used here to buy depth from a trained model instead of
training a larger one from scratch on a 2-core CPU.

    python Training/tools/grow_depth.py --model Resources/models/mamba-30ms --insert-after 1 3 5 \\
        --out Training/runs/grown-9

--insert-after i j ...: a new block goes after each original block i (0-based; repeats allowed, each
adds one more). Writes an exported model folder (config.json, model.safetensors, float32) that
`train.py --init` accepts with the grown run's flags (`--n-layers` = original + number inserted).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ssmspeech_ref.encoder import Block, Encoder, EncoderConfig  # noqa: E402


def silence_block(block: Block) -> None:
    """Zero the last linear of both residual branches of `block`, so that block(x) == x."""
    out = getattr(block.mixer, "out_proj", None)  # Mamba, Mamba-2, attention: a Linear
    if out is None:  # S4D, S5: output_linear = Sequential(Conv1d(H, 2H, 1), GLU); GLU(0) = 0
        seq = getattr(block.mixer, "output_linear", None)
        out = seq[0] if isinstance(seq, torch.nn.Sequential) else None
    if not isinstance(out, (torch.nn.Linear, torch.nn.Conv1d)):
        raise ValueError(f"block kind {block.kind!r}: no output projection to silence")
    with torch.no_grad():
        out.weight.zero_()
        if out.bias is not None:
            out.bias.zero_()
        if block.has_ffn:
            block.ffn.fc2.weight.zero_()
            block.ffn.fc2.bias.zero_()


def grow(model: Encoder, insert_after: list[int], seed: int = 0) -> Encoder:
    """A deeper copy of `model`: a silenced new block after each original block in `insert_after`."""
    n = model.cfg.n_layers
    bad = [i for i in insert_after if not 0 <= i < n]
    if bad:
        raise ValueError(f"--insert-after {bad}: the model has blocks 0..{n - 1}")
    if len(set(model.cfg.layer_mixers())) != 1:
        raise ValueError("growing a hybrid (mixed layer kinds) is not supported")
    cfg = EncoderConfig.from_dict(model.cfg.to_dict() | {"n_layers": n + len(insert_after)})
    torch.manual_seed(seed)
    grown = Encoder(cfg)
    old = model.state_dict()
    new_state = grown.state_dict()
    for k in ("feature_norm", "subsample", "norm_f", "ctc_head"):
        for name, v in old.items():
            if name.startswith(k + "."):
                new_state[name] = v.clone()
    j = 0  # index of the next block in the grown model
    for i in range(n):
        prefix_old, prefix_new = f"layers.{i}.", f"layers.{j}."
        for name, v in old.items():
            if name.startswith(prefix_old):
                new_state[prefix_new + name[len(prefix_old):]] = v.clone()
        j += 1
        for _ in range(insert_after.count(i)):
            silence_block(grown.layers[j])
            for name, v in grown.layers[j].state_dict().items():
                new_state[f"layers.{j}.{name}"] = v.clone()
            j += 1
    grown.load_state_dict(new_state)
    return grown


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="exported model folder to grow")
    ap.add_argument("--insert-after", type=int, nargs="+", required=True, metavar="I",
                    help="a new block after original block I (0-based; repeatable values)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the grown model")
    ap.add_argument("--seed", type=int, default=0, help="seed of the new blocks' other weights")
    args = ap.parse_args(argv)
    if not (args.model / "model.safetensors").is_file():
        print(f"error: {args.model}: no model.safetensors (an exported model folder is needed)", file=sys.stderr)
        return 2
    from safetensors.torch import save_file  # noqa: PLC0415
    from greedy_eval import load_model  # noqa: PLC0415 (the tools' loader of an exported folder)
    model = load_model(args.model)
    grown = grow(model, args.insert_after, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    grown.cfg.save(args.out / "config.json")
    tensors = {k: v.contiguous() for k, v in grown.state_dict().items()}
    save_file(tensors, str(args.out / "model.safetensors"), metadata={"format": "ssmspeech-encoder-v1"})
    n_old = sum(p.numel() for p in model.parameters())
    n_new = sum(p.numel() for p in grown.parameters())
    print(f"wrote {args.out}: {model.cfg.n_layers} -> {grown.cfg.n_layers} blocks, "
          f"{n_old} -> {n_new} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
