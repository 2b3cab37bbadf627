#!/usr/bin/env python3
"""Measure WER/CER and RTF of the Swift engine (`ssmspeech transcribe`) and, in the same run,
of PocketSphinx (Debian `pocketsphinx` + `pocketsphinx-en-us`, its en-us acoustic model and LM).

    python Training/evaluate.py --model Resources/models/NAME \
        --manifest Training/data/manifests/dev_real.jsonl [--manifest ...] [--pocketsphinx] [--json out.json]

What is measured is the product: the release binary decodes, resamples, extracts features and
decodes exactly as a user's `transcribe` call does. RTF = wall time of the whole command ÷ audio
duration (one thread: --threads 1 --jobs 1). PocketSphinx gets the same files converted to 16 kHz
mono 16-bit WAV with sox (conversion time not counted), decoded one file per process.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from train import edit_distance, load_manifest  # noqa: E402


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


def run_pocketsphinx(items: list[dict]) -> tuple[list[str], float]:
    hyps, wall = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, it in enumerate(items):
            wav = os.path.join(tmp, f"{i}.wav")
            subprocess.run(["sox", it["audio"], "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", wav],
                           check=True, capture_output=True)
            t0 = time.time()
            out = subprocess.run(["pocketsphinx_continuous", "-infile", wav, "-logfn", "/dev/null"],
                                 capture_output=True, text=True)
            wall += time.time() - t0
            hyps.append(" ".join(out.stdout.split()))
    return hyps, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--manifest", action="append", required=True)
    ap.add_argument("--binary", default=None, help="ssmspeech binary (default: the release build)")
    ap.add_argument("--engine-args", default="", help="extra transcribe flags, e.g. '--lm PATH'")
    ap.add_argument("--pocketsphinx", action="store_true", help="also run PocketSphinx on the same files")
    ap.add_argument("--limit", type=int, default=0, help="first N utterances of each manifest")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    binary = args.binary or default_binary()
    results = {}
    for m in args.manifest:
        items = load_manifest(m, max_duration=1e9)
        if args.limit:
            items = items[: args.limit]
        duration = sum(it["duration"] for it in items)
        hyps, wall = run_engine(binary, args.model, items, args.engine_args.split())
        r = {"ssmspeech": score([(it["text"], h) for it, h in zip(items, hyps)]) | {"rtf": wall / max(duration, 1e-9)},
             "audio_minutes": duration / 60, "examples": [{"ref": normalise(it["text"]), "hyp": h} for it, h in list(zip(items, hyps))[:3]]}
        if args.pocketsphinx:
            ps, ps_wall = run_pocketsphinx(items)
            r["pocketsphinx"] = score([(it["text"], h) for it, h in zip(items, ps)]) | {"rtf": ps_wall / max(duration, 1e-9)}
        results[Path(m).stem] = r
        line = f"{Path(m).stem:28s} {duration / 60:6.1f} min  ssmspeech WER {r['ssmspeech']['wer']:.1%} CER {r['ssmspeech']['cer']:.1%} RTF {r['ssmspeech']['rtf']:.4f}"
        if args.pocketsphinx:
            line += f" | pocketsphinx WER {r['pocketsphinx']['wer']:.1%} CER {r['pocketsphinx']['cer']:.1%} RTF {r['pocketsphinx']['rtf']:.3f}"
        print(line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
