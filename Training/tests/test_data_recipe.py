"""Fast tests of the data recipe (Training/data_recipe): text normalisation, manifests, the
LibriSpeech reader, augmentation and (when the TTS programs are installed) one utterance per engine."""
import json
import math
import random
import shutil

import numpy as np
import pytest
import soundfile as sf

from data_recipe import augment as A
from data_recipe import devset, synthesize, text_corpus
from data_recipe.librispeech import read_librispeech
from data_recipe.manifest import read_manifest, write_manifest
from data_recipe.normalize import (cardinal, normalize, ordinal, spoken_and_transcript,
                                   split_sentences, to_transcript, year)


# ------------------------------------------------------------------------------------------------
# text normalisation
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (99, "ninety nine"),
    (100, "one hundred"), (101, "one hundred one"), (1000, "one thousand"),
    (2024, "two thousand twenty four"), (1000001, "one million one"),
    (-5, "minus five"),
])
def test_cardinal(n, words):
    assert cardinal(n) == words


def test_ordinal_and_year():
    assert ordinal(1) == "first" and ordinal(2) == "second" and ordinal(3) == "third"
    assert ordinal(12) == "twelfth" and ordinal(20) == "twentieth" and ordinal(21) == "twenty first"
    assert ordinal(100) == "one hundredth"
    assert year(1984) == "nineteen eighty four"
    assert year(1900) == "nineteen hundred"
    assert year(1905) == "nineteen oh five"
    assert year(2005) == "two thousand five"
    assert year(2019) == "twenty nineteen"


