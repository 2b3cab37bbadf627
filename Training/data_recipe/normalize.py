"""Text normalisation to the model's alphabet (lowercase a-z, apostrophe, space).

Two stages:

* :func:`expand` rewrites written text into a *spoken form*: numbers, ordinals, years, currency,
  percentages, times and common abbreviations become words, while case and sentence punctuation
  survive (so a TTS engine still phrases the sentence naturally).
* :func:`to_transcript` maps a spoken form to the model alphabet.

:func:`normalize` does both.  :func:`spoken_and_transcript` also rejects text that cannot be
normalised reliably (URLs, code, all-capital acronyms whose pronunciation is ambiguous, leftover
symbols) by returning ``None``.

Pure Python, no dependencies.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = [
    "ALPHABET",
    "cardinal",
    "ordinal",
    "year",
    "digits",
    "expand",
    "to_transcript",
    "normalize",
    "spoken_and_transcript",
    "split_sentences",
]

ALPHABET = "abcdefghijklmnopqrstuvwxyz' "

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand")]
_ORD_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                  "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def _below_100(n: int) -> str:
    if n < 20:
        return _ONES[n]
    t, o = divmod(n, 10)
    return _TENS[t] + ("" if o == 0 else " " + _ONES[o])


def _below_1000(n: int, use_and: bool) -> str:
    h, r = divmod(n, 100)
    parts = []
    if h:
        parts.append(_ONES[h] + " hundred")
    if r:
        if h and use_and:
            parts.append("and")
        parts.append(_below_100(r))
    return " ".join(parts)


def cardinal(n: int, use_and: bool = False) -> str:
    """Cardinal number in words: ``cardinal(1234) == 'one thousand two hundred thirty four'``."""
    if n < 0:
        return "minus " + cardinal(-n, use_and)
    if n < 1000:
        return _below_1000(n, use_and) if n else "zero"
    parts = []
    for value, name in _SCALES:
        if n >= value:
            q, n = divmod(n, value)
            parts.append(cardinal(q, use_and) + " " + name)
    if n:
        if use_and and n < 100:
            parts.append("and")
        parts.append(_below_1000(n, use_and))
    return " ".join(parts)


def ordinal(n: int) -> str:
    """``ordinal(21) == 'twenty first'``, ``ordinal(100) == 'one hundredth'``."""
    words = cardinal(n).split()
    last = words[-1]
    if last in _ORD_IRREGULAR:
        last = _ORD_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last = last + "th"
    return " ".join(words[:-1] + [last])


def year(n: int) -> str:
    """Year reading: 1984 'nineteen eighty four', 1900 'nineteen hundred', 2005 'two thousand five',
    2019 'twenty nineteen', 1805 'eighteen oh five'."""
    if n < 1000 or n > 2099:
        return cardinal(n)
    if 2000 <= n <= 2009:
        return cardinal(n)
    hi, lo = divmod(n, 100)
    if lo == 0:
        return _below_100(hi) + " hundred"
    if lo < 10:
        return _below_100(hi) + " oh " + _ONES[lo]
    return _below_100(hi) + " " + _below_100(lo)


def digits(s: str) -> str:
    """Digit-by-digit reading ('0' is 'zero')."""
    return " ".join(_ONES[int(c)] for c in s if c.isdigit())


def _plural(words: str) -> str:
    """'nineteen eighty' -> 'nineteen eighties', 'six' -> 'sixes'."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    if words.endswith("x") or words.endswith("s"):
        return words + "es"
    return words + "s"


def _decimal(int_part: str, frac: str) -> str:
    head = cardinal(int(int_part.replace(",", ""))) if int_part else "zero"
    return head + " point " + digits(frac)


