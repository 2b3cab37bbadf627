"""Intelligibility by round trip, and synthesis speed.

    python -m Training.tts.roundtrip [--voice Resources/voices/slt] [--json Benchmarks/results/tts_roundtrip.json]

1. The ten Harvard sentences of list 1 are spoken by our synthesizer (``ssmspeech synthesize``, release
   build), by flite ``slt``, by espeak-ng ``en-us`` and by festival's ``cmu_us_slt_arctic_hts`` (the voice ours
   was trained on), in the same run.
2. Each is transcribed by PocketSphinx (Debian ``pocketsphinx`` with its en-us acoustic model and LM; a
   recognizer we did not write) and by our own recognizer (``ssmspeech transcribe``, default model).
   WER as in ``Training/evaluate.py`` (lower case, punctuation removed).
3. Speed: ``synthesize --stats`` on one thread for a short and a long sentence (best of 3): time to first
   audio (text in → first samples out, model already loaded) and RTF (compute ÷ audio duration).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Training"))
from evaluate import default_binary, score  # noqa: E402
from tts.harvard import HARVARD_LIST_1  # noqa: E402

SHORT = "Hello, this is a test."
LONG = ("On the third of March, the committee met for nearly four hours to discuss the budget, the new library "
        "and the repairs to the old bridge, and in the end they agreed on almost everything.")


def _to16k(src: Path, dst: Path):
    subprocess.run(["sox", str(src), "-r", "16000", "-c", "1", "-b", "16", str(dst)], check=True)


def render(system: str, text: str, out: Path, binary: str, voice: str, tmp: Path):
    raw = tmp / "raw.wav"
    if system == "ssmspeech":
        subprocess.run([binary, "synthesize", "--voice", voice, "-o", str(out), text], check=True)
        return
    if system == "flite-slt":
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(raw)], check=True)
    elif system == "espeak-ng-en-us":
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), text], check=True)
    elif system == "festival-slt-hts":
        scm = tmp / "s.scm"
        t = text.replace('"', "")
        scm.write_text(f'(voice_cmu_us_slt_arctic_hts) (utt.save.wave (utt.synth (Utterance Text "{t}")) "{raw}" \'riff)\n')
        subprocess.run(["festival", "-b", str(scm)], check=True, capture_output=True)
    _to16k(raw, out)


def pocketsphinx(wav: Path) -> str:
    out = subprocess.run(["pocketsphinx_continuous", "-infile", str(wav), "-logfn", "/dev/null"],
                         capture_output=True, text=True)
    return " ".join(out.stdout.split())


def ours(binary: str, wavs: list[Path]) -> list[str]:
    out = subprocess.run([binary, "transcribe", "--format", "tsv", "--threads", "1", *map(str, wavs)],
                         capture_output=True, text=True, check=True)
    hyps = dict(line.split("\t", 1) for line in out.stdout.splitlines() if "\t" in line)
    return [hyps.get(str(w), "") for w in wavs]


def speed(binary: str, voice: str, text: str, runs: int = 3) -> dict:
    best = None
    for _ in range(runs):
        out = subprocess.run([binary, "synthesize", "--voice", voice, "--stats", "--threads", "1", "-o", "/dev/null", text],
                             capture_output=True, text=True, check=True)
        m = dict(zip(*[iter(out.stderr.split())] * 2))
        r = {k: float(v) for k, v in m.items()}
        if best is None or r["rtf"] < best["rtf"]:
            best = r
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", default=str(ROOT / "Resources/voices/slt"))
    ap.add_argument("--binary", default=None)
    ap.add_argument("--systems", default="ssmspeech,flite-slt,espeak-ng-en-us,festival-slt-hts")
    ap.add_argument("--keep", type=Path, default=None, help="keep the rendered WAVs in this folder")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    binary = a.binary or default_binary()
    result = {"sentences": HARVARD_LIST_1, "systems": {}}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for system in a.systems.split(","):
            folder = (a.keep or tmp) / system
            folder.mkdir(parents=True, exist_ok=True)
            wavs = []
            for i, s in enumerate(HARVARD_LIST_1):
                w = folder / f"h1_{i + 1:02d}.wav"
                render(system, s, w, binary, a.voice, tmp)
                wavs.append(w)
            ps = [pocketsphinx(w) for w in wavs]
            ss = ours(binary, wavs)
            r = {"pocketsphinx": score(list(zip(HARVARD_LIST_1, ps))) | {"hyps": ps},
                 "ssmspeech_asr": score(list(zip(HARVARD_LIST_1, ss))) | {"hyps": ss}}
            result["systems"][system] = r
            print(f"{system:18s} PocketSphinx WER {r['pocketsphinx']['wer']:.1%}   our recognizer WER {r['ssmspeech_asr']['wer']:.1%}",
                  flush=True)
    if "ssmspeech" in a.systems:
        result["speed"] = {"short": {"text": SHORT} | speed(binary, a.voice, SHORT),
                           "long": {"text": LONG} | speed(binary, a.voice, LONG)}
        for k, v in result["speed"].items():
            print(f"speed {k}: first audio {v['first_audio_ms']:.1f} ms, {v['audio_s']:.2f} s audio, RTF {v['rtf']:.4f}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
