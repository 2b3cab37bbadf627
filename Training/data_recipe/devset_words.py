"""Second real-speech development set: isolated words, letters, digits and short command phrases
(``dev_real_words``), from game and education packages in Debian main.

Sources (Debian packages; ``build(install=True)`` apt-installs the missing ones):

* ``warzone2100-data`` -- voice lines inside the zip ``/usr/share/games/warzone2100/base.wz``.
  Reference: the comment beside each file in ``audio/audio.cfg``
  (``audio "pcv331.ogg" oneshot 100 1800 /*Turret Selected*/`` -> "turret selected").  Only files in
  the voice folders (``audio/memressp``, ``vtoltalk``, ``trnsppil``, ``coltive``, ``extra``) are used,
  never the sound effects that also carry comments (``/*Rotary Laser*/``).  Dropped: comments with an
  all-capital acronym whose reading is unsure (``LZ``, ``VTOLs``, ``SAM``, ``NASDA``; ``NEXUS`` is the
  enemy's name and is read as the word "nexus").  The commander voice's ``1.ogg`` ... ``9.ogg``,
  ``group.ogg``, ``reprting.ogg`` and ``commnder.ogg`` have no comment (they are the pieces of
  "group/commander <n> reporting"), so their text is taken from the file name (``0.ogg`` is left out:
  "zero" or "oh").  The tutorial lines (``audio/tutorial/tutNN.ogg``) are
  **not** used: the console texts in ``script/tutorial.js`` do not map one to one onto the files
  (tut6, tut17, tut35, tut36 and tut49 play with ``"message": undefined``, e.g. tut6 right after
  tut5's two-sentence text).
* ``klettres-data`` -- ``/usr/share/klettres/{en,en_GB}/``: the alphabet (letter names) and the
  "syllables", two speakers.  Reference: the ``name`` attribute in ``sounds.xml``.  A letter is the
  letter as a one-character word ("B" -> "b"), the same as the recipe's normaliser writes spelled
  letters ("T V" -> "t v").  Dropped: the phonics sounds ``CH``, ``TH`` and ``AW`` (not words).
* ``ktuberling-data`` -- ``/usr/share/ktuberling/sounds/en.soundtheme`` and ``en/*.ogg``.
  Reference: the sound name without its theme prefix (``egypt_camel`` -> "camel"), with the spelling
  fixed where the name is not the word (``palmtree`` -> "palm tree", ``fallingstar`` -> "falling
  star", ``sphynx`` -> "sphinx", ``brocolli`` -> "broccoli").  Dropped: ``moon_ufo`` (U F O or
  "yoofo") and ``moon_moonwalker`` (one word or two).
* ``tuxpaint-stamps-default`` -- ``/usr/share/tuxpaint/stamps/**/NAME_desc.ogg`` (the English spoken
  description; ``_desc_<lang>.ogg`` are other languages).  Reference: the first line of ``NAME.txt``.
  Kept only where that line is "A/An <the stamp's file name>." (``crow.txt`` "A crow." for
  ``crow_desc.ogg``): the recordings came from Childsplay in 2007 and some descriptions were
  edited later (``nandou`` now reads "A rhea." but its recording lasts 1.6 s; ``hen`` reads "A brown
  hen."), so a description that no longer names the file is not trusted.  ``mountaingoat`` is
  dropped (written as one word).  This package version has no English descriptions for digits or
  letters.

Nobody listened to the audio and no recogniser was run to choose or check any text.  Transcripts are
normalised with :func:`normalize.normalize` (numbers to words: "10 Minutes Remaining" -> "ten
minutes remaining"; "&" -> "and"; hyphens split words).  Audio is converted to 16 kHz mono 16-bit
WAV under ``Training/data/dev_words/<source>/``.

Split -- fixed before any result on this data was looked at:

1. Within each source, the items are grouped by transcript and the groups ordered by
   ``sha1("<source>\\n<transcript>")``; groups are taken in that order into the evaluation part until
   it holds at least ``ceil(0.6 * n)`` of the source's n files.
2. Any remaining item whose transcript also occurs in the evaluation part (of any source) moves to
   the evaluation part too.
3. The evaluation part is ``manifests/dev_real_words.jsonl`` (and ``dev_real_words_<source>.jsonl``):
   **evaluation only** -- never trained on, never used to pick a checkpoint, a hyperparameter, a
   decoding or LM weight.  The rest, ``manifests/train_real_words.jsonl``, may be used as a small real
   share of training (or for such choices).

So every source is in the evaluation part with at least 60 % of its files, no transcript is in both
parts, and the split depends only on the package contents.  Dropped items are listed with their
reason in ``dev_words/dropped.tsv``.

Run: ``python -m Training.data_recipe.devset_words``
"""
from __future__ import annotations

