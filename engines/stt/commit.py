"""Committing words while a person speaks: LocalAgreement-2 and where a segment may end.

A streaming recogniser re-decodes the growing audio of an utterance every step. The words two
consecutive decodes agree on (after what is already committed) are committed: a later decode
cannot change them, because the decoder is forced to start from them (Macháček et al., 2023,
"Turning Whisper into Real-Time Transcription System", with a forced prefix instead of a word
buffer). Committed words become a *segment* (a caption of its own) at a sentence end, at a clause
end once the clause is long enough, or when too many words have been committed without either.

Text is kept as the decoder wrote it, in *pieces*: each word with the space before it (" Mr.",
" John", "," when punctuation was written on its own), so joining pieces gives back the text.
Pure functions, no model: unit-tested on their own (tests/unit/test_commit.py).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from engines.stt.endpointing import DANGLING

_PIECE = re.compile(r"\s*\S+")
_SENTENCE_END = re.compile(r"[.?!。？！…]['\"»”’)\]]*$")
_CLAUSE_END = re.compile(r"[,;:—–，；：、]['\"»”’)\]]*$")
_WORD = re.compile(r"\w+(?:'\w+)?")
# Abbreviations whose full stop ends no sentence ("Mr. Dashwood"), in the languages we recognise.
ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof mt vs etc eg ie no sra sr dra srta ud uds mme mlle mm sig sigra dott "
    "av avda pl n nº ca".split())


@dataclass(frozen=True)
class SegmentRules:
    """When committed words become a segment: always at a sentence end; at a clause end (a comma,
    a semicolon) or a pause of `pause_s` between words once the segment has `clause_words`; and
    when `max_words` are committed with neither, at the longest pause between its words (never
    before a word that cannot end a phrase)."""

    sentence_words: int = 2  # a lone "Front." is no sentence: Whisper writes a stop after one word
    clause_words: int = 3
    max_words: int = 7
    pause_s: float = 0.2
    # A word is committed only once this much audio follows it: Whisper's guess at a word whose
    # end it has just heard (a word at an onset, a fragment before a pause) is often wrong and two
    # such guesses can agree ("Grazie mille" heard as "E cazio e mealy" twice).
    right_context_s: float = 0.7
    # Nothing is committed before an utterance has this much audio: decodes of a short start
    # garble its first word and can agree on the garble; a longer one gets it right.
    min_audio_s: float = 2.5
    # A segment's last words (up to this long) heard again before the next ones, forced as the
    # start of the next decode, so words after a cut are not decoded cold ("appuyez sur 6" →
    # "appuyez sources"). Off by default: it helped French and Spanish prompts read with pauses
    # and hurt a continuous English reading (bench/RESULTS.md).
    overlap_s: float = 0.0


@dataclass(frozen=True)
class Hypothesis:
    """A decode of an utterance after its committed words: the text that follows them (with its
    leading space), the decode's time, and — when asked — where each word of the committed words
    + text ends: (character offset of its end in `head` + text, start s, end s, has letters)."""

    text: str
    decode_ms: float
    ends: tuple[tuple[int, float, float, bool], ...] = ()
    head: str = ""  # the committed words as the decoder wrote them back (the offsets count from it)
    heard_s: float = 0.0  # how much audio was decoded


def pieces(text: str) -> list[str]:
    """A decoded text as pieces: ' And', ' Mr.', ' John' (a leading piece may lack its space)."""
    return _PIECE.findall(text)


def norm(piece: str) -> str:
    """A piece as compared between decodes: lower case, accents and punctuation dropped."""
    text = unicodedata.normalize("NFKD", piece.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return "".join(_WORD.findall(text)) or piece.strip()


def agreement(previous: list[str], current: list[str]) -> int:
    """How many leading pieces two consecutive decodes share (LocalAgreement-2)."""
    n = 0
    for a, b in zip(previous, current, strict=False):
        if norm(a) != norm(b):
            break
        n += 1
    return n


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _ends_sentence(piece: str, before: str) -> bool:
    if not _SENTENCE_END.search(piece):
        return False
    stripped = piece.strip()
    if stripped.endswith(("...", "…")):
        return False  # trailing off: more is coming
    word = _words(stripped)
    if not word:
        # A lone "." after a word: that word decides ("Mr" "." is no sentence end).
        word = _words(before)[-1:]
    if not word:
        return True
    last = word[-1]
    return last not in ABBREVIATIONS and not (len(last) == 1 and last.isalpha())


def boundary(committed: str, language: str, rules: SegmentRules,
             pauses: dict[int, float] | None = None) -> int:
    """The number of characters of `committed` that make the next segment (0: none yet): up to its
    last sentence end; else its last clause end or pause once the segment has `rules.clause_words`
    words; else, past `rules.max_words`, up to the longest pause after a word that can end a phrase.
    `pauses` maps a character offset at a word's end to the silence after that word (seconds)."""
    ps = pieces(committed)
    pauses = pauses or {}
    dangling = DANGLING.get(language, frozenset())
    sentence = clause = 0
    words = 0
    pos = 0
    candidates: list[tuple[float, int]] = []  # (pause after, offset) where a segment may end
    for i, p in enumerate(ps):
        start, pos = pos, pos + len(p)
        ws = _words(p)
        words += len(ws)
        gap = max((g for o, g in pauses.items() if start < o <= pos), default=0.0)
        if _ends_sentence(p, ps[i - 1] if i else "") and words >= rules.sentence_words:
            sentence = pos
        elif words >= rules.clause_words and (_CLAUSE_END.search(p) or gap >= rules.pause_s):
            clause = pos
        if ws and ws[-1] not in dangling and words >= rules.clause_words and i < len(ps) - 1:
            candidates.append((gap, pos))
    if sentence or clause:
        return max(sentence, clause)
    if words < rules.max_words or not candidates:
        return 0
    return max(candidates)[1]
