"""An utterance as a listener receives it: recognition commits segments while a person speaks, so
one utterance (one stretch of speech: a recorded clip) may arrive as several finals, each with the
utterance's `utteranceKey` and its `part` (0, 1, 2, … in order). These read them back as wholes."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from engines.stt.base import SpeechEvent
from tests.support import Peer
from tests.support.speech import normalize, wer

Message = dict[str, Any]


def by_utterance(messages: list[Message]) -> dict[str, list[Message]]:
    """Messages (translated-message, recognized-speech) by utteranceKey, in the order each
    utterance first arrived, its parts sorted."""
    out: dict[str, list[Message]] = {}
    for m in messages:
        out.setdefault(m["utteranceKey"], []).append(m)
    return {k: sorted(parts, key=lambda m: m["part"]) for k, parts in out.items()}


def said(parts: list[Message]) -> str:
    """An utterance's words: its parts' texts joined in order."""
    return " ".join(m["originalText"] if "originalText" in m else m["text"] for m in parts)


def word_error(ref: str, hyp: str) -> float:
    edits, words = wer(normalize(ref), normalize(hyp))
    return edits / words


def each_part_once_in_order(messages: list[Message]) -> dict[str, list[Message]]:
    """Asserts that no (utteranceKey, part) arrived twice and that each utterance's parts are 0, 1,
    2, … with none missing; returns them by utterance."""
    pairs = [(m["utteranceKey"], m["part"]) for m in messages]
    assert len(set(pairs)) == len(pairs), f"a segment arrived twice: {sorted(pairs)}"
    grouped = by_utterance(messages)
    for key, parts in grouped.items():
        assert [m["part"] for m in parts] == list(range(len(parts))), (key, [m["part"] for m in parts])
    return grouped


def wait_for_utterance(peer: Peer, ref: str, bound: float, timeout: float,
                       event: str = "translated-message",
                       keep: Callable[[Message], bool] = lambda m: True) -> list[Message]:
    """The parts of the first utterance `peer` received (messages passing `keep`) whose words,
    joined in order, read as `ref` within `bound` word error rate, once they do: an utterance's
    last part comes after the speaker stops, its others while they speak."""
    deadline = time.monotonic() + timeout
    while True:
        grouped = by_utterance([m for m in peer.got(event) if keep(m)])
        for parts in grouped.values():
            if word_error(ref, said(parts)) <= bound:
                return parts
        if time.monotonic() > deadline:
            raise AssertionError(f"{peer.user['displayName']}: no utterance read as {ref!r} within "
                                 f"{bound:.0%} after {timeout:.0f} s; got "
                                 f"{[said(p) for p in grouped.values()]}; events: "
                                 f"{[e for e, _, _ in peer.events]}")
        time.sleep(0.1)


def one_utterance(messages: list[Message]) -> list[Message]:
    """The parts of the one utterance `messages` hold (asserted, with each part once, in order)."""
    grouped = each_part_once_in_order(messages)
    assert len(grouped) == 1, f"not one utterance: {[said(parts) for parts in grouped.values()]}"
    return next(iter(grouped.values()))


# --- a recogniser's stream, event by event -----------------------------------------------

def feed(stream: Any, pcm: bytes, pace: float = 0.004) -> list[tuple[int, SpeechEvent]]:
    """Push audio in 40 ms chunks, ~10 times faster than a microphone, then flush; each event
    with how much audio (bytes) had been pushed when it came out (len(pcm) + 1: at the flush)."""
    out: list[tuple[int, SpeechEvent]] = []
    for i in range(0, len(pcm), 1280):
        out += [(i + 1280, e) for e in stream.push(pcm[i:i + 1280])]
        time.sleep(pace)
    return out + [(len(pcm) + 1, e) for e in stream.flush()]


def finals(events: list[tuple[int, SpeechEvent]]) -> list[SpeechEvent]:
    return [e for _, e in events if e.kind == "final"]


def assert_each_word_once_in_order(events: list[tuple[int, SpeechEvent]], said: str) -> None:
    """The finals are parts 0..n of one utterance, their texts joined read as what was said, and
    each interim is the start of what its part and those after it say (never an earlier one)."""
    fs = finals(events)
    assert [f.part for f in fs] == list(range(len(fs)))
    assert len({f.utterance_key for f in fs}) == 1
    assert " ".join(f.text for f in fs) == said
    done = 0
    for _, e in events:
        if e.kind == "final":
            done += 1
        else:
            assert e.part == done, (e.part, done)
            assert " ".join(f.text for f in fs[done:]).startswith(e.text), (e.text, done)
