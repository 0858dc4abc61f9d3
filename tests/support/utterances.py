"""An utterance as a listener receives it: recognition commits segments while a person speaks, so
one utterance (one stretch of speech: a recorded clip) may arrive as several finals, each with the
utterance's `utteranceKey` and its `part` (0, 1, 2, … in order). These read them back as wholes."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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


def runs(utterances: list[list[Message]], longest: int = 3) -> Iterator[list[Message]]:
    """Each utterance's parts, then those of each two, three… (up to `longest`) utterances in a
    row: one sentence may come as consecutive utterances when a pause inside it ended one. Over
    LiveKit that depends on the media path, not only on what was said: audio the agent receives
    too late (a busy machine, a lossy network) is concealed as a gap, and a gap after words that
    look finished ("He was not.") ends an utterance there."""
    for size in range(1, longest + 1):
        for i in range(len(utterances) - size + 1):
            yield [m for parts in utterances[i:i + size] for m in parts]


def wait_for_utterance(peer: Peer, ref: str, bound: float, timeout: float,
                       event: str = "translated-message",
                       keep: Callable[[Message], bool] = lambda m: True,
                       consecutive: int = 1) -> list[Message]:
    """The parts of the first utterance `peer` received (messages passing `keep`) whose words,
    joined in order, read as `ref` within `bound` word error rate, once they do: an utterance's
    last part comes after the speaker stops, its others while they speak. With `consecutive` > 1,
    up to that many utterances in a row may together read as `ref` (see `runs`)."""
    deadline = time.monotonic() + timeout
    while True:
        grouped = by_utterance([m for m in peer.got(event) if keep(m)])
        for parts in runs(list(grouped.values()), consecutive):
            if word_error(ref, said(parts)) <= bound:
                return parts
        if time.monotonic() > deadline:
            raise AssertionError(f"{peer.user['displayName']}: no utterance read as {ref!r} within "
                                 f"{bound:.0%} after {timeout:.0f} s; got "
                                 f"{[said(p) for p in grouped.values()]}; events: "
                                 f"{[e for e, _, _ in peer.events]}")
        time.sleep(0.1)


def as_sentences(utterances: list[list[Message]], refs: list[str], bound: float) -> list[list[Message]]:
    """`utterances` (in the order they were said) cut into one run of consecutive utterances per
    sentence of `refs`, each run reading as its sentence within `bound`, none left over: each
    sentence said is one utterance or several in a row (see `runs`), in order, and nothing else
    came. Asserted; returns the runs' parts."""
    def cut(i: int, k: int) -> list[list[Message]] | None:
        if k == len(refs):
            return [] if i == len(utterances) else None
        for j in range(i + 1, len(utterances) + 1):
            run = [m for parts in utterances[i:j] for m in parts]
            if word_error(refs[k], said(run)) <= bound:
                rest = cut(j, k + 1)
                if rest is not None:
                    return [run, *rest]
        return None
    found = cut(0, 0)
    assert found is not None, f"{[said(u) for u in utterances]} do not read as {refs} within {bound:.0%}"
    return found


def one_stretch(messages: list[Message]) -> list[Message]:
    """The parts of what one clip said, as one utterance or several in a row (see `runs`): each
    part once and in order, the utterances in the order they came."""
    return [m for parts in each_part_once_in_order(messages).values() for m in parts]


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
