"""Tests of the Debian real-voices builder (Training/data_recipe/debian_speech.py) on small inputs:
no Debian package and no Whisper model is needed."""
import io
import zipfile

import numpy as np
import pytest
import soundfile as sf

from data_recipe import debian_speech as D


def seg(start, end, text, lp=-0.2, ns=0.01, cr=1.0):
    return D.Segment(start, end, text, lp, ns, cr)


def lower_words(text):
    return " ".join("".join(c for c in w.lower() if c.isalpha() or c == "'") for w in text.split()).strip()


@pytest.mark.parametrize("stem, key", [
    ("Leavemealone", "leavemealone"), ("niceOne", "niceone"), ("leave_me_alone2", "leavemealone"),
    ("Ow3", "ow"), ("taunt1", None), ("teamshoot3", None), ("freelance2", None), ("sound002", None),
])
def test_name_key(stem, key):
    assert D.name_key(stem) == key


@pytest.mark.parametrize("stem, key", [
    ("b3", "bamboothree"), ("c9", "characternine"), ("s1", "stoneone"), ("db", None), ("wn", None),
    ("originalcall", "originalcall"), ("chow", "chow"),
])
def test_kajongg_key(stem, key):
    assert D.kajongg_key(stem) == key


def test_grunts_are_excluded_before_whisper():
    ex = D._hedgewars_exclude
    for rel in ("voices/Default/Ow1.ogg", "voices/Pirate/Jump3.ogg", "voices/Default/PoisonCough.ogg",
                "voices/Default/Firepunch6.ogg", "voices/Default/Laugh.ogg"):
        assert ex(rel), rel
    for rel in ("voices/Default/Incoming.ogg", "voices/Default/Ouch.ogg", "voices/Default/Oops.ogg"):
        assert not ex(rel), rel


def test_judge_keeps_a_confident_clip_and_uses_whisper_text():
    text, why = D.judge([seg(0, 1.2, " Leave me alone!")], 1.3, "leavemealone", lower_words)
    assert (text, why) == ("leave me alone", "")


@pytest.mark.parametrize("segments, duration, key, reason", [
    ([seg(0, 1, "Hello.", lp=-1.5)], 1.0, None, "avg_logprob"),
    ([seg(0, 1, "Hello.", ns=0.9)], 1.0, None, "no_speech_prob"),
    ([seg(0, 1, "la la la la la", cr=3.0)], 1.0, None, "compression_ratio"),
    ([seg(0, 0.2, "Hi.")], 0.2, None, "shorter than"),
    ([], 1.0, None, "heard nothing"),
    ([seg(0, 1, "...")], 1.0, None, "no words"),
    ([seg(0, 0.5, "this is far too many words for half a second")], 0.5, None, "characters a second"),
    ([seg(0, 1, "Thank you.")], 1.0, "incoming", "disagree"),
])
def test_judge_drops_with_reason(segments, duration, key, reason):
    text, why = D.judge(segments, duration, key, lower_words)
    assert text is None and reason in why


def test_judge_key_tolerates_small_differences():
    # "bamboo 3" written by Whisper as digits is spelled by the normaliser; a near miss still passes
    text, _ = D.judge([seg(0, 1, "Bamboo tree")], 1.0, "bamboothree", lower_words)
    assert text == "bamboo tree"


def test_group_segments_short_clip_is_one_piece():
    segs = [seg(0, 2, "a"), seg(2, 5, "b")]
    assert D.group_segments(segs, 6.0, max_seconds=16) == [(0.0, 6.0, segs)]


