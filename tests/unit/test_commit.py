"""unit: committing words while a person speaks (engines.stt.commit): LocalAgreement-2 and where a
segment may end."""
from __future__ import annotations

import pytest

from engines.stt.commit import SegmentRules, agreement, boundary, pieces

pytestmark = pytest.mark.unit
RULES = SegmentRules(sentence_words=2, clause_words=4, max_words=10, pause_s=0.2)


def test_pieces_join_back_into_the_text() -> None:
    text = " And Mr. John Dashwood, had then."
    assert "".join(pieces(text)) == text
    assert pieces(text)[:2] == [" And", " Mr."]


def test_two_decodes_agree_on_their_common_start_whatever_the_punctuation_and_case() -> None:
    assert agreement(pieces(" He was not an ill"), pieces(" he was, not a ill-disposed")) == 3
    assert agreement([], pieces(" anything")) == 0
    assert agreement(pieces(" Pues sí."), pieces(" pues si ya")) == 2


def test_a_segment_ends_at_the_last_sentence_end() -> None:
    text = " He was not an ill-disposed young man. Unless to be"
    assert text[:boundary(text, "en", RULES)] == " He was not an ill-disposed young man."


def test_an_abbreviation_or_a_lone_word_is_no_sentence_end() -> None:
    assert boundary(" And Mr. John", "en", RULES) == 0
    assert boundary(" Front.", "en", RULES) == 0
    assert boundary(" It costs 3.5 euros", "en", RULES) == 0


def test_a_clause_ends_a_segment_only_once_it_is_long_enough() -> None:
    assert boundary(" Yes, I think", "en", RULES) == 0
    text = " If you go to the store, buy"
    assert text[:boundary(text, "en", RULES)] == " If you go to the store,"


def test_a_pause_after_enough_words_ends_a_segment() -> None:
    text = " we went down to the river and"
    at_river = text.index(" and")
    assert boundary(text, "en", RULES, {at_river: 0.3}) == at_river
    assert boundary(text, "en", RULES, {at_river: 0.1}) == 0


def test_too_many_words_end_at_the_longest_pause_never_before_a_dangling_word() -> None:
    text = " one two three four five six seven eight nine ten and eleven"
    and_at = text.index(" eleven")  # after "and": a phrase never ends there
    ten_at = text.index(" and")
    cut = boundary(text, "en", RULES, {and_at: 0.19, ten_at: 0.15})
    assert text[:cut] == " one two three four five six seven eight nine ten"
    assert boundary(" one two three", "en", RULES, {}) == 0


def test_a_segment_that_continues_a_sentence_is_translated_lower_case() -> None:
    from engines.translation.base import continued_case
    assert continued_case("have been made more", "Ha sido hecho más", "es") == "ha sido hecho más"
    assert continued_case("He was", "Él era", "es") == "Él era"
    assert continued_case("was the house", "Das Haus war", "de") == "Das Haus war"
    assert continued_case("yo creo", "I think", "en") == "I think"
    assert continued_case("la otan", "NATO", "en") == "NATO"


def test_a_cut_keeps_the_segments_last_second_of_words_heard_never_its_first_word() -> None:
    from engines.providers.local.whisper_stream import _overlap_at
    text = " we went down to the river."
    # (end offset, start s, end s, has letters) per word, then the full stop.
    ends = [(3, 0.0, 0.3), (8, 0.3, 0.6), (13, 0.6, 0.9), (16, 0.9, 1.1), (20, 1.1, 1.3),
            (26, 1.3, 1.8)]
    timed = [(o, a, b, True) for o, a, b in ends] + [(27, 1.8, 1.8, False)]
    keep_from, keep_s = _overlap_at(timed, len(text), 1.9, 0.9)
    assert text[keep_from:] == " the river." and keep_s == 1.1
    assert _overlap_at(timed, len(text), 1.9, 0.0) == (len(text), 1.9)
    assert _overlap_at(timed, len(text), 1.9, 60.0)[0] == 3  # everything but the first word
