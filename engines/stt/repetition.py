"""Telling a decoder loop from speech, and removing what is left of one.

Whisper can loop on a short or clipped input ("Front Front Front …", a sentence said twice). A loop
produces more text than the audio can hold and text that compresses unusually well; people repeat
themselves too ("no, no", "Victor Kilo five … Victor Kilo five"), but at a speaking rate. So a
decode is *suspect* on a cheap, sensitive test (worth a second decode to check) and *looped* on a
strict one (never shown as it is).
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

_WORD = re.compile(r"\w+(?:'\w+)?")
# Whisper emits about 2-4 tokens per second of speech; 6/s is past fast speech, plus slack for a
# one-word clip. Compression ratio: faster-whisper's own threshold for a failed segment is 2.4.
SUSPECT_TOKENS_PER_S = 6.0
TOKEN_SLACK = 8
SUSPECT_COMPRESSION = 2.0
LOOPED_COMPRESSION = 2.4
# An utterance is cut by the VAD around speech, so it is mostly speech: under 1 token per second
# over 3 s or more means words were dropped.
MIN_TOKENS_PER_S = 1.0
MIN_RATE_AFTER_S = 3.0


@dataclass(frozen=True)
class Verdict:
    """What a decode looks like: `suspect` asks for a check, `looped` is a loop for sure."""

    suspect: bool
    looped: bool
    reason: str


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped: "Front, left." → ["front", "left"]."""
    return [w.lower() for w in _WORD.findall(text)]


def longest_run(ws: list[str]) -> int:
    """The most times one word follows itself."""
    best = run = min(1, len(ws))
    for a, b in zip(ws, ws[1:], strict=False):
        run = run + 1 if a == b else 1
        best = max(best, run)
    return best


def doubled_phrase(ws: list[str], min_words: int) -> int:
    """Length of the longest phrase of at least `min_words` words said twice back to back (0: none)."""
    n = len(ws)
    for size in range(n // 2, min_words - 1, -1):
        for i in range(n - 2 * size + 1):
            if ws[i:i + size] == ws[i + size:i + 2 * size]:
                return size
    return 0


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def judge(text: str, tokens: int, seconds: float, token_cap: int) -> Verdict:
    """Suspect: a word three times in a row, any phrase doubled, too many tokens for the audio, the
    token cap reached, text that compresses well, or far too few tokens for a long utterance (a
    short window sometimes drops all but the last sentence, or everything). Looped: a word four
    times in a row, the cap reached, or a doubled phrase with a rate or compression no speaker
    produces."""
    ws = words(text)
    run = longest_run(ws)
    doubled = doubled_phrase(ws, 2)
    ratio = compression_ratio(text)
    too_many = tokens > SUSPECT_TOKENS_PER_S * seconds + TOKEN_SLACK
    capped = tokens >= token_cap
    too_few = seconds >= MIN_RATE_AFTER_S and tokens < MIN_TOKENS_PER_S * seconds - TOKEN_SLACK / 4
    looped = run >= 4 or capped or (doubled > 0 and (too_many or ratio > LOOPED_COMPRESSION))
    reason = ("word run" if run >= 3 else "doubled phrase" if doubled else "token cap" if capped
              else "token rate" if too_many else "compression" if ratio > SUSPECT_COMPRESSION
              else "too few tokens" if too_few else "")
    return Verdict(suspect=bool(reason), looped=looped, reason=reason)


def collapse(text: str) -> str:
    """The text with every back-to-back repeat of a word or phrase kept once ("left left left" →
    "left"): the last resort when every decode looped, so a loop is never shown."""
    tokens = text.split()
    keys = [" ".join(words(t)) for t in tokens]
    changed = True
    while changed:
        changed = False
        n = len(keys)
        for size in range(1, n // 2 + 1):
            for i in range(n - 2 * size + 1):
                a, b = keys[i:i + size], keys[i + size:i + 2 * size]
                if all(a) and a == b:
                    del tokens[i + size:i + 2 * size], keys[i + size:i + 2 * size]
                    changed = True
                    break
            if changed:
                break
    return " ".join(tokens)