def test_group_segments_cuts_long_clip_between_segments():
    segs = [seg(0, 6, "a"), seg(6.5, 12, "b"), seg(13, 20, "c"), seg(21, 30, "d")]
    pieces = D.group_segments(segs, 31.0, max_seconds=14)
    for _, _, p in pieces:   # the segments of a piece span at most max_seconds
        assert p[-1].end - p[0].start <= 14
    assert [[s.text for s in p[2]] for p in pieces] == [["a", "b"], ["c"], ["d"]]
    # pieces tile the clip: first starts at 0, last ends at the end, cuts fall in the gaps
    assert pieces[0][0] == 0.0 and pieces[-1][1] == 31.0
    assert pieces[0][1] == pieces[1][0] == 12.5 and pieces[1][1] == pieces[2][0] == 20.5
    for start, end, p in pieces:
        assert start <= p[0].start and p[-1].end <= end


def _ogg_bytes(seconds=0.5, sr=22050):
    buf = io.BytesIO()
    sf.write(buf, np.zeros(int(seconds * sr), dtype=np.float32), sr, format="WAV")
    return buf.getvalue()


def test_list_clips_folder_and_archive(tmp_path):
    root = tmp_path / "pkg"
    (root / "v/Default").mkdir(parents=True)
    for name in ("Hello.wav", "Ow1.wav", "notes.txt"):
        (root / "v/Default" / name).write_bytes(_ogg_bytes())
    src = D.Source("t", "t", ("v/*/*",), exclude=D._hedgewars_exclude)
    clips, excluded = D.list_clips(src, root)
    assert [rel for rel, _ in clips] == ["v/Default/Hello.wav"] and excluded == ["v/Default/Ow1.wav"]
    x = D.decode16k(clips[0][1]())
    assert x.dtype == np.float32 and abs(len(x) - 8000) <= 2

    with zipfile.ZipFile(root / "data.pk3", "w") as z:
        z.writestr("sound/voices/rott/yes.wav", _ogg_bytes())
        z.writestr("sound/voices/rott/ideas/deeper.wav", _ogg_bytes())   # * must not cross a folder
        z.writestr("sound/voices/festivoxmale/yes.wav", _ogg_bytes())
    src = D.Source("a", "a", ("sound/voices/rott/*.wav",), archive="data.pk3")
    clips, excluded = D.list_clips(src, root)
    assert [rel for rel, _ in clips] == ["sound/voices/rott/yes.wav"] and excluded == []
    assert clips[0][1]()[:4] == b"RIFF"


def test_path_matches_one_folder_per_star():
    assert D.path_matches("a/b/c.ogg", "a/*/*.ogg")
    assert not D.path_matches("a/b/x/c.ogg", "a/*/*.ogg")
    assert not D.path_matches("a/c.ogg", "a/*/*.ogg")


def test_a_missing_archive_or_an_empty_source_is_an_error(tmp_path, monkeypatch):
    root = tmp_path / "pkg"
    root.mkdir()
    with pytest.raises(D.SourceError, match="not found"):
        D.list_clips(D.Source("a", "pkg-a", ("x/*.wav",), archive="data.pk3"), root)
    monkeypatch.setattr(D, "package_root", lambda *a, **k: root)
    with pytest.raises(D.SourceError, match="no file matches"):
        D.label_source(D.Source("e", "pkg-e", ("x/*.wav",)), tmp_path / "cache", [], model=None, log=lambda *a: None)


def test_build_names_a_failed_source_after_doing_the_others(tmp_path, monkeypatch):
    good, bad = D.SOURCES[0], D.SOURCES[1]

    def fake_label(source, cache, debs, model, log):
        if source is bad:
            raise D.SourceError("cannot download it")
        from data_recipe.manifest import write_manifest
        (cache / source.name).mkdir(parents=True, exist_ok=True)
        (cache / source.name / "dropped.tsv").write_text("")
        write_manifest(cache / source.name / "entries.jsonl",
                       [{"audio_filepath": "/x.wav", "text": "yes", "duration": 1.0, "speaker": "s"}])
    monkeypatch.setattr(D, "label_source", fake_label)
    monkeypatch.setattr(D, "_load_whisper", lambda: None)
    with pytest.raises(D.SourceError, match=f"{bad.name}: cannot download it"):
        D.build(tmp_path, only=[good.name, bad.name], log=lambda *a: None)
    assert (tmp_path / "manifests" / D.MANIFEST).read_text().count("\n") == 1


