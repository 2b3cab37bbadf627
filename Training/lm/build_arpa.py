#!/usr/bin/env python3
"""Word n-gram language model for the CTC beam search: interpolated modified Kneser-Ney, ARPA output.

Usage::

    python Training/lm/build_arpa.py --text Training/data/text/lm.txt --order 3 \\
        --vocab-size 30000 --out Training/data/lm/lm.arpa [--prune 0 1 1]

Input: one sentence per line, words separated by white space, already normalised to the model's
alphabet (``Training/data_recipe/text_corpus.py`` writes ``lm.txt``; it never contains evaluation or
development text).  ``--text -`` reads stdin; a ``.gz`` path is decompressed.  The text is read once,
line by line; the words are held as one int32 array (4 bytes a word).

Model (Chen & Goodman 1998, "interpolated modified Kneser-Ney", as in KenLM ``lmplz`` and SRILM
``-kndiscount -interpolate``):

* Vocabulary: the ``--vocab-size`` most frequent words (ties: first seen first) plus ``<s>``,
  ``</s>`` and ``<unk>``; every other word is mapped to ``<unk>``, which is then an ordinary word
  (SRILM ``-unk``).  ``--vocab-size 0`` keeps every word.
* Each line is a sentence ``<s> w1 ... wk </s>``; n-grams never cross lines.
* Counts: the highest order uses raw counts; a lower-order n-gram uses its continuation count
  ``N1+(. g)`` (number of distinct words seen before it), except n-grams beginning with ``<s>``,
  which keep their raw count.
* Discounts per order from the count-of-counts ``t1..t4`` of those counts:
  ``Y = t1/(t1+2 t2)``, ``D1 = 1-2Y t2/t1``, ``D2 = 2-3Y t3/t2``, ``D3+ = 3-4Y t4/t3``.  When these
  are undefined or outside ``(0, k)`` (tiny corpora) the order falls back to ``D = 0.5, 1.0, 1.5``
  (KenLM's ``--discount_fallback`` defaults) and a note goes to stderr.
* ``p(w|h) = max(c(hw) - D(c(hw)), 0)/sum_v c(hv) + gamma(h) p(w|h')`` with
  ``gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / sum_v c(hv)``; the unigram level interpolates
  with the uniform distribution over the vocabulary (``<s>`` excluded: it is never predicted and
  gets log10 probability -99).
* ARPA: every observed n-gram is listed with its interpolated probability; the backoff weight of a
  context is ``gamma(h)``, so the backed-off model equals the interpolated one and every
  ``p(.|h)`` sums to one.
* ``--prune T2 T3 ...`` (or ``--prune T1 T2 T3`` as in KenLM, with ``T1 = 0``): drop n-grams of order
  ``n >= 2`` whose raw count is ``<= Tn`` (the last threshold repeats for higher orders), keeping
  every prefix and suffix of a kept n-gram.  Kept entries keep their unpruned probabilities and the
  backoff weights are recomputed so that every distribution still sums to one (SRILM style):
  ``bo(h) = (1 - sum_{hw kept} p(w|h)) / (1 - sum_{hw kept} p(w|h'))``.

Only the Python standard library and numpy.  About 3 s per million words (trigram, one core).
"""
from __future__ import annotations

import argparse
import collections
import gzip
import io
import itertools
import math
import sys
import time
from array import array

import numpy as np

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
BOS_ID, EOS_ID, UNK_ID = 0, 1, 2
FALLBACK = (0.5, 1.0, 1.5)
LOG10_ZERO = -99.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def open_text(path: str):
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, "r", encoding="utf-8", errors="replace")