# --------------------------------------------------------------------------------------------
# Abbreviations (applied before sentence splitting, so their periods do not end sentences)
# --------------------------------------------------------------------------------------------
_ABBREV = [
    (r"\bMrs\.", "Missus"), (r"\bMr\.", "Mister"), (r"\bMs\.", "Miz"), (r"\bDr\.", "Doctor"),
    (r"\bProf\.", "Professor"), (r"\bJr\.", "Junior"), (r"\bSr\.", "Senior"),
    (r"\bCapt\.", "Captain"), (r"\bGen\.", "General"), (r"\bCol\.", "Colonel"),
    (r"\bLt\.", "Lieutenant"), (r"\bSgt\.", "Sergeant"), (r"\bRev\.", "Reverend"),
    (r"\bGov\.", "Governor"), (r"\bSen\.", "Senator"), (r"\bRep\.", "Representative"),
    (r"\bPres\.", "President"), (r"\bHon\.", "Honorable"), (r"\bMt\.", "Mount"),
    (r"\bFt\.", "Fort"), (r"\bAve\.", "Avenue"), (r"\bBlvd\.", "Boulevard"), (r"\bRd\.", "Road"),
    (r"\bInc\.", "Incorporated"), (r"\bLtd\.", "Limited"), (r"\bCorp\.", "Corporation"),
    (r"\bCo\.(?=\s+[a-z]|,)", "Company"), (r"\bDept\.", "Department"), (r"\bUniv\.", "University"),
    (r"\bvs\.?(?=\s)", "versus"), (r"\betc\.", "et cetera"), (r"\bet al\.", "and others"),
    (r"\be\.g\.", "for example"), (r"\bi\.e\.", "that is"), (r"\bcf\.", "compare"),
    (r"\bapprox\.", "approximately"), (r"\bviz\.", "namely"), (r"\besp\.", "especially"),
    (r"\bca\.(?=\s*\d)", "circa"), (r"\bpp\.(?=\s*\d)", "pages"), (r"\bvol\.(?=\s*\d)", "volume"),
    (r"\b[Cc]h\.(?=\s*\d)", "chapter"), (r"\bPh\.\s?D\.", "P H D"), (r"\bfig\.(?=\s*\d)", "figure"),
    (r"\bU\.\s?S\.\s?A\.", "United States of America"), (r"\bU\.\s?S\.", "United States"),
    (r"\bU\.\s?K\.", "United Kingdom"), (r"\bU\.\s?N\.", "United Nations"),
    (r"\bD\.\s?C\.", "D C"), (r"\bA\.\s?D\.", "A D"), (r"\bB\.\s?C\.", "B C"),
    (r"\bJan\.", "January"), (r"\bFeb\.", "February"), (r"\bMar\.(?=\s+\d)", "March"),
    (r"\bApr\.", "April"), (r"\bAug\.", "August"), (r"\bSept?\.", "September"),
    (r"\bOct\.", "October"), (r"\bNov\.", "November"), (r"\bDec\.", "December"),
    (r"\bMon\.", "Monday"), (r"\bTue?s?\.", "Tuesday"), (r"\bWed\.", "Wednesday"),
    (r"\bThu(?:rs)?\.", "Thursday"), (r"\bFri\.", "Friday"), (r"\bSat\.", "Saturday"),
    (r"\bSun\.", "Sunday"),
    (r"\bOK\b", "okay"), (r"\bTV\b", "T V"), (r"\bTV's\b", "T V's"), (r"\bI\.\s?Q\.", "I Q"),
]
_ABBREV = [(re.compile(p), r) for p, r in _ABBREV]

# "St." is Saint before a capitalised name and Street after one.
_SAINT = re.compile(r"\bSt\.(?=\s+[A-Z])")
_STREET = re.compile(r"(?<=[a-z]\s)St\.|\bSt\.")
_AMPM = re.compile(r"\b([ap])\.\s?m\.(?=\W|$)|\b([AP])\.M\.?(?=\W|$)")

_UNITS = {
    "km": "kilometers", "kg": "kilograms", "cm": "centimeters", "mm": "millimeters",
    "mph": "miles per hour", "lbs": "pounds", "lb": "pounds", "oz": "ounces", "ft": "feet",
    "mi": "miles", "kph": "kilometers per hour", "mg": "milligrams", "ml": "milliliters",
    "hrs": "hours", "hr": "hours", "min": "minutes", "sec": "seconds", "in": "inches",
    "yds": "yards", "yd": "yards", "gal": "gallons", "m": "meters", "g": "grams", "l": "liters",
    "kb": "kilobytes", "mb": "megabytes", "gb": "gigabytes", "khz": "kilohertz",
    "mhz": "megahertz", "ghz": "gigahertz", "hz": "hertz", "kw": "kilowatts", "w": "watts",
}
_UNIT_SINGULAR = {
    "kilometers": "kilometer", "kilograms": "kilogram", "centimeters": "centimeter",
    "millimeters": "millimeter", "pounds": "pound", "ounces": "ounce", "feet": "foot",
    "miles": "mile", "milligrams": "milligram", "milliliters": "milliliter", "hours": "hour",
    "minutes": "minute", "seconds": "second", "inches": "inch", "yards": "yard",
    "gallons": "gallon", "meters": "meter", "grams": "gram", "liters": "liter",
    "kilobytes": "kilobyte", "megabytes": "megabyte", "gigabytes": "gigabyte",
    "kilowatts": "kilowatt", "watts": "watt",
}

