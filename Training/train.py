#!/usr/bin/env python3
"""Train a streaming CTC encoder (mixer S4D, Mamba, Mamba-2, S5, or the hybrid of Mamba and
sliding-window attention) on JSON-lines manifests.

    python Training/train.py --mixer s4d --run s4d-small --minutes 90 \
        --train Training/data/manifests/train.jsonl \
        --dev Training/data/manifests/test_synthetic.jsonl --dev Training/data/manifests/dev_real.jsonl

* Manifests are JSON lines {"audio_filepath", "text", "duration"} (NeMo style); LibriSpeech folders
  can be converted with Training/data_recipe/librispeech.py.
* Runs on CPU (the default) or GPU; scales out with `torchrun --nproc_per_node N Training/train.py ...`
  (DistributedDataParallel; each rank takes every N-th batch).
* Time-budgeted: the learning-rate schedule (linear warm-up, cosine decay) runs over `--minutes` of
  wall time, so a run fits a session whatever the machine's speed. Checkpoints go to
  Training/runs/<run>/last.pt every few minutes and a run resumes from there automatically.
* Augmentation on the fly, fresh every epoch: speed perturbation, gain, additive noise at random SNR,
  reverberation, telephone band, vocal-tract length perturbation (frequency warping of the power
  spectrum), SpecAugment (time and frequency masks); `--augmenter recipe` adds pitch shift, hum and
  babble noise, A-law and channel EQ (data_recipe/augment.py).
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
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ssmspeech_ref.encoder import Encoder, EncoderConfig  # noqa: E402
from ssmspeech_ref import features as feat  # noqa: E402
from data_recipe.manifest import read_manifest  # noqa: E402

VOCAB = ["<blank>", " ", "'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
CHAR_TO_ID = {c: i for i, c in enumerate(VOCAB)}
SAMPLE_RATE = 16_000


# ---------------------------------------------------------------------------------------------
# Data

def load_manifest(path: str | Path, max_duration: float = 20.0) -> list[dict]:
    """Reads a JSON-lines manifest (relative audio paths resolved against its folder), dropping
    utterances longer than `max_duration` seconds."""
    return [{"audio": d["audio_filepath"], "text": d["text"], "duration": d["duration"]}
            for d in read_manifest(path) if d["duration"] <= max_duration]


def encode_text(text: str) -> list[int]:
    """Characters outside the vocabulary are dropped; runs of spaces collapse."""
    out, prev_space = [], True
    for ch in text.lower():
        if ch == " ":
            if not prev_space:
                out.append(CHAR_TO_ID[" "])
            prev_space = True
        elif ch in CHAR_TO_ID:
            out.append(CHAR_TO_ID[ch])
            prev_space = False
    while out and out[-1] == CHAR_TO_ID[" "]:
        out.pop()
    return out


def read_audio(path: str) -> np.ndarray:
    """Mono float32 at 16 kHz (the corpus is written at 16 kHz; other rates are resampled linearly)."""
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != SAMPLE_RATE:
        n = int(round(len(x) * SAMPLE_RATE / sr))
        x = np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)
    return x


def make_batches(items: list[dict], batch_seconds: float, rng: random.Random, max_batch: int = 64) -> list[list[int]]:
    """Groups utterances of similar length so that (batch size × longest duration) ≤ batch_seconds."""
    order = sorted(range(len(items)), key=lambda i: items[i]["duration"] + rng.random() * 0.3)
    batches, cur, longest = [], [], 0.0
    for i in order:
        d = items[i]["duration"]
        if cur and (max(longest, d) * (len(cur) + 1) > batch_seconds or len(cur) >= max_batch):
            batches.append(cur)
            cur, longest = [], 0.0
        cur.append(i)
        longest = max(longest, d)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


# ---------------------------------------------------------------------------------------------
# Augmentation (waveform level). Training/data_recipe/augment.py has a richer set (babble, GSM,
# pitch shift); the shipped models were trained with this one.


def _noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n).astype(np.float32)
    if kind == "white":
        return white
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=np.float32) + 1.0
    spec = spec / (np.sqrt(f) if kind == "pink" else f)
    return np.fft.irfft(spec, n).astype(np.float32)


def augment_wave(x: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Random speed, reverberation, telephone band, additive noise and gain (each with some probability)."""
    # speed perturbation (changes tempo and pitch together, like Kaldi's speed perturbation)
    if rng.random() < 0.8 * strength:
        factor = rng.uniform(0.88, 1.12)
        n = int(len(x) / factor)
        x = np.interp(np.arange(n) * factor, np.arange(len(x)), x).astype(np.float32)
    # reverberation: exponentially decaying noise impulse response
    if rng.random() < 0.35 * strength:
        rt60 = rng.uniform(0.15, 0.8)
        m = int(rt60 * SAMPLE_RATE)
        t = np.arange(m) / SAMPLE_RATE
        rir = rng.standard_normal(m).astype(np.float32) * np.exp(-6.9 * t / rt60).astype(np.float32)
        rir[0] = 1.0 + abs(rir[0])
        rir /= np.sqrt((rir ** 2).sum())
        nfft = 1 << int(math.ceil(math.log2(len(x) + m)))
        y = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(rir, nfft), nfft)[: len(x)]
        x = (y * (np.abs(x).max() / (np.abs(y).max() + 1e-9))).astype(np.float32)
    # telephone band: 300–3400 Hz band-pass and 8-bit mu-law companding
    if rng.random() < 0.2 * strength:
        spec = np.fft.rfft(x)
        f = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
        spec[(f < 300) | (f > 3400)] = 0
        x = np.fft.irfft(spec, len(x)).astype(np.float32)
        peak = np.abs(x).max() + 1e-9
        y = x / peak
        mu = 255.0
        q = np.round((np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu)) * 127) / 127
        x = (np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu * peak).astype(np.float32)
    # additive noise at a random SNR
    if rng.random() < 0.5 * strength:
        kind = rng.choice(["white", "pink", "brown"])
        noise = _noise(len(x), kind, rng)
        snr = rng.uniform(5, 30)
        px = float((x ** 2).mean()) + 1e-10
        pn = float((noise ** 2).mean()) + 1e-10
        x = x + noise * math.sqrt(px / (pn * 10 ** (snr / 10)))
    # gain
    x = x * (10 ** (rng.uniform(-20, 6) / 20))
    return np.clip(x, -1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Features (logmel-v1 in float32, batched), VTLP and SpecAugment

_FB = feat.mel_filterbank(dtype=torch.float32)  # (80, 257)
_WIN = feat.hann_window(dtype=torch.float32)  # (400)


def make_augmenter(kind: str, strength: float, seed: int, acoustics_dir: str | None = None,
                   p_telephone: float | None = None):
    """``simple``: ``augment_wave`` above (stages 1-3 of the shipped models). ``recipe``: the richer,
    tested chain of ``data_recipe.augment.Augmenter`` (adds pitch shift, hum and babble noise, μ-law
    and A-law telephone codecs, channel EQ), probabilities scaled by ``strength``. ``acoustic``: the
    recipe chain plus real acoustics (recorded noise clips, simulated rooms, cabinet IRs from
    ``data_recipe/acoustics.py``'s banks in ``acoustics_dir``) and a larger telephone share
    (``p_telephone``, default 0.3 × strength)."""
    if kind == "simple":
        return None
    from data_recipe import augment as A  # noqa: PLC0415
    if kind == "acoustic":
        return A.Augmenter.with_acoustics(seed=seed, strength=strength, acoustics_dir=acoustics_dir,
                                          p_telephone=p_telephone)
    s = strength
    return A.Augmenter(seed=seed, p_speed=min(1.0, 0.8 * s), speed_range=(0.88, 1.12), p_pitch=0.25 * s,
                       pitch_semitones=2.5, p_reverb=0.35 * s, p_eq=0.5 * s, p_noise=0.5 * s, snr_range=(5.0, 30.0),
                       p_telephone=0.2 * s, p_gain=1.0, gain_db_range=(-20.0, 6.0))


def warp_matrix(alpha: float, bins: int = 257) -> torch.Tensor:
    """(bins, bins) linear-interpolation matrix W with power_warped = power @ W, i.e. the
    spectrum read at frequency k/alpha (vocal-tract length perturbation)."""
    src = torch.clamp(torch.arange(bins, dtype=torch.float32) / alpha, 0, bins - 1)
    lo = src.floor().long()
    hi = torch.clamp(lo + 1, max=bins - 1)
    w_hi = src - lo.float()
    m = torch.zeros(bins, bins)
    m[lo, torch.arange(bins)] += 1 - w_hi
    m[hi, torch.arange(bins)] += w_hi
    return m


def batch_features(waves: list[np.ndarray], vtlp: list[float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-mel features of each wave, padded: (B, T, 80) and lengths (B)."""
    lens = [feat.num_frames(len(w)) for w in waves]
    tmax = max(max(lens), 1)
    n = (tmax - 1) * feat.HOP_LENGTH + feat.WIN_LENGTH
    x = torch.zeros(len(waves), n)
    for i, w in enumerate(waves):
        k = min(len(w), n)
        x[i, :k] = torch.from_numpy(w[:k])
    frames = x.unfold(1, feat.WIN_LENGTH, feat.HOP_LENGTH)[:, :tmax] * _WIN  # (B, T, 400)
    spec = torch.fft.rfft(frames, n=feat.N_FFT, dim=-1)
    power = spec.real.square() + spec.imag.square()  # (B, T, 257)
    if vtlp is not None:
        power = torch.stack([p @ warp_matrix(a) if a != 1.0 else p for p, a in zip(power, vtlp)])
    mel = power @ _FB.T
    out = torch.log(torch.clamp(mel, min=feat.LOG_FLOOR))
    for i, l in enumerate(lens):
        out[i, l:] = 0
    return out, torch.tensor(lens)


def spec_augment(x: torch.Tensor, lens: torch.Tensor, rng: random.Random, mean: torch.Tensor) -> torch.Tensor:
    """Two frequency masks (≤ 15 bins) and time masks (≤ 40 frames, about one per second), filled with the mean."""
    x = x.clone()
    for b in range(x.shape[0]):
        for _ in range(2):
            w = rng.randint(0, 15)
            f0 = rng.randint(0, x.shape[2] - w)
            x[b, :, f0:f0 + w] = mean[f0:f0 + w]
        t_len = int(lens[b])
        for _ in range(max(1, t_len // 100)):
            w = rng.randint(0, min(40, max(1, t_len // 5)))
            t0 = rng.randint(0, max(0, t_len - w))
            # (the global mean: with online CMN such a frame is not normalised to 0 and pulls the running
            # mean a little for a window afterwards; a training-time perturbation only)
            x[b, t0:t0 + w, :] = mean
    return x


class BatchMaker:
    """Turns one batch of manifest items into model inputs: read the audio, augment each wave,
    log-mel features with VTLP, SpecAugment. Holds its own random streams, so each data-loading
    worker process owns one (seeded apart) and the main process never waits on another's state.

    __call__(items) -> (x (B, T, 80), lens (B), targets (sum of target lengths), target_lens (B))."""

    def __init__(self, args, mean_feat: torch.Tensor, seed: int):
        self.aug = args.aug
        self.mean_feat = mean_feat
        self.nprng = np.random.default_rng(seed)
        self.pyrng = random.Random(seed)
        self.augmenter = make_augmenter(args.augmenter, args.aug, seed, args.acoustics, args.p_telephone)

    def __call__(self, items: list[dict]):
        clean = [read_audio(it["audio"]) for it in items]
        if self.aug <= 0:
            waves = clean
        elif self.augmenter is None:
            waves = [augment_wave(w, self.nprng, self.aug) for w in clean]
        else:
            waves = [self.augmenter(w) for w in clean]
            for w in clean[:2]:  # babble noise is made of other training utterances
                self.augmenter.add_to_pool(w)
        vtlp = [float(self.nprng.uniform(0.9, 1.1)) if self.aug > 0 and self.nprng.random() < 0.5 else 1.0
                for _ in items]
        x, lens = batch_features(waves, vtlp)
        if self.aug > 0:
            x = spec_augment(x, lens, self.pyrng, self.mean_feat)
        targets = [torch.tensor(encode_text(it["text"])) for it in items]
        return x, lens, torch.cat(targets), torch.tensor([len(t) for t in targets])


class _BatchDataset(torch.utils.data.Dataset):
    """Prepares the batch its sampler hands over as the index, an (epoch, batch index, items) triple;
    each worker process builds its own BatchMaker on first use, seeded with the worker's id."""

    def __init__(self, args, mean_feat: torch.Tensor, seed: int):
        self.args, self.mean_feat, self.seed = args, mean_feat, seed
        self.maker = None

    def __getitem__(self, job):
        if self.maker is None:
            info = torch.utils.data.get_worker_info()
            torch.set_num_threads(1)
            self.maker = BatchMaker(self.args, self.mean_feat, self.seed * 101 + (info.id if info else 0))
        epoch, bi, items = job
        return epoch, bi, sum(it["duration"] for it in items) / 3600, self.maker(items)


class _Jobs:
    """An iterable over a generator, as a DataLoader sampler (iterated once, lazily, in this process)."""

    def __init__(self, gen):
        self.gen = gen

    def __iter__(self):
        return self.gen


def batch_stream(jobs, args, mean_feat: torch.Tensor, seed: int, inline: BatchMaker):
    """Yields (epoch, batch index, audio hours, prepared batch) for each (epoch, batch index, items)
    of `jobs`, in order: made in this process (--workers 0) or by --workers processes that work
    ahead (up to four batches each, across epoch boundaries) while the model trains."""
    if args.workers <= 0:
        for epoch, bi, items in jobs:
            yield epoch, bi, sum(it["duration"] for it in items) / 3600, inline(items)
        return
    yield from torch.utils.data.DataLoader(_BatchDataset(args, mean_feat, seed), batch_size=None,
                                           sampler=_Jobs(jobs), num_workers=args.workers, prefetch_factor=4)


# ---------------------------------------------------------------------------------------------
# Metrics

def edit_distance(a: list, b: list) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def greedy_decode(logits: torch.Tensor, length: int) -> str:
    ids = logits[:length].argmax(-1).tolist()
    out, prev = [], 0
    for i in ids:
        if i != prev and i != 0:
            out.append(VOCAB[i])
        prev = i
    return " ".join("".join(out).split())


def normalise_ref(text: str) -> str:
    return "".join(VOCAB[i] for i in encode_text(text))


def evaluate(model: Encoder, items: list[dict], device, max_items: int = 300) -> dict:
    model.eval()
    words = werr = chars = cerr = 0
    examples = []
    with torch.no_grad():
        for start in range(0, min(len(items), max_items), 8):
            chunk = items[start:min(start + 8, max_items)]
            waves = [read_audio(it["audio"]) for it in chunk]
            x, lens = batch_features(waves)
            logits = model(x.to(device)).cpu()
            for k, it in enumerate(chunk):
                hyp = greedy_decode(logits[k], model.output_length(int(lens[k])))
                ref = normalise_ref(it["text"])
                words += len(ref.split())
                werr += edit_distance(ref.split(), hyp.split())
                chars += len(ref)
                cerr += edit_distance(list(ref), list(hyp))
                if len(examples) < 3:
                    examples.append({"ref": ref, "hyp": hyp})
    model.train()
    return {"wer": werr / max(words, 1), "cer": cerr / max(chars, 1), "n": min(len(items), max_items), "examples": examples}


# ---------------------------------------------------------------------------------------------
# Model, optimiser, schedule, checkpoints

# Substrings of the names of SSM dynamics parameters (no weight decay, --ssm-lr): S4D's log_dt,
# log_A_real, A_imag; Mamba's A_log, dt_proj.bias; Mamba-2's A_log, dt_bias; S5's Lambda_re, Lambda_im,
# log_step and B (the S5 code puts B in its SSM group too); the D feedthrough of all four (".D",
# i.e. "mixer.D"). A hybrid's Mamba layers are caught like Mamba's; its attention layers' in_proj and
# out_proj are ordinary weights and biases. tests/test_train.py checks that
# these catch exactly those parameters of every mixer.
SSM_PARAM_NAMES = ("A_log", "log_dt", "log_A_real", "A_imag", ".D", "dt_proj.bias", "dt_bias",
                   "Lambda_re", "Lambda_im", "log_step", "mixer.B")


# Config sections that --init may change (no weight shape or meaning depends on them alone).
INIT_MAY_CHANGE = ("online_cmn",)


def build_config(args) -> EncoderConfig:
    d = dict(mixer=args.mixer, d_model=args.d_model, n_layers=args.n_layers, norm=args.norm,
             ffn_mult=args.ffn_mult, n_mels=80, subsample_kernel=3, subsample_strides=list(args.strides),
             vocab=VOCAB, features="logmel-v1")
    if args.mixer == "s4d":
        d["s4d"] = {"d_state": args.d_state}
    elif args.mixer in ("mamba", "hybrid"):
        d["mamba"] = {"d_state": args.d_state, "d_conv": 4, "expand": args.expand, "dt_rank": args.dt_rank or "auto"}
        if args.mixer == "hybrid":
            d["hybrid"] = {"attn_every": args.attn_every, "n_heads": args.attn_heads, "window": args.attn_window}
    elif args.mixer == "mamba2":
        d["mamba2"] = {"d_state": args.d_state, "d_conv": 4, "expand": args.expand, "headdim": args.headdim,
                       "ngroups": args.ngroups, "chunk_size": args.chunk_size}
    else:  # s5
        d["s5"] = {"d_state": args.d_state, "blocks": args.blocks, "clip_eigs": args.clip_eigs}
    d["online_cmn"] = {"prior_frames": args.online_cmn[0], "window_frames": args.online_cmn[1]}
    return EncoderConfig.from_dict(d)


def make_optimizer(model: torch.nn.Module, lr: float, ssm_lr: float, wd: float) -> torch.optim.Optimizer:
    """AdamW; SSM dynamics parameters get no weight decay and a capped learning rate (as S4 advises)."""
    ssm, decay, no_decay = [], [], []
    for name, p in model.named_parameters():
        if any(k in name for k in SSM_PARAM_NAMES):
            ssm.append(p)
        elif p.dim() < 2:
            no_decay.append(p)
        else:
            decay.append(p)
    return torch.optim.AdamW([
        {"params": decay, "weight_decay": wd, "lr": lr},
        {"params": no_decay, "weight_decay": 0.0, "lr": lr},
        {"params": ssm, "weight_decay": 0.0, "lr": ssm_lr},
    ], betas=(0.9, 0.98), eps=1e-8)


def lr_factor(step: int, elapsed: float, budget: float, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to 5 % over the wall-time budget."""
    if step < warmup:
        return (step + 1) / warmup
    frac = min(1.0, elapsed / max(budget, 1.0))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))


def estimate_feature_stats(items: list[dict], n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = random.Random(seed)
    pick = rng.sample(items, min(n, len(items)))
    sums = torch.zeros(80, dtype=torch.float64)
    sq = torch.zeros(80, dtype=torch.float64)
    count = 0
    for it in pick:
        x = feat.log_mel(read_audio(it["audio"]), dtype=torch.float32).double()
        sums += x.sum(0)
        sq += (x * x).sum(0)
        count += x.shape[0]
    mean = sums / max(count, 1)
    std = torch.sqrt(torch.clamp(sq / max(count, 1) - mean * mean, min=1e-4))
    return mean.float(), std.float()


def save_checkpoint(path: Path, **state) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def make_parser() -> argparse.ArgumentParser:
    """The command line of a training run (also parsed per model by tools/train_compare.py)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", action="append", required=True, help="training manifest (repeatable)")
    ap.add_argument("--dev", action="append", default=[], help="evaluation manifest (repeatable)")
    ap.add_argument("--run", "--run-name", dest="run", required=True,
                    help="run name: checkpoints in <runs-dir>/<run>/ (under torchrun spell it --run-name: "
                         "torchrun's own parser takes --run for an abbreviation of its --run-path)")
    ap.add_argument("--runs-dir", type=Path, default=HERE / "runs", help="folder of runs (default Training/runs)")
    ap.add_argument("--mixer", choices=["s4d", "mamba", "mamba2", "s5", "hybrid"], default="s4d",
                    help="sequence mixer of every layer; hybrid = Mamba layers (--d-state, --expand, --dt-rank) "
                         "with a sliding-window attention layer every --attn-every layers")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--n-layers", type=int, default=6)
    ap.add_argument("--d-state", type=int, default=64,
                    help="S4D N (64), Mamba N (16; also a hybrid's Mamba layers), Mamba-2 N (64) or S5 P (64, "
                         "the complex state size; P/2 stored)")
    ap.add_argument("--expand", type=int, default=2, help="Mamba / Mamba-2 expansion (also a hybrid's Mamba layers)")
    ap.add_argument("--dt-rank", type=int, default=0, help="Mamba dt_rank, also a hybrid's Mamba layers (0 = auto)")
    ap.add_argument("--attn-every", type=int, default=3,
                    help="hybrid: layer i (0-based) is attention when i + 1 is a multiple of this, Mamba "
                         "otherwise (3: Mamba, Mamba, attention, ...; 1: attention only)")
    ap.add_argument("--attn-heads", type=int, default=4, help="hybrid: attention heads (must divide --d-model)")
    ap.add_argument("--attn-window", type=int, default=64,
                    help="hybrid: output frames each attention layer sees, the current one included (64 = "
                         "1.92 s at the default 30 ms frames); its streaming cache holds that many keys and values")
    ap.add_argument("--headdim", type=int, default=64, help="Mamba-2 channels per head (expand x d_model / headdim heads)")
    ap.add_argument("--ngroups", type=int, default=1, help="Mamba-2 groups of heads sharing B and C")
    ap.add_argument("--chunk-size", type=int, default=64, help="Mamba-2 chunk length of the SSD scan (speed only)")
    ap.add_argument("--blocks", type=int, default=1, help="S5 blocks of the block-diagonal HiPPO-N init")
    ap.add_argument("--clip-eigs", action="store_true", help="S5: clamp Re(Lambda) <= -1e-4 (always stable)")
    ap.add_argument("--ffn-mult", type=int, default=2)
    ap.add_argument("--norm", choices=["layernorm", "rmsnorm"], default="layernorm")
    ap.add_argument("--strides", type=int, nargs=2, default=[3, 1], metavar=("S1", "S2"),
                    help="strides of the two front-end convolutions: 3 1 = 30 ms output frames (default; "
                         "character CTC needs the room), 2 2 = 40 ms")
    ap.add_argument("--online-cmn", type=int, nargs=2, default=[0, 0], metavar=("PRIOR", "WINDOW"),
                    help="normalise the features with a causal running mean instead of the global one: "
                         "PRIOR frames of the global mean, then an exponential window of WINDOW frames "
                         "(Kaldi's online CMN defaults: 200 600); 0 0 = off (default). May differ from --init's")
    ap.add_argument("--init", default="",
                    help="start a new run from the weights of another run's checkpoint (a run name, a .pt "
                         "file, or an exported model folder such as Resources/models/mamba-30ms; shapes must "
                         "match; optimizer and schedule start fresh)")
    ap.add_argument("--minutes", type=float, default=90, help="wall-time budget of the whole run")
    ap.add_argument("--batch-seconds", type=float, default=160, help="audio seconds per batch (padded)")
    ap.add_argument("--max-batch", type=int, default=64, help="most utterances in one batch")
    ap.add_argument("--workers", type=int, default=0,
                    help="data-loading processes that read, augment and featurise batches ahead of the "
                         "model (0 = in the training process, as the shipped models were trained)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--ssm-lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--aug", type=float, default=1.0, help="augmentation strength (0 = off)")
    ap.add_argument("--augmenter", choices=["simple", "recipe", "acoustic"], default="simple",
                    help="waveform augmentation: train.py's augment_wave, data_recipe.augment.Augmenter, or that "
                         "chain with real noise, simulated rooms and cabinet IRs (--acoustics)")
    ap.add_argument("--acoustics", default=None,
                    help="folder of acoustics banks for --augmenter acoustic (default Training/data/acoustics)")
    ap.add_argument("--p-telephone", type=float, default=None,
                    help="share of utterances through the telephone channel with --augmenter acoustic (default 0.3 x --aug)")
    ap.add_argument("--eval-minutes", type=float, default=15)
    ap.add_argument("--ckpt-minutes", type=float, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--refresh-snapshot", action="store_true",
                    help="before each epoch, rewrite the manifests from the audio rendered so far (synthesis still running)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = time budget only)")
    return ap


def main(argv=None) -> None:
    args = make_parser().parse_args(argv)

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world = 0, 1
    if distributed:
        import torch.distributed as dist
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    # Decaying SSM kernels and states underflow into denormals, which are 10-100x slower on x86 CPUs.
    torch.set_flush_denormal(True)
    if device.type == "cuda":  # TF32 matrix products: the SSM scans stay in fp32
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed + rank)

    run_dir = args.runs_dir / args.run
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "last.pt"
    log_path = run_dir / "log.jsonl"

    def log(obj):
        if rank == 0:
            obj = {"time": time.strftime("%H:%M:%S"), **obj}
            print(json.dumps(obj, default=str), flush=True)
            with open(log_path, "a") as f:
                f.write(json.dumps(obj, default=str) + "\n")

    train = [it for m in args.train for it in load_manifest(m)]
    train = [it for it in train if encode_text(it["text"])]
    devs = {Path(m).stem: load_manifest(m) for m in args.dev}
    cfg = build_config(args)
    model = Encoder(cfg).to(device)
    opt = make_optimizer(model, args.lr, args.ssm_lr, args.wd)
    step, elapsed, epoch, resume_batch, audio_seen = 0, 0.0, 0, 0, 0.0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, epoch, resume_batch = ck["step"], ck["elapsed"], ck["epoch"], ck.get("batch_index", 0)
        audio_seen = ck.get("audio_hours_seen", 0.0)
        log({"event": "resume", "step": step, "elapsed_min": round(elapsed / 60, 1)})
    elif args.init:
        src = Path(args.init)
        if (src / "model.safetensors").is_file():  # an exported model folder (Resources/models/NAME)
            from safetensors.torch import load_file  # noqa: PLC0415
            theirs = EncoderConfig.from_dict(json.loads((src / "config.json").read_text())).to_dict()
            mine = cfg.to_dict()
            for k in INIT_MAY_CHANGE:  # no weight depends on them: a run may start from another setting
                theirs.pop(k, None)
                mine.pop(k, None)
            if theirs != mine:   # strides, for one, change no weight shape: compare the configs
                diff = {k: (theirs.get(k), v) for k, v in mine.items() if theirs.get(k) != v}
                raise SystemExit(f"error: --init {src}: its config.json differs from this run's flags "
                                 f"(name: (folder, flags)): {diff}")
            src = src / "model.safetensors"
            state = load_file(str(src), device=str(device))
        else:
            src = src if src.is_file() else args.runs_dir / args.init / "last.pt"
            state = torch.load(src, map_location=device, weights_only=False)["model"]
        model.load_state_dict(state)
        cfg.save(run_dir / "config.json")
        log({"event": "init", "from": str(src)})
    else:
        mean, std = estimate_feature_stats(train, 300, args.seed)
        model.feature_norm.mean.copy_(mean)
        model.feature_norm.std.copy_(std)
        cfg.save(run_dir / "config.json")
    n_params = sum(p.numel() for p in model.parameters())
    log({"event": "start", "params": n_params, "train_utts": len(train),
         "train_hours": round(sum(it["duration"] for it in train) / 3600, 2), "config": cfg.to_dict() | {"vocab": len(VOCAB)},
         "args": vars(args)})
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    budget = args.minutes * 60
    last_ckpt = last_eval = time.time()
    t_start = time.time() - elapsed
    mean_feat = model.feature_norm.mean.detach().cpu()
    maker = BatchMaker(args, mean_feat, args.seed * 1000 + rank + step)  # for --workers 0

    def schedule(e: int, skip: int, items_: list[dict]):
        """(epoch, batch index, items) in training order from the resume point on, epoch after epoch.
        Every rank takes every world-th batch and all ranks take the same number (a rank with one
        batch more would wait for its partners' gradients forever); a resumed epoch keeps its
        shuffled order and skips the batches already done."""
        while True:
            if e > 0 or args.refresh_snapshot:
                if args.refresh_snapshot and rank == 0:
                    from data_recipe.snapshot import snapshot  # noqa: PLC0415
                    snapshot(HERE / "data")
                if distributed:
                    dist.barrier()
                items_ = [it for m in args.train for it in load_manifest(m)]
                items_ = [it for it in items_ if encode_text(it["text"])]
                log({"event": "epoch", "epoch": e, "train_utts": len(items_),
                     "train_hours": round(sum(it["duration"] for it in items_) / 3600, 2)})
            batches = make_batches(items_, args.batch_seconds, random.Random(args.seed + e), args.max_batch)
            batches = batches[:len(batches) // world * world][rank::world]
            for bi in range(skip, len(batches)):
                yield e, bi, [items_[i] for i in batches[bi]]
            e, skip = e + 1, 0

    stream = batch_stream(schedule(epoch, resume_batch, train), args, mean_feat, args.seed * 1000 + rank + step, maker)
    t0 = time.time()
    for epoch, bi, hours, (x, lens, targets, tgt_lens) in stream:
        audio_seen += hours * world
        out_lens = torch.tensor([model.output_length(int(l)) for l in lens])
        logits = ddp_model(x.to(device, non_blocking=True))  # (B, L, V)
        logp = logits.float().log_softmax(-1).transpose(0, 1)  # (L, B, V)
        loss = F.ctc_loss(logp, targets.to(device), out_lens.to(device), tgt_lens.to(device),
                          blank=0, reduction="mean", zero_infinity=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        elapsed = time.time() - t_start
        if distributed:  # rank 0's clock for everyone: same learning rate, same last step
            clock = torch.tensor([elapsed], dtype=torch.float64, device=device)
            dist.broadcast(clock, 0)
            elapsed = float(clock.item())
        factor = lr_factor(step, elapsed, budget, args.warmup)
        for g, base in zip(opt.param_groups, (args.lr, args.lr, args.ssm_lr)):
            g["lr"] = base * factor
        opt.step()
        step += 1
        if step % 20 == 0 or step <= 5:
            log({"step": step, "epoch": epoch, "loss": round(loss.item(), 4), "gnorm": round(float(gnorm), 3),
                 "lr": round(args.lr * factor, 6), "batch": len(lens), "step_s": round(time.time() - t0, 3),
                 "elapsed_min": round(elapsed / 60, 2), "audio_hours_seen": round(audio_seen, 3)})
        now = time.time()
        finished = elapsed >= budget or (args.max_steps and step >= args.max_steps)
        if rank == 0 and (now - last_ckpt > args.ckpt_minutes * 60 or finished):
            save_checkpoint(ckpt_path, model=model.state_dict(), opt=opt.state_dict(), step=step,
                            elapsed=elapsed, epoch=epoch, batch_index=bi + 1, config=cfg.to_dict(),
                            audio_hours_seen=audio_seen)
            last_ckpt = now
        if rank == 0 and devs and (now - last_eval > args.eval_minutes * 60 or finished):
            for name, items_ in devs.items():
                log({"eval": name, "step": step, "audio_hours_seen": round(audio_seen, 3),
                     **evaluate(model, items_, device)})
            last_eval = time.time()
        if finished:
            break
        t0 = time.time()
    log({"event": "done", "step": step, "elapsed_min": round(elapsed / 60, 1)})


if __name__ == "__main__":
    main()
