"""Real acoustics for training augmentation: recorded noise clips, simulated room impulse responses
and loudspeaker/cabinet impulse responses, prepared from Debian packages and PyPI ``pyroomacoustics``.

The recogniser is trained on synthetic TTS voices; what it lacks are real acoustic conditions.  This
module builds three banks under ``Training/data/acoustics/`` (git-ignored) and loads them for
``augment.Augmenter``:

``noise/<source>/<clip>.wav`` + ``noise_index.json``
    Real recorded sound effects / ambience, 16 kHz mono 16-bit, peak-normalised, leading/trailing
    silence trimmed, clips shorter than 0.5 s or near-silent dropped.  Sources:

    * ``openttd``  -- Debian ``openttd-opensfx`` (``opensfx.cat``: 73 clips in one OpenTTD sound
      catalogue; each entry's name carries its credit and licence, recorded per clip),
    * ``lincity``  -- Debian ``lincity-ng-data`` (``sounds/*.wav``, 11 kHz city ambience),
    * ``tuxpaint`` -- Debian ``tuxpaint-stamps-default`` (the stamps' sound effects only: every
      ``*_desc*`` file (spoken descriptions, used for a dev set), every locale-tagged file
      (``*_en_GB.ogg``, spoken letters and numbers) and a few clips that may contain voices are
      excluded).

    About 15 % of each source's clips are held out as a *test* noise bank (``"split": "test"``),
    chosen by hashing a clip's group (variants of one recording share a group, e.g. ``Blacksmith1..3``
    or two clips edited from the same original), so that training never sees a relative of a test
    clip.  ``AcousticBanks.load(dir)`` loads the training split; ``split="test"`` the held-out one.

``rirs.npz`` + ``rirs.json``
    Room impulse responses simulated with the image method (``pyroomacoustics.ShoeBox``): random
    rooms of 2.5-12 x 2.5-10 x 2.2-4 m, wall absorption from a random RT60 of 0.15-1.0 s by Sabine's
    formula (``pra.inverse_sabine``), randomised image sources (``use_rand_ism``), source and
    microphone at random positions 0.3-4 m apart, reflection order capped (``--max-order``, 60) so
    one RIR takes at most ~0.2 s.  16 kHz; each RIR starts 1 ms before the direct path, ends where its
    energy decay curve has fallen 60 dB, and is normalised to a peak of 1.  RIR ``i`` is seeded by
    ``(seed, i)``, so the bank is reproducible and resumable (chunks of 50 are kept under
    ``rirs_parts/`` until the bank is complete).

``cabinet.npz`` + ``cabinet_index.json``
    Loudspeaker/microphone colouring: the guitar amplifier + cabinet impulse responses that Debian
    ``guitarix-common`` ships (``/usr/share/gx_head/sounds/{amps,bands}/*.wav``), resampled to
    16 kHz, trimmed at -60 dB, peak-normalised; 15 % held out like the noise.

Run: ``python -m Training.data_recipe.acoustics [--out DIR] [--rirs N] [--seed S]`` (idempotent: a
complete bank is kept; ``--force`` rebuilds).  Packages: ``apt-get install --no-install-recommends
openttd-opensfx lincity-ng-data tuxpaint-stamps-default guitarix-common``; ``pip install -r
Training/requirements-data.txt``.  Missing packages are skipped with a message.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "data_recipe"

from .augment import EPS, add_noise, resample  # noqa: E402

__all__ = [
    "DEFAULT_DIR", "SR", "AcousticBanks", "build", "build_noise", "build_rirs", "build_cabinet",
    "simulate_rir", "holdout_groups", "assign_splits", "real_noise_segment", "mix_real_noise",
    "cabinet_colour", "parse_opensfx_cat", "trim_decay", "main",
]

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "data" / "acoustics"
SR = 16000
FORMAT_VERSION = 1
HOLDOUT = 0.15
MIN_SECONDS = 0.5
SILENCE_DBFS = -50.0        # clips whose active part is quieter than this are "near silent"
TRIM_DB = 50.0              # leading/trailing frames this far below the loudest frame are cut

NOISE_SOURCES = {
    "openttd": "openttd-opensfx",
    "lincity": "lincity-ng-data",
    "tuxpaint": "tuxpaint-stamps-default",
}
CABINET_PACKAGE = "guitarix-common"
# Fallback locations when dpkg is unavailable (the recipe finds files with ``dpkg -L``).
FALLBACK_ROOTS = {
    "openttd-opensfx": "/usr/share/games/openttd/baseset/opensfx",
    "lincity-ng-data": "/usr/share/games/lincity-ng",
    "tuxpaint-stamps-default": "/usr/share/tuxpaint/stamps",
    "guitarix-common": "/usr/share/gx_head",
}
LICENSES = {
    "lincity-ng-data": ("GPL-2+", "lincity-ng-data copyright: models, images and sound effects are "
                        "dual-licensed GPL / CC BY-SA 2.0; Debian uses the GPL-2+"),
    "tuxpaint-stamps-default": ("GPL-2", "tuxpaint-stamps-default copyright: Files: * GPL-2, "
                                "2002-2022 Bill Kendrick"),
    "guitarix-common": ("GPL-2+", "guitarix-common copyright: IR/BestPlugins_Amps/* "
                        "IR/BestPlugins_Bands/*, 2013 David Fau Casquel, GPL-2+"),
}
OPENSFX_LICENSES = [  # text in the catalogue entry -> SPDX id
    ("Creative Commons Attribution-ShareAlike 3.0", "CC-BY-SA-3.0"),
    ("Creative Commons Attribution 3.0", "CC-BY-3.0"),
    ("Creative Commons Zero 1.0", "CC0-1.0"),
]
# tuxpaint stamps whose sound may contain a human voice (words, shouts, laughter); left out so that
# no speech-like clip reaches the noise bank.  Spoken files (``*_desc*``, locale-tagged) are
# excluded by name in ``_tuxpaint_is_effect``.
TUXPAINT_VOCAL = {
    "symbols/faces/excited", "symbols/faces/happy", "symbols/faces/mad", "symbols/faces/sad",
    "seasonal/christmas/santahat", "seasonal/halloween/ghost", "military/final-roll-call",
    "town/roadsigns/xing_school", "seasonal/hanukkah/dreydl-gimmel", "seasonal/hanukkah/dreydl-hay",
    "seasonal/hanukkah/dreydl-nun", "seasonal/hanukkah/dreydl-shin",
}
_LOCALE_TAG = re.compile(r"_[a-z]{2}(_[A-Za-z]{2})?$")        # _fr, _en_GB, _zh_tw (not _red, _ped)


def _log(msg: str) -> None:
    print(f"[acoustics] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Packages
# ----------------------------------------------------------------------------------------------
def package_files(pkg: str) -> list[Path]:
    """Files of an installed Debian package (``dpkg -L``); falls back to a known root folder."""
    try:
        out = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=True).stdout
        files = [Path(line) for line in out.splitlines() if line.strip()]
        return sorted(p for p in files if p.is_file())
    except (OSError, subprocess.CalledProcessError):
        root = Path(FALLBACK_ROOTS.get(pkg, "/nonexistent"))
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def package_version(pkg: str) -> str | None:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True,
                             text=True, check=True).stdout.strip()
        return out or None
    except (OSError, subprocess.CalledProcessError):
        return None


# ----------------------------------------------------------------------------------------------
# Clip conditioning, hold-out
# ----------------------------------------------------------------------------------------------
def _to_mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    return x


def condition_clip(x, sr: int, out_sr: int = SR) -> tuple[np.ndarray | None, str]:
    """Mono, DC removed, resampled to ``out_sr``, leading/trailing silence trimmed, peak 0.9.
    Returns (clip, "") or (None, reason) for clips shorter than 0.5 s or near-silent."""
    x = _to_mono(x)
    if x.size == 0:
        return None, "empty"
    x = x - x.mean()
    y = resample(x.astype(np.float32), sr, out_sr) if sr != out_sr else x.astype(np.float32)
    frame = out_sr // 50                                   # 20 ms
    n = len(y) // frame
    if n == 0:
        return None, "short"
    e = np.mean(y[:n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1)
    db = 10 * np.log10(e + 1e-20)
    active = np.nonzero(db > max(db.max() - TRIM_DB, -90.0))[0]
    if active.size == 0:
        return None, "silent"
    y = y[active[0] * frame:(active[-1] + 1) * frame]
    if len(y) < MIN_SECONDS * out_sr:
        return None, "short"
    level = 10 * math.log10(float(np.mean(y.astype(np.float64) ** 2)) + 1e-20)
    if level < SILENCE_DBFS:
        return None, "silent"
    y = y * (0.9 / (float(np.max(np.abs(y))) + EPS))
    return y.astype(np.float32), ""


def _hash_key(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def holdout_groups(groups: dict[str, int], fraction: float = HOLDOUT, salt: str = "") -> set[str]:
    """Deterministic hold-out: ``groups`` maps group name -> number of clips; groups are taken in
    the order of their SHA-1 hash until at least ``fraction`` of the clips are held out (at least one
    group whenever there are two or more)."""
    total = sum(groups.values())
    if len(groups) < 2 or total == 0 or fraction <= 0:
        return set()
    target = max(1, int(round(fraction * total)))
    held, count = set(), 0
    for g in sorted(groups, key=lambda g: _hash_key(salt, g)):
        if count >= target:
            break
        if count + groups[g] > target * 1.5 and count > 0:
            continue                                        # a big group would overshoot; try the next
        held.add(g)
        count += groups[g]
    return held


def assign_splits(entries: list[dict], fraction: float = HOLDOUT) -> list[dict]:
    """Sets ``entry["split"]`` to ``"test"`` or ``"train"``; each source is split separately, by the
    ``"group"`` key (clips of one group share a split)."""
    by_source: dict[str, dict[str, int]] = {}
    for e in entries:
        by_source.setdefault(e["source"], {}).setdefault(e["group"], 0)
        by_source[e["source"]][e["group"]] += 1
    held = {s: holdout_groups(g, fraction, salt=s) for s, g in by_source.items()}
    for e in entries:
        e["split"] = "test" if e["group"] in held[e["source"]] else "train"
    return entries


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")[:60] or "clip"


# ----------------------------------------------------------------------------------------------
# Noise sources
# ----------------------------------------------------------------------------------------------
def parse_opensfx_cat(data: bytes) -> list[dict]:
    """Entries of an OpenTTD sound catalogue (``.cat``): a table of (offset, size) pairs (the first
    offset, without its top bit, is 8 x the count), then per entry a length-prefixed name and a RIFF
    WAV.  OpenSFX stores each clip's title, credit and licence in the name."""
    first = struct.unpack_from("<I", data, 0)[0]
    count = (first & 0x7FFFFFFF) // 8
    out = []
    for i in range(count):
        off, size = struct.unpack_from("<II", data, 8 * i)
        off &= 0x7FFFFFFF
        n = data[off]
        name = data[off + 1:off + 1 + n].split(b"\0")[0].decode("utf-8", "replace")
        wav = data[off + 1 + n:off + 1 + n + size]
        out.append({"index": i, "name": name, "wav": wav})
    return out


