#!/usr/bin/env python3
"""Train several encoders side by side on one identical stream of batches: the fair mixer comparison.

Every model sees the same batches in the same order (same audio, same augmentation draws, same
SpecAugment masks), with the same optimiser, learning-rate schedule and step count; only the flags
given per model differ (its mixer and that mixer's sizes). Batches are prepared once, by --workers
processes, and each is stepped through every model in turn, so the comparison costs one data
pipeline, not one per model.

    python Training/tools/train_compare.py --out Training/runs/compare --minutes 3 --workers 14 \\
        --transplant Resources/models/mamba-30ms \\
        --model "mamba=--mixer mamba --d-state 8 --expand 1 --dt-rank 16" \\
        --model "s4d=--mixer s4d --d-state 128" \\
        -- --train a.jsonl --train b.jsonl --lr 2e-3 --ssm-lr 1e-3 --warmup 50 --aug 0.8 --augmenter recipe \\
           --batch-seconds 480 --max-batch 192 --d-model 256 --n-layers 6 --ffn-mult 2 --strides 3 1

Everything after `--` is train.py's command line, shared by all models (`--run-name` is set per
model); each --model NAME=FLAGS adds train.py flags for that model only. With --transplant FOLDER,
every weight outside the mixers (feature normalisation, front-end convolutions, block norms, FFNs,
final norm, CTC head) starts from that exported model and every mixer (the Mamba one included) starts
fresh: the comparison then measures how well each mixer learns the sequence modelling inside a
working front end, instead of spending a short budget on the front end and CTC's blank plateau.
Without it all models start from scratch with the same feature statistics.

Writes, under --out, one folder per model: model.safetensors and config.json (an exported model
folder's two files, float32; rewritten every --save-seconds and at the end) and log.jsonl (the loss
every 20 steps, appended); and
compare.json: steps, audio hours, and per model its parameter count and the mean seconds of one
training step (forward, backward, optimiser) on this machine. With --zip FILE, all of it is also
packed into that one file at every save.
"""
from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import train as T  # noqa: E402
from ssmspeech_ref.encoder import Encoder  # noqa: E402


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the models and compare.json")
    ap.add_argument("--model", action="append", required=True, metavar="NAME=FLAGS",
                    help="a model: its name and its own train.py flags (repeatable)")
    ap.add_argument("--transplant", default="",
                    help="exported model folder whose non-mixer weights every model starts from")
    ap.add_argument("--minutes", type=float, required=True, help="wall-time budget for all models together")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = time only)")
    ap.add_argument("--save-seconds", type=float, default=30, help="write the models this often")
    ap.add_argument("--workers", type=int, default=0, help="data-loading processes (0 = in this process)")
    ap.add_argument("--zip", type=Path, default=None,
                    help="also pack --out into this one zip file at every save (a device call brings back only "
                         "a few files)")
    ours, rest = list(argv if argv is not None else sys.argv[1:]), []
    if "--" in ours:
        i = ours.index("--")
        ours, rest = ours[:i], ours[i + 1:]
    args = ap.parse_args(ours)
    specs = []
    for m in args.model:
        name, sep, flags = m.partition("=")
        if not sep or not name or "/" in name:
            ap.error(f"--model wants NAME=FLAGS, got {m!r}")
        specs.append((name, T.make_parser().parse_args(rest + shlex.split(flags) + ["--run-name", name,
                                                                                 "--workers", str(args.workers)])))
    if len({n for n, _ in specs}) != len(specs):
        ap.error("model names must differ")
    return args, specs


# train.py flags a model may set for itself: its mixer and that mixer's sizes, and online CMN. Every other flag is the
# shared recipe and must be the same for all models.
PER_MODEL = {"mixer", "d_state", "expand", "dt_rank", "headdim", "ngroups", "chunk_size", "blocks", "clip_eigs",
             "attn_every", "attn_heads", "attn_window", "online_cmn", "run"}
