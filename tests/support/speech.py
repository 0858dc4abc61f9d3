"""Real recorded speech for tests (bench.speech_corpus) and how transcripts are scored."""
from __future__ import annotations

import re

from bench import speech_corpus as corpus

NUMBERS = {"mr": "mister", "mrs": "missus"}


def normalize(text: str) -> list[str]:
    words = re.sub(r"[^\w' ]", " ", text.lower().replace("-", " ")).split()
    return [NUMBERS.get(w, w) for w in words]


def wer(ref: list[str], hyp: list[str]) -> tuple[int, int]:
    """(word edits, reference words)."""
    return corpus.edit_distance(ref, hyp), len(ref)


def clips() -> list[tuple[bytes, str]]:
    """The LibriVox sentences as (16 kHz PCM16, reference)."""
    return [(c.pcm, c.ref or "") for c in corpus.load(["librivox"])]
