"""How often do partial results retract words they showed? (`stream --json` over a manifest.)

    python Benchmarks/scripts/partial_stability.py --manifest Training/data/manifests/dev_real.jsonl [--model PATH]

Each file is streamed through `ssmspeech stream --json` (40 ms reads). Between consecutive partials of
one utterance, the completed words of the earlier partial (all but its last, possibly unfinished,
word) should reappear unchanged at the start of the later one; every completed word that does not
is a retraction. Prints the number of partial updates, the share of updates that retract anything,
retracted words per 100 completed words shown (summed over updates, so it depends on how often the
partial changes) and retracted words per 100 words of the finals (independent of the update rate:
of every 100 words transcribed, how many were shown and taken back).
"""

import argparse
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", action="append", required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--binary", default=str(ROOT / ".build" / "release" / "ssmspeech"))
    ap.add_argument("--extra", action="append", default=[],
                    help="one more `stream` flag per use, written with '=': --extra=--beam=128 --extra=--partial-margin=3")
    args = ap.parse_args()
    model = ["--model", args.model] if args.model else []
    updates = retracting = shown = retracted = final_words = 0
    for m in args.manifest:
        for line in open(m):
            item = json.loads(line)
            with open(item["audio_filepath"], "rb") as f:
                out = subprocess.run([args.binary, "stream", *model, *args.extra, "--json"], stdin=f,
                                     capture_output=True, text=True, check=True).stdout
            prev: list[str] = []
            for ev in map(json.loads, out.splitlines()):
                words = ev["text"].split()
                if ev["type"] == "final":
                    final_words += len(words)
                    prev = []
                    continue
                done = prev[:-1]
                lost = sum(1 for i, w in enumerate(done) if i >= len(words) or words[i] != w)
                updates += 1
                shown += len(done)
                retracted += lost
                retracting += lost > 0
                prev = words
    print(json.dumps({"partial_updates": updates, "updates_with_retraction_pct": round(100 * retracting / max(updates, 1), 2),
                      "retracted_per_100_words": round(100 * retracted / max(shown, 1), 2),
                      "final_words": final_words, "retracted_per_100_final_words": round(100 * retracted / max(final_words, 1), 2)}))


if __name__ == "__main__":
    main()