_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"),
             "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}

_SCALE_WORDS = r"(thousand|million|billion|trillion)"


def _money(sym: str, amount: str, scale: str | None) -> str:
    one, many, sub1, subn = _CURRENCY[sym]
    amount = amount.replace(",", "")
    if scale:
        if "." in amount:
            i, f = amount.split(".", 1)
            return f"{_decimal(i, f)} {scale} {many}"
        return f"{cardinal(int(amount))} {scale} {many}"
    if "." in amount:
        i, f = amount.split(".", 1)
        i = int(i or 0)
        f = int((f + "0")[:2]) if f else 0
    else:
        i, f = int(amount), 0
    parts = []
    if i or not f:
        parts.append(f"{cardinal(i)} {one if i == 1 else many}")
    if f:
        parts.append(f"{cardinal(f)} {sub1 if f == 1 else subn}")
    return " and ".join(parts)


def _time(h: str, m: str, ampm: str | None) -> str:
    hh, mm = int(h), int(m)
    if mm == 0:
        words = cardinal(hh) + ("" if ampm else " o'clock")
    elif mm < 10:
        words = cardinal(hh) + " oh " + cardinal(mm)
    else:
        words = cardinal(hh) + " " + cardinal(mm)
    if ampm:
        words += " " + ampm[0].lower() + " m"
    return words


def _number_token(tok: str, prev_word: str, next_word: str) -> str:
    """Reads a bare integer or decimal token in context."""
    if "." in tok:
        i, f = tok.split(".", 1)
        return _decimal(i, f)
    if "," in tok:
        return cardinal(int(tok.replace(",", "")))
    n = int(tok)
    if tok.startswith("0") and len(tok) > 1:
        return digits(tok)
    pw = prev_word.lower()
    if len(tok) == 4 and 1100 <= n <= 2099 and pw not in {"the", "of", "about", "over", "than", "only", "some", "nearly"}:
        return year(n)
    if len(tok) == 4 and pw in {"in", "since", "year", "until", "till", "by", "from", "during", "before", "after", "circa"} and 1000 <= n <= 2099:
        return year(n)
    if len(tok) >= 6 and pw not in {"the", "of", "about", "over", "than", "some"}:
        # long digit strings without separators (phone, account, zip): digit by digit
        return digits(tok)
    return cardinal(n)


_WS = re.compile(r"\s+")

# Patterns applied in order.  Each is (regex, function(match) -> str).
_RULES: list = []


def _rule(pattern: str, flags: int = 0):
    def deco(fn):
        _RULES.append((re.compile(pattern, flags), fn))
        return fn
    return deco


@_rule(r"([$£€])\s?(\d[\d,]*(?:\.\d+)?)(?:\s+" + _SCALE_WORDS + r"\b)?")
def _r_money(m):
    return " " + _money(m.group(1), m.group(2), m.group(3)) + " "


@_rule(r"(?<![\d-])(?:\(?(\d{3})\)?[-. ])?(\d{3})-(\d{4})\b")
def _r_phone(m):
    groups = [g for g in m.groups() if g]
    return " " + ", ".join(digits(g) for g in groups) + " "


@_rule(r"\b(\d{1,2}):(\d{2})\s*(?:([ap])\.?\s?m\b\.?|([AP])\.?M\b\.?)?")
def _r_time(m):
    ampm = m.group(3) or m.group(4)
    if int(m.group(1)) > 24 or int(m.group(2)) > 59:
        return " " + cardinal(int(m.group(1))) + " " + cardinal(int(m.group(2))) + " "
    return " " + _time(m.group(1), m.group(2), ampm) + " "


@_rule(r"\b(\d{1,2})\s*([ap])\.?\s?m\b\.?|\b(\d{1,2})\s*([AP])\.?M\b\.?")
def _r_hour_ampm(m):
    h = m.group(1) or m.group(3)
    ap = m.group(2) or m.group(4)
    return f" {cardinal(int(h))} {ap.lower()} m "