def test_whisper_text_spells_digits_as_the_model_alphabet():
    assert D._whisper_text("Bamboo 3.") == "bamboo three"
    assert D._whisper_text("[Music] Yes, sir!") == "yes sir"


def test_truncated_whisper_cache_line_is_skipped(tmp_path):
    path = tmp_path / "whisper.jsonl"
    path.write_text('{"file": "a.ogg", "segments": [{"start": 0, "end": 1, "text": "Hi", "avg_logprob": -0.1, '
                    '"no_speech_prob": 0.0, "compression_ratio": 1.0}]}\n{"file": "b.ogg", "segm')
    logged = []
    heard = D.load_whisper_cache(path, log=logged.append)
    assert list(heard) == ["a.ogg"] and heard["a.ogg"][0].text == "Hi"
    assert len(logged) == 1 and ":2:" in logged[0]


def test_speaker_of():
    assert D.speaker_of("usr/share/games/hedgewars/Data/Sounds/voices/Pirate/Hello.ogg") == "Pirate"
    assert D.speaker_of("sound/player/fricka/coms/attack.ogg") == "fricka"
    assert D.speaker_of("x/factions/egypt/units/spearman/sounds/spearman_ack1.wav") == "egypt/spearman"
    assert D.speaker_of("x/factions/norsemen/units/spearman/sounds/spearman_ack1.wav") == "norsemen/spearman"


def test_sources_never_touch_reserved_or_development_packages():
    reserved = ("asterisk", "pocketsphinx", "alsa-utils", "warzone2100", "klettres", "ktuberling", "tuxpaint")
    for s in D.SOURCES:
        assert not any(r in s.package for r in reserved), s.package


def test_key_cer_matches_the_best_stretch():
    assert D.key_cer("incoming", "arrincoming") == 0
    assert D.key_cer("incoming", "incomingfire") == 0
    assert D.key_cer("incoming", "arrincomin") == 0.125
    assert D.key_cer("incoming", "thankyou") > D.MAX_KEY_CER
    assert D.key_cer("", "abc") == 0


def test_judge_accepts_an_improvised_line_that_contains_the_name():
    text, _ = D.judge([seg(0, 1.5, "Arr, incoming!")], 1.5, "incoming", lower_words)
    assert text == "arr incoming"


