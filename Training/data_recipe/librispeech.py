"""LibriSpeech-style corpus folder -> manifest entries.

Layout: ``ROOT/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` with lines
``<utt-id> TRANSCRIPT IN CAPITALS`` and audio ``ROOT/<speaker>/<chapter>/<utt-id>.flac`` (also
``.wav``).  ROOT may be e.g. ``LibriSpeech/train-clean-100`` or any folder above several subsets;
every ``*.trans.txt`` below it is read.

Usage: ``python -m Training.data_recipe.librispeech ROOT OUT.jsonl``
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "data_recipe"

from .manifest import audio_duration, write_manifest  # noqa: E402
from .normalize import to_transcript  # noqa: E402

AUDIO_EXTS = (".flac", ".wav", ".ogg", ".opus")


def read_librispeech(root, with_duration: bool = True, normalize: bool = True):
    """Yields ``{"audio_filepath", "text", "duration", "speaker", "id"}`` for every utterance below
    root, sorted by path.  Missing audio files are skipped.  ``normalize`` maps the (upper-case)
    transcripts to the model alphabet."""
    root = Path(root)
    for trans in sorted(root.rglob("*.trans.txt")):
        folder = trans.parent
        with open(trans, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                utt, _, text = line.partition(" ")
                audio = next((folder / (utt + e) for e in AUDIO_EXTS if (folder / (utt + e)).exists()), None)
                if audio is None:
                    continue
                text = to_transcript(text) if normalize else text
                yield {
                    "audio_filepath": str(audio.resolve()),
                    "text": text,
                    "duration": audio_duration(audio) if with_duration else 0.0,
                    "speaker": utt.split("-")[0],
                    "id": utt,
                }


def main(argv=None):
    ap = argparse.ArgumentParser(description="LibriSpeech folder -> JSON-lines manifest")
    ap.add_argument("root", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--max-duration", type=float, default=None, help="drop longer utterances (s)")
    a = ap.parse_args(argv)
    entries = read_librispeech(a.root)
    if a.max_duration:
        entries = (e for e in entries if e["duration"] <= a.max_duration)
    n = write_manifest(a.out, entries)
    print(f"librispeech: {n} utterances -> {a.out}", file=sys.stderr)
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
