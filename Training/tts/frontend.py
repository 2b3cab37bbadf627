"""Text front end of the synthesizer: normalise -> clauses -> espeak-ng IPA phonemes -> token ids.

The Swift engine does the same in ``Sources/SSMSynthesis/Text`` (``TextNormalizer``, ``Phonemizer``,
``PhonemeTokenizer``); both call the same C function of the same library, so the phoneme strings are
identical (tested against a fixture written here, ``Tests/Fixtures/tts_frontend.json``).

Steps
1. ``normalize.expand`` (the recipe's normaliser: numbers, money, times, abbreviations ...).
2. Split into clauses after ``, . ; : ! ?`` (the mark stays with its clause). ``; :`` count as ``,``.
3. Each clause through ``espeak_TextToPhonemes(textmode=UTF8, phonememode=IPA)`` with voice ``en-us``
   (libespeak-ng; the phonemizer Piper uses). Pieces it returns are joined with one space.
4. Tokens: ``^`` + clause phonemes, its mark (``.`` added to the last clause if it has none), ``" "`` between
   clauses ... + ``$``. Every Unicode scalar of the IPA string is one token; scalars not in the
   vocabulary are dropped.
"""
from __future__ import annotations

import ctypes
import re
import sys
import threading
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data_recipe.normalize import expand  # noqa: E402  (Training/ on sys.path)

PAD, BOS, EOS, SPACE = "_", "^", "$", " "
MARKS = [",", ".", "?", "!"]
_MARK_MAP = {";": ",", ":": ","}
_CLAUSE = re.compile(r"[^,.;:!?]+[,.;:!?]*")

_lock = threading.Lock()
_lib = None


def _espeak():
    global _lib
    with _lock:
        if _lib is None:
            lib = ctypes.CDLL("libespeak-ng.so.1")
            lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
            lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            # AUDIO_OUTPUT_SYNCHRONOUS = 2, no buffer, default data path, espeakINITIALIZE_DONT_EXIT
            if lib.espeak_Initialize(2, 0, None, 0x8000) <= 0:
                raise RuntimeError("espeak_Initialize failed")
            if lib.espeak_SetVoiceByName(b"en-us") != 0:
                raise RuntimeError("espeak-ng has no voice en-us")
            _lib = lib
        return _lib


def phonemize_clause(text: str) -> str:
    """IPA for one clause (no punctuation handling)."""
    lib = _espeak()
    buf = ctypes.create_string_buffer(text.encode("utf-8"))
    ptr = ctypes.c_void_p(ctypes.addressof(buf))
    pieces = []
    with _lock:
        while ptr.value:
            r = lib.espeak_TextToPhonemes(ctypes.byref(ptr), 1, 2)  # espeakCHARS_UTF8, IPA
            if r is None:
                break
            s = r.decode("utf-8").strip()
            if s:
                pieces.append(s)
    return " ".join(pieces)


def clauses(text: str) -> list[tuple[str, str]]:
    """(words, mark) pairs; mark is one of MARKS or '' (no mark)."""
    out = []
    for m in _CLAUSE.finditer(text):
        chunk = m.group(0)
        words = chunk.rstrip(",.;:!?").strip()
        tail = chunk[len(chunk.rstrip(",.;:!?")):]
        mark = ""
        for c in tail:  # strongest mark wins: ? ! . ,
            c = _MARK_MAP.get(c, c)
            if not mark or MARKS.index(c) > MARKS.index(mark):
                mark = c
        if words and any(ch.isalnum() for ch in words):
            out.append((words, mark))
        elif out and mark and not out[-1][1]:
            out[-1] = (out[-1][0], mark)
    return out


def phoneme_string(text: str) -> str:
    """The whole phoneme string the model reads, before the vocabulary lookup (BOS/EOS not included)."""
    cl = clauses(expand(text))
    parts = []
    for i, (words, mark) in enumerate(cl):
        if i == len(cl) - 1 and not mark:
            mark = "."
        ph = phonemize_clause(words)
        if ph:
            parts.append(ph + mark)
    return " ".join(parts)


def tokens(text: str) -> list[str]:
    return [BOS] + list(phoneme_string(text)) + [EOS]


def build_vocab(strings) -> list[str]:
    seen = set()
    for s in strings:
        seen.update(s)
    fixed = [PAD, BOS, EOS, SPACE] + MARKS
    return fixed + sorted(c for c in seen if c not in fixed)


def encode(phonemes: str, vocab: list[str]) -> list[int]:
    index = {c: i for i, c in enumerate(vocab)}
    return [index[BOS]] + [index[c] for c in phonemes if c in index] + [index[EOS]]


if __name__ == "__main__":
    for line in sys.argv[1:] or sys.stdin:
        print(phoneme_string(line.strip()))