# train.py flags this tool does not act on (its own --minutes / --max-steps / --workers do that job).
UNUSED = {"init": "", "dev": [], "refresh_snapshot": False, "minutes": 90, "max_steps": 0}
# Config keys that describe the mixers, and online CMN (a transplant source may differ in these only).
MIXER_KEYS = {"mixer", "s4d", "mamba", "mamba2", "s5", "hybrid", "online_cmn"}


def is_mixer(name: str) -> bool:
    return ".mixer." in name


def transplant(model: Encoder, folder: Path) -> int:
    """Copies every non-mixer tensor of the exported model at `folder` (whose config must match the
    model's except for the mixer sections: the same strides, norms, widths and symbols); returns how
    many. The mixers keep their fresh initialisation."""
    from safetensors.torch import load_file  # noqa: PLC0415
    from ssmspeech_ref.encoder import EncoderConfig  # noqa: PLC0415
    src = EncoderConfig.from_dict(json.loads((folder / "config.json").read_text())).to_dict()
    mine = model.cfg.to_dict()
    diff = {k: (src.get(k), v) for k, v in mine.items() if k not in MIXER_KEYS and src.get(k) != v}
    if diff:
        raise SystemExit(f"error: --transplant {folder}: its config.json differs outside the mixers "
                         f"(name: (folder, model)): {diff}")
    theirs = load_file(str(folder / "model.safetensors"))
    n = 0
    for k, v in model.state_dict().items():
        if is_mixer(k):
            continue
        if k not in theirs or theirs[k].shape != v.shape:
            raise SystemExit(f"error: --transplant {folder}: no tensor {k} of shape {tuple(v.shape)} there")
        v.copy_(theirs[k].to(v.dtype))
        n += 1
    return n


def save(out: Path, name: str, model: Encoder, meta: dict) -> None:
    from safetensors.torch import save_file  # noqa: PLC0415
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()},
              str(d / "model.safetensors.tmp"), metadata={k: str(v) for k, v in meta.items()})
    (d / "model.safetensors.tmp").replace(d / "model.safetensors")
    model.cfg.save(d / "config.json")