import argparse
import hashlib
import math
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "data_recipe"

from .devset import _convert  # noqa: E402
from .manifest import write_manifest  # noqa: E402
from .normalize import normalize  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
WZ_BASE = Path("/usr/share/games/warzone2100/base.wz")
KLETTRES_DIR = Path("/usr/share/klettres")
KTUBERLING_DIR = Path("/usr/share/ktuberling/sounds")
TUXPAINT_DIR = Path("/usr/share/tuxpaint/stamps")

SOURCES = ["warzone2100", "klettres", "ktuberling", "tuxpaint"]
APT_PACKAGES = {"warzone2100": "warzone2100-data", "klettres": "klettres-data",
                "ktuberling": "ktuberling-data", "tuxpaint": "tuxpaint-stamps-default"}
EVAL_FRACTION = 0.6

WZ_VOICE_DIRS = ("audio/memressp/", "audio/vtoltalk/", "audio/trnsppil/", "audio/coltive/", "audio/extra/")
WZ_ACRONYM_WORDS = {"NEXUS": "Nexus"}
# Commander voice files without a comment in audio.cfg: played as "group <n> reporting".
WZ_NO_COMMENT = {"1.ogg": "one", "2.ogg": "two", "3.ogg": "three", "4.ogg": "four", "5.ogg": "five",
                 "6.ogg": "six", "7.ogg": "seven", "8.ogg": "eight", "9.ogg": "nine",
                 "group.ogg": "group", "reprting.ogg": "reporting", "commnder.ogg": "commander"}
KLETTRES_LANGS = ("en", "en_GB")
KLETTRES_DROP = {"ch", "th", "aw"}
KTUBERLING_FIX = {"palmtree": "palm tree", "fallingstar": "falling star", "sphynx": "sphinx",
                  "brocolli": "broccoli"}
KTUBERLING_DROP = {"ufo", "moonwalker"}
TUXPAINT_DROP = {"mountaingoat"}

_ACRONYM = re.compile(r"\b[A-Z]{2,}s?\b")
_CFG_LINE = re.compile(r'^\s*audio\s+"([^"]+)"[^\n]*?(?:/\*(.*?)\*/)?\s*$')


# ------------------------------------------------------------------------------------------------
# parsers (pure functions on text, tested without the packages)
# ------------------------------------------------------------------------------------------------
def parse_audio_cfg(text: str) -> dict[str, str | None]:
    """Warzone 2100 ``audio.cfg`` -> {file name: comment or None}.  Comments are stripped of
    surrounding space; lines that are not ``audio "file" ...`` are ignored."""
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        m = _CFG_LINE.match(line)
        if not m:
            continue
        comment = m.group(2)
        comment = " ".join(comment.split()) if comment is not None else None
        out.setdefault(m.group(1), comment or None)
    return out


def wz_text(comment: str | None) -> str | None:
    """Transcript of a Warzone 2100 voice comment, or None when it cannot be trusted."""
    if not comment:
        return None
    t = comment
    for word, rep in WZ_ACRONYM_WORDS.items():
        t = re.sub(rf"\b{word}\b", rep, t)
    if _ACRONYM.search(t):
        return None
    t = normalize(t)
    return t or None


def parse_klettres_sounds(text: str) -> list[tuple[str, str, str]]:
    """KLettres ``sounds.xml`` -> [(name, file, "alphabet" | "syllables")]."""
    root = ET.fromstring(text)
    out = []
    for group in ("alphabet", "syllables"):
        for el in root.iter(group):
            for s in el.iter("sound"):
                if s.get("name") and s.get("file"):
                    out.append((s.get("name"), s.get("file"), group))
    return out


def klettres_text(name: str) -> str | None:
    t = normalize(name)
    return None if not t or t in KLETTRES_DROP else t


def parse_soundtheme(text: str) -> list[tuple[str, str]]:
    """KTuberling ``<lang>.soundtheme`` -> [(sound name, file)]."""
    root = ET.fromstring(text)
    return [(s.get("name"), s.get("file")) for s in root.iter("sound") if s.get("name") and s.get("file")]


def ktuberling_text(name: str) -> str | None:
    """``egypt_palmtree`` -> "palm tree"; None for the dropped names."""
    word = name.split("_", 1)[1] if "_" in name else name
    if word in KTUBERLING_DROP:
        return None
    word = KTUBERLING_FIX.get(word, word)
    t = normalize(word.replace("_", " ").replace("-", " "))
    return t or None


def tuxpaint_english(txt: str) -> str:
    """First line of a Tux Paint stamp description file (the English text)."""
    lines = txt.lstrip("\ufeff").splitlines()
    first = lines[0].strip() if lines else ""
    return "" if re.match(r"^[A-Za-z_@]+\.utf8=", first) else first


