"""Tests for Training/lm/build_arpa.py (interpolated modified Kneser-Ney, ARPA output)."""
import io
import math
import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lm"))
import build_arpa  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "lm" / "build_arpa.py"


# --- a small, independent ARPA reader --------------------------------------------------------------

def parse_arpa(text):
    """Returns (order, counts, probs, backoffs); probs/backoffs map word tuples to log10 values."""
    lines = text.splitlines()
    assert lines.index("\\data\\") >= 0
    counts = {}
    probs, backoffs = {}, {}
    section = None
    seen_end = False
    for line in lines:
        line = line.strip()
        if not line or line == "\\data\\":
            continue
        if line.startswith("ngram "):
            n, c = line[6:].split("=")
            counts[int(n)] = int(c)
            continue
        if line == "\\end\\":
            seen_end = True
            break
        if line.startswith("\\") and line.endswith("-grams:"):
            section = int(line[1:-7])
            continue
        fields = line.split()
        assert section is not None
        n = section
        assert len(fields) in (n + 1, n + 2), line
        words = tuple(fields[1:n + 1])
        assert words not in probs, f"duplicate n-gram {words}"
        probs[words] = float(fields[0])
        if len(fields) == n + 2:
            backoffs[words] = float(fields[n + 1])
    assert seen_end
    order = max(counts)
    for n, c in counts.items():
        assert sum(1 for k in probs if len(k) == n) == c, f"count of order {n}"
    return order, counts, probs, backoffs


def arpa_prob(model, w, h):
    """p(w | h) by the ARPA backoff rule (natural probability)."""
    order, _, probs, backoffs = model
    h = tuple(h)[-(order - 1):] if order > 1 else ()
    bo = 0.0
    while True:
        if h + (w,) in probs:
            return 10 ** (probs[h + (w,)] + bo)
        if not h:
            raise KeyError(w)
        bo += backoffs.get(h, 0.0)
        h = h[1:]


def build_text(sentences, order, vocab_size=0, prune=None):
    out = io.StringIO()
    build_arpa.build(iter(sentences), order, vocab_size, out, prune, notes=False)
    return out.getvalue()


def vocab_of(model):
    return [k[0] for k in model[2] if len(k) == 1]


# --- independent naive reference (dictionaries, the textbook formulas) -----------------------------

def naive_kn(sentences, order):
    counts = [defaultdict(int) for _ in range(order + 1)]
    for s in sentences:
        toks = ["<s>"] + s.split() + ["</s>"]
        for n in range(1, order + 1):
            for i in range(len(toks) - n + 1):
                counts[n][tuple(toks[i:i + n])] += 1
    adj = [dict() for _ in range(order + 1)]
    for n in range(1, order + 1):
        left = defaultdict(set)  # distinct words seen before each n-gram
        if n < order:
            for h in counts[n + 1]:
                left[h[1:]].add(h[0])
        for g, c in counts[n].items():
            adj[n][g] = c if n == order or g[0] == "<s>" else len(left[g])
    adj[1].pop(("<s>",), None)
    by_context = [defaultdict(dict) for _ in range(order + 1)]
    for n in range(2, order + 1):
        for g, c in adj[n].items():
            by_context[n][g[:-1]][g[-1]] = c

    def disc(n):
        t = [sum(1 for c in adj[n].values() if c == k) for k in (1, 2, 3, 4)]
        try:
            y = t[0] / (t[0] + 2 * t[1])
            d = [1 - 2 * y * t[1] / t[0], 2 - 3 * y * t[2] / t[1], 3 - 4 * y * t[3] / t[2]]
        except ZeroDivisionError:
            return [0.5, 1.0, 1.5]
        if not all(0 < d[k] < k + 1 for k in range(3)):
            return [0.5, 1.0, 1.5]
        return d

    discs = {n: disc(n) for n in range(1, order + 1)}

    def dk(n, c):
        return 0.0 if c == 0 else discs[n][min(c, 3) - 1]

    vocab = sorted(({g[0] for g in counts[1]} | {"<unk>"}) - {"<s>"})

    def p(w, h):
        h = tuple(h)[-(order - 1):] if order > 1 else ()
        n = len(h) + 1
        if n == 1:
            total = sum(adj[1].values())
            gamma = sum(dk(1, c) for c in adj[1].values()) / total
            c = adj[1].get((w,), 0)
            return max(c - dk(1, c), 0) / total + gamma / len(vocab)
        ext = by_context[n].get(h, {})
        total = sum(ext.values())
        if total == 0:
            return p(w, h[1:])
        gamma = sum(dk(n, c) for c in ext.values()) / total
        c = ext.get(w, 0)
        return max(c - dk(n, c), 0) / total + gamma * p(w, h[1:])

    return p, vocab


