"""Tests of Training/tools/tune_decoder.py: the rule that picks a setting over several sets, and a whole
grid run against a stand-in for the release binary (a script that answers `transcribe --format tsv`)."""
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import tune_decoder as T  # noqa: E402


def _result(w, sets):
    return {"decoder": "beam", "lm_weight": w, "sets": {n: {"wer": v, "cer": v / 2} for n, v in sets.items()}}


def test_choose_weighs_each_set_by_its_own_best():
    # by the plain sum of WERs setting 0.3 would win (1.07 against 1.10); relative to each set's best,
    # 0.1 doubles nobody's errors: sentences 1.0x and words 1.11x, against 1.2x and 1.06x
    results = [{"decoder": "greedy", "sets": {}},
               _result(0.1, {"sentences": 0.10, "words": 1.00}),
               _result(0.2, {"sentences": 0.20, "words": 0.90}),
               _result(0.3, {"sentences": 0.12, "words": 0.95})]
    best = T.choose(results, ["sentences", "words"])
    assert best["lm_weight"] == 0.1
    assert best["score"] == pytest.approx((1.0 + 1.0 / 0.9) / 2)
    assert results[2]["score"] == pytest.approx(1.5)


def test_choose_one_set_is_lowest_wer_then_cer():
    a = _result(0.1, {"s": 0.3})
    b = _result(0.2, {"s": 0.3})
    b["sets"]["s"]["cer"] = 0.1
    c = _result(0.3, {"s": 0.4})
    assert T.choose([a, b, c], ["s"])["lm_weight"] == 0.2


def test_tie_margin_prefers_the_narrower_beam_then_the_smaller_lm(tmp_path):
    small, big = tmp_path / "small.arpa", tmp_path / "big.arpa"
    small.write_text("x" * 10)
    big.write_text("x" * 1000)

    def row(beam, lm, wer):
        return {"decoder": "beam", "beam": beam, "lm": str(lm), "lm_weight": 0.8,
                "sets": {"s": {"wer": wer, "cer": wer / 2}}}

    rows = [row(128, small, 0.500), row(32, big, 0.502), row(32, small, 0.503), row(32, small, 0.600)]
    # no margin: the lowest score, whatever it costs
    assert T.choose(rows, ["s"])["beam"] == 128
    # scores 1.0, 1.004, 1.006, 1.2: within 0.01 the narrow beam wins, and of its two the smaller file
    best = T.choose(rows, ["s"], tie_margin=0.01)
    assert (best["beam"], best["lm"], best["sets"]["s"]["wer"]) == (32, str(small), 0.503)
    # a margin that leaves only the first two: the narrow beam with the big file
    best = T.choose(rows, ["s"], tie_margin=0.005)
    assert (best["beam"], best["lm"]) == (32, str(big))