@pytest.mark.parametrize("text,expected", [
    ("Mr. Smith paid $3.50 for 2 apples.", "mister smith paid three dollars and fifty cents for two apples"),
    ("It costs $2 million.", "it costs two million dollars"),
    ("Only £1 left", "only one pound left"),
    ("In 1984 we met on the 21st of May.", "in nineteen eighty four we met on the twenty first of may"),
    ("Prices rose 25% in the 1990s.", "prices rose twenty five percent in the nineteen nineties"),
    ("Back in the '80s", "back in the eighties"),
    ("Meet me at 10:30 a.m. or 9:00.", "meet me at ten thirty a m or nine o'clock"),
    ("Call 555-1234 now", "call five five five one two three four now"),
    ("Dr. Jones lives on Baker St. near St. Paul's", "doctor jones lives on baker street near saint paul's"),
    ("He ran 3.5 km, e.g. a lot.", "he ran three point five kilometers for example a lot"),
    ("Add 1/2 cup & 3 eggs.", "add one half cup and three eggs"),
    ("There were 3,000 people.", "there were three thousand people"),
    ("Don't say \u201chello\u201d \u2014 it's rude!", "don't say hello it's rude"),
    ("Caf\u00e9 na\u00efve", "cafe naive"),
    ("'Tis the season", "tis the season"),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_transcript_alphabet():
    t = normalize("Hello, World! It's 5 o'clock -- isn't it? (Yes.) #1 fan @ home")
    assert set(t) <= set("abcdefghijklmnopqrstuvwxyz' ")
    assert "  " not in t and t == t.strip()
    assert to_transcript("'quoted' words' end") == "quoted words end"


def test_rejections_and_word_limits():
    assert spoken_and_transcript("The FBI arrested him.") is None          # ambiguous acronym
    assert spoken_and_transcript("See http://example.com for more") is None
    assert spoken_and_transcript("x = foo_bar[3]") is None
    assert spoken_and_transcript("Upgrade to MP3 now") is None
    assert spoken_and_transcript("Too short", min_words=3) is None
    spoken, tr = spoken_and_transcript("I am who I am.")
    assert tr == "i am who i am" and spoken.endswith(".")


def test_split_sentences():
    s = split_sentences("Mr. Smith went home. He said hi! Then J. R. Tolkien wrote books. Did he?")
    assert s == ["Mister Smith went home.", "He said hi!", "Then J R Tolkien wrote books.", "Did he?"]


def test_templates_all_normalise():
    for sent in text_corpus.template_sentences(300, seed=5):
        r = spoken_and_transcript(sent, 3, 40)
        assert r is not None, sent
        assert not any(c.isdigit() for c in r[0]), r


def test_dev_texts_are_filtered():
    f = text_corpus.DevFilter(devset.dev_texts())
    assert not f("front center")
    assert not f("go forward ten meters")
    # shares a 6-gram with a librivox reference
    assert not f("well he was not an ill disposed young man at all")
    assert f("he was a young man")
    assert f("the front door was left open")


def test_parse_sphinx_transcription(tmp_path):
    p = tmp_path / "t"
    p.write_text("<s> ten of clubs  </s> (001)\n<s> he was NOT here </s> (a-b_c)\n\n")
    assert devset.parse_sphinx_transcription(p) == {"001": "ten of clubs", "a-b_c": "he was not here"}
    assert devset.alsa_text("Front_Center.wav") == "front center"


# ------------------------------------------------------------------------------------------------
# manifests and LibriSpeech folders
# ------------------------------------------------------------------------------------------------
def _tone(seconds, sr=16000, f=300.0):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_librispeech_reader(tmp_path):
    root = tmp_path / "LibriSpeech" / "dev-tiny"
    ch = root / "84" / "121123"
    ch.mkdir(parents=True)
    sf.write(ch / "84-121123-0000.flac", _tone(1.0), 16000)
    sf.write(ch / "84-121123-0001.flac", _tone(0.5), 16000)
    (ch / "84-121123.trans.txt").write_text(
        "84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED\n"
        "84-121123-0002 THIS ONE HAS NO AUDIO\n")
    ch2 = root / "174" / "50561"
    ch2.mkdir(parents=True)
    sf.write(ch2 / "174-50561-0000.flac", _tone(0.25), 16000)
    (ch2 / "174-50561.trans.txt").write_text("174-50561-0000 FORGOTTEN TOO THE NAME OF GILLIAN'S LOVER\n")

    entries = list(read_librispeech(tmp_path / "LibriSpeech"))
    assert [e["id"] for e in entries] == ["174-50561-0000", "84-121123-0000", "84-121123-0001"]
    assert entries[0]["text"] == "forgotten too the name of gillian's lover"
    assert entries[1]["text"] == "go do you hear"
    assert entries[0]["speaker"] == "174"
    assert [round(e["duration"], 3) for e in entries] == [0.25, 1.0, 0.5]
    assert all(e["audio_filepath"].endswith(".flac") for e in entries)

    man = tmp_path / "m" / "ls.jsonl"
    assert write_manifest(man, entries) == 3
    lines = [json.loads(l) for l in man.read_text().splitlines()]
    assert set(lines[0]) >= {"audio_filepath", "text", "duration"}
    back = read_manifest(man)
    assert [b["text"] for b in back] == [e["text"] for e in entries]



def test_manifest_writers_of_one_file_do_not_collide(tmp_path):
    """A second writer of the same manifest that starts and finishes while the first is still writing
    (two training runs refreshing their snapshot at once) leaves both calls intact: the last rename
    wins, nothing raises, no temporary file is left, and a failed write leaves the old file alone."""
    man = tmp_path / "train.jsonl"
    inner = [{"audio_filepath": "b.wav", "text": "bee", "duration": 1}]

    def outer():
        yield {"audio_filepath": "a.wav", "text": "ay", "duration": 1}
        assert write_manifest(man, inner) == 1  # the other writer, in the middle of this one
        yield {"audio_filepath": "c.wav", "text": "sea", "duration": 2}

    assert write_manifest(man, outer()) == 2
    assert [e["text"] for e in read_manifest(man)] == ["ay", "sea"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]
    assert oct(man.stat().st_mode & 0o777) == oct(0o644)

    def broken():
        yield {"audio_filepath": "d.wav", "text": "dee", "duration": 1}
        raise RuntimeError("renderer died")

    with pytest.raises(RuntimeError):
        write_manifest(man, broken())
    assert [e["text"] for e in read_manifest(man)] == ["ay", "sea"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]

def test_manifest_relative_paths(tmp_path):
    (tmp_path / "audio").mkdir()
    man = tmp_path / "m.jsonl"
    man.write_text(json.dumps({"audio_filepath": "audio/x.wav", "text": "hi", "duration": 1}) + "\n")
    (e,) = read_manifest(man)
    assert e["audio_filepath"] == str((tmp_path / "audio" / "x.wav").resolve())
    assert e["duration"] == 1.0


# ------------------------------------------------------------------------------------------------
# augmentation
# ------------------------------------------------------------------------------------------------
def _peak_hz(x, sr):
    X = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(X) * sr / len(x)


def test_resample_and_speed():
    x = _tone(1.0, f=440.0)
    y = A.resample(x, 16000, 8000)
    assert len(y) == 8000 and abs(_peak_hz(y, 8000) - 440) < 2
    y = A.resample(x, 16000, 22050)
    assert abs(len(y) - 22050) <= 1 and abs(_peak_hz(y, 22050) - 440) < 2
    # high frequency above the new Nyquist is removed
    hi = _tone(1.0, f=6000.0)
    assert np.sqrt(np.mean(A.resample(hi, 16000, 8000) ** 2)) < 0.01
    y = A.speed_perturb(x, 0.9)
    assert abs(len(y) - 16000 / 0.9) < 2 and abs(_peak_hz(y, 16000) - 396) < 3


def test_read_mono_from_path_and_bytes(tmp_path):
    # stereo at 8 kHz: left a 300 Hz tone, right silent -> mono is half the tone, at 16 kHz
    left = _tone(0.5, sr=8000, f=300.0)
    path = tmp_path / "st.wav"
    sf.write(str(path), np.stack([left, np.zeros_like(left)], axis=1), 8000, subtype="FLOAT")
    a = A.read_mono(path, 16000)
    b = A.read_mono(path.read_bytes(), 16000)
    assert a.dtype == np.float32 and len(a) == 8000 and np.array_equal(a, b)
    assert abs(_peak_hz(a, 16000) - 300) < 3
    assert abs(np.max(np.abs(a[1000:-1000])) - 0.5 * np.max(np.abs(left))) < 0.02
    same = A.read_mono(path, 8000)        # no resampling at the file's own rate
    assert np.allclose(same, left / 2, atol=1e-7)


def test_pitch_and_stretch_keep_expected_lengths():
    x = _tone(0.5, f=440.0)
    y = A.pitch_shift(x, 2.0)
    assert y.shape == x.shape
    assert abs(_peak_hz(y, 16000) - 440 * 2 ** (2 / 12)) < 8
    y = A.time_stretch(x, 1.25)
    assert abs(len(y) - len(x) / 1.25) <= 1


@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
def test_noise_snr(kind):
    rng = np.random.default_rng(1)
    x = _tone(1.0)
    n = A.colored_noise(len(x), kind, rng)
    assert n.shape == x.shape and n.dtype == np.float32
    assert abs(np.sqrt(np.mean(n.astype(np.float64) ** 2)) - 1) < 1e-3
    for snr in (-5.0, 0.0, 12.5, 30.0):
        y = A.add_noise(x, n, snr)
        assert y.shape == x.shape
        assert abs(A.snr_db(x, y - x) - snr) < 0.01


def test_pink_noise_spectrum_slopes_down():
    rng = np.random.default_rng(2)
    n = A.colored_noise(1 << 15, "pink", rng)
    P = np.abs(np.fft.rfft(n)) ** 2
    low, high = P[100:200].mean(), P[10000:10100].mean()
    assert low / high > 20


def test_hum_babble_reverb_telephone_gain():
    rng = np.random.default_rng(3)
    x = _tone(1.0)
    h = A.hum(16000, rng)
    assert h.shape == (16000,) and _peak_hz(h, 16000) < 200
    b = A.babble(16000, [_tone(0.3, f=200), _tone(0.7, f=500)], rng, k=3)
    assert b.shape == (16000,) and abs(np.sqrt(np.mean(b.astype(np.float64) ** 2)) - 1) < 1e-3
    rir = A.synthetic_rir(rng, 16000, rt60=0.4)
    assert rir[0] == 1.0 and np.argmax(np.abs(rir)) == 0
    r = A.reverberate(x, rir)
    assert r.shape == x.shape
    assert math.isclose(np.sqrt(np.mean(r ** 2)), np.sqrt(np.mean(x ** 2)), rel_tol=1e-3)
    t = A.telephone(x, rng, 16000, "mulaw")
    assert t.shape == x.shape
    hi = A.telephone(_tone(1.0, f=6000.0), rng, 16000, "none")
    assert np.sqrt(np.mean(hi ** 2)) < 0.01          # out of the telephone band
    assert np.allclose(A.gain(x, -6.0206), x * 0.5, atol=1e-6)


def test_companding_roundtrips():
    x = np.linspace(-0.9, 0.9, 1001).astype(np.float32)
    assert np.max(np.abs(A.mu_law_roundtrip(x) - x)) < 0.02
    assert np.max(np.abs(A.a_law_roundtrip(x) - x)) < 0.03


def test_vtlp_and_specaugment():
    rng = np.random.default_rng(4)
    spec = np.zeros((10, 257), np.float32)
    spec[:, 40] = 1.0                                  # 40 * 31.25 Hz = 1250 Hz
    w = A.vtlp_spectrogram(spec, 1.1)
    assert w.shape == spec.shape
    assert abs(np.argmax(w[0]) - 44) <= 1               # moved up by ~10 %
    assert np.allclose(A.vtlp_spectrogram(spec, 1.0), spec)
    import torch
    wt = A.vtlp_spectrogram(torch.from_numpy(spec), 0.9)
    assert isinstance(wt, torch.Tensor) and abs(int(wt[0].argmax()) - 36) <= 1
    f = np.ones((500, 80), np.float32)
    m = A.spec_augment(f, rng, n_freq_masks=2, max_freq=10, max_time=20, fill=0.0)
    assert m.shape == f.shape and f.min() == 1.0        # input untouched
    assert (m == 0).sum() > 0


def test_random_eq_colours_but_keeps_length_and_level():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(32000).astype(np.float32) * 0.1      # white noise, 2 s
    y = A.random_eq(x, np.random.default_rng(3))
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    assert abs(np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(x ** 2)) - 1) < 1e-3
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    px, py = np.abs(np.fft.rfft(x)) ** 2, np.abs(np.fft.rfft(y)) ** 2

    def band_db(lo, hi):
        k = (f >= lo) & (f < hi)
        return 10 * np.log10(py[k].mean() / px[k].mean())
    # the high-pass corner is at least 40 Hz: below 15 Hz falls >= 15 dB under the speech band
    assert band_db(0, 15) < band_db(300, 3000) - 15
    # the curve is bounded (+-9 dB, plus the overall RMS correction) and really varies across bands
    bands = [band_db(lo, 2 * lo) for lo in (250, 500, 1000, 2000, 4000)]
    assert max(bands) - min(bands) < 2 * 9 + 1 and max(bands) - min(bands) > 0.5
    assert not np.array_equal(y, A.random_eq(x, np.random.default_rng(4)))
    assert A.random_eq(np.zeros(0, np.float32), rng).shape == (0,)
    aug = A.Augmenter(seed=1, p_speed=0, p_pitch=0, p_reverb=0, p_noise=0, p_telephone=0, p_gain=0, p_eq=1.0)
    aug(x)
    assert aug.last == {"eq": True}


def test_augmenter_is_seeded_and_varied():
    x = _tone(1.0)
    a1 = A.Augmenter(seed=11, babble_pool=[_tone(0.5, f=220)])
    a2 = A.Augmenter(seed=11, babble_pool=[_tone(0.5, f=220)])
    outs = []
    for _ in range(6):
        y1, y2 = a1(x), a2(x)
        assert np.array_equal(y1, y2)
        assert y1.dtype == np.float32 and np.max(np.abs(y1)) <= 1.0
        outs.append(len(y1))
    assert A.Augmenter(seed=12)(x).shape[0] > 0


# ------------------------------------------------------------------------------------------------
# synthesis (needs espeak-ng / flite / festival; CI installs them -- see Training/DATA.md)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["espeak", "flite-slt", "festival-ked"])
def test_render_one_utterance(tmp_path, family):
    binary = {"espeak": "espeak-ng", "flite-slt": "flite", "festival-ked": "festival"}[family]
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} not installed")
    if family == "festival-ked" and not list(__import__("pathlib").Path("/usr/share/festival/voices").glob("*/ked_diphone")):
        pytest.skip("festvox-kdlpc16k not installed")
    item = synthesize.plan_item("abc123", "test", "Please call me back at nine.",
                                "please call me back at nine", family, random.Random(0))
    results, wall, n = synthesize.render_chunk(([item], str(tmp_path)))
    assert n == 1 and results[0][2] is not None
    out = tmp_path / item["voice"] / "abc123.wav"
    info = sf.info(str(out))
    assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
    assert 0.8 < info.duration < 6.0
    # resumable: a second call skips the existing file
    _, _, n2 = synthesize.render_chunk(([item], str(tmp_path)))
    assert n2 == 0