def random_corpus(seed, n_sent, n_words):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(n_words)]
    weights = [1 / (i + 1) for i in range(n_words)]
    out = []
    for _ in range(n_sent):
        k = rng.randint(1, 8)
        s = rng.choices(words, weights, k=k)
        # a little structure so that contexts repeat
        if rng.random() < 0.5:
            s = ["the", "cat"] + s
        out.append(" ".join(s))
    return out


# --- tests -----------------------------------------------------------------------------------------

TINY = ["a b", "a"]


def test_hand_computed_bigram():
    # <s> a b </s> / <s> a </s>.  Bigram counts: <s> a 2, a b 1, a </s> 1, b </s> 1.
    # Count-of-counts have t3 = 0 at both orders -> fallback discounts 0.5 / 1.0 / 1.5.
    # Unigram continuation counts: a 1 ({<s>}), b 1 ({a}), </s> 2 ({a, b}), <unk> 0; total 4.
    # gamma0 = (0.5 + 0.5 + 1.0) / 4 = 0.5, spread over 4 predictable words (</s>, <unk>, a, b):
    #   p(a) = 0.5/4 + 0.125 = 0.25, p(b) = 0.25, p(</s>) = 1/4 + 0.125 = 0.375, p(<unk>) = 0.125.
    # Context a: b 1, </s> 1, total 2, gamma(a) = 1/2:
    #   p(b|a) = 0.5/2 + 0.5*0.25 = 0.375, p(</s>|a) = 0.25 + 0.5*0.375 = 0.4375, p(a|a) = 0.125.
    # Context <s>: a 2 (D2 = 1), gamma = 0.5: p(a|<s>) = 1/2 + 0.5*0.25 = 0.625.
    # Context b: </s> 1, gamma = 0.5: p(</s>|b) = 0.5 + 0.5*0.375 = 0.6875.
    m = parse_arpa(build_text(TINY, 2))
    _, counts, probs, backoffs = m
    assert counts == {1: 5, 2: 4}
    expect = {("a",): 0.25, ("b",): 0.25, ("</s>",): 0.375, ("<unk>",): 0.125,
              ("a", "b"): 0.375, ("a", "</s>"): 0.4375, ("<s>", "a"): 0.625, ("b", "</s>"): 0.6875}
    for k, v in expect.items():
        assert probs[k] == pytest.approx(math.log10(v), abs=2e-6), k
    assert probs[("<s>",)] == -99
    assert backoffs[("a",)] == pytest.approx(math.log10(0.5), abs=2e-6)
    assert backoffs[("<s>",)] == pytest.approx(math.log10(0.5), abs=2e-6)
    assert arpa_prob(m, "a", ["a"]) == pytest.approx(0.125, abs=1e-6)
    assert arpa_prob(m, "<unk>", ["a"]) == pytest.approx(0.0625, abs=1e-6)


