"""Natural-voice rendering (data_recipe/natural_voices.py): speaker transforms, plans, engines."""
import json
import random
import shutil

import numpy as np
import pytest

from data_recipe import natural_voices as nv


def test_warp_bins_identity_and_moves_peaks():
    bins, frames = 601, 3
    env = np.zeros((bins, frames), np.float32)
    env[200] = 1.0
    assert np.allclose(nv.warp_bins(env, 1.0), env)
    up = nv.warp_bins(env, 1.2)
    down = nv.warp_bins(env, 0.85)
    assert abs(int(np.argmax(up[:, 0])) - 240) <= 1      # formant at bin 200 moves to 200 * alpha
    assert abs(int(np.argmax(down[:, 0])) - 170) <= 1
    assert up.shape == env.shape and up.dtype == np.float32


def test_shape_f0_scales_pitch_and_range_keeps_unvoiced():
    f0 = np.array([0, 180, 200, 220, 0, 210], np.float32)
    out = nv.shape_f0(f0, 0.6, 1.0)
    assert out[0] == 0 and out[4] == 0
    assert np.allclose(out[[1, 2, 3, 5]], f0[[1, 2, 3, 5]] * 0.6, rtol=1e-5)
    flat = nv.shape_f0(f0, 1.0, 0.0)                      # range 0: a monotone at the log-mean
    v = flat[[1, 2, 3, 5]]
    assert np.ptp(v) < 1e-3
    wide = nv.shape_f0(f0, 1.0, 2.0)
    assert np.ptp(wide[[1, 2, 3, 5]]) > np.ptp(f0[[1, 2, 3, 5]]) * 1.8


def test_speakers_are_deterministic_and_test_speakers_differ():
    a, b = nv.speakers(7, 20, "s"), nv.speakers(7, 20, "s")
    assert a == b
    t = nv.speakers(7, 5, "t")
    params = lambda s: (s.f0, s.alpha, s.f0_range, s.breath, s.speed)  # noqa: E731
    assert {params(s) for s in t}.isdisjoint({params(s) for s in a})   # other voices, not just other names
    assert any(s.f0 < 0.76 for s in a) and any(s.f0 > 0.79 for s in a)   # both clusters present
    assert all(0.8 <= s.alpha <= 1.1 and 0.84 <= s.speed <= 1.16 for s in a)


def test_kokoro_blend_is_a_distribution():
    for i in range(50):
        w = nv.kokoro_blend(random.Random(i))
        assert set(w) <= set(nv.KOKORO_PACKS) and w
        assert abs(sum(w.values()) - 1.0) < 0.02


def test_plans_hold_out_piper_and_keep_kokoro_share():
    rows = [(f"id{i:05d}", "src", f"Sentence number {i}.", f"sentence number {i}") for i in range(6000)]
    plan = nv.plan_train(rows, hours=2.0, kokoro_hours=0.5, seed=1)
    assert all(p["engine"] in ("hibari", "kokoro") for p in plan)
    est = {p["id"]: 0.33 * len(p["text"].split()) + 0.5 for p in plan}
    total = sum(est.values())
    kok = sum(est[p["id"]] for p in plan if p["engine"] == "kokoro")
    assert 2.0 * 3600 <= total < 2.0 * 3600 + 5
    assert 0.15 * 3600 < kok <= 0.5 * 3600 + 5
    tests = nv.plan_tests(rows, 50, seed=1)
    assert [p["id"] for p in tests["test_natural"]] == [p["id"] for p in tests["test_natural_unseen"]]
    assert {p["voice"] for p in tests["test_natural_unseen"]} == {"piper-joe"}
    train_voices = {p["voice"] for p in plan}
    train_params = {tuple(p["speaker"].values())[1:] for p in plan if p["engine"] == "hibari"}
    test_params = {tuple(p["speaker"].values())[1:] for p in tests["test_natural"] if p["engine"] == "hibari"}
    assert test_params and not train_params & test_params
    assert "piper-joe" not in train_voices


def test_kokoro_extra_plan_voices_other_sentences_and_leaves_the_first_plan():
    rows = [(f"id{i:05d}", "src", f"Sentence number {i}.", f"sentence number {i}") for i in range(6000)]
    first = nv.plan_train(rows, hours=1.0, kokoro_hours=0.1, seed=1)
    extra = nv.plan_kokoro_extra(rows, hours=1.0, kokoro_hours=0.1, extra_hours=0.5, seed=1)
    assert not {p["id"] for p in first} & {p["id"] for p in extra}, "no sentence is voiced twice"
    assert all(p["engine"] == "kokoro" and abs(sum(p["blend"].values()) - 1) < 0.02 for p in extra)
    est = sum(0.33 * len(p["text"].split()) + 0.5 for p in extra)
    assert 0.5 * 3600 <= est < 0.5 * 3600 + 5
    assert len({tuple(sorted(p["blend"].items())) for p in extra}) > 0.9 * len(extra), "a new blend per utterance"
    assert nv.plan_train(rows, hours=1.0, kokoro_hours=0.1, seed=1) == first
    assert nv.plan_kokoro_extra(rows, 1.0, 0.1, 0.0, 1) == []


