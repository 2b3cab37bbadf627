"""Renders the synthesizer's training voice: festival's ``cmu_us_slt_arctic_hts`` (CMU ARCTIC "slt",
US English female, HTS statistical parametric voice; Debian ``festvox-us-slt-hts``) over sentences of
the recipe's text corpus, plus their phoneme strings.

Why this voice: of the Debian voices it was the most natural and the most intelligible by round trip
through PocketSphinx on Harvard list 1 (flite slt: 4 sentences right of 10, HTS slt: 6; see
``roundtrip.py``). The Harvard sentences themselves never enter the training text.

Outputs under ``--out`` (default ``Training/data/tts/slt``):
* ``wav/<id>.wav``: 16 kHz mono 16-bit, leading silence trimmed to 50 ms and trailing to 150 ms.
* ``manifest.jsonl``: ``{"id", "audio_filepath" (relative to the manifest), "text", "phonemes", "duration"}``.

Resumable (existing WAVs are kept). Run from the repository root:
``python -m Training.tts.make_data --sentences 6000 --jobs 2``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Training"))
from tts import frontend  # noqa: E402
from tts.harvard import HARVARD_LIST_1  # noqa: E402

SR = 16000
_OK = re.compile(r"^[A-Za-z][A-Za-z ,.;:!?'\-]*$")


def _ngrams(words, n=4):
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def pick_sentences(tsv: Path, n: int, seed: int) -> list[tuple[str, str]]:
    banned = set()
    for s in HARVARD_LIST_1:
        banned |= _ngrams(re.findall(r"[a-z']+", s.lower()))
    rows = []
    for line in tsv.read_text(encoding="utf-8").splitlines():
        sid, _src, spoken, _tr = line.split("\t")
        w = spoken.split()
        if not (4 <= len(w) <= 20) or not _OK.match(spoken):
            continue
        if _ngrams(re.findall(r"[a-z']+", spoken.lower())) & banned:
            continue
        rows.append((sid, spoken))
    random.Random(seed).shuffle(rows)
    return rows[:n]


def _scheme(s: str) -> str:
    return '"' + s.replace("\\", " ").replace('"', "") + '"'


def render_batch(args) -> list[tuple[str, float]]:
    items, wav_dir = args
    wav_dir = Path(wav_dir)
    todo = [(sid, text) for sid, text in items if not (wav_dir / f"{sid}.wav").exists()]
    if not todo:
        return []
    out = []
    with tempfile.TemporaryDirectory(prefix="tts-") as d:
        lines = ["(voice_cmu_us_slt_arctic_hts)"]
        for i, (_sid, text) in enumerate(todo):
            lines.append(f"(set! u (utt.synth (Utterance Text {_scheme(text)})))")
            lines.append(f"(utt.wave.resample u {SR})")
            lines.append(f"(utt.save.wave u {_scheme(str(Path(d) / f'{i}.wav'))} 'riff)")
        (Path(d) / "b.scm").write_text("\n".join(lines) + "\n")
        subprocess.run(["festival", "-b", str(Path(d) / "b.scm")], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=False, timeout=1200)
        for i, (sid, _text) in enumerate(todo):
            raw = Path(d) / f"{i}.wav"
            if not raw.exists():
                print(f"make_data: festival produced nothing for {sid}", file=sys.stderr)
                continue
            x, sr = sf.read(str(raw), dtype="float32")
            assert sr == SR, sr
            thr = 0.01 * float(np.max(np.abs(x)) + 1e-9)
            act = np.flatnonzero(np.abs(x) > thr)
            if len(act):
                x = x[max(0, act[0] - int(0.05 * SR)): min(len(x), act[-1] + int(0.15 * SR))]
            tmp = wav_dir / f"{sid}.wav.part"
            sf.write(str(tmp), x, SR, subtype="PCM_16", format="WAV")
            os.replace(tmp, wav_dir / f"{sid}.wav")
            out.append((sid, len(x) / SR))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", type=Path, default=ROOT / "Training/data/text/train.tsv")
    ap.add_argument("--out", type=Path, default=ROOT / "Training/data/tts/slt")
    ap.add_argument("--sentences", type=int, default=6000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args(argv)
    wav_dir = a.out / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    rows = pick_sentences(a.text, a.sentences, a.seed)
    batches = [(rows[i:i + a.batch], str(wav_dir)) for i in range(0, len(rows), a.batch)]
    t0, done = time.time(), 0
    with ProcessPoolExecutor(a.jobs) as ex:
        for res in ex.map(render_batch, batches):
            done += len(res)
            print(f"make_data: {done} new wavs, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    n_ok, total = 0, 0.0
    with open(a.out / "manifest.jsonl.part", "w", encoding="utf-8") as f:
        for sid, text in rows:
            wav = wav_dir / f"{sid}.wav"
            if not wav.exists():
                continue
            dur = sf.info(str(wav)).duration
            ph = frontend.phoneme_string(text)
            f.write(json.dumps({"id": sid, "audio_filepath": f"wav/{sid}.wav", "text": text,
                                "phonemes": ph, "duration": round(dur, 3)}, ensure_ascii=False) + "\n")
            n_ok += 1
            total += dur
    os.replace(a.out / "manifest.jsonl.part", a.out / "manifest.jsonl")
    print(f"make_data: {n_ok} utterances, {total / 3600:.2f} h in {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