def read_corpus(lines, vocab_size: int):
    """Reads sentences into one int32 array ``<s> w.. </s> <s> ...`` over the final vocabulary.

    Returns ``(tokens, words)`` where ``words[i]`` is the string of id ``i``.
    """
    provisional: dict[str, int] = collections.defaultdict(itertools.count().__next__)
    for special in (BOS, EOS, UNK):
        provisional[special]
    get = provisional.__getitem__
    toks = array("i")
    n_lines = 0
    for line in lines:
        ws = line.split()
        if not ws:
            continue
        if BOS in ws or EOS in ws:  # literal sentence markers in the text are dropped
            ws = [w for w in ws if w != BOS and w != EOS]
            if not ws:
                continue
        toks.append(BOS_ID)
        toks.extend(map(get, ws))
        toks.append(EOS_ID)
        n_lines += 1
    if n_lines == 0:
        raise SystemExit("error: the LM text has no words")
    prov = np.frombuffer(toks, dtype=np.int32)
    names = list(provisional.keys())  # insertion order == provisional id
    freq = np.bincount(prov, minlength=len(names))
    regular = np.arange(3, len(names))
    # most frequent first; ties: first seen first (stable sort on the provisional id order)
    order = regular[np.argsort(-freq[regular], kind="stable")]
    if vocab_size > 0:
        order = order[:vocab_size]
    remap = np.full(len(names), UNK_ID, dtype=np.int32)
    remap[:3] = [BOS_ID, EOS_ID, UNK_ID]
    remap[order] = np.arange(3, 3 + len(order), dtype=np.int32)
    words = [BOS, EOS, UNK] + [names[i] for i in order]
    return remap[prov], words, n_lines


