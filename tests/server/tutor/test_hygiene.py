"""The answer filter: no speaker label, no passage marker, whatever pieces the text comes in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.tutor.hygiene import AnswerFilter


def run(pieces: list[str], names: tuple[str, ...] = ("Ada", "Bob")) -> str:
    answer = AnswerFilter(names)
    return "".join(answer.feed(piece) for piece in pieces) + answer.finish()


def by_chars(text: str) -> list[str]:
    return list(text)


def test_a_leading_name_or_role_label_is_removed() -> None:
    for text in (
        "Ada: Cells divide.",
        "ada : Cells divide.",
        "Tutor:Cells divide.",
        "  AI: Cells divide.",
    ):
        assert run(by_chars(text)) == "Cells divide.", text
        assert run([text]) == "Cells divide.", text


def test_a_name_inside_the_answer_or_a_label_later_stays() -> None:
    assert run(by_chars("Ada is right: cells divide.")) == "Ada is right: cells divide."
    assert run(by_chars("Well, Bob: cells divide.")) == "Well, Bob: cells divide."
    assert run(by_chars("Note: cells divide.")) == "Note: cells divide."
    assert run(by_chars("A cell divides.")) == "A cell divides."


def test_passage_markers_never_get_through() -> None:
    text = 'As the notes say, <passage material="2" chunk="4">cells divide</passage> twice.'
    assert run(by_chars(text)) == "As the notes say, cells divide twice."
    assert run(["</pass", "age><PASSAGE  material='1'>", "x"]) == "x"
    # A marker cut off by the end of the answer is dropped too.
    assert run(by_chars("Cells divide. <passage mat")) == "Cells divide. "


def test_other_angle_brackets_pass() -> None:
    assert run(by_chars("If a < b and <p> is a tag")) == "If a < b and <p> is a tag"
    assert run(by_chars("x <pa y")) == "x <pa y"


@given(st.lists(st.text(max_size=12), max_size=30), st.sampled_from(["", "Ada: ", "tutor: "]))
def test_pieces_do_not_change_the_result(pieces: list[str], label: str) -> None:
    text = label + "".join(pieces)
    whole = run([text])
    assert run(by_chars(text)) == whole
    assert run([label, *pieces]) == whole
    assert "<passage" not in whole.lower().replace(" ", "")