def test_piper_id_layout():
    eng = nv.PiperEngine.__new__(nv.PiperEngine)
    eng.ids = {"_": [0], "^": [1], "$": [2], "a": [14], "b": [15], " ": [3]}
    assert eng.phoneme_ids("ab a?") == [1, 0, 14, 0, 15, 0, 3, 0, 14, 0, 2]


def test_finish_resamples_trims_and_levels():
    rate = 24000
    t = np.arange(rate) / rate
    x = np.concatenate([np.zeros(rate), 0.5 * np.sin(2 * np.pi * 300 * t), np.zeros(rate)]).astype(np.float32)
    y = nv.finish(x, rate, random.Random(3))
    assert 1.1 * nv.SR < len(y) < 1.6 * nv.SR            # 1 s of tone + at most 0.25 + 0.3 s of silence
    peak = float(np.abs(y).max())
    assert 10 ** (-10 / 20) - 1e-3 <= peak <= 10 ** (-1 / 20) + 1e-3


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_ipa_gives_phonemes_with_end_punctuation():
    ps = nv.espeak_ipa("The cat sat. Then it left?")
    assert ps.endswith("?") and "k" in ps and len(ps) > 10


def _pitch(x, sr=16000):
    """Autocorrelation pitch of the loudest half second."""
    n = sr // 2
    i = int(np.argmax(np.convolve(x ** 2, np.ones(n), "valid")))
    seg = x[i:i + n] - x[i:i + n].mean()
    ac = np.correlate(seg, seg, "full")[n - 1:]
    lo, hi = sr // 400, sr // 60
    return sr / (lo + int(np.argmax(ac[lo:hi])))


def test_hibari_speakers_change_pitch():
    pytest.importorskip("hibari")
    pytest.importorskip("onnxruntime")
    eng = nv.HibariEngine()
    text = "She was walking along the river on a warm and quiet evening."
    base = nv.VirtualSpeaker("x", 1.0, 1.0, 1.0, 0.0, 1.0)
    low = nv.VirtualSpeaker("y", 0.55, 0.88, 1.0, 0.0, 1.0)
    a = nv.finish(eng.render(text, base, 1), eng.rate, random.Random(0))
    b = nv.finish(eng.render(text, low, 1), eng.rate, random.Random(0))
    assert len(a) > nv.SR and np.isfinite(a).all() and np.isfinite(b).all()
    ratio = _pitch(b) / _pitch(a)
    assert 0.4 < ratio < 0.75, ratio


def test_render_resumes_and_lists_unlogged_wavs(tmp_path, monkeypatch):
    """A fake engine (a tone per sentence): render writes WAVs and manifests; a WAV left by a stopped run
    but missing from done.jsonl is still listed; a second run renders nothing new."""
    import soundfile as sf
    text = tmp_path / "text"
    text.mkdir()
    rows = [f"id{i:03d}\tsrc\tSentence {i}.\tsentence {i}\n" for i in range(12)]
    (text / "train.tsv").write_text("".join(rows[:8]))
    (text / "test.tsv").write_text("".join(rows[8:]))
    log = tmp_path / "calls.txt"          # the workers are forked processes: count through a file

    def fake(p, data_dir):
        with open(log, "a") as f:
            f.write(p["id"] + "\n")
        return (0.1 * np.sin(np.arange(8000) / 5.0)).astype(np.float32)

    monkeypatch.setattr(nv, "render_item", fake)
    out = nv.render(tmp_path, hours=8 * 1.5 / 3600, kokoro_hours=0.0, n_test=4, jobs=1, seed=1, chunk=3,
                    log=lambda m: None)
    assert out["summary"]["train_natural"]["utterances"] == 8
    assert out["summary"]["test_natural"]["utterances"] == 4
    assert out["summary"]["test_natural_unseen"]["utterances"] == 4
    calls = lambda: len(log.read_text().splitlines())  # noqa: E731
    first = calls()
    assert first == 16
    (tmp_path / "audio_natural" / "done.jsonl").write_text("")          # as if nothing had been logged
    again = nv.render(tmp_path, hours=8 * 1.5 / 3600, kokoro_hours=0.0, n_test=4, jobs=1, seed=1, chunk=3,
                      log=lambda m: None)
    only = nv.render(tmp_path, hours=2 * 8 * 1.5 / 3600, kokoro_hours=0.0, n_test=4, jobs=1, seed=1, chunk=3,
                     log=lambda m: None, render_new=False)               # manifests only: nothing rendered
    assert calls() == first and only["summary"]["train_natural"]["utterances"] == 8
    assert calls() == first                                            # nothing rendered twice
    assert again["summary"]["train_natural"]["utterances"] == 8            # listed from the WAVs themselves
    rows_out = [json.loads(l) for l in (tmp_path / "manifests" / "train_natural.jsonl").read_text().splitlines()]
    assert all(abs(r["duration"] - sf.info(r["audio_filepath"]).duration) < 1e-3 for r in rows_out)