@_rule(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
def _r_ordinal(m):
    return " " + ordinal(int(m.group(1))) + " "


def _decade_words(century, tens: str) -> str:
    t = int(tens)
    if century is None:
        return "tens" if t == 1 else _plural(_TENS[t])
    c = int(century)
    if t == 0:
        return "two thousands" if c == 20 else _below_100(c) + " hundreds"
    return _below_100(c) + " " + ("tens" if t == 1 else _plural(_TENS[t]))


@_rule(r"\b(1[0-9]|20)(\d)0'?s\b")
def _r_decade_full(m):
    return " " + _decade_words(m.group(1), m.group(2)) + " "


@_rule(r"(?:'|\b)([2-9])0'?s\b")
def _r_decade_short(m):
    return " " + _decade_words(None, m.group(1)) + " "


@_rule(r"(-?\d[\d,]*(?:\.\d+)?)\s?%")
def _r_percent(m):
    tok = m.group(1)
    neg = tok.startswith("-")
    tok = tok.lstrip("-")
    if "." in tok:
        i, f = tok.split(".", 1)
        w = _decimal(i, f)
    else:
        w = cardinal(int(tok.replace(",", "")))
    return " " + ("minus " if neg else "") + w + " percent "


@_rule(r"\b(\d+)/(\d+)\b")
def _r_fraction(m):
    a, b = int(m.group(1)), int(m.group(2))
    if b == 0 or b > 100 or a > 100:
        return f" {cardinal(a)} slash {cardinal(b)} "
    if b == 2:
        den = "half" if a == 1 else "halves"
    elif b == 4:
        den = "quarter" if a == 1 else "quarters"
    else:
        den = ordinal(b) if a == 1 else _plural(ordinal(b))
    return f" {cardinal(a)} {den} "


@_rule(r"\b(\d{4})\s?[-–]\s?(\d{2,4})\b")
def _r_year_range(m):
    a, b = int(m.group(1)), m.group(2)
    if not 1000 <= a <= 2099:
        return f" {cardinal(a)} to {cardinal(int(b))} "
    if len(b) == 2:
        b = str(a // 100) + b
    return f" {year(a)} to {year(int(b))} "


@_rule(r"\b(\d+(?:\.\d+)?)\s?(km|kg|cm|mm|mph|lbs?|oz|ft|mi|kph|mg|ml|hrs?|yds?|gal|kb|mb|gb|khz|mhz|ghz|hz|kw)\b", re.IGNORECASE)
def _r_unit(m):
    num, unit = m.group(1), _UNITS[m.group(2).lower()]
    if "." in num:
        i, f = num.split(".", 1)
        return f" {_decimal(i, f)} {unit} "
    n = int(num)
    return f" {cardinal(n)} {_UNIT_SINGULAR.get(unit, unit) if n == 1 else unit} "


@_rule(r"#\s?(\d+)")
def _r_hash(m):
    return " number " + cardinal(int(m.group(1))) + " "


@_rule(r"\bNo\.\s?(\d+)")
def _r_no(m):
    return " number " + cardinal(int(m.group(1))) + " "


@_rule(r"(?<![\w.])-(\d)")
def _r_minus(m):
    return " minus " + m.group(1)


_NUM = re.compile(r"\d[\d,]*(?:\.\d+)?")
_WORD_BEFORE = re.compile(r"([A-Za-z']+)\W*$")
_WORD_AFTER = re.compile(r"^\W*([A-Za-z']+)")


def _expand_bare_numbers(text: str) -> str:
    out, pos = [], 0
    for m in _NUM.finditer(text):
        tok = m.group(0).rstrip(",")
        # a trailing period belongs to the sentence, not the number
        if tok.endswith("."):
            tok = tok[:-1]
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?|\d+(\.\d+)?", tok) is None:
            # e.g. "1,2,3" -> read each part
            words = " , ".join(_number_token(p, "", "") for p in re.findall(r"\d+", tok))
        else:
            pw = _WORD_BEFORE.search(text[:m.start()])
            nw = _WORD_AFTER.search(text[m.end():])
            words = _number_token(tok, pw.group(1) if pw else "", nw.group(1) if nw else "")
        out.append(text[pos:m.start()])
        out.append(" " + words + " ")
        pos = m.start() + len(tok)
    out.append(text[pos:])
    return "".join(out)


_UNICODE_MAP = {
    "\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u2013": " - ", "\u2014": " - ", "\u2026": "...",
    "\u00a0": " ", "\u00bd": " 1/2 ", "\u00bc": " 1/4 ", "\u00be": " 3/4 ",
}


def _ascii_fold(text: str) -> str:
    for a, b in _UNICODE_MAP.items():
        text = text.replace(a, b)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def expand(text: str) -> str:
    """Written text -> spoken form (words; case and sentence punctuation kept)."""
    text = _ascii_fold(text)
    text = _SAINT.sub("Saint", text)
    text = _STREET.sub("Street", text)
    for pat, rep in _ABBREV:
        text = pat.sub(rep, text)
    for pat, fn in _RULES:
        text = pat.sub(fn, text)
    text = _expand_bare_numbers(text)
    text = _AMPM.sub(lambda m: " " + (m.group(1) or m.group(2)).lower() + " m ", text)
    text = text.replace("&", " and ").replace("+", " plus ").replace("=", " equals ")
    text = text.replace("@", " at ")
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return _WS.sub(" ", text).strip()


_ELIDED = re.compile(r"(?<![a-z])'(tis|twas|twere|twill|twould|tween|em|cause|til|round|n)\b")
_APOS = re.compile(r"(?<![a-z])'|'(?![a-z])")
_NON_ALPHA = re.compile(r"[^a-z' ]+")


def to_transcript(spoken: str) -> str:
    """Spoken form -> model alphabet: lowercase a-z, apostrophe (inside words only), single spaces."""
    t = _ascii_fold(spoken).lower()
    t = _ELIDED.sub(r"\1", t)
    t = _NON_ALPHA.sub(" ", t)
    t = _APOS.sub(" ", t)
    return _WS.sub(" ", t).strip()


def normalize(text: str) -> str:
    """Written text -> transcript in the model alphabet."""
    return to_transcript(expand(text))


# Characters allowed in a spoken form that we hand to a TTS engine.
_SPOKEN_OK = re.compile(r"^[A-Za-z' ,.;:!?\"()\-]+$")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b")
_ACRONYM_OK = {"I", "A"}
_BAD_CONTEXT = re.compile(r"https?:|www\.|\.com\b|\.org\b|[<>{}\[\]|\\/_~^*=@#$%]|\b[a-z]+\.[a-z]+\b|\d")


def spoken_and_transcript(text: str, min_words: int = 1, max_words: int = 10 ** 9):
    """(spoken form, transcript) for a sentence, or None when it should be rejected: leftover
    symbols, URLs/code, ALL-CAPS acronyms (TTS engines spell some and read others as words, so
    the transcript would be ambiguous), or a word count outside [min_words, max_words]."""
    if _BAD_CONTEXT.search(_strip_ok_symbols(text)):
        return None
    spoken = expand(text)
    if not spoken or not _SPOKEN_OK.match(spoken):
        return None
    if any(a not in _ACRONYM_OK for a in _ACRONYM.findall(spoken)):
        return None
    transcript = to_transcript(spoken)
    n = len(transcript.split())
    if n < min_words or n > max_words:
        return None
    # a transcript of mostly single letters is not natural speech
    words = transcript.split()
    if sum(len(w) == 1 for w in words) > max(2, len(words) // 3):
        return None
    return spoken, transcript


def _strip_ok_symbols(text: str) -> str:
    """Removes the symbols and digits that :func:`expand` handles, so that _BAD_CONTEXT only sees
    what would be left over."""
    t = re.sub(r"[$£€]\s?\d[\d,]*(\.\d+)?", " ", text)
    t = re.sub(r"\d[\d,]*(\.\d+)?\s?%", " ", t)
    t = re.sub(r"#\s?\d+", " ", t)
    t = re.sub(r"\b\d+/\d+\b", " ", t)
    t = re.sub(r"\d{1,2}:\d{2}", " ", t)
    t = re.sub(r"\b(\d+)(st|nd|rd|th|s|am|pm|AM|PM|" + "|".join(_UNITS) + r")?\b", " ", t)
    t = re.sub(r"[+&]", " ", t)
    # abbreviations with internal periods that expand() knows
    t = re.sub(r"\b(e\.g|i\.e|a\.m|p\.m|U\.\s?S\.\s?A|U\.\s?S|U\.\s?K|U\.\s?N|D\.\s?C|A\.\s?D|B\.\s?C)\.", " ", t)
    return t


# --------------------------------------------------------------------------------------------
# Sentence splitting (on spoken forms or written text after abbreviation expansion)
# --------------------------------------------------------------------------------------------
_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9$£€])")
_INITIAL = re.compile(r"\b([A-Z])\.\s*(?=[A-Z])")


def split_sentences(text: str) -> list[str]:
    """Splits running text into sentences.  Abbreviations are expanded first so that their periods
    do not end a sentence; single-letter initials ("J. R. Smith") are joined."""
    text = _ascii_fold(text)
    text = _SAINT.sub("Saint", text)
    for pat, rep in _ABBREV:
        text = pat.sub(rep, text)
    text = _INITIAL.sub(r"\1 ", text)
    text = _WS.sub(" ", text).strip()
    if not text:
        return []
    return [s.strip() for s in _SENT_END.split(text) if s.strip()]
