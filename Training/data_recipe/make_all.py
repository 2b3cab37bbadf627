"""Regenerates all training/evaluation data: text corpus -> real dev set -> real words dev set ->
synthetic speech.

    python -m Training.data_recipe.make_all --hours 40          # from the repository root
    python Training/data_recipe/make_all.py --hours 40          # same

Every step is resumable: the text corpus is kept if ``data/text/train.tsv`` exists (``--force-text``
rebuilds it), the dev sets are cheap and always rebuilt, and synthesis skips existing WAVs.
Run it in the background with low priority, e.g.

    mkdir -p Training/data/logs
    nohup nice -n 10 python -m Training.data_recipe.make_all --hours 40 \
        > Training/data/logs/make_all.log 2>&1 &
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "data_recipe"

from . import devset, devset_words, synthesize, text_corpus  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build text corpus, dev manifests and synthetic speech")
    ap.add_argument("--data", type=Path, default=text_corpus.DATA_DIR)
    ap.add_argument("--hours", type=float, default=40.0, help="hours of synthetic training audio")
    ap.add_argument("--n-test", type=int, default=500, help="synthetic test sentences (x2 voices sets)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--force-text", action="store_true")
    ap.add_argument("--skip-synthesis", action="store_true")
    a = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.time()
    text_dir = a.data / "text"
    if a.force_text or not (text_dir / "train.tsv").exists() or not (text_dir / "stats.json").exists():
        log("== 1/4 text corpus")
        text_corpus.write_corpus(text_dir, seed=a.seed, log=log)
    else:
        log(f"== 1/4 text corpus: {text_dir / 'train.tsv'} exists, kept")
    log("== 2/4 real-speech development set")
    devset.build(a.data, install=True, log=log)
    log("== 3/4 real-speech words development set (dev_real_words / train_real_words)")
    devset_words.build(a.data, install=True, log=log)
    if not a.skip_synthesis:
        log(f"== 4/4 synthesis ({a.hours} h, {a.jobs} processes)")
        synthesize.synthesize(a.data, a.hours, a.n_test, a.jobs, a.seed, log=log)
    log(f"== done in {(time.time() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
