"""Tests of the real-acoustics banks (Training/data_recipe/acoustics.py) and their use in
augment.Augmenter, on tiny generated inputs: no Debian package is needed (the builder's readers are fed
fake package files), pyroomacoustics tests skip themselves when it is missing."""
import io
import json
import math
import random
import struct
import wave

import numpy as np
import pytest
import soundfile as sf

from data_recipe import acoustics as AC
from data_recipe import augment as A

SR = 16000


def _band_db(y, x, lo, hi, sr=SR):
    """Power of y relative to x in the band [lo, hi) Hz, dB."""
    f = np.fft.rfftfreq(len(x), 1 / sr)
    k = (f >= lo) & (f < hi)
    py = np.mean(np.abs(np.fft.rfft(y))[k] ** 2)
    px = np.mean(np.abs(np.fft.rfft(x))[k] ** 2)
    return 10 * math.log10(py / px)


def _tone_burst(n, rng, f=700.0, sr=SR):
    t = np.arange(n) / sr
    env = np.repeat(rng.uniform(0.2, 1.0, n // 800 + 1), 800)[:n]
    return (0.3 * env * np.sin(2 * np.pi * f * t)).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# hold-out
# ------------------------------------------------------------------------------------------------
def _fake_entries():
    entries = []
    for source, n_groups in (("alpha", 30), ("beta", 12)):
        for g in range(n_groups):
            for v in range(1 + g % 3):                      # groups of 1-3 variants
                entries.append({"id": f"{source}/g{g}_{v}", "source": source, "group": f"g{g}"})
    return entries


def test_holdout_deterministic_disjoint_and_about_15_percent():
    a = AC.assign_splits(_fake_entries())
    shuffled = _fake_entries()
    random.Random(1).shuffle(shuffled)
    b = AC.assign_splits(shuffled)
    split_a = {e["id"]: e["split"] for e in a}
    split_b = {e["id"]: e["split"] for e in b}
    assert split_a == split_b                               # independent of order
    for source in ("alpha", "beta"):
        ents = [e for e in a if e["source"] == source]
        test = {e["id"] for e in ents if e["split"] == "test"}
        train = {e["id"] for e in ents if e["split"] == "train"}
        assert test and train and not (test & train)
        assert 0.08 <= len(test) / len(ents) <= 0.3, (source, len(test), len(ents))
        # a group never straddles the two splits
        groups_test = {e["group"] for e in ents if e["split"] == "test"}
        groups_train = {e["group"] for e in ents if e["split"] == "train"}
        assert not (groups_test & groups_train)


def test_holdout_small_and_empty():
    assert AC.holdout_groups({"only": 5}) == set()          # one group: nothing to hold out
    assert AC.holdout_groups({}) == set()
    held = AC.holdout_groups({f"g{i}": 1 for i in range(20)})
    assert len(held) == 3                                   # round(0.15 * 20)
    assert held == AC.holdout_groups({f"g{i}": 1 for i in reversed(range(20))})


# ------------------------------------------------------------------------------------------------
# package readers and the noise builder (fake packages)
# ------------------------------------------------------------------------------------------------
def _wav_bytes(x, sr):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def _fake_cat(entries):
    """An OpenTTD sound catalogue with (name, wav bytes) entries."""
    n = len(entries)
    table, blobs, off = [], b"", 8 * n
    for name, wav in entries:
        blob = bytes([len(name) + 1]) + name.encode() + b"\0" + wav
        table.append((off, len(wav)))
        blobs += blob
        off += len(blob)
    head = b"".join(struct.pack("<II", (o | 0x80000000) if i == 0 else o, s) for i, (o, s) in enumerate(table))
    return head + blobs


def test_parse_opensfx_cat_and_licences():
    rng = np.random.default_rng(0)
    cat = _fake_cat([
        ('"Wind". Original "wind1.wav" by "Anton". License: Creative Commons Attribution 3.0 Unported.',
         _wav_bytes(_tone_burst(44100, rng), 44100)),
        ('"Sheep". By someone. License: Creative Commons Zero 1.0.', _wav_bytes(_tone_burst(22050, rng), 44100)),
    ])
    entries = AC.parse_opensfx_cat(cat)
    assert [e["index"] for e in entries] == [0, 1]
    assert entries[0]["name"].startswith('"Wind"')
    x, sr = sf.read(io.BytesIO(entries[1]["wav"]))
    assert sr == 44100 and len(x) == 22050
    assert AC.opensfx_licence(entries[0]["name"])[0] == "CC-BY-3.0"
    assert AC.opensfx_licence(entries[1]["name"])[0] == "CC0-1.0"
    sa = '"H". License: Creative Commons Attribution-ShareAlike 3.0 Unported.'
    assert AC.opensfx_licence(sa)[0] == "CC-BY-SA-3.0"
    assert AC._opensfx_group(entries[0]["name"]) == "wind1.wav"


def test_tuxpaint_filter_excludes_speech():
    root = "/usr/share/tuxpaint/stamps/"
    keep = ["animals/birds/crow.ogg", "household/kettle.ogg", "vehicles/emergency/firetruck.ogg",
            "food/fruit/apple_red.ogg", "town/roadsigns/xing_ped.ogg"]
    drop = ["animals/birds/crow_desc.ogg", "animals/birds/crow_desc_fr.ogg", "household/kettle_desc_en_GB.ogg",
            "symbols/alphabets/english/filled/lowercase/a_filled_en_GB.ogg", "symbols/math/plus.ogg",
            "symbols/faces/happy.ogg", "animals/birds/crow.png", "animals/birds/crow_fr.ogg",
            "animals/birds/crow_zh_tw.ogg"]
    from pathlib import Path
    assert all(AC._tuxpaint_is_effect(Path(root + p)) for p in keep)
    assert not any(AC._tuxpaint_is_effect(Path(root + p)) for p in drop)


def test_condition_clip_resamples_trims_and_drops():
    rng = np.random.default_rng(1)
    sr = 11025
    x = np.concatenate([np.zeros(sr // 2), _tone_burst(sr, rng, sr=sr), np.zeros(sr // 2)])
    y, why = AC.condition_clip(x, sr)
    assert why == "" and y.dtype == np.float32
    assert abs(len(y) - SR) <= SR * 0.05                    # silence trimmed, 1 s at 16 kHz
    assert abs(float(np.max(np.abs(y))) - 0.9) < 1e-3
    assert AC.condition_clip(_tone_burst(sr // 3, rng, sr=sr), sr)[1] == "short"
    assert AC.condition_clip(1e-4 * _tone_burst(sr, rng, sr=sr), sr)[1] == "silent"
    assert AC.condition_clip(np.zeros(sr), sr)[1] == "silent"


def test_build_noise_from_fake_packages(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    sounds = tmp_path / "pkg" / "sounds"
    sounds.mkdir(parents=True)
    names = [f"{scene}{i}" for scene in ("Farm", "Harbor", "Mill", "Water", "School", "Tip", "Pottery")
             for i in (1, 2, 3)] + ["Click"]
    for name in names:
        n = 3000 if name == "Click" else 11025 * 2
        sf.write(str(sounds / f"{name}.wav"), _tone_burst(n, rng, sr=11025), 11025, subtype="PCM_16")
    cat = _fake_cat([(f'"Clip {i}". Original "src{i % 4}.wav" by "x". License: Creative Commons Zero 1.0.',
                      _wav_bytes(_tone_burst(44100, rng, f=300 + 50 * i), 44100)) for i in range(8)])
    (tmp_path / "pkg" / "opensfx.cat").write_bytes(cat)
    files = {"lincity-ng-data": sorted(sounds.glob("*.wav")), "openttd-opensfx": [tmp_path / "pkg" / "opensfx.cat"],
             "tuxpaint-stamps-default": []}
    monkeypatch.setattr(AC, "package_files", lambda pkg: files.get(pkg, []))
    monkeypatch.setattr(AC, "package_version", lambda pkg: "test")
    out = tmp_path / "acoustics"
    idx = AC.build_noise(out, log=lambda m: None)
    clips = idx["clips"]
    assert {c["source"] for c in clips} == {"lincity", "openttd"}
    assert [d["original"].endswith("Click.wav") for d in idx["dropped"]] == [True]   # 0.27 s: too short
    assert len(clips) == len(names) - 1 + 8
    for c in clips:
        x, sr = sf.read(str(out / c["path"]))
        assert sr == SR and abs(len(x) / SR - c["duration"]) < 1e-3 and c["duration"] >= 0.5
        assert c["license"] and c["package"] and c["original"]
    lincity = [c for c in clips if c["source"] == "lincity"]
    test_groups = {c["group"] for c in lincity if c["split"] == "test"}
    assert test_groups and not test_groups & {c["group"] for c in lincity if c["split"] == "train"}
    assert all(c["license"] == "CC0-1.0" for c in clips if c["source"] == "openttd")
    # idempotent: a second run keeps the index as it is
    before = (out / "noise_index.json").read_text()
    assert AC.build_noise(out, log=lambda m: None)["clips"] == clips
    assert (out / "noise_index.json").read_text() == before
    # loading: the splits are disjoint and together give every clip
    train, test = AC.AcousticBanks.load(out, "train"), AC.AcousticBanks.load(out, "test")
    ids_train = {m["id"] for m in train.noise_meta}
    ids_test = {m["id"] for m in test.noise_meta}
    assert ids_train and ids_test and not ids_train & ids_test
    assert ids_train | ids_test == {c["id"] for c in clips}


# ------------------------------------------------------------------------------------------------
# a fake bank on disk
# ------------------------------------------------------------------------------------------------
def _fake_bank(root, rng):
    (root / "noise" / "fake").mkdir(parents=True)
    clips = []
    for i in range(10):
        x = (0.5 * rng.standard_normal(int(SR * (0.6 + 0.3 * i)))).astype(np.float32)
        rel = f"noise/fake/c{i}.wav"
        sf.write(str(root / rel), x, SR, subtype="PCM_16")
        clips.append({"id": f"fake/c{i}", "source": "fake", "group": f"c{i}", "path": rel,
                      "duration": len(x) / SR, "license": "test", "package": "none", "original": rel})
    AC.assign_splits(clips)
    (root / "noise_index.json").write_text(json.dumps({"version": AC.FORMAT_VERSION, "clips": clips}))
    rirs = []
    for i in range(3):
        n = 2000 + 1000 * i
        h = rng.standard_normal(n) * np.exp(-np.arange(n) / 800)
        h[0] = 3.0
        rirs.append((h / np.abs(h).max()).astype(np.float32))
    np.savez(root / "rirs.npz", data=np.concatenate(rirs), offsets=np.cumsum([0] + [len(h) for h in rirs]))
    cab = [np.array([0.2, 1.0, -0.3, 0.1], np.float32), np.array([1.0, 0.5, 0.25], np.float32)]
    np.savez(root / "cabinet.npz", data=np.concatenate(cab), offsets=np.cumsum([0] + [len(h) for h in cab]))
    (root / "cabinet_index.json").write_text(json.dumps({"irs": [{"id": "a", "split": "train"},
                                                                 {"id": "b", "split": "test"}]}))
    return clips


def test_bank_load_splits(tmp_path):
    clips = _fake_bank(tmp_path, np.random.default_rng(3))
    train = AC.AcousticBanks.load(tmp_path)
    test = AC.AcousticBanks.load(tmp_path, split="test")
    n_test = sum(c["split"] == "test" for c in clips)
    assert 1 <= n_test < len(clips)
    assert len(train.noise) == len(clips) - n_test and len(test.noise) == n_test
    assert len(train.rirs) == 3 and len(train.rirs[2]) == 4000
    assert len(train.cabinet) == 1 and len(test.cabinet) == 1
    assert train.summary()["noise_clips"] == len(train.noise)
    with pytest.raises(FileNotFoundError):
        AC.AcousticBanks.load(tmp_path / "missing")


# ------------------------------------------------------------------------------------------------
# real-noise mixing, cabinet, telephone
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("clip_seconds", [0.6, 5.0])
@pytest.mark.parametrize("snr", [0.0, 7.5, 25.0])
def test_real_noise_hits_snr(clip_seconds, snr):
    rng = np.random.default_rng(4)
    x = _tone_burst(3 * SR, rng)
    clip = (np.sin(np.arange(int(clip_seconds * SR)) * 0.05) + 0.3 * rng.standard_normal(int(clip_seconds * SR)))
    y = AC.mix_real_noise(x, clip.astype(np.float32), snr, rng)
    assert y.shape == x.shape and np.isfinite(y).all()
    assert abs(A.snr_db(x, y - x) - snr) < 0.5
    seg = AC.real_noise_segment(clip, 3 * SR, rng)
    assert len(seg) == 3 * SR
    if clip_seconds < 3:                                    # looped: the clip repeats with its period
        k = len(clip)
        assert np.allclose(seg[:k], seg[k:2 * k])
    else:                                                   # a contiguous piece of the clip
        off = int(np.argmin([np.abs(clip[o:o + 100] - seg[:100]).sum() for o in range(len(clip) - len(seg) + 1)]))
        assert np.allclose(clip[off:off + len(seg)], seg)


def test_cabinet_colour_keeps_length_and_level_and_colours():
    rng = np.random.default_rng(5)
    x = (0.2 * rng.standard_normal(SR)).astype(np.float32)
    ir = np.array([0.1, 0.3, 1.0, 0.6, 0.3, 0.1], np.float32)      # a low-pass, peak at index 2
    y = AC.cabinet_colour(x, ir)
    assert y.shape == x.shape and y.dtype == np.float32
    assert abs(np.sqrt(np.mean(y ** 2)) - np.sqrt(np.mean(x ** 2))) < 1e-3
    # aligned on the peak: the best lag between x and y is 0
    lags = range(-4, 5)
    best = max(lags, key=lambda k: float(np.dot(np.roll(x, k), y)))
    assert best == 0
    assert _band_db(y, x, 6000, 8000) - _band_db(y, x, 100, 1000) < -10      # it colours
    assert len(AC.cabinet_colour(x[:10], np.ones(50, np.float32))) == 10


@pytest.mark.parametrize("codec", ["mulaw", "alaw", "none"])
def test_telephone_band_limits(codec):
    rng = np.random.default_rng(6)
    x = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    for seed in range(3):
        y = A.telephone(x, np.random.default_rng(seed), SR, codec, (250.0, 350.0), (3300.0, 3500.0))
        assert y.shape == x.shape
        assert _band_db(y, x, 4000, 8000) < -40             # nothing above 4 kHz (8 kHz sampling)
        assert _band_db(y, x, 0, 150) < -20                 # low frequencies removed
        assert _band_db(y, x, 0, 300) < -6
        assert abs(_band_db(y, x, 600, 3000)) < 2           # the speech band passes


def test_telephone_gsm_when_sox_installed():
    import shutil
    if shutil.which("sox") is None:
        pytest.skip("sox not installed")
    rng = np.random.default_rng(7)
    x = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    y = A.telephone(x, rng, SR, "gsm")
    assert y.shape == x.shape and _band_db(y, x, 4000, 8000) < -40


# ------------------------------------------------------------------------------------------------
# simulated rooms
# ------------------------------------------------------------------------------------------------
def test_pyroomacoustics_rir_direct_path_and_decay():
    pra = pytest.importorskip("pyroomacoustics")
    rng = np.random.default_rng(8)
    # untrimmed: the peak is the direct path, at distance / c plus pyroomacoustics' filter delay
    h, meta = AC.simulate_rir(rng, SR, max_order_cap=20, dist_range=(0.5, 1.0), trim=False)
    c, offset = pra.constants.get("c"), pra.constants.get("frac_delay_length") // 2
    expected = meta["direct_distance"] / c * SR + offset
    assert abs(meta["direct_index"] - expected) < 0.05              # meta is rounded
    assert abs(int(np.argmax(np.abs(h))) - expected) <= 1.5
    # the randomised image method moves the source by at most 5 cm per axis
    assert abs(meta["direct_distance"] - meta["distance"]) <= 0.05 * math.sqrt(3) + 1e-3
    # trimmed as in the bank: starts 1 ms before the direct path, peak 1, decays
    h, meta = AC.simulate_rir(np.random.default_rng(9), SR, max_order_cap=30, dist_range=(0.5, 1.0),
                              rt60_range=(0.4, 0.6))
    assert abs(int(np.argmax(np.abs(h))) - meta["direct_index"]) <= 1.5
    assert abs(meta["direct_index"] - 16) <= 1                      # 1 ms at 16 kHz
    assert abs(float(np.max(np.abs(h))) - 1.0) < 1e-6
    e = h.astype(np.float64) ** 2
    win = SR // 20                                                  # 50 ms windows
    energies = [e[i:i + win].sum() for i in range(0, len(e) - win + 1, win)]
    assert len(energies) >= 4
    assert energies[0] > 100 * energies[-1]
    assert all(b < a * 1.5 for a, b in zip(energies[1:], energies[2:]))   # decays (no late growth)
    assert meta["rt60_measured"] is not None and 0.2 < meta["rt60_measured"] < 1.2
    edc = np.cumsum(e[::-1])[::-1]
    assert 10 * np.log10(edc[-1] / edc[0]) < -50                    # trimmed near -60 dB


def test_build_rirs_resumable(tmp_path, monkeypatch):
    pytest.importorskip("pyroomacoustics")
    log = lambda m: None  # noqa: E731
    full = AC.build_rirs(tmp_path / "full", n=4, seed=3, max_order_cap=8, chunk=2, log=log)
    reference = np.load(tmp_path / "full" / "rirs.npz")["data"]
    assert len(np.load(tmp_path / "full" / "rirs.npz")["offsets"]) == 5
    assert [m["index"] for m in full["rirs"]] == [0, 1, 2, 3]
    assert not (tmp_path / "full" / "rirs_parts").exists()          # chunks removed when complete
    # an interrupted run (fails at RIR 3) leaves its first chunk; the rerun reuses it
    real, calls = AC.simulate_rir, []

    def failing(rng, *a, **k):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return real(rng, *a, **k)

    monkeypatch.setattr(AC, "simulate_rir", failing)
    with pytest.raises(KeyboardInterrupt):
        AC.build_rirs(tmp_path / "part", n=4, seed=3, max_order_cap=8, chunk=2, log=log)
    assert len(list((tmp_path / "part" / "rirs_parts").glob("*.npz"))) == 1
    calls.clear()

    def counting(rng, *a, **k):
        calls.append(1)
        return real(rng, *a, **k)

    monkeypatch.setattr(AC, "simulate_rir", counting)
    AC.build_rirs(tmp_path / "part", n=4, seed=3, max_order_cap=8, chunk=2, log=log)
    assert len(calls) == 2                                          # only the missing chunk
    assert np.array_equal(np.load(tmp_path / "part" / "rirs.npz")["data"], reference)
    calls.clear()
    AC.build_rirs(tmp_path / "part", n=4, seed=3, max_order_cap=8, chunk=2, log=log)
    assert not calls                                                # complete: nothing to do
    banks = AC.AcousticBanks.load(tmp_path / "part")
    assert len(banks.rirs) == 4 and not banks.noise


# ------------------------------------------------------------------------------------------------
# the Augmenter with banks
# ------------------------------------------------------------------------------------------------
def _mem_banks(rng):
    noise = [(0.3 * rng.standard_normal(int(SR * s))).astype(np.float32) for s in (0.5, 2.0, 6.0)]
    meta = [{"id": f"s{i % 2}/n{i}", "source": f"s{i % 2}"} for i in range(3)]
    rirs = [np.exp(-np.arange(3000) / 500.0).astype(np.float32) * rng.standard_normal(3000).astype(np.float32)]
    rirs[0][0] = 2.0
    cab = [np.array([0.3, 1.0, 0.4], np.float32)]
    return AC.AcousticBanks(noise, meta, rirs, cab)


def test_augmenter_with_banks_keeps_length_and_is_finite():
    rng = np.random.default_rng(10)
    banks = _mem_banks(rng)
    x = _tone_burst(int(1.7 * SR), rng)
    aug = A.Augmenter(seed=1, acoustics=banks, p_speed=0.0, p_pitch=0.3, p_reverb=1.0, p_room=1.0,
                      p_eq=0.5, p_cabinet=1.0, p_noise=1.0, p_real_noise=1.0, p_telephone=0.5, p_gain=1.0)
    seen = set()
    for _ in range(12):
        y = aug(x)
        assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
        assert np.max(np.abs(y)) <= 1.0
        assert "room" in aug.last and "cabinet" in aug.last and aug.last["noise"].startswith("real:")
        assert 0.0 <= aug.last["snr"] <= 25.0
        seen.add(aug.last["noise"])
    assert len(seen) >= 2
    # reproducible
    a1 = A.Augmenter(seed=4, acoustics=banks, p_speed=0.0)
    a2 = A.Augmenter(seed=4, acoustics=banks, p_speed=0.0)
    for _ in range(5):
        assert np.array_equal(a1(x), a2(x))


def test_augmenter_without_banks_unchanged():
    """The new arguments do nothing without banks: same draws, same output as the plain chain."""
    rng = np.random.default_rng(11)
    x = _tone_burst(SR, rng)
    plain = A.Augmenter(seed=5, babble_pool=[x])
    extra = A.Augmenter(seed=5, babble_pool=[x], p_real_noise=1.0, p_room=1.0, p_cabinet=1.0)
    assert extra.p_real_noise == extra.p_room == extra.p_cabinet == 0.0
    for _ in range(10):
        assert np.array_equal(plain(x), extra(x))
        assert plain.last == extra.last


def test_with_acoustics_from_folder(tmp_path):
    _fake_bank(tmp_path, np.random.default_rng(12))
    aug = A.Augmenter.with_acoustics(seed=2, strength=1.0, acoustics_dir=tmp_path, p_speed=0.0)
    assert aug.p_room == 0.8 and aug.p_real_noise == 0.6 and abs(aug.p_telephone - 0.3) < 1e-9
    assert aug.p_cabinet > 0 and aug.acoustics.split == "train"
    test_ids = {m["id"] for m in AC.AcousticBanks.load(tmp_path, "test").noise_meta}
    assert not test_ids & {m["id"] for m in aug.acoustics.noise_meta}   # training never uses test noise
    x = _tone_burst(SR, np.random.default_rng(0))
    kinds = set()
    for _ in range(30):
        y = aug(x)
        assert y.shape == x.shape and np.isfinite(y).all()
        kinds |= set(aug.last)
    assert {"room", "noise"} <= kinds
    assert A.Augmenter.with_acoustics(seed=2, strength=0.0, acoustics_dir=tmp_path).p_noise == 0.0
    with pytest.raises(FileNotFoundError):
        A.Augmenter.with_acoustics(seed=1, acoustics_dir=tmp_path / "none")
