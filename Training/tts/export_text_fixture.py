"""Writes ``Tests/Fixtures/text_normalization.tsv``: inputs and what ``normalize.expand`` makes of them.

The Swift port (``Sources/SSMSynthesis/Text/TextNormalizer.swift``) must reproduce the Python
normaliser the synthesizer's training text went through; ``Tests/SSMSynthesisTests/
TextNormalizerTests.swift`` checks every row of this file.

Rows:
* hand-made cases for every rule of ``expand`` (numbers, years, money, times, ordinals, decades,
  percentages, fractions, ranges, units, phone numbers, "#"/"No.", minus signs, abbreviations,
  Unicode folding, symbols, edge cases);
* real text: chunks sampled (seeded) from the corpus readers of ``data_recipe.text_corpus`` (fortunes,
  WordNet, GCIDE, Devil's Dictionary, Jargon File; the raw text, before ``split_sentences``) that
  contain digits, symbols or non-ASCII characters, plus generated template sentences;
* spoken forms from column 3 of ``Training/data/text/train.tsv`` (already normalised text, which
  the synthesizer is also given).

File format (UTF-8, "\\n" line ends): a header line ``input<TAB>expected``, then one row per line,
two columns separated by one TAB.  In both columns a backslash is written ``\\\\``, a TAB ``\\t``, a
line feed ``\\n`` and a carriage return ``\\r``; every other character is written as is.

The corpus readers need the Debian packages listed in Training/DATA.md (fortunes, wordnet-base,
dict-gcide, dict-devil, jargon-text); sources that are missing are skipped, so regenerate the fixture
on a machine that has them.

Run from the repository root: ``python Training/tts/export_text_fixture.py``.
"""
from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Training"))
from data_recipe.normalize import expand  # noqa: E402  (Training/ on sys.path)
from data_recipe import text_corpus  # noqa: E402

OUT = ROOT / "Tests" / "Fixtures" / "text_normalization.tsv"
TRAIN_TSV = ROOT / "Training" / "data" / "text" / "train.tsv"
SEED = 1234
PER_SOURCE = 50          # raw chunks per corpus source
N_TEMPLATES = 50         # generated template sentences
N_SPOKEN = 40            # lines from train.tsv column 3
MAX_CHARS = 400          # longest corpus chunk taken

