#!/usr/bin/env python3
"""Grid search of the beam decoder's language model, LM weight, word bonus and beam width, on one or more sets.

    python Training/tools/tune_decoder.py --model Resources/models/NAME --lm Resources/lm/en-3gram.arpa \
        --manifest Training/data/manifests/test_natural.jsonl [--manifest M2 ...] [--telephone-manifest M3 ...] \
        [--json out.json] [--write-settings]

`--lm` may be repeated: each language model is one more dimension of the grid (every LM with every
weight, bonus and beam), and the rule below chooses among all of them at once. A path written to
`decoding.json` is kept relative to the model folder, so choose among LMs that ship (under
Resources/lm) when using `--write-settings`.

`--write-settings` stores the best setting, its LM included, in the model folder's `decoding.json` (the
defaults that `ssmspeech transcribe/stream/bench` then use for that model; flags still override them).

`--from-json GRID` decodes nothing: it reads the rows of an earlier run's `--json` file (a grid kept in
Benchmarks/results, say), applies the rule below to them (with this call's `--tie-margin`), prints the
choice and, with `--write-settings`, writes it, so that a saved grid can set a model's decoding again
without the 10 minutes of decoding. `--model` still names the folder to write to; the grid's own model
is printed beside it.

With one set the best setting is the one with the lowest WER (then CER). With several (each
`--manifest`, and each `--telephone-manifest` through the telephone channel of `evaluate.py`, a set
named `<manifest>_tel8k`), a setting's score is the mean over the sets of
WER(setting) / lowest WER of any setting on that set (a lowest WER under 1 % counts as 1 %), so that a
set with high error rates (isolated words) does not outweigh one with low rates (sentences); the lowest
score wins. `--tie-margin M` makes every setting within M of the lowest score a tie, won by the
cheapest: the narrowest beam, then the smallest LM file (a wider beam costs compute and partial latency).

Tune on selection sets only: held-out synthetic speech and the training part of the real words
(`train_real_words`), never on the evaluation sets (`dev_real`, `dev_real_words`).
Each setting runs the release binary once over each set (`transcribe --format tsv`, one thread), so
what is scored is exactly what a user gets with those flags.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from evaluate import TELEPHONE_SUFFIX, default_binary, normalise, run_engine, score, telephone_copies  # noqa: E402
from train import load_manifest  # noqa: E402


def choose(results: list[dict], sets: list[str], tie_margin: float = 0.0) -> dict:
    """The best beam setting of `results` (each with per-set scores in r["sets"][name]): lowest mean over
    the sets of WER / the set's lowest WER, floored at 1 % (with one set: lowest WER, then CER).

    With `tie_margin` > 0, every setting whose score is within `tie_margin` of the lowest counts as
    tied, and the cheapest of them wins: the narrowest beam, then the smallest LM file (rows carry
    "beam" and "lm", a path), then the lowest score."""
    beams = [r for r in results if r["decoder"] == "beam"]
    best_wer = {n: min(r["sets"][n]["wer"] for r in beams) for n in sets}
    for r in beams:
        r["score"] = sum(r["sets"][n]["wer"] / max(best_wer[n], 0.01) for n in sets) / len(sets)
    rank = lambda r: (r["score"], sum(r["sets"][n]["cer"] for n in sets))  # noqa: E731
    best = min(beams, key=rank)
    if tie_margin <= 0:
        return best
    tied = [r for r in beams if r["score"] <= best["score"] + tie_margin]

    def lm_size(r):
        lm = r.get("lm")
        return os.path.getsize(lm) if lm and os.path.exists(lm) else 0

    return min(tied, key=lambda r: (r.get("beam", 0), lm_size(r), rank(r)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--lm", action="append", default=[],
                    help="ARPA language model (repeatable: each is compared with the others on the same grid)")
    ap.add_argument("--manifest", action="append", default=[], help="a selection set (repeatable)")
    ap.add_argument("--telephone-manifest", action="append", default=[],
                    help="a selection set scored through the telephone channel (300-3400 Hz, 8 kHz mu-law; repeatable)")
    ap.add_argument("--binary", default="")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.3, 0.5, 0.8, 1.2])
    ap.add_argument("--bonuses", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    ap.add_argument("--beams", type=int, nargs="+", default=[16])
    ap.add_argument("--unknown-log10", type=float, nargs="+", default=[-10.0],
                    help="log10 probability of out-of-vocabulary words (--unknown-word-log10)")
    ap.add_argument("--tie-margin", type=float, default=0.0,
                    help="settings scoring within this of the best count as tied; the narrowest beam, then the "
                         "smallest LM file, wins among them (default 0: the lowest score wins)")
    ap.add_argument("--json", default="")
    ap.add_argument("--write-settings", action="store_true", help="write the best setting to MODEL/decoding.json")
    ap.add_argument("--from-json", default="", metavar="GRID",
                    help="choose from the rows of an earlier --json file instead of decoding")
    args = ap.parse_args()
    if args.from_json:
        try:
            grid = json.loads(Path(args.from_json).read_text())
            results, set_names = grid["results"], grid["sets"]
        except (OSError, ValueError, KeyError) as e:
            ap.error(f"--from-json {args.from_json}: not a tune_decoder.py grid ({e})")
        lms = grid.get("lms") or sorted({r["lm"] for r in results if r["decoder"] == "beam"})
        beams = sorted({r["beam"] for r in results if r["decoder"] == "beam"})
        print(f"grid of {grid.get('model', '?')}: {len(results)} rows over {', '.join(set_names)}")
        decide(args, results, set_names, lms, beams)
        return
    if not args.lm:
        ap.error("give at least one --lm (or --from-json)")
    if not args.manifest and not args.telephone_manifest:
        ap.error("give at least one --manifest or --telephone-manifest")
    binary = args.binary or default_binary()
    with tempfile.TemporaryDirectory() as tmp:
        sets: dict[str, list[dict]] = {}
        for m in args.manifest:
            sets[Path(m).stem] = load_manifest(m)
        for m in args.telephone_manifest:
            name = Path(m).stem + TELEPHONE_SUFFIX
            sets[name] = telephone_copies(load_manifest(m), Path(tmp) / name)
        refs = {n: [normalise(it["text"]) for it in items] for n, items in sets.items()}

        def run(extra: list[str]) -> dict:
            out = {}
            for n, items in sets.items():
                hyps, _ = run_engine(binary, args.model, items, extra)
                out[n] = score(list(zip(refs[n], map(normalise, hyps))))
            return out

        results = [{"decoder": "greedy", "sets": run(["--decoder", "greedy"])}]
        print(json.dumps(results[-1]), flush=True)
        for lm, beam, unk, w, b in itertools.product(args.lm, args.beams, args.unknown_log10, args.weights,
                                                     args.bonuses):
            extra = ["--decoder", "beam", "--lm", lm, "--beam", str(beam), "--lm-weight", str(w),
                     "--word-bonus", str(b), f"--unknown-word-log10={unk}"]
            results.append({"decoder": "beam", "lm": lm, "beam": beam, "unknown_log10": unk, "lm_weight": w,
                            "word_bonus": b, "sets": run(extra)})
            print(json.dumps(results[-1]), flush=True)
    best = decide(args, results, list(sets), args.lm, args.beams)
    if args.json:
        Path(args.json).write_text(json.dumps({"manifests": args.manifest, "telephone_manifests": args.telephone_manifest,
                                               "sets": list(sets), "model": args.model,
                                               "lms": args.lm, "results": results, "best": best}, indent=1))


def decide(args, results: list[dict], sets: list[str], lms: list[str], beams: list[int]) -> dict:
    """Choose among `results` by the rule, print the choice, and write it with --write-settings."""
    best = choose(results, sets, args.tie_margin)
    print("best:", json.dumps(best))
    if args.write_settings:
        model_dir = Path(args.model).resolve()
        if not Path(best["lm"]).resolve().is_relative_to(model_dir.parent.parent):
            print(f"warning: the chosen LM {best['lm']} lies outside {model_dir.parent.parent}; "
                  "decoding.json will point at a file that does not ship with the model", file=sys.stderr)
        on = ", ".join(f"{n} WER {best['sets'][n]['wer']:.3f} CER {best['sets'][n]['cer']:.3f} "
                       f"(greedy WER {results[0]['sets'][n]['wer']:.3f})" for n in sets)
        settings = {"lm": os.path.relpath(Path(best["lm"]).resolve(), model_dir), "beam": best["beam"],
                    "lm_weight": best["lm_weight"], "word_bonus": best["word_bonus"],
                    "unknown_word_log10": best["unknown_log10"],
                    "tuned_on": f"{on} by Training/tools/tune_decoder.py (beams {' '.join(map(str, beams))}; "
                                f"{len(lms)} LM(s); tie margin {args.tie_margin})"}
        (model_dir / "decoding.json").write_text(json.dumps(settings, indent=1) + "\n")
        print("wrote", model_dir / "decoding.json")
    return best


if __name__ == "__main__":
    main()