def main(argv=None) -> None:
    args, specs = parse(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_flush_denormal(True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    a0 = specs[0][1]
    if a0.threads:
        torch.set_num_threads(a0.threads)
    for name, a in specs:  # the shared recipe must really be shared, and every flag must act
        for k, v in vars(a).items():
            if k in UNUSED and v != UNUSED[k]:
                raise SystemExit(f"error: --{k.replace('_', '-')} has no effect here (model {name})")
            if k not in PER_MODEL and v != getattr(a0, k):
                raise SystemExit(f"error: model {name} changes the shared flag --{k.replace('_', '-')}")
    args.out.mkdir(parents=True, exist_ok=True)
    train = [it for m in a0.train for it in T.load_manifest(m)]
    train = [it for it in train if T.encode_text(it["text"])]

    models = []
    for i, (name, a) in enumerate(specs):
        torch.manual_seed(a.seed + i)  # fresh mixers differ per model anyway; keep each one reproducible
        m = Encoder(T.build_config(a)).to(device)
        if args.transplant:
            copied = transplant(m, Path(args.transplant))
        else:
            copied = 0
        models.append({"name": name, "args": a, "model": m, "opt": T.make_optimizer(m, a.lr, a.ssm_lr, a.wd),
                       "params": sum(p.numel() for p in m.parameters()), "copied": copied, "compute_s": 0.0,
                       "loss": None, "log": args.out / name / "log.jsonl"})
        (args.out / name).mkdir(parents=True, exist_ok=True)
        models[-1]["log"].write_text("")
    if not args.transplant:
        mean, std = T.estimate_feature_stats(train, 300, a0.seed)
        for mm in models:
            mm["model"].feature_norm.mean.copy_(mean)
            mm["model"].feature_norm.std.copy_(std)
    mean_feat = models[0]["model"].feature_norm.mean.detach().cpu()
    for mm in models:
        print(json.dumps({"model": mm["name"], "params": mm["params"], "transplanted_tensors": mm["copied"],
                          "config": mm["model"].cfg.to_dict() | {"vocab": len(T.VOCAB)}}), flush=True)

    def schedule():
        e = 0
        while True:
            for bi, b in enumerate(T.make_batches(train, a0.batch_seconds, random.Random(a0.seed + e), a0.max_batch)):
                yield e, bi, [train[i] for i in b]
            e += 1

    budget = args.minutes * 60
    stream = T.batch_stream(schedule(), a0, mean_feat, a0.seed * 1000, T.BatchMaker(a0, mean_feat, a0.seed * 1000))
    step, hours_seen, t_start, last_save = 0, 0.0, time.time(), time.time()

    def write_all(final: bool):
        for mm in models:
            save(args.out, mm["name"], mm["model"], {"step": step, "audio_hours_seen": round(hours_seen, 3)})
        summary = {"steps": step, "audio_hours_seen": round(hours_seen, 3), "minutes": round((time.time() - t_start) / 60, 2),
                   "final": final, "device": str(device), "workers": args.workers, "transplant": args.transplant,
                   "models": {mm["name"]: {"params": mm["params"], "loss": mm["loss"],
                                           "step_seconds": round(mm["compute_s"] / max(step, 1), 4)} for mm in models}}
        (args.out / "compare.json").write_text(json.dumps(summary, indent=1) + "\n")
        if args.zip:
            tmp = args.zip.with_suffix(".tmp")
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
                for f in sorted(args.out.rglob("*")):
                    if f.is_file():
                        z.write(f, f.relative_to(args.out))
            tmp.replace(args.zip)

    for epoch, bi, hours, (x, lens, targets, tgt_lens) in stream:
        hours_seen += hours
        x = x.to(device, non_blocking=True)
        targets, tgt_lens = targets.to(device), tgt_lens.to(device)
        elapsed = time.time() - t_start
        factor = T.lr_factor(step, elapsed, budget, a0.warmup)
        for mm in models:
            model, opt, a = mm["model"], mm["opt"], mm["args"]
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.time()
            out_lens = torch.tensor([model.output_length(int(n)) for n in lens], device=device)
            logp = model(x).float().log_softmax(-1).transpose(0, 1)  # (L, B, V)
            loss = F.ctc_loss(logp, targets, out_lens, tgt_lens, blank=0, reduction="mean", zero_infinity=True)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            for g, base in zip(opt.param_groups, (a.lr, a.lr, a.ssm_lr)):
                g["lr"] = base * factor
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            mm["compute_s"] += time.time() - t0
            last = args.max_steps and step + 1 >= args.max_steps
            if step % 20 == 0 or step < 3 or last or time.time() - t_start >= budget:
                mm["loss"] = round(loss.item(), 4)
                with open(mm["log"], "a") as f:
                    f.write(json.dumps({"step": step + 1, "loss": mm["loss"], "lr": round(a.lr * factor, 6),
                                        "audio_hours_seen": round(hours_seen, 3),
                                        "elapsed_min": round(elapsed / 60, 2)}) + "\n")
        step += 1
        if step % 20 == 0 or step <= 3:
            print(json.dumps({"step": step, "hours": round(hours_seen, 2), "min": round(elapsed / 60, 2),
                              **{mm["name"]: mm["loss"] for mm in models}}), flush=True)
        finished = elapsed >= budget or (args.max_steps and step >= args.max_steps)
        if finished or time.time() - last_save > args.save_seconds:
            write_all(bool(finished))
            last_save = time.time()
        if finished:
            break
    print(json.dumps({"event": "done", "steps": step, "audio_hours_seen": round(hours_seen, 2)}), flush=True)


if __name__ == "__main__":
    main()
