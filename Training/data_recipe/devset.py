"""Real-speech development set (evaluation only -- never train or build the LM on it).

Sources (Debian packages; install with ``apt-get install pocketsphinx-testdata alsa-utils``):

* ``pocketsphinx-testdata`` -- ``/usr/share/pocketsphinx/test/data``

  - ``librivox/*.wav``: 5 read-speech clips (LibriVox, *Sense and Sensibility*), 16 kHz.
    Reference: ``librivox/transcription`` (Sphinx ``<s> text </s> (id)`` format).
  - ``cards/*.wav``: 5 short spoken card names, 16 kHz.  Reference: ``cards/cards.transcription``.
  - ``goforward.raw``: 16 kHz s16le mono.  Reference "go forward ten meters": the package's
    ``goforward.gram`` (``public <move> = go forward ten meters;``) and PocketSphinx's own tests,
    which expect exactly this hypothesis for this file.
  - ``numbers.raw`` and ``something.raw`` have **no reference text anywhere in the package or in
    PocketSphinx's test suite** (its tests only print the hypotheses), so they are left out of
    ``dev_real`` and listed, with empty text, in ``dev_untranscribed.jsonl``.

* ``alsa-utils`` -- ``/usr/share/sounds/alsa/*.wav``: spoken channel names, 48 kHz.  The reference
  text is derived from the file name (``Front_Center.wav`` -> "front center"); nobody listened to
  them.  ``Noise.wav`` is excluded: its level is flat at about -30 dBFS in every 50 ms frame, i.e. it
  is a noise test signal, not speech.

Everything is converted to 16 kHz mono 16-bit WAV under ``Training/data/dev/<source>/`` and listed in
``Training/data/manifests/dev_real.jsonl`` plus ``dev_<source>.jsonl`` per source.  Entries keep the
original file in ``"source_file"``.

Run: ``python -m Training.data_recipe.devset``
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "data_recipe"

from .manifest import write_manifest  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
PS_DIR = Path("/usr/share/pocketsphinx/test/data")
ALSA_DIR = Path("/usr/share/sounds/alsa")
ALSA_EXCLUDE = {"Noise.wav"}

# The reference texts, copied from the files named above so that the training-text filter is the
# same whether or not the packages are installed.  build() checks them against the files.
LIBRIVOX = {
    "sense_and_sensibility_01_austen_64kb-0870":
        "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them",
    "sense_and_sensibility_01_austen_64kb-0880": "he was not an ill disposed young man",
    "sense_and_sensibility_01_austen_64kb-0890":
        "unless to be rather cold hearted and rather selfish is to be ill disposed",
    "sense_and_sensibility_01_austen_64kb-0920":
        "had he married a more a amiable woman he might have been made still more respectable than he was",
    "sense_and_sensibility_01_austen_64kb-0930": "he might even have been made amiable himself",
}
CARDS = {
    "001": "ten of clubs",
    "002": "four queen of clubs",
    "003": "seven of clubs",
    "004": "five five",
    "005": "eight of spades four of clubs seven of hearts",
}
RAW = {"goforward": "go forward ten meters"}
UNTRANSCRIBED_RAW = ["numbers", "something"]
ALSA = {
    "Front_Center": "front center", "Front_Left": "front left", "Front_Right": "front right",
    "Rear_Center": "rear center", "Rear_Left": "rear left", "Rear_Right": "rear right",
    "Side_Left": "side left", "Side_Right": "side right",
}
APT_PACKAGES = ["pocketsphinx-testdata", "alsa-utils"]


def dev_texts() -> list[str]:
    """All development reference transcripts (for excluding them from training text and LM)."""
    return list(LIBRIVOX.values()) + list(CARDS.values()) + list(RAW.values()) + list(ALSA.values())


def parse_sphinx_transcription(path) -> dict[str, str]:
    """``<s> text </s> (id)`` lines -> {id: text}."""
    out = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"^\s*(.*?)\s*\(([^()]+)\)\s*$", line)
        if not m:
            continue
        text = re.sub(r"</?s>", " ", m.group(1))
        out[m.group(2)] = " ".join(text.lower().split())
    return out


def alsa_text(filename: str) -> str:
    return " ".join(Path(filename).stem.replace("_", " ").lower().split())


def _convert(src: Path, dst: Path, raw: bool = False) -> float:
    """Any input -> 16 kHz mono s16 WAV; returns the duration in seconds."""
    import numpy as np
    import soundfile as sf
    from .augment import read_mono
    dst.parent.mkdir(parents=True, exist_ok=True)
    if raw:
        x = np.fromfile(src, dtype="<i2").astype(np.float32) / 32768.0
    else:
        x = read_mono(src, 16000)
    sf.write(str(dst), np.clip(x, -1, 1), 16000, subtype="PCM_16")
    return len(x) / 16000.0


def ensure_packages(install: bool) -> None:
    missing = []
    if not (PS_DIR / "librivox").is_dir():
        missing.append("pocketsphinx-testdata")
    if not ALSA_DIR.is_dir():
        missing.append("alsa-utils")
    if missing and install and shutil.which("apt-get"):
        print(f"devset: installing {' '.join(missing)}", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], check=False,
                       stdout=subprocess.DEVNULL)


def build(out_dir: Path = DATA_DIR, install: bool = True, log=print) -> dict:
    ensure_packages(install)
    audio_root = out_dir / "dev"
    man_dir = out_dir / "manifests"
    per_source: dict[str, list] = {"librivox": [], "cards": [], "goforward": [], "alsa": []}
    untranscribed = []

    if (PS_DIR / "librivox" / "transcription").exists():
        ref = parse_sphinx_transcription(PS_DIR / "librivox" / "transcription")
        for utt, text in LIBRIVOX.items():
            if ref.get(utt) != text:
                raise SystemExit(f"devset: librivox reference for {utt} differs from the package: {ref.get(utt)!r}")
            src = PS_DIR / "librivox" / f"{utt}.wav"
            dst = audio_root / "librivox" / f"{utt}.wav"
            per_source["librivox"].append({"audio_filepath": str(dst), "text": text,
                                           "duration": _convert(src, dst), "source_file": str(src)})
    if (PS_DIR / "cards" / "cards.transcription").exists():
        ref = parse_sphinx_transcription(PS_DIR / "cards" / "cards.transcription")
        for utt, text in CARDS.items():
            if ref.get(utt) != text:
                raise SystemExit(f"devset: cards reference for {utt} differs from the package: {ref.get(utt)!r}")
            src = PS_DIR / "cards" / f"{utt}.wav"
            dst = audio_root / "cards" / f"{utt}.wav"
            per_source["cards"].append({"audio_filepath": str(dst), "text": text,
                                        "duration": _convert(src, dst), "source_file": str(src)})
    for name, text in RAW.items():
        src = PS_DIR / f"{name}.raw"
        if src.exists():
            dst = audio_root / "goforward" / f"{name}.wav"
            per_source["goforward"].append({"audio_filepath": str(dst), "text": text,
                                            "duration": _convert(src, dst, raw=True), "source_file": str(src)})
    for name in UNTRANSCRIBED_RAW:
        src = PS_DIR / f"{name}.raw"
        if src.exists():
            dst = audio_root / "untranscribed" / f"{name}.wav"
            untranscribed.append({"audio_filepath": str(dst), "text": "",
                                  "duration": _convert(src, dst, raw=True), "source_file": str(src)})
    if ALSA_DIR.is_dir():
        for src in sorted(ALSA_DIR.glob("*.wav")):
            if src.name in ALSA_EXCLUDE:
                continue
            text = alsa_text(src.name)
            if ALSA.get(src.stem) != text:
                log(f"devset: warning: unexpected alsa prompt {src.name}, using text {text!r}")
            dst = audio_root / "alsa" / src.name
            per_source["alsa"].append({"audio_filepath": str(dst), "text": text,
                                       "duration": _convert(src, dst), "source_file": str(src)})

    summary = {}
    all_entries = []
    for name, entries in per_source.items():
        write_manifest(man_dir / f"dev_{name}.jsonl", entries)
        all_entries += entries
        summary[name] = {"files": len(entries), "seconds": round(sum(e["duration"] for e in entries), 2)}
    write_manifest(man_dir / "dev_real.jsonl", all_entries)
    write_manifest(man_dir / "dev_untranscribed.jsonl", untranscribed)
    total = sum(e["duration"] for e in all_entries)
    summary["total"] = {"files": len(all_entries), "seconds": round(total, 2)}
    log(f"devset: {len(all_entries)} files, {total / 60:.2f} min -> {man_dir / 'dev_real.jsonl'} "
        + ", ".join(f"{k} {v['files']}" for k, v in summary.items() if k != "total"))
    if not all_entries:
        log("devset: warning: no development audio found (install " + " ".join(APT_PACKAGES) + ")")
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build the real-speech development manifests")
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    ap.add_argument("--no-install", action="store_true", help="do not apt-get install missing packages")
    a = ap.parse_args(argv)
    build(a.out, install=not a.no_install, log=lambda m: print(m, file=sys.stderr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