def test_plan_is_deterministic_and_holds_out_voice(tmp_path):
    text = tmp_path / "text"
    text.mkdir()
    rows = [(f"id{i}", "src", f"Sentence number {i}.", f"sentence number {i}") for i in range(50)]
    for name in ("train", "test"):
        (text / f"{name}.tsv").write_text("".join("\t".join(r) + "\n" for r in rows))
    p1 = synthesize.make_plans(text, hours=0.01, n_test=5, seed=3)
    p2 = synthesize.make_plans(text, hours=0.02, n_test=5, seed=3)
    assert p1["train"] == p2["train"][:len(p1["train"])]          # a bigger corpus extends a smaller one
    assert all(p["voice"] != synthesize.HELD_OUT_VOICE for p in p2["train"] + p2["test_synthetic"])
    assert all(p["voice"] == synthesize.HELD_OUT_VOICE for p in p2["test_unseen_voice"])


def test_read_done_log_skips_torn_lines(tmp_path):
    from data_recipe.manifest import read_done_log
    log = tmp_path / "done.jsonl"
    assert read_done_log(log) == {}
    log.write_text('["v", "a", 1.5]\n["v", "b", 2.0]\n["v", "c", 3')   # a run killed mid-write
    assert read_done_log(log) == {("v", "a"): 1.5, ("v", "b"): 2.0}