def opensfx_licence(name: str) -> tuple[str, str]:
    m = re.search(r"License:\s*(.+?)\.?\s*$", name)
    text = m.group(1).strip() if m else ""
    for key, spdx in OPENSFX_LICENSES:
        if text.startswith(key):
            return spdx, text
    return "CC-BY-SA-3.0", text or "OpenSFX collection licence (readme.txt)"


def _opensfx_group(name: str) -> str:
    m = re.search(r'Original\s+"([^"]+)"', name)                # clips edited from one recording
    if m:
        return m.group(1).lower()
    m = re.match(r'"([^"]+)"', name)
    title = m.group(1) if m else name
    return re.sub(r"\s*\(\d+\)\s*$", "", title).lower()


def _opensfx_clips(files: list[Path]):
    import soundfile as sf
    cats = [p for p in files if p.suffix == ".cat"]
    for cat in cats:
        for e in parse_opensfx_cat(cat.read_bytes()):
            title = re.match(r'"([^"]+)"', e["name"])
            title = title.group(1) if title else f"clip {e['index']}"
            spdx, text = opensfx_licence(e["name"])
            try:
                x, sr = sf.read(io.BytesIO(e["wav"]), dtype="float32")
            except Exception as ex:  # noqa: BLE001
                yield {"original": f"{cat}#{e['index']}", "error": str(ex)}
                continue
            yield {"name": f"{e['index']:02d}_{_slug(title)}", "original": f"{cat}#{e['index']}",
                   "title": title, "credit": e["name"], "license": spdx, "license_text": text,
                   "group": _opensfx_group(e["name"]), "audio": x, "sr": sr}


