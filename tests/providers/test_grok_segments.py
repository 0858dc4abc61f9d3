"""Grok speech recognition in segments, against the local fake of xAI's `/stt` driven through our
real client on real recorded English: what xAI locks while the person speaks becomes a final of
its own (gathered up to a sentence's end) before the utterance is over, each word once whichever
way `transcript.done` reads (empty, repeating the locked chunks, or only the rest) and when the
locked chunks repeat each other; interims carry only the words after the segments."""
from __future__ import annotations

import pytest

from engines.providers.xai.config import XAIConfig
from engines.providers.xai.stt import GrokSTT
from engines.stt.base import StreamOptions
from tests.support.fake_xai import FakeXAI
from tests.support.speech import clips
from tests.support.utterances import assert_each_word_once_in_order, feed, finals

pytestmark = [pytest.mark.integration, pytest.mark.speech]

SILENCE = b"\0" * 32000  # one second
SENTENCES = ["Alpha bravo charlie delta.", "Echo foxtrot golf hotel india.", "Juliet kilo lima mike."]
SAID = " ".join(SENTENCES)


@pytest.fixture(scope="module")
def speech() -> tuple[bytes, bytes]:
    """A 7 s sentence and a 3 s one (what the fake says over them is its script)."""
    (long, _), (short, _) = clips()[:2]
    return long, short


def grok(fake: FakeXAI) -> GrokSTT:
    return GrokSTT(XAIConfig(api_key=fake.key, base_url=fake.base_url, stall_s=1.5,
                             connect_timeout_s=2.0))


@pytest.mark.parametrize("done", ["empty", "repeats the locked chunks", "only the rest",
                                  "cumulative chunks"])
def test_locked_sentences_are_segments_while_the_person_speaks(
        fake: FakeXAI, speech: tuple[bytes, bytes], done: str) -> None:
    long, _ = speech
    fake.script = [SAID]
    fake.locks = [4, 5]  # "Alpha … delta." once 4 words were heard, "Echo … india." at 9
    fake.text_in_done = done == "repeats the locked chunks"
    fake.rest_in_done = done == "only the rest"
    fake.cumulative_locks = done == "cumulative chunks"
    audio = SILENCE + long + SILENCE * 2
    events = feed(grok(fake).stream("en", "g"), audio)
    assert [f.text for f in finals(events)] == SENTENCES
    assert_each_word_once_in_order(events, SAID)
    # The two locked sentences came out while the sentence was still being spoken, not at its end.
    at = [pushed for pushed, e in events if e.kind == "final"]
    assert at[0] < at[1] < len(SILENCE) + len(long) - 32000 < at[2], at
    [turn] = fake.stt_turns
    assert [lock["text"] for lock in turn["locked"]][:2] == (
        [SENTENCES[0], " ".join(SENTENCES[:2])] if fake.cumulative_locks else SENTENCES[:2])


def test_a_segment_ends_where_its_last_word_does(fake: FakeXAI, speech: tuple[bytes, bytes]) -> None:
    """end_ms: the turn's start + the locked chunk's last word's end (sooner than its start +
    duration); the last segment at the utterance's end. Segments follow each other, and each
    was heard (speech_end_at) no later than the next."""
    long, _ = speech
    fake.script = [SAID]
    fake.locks = [4, 5]
    events = feed(grok(fake).stream("en", "g"), SILENCE + long + SILENCE * 2)
    one, two, last = finals(events)
    [turn] = fake.stt_turns
    first_lock, second_lock = turn["locked"][:2]
    assert one.end_ms == pytest.approx(one.start_ms + first_lock["words_end"] * 1000)
    assert one.end_ms < one.start_ms + (first_lock["start"] + first_lock["duration"]) * 1000
    assert two.end_ms == pytest.approx(one.start_ms + second_lock["words_end"] * 1000)
    assert (two.start_ms, last.start_ms) == (one.end_ms, two.end_ms)
    assert one.start_ms < one.end_ms < two.end_ms < last.end_ms
    assert last.end_ms > (len(SILENCE) + len(long)) / 32  # the utterance's end, after its last words
    assert one.speech_end_at and two.speech_end_at and last.speech_end_at
    assert one.speech_end_at < two.speech_end_at <= last.speech_end_at


def test_locked_chunks_are_gathered_up_to_a_sentences_end(fake: FakeXAI,
                                                         speech: tuple[bytes, bytes]) -> None:
    long, _ = speech
    fake.script = ["Alpha bravo charlie delta echo foxtrot. Golf hotel india juliet."]
    fake.locks = [3, 3]  # "Alpha bravo charlie" ends no sentence: it waits for "… foxtrot."
    events = feed(grok(fake).stream("en", "g"), SILENCE + long + SILENCE * 2)
    assert [f.text for f in finals(events)] == ["Alpha bravo charlie delta echo foxtrot.",
                                                "Golf hotel india juliet."]
    assert_each_word_once_in_order(events, fake.script[0])
    assert finals(events)[0].end_ms == pytest.approx(
        finals(events)[0].start_ms + fake.stt_turns[0]["locked"][1]["words_end"] * 1000)