FAKE = r'''#!{python}
# Stand-in for `ssmspeech transcribe --format tsv`: a file named "go-left.wav" holds the words "go left".
# Word bonus 0 drops the last word of multi-word files; bonus >= 1 says single words twice; LM weight
# above 0.7 garbles the first word of 8 kHz (telephone) files; a language model whose file name holds
# "worse" replaces the last word of every file by "x".
import sys, soundfile
args = sys.argv[1:]
opt = lambda k, d: float(args[args.index(k) + 1]) if k in args else d
bonus, weight = opt("--word-bonus", 0.0), opt("--lm-weight", 0.0)
worse = "--lm" in args and "worse" in args[args.index("--lm") + 1]
for f in [a for a in args if a.endswith(".wav")]:
    words = f.rsplit("/", 1)[-1][:-4].split("-")
    if "--decoder" in args and args[args.index("--decoder") + 1] == "greedy":
        words = ["x"]
    elif bonus == 0 and len(words) > 1:
        words = words[:-1]
    elif bonus >= 1 and len(words) == 1:
        words = words * 2
    if weight > 0.7 and soundfile.info(f).samplerate == 8000:
        words = ["x"] + words[1:]
    if worse:
        words = words[:-1] + ["x"]
    print(f + "\t" + " ".join(words))
'''


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_grid_over_sets_and_telephone_writes_the_chosen_setting(tmp_path, monkeypatch):
    fake = tmp_path / "ssmspeech"
    fake.write_text(FAKE.replace("{python}", sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    manifests = []
    for name, texts in [("sentences", ["the-cat-sat-on-the-mat", "go-forward-ten-meters"]),
                        ("words", ["go", "left", "stop"])]:
        rows = []
        for text in texts:
            wav = tmp_path / f"{text}.wav"
            sf.write(str(wav), tone, 16000, subtype="PCM_16")
            rows.append({"audio_filepath": str(wav), "text": text.replace("-", " "), "duration": 1.0})
        m = tmp_path / f"{name}.jsonl"
        m.write_text("".join(json.dumps(r) + "\n" for r in rows))
        manifests.append(m)
    model = tmp_path / "model"
    model.mkdir()
    (tmp_path / "lm.arpa").write_text("")
    (tmp_path / "worse.arpa").write_text("")
    out = tmp_path / "grid.json"
    monkeypatch.setattr(sys, "argv", ["tune_decoder.py", "--model", str(model), "--lm", str(tmp_path / "worse.arpa"),
                                      "--lm", str(tmp_path / "lm.arpa"),
                                      "--binary", str(fake), "--manifest", str(manifests[0]),
                                      "--manifest", str(manifests[1]), "--telephone-manifest", str(manifests[0]),
                                      "--telephone-manifest", str(manifests[1]), "--beams", "8",
                                      "--weights", "0.5", "1.0", "--bonuses", "0", "1", "--json", str(out),
                                      "--write-settings"])
    T.main()
    grid = json.loads(out.read_text())
    assert grid["sets"] == ["sentences", "words", "sentences_tel8k", "words_tel8k"]
    beams = [r for r in grid["results"] if r["decoder"] == "beam"]
    assert len(beams) == 2 * 2 * 2  # two LMs x two weights x two bonuses
    by = {(r["lm_weight"], r["word_bonus"]): r["sets"] for r in beams if r["lm"].endswith("/lm.arpa")}
    worse = {(r["lm_weight"], r["word_bonus"]): r["sets"] for r in beams if r["lm"].endswith("/worse.arpa")}
    # the other language model reached the binary: the last word of every file is wrong
    assert worse[(0.5, 1)]["sentences"]["wer"] == pytest.approx(0.2)
    assert worse[(0.5, 0)]["words"]["wer"] == pytest.approx(1.0) and by[(0.5, 0)]["words"]["wer"] == 0.0
    # bonus 0: one deletion per sentence (2 of 10 words); bonus 1: one insertion per word (3 of 3)
    assert by[(0.5, 0)]["sentences"]["wer"] == pytest.approx(0.2)
    assert by[(0.5, 1)]["words"]["wer"] == pytest.approx(1.0)
    # LM weight 1.0 hurts only the telephone copies (8 kHz files reached the binary)
    assert by[(1.0, 1)]["sentences_tel8k"]["wer"] == pytest.approx(0.2)
    assert by[(1.0, 1)]["sentences"]["wer"] == 0.0
    assert by[(1.0, 0)]["sentences_tel8k"]["wer"] == pytest.approx(0.4)
    # every set has a perfect setting, so each set's best counts as 1 %: deleting 2 of 10 words (20x on
    # both sentence sets) costs less than inserting a word after each of 3 single words (100x twice)
    best = grid["best"]
    assert (best["lm_weight"], best["word_bonus"]) == (0.5, 0) and best["lm"].endswith("/lm.arpa")
    assert best["score"] == pytest.approx((20 + 20 + 0 + 0) / 4)
    settings = json.loads((model / "decoding.json").read_text())
    assert settings["beam"] == 8 and settings["lm_weight"] == best["lm_weight"]
    assert settings["lm"] == os.path.relpath(tmp_path / "lm.arpa", model)
    assert "words_tel8k WER" in settings["tuned_on"] and "sentences WER" in settings["tuned_on"]

    # --from-json: the same choice from the saved rows, written to another folder, nothing decoded (no
    # --binary given, no manifests); a larger tie margin changes the choice like a fresh grid would
    again = tmp_path / "again"
    again.mkdir()
    monkeypatch.setattr(sys, "argv", ["tune_decoder.py", "--model", str(again), "--from-json", str(out),
                                      "--write-settings"])
    T.main()
    assert json.loads((again / "decoding.json").read_text()) == settings | {"lm": os.path.relpath(tmp_path / "lm.arpa", again)}
    scores = sorted(r["score"] for r in grid["results"] if r["decoder"] == "beam")
    monkeypatch.setattr(sys, "argv", ["tune_decoder.py", "--model", str(again), "--from-json", str(out),
                                      "--tie-margin", str(scores[-1] + 1), "--write-settings"])
    T.main()
    tied = json.loads((again / "decoding.json").read_text())
    # every row is tied: the smaller LM file wins (both are empty: then the lowest score, the same row)
    assert (tied["lm_weight"], tied["word_bonus"]) == (0.5, 0)
    assert "tie margin " + str(scores[-1] + 1) in tied["tuned_on"]


def test_from_json_refuses_a_file_that_is_not_a_grid(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rows": []}))
    monkeypatch.setattr(sys, "argv", ["tune_decoder.py", "--model", str(tmp_path), "--from-json", str(bad)])
    with pytest.raises(SystemExit) as e:
        T.main()
    assert e.value.code == 2 and "not a tune_decoder.py grid" in capsys.readouterr().err
