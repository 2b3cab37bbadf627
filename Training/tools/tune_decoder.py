#!/usr/bin/env python3
"""Grid search of the beam decoder's language-model weight, word bonus and beam width.

    python Training/tools/tune_decoder.py --model Resources/models/NAME --lm Resources/lm/en-3gram.arpa \
        --manifest Training/data/manifests/test_synthetic.jsonl [--json out.json] [--write-settings]

`--write-settings` stores the best setting in the model folder's `decoding.json` (the defaults that
`ssmspeech transcribe/stream/bench` then use for that model; flags still override them).

Tune on synthetic held-out speech only (never on the real development set, which is for evaluation).
Each setting runs the release binary once over the whole manifest (`transcribe --format tsv`,
one thread), so what is scored is exactly what a user gets with those flags.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from evaluate import default_binary, normalise, run_engine, score  # noqa: E402
from train import load_manifest  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--lm", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--binary", default="")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.3, 0.5, 0.8, 1.2])
    ap.add_argument("--bonuses", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    ap.add_argument("--beams", type=int, nargs="+", default=[16])
    ap.add_argument("--unknown-log10", type=float, nargs="+", default=[-10.0],
                    help="log10 probability of out-of-vocabulary words (--unknown-word-log10)")
    ap.add_argument("--json", default="")
    ap.add_argument("--write-settings", action="store_true", help="write the best setting to MODEL/decoding.json")
    args = ap.parse_args()
    binary = args.binary or default_binary()
    items = load_manifest(args.manifest)
    refs = [normalise(it["text"]) for it in items]
    results = []
    hyps, _ = run_engine(binary, args.model, items, ["--decoder", "greedy"])
    results.append({"decoder": "greedy", **score(list(zip(refs, map(normalise, hyps))))})
    print(json.dumps(results[-1]), flush=True)
    for beam, unk, w, b in itertools.product(args.beams, args.unknown_log10, args.weights, args.bonuses):
        extra = ["--decoder", "beam", "--lm", args.lm, "--beam", str(beam), "--lm-weight", str(w), "--word-bonus", str(b),
                 f"--unknown-word-log10={unk}"]
        hyps, wall = run_engine(binary, args.model, items, extra)
        r = {"decoder": "beam", "beam": beam, "unknown_log10": unk, "lm_weight": w, "word_bonus": b, **score(list(zip(refs, map(normalise, hyps))))}
        results.append(r)
        print(json.dumps(r), flush=True)
    best = min((r for r in results if r["decoder"] == "beam"), key=lambda r: (r["wer"], r["cer"]))
    print("best:", json.dumps(best))
    if args.write_settings:
        model_dir = Path(args.model).resolve()
        settings = {"lm": os.path.relpath(Path(args.lm).resolve(), model_dir), "beam": best["beam"],
                    "lm_weight": best["lm_weight"], "word_bonus": best["word_bonus"],
                    "unknown_word_log10": best["unknown_log10"],
                    "tuned_on": f"{Path(args.manifest).name}: WER {best['wer']:.3f}, CER {best['cer']:.3f} "
                                f"(greedy WER {results[0]['wer']:.3f}) by Training/tools/tune_decoder.py"}
        (model_dir / "decoding.json").write_text(json.dumps(settings, indent=1) + "\n")
        print("wrote", model_dir / "decoding.json")
    if args.json:
        Path(args.json).write_text(json.dumps({"manifest": args.manifest, "model": args.model, "lm": args.lm,
                                               "results": results, "best": best}, indent=1))


if __name__ == "__main__":
    main()
