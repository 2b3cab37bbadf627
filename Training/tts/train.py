"""Trains the synthesizer's acoustic model or vocoder on the rendered voice (``make_data.py``).

    python -m Training.tts.train acoustic --minutes 60 --threads 1
    python -m Training.tts.train vocoder  --minutes 60 --threads 1

Both resume from ``--run/<part>.pt`` (written every ``--save-minutes`` and at the end; one run folder holds
both parts and the shared feature cache ``features.pt``), so a session-sized budget can be spent in pieces.
The vocoder can be fine-tuned on the acoustic model's own output (``--on-acoustic``): mels predicted with
the MAS alignment of the real audio, so they line up with the waveform sample for sample.
Scales out: ``torchrun --nproc_per_node=K -m Training.tts.train ...`` averages gradients over K processes.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Training"))
from tts import frontend  # noqa: E402
from tts.model import (AcousticModel, MelSpec, MultiResolutionSTFTLoss, TTSConfig, Vocoder,  # noqa: E402
                       acoustic_losses, frame_positions, monotonic_alignment)


def log(msg: str):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def build_cache(manifest: Path, out: Path, cfg: TTSConfig) -> dict:
    """Tokens, int16 audio and log-mels of every utterance, plus the vocabulary and mel statistics."""
    rows = [json.loads(l) for l in manifest.read_text(encoding="utf-8").splitlines() if l.strip()]
    vocab = frontend.build_vocab(r["phonemes"] for r in rows)
    mel = MelSpec(cfg.audio)
    items, s1, s2, n = [], torch.zeros(cfg.audio.n_mels, dtype=torch.float64), torch.zeros(cfg.audio.n_mels, dtype=torch.float64), 0
    for r in rows:
        x, sr = sf.read(str(manifest.parent / r["audio_filepath"]), dtype="int16")
        assert sr == cfg.audio.sample_rate
        xf = torch.from_numpy(x.astype(np.float32) / 32768.0)
        m = mel(xf[None])[0]
        toks = torch.tensor(frontend.encode(r["phonemes"], vocab), dtype=torch.int16)
        if m.shape[0] < len(toks) + 2:
            continue
        items.append({"id": r["id"], "tokens": toks, "audio": torch.from_numpy(x.copy()), "mel": m.half()})
        s1 += m.double().sum(0); s2 += m.double().square().sum(0); n += m.shape[0]
    mean = s1 / n
    std = (s2 / n - mean.square()).clamp(min=1e-6).sqrt()
    cache = {"vocab": vocab, "mel_mean": mean.float(), "mel_std": std.float(), "items": items}
    torch.save(cache, out)
    log(f"cache: {len(items)} utterances, {n / 100 / 3600:.2f} h, vocab {len(vocab)}")
    return cache


def setup_dist():
    if "RANK" in os.environ:
        dist.init_process_group("gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def average_grads(model, world):
    if world > 1:
        for p in model.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= world


def acoustic_batches(items, frames_per_batch, rng):
    order = sorted(range(len(items)), key=lambda i: items[i]["mel"].shape[0])
    batches, cur, longest = [], [], 0
    for i in order:
        t = items[i]["mel"].shape[0]
        if cur and max(longest, t) * (len(cur) + 1) > frames_per_batch:
            batches.append(cur); cur, longest = [], 0
        cur.append(i); longest = max(longest, t)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(items, idx, mean, std):
    toks = [items[i]["tokens"].long() for i in idx]
    mels = [(items[i]["mel"].float() - mean) / std for i in idx]
    n_tok = torch.tensor([len(t) for t in toks]); n_frm = torch.tensor([m.shape[0] for m in mels])
    return (torch.nn.utils.rnn.pad_sequence(toks, batch_first=True), n_tok,
            torch.nn.utils.rnn.pad_sequence(mels, batch_first=True), n_frm)


def save(path: Path, obj: dict):
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_acoustic(a, cfg, cache, rank, world):
    model = AcousticModel(cfg)
    model.mel_mean.copy_(cache["mel_mean"]); model.mel_std.copy_(cache["mel_std"])
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.98), weight_decay=1e-2)
    ck = a.run / "acoustic.pt"
    step, epoch = 0, 0
    if ck.exists():
        s = torch.load(ck, weights_only=False)
        model.load_state_dict(s["model"]); opt.load_state_dict(s["opt"]); step, epoch = s["step"], s["epoch"]
        log(f"acoustic: resumed at step {step}")
    items = cache["items"]
    valid = items[:a.valid]; train = items[a.valid:]
    mean, std = cache["mel_mean"], cache["mel_std"]
    t_end = time.time() + 60 * a.minutes
    t_save = time.time() + 60 * a.save_minutes
    hist = []
    while time.time() < t_end:
        rng = random.Random(1000 + epoch)
        batches = acoustic_batches(train, a.frames_per_batch, rng)[rank::world]
        for bi in batches:
            lr = a.lr * min(1.0, (step + 1) / a.warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            model.train()
            losses = acoustic_losses(model, *collate(train, bi, mean, std))
            opt.zero_grad()
            losses["total"].backward()
            average_grads(model, world)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            hist.append([losses[k].item() for k in ("prior", "dur", "mel")])
            if step % 50 == 0 and rank == 0:
                h = np.mean(hist, axis=0); hist = []
                log(f"acoustic step {step} ep {epoch} lr {lr:.2e} prior {h[0]:.3f} dur {h[1]:.3f} mel {h[2]:.3f}")
            if time.time() > t_save or time.time() > t_end:
                if rank == 0:
                    model.eval()
                    with torch.no_grad():
                        v = [acoustic_losses(model, *collate(valid, list(range(i, min(i + 8, len(valid)))), mean, std))
                             for i in range(0, len(valid), 8)]
                    vl = {k: float(np.mean([x[k].item() for x in v])) for k in ("prior", "dur", "mel")}
                    log(f"acoustic valid step {step}: {vl}")
                    save(ck, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "epoch": epoch,
                              "config": json.loads(cfg.to_json()), "valid": vl})
                t_save = time.time() + 60 * a.save_minutes
            if time.time() > t_end:
                break
        else:
            epoch += 1
    log("acoustic: done")


def aligned_acoustic_mels(cfg, cache, run: Path):
    """The acoustic model's mels for each training utterance along its MAS alignment (normalised)."""
    path = run / "acoustic_mels.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    s = torch.load(run / "acoustic.pt", weights_only=False)
    model = AcousticModel(cfg); model.load_state_dict(s["model"]); model.eval()
    mean, std = cache["mel_mean"], cache["mel_std"]
    out = []
    with torch.no_grad():
        for it in cache["items"]:
            toks = it["tokens"].long()[None]
            mel = ((it["mel"].float() - mean) / std)[None]
            mask = torch.ones(1, toks.shape[1], 1)
            h, mu, _ = model.encode(toks, mask)
            logp = -0.5 * (mel.square().sum(-1, keepdim=True) - 2 * mel @ mu.transpose(1, 2) + mu.square().sum(-1)[:, None, :])
            d = monotonic_alignment(logp, torch.tensor([toks.shape[1]]), torch.tensor([mel.shape[1]]))[0]
            idx, pos = frame_positions(d)
            out.append(model.decode(h[0, idx][None], pos[None], mu[0, idx][None])[0].half())
    torch.save(out, path)
    log(f"vocoder: predicted mels for {len(out)} utterances")
    return out


