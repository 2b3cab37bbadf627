"""Renders the text corpus with many Debian TTS voices into 16 kHz mono 16-bit WAV + manifests.

Voices (engine, key -> what):

* espeak-ng: 8 English accents (``en-us``, ``en-gb``, ``en-gb-scotland``, ``en-gb-x-rp``,
  ``en-gb-x-gbclan``, ``en-gb-x-gbcwmd``, ``en-029``, ``en-us-nyc``) x 79 human-sounding variants (+ the default)
  (``+m1``..``+f5``, ``+klatt*``, named variants; robotic/whisper/croak variants excluded); speaking
  rate ``-s`` 120-210 wpm, pitch ``-p`` 25-75 and word gap ``-g`` random per utterance.
  Keys ``espeak-<accent>``.
* flite: ``flite-slt`` (US female), ``flite-awb`` (Scottish male), ``flite-kal16`` (US male, 16 kHz
  diphone), ``flite-kal`` (8 kHz diphone, upsampled: narrow band); ``duration_stretch`` 0.8-1.25 and
  ``int_f0_target_mean`` x0.8-1.25 of the voice's own mean per utterance.
* festival: ``festival-kal`` (kal_diphone), ``festival-ked`` (ked_diphone, US male),
  ``festival-slt-hts`` (cmu_us_slt_arctic_hts); ``Duration_Stretch`` / HTS ``-r`` rate per utterance and
  the diphone voices' intonation target mean/std.
* **held out**: ``flite-rms`` (CMU ARCTIC "rms", US male, clustergen -- one of the most natural voices
  here and no other voice of that speaker exists) appears only in ``test_unseen_voice``.

Outputs (under ``--data``, default ``Training/data``):

* ``audio/<voice>/<sentence-id>.wav``
* ``manifests/train.jsonl``, ``manifests/test_synthetic.jsonl`` (test sentences, training voices),
  ``manifests/test_unseen_voice.jsonl`` (the same test sentences, held-out voice).  Entries:
  ``{"audio_filepath", "text", "duration", "voice", "variant", "source"}``.
* ``audio/plan_*.jsonl``: the deterministic plan (sentence, voice, rate/pitch); ``synth_stats.json``:
  measured throughput per voice.

Resumable: existing WAVs are skipped.  ``--hours`` sets the size of the training set (estimated from
word counts; the manifests report the real durations).

Run: ``python -m Training.data_recipe.synthesize --hours 30 --jobs 2``
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from multiprocessing import get_context
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "data_recipe"

from .manifest import read_done_log, write_manifest  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SR = 16000

ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
ESPEAK_ACCENT_WEIGHTS = [4, 3, 1, 1, 1, 1, 1, 1]
ESPEAK_VARIANTS = (
    "m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 klatt5 klatt6 "
    "adam Alex Alicia Andrea Andy Annie antonio aunty belinda benjamin boris caleb david Denis "
    "Diogo ed edward edward2 Gene Gene2 gustave Henrique Hugo iven iven2 iven3 iven4 Jacky john "
    "Lee linda marcelo Marco Mario max Michael michel miguel Mike Nguyen pablo paul pedro quincy "
    "rob robert steph steph2 steph3 Storm zac anika AnxiousAndy grandpa grandma norbert sandro "
    "shelby travis victor").split()
# no variant: the accent's default voice
ESPEAK_VARIANTS_ALL = [""] + ESPEAK_VARIANTS

FLITE_F0 = {"slt": 170.0, "awb": 130.0, "kal16": 95.0, "kal": 95.0, "rms": 110.0}

# Voice mixture for training (relative weights).  espeak-ng is robotic but gives accent and speaker
# variety; the flite/festival voices are more natural and get most of the weight.
TRAIN_VOICES = {
    "espeak": 38,
    "flite-slt": 11, "flite-awb": 10, "flite-kal16": 7, "flite-kal": 4,
    "festival-slt-hts": 11, "festival-kal": 8, "festival-ked": 11,
}
HELD_OUT_VOICE = "flite-rms"


# ----------------------------------------------------------------------------------------------
# Planning
# ----------------------------------------------------------------------------------------------
def estimate_seconds(transcript: str) -> float:
    """Rough duration estimate (for sizing before synthesis): ~0.33 s per word + 0.5 s."""
    return 0.33 * len(transcript.split()) + 0.5


def _pick_voice(rng: random.Random, voices: dict) -> str:
    keys = list(voices)
    return rng.choices(keys, weights=[voices[k] for k in keys])[0]


def plan_item(sid: str, source: str, spoken: str, text: str, voice_family: str, rng: random.Random) -> dict:
    """Chooses the concrete voice and prosody parameters for one utterance."""
    p: dict = {"id": sid, "source": source, "spoken": spoken, "text": text}
    if voice_family == "espeak":
        accent = rng.choices(ESPEAK_ACCENTS, weights=ESPEAK_ACCENT_WEIGHTS)[0]
        variant = rng.choice(ESPEAK_VARIANTS_ALL)
        p.update(voice=f"espeak-{accent}", engine="espeak", accent=accent, variant=variant,
                 rate=rng.randint(120, 210), pitch=rng.randint(25, 75),
                 gap=rng.choice([0, 0, 0, 1, 2, 3]))
    elif voice_family.startswith("flite-"):
        name = voice_family.split("-", 1)[1]
        p.update(voice=voice_family, engine="flite", variant=name,
                 stretch=round(rng.uniform(0.8, 1.25), 3),
                 f0=round(FLITE_F0[name] * rng.uniform(0.8, 1.25), 1))
    elif voice_family.startswith("festival-"):
        name = voice_family.split("-", 1)[1]
        p.update(voice=voice_family, engine="festival", variant=name,
                 stretch=round(rng.uniform(0.8, 1.25), 3))
        if name in ("kal", "ked"):
            p.update(f0=round(105 * rng.uniform(0.8, 1.3), 1), f0std=round(rng.uniform(8, 30), 1))
    else:
        raise ValueError(voice_family)
    return p


def make_plans(text_dir: Path, hours: float, n_test: int, seed: int):
    from .text_corpus import read_tsv
    train_rows = read_tsv(text_dir / "train.tsv")
    test_rows = read_tsv(text_dir / "test.tsv")
    train, total = [], 0.0
    for sid, source, spoken, text in train_rows:
        if total >= hours * 3600:
            break
        rng = random.Random(f"{seed}:{sid}:train")
        train.append(plan_item(sid, source, spoken, text, _pick_voice(rng, TRAIN_VOICES), rng))
        total += estimate_seconds(text)
    if total < hours * 3600:
        print(f"synth: warning: text supports only ~{total / 3600:.1f} h, fewer than the requested {hours} h",
              file=sys.stderr)
    test_syn, test_unseen = [], []
    for sid, source, spoken, text in test_rows[:n_test]:
        rng = random.Random(f"{seed}:{sid}:test")
        test_syn.append(plan_item(sid, source, spoken, text, _pick_voice(rng, TRAIN_VOICES), rng))
        test_unseen.append(plan_item(sid, source, spoken, text, HELD_OUT_VOICE, rng))
    return {"train": train, "test_synthetic": test_syn, "test_unseen_voice": test_unseen}


# ----------------------------------------------------------------------------------------------
# Rendering (runs in worker processes)
# ----------------------------------------------------------------------------------------------
def trim_and_level(x, rng: random.Random):
    """Leading/trailing silence trimmed to 0.05-0.25 s / 0.1-0.3 s (TTS engines pad unevenly) and the
    peak set to a random -10..-1 dBFS; ``rng`` draws the four random numbers in that order."""
    import numpy as np
    thr = max(1e-4, 0.01 * float(np.max(np.abs(x))) if len(x) else 1e-4)
    active = np.flatnonzero(np.abs(x) > thr)
    if len(active):
        a = max(0, active[0] - int(rng.uniform(0.05, 0.25) * SR))
        b = min(len(x), active[-1] + int(rng.uniform(0.1, 0.3) * SR))
        x = x[a:b]
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 0:
        x = x * (10 ** (rng.uniform(-10, -1) / 20.0) / peak)
    return x


def _postprocess(raw_wav: Path, out: Path, rng: random.Random) -> float:
    import soundfile as sf
    from .augment import read_mono
    x = read_mono(raw_wav, SR)
    x = trim_and_level(x, rng)
    tmp = out.with_name(out.name + ".part")
    sf.write(str(tmp), x, SR, subtype="PCM_16", format="WAV")
    os.replace(tmp, out)
    return len(x) / SR


def _run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, **kw)


def _render_espeak(p: dict, raw: Path):
    voice = p["accent"] + (("+" + p["variant"]) if p["variant"] else "")
    _run(["espeak-ng", "-v", voice, "-s", str(p["rate"]), "-p", str(p["pitch"]),
          "-g", str(p["gap"]), "-w", str(raw), "--stdin"], input=p["spoken"].encode())


def _render_flite(p: dict, raw: Path):
    _run(["flite", "-voice", p["variant"], "--setf", f"duration_stretch={p['stretch']}",
          "--setf", f"int_f0_target_mean={p['f0']}", "-t", p["spoken"], "-o", str(raw)])


_FESTIVAL_VOICE = {"kal": "voice_kal_diphone", "ked": "voice_ked_diphone",
                   "slt-hts": "voice_cmu_us_slt_arctic_hts"}


def _scheme_string(s: str) -> str:
    return '"' + s.replace("\\", " ").replace('"', "") + '"'


def _render_festival_batch(items: list, tmpdir: Path):
    """One festival process for a batch of utterances of the same voice (start-up is ~0.3 s)."""
    name = items[0]["variant"]
    lines = [f"({_FESTIVAL_VOICE[name]})"]
    for i, p in enumerate(items):
        raw = tmpdir / f"f{i}.wav"
        if name == "slt-hts":
            rate = round(1.0 / p["stretch"], 3)
            lines.append(f"(set! hts_engine_params (append cmu_us_slt_arctic_hts::hts_engine_params "
                         f"(list '(\"-r\" {rate}))))")
        else:
            lines.append(f"(Parameter.set 'Duration_Stretch {p['stretch']})")
            lines.append(f"(set! int_lr_params '((target_f0_mean {p['f0']}) (target_f0_std {p['f0std']}) "
                         f"(model_f0_mean 170) (model_f0_std 34)))")
        lines.append(f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(p['spoken'])})) "
                     f"{_scheme_string(str(raw))} 'riff)")
    script = tmpdir / "batch.scm"
    script.write_text("\n".join(lines) + "\n")
    subprocess.run(["festival", "-b", str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   check=False, timeout=600)
    return [tmpdir / f"f{i}.wav" for i in range(len(items))]


def render_chunk(args):
    """Worker entry: renders a list of plan items of one voice; returns per-item results."""
    items, audio_root = args
    audio_root = Path(audio_root)
    t0 = time.time()
    results = []
    with tempfile.TemporaryDirectory(prefix="synth-") as d:
        tmpdir = Path(d)
        todo = []
        for p in items:
            out = audio_root / p["voice"] / f"{p['id']}.wav"
            if out.exists():
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            todo.append((p, out))
        if todo and todo[0][0]["engine"] == "festival":
            raws = _render_festival_batch([p for p, _ in todo], tmpdir)
        else:
            raws = []
            for i, (p, _) in enumerate(todo):
                raw = tmpdir / f"r{i}.wav"
                try:
                    (_render_espeak if p["engine"] == "espeak" else _render_flite)(p, raw)
                except (subprocess.CalledProcessError, OSError) as e:
                    print(f"synth: {p['voice']} failed on {p['id']}: {e}", file=sys.stderr)
                raws.append(raw)
        for (p, out), raw in zip(todo, raws):
            if not raw.exists() or raw.stat().st_size < 100:
                results.append((p["voice"], p["id"], None))
                continue
            dur = _postprocess(raw, out, random.Random(f"post:{p['voice']}:{p['id']}"))
            results.append((p["voice"], p["id"], dur))
    return results, time.time() - t0, len(todo)


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------
def _chunks(plan: list, size: int):
    by_voice = defaultdict(list)
    for p in plan:
        # festival batches must share the concrete voice; others just the engine family
        by_voice[p["voice"]].append(p)
    chunks = []
    for items in by_voice.values():
        for i in range(0, len(items), size):
            chunks.append(items[i:i + size])
    random.Random(0).shuffle(chunks)   # mix engines so the progress estimate is representative
    return chunks


def check_binaries() -> list[str]:
    return [b for b in ("espeak-ng", "flite", "festival") if shutil.which(b) is None]


def synthesize(data_dir: Path, hours: float, n_test: int, jobs: int, seed: int, chunk: int = 24,
               log=print) -> dict:
    missing = check_binaries()
    if missing:
        raise SystemExit(f"synth: missing TTS programs: {' '.join(missing)} (see Training/DATA.md, System packages)")
    text_dir = data_dir / "text"
    audio_root = data_dir / "audio"
    man_dir = data_dir / "manifests"
    audio_root.mkdir(parents=True, exist_ok=True)
    plans = make_plans(text_dir, hours, n_test, seed)
    for name, plan in plans.items():
        with open(audio_root / f"plan_{name}.jsonl", "w", encoding="utf-8") as fh:
            for p in plan:
                fh.write(json.dumps(p) + "\n")
    done_log = audio_root / "done.jsonl"
    durations = read_done_log(done_log)
    # test sets first (small), then training
    order = plans["test_synthetic"] + plans["test_unseen_voice"] + plans["train"]
    pending = [p for p in order if not (audio_root / p["voice"] / f"{p['id']}.wav").exists()]
    est_total = sum(estimate_seconds(p["text"]) for p in order) / 3600
    log(f"synth: plan {len(plans['train'])} train (~{sum(estimate_seconds(p['text']) for p in plans['train']) / 3600:.1f} h est.), "
        f"{len(plans['test_synthetic'])} + {len(plans['test_unseen_voice'])} test utterances; "
        f"{len(order) - len(pending)} already done, {len(pending)} to render with {jobs} processes")
    stats = defaultdict(lambda: {"utts": 0, "seconds_audio": 0.0, "cpu_wall": 0.0, "failed": 0})
    t_start = time.time()
    done_n, done_audio, last = 0, 0.0, 0.0
    chunks = _chunks(pending, chunk)
    if chunks:
        ctx = get_context("fork")
        with ctx.Pool(jobs) as pool, open(done_log, "a", encoding="utf-8") as dl:
            for results, wall, n in pool.imap_unordered(render_chunk, [(c, str(audio_root)) for c in chunks]):
                voice = results[0][0] if results else None
                for v, i, d in results:
                    if d is None:
                        stats[v]["failed"] += 1
                        continue
                    durations[(v, i)] = d
                    dl.write(json.dumps([v, i, round(d, 3)]) + "\n")
                    stats[v]["utts"] += 1
                    stats[v]["seconds_audio"] += d
                    done_audio += d
                if voice:
                    stats[voice]["cpu_wall"] += wall
                dl.flush()
                done_n += n
                now = time.time()
                if now - last > 10 or done_n == len(pending):
                    last = now
                    el = now - t_start
                    rate = done_n / el if el > 0 else 0.0
                    eta = (len(pending) - done_n) / rate if rate > 0 else float("inf")
                    print(f"synth: {done_n}/{len(pending)} utts, {done_audio / 3600:.2f} h audio, "
                          f"{rate:.1f} utt/s, {done_audio / max(el, 1e-9):.0f}x real time, "
                          f"elapsed {el / 60:.1f} min, ETA {eta / 60:.1f} min", file=sys.stderr, flush=True)
    # manifests from whatever exists
    summary = {}
    for name, plan in plans.items():
        entries = []
        for p in plan:
            path = audio_root / p["voice"] / f"{p['id']}.wav"
            if not path.exists():
                continue
            d = durations.get((p["voice"], p["id"]))
            if d is None:
                import soundfile as sf
                info = sf.info(str(path))
                d = info.frames / info.samplerate
            entries.append({"audio_filepath": str(path.resolve()), "text": p["text"], "duration": d,
                            "voice": p["voice"], "variant": p.get("variant", ""), "source": p["source"]})
        write_manifest(man_dir / f"{name}.jsonl", entries)
        summary[name] = {"utterances": len(entries), "hours": round(sum(e["duration"] for e in entries) / 3600, 3),
                         "planned": len(plan)}
    # throughput per voice (utterances per second of one worker process)
    tp = {}
    for v, s in sorted(stats.items()):
        if s["cpu_wall"] > 0:
            tp[v] = {"utts": s["utts"], "utt_per_s_per_process": round(s["utts"] / s["cpu_wall"], 2),
                     "audio_x_realtime_per_process": round(s["seconds_audio"] / s["cpu_wall"], 1),
                     "failed": s["failed"]}
    fam = defaultdict(lambda: [0, 0.0, 0.0])
    for v, s_ in stats.items():
        k = "espeak" if v.startswith("espeak") else v
        fam[k][0] += s_["utts"]
        fam[k][1] += s_["seconds_audio"]
        fam[k][2] += s_["cpu_wall"]
    tp_fam = {k: {"utts": u, "utt_per_s_per_process": round(u / w, 2),
                  "audio_x_realtime_per_process": round(a / w, 1)}
              for k, (u, a, w) in sorted(fam.items()) if w > 0}
    out_stats = {"summary": summary, "throughput_by_voice_family": tp_fam, "throughput_this_run": tp,
                 "wall_minutes_this_run": round((time.time() - t_start) / 60, 2), "jobs": jobs}
    (data_dir / "synth_stats.json").write_text(json.dumps(out_stats, indent=1))
    log("synth: " + ", ".join(f"{k} {v['utterances']} utts / {v['hours']:.2f} h" for k, v in summary.items()))
    return out_stats


def benchmark(n: int = 12, seed: int = 0) -> dict:
    """Measures single-process throughput per voice on n template-free sentences."""
    sents = ["The old man walked slowly down the road towards the village.",
             "She said that the meeting would start at nine thirty tomorrow morning.",
             "Please call me back when you get this message.",
             "A quiet river ran between the hills and the small farms."]
    res = {}
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        fams = list(TRAIN_VOICES) + [HELD_OUT_VOICE]
        for fam in fams:
            rng = random.Random(seed)
            items = [plan_item(f"b{fam}{i}", "bench", sents[i % len(sents)], "x", fam, rng) for i in range(n)]
            t0 = time.time()
            results, wall, _ = render_chunk((items, str(root)))
            audio = sum(r[2] or 0 for r in results)
            res[fam] = {"utt_per_s": round(n / (time.time() - t0), 2), "x_realtime": round(audio / wall, 1)}
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description="Render the text corpus with Debian TTS voices")
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    ap.add_argument("--hours", type=float, default=40.0, help="training audio to render (estimated)")
    ap.add_argument("--n-test", type=int, default=500, help="test sentences (rendered twice)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--benchmark", action="store_true", help="only measure throughput per voice")
    a = ap.parse_args(argv)
    if a.benchmark:
        print(json.dumps(benchmark(), indent=1))
        return 0
    synthesize(a.data, a.hours, a.n_test, a.jobs, a.seed, log=lambda m: print(m, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