def _lincity_group(stem: str) -> str:
    """First CamelCase word: ``MarketFull1``, ``MarketLow1`` -> ``market`` (variants of one scene)."""
    m = re.match(r"[A-Z]?[a-z]+", stem)
    return (m.group(0) if m else re.sub(r"\d+$", "", stem)).lower()


def _lincity_clips(files: list[Path]):
    import soundfile as sf
    lic, text = LICENSES["lincity-ng-data"]
    for p in files:
        if p.parent.name != "sounds" or p.suffix.lower() not in (".wav", ".ogg"):
            continue                                              # music/ is not ambience
        x, sr = sf.read(str(p), dtype="float32")
        yield {"name": _slug(p.stem), "original": str(p), "title": p.stem, "license": lic,
               "license_text": text, "group": _lincity_group(p.stem), "audio": x, "sr": sr}


def _tuxpaint_is_effect(p: Path, root: str = "/usr/share/tuxpaint/stamps") -> bool:
    if p.suffix.lower() not in (".ogg", ".wav"):
        return False
    stem = p.stem
    if "_desc" in stem or _LOCALE_TAG.search(stem):
        return False                                              # spoken description / spoken name
    rel = str(p.with_suffix("")).split("/stamps/", 1)[-1]
    if rel.startswith(("symbols/alphabets/", "symbols/math/")):
        return False
    return rel not in TUXPAINT_VOCAL


