#!/usr/bin/env python3
"""Extra language-model text: the definition sentences of GCIDE (Debian ``dict-gcide``, GPL-2+).

    python Training/lm/gcide_definitions.py --out Training/data/lm/gcide_defs.txt \\
        [--exclude Training/data/text/test.txt]
    cat Training/data/text/lm.txt Training/data/lm/gcide_defs.txt | \\
        python Training/lm/build_arpa.py --text - --order 3 --vocab-size 30000 --prune 1 1 --out …

The recipe's text corpus (``Training/data_recipe/text_corpus.py``) takes only GCIDE's literary
citations; this takes the definitions around them (about 2.7 M words, twice the corpus), for
language models only, never for synthesis.  Tried in session 14 and **not chosen**: on the selection
sets the extended LM scored worse than the shipped one (Training/README.md, step 10; that comparison
ran with a first version of this file that cut each usage note to its first line).  It is kept so that
the comparison can be repeated.

What a definition is here: each paragraph of an entry (lines between blank lines or ``[1913 Webster]``
-style source tags), without the headword line's head (``Word \\Pro*nun"ci*a`tion\\, n.``), bracketed
spans (etymologies, sources), ``{}`` cross-reference braces, ``--Author.`` tags, sense numbers
(``1.``, ``(a)``) and the citation lines (indented nine spaces or more, which ``text_corpus`` reads).
``Syn:`` paragraphs (lists of synonyms) are dropped; ``Note:`` paragraphs (usage notes, which go on at
the citations' indent) are kept whole, without the word "Note".  Field labels such as ``(Bot.)`` go.
Sentences are split and normalised with the corpus's own ``normalize`` rules (3-60 words),
deduplicated, and dropped when they equal or share a 6-gram with a development transcript
(``devset.dev_texts``) or with a line of ``--exclude`` (the held-out test sentences, whose scores would
otherwise flatter this LM).
"""
from __future__ import annotations

import argparse
import gzip
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from Training.data_recipe import devset  # noqa: E402
from Training.data_recipe.normalize import spoken_and_transcript, split_sentences  # noqa: E402
from Training.data_recipe.text_corpus import GCIDE, DevFilter  # noqa: E402

CITATION_INDENT = " " * 9
# "Coagulate \Co*ag"u*late\, v. t. " -> ""
_HEAD = re.compile(r"^[^\\]*\\[^\\]*\\,?\s*(?:(?:[a-z]{1,6}\.\s*)+)?")
_SOURCE_TAG = re.compile(r"\[[^\]]*\]")
# "--Shak.", "--Sir W. Scott." (up to three words before the last, which ends with a period)
_AUTHOR = re.compile(r"--\s*(?:[A-Z][\w']*\.?\s+){0,3}[A-Z][\w']*\.")
# field labels such as "(Bot.)", "(Physiol. Chem.)"
_LABEL = re.compile(r"\((?:[A-Z][a-z]*\.\s*)+\)")
# sense numbers "1." … "99." and "(a)"; four-digit years stay
_SENSE_START = re.compile(r"^\s*(?:\d{1,2}\.|\([a-z]\))\s*")
_SENSE_INSIDE = re.compile(r"\s(?:\d{1,2}\.|\([a-z]\))\s")


def paragraphs(lines):
    """(is the entry's head paragraph, text) for each paragraph of a GCIDE dict file's lines."""
    par: list[str] = []
    head = False
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip() or line.startswith(CITATION_INDENT) or _SOURCE_TAG.fullmatch(line.strip()):
            if line.startswith(CITATION_INDENT) and line.strip():
                if par and par[0].startswith("Note:") and not _SOURCE_TAG.fullmatch(line.strip()):
                    par.append(line.strip())  # a usage note goes on at the citations' indent
                continue  # a citation line inside a paragraph: skipped, the paragraph goes on
            if par:
                yield head, " ".join(par)
            par, head = [], False
            continue
        if not line[0].isspace():  # a new entry's headword line
            if par:
                yield head, " ".join(par)
            par, head = [line.strip()], True
            continue
        par.append(line.strip())
    if par:
        yield head, " ".join(par)


def clean(head: bool, text: str) -> str:
    """A paragraph without its markup (see the module docstring); "" for a synonym list."""
    if text.startswith("Syn:"):
        return ""
    if text.startswith("Note:"):
        text = text[len("Note:"):]
    if head:
        text = _HEAD.sub("", text)
    for _ in range(2):  # one level of nesting, as in "[L. coagulatus, p. p. of [=c]oagulare]"
        text = re.sub(r"\[[^\[\]]*\]", "", text)
    text = _AUTHOR.sub("", text)
    text = _LABEL.sub("", text)
    text = re.sub(r"[{}]", "", text)
    text = _SENSE_START.sub("", text)
    text = _SENSE_INSIDE.sub(" ", text)
    return " ".join(text.split())


def definition_sentences(lines, exclude=()) -> list[str]:
    """Normalised, deduplicated definition sentences of GCIDE `lines`, filtered against the
    development transcripts and the `exclude` sentences (equal, or a shared 6-gram)."""
    dev_ok = DevFilter(devset.dev_texts())
    excl_ok = DevFilter(list(exclude))
    seen: set[str] = set()
    out = []
    for head, text in paragraphs(lines):
        text = clean(head, text)
        if len(text.split()) < 3:  # before normalisation: short paragraphs (labels, "See X.") go whole
            continue
        for sent in split_sentences(text):
            r = spoken_and_transcript(sent, 3, 60)
            if r is None:
                continue
            tr = r[1]
            if tr in seen or not dev_ok(tr) or not excl_ok(tr):
                continue
            seen.add(tr)
            out.append(tr)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gcide", type=Path, default=GCIDE, help="gcide.dict.dz (or a plain-text dict file)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--exclude", type=Path, action="append", default=[],
                    help="sentences (one a line) that must not occur, nor share a 6-gram (repeatable)")
    a = ap.parse_args(argv)
    if not a.gcide.exists():
        ap.error(f"{a.gcide} not found (Debian package dict-gcide)")
    exclude = [ln.strip() for p in a.exclude for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    opener = gzip.open if a.gcide.suffix in (".dz", ".gz") else open
    with opener(a.gcide, "rt", encoding="utf-8", errors="replace") as fh:
        sents = definition_sentences(fh, exclude)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("".join(s + "\n" for s in sents), encoding="utf-8")
    print(f"gcide definitions: {len(sents)} sentences, {sum(len(s.split()) for s in sents)} words -> {a.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