# Cases for each rule of expand(); the expected strings come from running expand().
HAND_CASES = [
    # edge cases
    "", " ", "   \t\n  ", ".", "...", "?!", ",;:", "- - -", "!!!???", "()", "\"\"", "''", "*", "~",
    "Hello, world!", "There are thirty three eggs in the office.",
    # cardinals
    "0", "7", "13", "21", "40", "99", "100", "101", "110", "999", "1000", "1001", "1010", "1099",
    "12345", "99999", "100000", "999999", "1000000", "1000001", "7 apples and 13 pears.",
    "I counted 0 birds.", "He is 21 years old.", "Only 100 people came.", "about 1000 people",
    # years and four-digit numbers
    "2024", "1999", "1999 was a good year.", "In 1999 we met.", "in 1066 the Normans came",
    "since 1000 years", "circa 1050", "the 1999 people", "of 2024", "over 1500 miles", "nearly 2000 cars",
    "some 1200 men", "2000", "2005", "2009", "2010", "2019", "1900", "1805", "1100", "1099 in 1099",
    "until 1010", "by 1001 votes", "year 1000", "3000", "0123", "007", "0",
    # long digit strings
    "123456", "call 5551234567 now", "the 1234567 people", "of 123456", "about 12345678",
    "12345678901234567890123456789", "the 12345678901234567890123456789 stars",
    "the 1000000000000000000000 grains", "the 1000000000000 things", "the 999999999999999 ants",
    # separators and decimals
    "1,234,567", "1,234", "12,345.67", "3.14", "0.5", "pi is 3.14159.", "1,2,3", "1,23,456",
    "12,34", "1,234,56", "1.2.3", "version 2.0.1", "0.001", "1,000,000,000", "5,", "5,,", "Add 5, then 6.",
    "The number 42.", "42...", "1.", ".5", "1.5.", "10,000 men", "100,000,000,000,000 dollars",
    # negative numbers
    "-5", "-5 degrees", "It was -12.5 outside.", "from -3 to -7", "x-5", "5-3", "a -b", "3 - 2", "1.-5",
    "--5", "(-5)",
    # money
    "$3.50", "$3", "$1", "$0.01", "$0.99", "$1.01", "$3.5", "$3.505", "$.5", "$ 20", "$1,000",
    "$1,000,000", "$12,345.67", "£20", "£1.50", "£0.01", "£1 and 1p", "€1.5 million", "€2 billion",
    "$3 trillion", "$1.25 thousand", "$45 million dollars", "$5, please", "$1,", "$100 bill",
    "It cost $3.50 and £20.", "Pay €9.99 now!", "$19.95.", "$0", "$0.00", "$10.10",
    # percent
    "10%", "10 %", "3.5%", "-2%", "-2.5 %", "100%", "1,000%", "0.5%", "50% off", "1,2.5%",
    # fractions
    "3/4", "1/2", "1/4", "2/4", "1/3", "2/3", "5/8", "1/100", "3/100", "7/101", "101/2", "1/0", "0/5",
    "1/1", "22/7", "24/7", "9/11", "and/or", "1/2/2020", "a 1/2 inch pipe",
    # ordinals
    "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "100th", "101st",
    "111th", "1000th", "1ST", "2Nd", "1th", "the 5th of May", "May 1st, 2024", "on the 3rd floor",
    # times
    "10:30", "10:00", "7:05", "12:00", "0:00", "23:59", "24:00", "25:00", "10:60", "99:99",
    "10:30am", "10:30 am", "10:30 a.m.", "10:30 AM", "10:30 A.M.", "10:30 PM", "10:30 p.m. sharp",
    "9:00 p.m.", "9:00 P.M", "3:15pm", "10:30 next", "at 1:05, please", "12:30:45", "08:15",
    # hours with am/pm
    "7am", "7 am", "7 a.m.", "5 p.m.", "5 P.M.", "5PM", "5 pm.", "12 noon", "11 p.m. tonight",
    "From 9am to 5pm.", "at 7am.", "6 a.m., then", "5 am I", "5 amps", "5 pmx",
    # leftover a.m. / p.m.
    "in the a.m.", "early a.m. flights", "P.M. only", "the a.m. and p.m. shifts", "a.m.", "P.M",
    # decades
    "1990s", "1990's", "the 1980s", "1800s", "1900s", "2000s", "2010s", "1910s", "'80s", "80s",
    "the '60s and '70s", "20s", "10s", "90's", "1960s-era", "in the 2020s.",
    # ranges
    "1990-1995", "1990-95", "1990 - 1995", "1990–1995", "1990—1995", "1939-45", "2000-2010", "0999-1000",
    "3000-3500", "1066-1087", "pages 1200-1300", "1990-5", "1990-19955",
    # units
    "5km", "5 km", "1 km", "1km", "3kg", "2.5kg", "1 lb", "2 lbs", "10 lb", "60 mph", "1 mph", "12 oz",
    "6 ft", "1 ft", "3 mi", "100 kph", "500 mg", "250 ml", "2 hrs", "1 hr", "3 yds", "1 yd", "5 gal",
    "64 kb", "512 MB", "1 GB", "2.4 GHz", "3 khz", "50 Hz", "100 kW", "10 KM", "5 cm", "5mm",
    "5 m", "5 g", "5 min", "5 sec", "5 in", "5 kmh", "5 kms",
    # phone numbers
    "555-1234", "555-123-4567", "(555) 123-4567", "(555)123-4567", "555.123.4567", "555 123-4567",
    "1-800-555-1234", "Call 555-1234.", "my number is 212-555-0199", "x555-1234", "5555-1234",
    "555-12345",
    # number signs
    "#1", "# 1", "#42 is next", "We're #1!", "No. 5", "No.5", "No. 10 Downing Street", "no. 5",
    "Number #7", "#", "##3",
    # abbreviations
    "Mr. Smith", "Mrs. Smith", "Ms. Smith", "Dr. Jones", "Prof. Lee", "John Smith Jr. and Sr.",
    "Capt. Hook", "Gen. Lee", "Col. Sanders", "Lt. Dan", "Sgt. Pepper", "Rev. King", "Gov. Brown",
    "Sen. Smith", "Rep. Jones", "Pres. Lincoln", "Hon. Judge", "Mt. Everest", "Ft. Worth",
    "Fifth Ave.", "Sunset Blvd.", "Abbey Rd.", "Acme Inc.", "Acme Ltd.", "Acme Corp.", "Acme Co. and",
    "Acme Co., Ltd.", "Acme Co.", "Acme Co. Ltd", "the Dept. of Energy", "Univ. of Oxford",
    "cats vs. dogs", "cats vs dogs", "apples, pears, etc.", "Smith et al. (2020)", "e.g. this",
    "i.e. that", "cf. above", "approx. 5", "viz. the", "esp. now", "ca. 1500", "ca 1500", "pp. 10-20",
    "vol. 3", "ch. 5", "Ch. 12", "Ch. five", "Ph.D. student", "Ph. D.", "fig. 4", "the U.S.A.",
    "the U.S. Army", "U. S. A.", "the U.K.", "the U.N.", "Washington, D.C.", "100 A.D.", "500 B.C.",
    "Jan. 5", "Feb. 14", "Mar. 3", "Mar. it", "Apr. 1", "Aug. 15", "Sept. 1", "Sep. 1", "Oct. 31",
    "Nov. 11", "Dec. 25", "Mon. morning", "Tue. night", "Tues. night", "Wed. noon", "Thu. eve",
    "Thurs. eve", "Fri. night", "Sat. 9am", "Sun. 10am", "OK", "OK.", "OKAY", "TV", "TV's best",
    "TVs", "I.Q.", "I. Q.", "St. Louis", "St. Paul's", "Main St.", "Main St. is here", "Oak St",
    "St. is here", "123 Main St., Springfield", "Mrs.Smith", "Dr.Who", "DR. NO",
    # Unicode folding
    "\u2018quoted\u2019", "\u201cquoted\u201d", "it\u2019s", "don\u02bct", "`tick'", "acute\u00b4s",
    "a\u2013b", "a\u2014b", "wait\u2026", "non\u00a0breaking", "\u00bd cup", "1\u00bd cups",
    "\u00bc", "2\u00be", "caf\u00e9", "na\u00efve", "r\u00e9sum\u00e9", "Z\u00fcrich", "S\u00e3o Paulo",
    "Stra\u00dfe", "\u00e6on", "\u0153uvre", "\u00f8re", "\ufb01ne", "\ufb02y", "x\u00b2", "10\u00b3",
    "H\u2082O", "\u2460", "\u2153 cup", "\u2155", "\u2122", "\u00a9 2024", "\u2160\u2161\u2162",
    "\uff11\uff12\uff13", "\u0661\u0662\u0663", "\u0663\u0660%", "\u0967\u0968", "$\u0665", "\u0661,\u0662\u0663\u0664",
    "e\u0301", "n\u0303", "\u212b", "\u212a", "\u017fhip", "5 \u212am", "1\u017ft",
    "\u0130stanbul", "\u0131", "\u03a9mega", "\u041c\u043e\u0441\u043a\u0432\u0430 2024",
    "\u4e2d\u6587 123", "\u65e5\u672c\u8a9e\u30c6\u30ad\u30b9\u30c8", "\u0928\u092e\u0938\u094d\u0924\u0947 5",
    "\u0645\u0631\u062d\u0628\u0627 12", "\u05e9\u05dc\u05d5\u05dd", "\u0149", "\u3000wide\u3000space\u3000",
    "a\u2009b", "a\u200bb", "a\u2028b", "a\u0085b", "a\x1cb", "a\x0bb",
    # emoji and symbols
    "\U0001f600", "I \u2764\ufe0f NY", "1\ufe0f\u20e3", "\U0001f44d\U0001f3fd 5 stars",
    "\U0001f1fa\U0001f1f8", "\U0001f468\u200d\U0001f469\u200d\U0001f467 3", "\u2605\u2605\u2605",
    "Tom & Jerry", "1+1=2", "a = b", "me@example.com", "@home", "C++", "AT&T", "R&D", "50/50",
    "a/b", "<tag>", "{x}", "[1]", "x_1", "x^2", "|", "\\", "100\u00b0F", "5\u00b0C", "\u00a5100",
    "\u20b9500", "\u00a250", "\u00a7 5", "\u00b6 3",
    # tabs, newlines and mixed whitespace
    "a\tb", "line one\nline two", "a\r\nb", "  leading and trailing  ", "x ,y", "x , y . z !",
    "a  ;  b", "What ?", "Done .",
    # mixtures
    "On Jan. 5, 2024 at 10:30 a.m., Dr. Smith paid $3.50 for 2 coffees at No. 5 Main St.",
    "The 1990s saw 3/4 of the 1st-place teams earn 10% more, or about $1.5 million.",
    "Call (555) 123-4567 or 555-1234 before 5 p.m. on Sept. 1st.",
    "He ran 5km in 25:30, then 3 mi at 6 mph.",
    "Between 1939-45 over 1,000,000 people, i.e. about 2% of them, moved.",
    "It's 7am -- time for the '80s show on TV!",
    "Pages 12-15 of vol. 3, ch. 2 (fig. 4).", "Room 101 is on the 3rd floor.",
    "Temperature: -5 to 10 degrees.", "Score: 3-2.", "x86", "a4", "MP3", "3D", "H2O", "COVID-19",
    "Windows 95", "Boeing 747", "the 747", "route 66", "Catch-22", "7-Eleven", "4x4", "2x", "1.5x",
    "0x1F", "v1.2", "12abc", "abc123def", "3rd-party", "5-year-old", "10-15 minutes", "2-for-1",
    "9-5", "24-7", "1-2-3", "1 2 3", "100-200", "1000-2000", "2020/21", "12/25/2024",
]