def train_vocoder(a, cfg, cache, rank, world):
    model = Vocoder(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.8, 0.99), weight_decay=1e-2)
    ck = a.run / "vocoder.pt"
    step = 0
    if ck.exists():
        s = torch.load(ck, weights_only=False)
        model.load_state_dict(s["model"]); opt.load_state_dict(s["opt"]); step = s["step"]
        log(f"vocoder: resumed at step {step}")
    mel_fn = MelSpec(cfg.audio)
    stft_loss = MultiResolutionSTFTLoss()
    items = cache["items"]
    mean, std = cache["mel_mean"], cache["mel_std"]
    inputs = aligned_acoustic_mels(cfg, cache, a.run) if a.on_acoustic else None
    hop, seg, ctx, look = cfg.audio.hop, a.segment_frames, 48, 3
    silence = (math.log(cfg.audio.mel_floor) - mean) / std  # (M)
    rng = random.Random(7 + step + 1000 * rank)
    t_end = time.time() + 60 * a.minutes
    t_save = time.time() + 60 * a.save_minutes
    hist = []
    train_ids = list(range(a.valid, len(items)))
    while time.time() < t_end:
        mels, wavs = [], []
        for _ in range(a.batch):
            i = rng.choice(train_ids)
            it = items[i]
            m = inputs[i].float() if inputs is not None else (it["mel"].float() - mean) / std
            T = m.shape[0]
            if T < seg + look + 1:
                continue
            t0 = rng.randrange(0, T - seg - look)
            lo = max(0, t0 - ctx)
            mm = silence.expand(ctx + seg + look, -1).clone()  # before the start: the mel of digital silence
            mm[ctx - (t0 - lo):] = m[lo:t0 + seg + look]
            x = it["audio"][t0 * hop:(t0 + seg) * hop].float() / 32768.0
            if x.shape[0] < seg * hop:
                x = torch.nn.functional.pad(x, (0, seg * hop - x.shape[0]))
            mels.append(mm); wavs.append(x)
        mel_in = torch.stack(mels); y = torch.stack(wavs)
        y_hat = model(mel_in)[:, ctx * hop:(ctx + seg) * hop]
        mel_l = (mel_fn(y_hat) - mel_fn(y)).abs().mean()
        loss = mel_l + 2.0 * stft_loss(y_hat, y)
        lr = a.lr * min(1.0, (step + 1) / a.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss.backward()
        average_grads(model, world)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        hist.append([loss.item(), mel_l.item()])
        if step % 50 == 0 and rank == 0:
            h = np.mean(hist, axis=0); hist = []
            log(f"vocoder step {step} lr {lr:.2e} loss {h[0]:.3f} mel {h[1]:.3f}")
        if rank == 0 and (time.time() > t_save or time.time() > t_end):
            save(ck, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                      "config": json.loads(cfg.to_json())})
            t_save = time.time() + 60 * a.save_minutes
    log("vocoder: done")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["acoustic", "vocoder", "cache"])
    ap.add_argument("--manifest", type=Path, default=ROOT / "Training/data/tts/slt/manifest.jsonl")
    ap.add_argument("--run", "--run-dir", dest="run", type=Path, default=ROOT / "Training/runs/tts-slt",
                    help="run folder (under torchrun spell it --run-dir: torchrun takes --run for its --run-path)")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--save-minutes", type=float, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--frames-per-batch", type=int, default=4000, help="acoustic: padded mel frames per batch")
    ap.add_argument("--batch", type=int, default=16, help="vocoder: segments per batch")
    ap.add_argument("--segment-frames", type=int, default=48, help="vocoder: frames per segment (x 10 ms)")
    ap.add_argument("--valid", type=int, default=100, help="utterances held out (the first of the cache)")
    ap.add_argument("--on-acoustic", action="store_true", help="vocoder: train on the acoustic model's mels")
    a = ap.parse_args(argv)
    if a.lr is None:
        a.lr = 1e-3 if a.part == "acoustic" else 5e-4
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    a.run.mkdir(parents=True, exist_ok=True)
    rank, world = setup_dist()
    cfg = TTSConfig(source="festival voice_cmu_us_slt_arctic_hts (Debian festvox-us-slt-hts), Training/tts/make_data.py")
    cpath = a.run / "features.pt"
    cache = torch.load(cpath, weights_only=False) if cpath.exists() else build_cache(a.manifest, cpath, cfg)
    cfg.vocab = cache["vocab"]
    if a.part == "acoustic":
        train_acoustic(a, cfg, cache, rank, world)
    elif a.part == "vocoder":
        train_vocoder(a, cfg, cache, rank, world)


if __name__ == "__main__":
    main()
