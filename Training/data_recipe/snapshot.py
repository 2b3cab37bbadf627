"""Write manifests from whatever audio exists so far, while synthesis is still running.

    python -m Training.data_recipe.snapshot [--data Training/data]

Training can start on a partial corpus: `train.py` re-reads its manifests at every epoch, so a
snapshot taken now and refreshed later feeds newly rendered audio into the same run.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .manifest import read_done_log, write_manifest
from .text_corpus import DATA_DIR


def snapshot(data_dir: Path) -> dict:
    audio_root = data_dir / "audio"
    durations = read_done_log(audio_root / "done.jsonl")
    summary = {}
    for plan_file in sorted(audio_root.glob("plan_*.jsonl")):
        name = plan_file.stem[len("plan_"):]
        entries = []
        for line in plan_file.read_text().splitlines():
            p = json.loads(line)
            d = durations.get((p["voice"], p["id"]))
            path = audio_root / p["voice"] / f"{p['id']}.wav"
            if d is None or not path.exists():
                continue
            entries.append({"audio_filepath": str(path.resolve()), "text": p["text"], "duration": d,
                            "voice": p["voice"], "variant": p.get("variant", ""), "source": p["source"]})
        write_manifest(data_dir / "manifests" / f"{name}.jsonl", entries)
        summary[name] = {"utterances": len(entries), "hours": round(sum(e["duration"] for e in entries) / 3600, 2)}
    return summary


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    args = ap.parse_args(argv)
    print(json.dumps(snapshot(args.data)))


if __name__ == "__main__":
    main()