def _tuxpaint_group(p: Path) -> str:
    stem = re.sub(r"\d+$", "", p.stem.lower())
    return re.split(r"[_\-]", stem)[0] or stem


def _tuxpaint_clips(files: list[Path]):
    import soundfile as sf
    lic, text = LICENSES["tuxpaint-stamps-default"]
    for p in files:
        if "/stamps/" not in str(p) or not _tuxpaint_is_effect(p):
            continue
        rel = str(p).split("/stamps/", 1)[-1]
        x, sr = sf.read(str(p), dtype="float32")
        yield {"name": _slug(str(Path(rel).with_suffix(""))), "original": str(p), "title": rel,
               "license": lic, "license_text": text, "group": _tuxpaint_group(p), "audio": x, "sr": sr}


_READERS = {"openttd": _opensfx_clips, "lincity": _lincity_clips, "tuxpaint": _tuxpaint_clips}


def build_noise(out: Path, force: bool = False, fraction: float = HOLDOUT, log=_log) -> dict:
    """Writes ``noise/<source>/*.wav`` and ``noise_index.json``; returns the index."""
    out = Path(out)
    index_path = out / "noise_index.json"
    if index_path.exists() and not force:
        idx = json.loads(index_path.read_text())
        if idx.get("version") == FORMAT_VERSION and all((out / c["path"]).exists() for c in idx["clips"]):
            log(f"noise: up to date ({len(idx['clips'])} clips), skipping")
            return idx
    import soundfile as sf
    clips, dropped, packages = [], [], {}
    for source, pkg in NOISE_SOURCES.items():
        files = package_files(pkg)
        if not files:
            log(f"noise: {pkg} not installed, skipping {source} "
                f"(apt-get install --no-install-recommends {pkg})")
            continue
        packages[pkg] = package_version(pkg)
        t0, kept = time.time(), 0
        folder = out / "noise" / source
        folder.mkdir(parents=True, exist_ok=True)
        for c in _READERS[source](files):
            if "error" in c:
                dropped.append({"source": source, "original": c["original"], "reason": c["error"]})
                continue
            y, reason = condition_clip(c["audio"], c["sr"])
            if y is None:
                dropped.append({"source": source, "original": c["original"], "reason": reason})
                continue
            rel = Path("noise") / source / f"{c['name']}.wav"
            sf.write(str(out / rel), y, SR, subtype="PCM_16")
            entry = {k: v for k, v in c.items() if k not in ("audio", "sr", "name")}
            entry.update({"id": f"{source}/{c['name']}", "source": source, "package": pkg,
                          "path": str(rel), "orig_sr": int(c["sr"]),
                          "duration": round(len(y) / SR, 3)})
            clips.append(entry)
            kept += 1
        log(f"noise: {source}: {kept} clips ({time.time() - t0:.1f} s)")
    assign_splits(clips, fraction)
    idx = {"version": FORMAT_VERSION, "sr": SR, "holdout_fraction": fraction, "packages": packages,
           "clips": clips, "dropped": dropped, "summary": _noise_summary(clips)}
    out.mkdir(parents=True, exist_ok=True)
    index_path.write_text(json.dumps(idx, indent=1, ensure_ascii=False))
    listed = {str(out / c["path"]) for c in clips}
    for stale in (out / "noise").glob("*/*.wav"):           # left by an earlier build
        if str(stale) not in listed:
            stale.unlink()
    return idx


def _noise_summary(clips: list[dict]) -> dict:
    s: dict = {}
    for c in clips:
        d = s.setdefault(c["source"], {"train": 0, "test": 0, "train_minutes": 0.0, "test_minutes": 0.0})
        d[c["split"]] += 1
        d[c["split"] + "_minutes"] += c["duration"] / 60
    for d in s.values():
        d["train_minutes"], d["test_minutes"] = round(d["train_minutes"], 2), round(d["test_minutes"], 2)
    return s


# ----------------------------------------------------------------------------------------------
# Room impulse responses (pyroomacoustics image method)
# ----------------------------------------------------------------------------------------------
def trim_decay(h, drop_db: float = 60.0) -> np.ndarray:
    """Cuts ``h`` where its backward-integrated energy (Schroeder curve) has fallen ``drop_db``."""
    h = np.asarray(h, np.float64)
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    if edc.size == 0 or edc[0] <= 0:
        return h.astype(np.float32)
    below = np.nonzero(edc < edc[0] * 10 ** (-drop_db / 10))[0]
    end = int(below[0]) if below.size else len(h)
    return h[:max(end, 1)].astype(np.float32)


def decay_rt60(h, sr: int = SR) -> float | None:
    """T20 estimate of the reverberation time (the Schroeder curve's slope from -5 to -25 dB)."""
    h = np.asarray(h, np.float64)
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    if edc.size == 0 or edc[0] <= 0:
        return None
    db = 10 * np.log10(edc / edc[0] + 1e-30)
    i5, i25 = np.argmax(db <= -5), np.argmax(db <= -25)
    if db[-1] > -25 or i25 <= i5:
        return None
    return float(3.0 * (i25 - i5) / sr)


