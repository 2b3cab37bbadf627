"""Tests of the words development set builder (Training/data_recipe/devset_words.py) on small
inputs: no Debian package is needed."""
import math
import random

import pytest

from data_recipe import devset_words as W

AUDIO_CFG = """audio_module
{
	/* audio format: audio [filename] [oneshot/loop] [volume 0-100] [range] */
/*Design Sequence*/
	audio	"beep3.ogg"		oneshot  30 1800
	audio	"pcv331.ogg"	oneshot	100 1800  /*Turret Selected*/
	audio	"pcv391.ogg"	oneshot	100 1800  /*Scavenger  Outpost Eradicated*/
	audio	"pcv397.ogg"	oneshot	100 1800  /*LZ 1*/
	audio	"pcv463.ogg" 	oneshot	100 1800  /*10 Minutes Remaining*/
	audio	"t-grnli4.ogg"  oneshot	100 1800  /*4*/
	audio	"pcv384.ogg"  	oneshot	100 1800  /*NEXUS Tower Detected*/
	audio	"pcv388.ogg"  	oneshot	100 1800  /*Enemy VTOLs Detected*/
	audio	"col011a.ogg" 	oneshot	100 1800  /*Cleanse & Destroy*/
	audio	"lndgzne.ogg"	oneshot 100 1800	/* Landing Zone */
	audio	"bldloop.ogg"	loop	 20 1800
}
"""


def test_parse_audio_cfg():
    cfg = W.parse_audio_cfg(AUDIO_CFG)
    assert cfg["pcv331.ogg"] == "Turret Selected"
    assert cfg["pcv391.ogg"] == "Scavenger Outpost Eradicated"
    assert cfg["lndgzne.ogg"] == "Landing Zone"
    assert cfg["beep3.ogg"] is None and cfg["bldloop.ogg"] is None
    assert "Design Sequence" not in " ".join(v or "" for v in cfg.values())
    assert len(cfg) == 11


@pytest.mark.parametrize("comment,text", [
    ("Turret Selected", "turret selected"),
    ("10 Minutes Remaining", "ten minutes remaining"),
    ("1 Minute Remaining", "one minute remaining"),
    ("4", "four"),
    ("You will have a green light in 5", "you will have a green light in five"),
    ("Cleanse & Destroy", "cleanse and destroy"),
    ("Fire-At-Will", "fire at will"),
    ("Group Reporting:", "group reporting"),
    ("Warning! System Failure Imminent", "warning system failure imminent"),
    ("NEXUS Tower Detected", "nexus tower detected"),
    ("LZ 1", None), ("Enemy VTOLs Detected", None), ("SAM Site", None), ("NASDA Central", None),
    (None, None), ("", None),
])
def test_wz_text(comment, text):
    assert W.wz_text(comment) == text


KLETTRES_XML = """<!--
   KDE EDU KLettres
-->
<klettres>
  <language code="en">
    <menuitem><label>&amp;English</label></menuitem>
    <alphabet>
	<sound name="A" file="en/alpha/A.ogg" />
	<sound name="B" file="en/alpha/B.ogg" />
    </alphabet>
    <syllables>
	<sound name="CAR" file="en/syllab/car.ogg" />
	<sound name="CH" file="en/syllab/ch.ogg" />
	<sound name="THE" file="en/syllab/the.ogg" />
    </syllables>
  </language>
</klettres>
"""


def test_parse_klettres_and_letters():
    items = W.parse_klettres_sounds(KLETTRES_XML)
    assert items == [("A", "en/alpha/A.ogg", "alphabet"), ("B", "en/alpha/B.ogg", "alphabet"),
                     ("CAR", "en/syllab/car.ogg", "syllables"), ("CH", "en/syllab/ch.ogg", "syllables"),
                     ("THE", "en/syllab/the.ogg", "syllables")]
    texts = [W.klettres_text(n) for n, _, _ in items]
    assert texts == ["a", "b", "car", None, "the"]
    assert W.klettres_text("TH") is None and W.klettres_text("AW") is None
    # every letter is the letter as a one-character word
    assert [W.klettres_text(c) for c in "AZ"] == ["a", "z"]