def discounts(counts: np.ndarray, order: int, note: bool = True) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts (D1, D2, D3+) from the count-of-counts of ``counts``."""
    t = [int(np.count_nonzero(counts == k)) for k in (1, 2, 3, 4)]
    try:
        y = t[0] / (t[0] + 2 * t[1])
        d = (1 - 2 * y * t[1] / t[0], 2 - 3 * y * t[2] / t[1], 3 - 4 * y * t[3] / t[2])
    except ZeroDivisionError:
        d = None
    if d is None or not all(0 < dk < k + 1 for k, dk in enumerate(d)):
        if note:
            log(f"note: order {order}: count-of-counts {t} give no valid modified Kneser-Ney discounts; "
                f"using the fallback {FALLBACK}")
        return FALLBACK
    return d


def apply_discount(counts: np.ndarray, d) -> np.ndarray:
    c = counts.astype(np.float64)
    disc = np.where(counts >= 3, d[2], np.where(counts == 2, d[1], np.where(counts == 1, d[0], 0.0)))
    return np.maximum(c - disc, 0.0), disc


class NGrams:
    """The distinct n-grams of one order, sorted by (context index, last word)."""

    def __init__(self):
        self.ctx = None      # index of the (n-1)-gram prefix in the previous order (order 1: none)
        self.word = None     # last word id
        self.count = None    # raw count
        self.suffix = None   # index of the (n-1)-gram suffix (order 1: none)
        self.first = None    # first word id
        self.adjusted = None
        self.prob = None     # interpolated probability (natural, not log)
        self.backoff = None  # backoff weight as a context of the next order (natural)
        self.keep = None


def count_ngrams(toks: np.ndarray, vocab: int, order: int) -> list[NGrams]:
    n_tok = toks.shape[0]
    sid = np.cumsum(toks == BOS_ID)
    levels = []
    uni = NGrams()
    uni.word = np.arange(vocab, dtype=np.int64)
    uni.count = np.bincount(toks, minlength=vocab).astype(np.int64)
    uni.first = uni.word
    levels.append(uni)
    pos_prev = toks.astype(np.int64)  # index of the n-gram starting at each position (-1: none)
    vs = np.int64(vocab)
    for n in range(2, order + 1):
        ln = n_tok - n + 1
        if ln <= 0:
            ng = NGrams()
            for name in ("ctx", "word", "count", "suffix", "first"):
                setattr(ng, name, np.zeros(0, dtype=np.int64))
            levels.append(ng)
            pos_prev = np.zeros(0, dtype=np.int64)
            continue
        valid = (sid[:ln] == sid[n - 1:]) & (pos_prev[:ln] >= 0)
        where = np.nonzero(valid)[0]
        keys = pos_prev[where] * vs + toks[where + n - 1]
        uniq, first_idx, inv, counts = np.unique(keys, return_index=True, return_inverse=True,
                                                 return_counts=True)
        ng = NGrams()
        ng.ctx = uniq // vs
        ng.word = uniq % vs
        ng.count = counts.astype(np.int64)
        ng.suffix = pos_prev[where[first_idx] + 1]
        ng.first = levels[-1].first[ng.ctx]
        levels.append(ng)
        pos = np.full(ln, -1, dtype=np.int64)
        pos[where] = inv.reshape(-1)
        pos_prev = pos
    return levels


def estimate(levels: list[NGrams], vocab: int, notes: bool = True) -> None:
    """Fills ``prob`` and ``backoff`` (interpolated modified Kneser-Ney)."""
    order = len(levels)
    # adjusted counts
    for n in range(1, order + 1):
        ng = levels[n - 1]
        if n == order:
            ng.adjusted = ng.count.copy()
        else:
            higher = levels[n]
            cont = np.bincount(higher.suffix, minlength=len(ng.count)).astype(np.int64)
            ng.adjusted = np.where(ng.first == BOS_ID, ng.count, cont)
    # unigrams: <s> is never predicted
    uni = levels[0]
    a = uni.adjusted.copy()
    a[BOS_ID] = 0
    d = discounts(a[a > 0], 1, notes)
    num, disc = apply_discount(a, d)
    total = a.sum()
    gamma0 = disc.sum() / total
    n_predictable = vocab - 1
    uni.prob = num / total + gamma0 / n_predictable
    uni.prob[BOS_ID] = 0.0
    for n in range(2, order + 1):
        ng, lower = levels[n - 1], levels[n - 2]
        m_ctx = len(lower.word)
        if len(ng.word) == 0:
            lower.backoff = np.ones(m_ctx)
            continue
        a = ng.adjusted
        d = discounts(a, n, notes)
        num, disc = apply_discount(a, d)
        total = np.bincount(ng.ctx, weights=a.astype(np.float64), minlength=m_ctx)
        dsum = np.bincount(ng.ctx, weights=disc, minlength=m_ctx)
        with np.errstate(divide="ignore", invalid="ignore"):
            gamma = np.where(total > 0, dsum / np.where(total > 0, total, 1), 1.0)
        lower_p = uni.prob[ng.word] if n == 2 else lower.prob[ng.suffix]
        ng.prob = num / total[ng.ctx] + gamma[ng.ctx] * lower_p
        lower.backoff = gamma
    levels[-1].backoff = None


def prune(levels: list[NGrams], thresholds: list[int]) -> None:
    """Count pruning with prefix/suffix closure and renormalised backoff weights."""
    order = len(levels)
    levels[0].keep = np.ones(len(levels[0].word), dtype=bool)
    for n in range(order, 1, -1):
        ng = levels[n - 1]
        thr = thresholds[min(n - 2, len(thresholds) - 1)] if thresholds else 0
        keep = ng.count > thr
        if ng.keep is not None:  # marked by the closure of order n+1
            keep |= ng.keep
        ng.keep = keep
        if n > 2:
            lower = levels[n - 2]
            mark = np.zeros(len(lower.word), dtype=bool)
            mark[ng.ctx[keep]] = True
            mark[ng.suffix[keep]] = True
            lower.keep = mark
    for n in range(2, order + 1):
        ng, lower = levels[n - 1], levels[n - 2]
        k = ng.keep
        m_ctx = len(lower.word)
        lower_p = levels[0].prob[ng.word[k]] if n == 2 else lower.prob[ng.suffix[k]]
        listed = np.bincount(ng.ctx[k], weights=ng.prob[k], minlength=m_ctx)
        listed_lower = np.bincount(ng.ctx[k], weights=lower_p, minlength=m_ctx)
        num = np.maximum(1.0 - listed, 0.0)
        den = np.maximum(1.0 - listed_lower, 1e-12)
        lower.backoff = np.where(listed > 0, num / den, 1.0)


def log10(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        out = np.log10(x)
    return np.where(np.isfinite(out), out, LOG10_ZERO)


def write_arpa(levels: list[NGrams], words: list[str], out) -> list[int]:
    order = len(levels)
    kept_idx = []
    for ng in levels:
        if ng.keep is None:
            kept_idx.append(np.arange(len(ng.word)))
        else:
            kept_idx.append(np.nonzero(ng.keep)[0])
    counts = [len(k) for k in kept_idx]
    out.write("\\data\\\n")
    for n, c in enumerate(counts, 1):
        out.write(f"ngram {n}={c}\n")
    texts_prev = None
    for n in range(1, order + 1):
        ng = levels[n - 1]
        idx = kept_idx[n - 1]
        out.write(f"\n\\{n}-grams:\n")
        if n == 1:
            texts = words
            sel_texts = [words[i] for i in idx.tolist()]
        else:
            ctx = ng.ctx[idx].tolist()
            wd = ng.word[idx].tolist()
            sel_texts = [texts_prev[c] + " " + words[w] for c, w in zip(ctx, wd)]
            if n < order:
                texts = [None] * len(ng.word)
                for i, t in zip(idx.tolist(), sel_texts):
                    texts[i] = t
        lp = log10(ng.prob[idx])
        if n == 1:
            lp[idx == BOS_ID] = LOG10_ZERO
        lp_s = [f"{v:.6f}" for v in lp.tolist()]
        if n < order:
            bo = log10(ng.backoff[idx])
            bo_s = [f"{v:.6f}" for v in bo.tolist()]
            chunk = 200_000
            for s in range(0, len(idx), chunk):
                out.write("".join(f"{a}\t{b}\t{c}\n" for a, b, c in
                                  zip(lp_s[s:s + chunk], sel_texts[s:s + chunk], bo_s[s:s + chunk])))
        else:
            chunk = 200_000
            for s in range(0, len(idx), chunk):
                out.write("".join(f"{a}\t{b}\n" for a, b in zip(lp_s[s:s + chunk], sel_texts[s:s + chunk])))
        texts_prev = texts
    out.write("\n\\end\\\n")
    return counts


def build(lines, order: int, vocab_size: int, out, prune_thresholds=None, notes: bool = True) -> dict:
    """Builds the model from an iterable of lines and writes ARPA text to ``out``."""
    if not 1 <= order <= 5:
        raise SystemExit("error: --order must be between 1 and 5")
    t0 = time.time()
    toks, words, n_lines = read_corpus(lines, vocab_size)
    t1 = time.time()
    levels = count_ngrams(toks, len(words), order)
    estimate(levels, len(words), notes)
    if prune_thresholds and any(t > 0 for t in prune_thresholds):
        prune(levels, prune_thresholds)
    t2 = time.time()
    counts = write_arpa(levels, words, out)
    t3 = time.time()
    n_words = int(toks.shape[0]) - 2 * n_lines
    return {"sentences": n_lines, "words": n_words, "vocab": len(words), "ngrams": counts,
            "read_s": t1 - t0, "estimate_s": t2 - t1, "write_s": t3 - t2}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", required=True, help="training text, one sentence per line ('-' = stdin, .gz ok)")
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--vocab-size", type=int, default=30000, help="most frequent words kept (0 = all)")
    ap.add_argument("--prune", type=int, nargs="*", default=None,
                    help="count thresholds for orders 2.. (a leading 0 for order 1 is accepted)")
    ap.add_argument("--out", required=True, help="ARPA file to write ('-' = stdout)")
    args = ap.parse_args(argv)
    thresholds = args.prune
    if thresholds and len(thresholds) == args.order and thresholds[0] == 0:
        thresholds = thresholds[1:]  # KenLM style: one threshold per order, unigrams never pruned
    with open_text(args.text) as f:
        if args.out == "-":
            stats = build(f, args.order, args.vocab_size, sys.stdout, thresholds)
        else:
            with open(args.out, "w", encoding="utf-8", newline="\n") as out:
                stats = build(f, args.order, args.vocab_size, out, thresholds)
    log(f"lm: {stats['sentences']} sentences, {stats['words']} words, vocabulary {stats['vocab']}, "
        f"n-grams {stats['ngrams']}; read {stats['read_s']:.1f} s, estimate {stats['estimate_s']:.1f} s, "
        f"write {stats['write_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
