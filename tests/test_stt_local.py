"""integration: local streaming STT (faster-whisper + Silero VAD) on real recorded English speech.

The clips are LibriVox readings shipped by Debian's pocketsphinx-testdata, with transcripts. They are
streamed in 100 ms chunks as a browser or LiveKit track would send them.
"""
from __future__ import annotations

import re
import wave
from pathlib import Path

import pytest

from engines.errors import ConfigurationError, UnsupportedLanguageError
from engines.stt.whisper import MODELS, WhisperSTT, assemble

pytestmark = pytest.mark.integration

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
NUMBERS = {"mr": "mister", "mrs": "missus"}


def normalize(text: str) -> list[str]:
    words = re.sub(r"[^\w' ]", " ", text.lower().replace("-", " ")).split()
    return [NUMBERS.get(w, w) for w in words]


def wer(ref: list[str], hyp: list[str]) -> tuple[int, int]:
    """(word edits, reference words)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def clips() -> list[tuple[bytes, str]]:
    refs = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        m = re.match(r"<s> (.*) </s> \((.*)\)", line)
        if m:
            refs[m.group(2)] = m.group(1)
    out = []
    for wav in sorted(LIBRIVOX.glob("*.wav")):
        with wave.open(str(wav)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
            out.append((w.readframes(w.getnframes()), refs[wav.stem]))
    return out


def stream_clip(stt: WhisperSTT, pcm: bytes, chunk_ms: int = 100) -> list:  # type: ignore[type-arg]
    s = stt.stream("en", "test")
    events = []
    step = chunk_ms * 32
    for i in range(0, len(pcm), step):
        events += s.push(pcm[i:i + step])
    events += s.push(b"\0" * 16000)  # half a second of silence ends the utterance
    return events + s.flush()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> WhisperSTT:
    stt = WhisperSTT("base", cache_dir=tmp_path_factory.mktemp("models"))
    stt.start()
    return stt


def test_streamed_librivox_speech_gives_interims_then_finals_with_low_wer(base: WhisperSTT) -> None:
    edits = words = 0
    for pcm, ref in clips():
        events = stream_clip(base, pcm)
        finals = [e for e in events if e.kind == "final"]
        interims = [e for e in events if e.kind == "interim"]
        assert finals, ref
        assert interims and events.index(interims[0]) < events.index(finals[0])
        assert all(e.utterance_key == finals[0].utterance_key for e in interims
                   if e.end_ms <= finals[0].end_ms)
        assert all(f.speech_end_at for f in finals)
        e, n = wer(normalize(ref), normalize(" ".join(f.text for f in finals)))
        edits, words = edits + e, words + n
    assert words > 50
    assert edits / words <= 0.05, f"WER {edits / words:.1%}"


def test_silence_produces_no_transcript(base: WhisperSTT) -> None:
    s = base.stream("en", "quiet")
    assert s.push(b"\0" * 32000 * 3) == [] and s.flush() == []


def test_unsupported_language_is_refused_before_decoding(tmp_path: Path) -> None:
    tiny = WhisperSTT("tiny.en", cache_dir=tmp_path)
    with pytest.raises(UnsupportedLanguageError):
        tiny.transcribe(b"\0" * 32000, "es")


def test_tiny_en_model_assembles_verifies_and_transcribes(tmp_path: Path) -> None:
    pcm, ref = clips()[1]
    tiny = WhisperSTT("tiny.en", cache_dir=tmp_path)
    text, ms = tiny.transcribe(pcm, "en")
    e, n = wer(normalize(ref), normalize(text))
    assert e / n <= 0.35 and ms > 0


def test_corrupt_model_file_is_a_clear_error(tmp_path: Path) -> None:
    path = assemble("tiny.en", tmp_path)
    with open(path / "model.bin", "r+b") as fh:  # same size, one byte changed
        fh.seek(1000)
        fh.write(b"\xff")
    with pytest.raises(ConfigurationError, match="corrupt"):
        assemble("tiny.en", tmp_path)
    assert MODELS["tiny.en"].size == (path / "model.bin").stat().st_size