def _random_positions(rng: np.random.Generator, dims, dist_range=(0.3, 4.0), margin: float = 0.3,
                      tries: int = 200):
    dims = np.asarray(dims, np.float64)
    lo_h, hi_h = 0.5, min(2.0, dims[2] - margin)
    for _ in range(tries):
        src = np.array([rng.uniform(margin, dims[0] - margin), rng.uniform(margin, dims[1] - margin),
                        rng.uniform(lo_h, hi_h)])
        d = rng.uniform(*dist_range)
        v = rng.standard_normal(3)
        v[2] *= 0.3                                      # mostly horizontal
        mic = src + d * v / (np.linalg.norm(v) + EPS)
        if np.all(mic > margin) and np.all(mic < dims - margin) and mic[2] > 0.3:
            return src, mic, float(np.linalg.norm(mic - src))
    return None


def simulate_rir(rng: np.random.Generator, sr: int = SR, max_order_cap: int = 60,
                 rt60_range=(0.15, 1.0), dims_range=((2.5, 12.0), (2.5, 10.0), (2.2, 4.0)),
                 dist_range=(0.3, 4.0), trim: bool = True, pre_ms: float = 1.0):
    """One image-method RIR in a random shoebox room.  Returns (h, meta).

    With ``trim`` the response starts ``pre_ms`` before the direct path and ends at -60 dB of its
    energy decay, peak normalised to 1; ``meta["direct_index"]`` is the direct path's sample index
    in the returned ``h`` (from the geometry: the distance from the (randomly displaced) order-0
    image to the microphone / c * sr, plus pyroomacoustics' fractional-delay offset, minus the
    samples cut in front)."""
    import pyroomacoustics as pra
    rt60 = float(rng.uniform(*rt60_range))
    for _ in range(1000):         # RT60 first (uniform), then a room that can have it
        dims = [float(rng.uniform(*r)) for r in dims_range]
        try:
            e_abs, max_order = pra.inverse_sabine(rt60, dims)
        except ValueError:                               # room too large for so short an RT60
            continue
        pos = _random_positions(rng, dims, dist_range)
        if pos is not None:
            break
    else:  # pragma: no cover
        raise RuntimeError("could not sample a room")
    src, mic, dist = pos
    order = int(min(max_order, max_order_cap))
    room = pra.ShoeBox(dims, fs=sr, materials=pra.Material(float(e_abs)), max_order=order,
                       use_rand_ism=True, max_rand_disp=0.05)
    room.add_source(src.tolist())
    room.add_microphone(mic.tolist())
    ism_seed = int(rng.integers(2 ** 62))         # the random image displacements use pyroomacoustics'
    if hasattr(pra, "random") and hasattr(pra.random, "seed"):      # package-wide generator
        pra.random.seed(numpy=ism_seed)
    else:  # pragma: no cover - older versions draw from numpy's global state
        np.random.seed(ism_seed % 2 ** 32)
    room.compute_rir()
    h = np.asarray(room.rir[0][0], np.float64)
    c = float(pra.constants.get("c"))
    offset = pra.constants.get("frac_delay_length") // 2
    direct_dist = dist
    try:    # the randomised image method also moves the order-0 image (the source) by <= 5 cm
        src0 = room.sources[0]
        direct_dist = float(np.linalg.norm(src0.images[:, np.asarray(src0.orders) == 0][:, 0] - mic))
    except (AttributeError, IndexError):  # pragma: no cover
        pass
    direct = direct_dist / c * sr + offset
    cut = 0
    if trim:
        cut = max(0, int(math.floor(direct - pre_ms * 1e-3 * sr)))
        h = trim_decay(h[cut:]).astype(np.float64)
        h = h / (np.max(np.abs(h)) + EPS)
    meta = {"dims": [round(d, 3) for d in dims], "rt60_target": round(rt60, 3),
            "rt60_measured": (round(decay_rt60(h, sr), 3) if decay_rt60(h, sr) else None),
            "absorption": round(float(e_abs), 4), "max_order": order, "max_order_sabine": int(max_order),
            "source": [round(v, 3) for v in src], "mic": [round(v, 3) for v in mic],
            "distance": round(dist, 3), "direct_distance": round(direct_dist, 4),
            "direct_index": round(direct - cut, 2), "length": len(h)}
    return h.astype(np.float32), meta


