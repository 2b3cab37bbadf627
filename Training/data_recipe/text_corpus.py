"""Builds the training text from English text carried by Debian packages, plus template sentences.

Sources (see Training/DATA.md for licences):

* ``fortunes``   -- fortune cookie files (Debian ``fortunes``, ``fortunes-min``): quotes, dialogue,
  jokes, prose.
* ``wordnet``    -- usage examples in WordNet 3.0 glosses (Debian ``wordnet-base``).
* ``gcide``      -- literary citations in the GNU Collaborative International Dictionary of English
  (Debian ``dict-gcide``).
* ``devil``      -- Ambrose Bierce's *The Devil's Dictionary* (Debian ``dict-devil``).
* ``jargon``     -- the Jargon File (Debian ``jargon-text``).
* ``templates``  -- sentences generated here from templates: numbers, dates, times, money, phone
  numbers, addresses and names (so the model hears spoken numbers in many forms).

Outputs under ``--out`` (default ``Training/data/text``):

* ``train.tsv`` / ``test.tsv``: ``id<TAB>source<TAB>spoken form<TAB>transcript`` (3-25 words).
* ``train.txt`` / ``test.txt``: transcripts only, one per line.
* ``lm.txt``: text for the n-gram LM -- every normalised sentence of any length (1-60 words) from
  the sources, except the test sentences and anything overlapping the real development set.
* ``stats.json``: counts per source.

Development-set texts (``devset.dev_texts()``) never enter train/test/lm: a sentence is dropped if
it equals a development transcript or shares a 6-word sequence with one.

Run: ``python -m Training.data_recipe.text_corpus`` (from the repository root).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import sys
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "data_recipe"

from .normalize import spoken_and_transcript, split_sentences  # noqa: E402
from . import devset  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[1] / "data"

FORTUNE_DIR = Path("/usr/share/games/fortunes")
FORTUNE_SKIP = {"art", "ascii-art", "perl", "translate-me", "debian", "linux", "linuxcookie",
                "knghtbrd", "zippy"}
WORDNET_DIR = Path("/usr/share/wordnet")
GCIDE = Path("/usr/share/dictd/gcide.dict.dz")
DEVIL = Path("/usr/share/dictd/devil.dict.dz")
JARGON = Path("/usr/share/doc/jargon-text/jargon.txt.gz")

MIN_WORDS, MAX_WORDS = 3, 25
# Upper bounds per source for the training sentences (the LM text keeps everything), so that the
# archaic dictionary citations and hacker slang do not dominate.
DEFAULT_CAPS = {"fortunes": None, "wordnet": None, "gcide": 15000, "devil": None,
                "jargon": 4000, "templates": 12000}


# ----------------------------------------------------------------------------------------------
# Readers: each yields chunks of running text (one or more sentences)
# ----------------------------------------------------------------------------------------------
_ATTRIB = re.compile(r"^\s*(--|\u2014|~~)\s*\S")
_SPEAKER = re.compile(r"^\s*[A-Z][A-Za-z .]{0,20}:\s+")


def read_fortunes(root: Path = FORTUNE_DIR):
    if not root.is_dir():
        return
    for f in sorted(root.iterdir()):
        if not f.is_file() or f.suffix in (".dat", ".u8") or f.name in FORTUNE_SKIP:
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        for cookie in text.split("\n%\n"):
            lines = []
            for line in cookie.splitlines():
                if _ATTRIB.match(line):
                    break  # attribution and whatever follows it
                line = _SPEAKER.sub("", line)
                lines.append(line.strip())
            # blank lines separate paragraphs / dialogue turns
            for para in re.split(r"\n\s*\n", "\n".join(lines)):
                para = " ".join(para.split())
                if para:
                    yield para


def read_wordnet(root: Path = WORDNET_DIR):
    for pos in ("noun", "verb", "adj", "adv"):
        f = root / f"data.{pos}"
        if not f.exists():
            continue
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue  # licence header
                bar = line.find(" | ")
                if bar < 0:
                    continue
                for ex in re.findall(r'"([^"]+)"', line[bar:]):
                    ex = ex.strip()
                    if ex:
                        ex = ex[0].upper() + ex[1:]
                        if ex[-1] not in ".!?":
                            ex += "."
                        yield ex


def read_gcide(path: Path = GCIDE):
    """Citations: indented verse/prose blocks closed by ``--Author``."""
    if not path.exists():
        return
    block: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("         ") and line.strip():
                s = line.strip()
                cut = s.find("--")
                if cut >= 0:
                    block.append(s[:cut])
                    text = " ".join(" ".join(block).split())
                    block = []
                    if text:
                        yield _gcide_clean(text)
                else:
                    block.append(s)
            else:
                block = []


def _gcide_clean(text: str) -> str:
    # GCIDE markup: {braces} around cross-references, [accents] escapes like [=e]
    text = re.sub(r"[{}]", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    return text.replace("``", '"').replace("''", '"')


# "word, n.  definition" / "word (n.) definition" at the start of a chunk
_DEF_HEAD = re.compile(r"^[A-Za-z][A-Za-z' -]{0,30},?\s+\(?(?:n|v|vt|vi|adj|adv|prep|interj|pron|conj)\.\)?\s+")
_DEVIL_HEAD = re.compile(r"^[A-Z][A-Z' ,-]+, (?:[a-z]+\.\s*)+")


def read_devil(path: Path = DEVIL):
    if not path.exists():
        return
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    for para in re.split(r"\n\s*\n", text):
        if para.startswith("    "):
            continue  # verse and signatures
        para = " ".join(para.split())
        para = _DEVIL_HEAD.sub("", para)
        para = re.sub(r"[{}]", "", para)
        if para:
            yield para


def read_jargon(path: Path = JARGON):
    if not path.exists():
        return
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    for para in re.split(r"\n\s*\n", text):
        lines = para.splitlines()
        if len(lines) < 2:
            continue
        para = " ".join(para.split())
        # entries start with ":headword: n." -- drop that part
        para = re.sub(r"^:[^:]+:\s*(?:[a-z]+\.\s*)*(?:\[[^\]]*\]\s*)?", "", para)
        para = re.sub(r"\[[^\]]*\]|`|'(?=\w+')", "", para)
        if para:
            yield para


SOURCES = {
    "fortunes": read_fortunes,
    "wordnet": read_wordnet,
    "gcide": read_gcide,
    "devil": read_devil,
    "jargon": read_jargon,
}


# ----------------------------------------------------------------------------------------------
# Template sentences (our own text): numbers, dates, money, times, names, places
# ----------------------------------------------------------------------------------------------
FIRST = ("James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara "
         "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa "
         "Anthony Betty Mark Margaret Donald Sandra Steven Ashley Paul Kimberly Andrew Emily "
         "Joshua Donna Kenneth Michelle Kevin Carol Brian Amanda George Melissa Edward Deborah "
         "Ronald Stephanie Timothy Rebecca Jason Laura Jeffrey Helen Ryan Sharon Jacob Cynthia "
         "Gary Kathleen Nicholas Amy Eric Shirley Jonathan Angela Larry Anna Justin Ruth Scott "
         "Brenda Frank Pamela Raymond Nicole Gregory Katherine Samuel Virginia Benjamin Catherine "
         "Maria Carlos Luis Ahmed Wei Priya Olga Hans Ingrid Pierre Sofia Kenji Aisha").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
        "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
        "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
        "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
        "Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Murphy "
        "Cook Rogers Morgan Peterson Cooper Reed Bailey Bell Kelly Howard Ward Cox Richardson "
        "Wood Watson Brooks Bennett Gray James Hughes Price Sanders Myers Long Ross Foster").split()
CITIES = ("London Paris Boston Chicago Denver Seattle Dallas Houston Atlanta Phoenix Portland "
          "Toronto Dublin Sydney Melbourne Berlin Madrid Rome Vienna Oslo Cairo Nairobi Mumbai "
          "Tokyo Seoul Miami Austin Detroit Memphis Nashville Oakland Glasgow Manchester Bristol "
          "Edinburgh Vancouver Montreal Chicago Philadelphia Baltimore Cleveland Pittsburgh").split()
STREETS = ("Main Oak Maple Pine Cedar Elm Washington Lake Hill Park Church River Spring Market "
           "Mill Center Highland Sunset Jefferson Lincoln Madison Franklin Chestnut Walnut").split()
STREET_KIND = ["Street", "Avenue", "Road", "Lane", "Drive", "Boulevard", "Court", "Place"]
MONTHS = ("January February March April May June July August September October November "
          "December").split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
ITEMS = ("apples books tickets chairs shirts eggs boxes bottles pencils cups lamps plates "
         "candles bicycles coins stamps letters photos keys towels").split()
THINGS = ("the rent|the bill|a new coat|the repair|the ticket|dinner|the groceries|a used car|"
          "the flight|a haircut|the taxi|the concert|the phone|a sandwich|the hotel room").split("|")
ROOMS = ("the kitchen|the office|the lobby|room|the garage|the basement|the library|"
         "the front desk|the hospital|the station").split("|")


def _phone(rng: random.Random) -> str:
    return f"{rng.randint(200, 989)} {rng.randint(200, 999)} {rng.randint(0, 9999):04d}"


def _ph(rng: random.Random) -> str:
    # digits written out with separators; the normaliser reads each group digit by digit
    a, b, c = rng.randint(200, 989), rng.randint(200, 999), rng.randint(0, 9999)
    return f"{a}-{b}-{c:04d}"


def _money(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        return f"${rng.randint(1, 99)}.{rng.randint(0, 99):02d}"
    if r < 0.7:
        return f"${rng.randint(1, 999)}"
    if r < 0.85:
        return f"${rng.randint(1, 99):,}{rng.choice(['', ',000', ',500'])}"
    return f"${rng.randint(1, 9)}.{rng.randint(1, 9)} {rng.choice(['million', 'billion'])}"


def _num(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.4:
        return rng.randint(0, 20)
    if r < 0.7:
        return rng.randint(21, 100)
    if r < 0.9:
        return rng.randint(101, 1000)
    return rng.randint(1001, 99999)


def _time(rng: random.Random) -> str:
    h = rng.randint(1, 12)
    m = rng.choice([0, 0, 5, 10, 15, 20, 30, 30, 40, 45, 50, rng.randint(0, 59)])
    ap = rng.choice(["a.m.", "p.m.", "", "am", "pm"])
    return f"{h}:{m:02d} {ap}".strip()


def _date(rng: random.Random) -> str:
    m, d = rng.choice(MONTHS), rng.randint(1, 28)
    r = rng.random()
    if r < 0.35:
        return f"{m} {d}"
    if r < 0.6:
        return f"{m} {d}, {rng.randint(1900, 2030)}"
    if r < 0.8:
        return f"the {d}{_ordsuffix(d)} of {m}"
    return f"{rng.choice(DAYS)}, {m} {d}{_ordsuffix(d)}"


def _ordsuffix(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _name(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if r < 0.75:
        return rng.choice(FIRST)
    return f"{rng.choice(['Mr.', 'Mrs.', 'Ms.', 'Dr.', 'Professor'])} {rng.choice(LAST)}"


def _addr(rng: random.Random) -> str:
    return f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_KIND)}"


TEMPLATES = [
    lambda r: f"{_name(r)} paid {_money(r)} for {r.choice(THINGS)}.",
    lambda r: f"The meeting with {_name(r)} is at {_time(r)} on {r.choice(DAYS)}.",
    lambda r: f"Please call {_name(r)} back at {_ph(r)}.",
    lambda r: f"My phone number is {_ph(r)}.",
    lambda r: f"The train to {r.choice(CITIES)} leaves at {_time(r)} from platform {r.randint(1, 12)}.",
    lambda r: f"{_name(r)} was born on {_date(r)} in {r.choice(CITIES)}.",
    lambda r: f"We sold {_num(r)} {r.choice(ITEMS)} last week.",
    lambda r: f"There are {_num(r)} {r.choice(ITEMS)} in {r.choice(ROOMS)}.",
    lambda r: f"The total comes to {_money(r)}.",
    lambda r: f"Your balance is {_money(r)}.",
    lambda r: f"Send the package to {_addr(r)}, {r.choice(CITIES)}.",
    lambda r: f"{_name(r)} lives at {_addr(r)}.",
    lambda r: f"The temperature dropped to {r.randint(-20, 40)} degrees on {_date(r)}.",
    lambda r: f"Flight {r.randint(10, 999)} to {r.choice(CITIES)} is delayed until {_time(r)}.",
    lambda r: f"Prices rose by {r.randint(1, 40)}% in {r.randint(1950, 2029)}.",
    lambda r: f"About {r.randint(2, 99)}.{r.randint(1, 9)}% of voters agreed.",
    lambda r: f"Turn left after {r.choice([100, 200, 300, 500])} feet and then drive {r.randint(2, 30)} miles.",
    lambda r: f"I will see you on {_date(r)} at {_time(r)}.",
    lambda r: f"The score was {r.randint(0, 9)} to {r.randint(0, 9)} at halftime.",
    lambda r: (lambda f: f"Room {r.randint(100, 999)} is on the {f}{_ordsuffix(f)} floor.")(r.randint(1, 30)),
    lambda r: f"She finished {(lambda n: f'{n}{_ordsuffix(n)}')(r.randint(1, 50))} out of {r.randint(50, 500)} runners.",
    lambda r: f"The book was first published in {r.randint(1600, 2025)}.",
    lambda r: f"Between {(lambda y: f'{y} and {y + r.randint(1, 30)}')(r.randint(1800, 1990))} the town grew quickly.",
    lambda r: f"He spent {_money(r)} on {r.choice(THINGS)} and {_money(r)} on {r.choice(THINGS)}.",
    lambda r: f"Your order number is {r.randint(10000, 999999)}.",
    lambda r: f"The code is {r.randint(1000, 9999)}.",
    lambda r: f"Add {r.randint(1, 4)}/{r.choice([2, 3, 4, 8])} cup of sugar and {r.randint(2, 12)} eggs.",
    lambda r: f"It is {r.randint(2, 900)} miles from {r.choice(CITIES)} to {r.choice(CITIES)}.",
    lambda r: f"{_name(r)} and {_name(r)} met in {r.choice(CITIES)} in the {r.choice(['1950s', '1960s', '1970s', '1980s', '1990s', '2000s'])}.",
    lambda r: f"Press {r.randint(0, 9)} to speak to {_name(r)}.",
    lambda r: f"The store opens at {r.randint(6, 11)} a.m. and closes at {r.randint(5, 11)} p.m.",
    lambda r: f"We need {_num(r)} more {r.choice(ITEMS)} by {r.choice(DAYS)}.",
    lambda r: f"The population of {r.choice(CITIES)} is about {r.randint(1, 20)} million.",
    lambda r: f"{_name(r)} scored {r.randint(1, 60)} points in {r.randint(2, 82)} games.",
    lambda r: f"Chapter {r.randint(1, 40)} starts on page {r.randint(2, 600)}.",
    lambda r: f"Is {_name(r)} coming on {r.choice(DAYS)} or {r.choice(DAYS)}?",
    lambda r: f"Dial {r.randint(0, 9)}{r.randint(0, 9)}{r.randint(0, 9)} and ask for {_name(r)}.",
    lambda r: f"On {_date(r)}, {_name(r)} moved to {r.choice(CITIES)}.",
    lambda r: f"The bus from {r.choice(CITIES)} arrives at {_time(r)}.",
    lambda r: f"It weighs {r.randint(1, 200)} pounds and costs {_money(r)}.",
]


def template_sentences(n: int, seed: int = 1234):
    rng = random.Random(seed)
    for _ in range(n):
        yield rng.choice(TEMPLATES)(rng)


# ----------------------------------------------------------------------------------------------
# Assembly
# ----------------------------------------------------------------------------------------------
def _ngrams(words: list[str], n: int):
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


class DevFilter:
    """Rejects sentences that equal a development transcript or share a 6-gram with one."""

    def __init__(self, dev_texts, n: int = 6):
        self.n = n
        self.exact = set(dev_texts)
        self.grams = set()
        for t in dev_texts:
            self.grams |= _ngrams(t.split(), n)

    def __call__(self, transcript: str) -> bool:
        if transcript in self.exact:
            return False
        return not (_ngrams(transcript.split(), self.n) & self.grams)


def sentence_id(transcript: str) -> str:
    return hashlib.sha1(transcript.encode()).hexdigest()[:12]


def collect(caps=None, n_templates: int = 16000, seed: int = 1234, log=print):
    """Returns (rows, lm_rows): rows = [(id, source, spoken, transcript)] with 3-25 words (deduped,
    dev-filtered, shuffled, per-source capped); lm_rows = all dev-filtered transcripts (1-60 words)."""
    caps = dict(DEFAULT_CAPS if caps is None else caps)
    dev_ok = DevFilter(devset.dev_texts())
    per_source: dict[str, list] = {}
    lm: dict[str, str] = {}
    stats = Counter()
    readers = dict(SOURCES)
    readers["templates"] = lambda: template_sentences(n_templates, seed)
    for name, reader in readers.items():
        seen_here = []
        for chunk in reader():
            chunk = _DEF_HEAD.sub("", chunk)
            for sent in (split_sentences(chunk) if name != "templates" else [chunk]):
                stats[name + ".candidates"] += 1
                r = spoken_and_transcript(sent, 1, 60)
                if r is None:
                    stats[name + ".rejected"] += 1
                    continue
                spoken, tr = r
                if not dev_ok(tr):
                    stats[name + ".dev_overlap"] += 1
                    continue
                lm.setdefault(tr, name)
                if MIN_WORDS <= len(tr.split()) <= MAX_WORDS:
                    seen_here.append((spoken, tr))
        per_source[name] = seen_here
        log(f"text: {name}: {stats[name + '.candidates']} candidates, "
            f"{len(seen_here)} usable 3-25 word sentences")
    rng = random.Random(seed)
    rows, taken = [], set()
    for name, items in per_source.items():
        uniq = []
        for spoken, tr in items:
            if tr not in taken:
                taken.add(tr)
                uniq.append((sentence_id(tr), name, spoken, tr))
        rng.shuffle(uniq)
        cap = caps.get(name)
        if cap is not None and len(uniq) > cap:
            for _, _, _, tr in uniq[cap:]:
                taken.discard(tr)
            uniq = uniq[:cap]
        stats[name + ".kept"] = len(uniq)
        rows.extend(uniq)
    rng.shuffle(rows)
    return rows, lm, stats


def write_corpus(out: Path, n_test: int = 1200, caps=None, n_templates: int = 16000,
                 seed: int = 1234, log=print):
    out.mkdir(parents=True, exist_ok=True)
    rows, lm, stats = collect(caps, n_templates, seed, log)
    # test sentences: stratified by source (proportional), never templates-only
    test, train = rows[:n_test], rows[n_test:]
    test_set = {r[3] for r in test}

    def dump(name, rs):
        with open(out / f"{name}.tsv", "w", encoding="utf-8") as fh:
            for r in rs:
                fh.write("\t".join(r) + "\n")
        with open(out / f"{name}.txt", "w", encoding="utf-8") as fh:
            for r in rs:
                fh.write(r[3] + "\n")

    dump("train", train)
    dump("test", test)
    lm_lines = sorted(t for t in lm if t not in test_set)
    random.Random(seed).shuffle(lm_lines)
    with open(out / "lm.txt", "w", encoding="utf-8") as fh:
        for t in lm_lines:
            fh.write(t + "\n")
    summary = {
        "train_sentences": len(train), "test_sentences": len(test), "lm_sentences": len(lm_lines),
        "train_words": sum(len(r[3].split()) for r in train),
        "lm_words": sum(len(t.split()) for t in lm_lines),
        "by_source_train": dict(Counter(r[1] for r in train)),
        "by_source_test": dict(Counter(r[1] for r in test)),
        "details": dict(stats),
    }
    (out / "stats.json").write_text(json.dumps(summary, indent=1))
    log(f"text: train {len(train)} sentences ({summary['train_words']} words), test {len(test)}, "
        f"lm {len(lm_lines)} sentences ({summary['lm_words']} words) -> {out}")
    return summary


def read_tsv(path: Path):
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4:
                rows.append(tuple(parts))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DATA_DIR / "text")
    ap.add_argument("--n-test", type=int, default=1200)
    ap.add_argument("--n-templates", type=int, default=16000)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--force", action="store_true", help="rebuild even if train.tsv exists")
    a = ap.parse_args(argv)
    if (a.out / "train.tsv").exists() and (a.out / "stats.json").exists() and not a.force:
        print(f"text: {a.out}/train.tsv exists, skipping (use --force to rebuild)", file=sys.stderr)
        return 0
    write_corpus(a.out, a.n_test, None, a.n_templates, a.seed,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