def tuxpaint_text(stem: str, description: str) -> str | None:
    """Transcript for ``<stem>_desc.ogg`` when its description is "A/An <stem>." else None."""
    base = re.sub(r"-\d+$", "", stem)
    if base in TUXPAINT_DROP or not description:
        return None
    words = normalize(base.replace("_", " ").replace("-", " "))
    if not words:
        return None
    article = "an" if words[0] in "aeiou" else "a"
    t = normalize(description)
    return t if t == f"{article} {words}" else None


# ------------------------------------------------------------------------------------------------
# split
# ------------------------------------------------------------------------------------------------
def _key(source: str, text: str) -> str:
    return hashlib.sha1(f"{source}\n{text}".encode("utf-8")).hexdigest()


def split_eval(entries: list[dict], fraction: float = EVAL_FRACTION) -> tuple[list[dict], list[dict]]:
    """(evaluation part, training part); see the module doc string for the rule."""
    by_source: dict[str, list[dict]] = {}
    for e in entries:
        by_source.setdefault(e["source"], []).append(e)
    eval_ids: set[int] = set()
    for source, items in by_source.items():
        groups: dict[str, list[int]] = {}
        for e in items:
            groups.setdefault(e["text"], []).append(id(e))
        need = math.ceil(fraction * len(items))
        taken = 0
        for text in sorted(groups, key=lambda t: _key(source, t)):
            if taken >= need:
                break
            eval_ids.update(groups[text])
            taken += len(groups[text])
    eval_texts = {e["text"] for e in entries if id(e) in eval_ids}
    order = sorted(entries, key=lambda e: (e["source"], str(e["audio_filepath"])))
    ev = [e for e in order if id(e) in eval_ids or e["text"] in eval_texts]
    tr = [e for e in order if not (id(e) in eval_ids or e["text"] in eval_texts)]
    return ev, tr


# ------------------------------------------------------------------------------------------------
# collection
# ------------------------------------------------------------------------------------------------
def ensure_packages(install: bool) -> None:
    present = {"warzone2100": WZ_BASE.exists(),
               "klettres": (KLETTRES_DIR / "en" / "sounds.xml").exists(),
               "ktuberling": (KTUBERLING_DIR / "en.soundtheme").exists(),
               "tuxpaint": TUXPAINT_DIR.is_dir()}
    missing = [APT_PACKAGES[s] for s in SOURCES if not present[s]]
    if missing and install and shutil.which("apt-get"):
        print(f"devset_words: installing {' '.join(missing)}", file=sys.stderr)
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends",
                        *missing], check=False, stdout=subprocess.DEVNULL)


def _collect_warzone(audio_root: Path, dropped: list) -> list[dict]:
    if not WZ_BASE.exists():
        return []
    out = []
    with zipfile.ZipFile(WZ_BASE) as z, tempfile.TemporaryDirectory() as tmp:
        paths: dict[str, str] = {}
        for n in sorted(z.namelist()):
            if n.startswith(WZ_VOICE_DIRS) and n.endswith(".ogg"):
                paths.setdefault(n.rsplit("/", 1)[1], n)
        cfg = parse_audio_cfg(z.read("audio/audio.cfg").decode("utf-8", errors="replace"))
        for name, comment in cfg.items():
            member = paths.get(name)
            if member is None:
                continue  # a sound effect, not a voice line
            if comment is None and member.startswith("audio/memressp/cmndrvoc/") and name in WZ_NO_COMMENT:
                text = WZ_NO_COMMENT[name]
            else:
                text = wz_text(comment)
            if text is None:
                dropped.append(("warzone2100", f"{WZ_BASE}:{member}", comment or "", "no reliable text"))
                continue
            src = Path(tmp) / name
            src.write_bytes(z.read(member))
            dst = audio_root / "warzone2100" / (Path(name).stem + ".wav")
            out.append(_entry("warzone2100", src, dst, text, source_file=f"{WZ_BASE}:{member}"))
    return out


def _entry(source: str, src: Path, dst: Path, text: str, source_file: str | None = None) -> dict:
    """Converts src to the 16 kHz WAV dst and returns its manifest entry."""
    return {"audio_filepath": str(dst), "text": text, "duration": _convert(src, dst),
            "source": source, "source_file": source_file or str(src)}


def _collect_klettres(audio_root: Path, dropped: list) -> list[dict]:
    out = []
    for lang in KLETTRES_LANGS:
        xml = KLETTRES_DIR / lang / "sounds.xml"
        if not xml.exists():
            continue
        for name, rel, group in parse_klettres_sounds(xml.read_text(encoding="utf-8", errors="replace")):
            src = KLETTRES_DIR / rel
            text = klettres_text(name)
            if text is None or not src.exists():
                dropped.append(("klettres", str(src), name, "not a word" if text is None else "missing file"))
                continue
            dst = audio_root / "klettres" / f"{lang}_{group}_{src.stem}.wav"
            out.append(_entry("klettres", src, dst, text))
    return out


