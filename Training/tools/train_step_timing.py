#!/usr/bin/env python3
"""Seconds per training step of a model configuration on this machine (forward, CTC loss, backward, AdamW),
on random features, so that changes to the training code can be timed without data.

    python Training/tools/train_step_timing.py [--config Resources/models/mamba-30ms/config.json]
        [--batch 10] [--seconds 10] [--threads 1] [--steps 4]

Prints the sorted step times after one warm-up step, wall-clock and CPU time of this process (with one
thread the CPU time is the steadier figure when other work shares the machine). train.py's step also
clips the gradient norm, which is not timed here. Time a change against the previous code in the same
minute (e.g. `git stash`, run, `git stash pop`, run): on a shared machine the spread between minutes is
larger than many of the changes one wants to measure.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Training"))

from ssmspeech_ref.encoder import Encoder, EncoderConfig  # noqa: E402
from ssmspeech_ref.features import HOP_LENGTH, SAMPLE_RATE  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "Resources/models/mamba-30ms/config.json"))
    ap.add_argument("--batch", type=int, default=10, help="utterances per batch")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of audio per utterance")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    cfg = EncoderConfig.from_dict(json.loads(Path(a.config).read_text()))
    model = Encoder(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    frames = int(a.seconds * SAMPLE_RATE / HOP_LENGTH)  # feature frames
    x = torch.randn(a.batch, frames, cfg.n_mels)  # (B, T, F)
    n_labels = max(1, frames // 10)
    targets = torch.randint(1, cfg.vocab_size, (a.batch, n_labels))  # (B, S), 0 is the blank

    def step() -> None:
        lp = model(x).log_softmax(-1).transpose(0, 1)  # (L, B, V)
        loss = torch.nn.functional.ctc_loss(lp, targets, torch.full((a.batch,), lp.shape[0]),
                                            torch.full((a.batch,), n_labels), zero_infinity=True)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    wall, cpu = [], []
    for _ in range(a.steps):
        t, c = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(json.dumps({"config": a.config, "batch": a.batch, "seconds": a.seconds, "threads": a.threads,
                      "step_s": [round(t, 3) for t in sorted(wall)],
                      "step_cpu_s": [round(t, 3) for t in sorted(cpu)]}))


if __name__ == "__main__":
    main()
