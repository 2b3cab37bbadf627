"""Builds the bundled bench recording and its word alignment (Resources/bench/).

    python Training/tools/make_bench.py

* Audio: the five LibriVox read-speech clips of Debian's `pocketsphinx-testdata`
  (Sense and Sensibility, public domain), 16 kHz mono, joined with 0.6 s of silence between them.
* Alignment: PocketSphinx forced alignment (`pocketsphinx_continuous -time yes` with a one-sentence
  JSGF grammar per clip, en-us acoustic model and CMU dictionary), i.e. from a tool we did not write.
  Written as `bench.words.tsv`: `word<TAB>start<TAB>end` in seconds, one line per word.

`ssmspeech bench` uses the word end times to measure emission latency (README.md, "Measured").
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data_recipe.devset import PS_DIR, parse_sphinx_transcription  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path("/usr/share/pocketsphinx/model/en-us")
GAP = 0.6


def align(wav: Path, text: str) -> list[tuple[str, float, float]]:
    with tempfile.NamedTemporaryFile("w", suffix=".jsgf", delete=False) as g:
        g.write(f"#JSGF V1.0;\ngrammar utt;\npublic <utt> = {text};\n")
    out = subprocess.run(["pocketsphinx_continuous", "-infile", str(wav), "-jsgf", g.name, "-time", "yes",
                          "-hmm", str(MODEL / "en-us"), "-dict", str(MODEL / "cmudict-en-us.dict")],
                         capture_output=True, text=True, check=True).stdout
    words = []
    for line in out.splitlines():
        m = re.fullmatch(r"(\S+) (\d+\.\d+) (\d+\.\d+) \S+", line.strip())
        if m and not m.group(1).startswith("<") and not m.group(1).startswith("["):
            words.append((re.sub(r"\(\d+\)$", "", m.group(1)), float(m.group(2)), float(m.group(3))))
    got = " ".join(w for w, _, _ in words)
    if got != text:
        raise SystemExit(f"make_bench: forced alignment of {wav.name} gave {got!r}, expected {text!r}")
    return words


def main() -> None:
    ref = parse_sphinx_transcription(PS_DIR / "librivox" / "transcription")
    out_dir = ROOT / "Resources" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    audio, rows, offset = [], [], 0.0
    for utt in sorted(ref):
        wav = PS_DIR / "librivox" / f"{utt}.wav"
        x, sr = sf.read(wav, dtype="int16")
        assert sr == 16000 and x.ndim == 1, wav
        for w, s, e in align(wav, ref[utt]):
            rows.append(f"{w}\t{s + offset:.3f}\t{e + offset:.3f}")
        audio += [x, np.zeros(int(GAP * sr), dtype=np.int16)]
        offset += len(x) / sr + GAP
    sf.write(out_dir / "bench.wav", np.concatenate(audio[:-1]), 16000, subtype="PCM_16")
    (out_dir / "bench.words.tsv").write_text("\n".join(rows) + "\n")
    print(f"wrote {out_dir}/bench.wav ({offset - GAP:.2f} s) and bench.words.tsv ({len(rows)} words)")


if __name__ == "__main__":
    main()