def test_hand_computed_trigram():
    # Same text, order 3.  Bigram adjusted counts: <s> a 2 (raw: begins with <s>), a b 1 ({<s>}),
    # a </s> 1 ({<s>}), b </s> 1 ({a}) -> the bigram probabilities above.  Trigrams (raw):
    # <s> a b 1, <s> a </s> 1, a b </s> 1.
    #   p(b|<s> a) = 0.5/2 + 0.5 * p(b|a) = 0.25 + 0.1875 = 0.4375
    #   p(</s>|<s> a) = 0.25 + 0.5 * 0.4375 = 0.46875
    #   p(</s>|a b) = 0.5 + 0.5 * 0.6875 = 0.84375
    m = parse_arpa(build_text(TINY, 3))
    probs = m[2]
    assert probs[("<s>", "a", "b")] == pytest.approx(math.log10(0.4375), abs=2e-6)
    assert probs[("<s>", "a", "</s>")] == pytest.approx(math.log10(0.46875), abs=2e-6)
    assert probs[("a", "b", "</s>")] == pytest.approx(math.log10(0.84375), abs=2e-6)
    assert probs[("a", "b")] == pytest.approx(math.log10(0.375), abs=2e-6)
    assert m[3][("<s>", "a")] == pytest.approx(math.log10(0.5), abs=2e-6)
    # p(a | <s> a) backs off twice: bo(<s> a) * bo(a) * p(a) = 0.5 * 0.5 * 0.25
    assert arpa_prob(m, "a", ["<s>", "a"]) == pytest.approx(0.0625, abs=1e-6)


def test_modified_kn_discounts():
    counts = np.array([1] * 10 + [2] * 4 + [3] * 2 + [4] * 1 + [7] * 3)
    y = 10 / 18
    d = build_arpa.discounts(counts, 2, note=False)
    assert d == pytest.approx((1 - 2 * y * 4 / 10, 2 - 3 * y * 2 / 4, 3 - 4 * y * 1 / 2))
    assert build_arpa.discounts(np.array([1, 1, 2]), 2, note=False) == build_arpa.FALLBACK


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_matches_naive_reference_and_sums_to_one(order):
    sents = random_corpus(1, 300, 40)
    m = parse_arpa(build_text(sents, order))
    ref, vocab = naive_kn(sents, order)
    assert sorted(vocab_of(m)) == sorted(vocab + ["<s>"])
    rng = random.Random(0)
    listed = sorted(k for k in m[2] if len(k) < order and k[-1] != "</s>")
    contexts = {()} | set(rng.sample(listed, min(len(listed), 250)))
    contexts |= {tuple(rng.choices(vocab[:10], k=order - 1)) for _ in range(20)}  # mostly unseen
    for h in sorted(contexts):
        total = 0.0
        for w in vocab:
            p = arpa_prob(m, w, h)
            total += p
            assert p == pytest.approx(ref(w, h), rel=2e-5, abs=1e-9), (h, w)
        assert total == pytest.approx(1.0, abs=1e-3), h


def test_vocab_limit_maps_rare_words_to_unk():
    sents = ["x x x y y z", "x y q"]
    m = parse_arpa(build_text(sents, 2, vocab_size=2))
    assert sorted(vocab_of(m)) == ["</s>", "<s>", "<unk>", "x", "y"]
    assert ("y", "<unk>") in m[2]
    for h in [(), ("x",), ("y",), ("<unk>",), ("<s>",)]:
        assert sum(arpa_prob(m, w, h) for w in ["</s>", "<unk>", "x", "y"]) == pytest.approx(1, abs=1e-3)


def test_pruning_keeps_structure_and_normalisation():
    sents = random_corpus(2, 400, 30)
    full = parse_arpa(build_text(sents, 3))
    m = parse_arpa(build_text(sents, 3, prune=[1, 1]))
    assert m[1][3] < full[1][3] and m[1][2] < full[1][2]
    probs = m[2]
    for k in probs:  # every prefix and suffix of a listed n-gram is listed
        if len(k) > 1:
            assert k[:-1] in probs and k[1:] in probs
    vocab = [w for w in vocab_of(m) if w != "<s>"]
    for h in [k for k in probs if len(k) < 3 and k[-1] != "</s>"]:
        assert sum(arpa_prob(m, w, h) for w in vocab) == pytest.approx(1.0, abs=1e-3), h


def test_command_line(tmp_path):
    text = tmp_path / "lm.txt"
    text.write_text("\n".join(random_corpus(3, 200, 25)) + "\n\n")
    out = tmp_path / "lm.arpa"
    r = subprocess.run([sys.executable, str(SCRIPT), "--text", str(text), "--order", "3",
                        "--vocab-size", "10", "--out", str(out), "--prune", "0", "0", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = parse_arpa(out.read_text())
    assert m[0] == 3 and m[1][1] == 13  # 10 words + <s> </s> <unk>
    assert "lm:" in r.stderr
