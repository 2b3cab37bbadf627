"""Tests of Training/evaluate.py helpers: Whisper text normalisation and the telephone channel."""
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import evaluate as E


@pytest.mark.parametrize("raw,words", [
    ("I have 3 cats.", "i have three cats"),
    ("Go forward 10 meters.", "go forward ten meters"),
    ("Five, 5.", "five five"),
    ("It's 10:30 a.m.", "it's ten thirty a m"),
    ("Mr. Dashwood paid $5.", "mister dashwood paid five dollars"),
    ("He was not an ill-disposed young man.", "he was not an ill disposed young man"),
    ("About 25% of 1,200 people.", "about twenty five percent of one thousand two hundred people"),
    ("The 21st of May, 1984.", "the twenty first of may nineteen eighty four"),
    ("[BLANK_AUDIO]", ""),
    ("(upbeat music) Hello there!", "hello there"),
])
def test_whisper_text(raw, words):
    assert E.whisper_text(raw) == words


def test_numbers_in_whisper_output_are_not_errors():
    pairs = [("ten of clubs", "10 of clubs."), ("four queen of clubs", "4 Queen of Clubs")]
    assert E.score(pairs)["wer"] > 0  # the plain normaliser drops digits ...
    s = E.score([(ref, E.whisper_text(hyp)) for ref, hyp in pairs])
    assert s["wer"] == 0 and s["cer"] == 0 and s["words"] == 7  # ... the Whisper mapping reads them


def _sine(path, freq, sr=16000, seconds=1.0, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    sf.write(str(path), (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, subtype="PCM_16")


def _rms_db(x):
    return 20 * np.log10(np.sqrt(np.mean(np.square(x))) + 1e-12)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_telephone_wav_is_8k_mulaw_same_length_and_band_limited(tmp_path):
    src = tmp_path / "tone1k.wav"
    _sine(src, 1000.0)
    out = E.telephone_wav(str(src), str(tmp_path / "tel.wav"))
    info = sf.info(out)
    assert info.samplerate == 8000 and info.channels == 1
    assert info.format == "WAV" and info.subtype == "ULAW"
    assert abs(info.frames - 8000) <= 16
    y, _ = sf.read(out, dtype="float32")
    # a 1 kHz tone passes the 300-3400 Hz band almost unchanged (0.5 amplitude -> about -9 dBFS)
    assert abs(_rms_db(y) - _rms_db(0.5 * np.sin(np.linspace(0, 2000 * np.pi, 8000)))) < 1.0
    low = tmp_path / "tone100.wav"
    _sine(low, 100.0)
    y_low, _ = sf.read(E.telephone_wav(str(low), str(tmp_path / "tel_low.wav")), dtype="float32")
    assert _rms_db(y_low) < _rms_db(y) - 20  # 100 Hz is below the telephone band
    # PocketSphinx and Whisper get it back at 16 kHz, same length
    up = E.to_wav16k(out, str(tmp_path / "up.wav"))
    info16 = sf.info(up)
    assert info16.samplerate == 16000 and info16.subtype == "PCM_16"
    assert abs(info16.frames - 16000) <= 32


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_telephone_copy_is_repeatable(tmp_path):
    """The dithered mu-law conversion gives the same bytes every run, so telephone rows are comparable."""
    src = tmp_path / "noise.wav"
    rng = np.random.default_rng(3)
    sf.write(src, (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000, subtype="PCM_16")
    a = E.telephone_wav(str(src), str(tmp_path / "a.wav"))
    b = E.telephone_wav(str(src), str(tmp_path / "b.wav"))
    assert Path(a).read_bytes() == Path(b).read_bytes()
    ua = E.to_wav16k(a, str(tmp_path / "ua.wav"))
    ub = E.to_wav16k(b, str(tmp_path / "ub.wav"))
    assert Path(ua).read_bytes() == Path(ub).read_bytes()


def test_missing_pocketsphinx_is_a_clear_error_before_any_work(tmp_path, monkeypatch, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio_filepath": "/nonexistent.wav", "text": "x", "duration": 1.0}\n')
    monkeypatch.setattr(E, "POCKETSPHINX", "pocketsphinx_continuous_not_installed")
    monkeypatch.setattr(sys, "argv", ["evaluate.py", "--model", str(tmp_path), "--binary", "/bin/false",
                                      "--manifest", str(manifest), "--pocketsphinx"])
    with pytest.raises(SystemExit) as e:
        E.main()
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "pocketsphinx_continuous_not_installed" in err and "apt-get install pocketsphinx" in err


def test_a_failing_pocketsphinx_is_an_error_not_an_empty_transcript(tmp_path, monkeypatch):
    fake = tmp_path / "ps"
    fake.write_text("#!/bin/sh\necho 'ERROR: acoustic model not found' >&2\nexit 1\n")
    fake.chmod(0o755)
    wav = tmp_path / "a.wav"
    sf.write(str(wav), np.zeros(16000, dtype=np.float32), 16000)
    monkeypatch.setattr(E, "POCKETSPHINX", str(fake))
    with pytest.raises(RuntimeError, match="exit 1.*a.wav.*acoustic model not found"):
        E.run_pocketsphinx([{"audio": str(wav), "text": "x"}])
