"""Tests of Training/lm/gcide_definitions.py on a tiny hand-written GCIDE-format file."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lm"))
import gcide_definitions as G  # noqa: E402

TINY = """Coagulate \\Co*ag"u*late\\, v. t. [imp. & p. p. {Coagulated}; p.
   pr. & vb. n. {Coagulating}.]
   To cause a liquid to change into a curdlike state; as, rennet
   coagulates milk.
   [1913 Webster]

Coagulate \\Co*ag"u*late\\, v. i.
   To undergo coagulation. --Boyle.

   Syn: To thicken; concrete; curdle; clot; congeal.
        [1913 Webster]

   Note: Coagulate is much used of blood, (Physiol. Chem.) as in
         the laboratory. --Sir W. Scott. It dates from 1850. Rare.
         [1913 Webster]

Coagulation \\Co*ag`u*la"tion\\, n. [L. coagulatio.]
   1. The change from a liquid to a thickened state.
         The milk was turned by the cold night air. --Shak.
   2. The thing formed by coagulating; a coagulum.
   [1913 Webster]
"""


def test_paragraphs_skip_citations_and_end_at_source_tags():
    pars = list(G.paragraphs(TINY.splitlines(keepends=True)))
    assert [h for h, _ in pars] == [True, True, False, False, True]
    assert not any("night air" in t for _, t in pars)  # the citation (nine spaces) is text_corpus's
    assert pars[2][1].startswith("Syn:")


def test_clean_removes_heads_brackets_authors_and_sense_numbers():
    pars = list(G.paragraphs(TINY.splitlines(keepends=True)))
    texts = [G.clean(h, t) for h, t in pars]
    assert texts[0] == "To cause a liquid to change into a curdlike state; as, rennet coagulates milk."
    assert texts[1] == "To undergo coagulation."
    assert texts[2] == ""  # synonyms
    # a usage note is whole (its second line is at the citations' indent); author tag, label go, the year stays
    assert texts[3] == "Coagulate is much used of blood, as in the laboratory. It dates from 1850. Rare."
    assert texts[4] == ("The change from a liquid to a thickened state. "
                        "The thing formed by coagulating; a coagulum.")


def test_sentences_are_normalised_deduplicated_and_filtered(tmp_path):
    lines = (TINY + TINY).splitlines(keepends=True)  # every sentence twice
    got = G.definition_sentences(lines, exclude=["the thing formed by coagulating a coagulum today"])
    assert got == ["to cause a liquid to change into a curdlike state as rennet coagulates milk",
                   "to undergo coagulation",
                   "coagulate is much used of blood as in the laboratory",
                   "it dates from eighteen fifty",
                   "the change from a liquid to a thickened state"]
    # the command writes the same, one sentence a line
    src = tmp_path / "gcide.txt"
    src.write_text(TINY)
    out = tmp_path / "defs.txt"
    assert G.main(["--gcide", str(src), "--out", str(out)]) == 0
    assert out.read_text().splitlines()[-1] == "the thing formed by coagulating a coagulum"