def build_rirs(out: Path, n: int = 400, seed: int = 0, max_order_cap: int = 60, chunk: int = 50,
               force: bool = False, log=_log) -> dict | None:
    """Simulates ``n`` RIRs into ``rirs.npz`` (``data``: all RIRs concatenated, ``offsets``: n+1
    boundaries) and ``rirs.json`` (parameters per RIR).  RIR i uses ``default_rng([seed, i])``;
    finished chunks in ``rirs_parts/`` are reused, so an interrupted run resumes (they are deleted
    once the bank is complete)."""
    out = Path(out)
    meta_path, npz_path = out / "rirs.json", out / "rirs.npz"
    config = {"n": n, "seed": seed, "max_order_cap": max_order_cap, "sr": SR, "version": FORMAT_VERSION}
    if meta_path.exists() and npz_path.exists() and not force:
        meta = json.loads(meta_path.read_text())
        if meta.get("config") == config:
            log(f"rirs: up to date ({n} RIRs), skipping")
            return meta
    try:
        import pyroomacoustics as pra
    except ImportError:
        log("rirs: pyroomacoustics missing (pip install -r Training/requirements-data.txt), skipping")
        return None
    parts = out / "rirs_parts"
    parts.mkdir(parents=True, exist_ok=True)
    tag = f"s{seed}_o{max_order_cap}"
    t0 = time.time()
    rirs, metas = [], []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        part = parts / f"{tag}_{start:05d}_{stop:05d}.npz"
        if part.exists() and not force:
            z = np.load(part, allow_pickle=False)
            off = z["offsets"]
            rirs += [z["data"][off[i]:off[i + 1]] for i in range(len(off) - 1)]
            metas += json.loads(str(z["meta"]))
            continue
        chunk_rirs, chunk_meta = [], []
        for i in range(start, stop):
            h, m = simulate_rir(np.random.default_rng([seed, i]), SR, max_order_cap)
            m["index"] = i
            chunk_rirs.append(h)
            chunk_meta.append(m)
        off = np.cumsum([0] + [len(h) for h in chunk_rirs])
        tmp = part.with_suffix(".tmp.npz")
        np.savez(tmp, data=np.concatenate(chunk_rirs), offsets=off, meta=json.dumps(chunk_meta))
        tmp.replace(part)
        rirs += chunk_rirs
        metas += chunk_meta
        log(f"rirs: {stop}/{n} ({time.time() - t0:.1f} s)")
    offsets = np.cumsum([0] + [len(h) for h in rirs]).astype(np.int64)
    tmp = out / "rirs.tmp.npz"
    np.savez(tmp, data=np.concatenate(rirs).astype(np.float32), offsets=offsets)
    tmp.replace(npz_path)
    rt = [m["rt60_measured"] for m in metas if m["rt60_measured"]]
    summary = {"count": len(rirs), "seconds_total": round(float(offsets[-1]) / SR, 1),
               "mean_length_s": round(float(offsets[-1]) / SR / max(1, len(rirs)), 3),
               "rt60_measured_median": round(float(np.median(rt)), 3) if rt else None,
               "order_capped": int(sum(m["max_order"] < m["max_order_sabine"] for m in metas)),
               "build_seconds": round(time.time() - t0, 1), "pyroomacoustics": pra.__version__}
    meta = {"config": config, "summary": summary,
            "parameters": {"dims_m": [[2.5, 12.0], [2.5, 10.0], [2.2, 4.0]], "rt60_s": [0.15, 1.0],
                           "distance_m": [0.3, 4.0], "wall_margin_m": 0.3, "source_height_m": [0.5, 2.0],
                           "absorption": "pyroomacoustics.inverse_sabine", "use_rand_ism": True,
                           "max_rand_disp_m": 0.05, "trim": "-60 dB energy decay; starts 1 ms before the direct path",
                           "normalise": "peak 1"},
            "rirs": metas}
    meta_path.write_text(json.dumps(meta, indent=1))
    for part in parts.glob(f"{tag}_*.npz"):                 # complete: the chunks are no longer needed
        part.unlink()
    if not any(parts.iterdir()):
        parts.rmdir()
    log(f"rirs: {len(rirs)} RIRs, {summary['seconds_total']} s of audio, "
        f"median measured RT60 {summary['rt60_measured_median']} s ({summary['build_seconds']} s)")
    return meta


