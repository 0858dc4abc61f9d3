"""unit: telling a decoder loop from speech, removing what is left of one, and deciding whether a
phrase looks finished (the endpointing rule). No model: pure functions."""
from __future__ import annotations

import pytest

from engines.stt import repetition
from engines.stt.endpointing import looks_finished

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text", [
    "Front Front Front Front Front Front",
    "Please try your call again later. Please try your call again later. Please try your call",
    "5 5 5 5 5 5 5 5",
])
def test_loops_seen_on_real_speech_are_suspect_and_looped(text: str) -> None:
    v = repetition.judge(text, tokens=30, seconds=1.5, token_cap=28)
    assert v.suspect and v.looped and v.reason


@pytest.mark.parametrize(("text", "tokens", "seconds"), [
    ("Please check the number and dial again.", 9, 2.4),
    ("We had everything before us, we had nothing before us.", 13, 3.5),
    ("five five", 3, 1.2),
    ("It was the best of times, it was the worst of times.", 14, 3.6),
])
def test_ordinary_speech_is_not_suspect(text: str, tokens: int, seconds: float) -> None:
    v = repetition.judge(text, tokens, seconds, token_cap=int(8 * seconds) + 16)
    assert not v.suspect and not v.looped, v


def test_a_speaker_repeating_a_call_sign_at_a_speaking_rate_is_checked_but_not_a_loop() -> None:
    text = "This is Victor Kilo 5, Quebec Italy Victor Kilo 5 Quebec Italy testing 1, 2, 3."
    v = repetition.judge(text, tokens=30, seconds=13.5, token_cap=124)
    assert v.suspect and not v.looped


def test_too_many_tokens_for_the_audio_is_suspect() -> None:
    assert repetition.judge("a b c d e f g h", tokens=40, seconds=2.0, token_cap=60).reason == "token rate"


def test_a_long_utterance_decoded_to_a_few_words_is_suspect_but_not_a_loop() -> None:
    # Seen on a 16 s Spanish prompt: a fitted window kept only the last sentence.
    v = repetition.judge("Visite www.example.org", tokens=9, seconds=16.0, token_cap=144)
    assert (v.suspect, v.looped, v.reason) == (True, False, "too few tokens")
    assert not repetition.judge("Sí.", tokens=2, seconds=1.2, token_cap=26).suspect
    assert not repetition.judge("Uno, dos, tres.", tokens=6, seconds=4.0, token_cap=48).suspect


def test_collapse_keeps_each_repeated_word_and_phrase_once() -> None:
    assert repetition.collapse("left left left left") == "left"
    assert repetition.collapse("It was the age of wisdom. It was the age of wisdom.") == \
        "It was the age of wisdom."
    assert repetition.collapse("Minute, Minute, Minute and then more") == "Minute, and then more"
    assert repetition.collapse("nothing repeats here") == "nothing repeats here"
    assert repetition.collapse("") == ""


@pytest.mark.parametrize(("text", "lang"), [
    ("Please try your call again later.", "en"),
    ("Front, left.", "en"),
    ("Is anybody there?", "en"),
    ("Por favor, inténtelo de nuevo.", "es"),
    ("Merci beaucoup, à demain!", "fr"),
])
def test_finished_phrases_look_finished(text: str, lang: str) -> None:
    assert looks_finished(text, lang)


@pytest.mark.parametrize(("text", "lang"), [
    ("Front.", "en"),  # one word: Whisper puts a full stop after a lone word too
    ("We had everything before", "en"),  # no punctuation
    ("I went to the...", "en"),  # trailing off
    ("Please press one and.", "en"),  # ends on a conjunction
    ("Quiero ir a la.", "es"),
    ("", "en"),
])
def test_unfinished_phrases_do_not(text: str, lang: str) -> None:
    assert not looks_finished(text, lang)