def _collect_ktuberling(audio_root: Path, dropped: list) -> list[dict]:
    theme = KTUBERLING_DIR / "en.soundtheme"
    if not theme.exists():
        return []
    out = []
    for name, rel in parse_soundtheme(theme.read_text(encoding="utf-8", errors="replace")):
        src = KTUBERLING_DIR / rel
        text = ktuberling_text(name)
        if text is None or not src.exists():
            dropped.append(("ktuberling", str(src), name, "unsure reading" if text is None else "missing file"))
            continue
        dst = audio_root / "ktuberling" / f"{src.stem}.wav"
        out.append(_entry("ktuberling", src, dst, text))
    return out


def _collect_tuxpaint(audio_root: Path, dropped: list) -> list[dict]:
    if not TUXPAINT_DIR.is_dir():
        return []
    out = []
    for src in sorted(TUXPAINT_DIR.rglob("*_desc.ogg")):
        stem = src.name[: -len("_desc.ogg")]
        txt = src.with_name(stem + ".txt")
        desc = tuxpaint_english(txt.read_text(encoding="utf-8", errors="replace")) if txt.exists() else ""
        text = tuxpaint_text(stem, desc)
        if text is None:
            dropped.append(("tuxpaint", str(src), desc, "description does not name the stamp"))
            continue
        rel = src.relative_to(TUXPAINT_DIR).with_suffix("")
        dst = audio_root / "tuxpaint" / ("_".join(rel.parts) + ".wav")
        out.append(_entry("tuxpaint", src, dst, text))
    return out


def _summary(entries: list[dict]) -> dict:
    out = {}
    for s in SOURCES:
        es = [e for e in entries if e["source"] == s]
        sec = sum(e["duration"] for e in es)
        out[s] = {"files": len(es), "seconds": round(sec, 2), "minutes": round(sec / 60, 2)}
    sec = sum(e["duration"] for e in entries)
    out["total"] = {"files": len(entries), "seconds": round(sec, 2), "minutes": round(sec / 60, 2)}
    return out


def build(out_dir: Path = DATA_DIR, install: bool = True, log=print) -> dict:
    """Collects, converts, splits and writes the manifests; returns
    {"eval": {source: {files, seconds, minutes}, "total": ...}, "train": {...}, "dropped": {source: n}}."""
    ensure_packages(install)
    audio_root = out_dir / "dev_words"
    man_dir = out_dir / "manifests"
    dropped: list[tuple[str, str, str, str]] = []
    entries = (_collect_warzone(audio_root, dropped) + _collect_klettres(audio_root, dropped)
               + _collect_ktuberling(audio_root, dropped) + _collect_tuxpaint(audio_root, dropped))
    ev, tr = split_eval(entries)
    write_manifest(man_dir / "dev_real_words.jsonl", ev)
    write_manifest(man_dir / "train_real_words.jsonl", tr)
    for s in SOURCES:
        write_manifest(man_dir / f"dev_real_words_{s}.jsonl", [e for e in ev if e["source"] == s])
    audio_root.mkdir(parents=True, exist_ok=True)
    with open(audio_root / "dropped.tsv", "w", encoding="utf-8") as fh:
        fh.write("source\tfile\ttext\treason\n")
        for row in dropped:
            fh.write("\t".join(" ".join(str(c).split()) for c in row) + "\n")
    summary = {"eval": _summary(ev), "train": _summary(tr),
               "dropped": {s: sum(1 for d in dropped if d[0] == s) for s in SOURCES}}
    for part, name in (("eval", "dev_real_words"), ("train", "train_real_words")):
        sm = summary[part]
        log(f"devset_words: {name}: {sm['total']['files']} files, {sm['total']['minutes']:.2f} min ("
            + ", ".join(f"{s} {sm[s]['files']}/{sm[s]['minutes']:.2f} min" for s in SOURCES) + ")")
    log(f"devset_words: dropped {sum(summary['dropped'].values())} items -> {audio_root / 'dropped.tsv'}")
    if not entries:
        log("devset_words: warning: no audio found (install " + " ".join(APT_PACKAGES.values()) + ")")
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build the dev_real_words / train_real_words manifests")
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    ap.add_argument("--no-install", action="store_true", help="do not apt-get install missing packages")
    a = ap.parse_args(argv)
    build(a.out, install=not a.no_install, log=lambda m: print(m, file=sys.stderr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