# ----------------------------------------------------------------------------------------------
# Cabinet / loudspeaker impulse responses (guitarix)
# ----------------------------------------------------------------------------------------------
def build_cabinet(out: Path, force: bool = False, fraction: float = HOLDOUT, log=_log) -> dict | None:
    out = Path(out)
    index_path, npz_path = out / "cabinet_index.json", out / "cabinet.npz"
    if index_path.exists() and npz_path.exists() and not force:
        idx = json.loads(index_path.read_text())
        if idx.get("version") == FORMAT_VERSION:
            log(f"cabinet: up to date ({len(idx['irs'])} IRs), skipping")
            return idx
    files = [p for p in package_files(CABINET_PACKAGE)
             if p.suffix.lower() == ".wav" and p.parent.name in ("amps", "bands")]
    if not files:
        log(f"cabinet: {CABINET_PACKAGE} not installed, skipping "
            f"(apt-get install --no-install-recommends {CABINET_PACKAGE})")
        return None
    import soundfile as sf
    lic, text = LICENSES[CABINET_PACKAGE]
    irs, entries = [], []
    for p in files:
        x, sr = sf.read(str(p), dtype="float32", always_2d=True)
        h = resample(x[:, 0], sr, SR) if sr != SR else x[:, 0].copy()
        h = trim_decay(h)
        h = (h / (np.max(np.abs(h)) + EPS)).astype(np.float32)
        entries.append({"id": f"{p.parent.name}/{_slug(p.stem)}", "source": "guitarix",
                        "package": CABINET_PACKAGE, "original": str(p), "kind": p.parent.name,
                        "license": lic, "license_text": text, "orig_sr": int(sr),
                        "length": len(h), "peak_index": int(np.argmax(np.abs(h))),
                        "group": p.stem.lower()})
        irs.append(h)
    assign_splits(entries, fraction)
    offsets = np.cumsum([0] + [len(h) for h in irs]).astype(np.int64)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(npz_path, data=np.concatenate(irs), offsets=offsets)
    idx = {"version": FORMAT_VERSION, "sr": SR, "package_version": package_version(CABINET_PACKAGE),
           "irs": entries}
    index_path.write_text(json.dumps(idx, indent=1, ensure_ascii=False))
    n_test = sum(e["split"] == "test" for e in entries)
    log(f"cabinet: {len(irs)} IRs ({len(irs) - n_test} train, {n_test} test)")
    return idx


def build(out: Path = DEFAULT_DIR, n_rirs: int = 400, seed: int = 0, max_order_cap: int = 60,
          force: bool = False, noise: bool = True, rirs: bool = True, cabinet: bool = True, log=_log) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res, times = {}, {}
    for name, on, fn in (("noise", noise, lambda: build_noise(out, force, log=log)),
                         ("rirs", rirs and n_rirs > 0,
                          lambda: build_rirs(out, n_rirs, seed, max_order_cap, force=force, log=log)),
                         ("cabinet", cabinet, lambda: build_cabinet(out, force, log=log))):
        if on:
            t0 = time.time()
            res[name] = fn()
            times[name] = round(time.time() - t0, 1)
    log("done in " + ", ".join(f"{k} {v} s" for k, v in times.items()))
    return res