SOUNDTHEME = """<language code="en">
    <sound name="ball" file="en/ball.ogg" />
    <sound name="egypt_palmtree" file="en/egypt_palmtree.ogg" />
    <sound name="moon_ufo" file="en/moon_ufo.ogg" />
    <sound name="pizzeria_brocolli" file="en/pizzeria_broccolli.ogg" />
    <sound name="tv_car" file="en/tv_car.ogg" />
</language>
"""


def test_parse_soundtheme_and_text():
    items = W.parse_soundtheme(SOUNDTHEME)
    assert items[0] == ("ball", "en/ball.ogg") and items[3] == ("pizzeria_brocolli", "en/pizzeria_broccolli.ogg")
    assert [W.ktuberling_text(n) for n, _ in items] == ["ball", "palm tree", None, "broccoli", "car"]
    assert W.ktuberling_text("moon_fallingstar") == "falling star"
    assert W.ktuberling_text("egypt_sphynx") == "sphinx"
    assert W.ktuberling_text("moon_moonwalker") is None


def test_tuxpaint_description_rule():
    txt = "A crow.\nach.utf8=Atoro.\nde.utf8=Eine Kr\u00e4he.\n"
    assert W.tuxpaint_english(txt) == "A crow."
    assert W.tuxpaint_english("\ufeffAn owl.\n") == "An owl."
    assert W.tuxpaint_english("de.utf8=Ein Wallaby.\n") == ""
    assert W.tuxpaint_english("") == ""
    assert W.tuxpaint_text("crow", "A crow.") == "a crow"
    assert W.tuxpaint_text("owl", "An owl.") == "an owl"
    assert W.tuxpaint_text("frog-1", "A frog.") == "a frog"
    assert W.tuxpaint_text("hen", "A brown hen.") is None          # edited after the recording
    assert W.tuxpaint_text("nandou", "A rhea.") is None
    assert W.tuxpaint_text("hippopotamus", "An hippopotamus.") is None  # article unsure
    assert W.tuxpaint_text("mountaingoat", "A mountaingoat.") is None
    assert W.tuxpaint_text("wallaby", "") is None


def _entries(seed=0):
    rng = random.Random(seed)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    out = []
    for source, n in (("warzone2100", 40), ("klettres", 7), ("ktuberling", 3), ("tuxpaint", 1)):
        for i in range(n):
            out.append({"audio_filepath": f"/x/{source}/{i}.wav", "source": source, "duration": 1.0,
                        "text": f"{source} {rng.choice(words)}" if i % 3 else "shared word"})
    return out


def test_split_deterministic_and_at_least_sixty_percent_per_source():
    entries = _entries()
    ev1, tr1 = W.split_eval(entries)
    shuffled = entries[:]
    random.Random(1).shuffle(shuffled)
    ev2, tr2 = W.split_eval(shuffled)
    assert [e["audio_filepath"] for e in ev1] == [e["audio_filepath"] for e in ev2]
    assert [e["audio_filepath"] for e in tr1] == [e["audio_filepath"] for e in tr2]
    assert len(ev1) + len(tr1) == len(entries)
    assert {e["audio_filepath"] for e in ev1}.isdisjoint({e["audio_filepath"] for e in tr1})
    for source in ("warzone2100", "klettres", "ktuberling", "tuxpaint"):
        n = sum(e["source"] == source for e in entries)
        k = sum(e["source"] == source for e in ev1)
        assert k >= math.ceil(0.6 * n) and k * 2 >= n, source
    # no transcript is in both parts
    assert {e["text"] for e in ev1}.isdisjoint({e["text"] for e in tr1})
    assert tr1, "the rule must leave something for training on this input"


def test_split_groups_same_text_and_depends_on_text_not_order():
    entries = [{"audio_filepath": f"/x/{i}.wav", "source": "s", "duration": 1.0, "text": t}
               for i, t in enumerate(["a", "a", "b", "c", "d", "e", "f", "g", "h", "i"])]
    ev, tr = W.split_eval(entries)
    side = {e["audio_filepath"]: "eval" for e in ev} | {e["audio_filepath"]: "train" for e in tr}
    assert side["/x/0.wav"] == side["/x/1.wav"]
    assert len(ev) >= 6
    # the key is the sha1 of source and transcript
    assert W._key("s", "a") == __import__("hashlib").sha1(b"s\na").hexdigest()
