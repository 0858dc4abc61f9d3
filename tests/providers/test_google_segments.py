"""Google speech recognition in segments, against the local fake gRPC server driven through
Google's own client on real recorded English: each `is_final` result Google settles while the
person speaks is a final of its own at once (the utterance's next part, ending at its
`result_end_time`), the turn's end adds only what is left, interims carry only the words after the
segments, and a stream rotated in mid-speech neither repeats nor loses a word of them."""
from __future__ import annotations

import pytest

from engines.providers.google.stt import GoogleSTT
from tests.providers.test_google import LONG_PAUSES, SILENCE, config
from tests.support.fake_google import FakeGoogle
from tests.support.speech import clips
from tests.support.utterances import assert_each_word_once_in_order, feed, finals

pytestmark = [pytest.mark.integration, pytest.mark.speech]

@pytest.fixture(scope="module")
def sentences(google_server: FakeGoogle) -> list[tuple[bytes, str]]:
    out = clips()[:2]
    for pcm, ref in out:
        google_server.register(pcm, ref)
    return out


def test_each_result_google_settles_mid_speech_is_a_segment_at_once(
        gfake: FakeGoogle, sentences: list[tuple[bytes, str]]) -> None:
    (pcm, ref), _ = sentences
    gfake.stt_final_every_s = 1.5  # Google settles the words so far every 1.5 s, with no pause
    events = feed(GoogleSTT(config(gfake)).stream("en", "k"), SILENCE + pcm + SILENCE * 2)
    fs = finals(events)
    assert len(fs) >= 4
    assert_each_word_once_in_order(events, ref)
    # Segments came out while the sentence was still being spoken.
    during = [pushed for pushed, e in events if e.kind == "final" and pushed < len(SILENCE + pcm)]
    assert len(during) >= 3, during
    [s] = gfake.stt_streams
    assert s["finals"] == [f.text for f in fs]
    # Each ends at its result_end_time in the turn's audio (one stream: from the turn's start).
    start = fs[0].start_ms
    assert [f.end_ms - start for f in fs] == pytest.approx([t * 1000 for t in s["final_ends"]], abs=0.1)
    assert [f.start_ms for f in fs[1:]] == [f.end_ms for f in fs[:-1]]
    heard = [f.speech_end_at or 0 for f in fs]
    assert all(heard) and heard == sorted(heard)


def test_a_pause_google_settles_within_an_utterance_is_a_segment(
        gfake: FakeGoogle, sentences: list[tuple[bytes, str]]) -> None:
    """Two sentences with half a second between them: one utterance for our VAD, two results for
    Google's endpointing; the first is a final before the second sentence is over."""
    (one, ref1), (two, ref2) = sentences
    gfake.endpoint_ms = 300
    audio = SILENCE + one + b"\0" * 16000 + two + SILENCE * 2
    events = feed(GoogleSTT(config(gfake), vad=LONG_PAUSES).stream("en", "k"), audio)
    assert [(f.text, f.part, f.utterance_key) for f in finals(events)] == [(ref1, 0, "k:0"),
                                                                           (ref2, 1, "k:0")]
    assert_each_word_once_in_order(events, f"{ref1} {ref2}")
    first = next(pushed for pushed, e in events if e.kind == "final")
    assert first < len(SILENCE + one) + 16000 + len(two) // 2


def test_segments_neither_repeat_nor_lose_a_word_across_rotations(
        gfake: FakeGoogle, sentences: list[tuple[bytes, str]]) -> None:
    """Streams replaced in mid-speech (at 2 s of age; the audio after the last final sent again on
    the next) while Google settles every 1.5 s: the parts go on from one stream to the next."""
    (pcm, ref), _ = sentences
    gfake.stt_final_every_s = 1.5
    stt = GoogleSTT(config(gfake, stt_max_stream_s=2.0))
    events = feed(stt.stream("en", "k"), SILENCE + pcm + SILENCE * 2)
    assert stt.rotations >= 2 and len(gfake.stt_streams) == stt.rotations + 1
    assert_each_word_once_in_order(events, ref)
    # Each part is a final Google sent, in the order sent. A final on a call that was already being
    # replaced can be sent and never read: its words come again, on the next call.
    sent = iter([t for s in gfake.stt_streams for t in s["finals"]])
    shown = [f.text for f in finals(events)]
    assert len(shown) >= 3 and all(text in sent for text in shown), shown
    ends = [f.end_ms for f in finals(events)]
    assert ends == sorted(ends)


def test_a_whole_clip_settled_in_parts_is_its_words_once(gfake: FakeGoogle,
                                                         sentences: list[tuple[bytes, str]]) -> None:
    (pcm, ref), _ = sentences
    gfake.stt_final_every_s = 1.5
    text, _ = GoogleSTT(config(gfake)).transcribe(pcm, "en")
    assert text == ref
    [s] = gfake.stt_streams
    assert len(s["finals"]) >= 3