# ----------------------------------------------------------------------------------------------
# Using the banks
# ----------------------------------------------------------------------------------------------
def real_noise_segment(clip, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of ``clip`` from a random offset, looped when the clip is shorter."""
    clip = np.asarray(clip, np.float32)
    if len(clip) == 0:
        return np.zeros(n, np.float32)
    if len(clip) >= n:
        off = int(rng.integers(len(clip) - n + 1))
        return clip[off:off + n].copy()
    reps = int(math.ceil(n / len(clip))) + 1
    off = int(rng.integers(len(clip)))
    return np.tile(clip, reps)[off:off + n].copy()


def mix_real_noise(x, clip, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """x plus a random (looped) segment of ``clip`` at exactly ``snr_db`` (powers over the whole x)."""
    x = np.asarray(x, np.float32)
    return add_noise(x, real_noise_segment(clip, len(x), rng), snr_db)


def cabinet_colour(x, ir) -> np.ndarray:
    """Convolves with a loudspeaker/cabinet IR, aligned on the IR's peak (no delay); same length
    and RMS as x."""
    x = np.asarray(x, np.float32)
    ir = np.asarray(ir, np.float64)
    if len(x) == 0 or len(ir) == 0:
        return x.copy()
    k = int(np.argmax(np.abs(ir)))
    n = len(x) + len(ir) - 1
    nfft = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x.astype(np.float64), nfft) * np.fft.rfft(ir, nfft), nfft)[k:k + len(x)]
    rx, ry = math.sqrt(float(np.mean(x.astype(np.float64) ** 2))), math.sqrt(float(np.mean(y ** 2)))
    return (y * (rx / ry) if ry > EPS else y).astype(np.float32)


def _split_flat(z) -> list[np.ndarray]:
    off = z["offsets"]
    data = z["data"].astype(np.float32)
    return [data[off[i]:off[i + 1]] for i in range(len(off) - 1)]


class AcousticBanks:
    """The banks in memory: ``noise`` (list of 16 kHz clips) with ``noise_meta`` and ``noise_sources``
    (source -> clip indices), ``rirs`` (simulated room IRs), ``cabinet`` (loudspeaker IRs).

        banks = AcousticBanks.load("Training/data/acoustics")          # training split
        test_noise = AcousticBanks.load(dir, split="test").noise        # held-out clips
        aug = augment.Augmenter(seed=1, acoustics=banks)

    Any bank may be empty (e.g. no pyroomacoustics); ``load`` raises FileNotFoundError when the
    folder holds none of them."""

    def __init__(self, noise=None, noise_meta=None, rirs=None, cabinet=None, sr: int = SR,
                 rir_meta=None, cabinet_meta=None, split: str = "train"):
        self.noise = [np.asarray(c, np.float32) for c in (noise or [])]
        self.noise_meta = list(noise_meta or [{"source": "clips"} for _ in self.noise])
        self.rirs = [np.asarray(h, np.float32) for h in (rirs or [])]
        self.cabinet = [np.asarray(h, np.float32) for h in (cabinet or [])]
        self.rir_meta, self.cabinet_meta = rir_meta, cabinet_meta
        self.sr, self.split = sr, split
        self.noise_sources: dict[str, list[int]] = {}
        for i, m in enumerate(self.noise_meta):
            self.noise_sources.setdefault(m.get("source", "clips"), []).append(i)

    @classmethod
    def load(cls, root=DEFAULT_DIR, split: str = "train", sr: int = SR) -> "AcousticBanks":
        import soundfile as sf
        root = Path(root)
        noise, noise_meta, rirs, cab, rmeta, cmeta = [], [], [], [], None, None
        found = False
        if (root / "noise_index.json").exists():
            found = True
            idx = json.loads((root / "noise_index.json").read_text())
            for c in idx["clips"]:
                if split != "all" and c.get("split", "train") != split:
                    continue
                x, r = sf.read(str(root / c["path"]), dtype="float32")
                x = _to_mono(x).astype(np.float32)
                noise.append(resample(x, r, sr) if r != sr else x)
                noise_meta.append(c)
        if (root / "rirs.npz").exists():
            found = True
            with np.load(root / "rirs.npz") as z:
                rirs = _split_flat(z)
            if (root / "rirs.json").exists():
                rmeta = json.loads((root / "rirs.json").read_text()).get("rirs")
        if (root / "cabinet.npz").exists():
            found = True
            with np.load(root / "cabinet.npz") as z:
                all_cab = _split_flat(z)
            entries = json.loads((root / "cabinet_index.json").read_text())["irs"] \
                if (root / "cabinet_index.json").exists() else [{} for _ in all_cab]
            keep = [i for i, e in enumerate(entries) if split == "all" or e.get("split", "train") == split]
            cab = [all_cab[i] for i in keep]
            cmeta = [entries[i] for i in keep]
        if not found:
            raise FileNotFoundError(f"no acoustic banks in {root} "
                                    "(build them: python -m Training.data_recipe.acoustics)")
        if sr != SR:
            rirs = [resample(h, SR, sr) for h in rirs]
            cab = [resample(h, SR, sr) for h in cab]
        return cls(noise, noise_meta, rirs, cab, sr, rmeta, cmeta, split)

    def pick_noise(self, rng: np.random.Generator) -> int:
        """A clip index: a source uniformly at random, then a clip of it uniformly."""
        sources = list(self.noise_sources)
        s = sources[int(rng.integers(len(sources)))]
        ids = self.noise_sources[s]
        return ids[int(rng.integers(len(ids)))]

    def noise_segment(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        i = self.pick_noise(rng)
        return real_noise_segment(self.noise[i], n, rng), i

    def summary(self) -> dict:
        return {"split": self.split, "noise_clips": len(self.noise),
                "noise_minutes": round(sum(len(c) for c in self.noise) / self.sr / 60, 2),
                "noise_sources": {s: len(v) for s, v in self.noise_sources.items()},
                "rirs": len(self.rirs), "cabinet_irs": len(self.cabinet)}


# ----------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build real-noise, room-IR and cabinet-IR banks for augmentation")
    ap.add_argument("--out", type=Path, default=DEFAULT_DIR, help=f"output folder (default {DEFAULT_DIR})")
    ap.add_argument("--rirs", type=int, default=400, help="number of simulated room IRs (default 400)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the room simulation (default 0)")
    ap.add_argument("--max-order", type=int, default=60, help="cap on the image-method reflection order")
    ap.add_argument("--force", action="store_true", help="rebuild even when a bank is complete")
    ap.add_argument("--skip", nargs="*", default=[], choices=["noise", "rirs", "cabinet"],
                    help="banks not to build")
    a = ap.parse_args(argv)
    t0 = time.time()
    build(a.out, a.rirs, a.seed, a.max_order, a.force, noise="noise" not in a.skip,
          rirs="rirs" not in a.skip, cabinet="cabinet" not in a.skip)
    try:
        for split in ("train", "test"):
            _log(f"{split}: {json.dumps(AcousticBanks.load(a.out, split).summary())}")
    except FileNotFoundError as ex:
        _log(str(ex))
    _log(f"total {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