def test_whisper_output_is_cached_and_reused(tmp_path, monkeypatch):
    """A second run with new rules labels from whisper.jsonl without calling Whisper."""
    root = tmp_path / "pkg"
    (root / "v").mkdir(parents=True)
    (root / "v" / "Hello.wav").write_bytes(_ogg_bytes(1.0))
    (root / "v" / "Hello_copy.wav").write_bytes(_ogg_bytes(1.0))    # the same bytes: used once
    src = D.Source("t", "t", ("v/*",))
    monkeypatch.setattr(D, "package_root", lambda *a, **k: root)
    monkeypatch.setattr(D, "_whisper_text", lower_words)
    calls = []

    def fake_whisper(model, x):
        calls.append(len(x))
        return [seg(0, 0.9, "Hello.")]
    monkeypatch.setattr(D, "whisper_segments", fake_whisper)
    D.label_source(src, tmp_path / "cache", [], model=None, log=lambda *a: None)
    stale = tmp_path / "cache" / "t" / "stale.wav"
    stale.write_bytes(b"old")
    D.label_source(src, tmp_path / "cache", [], model=None, log=lambda *a: None)
    assert len(calls) == 1 and not stale.exists()
    assert "same file as v/Hello.wav" in (tmp_path / "cache" / "t" / "dropped.tsv").read_text()
    rows = [l for l in (tmp_path / "cache" / "t" / "entries.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and '"text": "hello"' in rows[0]


def test_merge_writes_the_manifest_from_finished_sources_only(tmp_path):
    from data_recipe.manifest import read_manifest, write_manifest
    cache = tmp_path / D.OUT_NAME
    a, b = D.SOURCES[0].name, D.SOURCES[1].name
    write_manifest(cache / a / "entries.jsonl", [
        {"audio_filepath": "/x/1.wav", "text": "hello", "duration": 1.0, "speaker": f"{a}/p1"},
        {"audio_filepath": "/x/2.wav", "text": "take cover", "duration": 2.0, "speaker": f"{a}/p2"}])
    (cache / a / "dropped.tsv").write_text(f"{a}\tOw1.ogg\twhisper unsure\n")
    (cache / b).mkdir(parents=True)   # started, not finished: no entries.jsonl
    (cache / b / "dropped.tsv").write_text(f"{b}\tx.wav\tcannot decode\n")
    summary = D.merge(tmp_path, log=lambda *a: None)
    rows = read_manifest(tmp_path / "manifests" / D.MANIFEST)
    assert [r["text"] for r in rows] == ["hello", "take cover"]
    assert summary["clips"] == 2 and summary["minutes"] == 0.05 and summary["speakers"] == 2
    assert summary["dropped"] == 1 and list(summary["sources"]) == [a]
    assert (cache / "dropped.tsv").read_text().splitlines() == ["source\tfile\treason", f"{a}\tOw1.ogg\twhisper unsure"]


def test_a_name_that_matches_lowers_the_bar_and_a_hint_mismatch_keeps_the_strict_one():
    sure, unsure = -0.5, -0.9
    assert D.MIN_LOGPROB_NAMED < unsure < D.MIN_LOGPROB < sure
    # exact names: a match accepts a low-scoring short clip; a mismatch drops even a sure one
    assert D.judge([seg(0, 1, "Boring.", lp=unsure)], 1.0, "boring", lower_words)[0] == "boring"
    assert "disagree" in D.judge([seg(0, 1, "Thank you.", lp=sure)], 1.0, "boring", lower_words)[1]
    # a name that is only a hint (hedgewars): a mismatch keeps the clip when Whisper is sure ...
    assert D.judge([seg(0, 1, "Back off.", lp=sure)], 1.0, "leavemealone", lower_words, key_is_text=False)[0] \
        == "back off"
    # ... and drops it when Whisper is not
    text, why = D.judge([seg(0, 1, "Back off.", lp=unsure)], 1.0, "leavemealone", lower_words, key_is_text=False)
    assert text is None and "avg_logprob" in why
    # no name at all: the strict bar
    assert D.judge([seg(0, 1, "Attack.", lp=unsure)], 1.0, None, lower_words)[0] is None


def test_check_labels_counts_kept_clips_and_scores_them(tmp_path, monkeypatch):
    from data_recipe.manifest import write_manifest
    rows = []
    for i, ref in enumerate(["turret selected", "hello"]):
        path = tmp_path / f"{i}.wav"
        sf.write(str(path), np.zeros(16000, dtype=np.float32), 16000)
        rows.append({"audio_filepath": str(path), "text": ref, "duration": 1.0})
    write_manifest(tmp_path / "m.jsonl", rows)
    answers = iter([[seg(0, 1, "Turret selected.", lp=-0.3)],      # sure and right
                    [seg(0, 1, "Yellow.", lp=-1.5)]])               # unsure: not kept, but scored in all
    monkeypatch.setattr(D, "whisper_segments", lambda model, x: next(answers))
    monkeypatch.setattr(D, "_load_whisper", lambda: None)
    r = D.check_labels(tmp_path / "m.jsonl", log=lambda *a: None)
    assert (r["clips"], r["kept"]) == (2, 1)
    assert r["kept_labels"]["wer"] == 0.0
    assert r["all_whisper"]["wer"] == 1 / 3     # "yellow" for "hello": one word of three wrong