def test_a_lock_that_ends_a_sentence_and_begins_the_next_is_cut_at_the_sentences_end(
        fake: FakeXAI, speech: tuple[bytes, bytes]) -> None:
    """xAI locks chunks of ~3 s, which seldom end where a sentence does: "Alpha bravo charlie
    delta. Echo foxtrot" is a segment up to "delta." at once (ending at that word's end), and
    "Echo foxtrot" waits for the rest of its sentence."""
    long, _ = speech
    fake.script = [SAID]
    fake.locks = [6, 5]  # "… delta. Echo foxtrot", then "golf hotel india. Juliet kilo"
    events = feed(grok(fake).stream("en", "g"), SILENCE + long + SILENCE * 2)
    got = finals(events)
    assert [f.text for f in got] == SENTENCES
    assert_each_word_once_in_order(events, SAID)
    first_lock = fake.stt_turns[0]["locked"][0]
    step = first_lock["duration"] / 6  # the fake's words share the chunk's audio evenly
    assert got[0].end_ms == pytest.approx(got[0].start_ms + (first_lock["start"] + 3.8 * step) * 1000)
    at = [pushed for pushed, e in events if e.kind == "final"]
    assert at[0] < at[1] < len(SILENCE) + len(long) - 32000 < at[2], at
    # The words after the cut lead the interim at once.
    cut = next(i for i, (_, e) in enumerate(events) if e.kind == "final")
    assert next(e.text for _, e in events[cut:] if e.kind == "interim").startswith("Echo foxtrot")


@pytest.mark.parametrize("done", ["empty", "repeats the locked chunks"])
def test_an_utterance_its_locks_said_whole_ends_with_no_further_final(
        fake: FakeXAI, speech: tuple[bytes, bytes], done: str) -> None:
    """The provider's endpointing locks the last words (as a sentence, "mike."): `transcript.done`
    adds nothing, so no final comes at the end, and the utterance is over all the same (the
    stream is idle; the next utterance is the next key)."""
    long, short = speech
    fake.script = [SAID[:-1], "November oscar papa"]
    fake.locks = [4, 5]
    fake.endpointing = True
    fake.text_in_done = done == "repeats the locked chunks"
    stream = grok(fake).stream("en", "g")
    events = feed(stream, SILENCE + long + SILENCE * 2)
    assert [f.text for f in finals(events)] == SENTENCES
    last_lock = fake.stt_turns[0]["locked"][-1]
    assert last_lock["text"] == SENTENCES[-1]  # the endpointing's lock: its words end the segment
    assert finals(events)[-1].end_ms == pytest.approx(finals(events)[0].start_ms
                                                      + last_lock["words_end"] * 1000)
    assert stream.idle
    fake.locks, fake.endpointing = [], False
    more = finals(feed(stream, short + SILENCE * 2))
    assert [(f.text, f.utterance_key, f.part) for f in more] == [("November oscar papa", "g:1", 0)]


def test_a_later_utterances_segments_wait_for_the_earlier_ones_end(
        fake: FakeXAI, speech: tuple[bytes, bytes]) -> None:
    """The first utterance's end is answered late (1 s after `audio.done`), when the next one's
    first sentence is already locked: finals still come out in the order said."""
    long, short = speech
    fake.script = [SAID, "November oscar papa quebec. Romeo sierra"]
    fake.locks = [4, 5]
    fake.delays = {"stt": 1.0}
    events = feed(grok(fake).stream("en", "g"), SILENCE + long + SILENCE + short + SILENCE * 3)
    assert [(f.utterance_key, f.part, f.text) for f in finals(events)] == [
        ("g:0", 0, SENTENCES[0]), ("g:0", 1, SENTENCES[1]), ("g:0", 2, SENTENCES[2]),
        ("g:1", 0, "November oscar papa quebec."), ("g:1", 1, "Romeo sierra")]
    # The second one's first sentence was locked before the first one's end was answered.
    first, second = fake.stt_turns
    assert second["locked"][0]["at"] < first["answered_at"]


@pytest.mark.parametrize("done", ["empty", "repeats the locked chunks", "only the rest",
                                  "cumulative chunks"])
def test_a_whole_clip_is_its_words_once(fake: FakeXAI, speech: tuple[bytes, bytes], done: str) -> None:
    long, _ = speech
    fake.script = [SAID]
    fake.locks = [4, 5]
    fake.text_in_done = done == "repeats the locked chunks"
    fake.rest_in_done = done == "only the rest"
    fake.cumulative_locks = done == "cumulative chunks"
    text, _ = grok(fake).transcribe(long, "en")
    assert text == SAID
    assert len(fake.stt_turns[0]["locked"]) >= 2


def test_keyterms_and_usage_are_unchanged_by_segments(fake: FakeXAI, speech: tuple[bytes, bytes]) -> None:
    """One connection and one metering per utterance, however many segments it has."""
    long, _ = speech
    fake.script = [SAID]
    fake.locks = [4, 5]
    billed: list[float] = []
    stream = grok(fake).stream("en", "g", StreamOptions(keyterms=("Alpha",),
                                                       on_usage=lambda p, u, a: billed.append(a)))
    assert len(finals(feed(stream, SILENCE + long + SILENCE * 2))) == 3
    [turn] = fake.stt_turns
    assert turn["query"]["keyterm"] == ["Alpha"]
    assert billed == [pytest.approx(turn["audio_bytes"] / 32000, abs=0.01)]
