#!/usr/bin/env python3
"""Pack training manifests into one small zip for a training run on a borrowed GPU machine.

    python Training/tools/pack_for_device.py --out .gpu --budget-mib 57 \
        --manifest Training/data/manifests/train.jsonl --manifest Training/data/manifests/train_kokoro.jsonl \
        --manifest Training/data/manifests/train_natural.jsonl

A device call carries at most 64 MiB of files, and about 10 h of 16 kHz speech is over 1 GB as WAV. Each
utterance is re-encoded as Ogg/Opus at about 12.5 kbps (libsndfile compression level 0.98: still
wideband; at 0.99 the encoder drops to a narrower band and the log-mel features move four times as
much), the manifests are rewritten with relative paths, and everything goes into ONE stored zip
(`<out>/data.zip`, extracted there to `<out>/data/`): a folder of ten thousand small files costs more
to send than its bytes. When the audio does not fit the byte budget, the manifests are trimmed from
the LAST one given, dropping random utterances (seeded), so list the manifests you must keep first.
Encoding is resumable (existing .opus files are kept) and runs on all cores.

On the device: `Training/tools/device_train.sh` extracts the zip and trains.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from data_recipe.manifest import read_manifest  # noqa: E402

COMPRESSION_LEVEL = 0.98  # ≈ 12.5 kbps Opus on speech, wideband


def encode(job: tuple[str, str]) -> int:
    """WAV (any format libsndfile reads) -> mono Ogg/Opus at the source rate; returns the bytes written."""
    src, dst = job
    if not os.path.exists(dst):
        x, sr = sf.read(src, dtype="float32", always_2d=True)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = dst + ".tmp"
        with sf.SoundFile(tmp, "w", sr, 1, format="OGG", subtype="OPUS", compression_level=COMPRESSION_LEVEL) as f:
            f.write(x.mean(axis=1))
        os.replace(tmp, dst)
    return os.path.getsize(dst)


def pack(manifests: list[Path], out: Path, budget_bytes: int, jobs: int, seed: int = 0) -> dict:
    data = out / "data"
    packed: dict[str, list[dict]] = {}
    for m in manifests:
        rows = read_manifest(m)  # audio paths made absolute
        work = [(r["audio_filepath"], str(data / "audio" / m.stem / r.get("voice", "any") /
                                          (Path(r["audio_filepath"]).stem + ".opus"))) for r in rows]
        with ProcessPoolExecutor(jobs) as ex:
            sizes = list(ex.map(encode, work, chunksize=16))
        packed[m.stem] = [dict(r, audio_filepath=os.path.relpath(dst, data), bytes=n)
                          for r, (_, dst), n in zip(rows, work, sizes)]
        print(f"{m.stem}: {len(rows)} utterances, {sum(r['duration'] for r in rows) / 3600:.2f} h, "
              f"{sum(sizes) / 1e6:.1f} MB", flush=True)
    # Trim from the last manifest until the audio fits.
    total = sum(r["bytes"] for rows in packed.values() for r in rows)
    for name in reversed(list(packed)):
        if total <= budget_bytes:
            break
        rows = packed[name]
        random.Random(seed).shuffle(rows)
        while rows and total > budget_bytes:
            total -= rows.pop()["bytes"]
    zpath = out / "data.zip"
    summary = {}
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as z:
        for name, rows in packed.items():
            z.writestr(f"data/{name}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
            for r in rows:
                z.write(data / r["audio_filepath"], f"data/{r['audio_filepath']}")
            summary[name] = {"utterances": len(rows), "hours": round(sum(r["duration"] for r in rows) / 3600, 2)}
    summary["zip_bytes"] = zpath.stat().st_size
    return summary


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", action="append", type=Path, required=True,
                    help="training manifest (repeatable; trimmed last-first when over budget)")
    ap.add_argument("--out", type=Path, default=Path(".gpu"), help="folder for data/ and data.zip (git-ignore it)")
    ap.add_argument("--budget-mib", type=float, default=57, help="audio bytes allowed in the zip, MiB")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    summary = pack(args.manifest, args.out, int(args.budget_mib * 2 ** 20), args.jobs, args.seed)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
