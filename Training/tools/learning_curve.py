#!/usr/bin/env python3
"""Learning curve of a training run: greedy WER on each dev set against audio hours seen.

    python Training/tools/learning_curve.py Training/runs/RUN/log.jsonl [--markdown]

Reads the `eval` events train.py writes to the run's log (greedy decoding in PyTorch, up to 300
utterances per set, every --eval-minutes) and prints one row per evaluation: step, audio hours seen
in this run, and WER per set. A run resumed from a checkpoint continues its count of hours.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def curve(log_path: Path) -> tuple[list[str], list[dict]]:
    """(set names in first-seen order, rows {step, hours, <set>: wer})."""
    sets: list[str] = []
    rows: dict[int, dict] = {}
    for line in Path(log_path).read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if "eval" not in e:
            continue
        name = e["eval"]
        if name not in sets:
            sets.append(name)
        row = rows.setdefault(e["step"], {"step": e["step"], "hours": e.get("audio_hours_seen")})
        row[name] = e["wer"]
    return sets, [rows[k] for k in sorted(rows)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args(argv)
    sets, rows = curve(a.log)
    if not rows:
        print(f"error: no eval events in {a.log}", file=sys.stderr)
        return 1
    fmt = lambda v: "" if v is None else (f"{v:.1%}" if isinstance(v, float) else str(v))  # noqa: E731
    head = ["step", "audio h seen", *sets]
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print("\t".join(head))
    for r in rows:
        cells = [str(r["step"]), "" if r["hours"] is None else f"{r['hours']:.1f}", *(fmt(r.get(s)) for s in sets)]
        print(("| " + " | ".join(cells) + " |") if a.markdown else "\t".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