# digits, symbols expand() reads, non-ASCII, or an abbreviation it expands
_INTERESTING = re.compile(r"[0-9$£€%#&@+=/]|[^\x00-\x7f]|\b(?:Mrs?|Ms|Dr|St|No|Jr|vs|etc|e\.g|i\.e|[ap]\.m)\.")


def escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def corpus_cases(rng: random.Random, log=print) -> list[str]:
    cases = []
    for name, reader in text_corpus.SOURCES.items():
        chunks = sorted({c for c in reader() if len(c) <= MAX_CHARS and _INTERESTING.search(c)})
        take = rng.sample(chunks, min(PER_SOURCE, len(chunks)))
        log(f"{name}: {len(chunks)} chunks with digits/symbols, {len(take)} taken")
        cases += take
    cases += list(text_corpus.template_sentences(N_TEMPLATES, seed=SEED))
    return cases


def spoken_cases(rng: random.Random) -> list[str]:
    if not TRAIN_TSV.exists():
        return []
    lines = sorted(r[2] for r in text_corpus.read_tsv(TRAIN_TSV))
    return rng.sample(lines, min(N_SPOKEN, len(lines)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    rng = random.Random(SEED)
    inputs = HAND_CASES + corpus_cases(rng) + spoken_cases(rng)
    seen, rows = set(), []
    for text in inputs:
        if text not in seen:
            seen.add(text)
            rows.append((text, expand(text)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("input\texpected\n")
        for text, expected in rows:
            fh.write(escape(text) + "\t" + escape(expected) + "\n")
    print(f"{len(rows)} rows -> {args.out}")


if __name__ == "__main__":
    main()
