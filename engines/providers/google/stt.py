"""Google speech recognition: Cloud Speech-to-Text v1 `StreamingRecognize` (gRPC), gated by local VAD.

Wire (cloud.google.com/speech-to-text/docs/reference/rpc/google.cloud.speech.v1): the first request
carries `streaming_config` — `config` {encoding LINEAR16, sample_rate_hertz, language_code (BCP-47
with region), speech_contexts[].phrases (the room's key terms)}, `interim_results` — and every
later one `audio_content`. Each answer has `results[]`: at most one `is_final` result (a newly
settled part), then interim ones; each with `alternatives[0].transcript` and `result_end_time`
(its end, in the stream's audio time). Google ends a stream after about 305 s of audio with
OUT_OF_RANGE.

One stream per utterance (engines.stt.turns: the VAD decides, so silence is not sent or billed).
An utterance is at most the VAD's longest (20 s), but a stream is still rotated, as Google's own
"infinite streaming" sample does, should one grow old (`stt_rotate_s`, at the next settled part;
`stt_max_stream_s` at the latest: 280 s, room for the ≤ 20 s sent again within Google's 305), and
when Google ends it early: the old call is cancelled and the
audio after its last final is sent again on a new one, so a word in progress is heard whole, once.

Segments (engines.stt.turns): each `is_final` result is a final of its own (the utterance's next
part) while the person speaks, ending at its `result_end_time`; Google settles a result at a pause
of its own, so each reads as a phrase. Its interim results are the words after the last one. A
rotation sends again only the audio after the last final, so the new call's results follow it:
no word of a segment is said twice or lost.

Runs only in the speech process (gRPC streaming is not eventlet-safe): a thread per call reads its
answers; the requests are fed from a queue by gRPC's own thread.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

from engines.errors import EngineError, EngineTimeoutError, UnsupportedLanguageError
from engines.languages import LANGUAGE_TABLE
from engines.providers.google.config import NAME, Clients, GoogleConfig, code_name, failed, is_call_error
from engines.stt.base import SAMPLE_RATE, STT, SpeechStream, StreamOptions, STTCapabilities
from engines.stt.turns import Lock, TurnStream, drain, whole_clip
from engines.stt.vad import VadConfig

logger = logging.getLogger(__name__)

BYTES_PER_S = SAMPLE_RATE * 2
REQUEST_BYTES = 6400  # 200 ms per request when audio is sent again (Google: at most 25 KB each)
SETTLED_BYTES = BYTES_PER_S // 2  # at most this unsettled: a rotation's moment (little sent again)
MAX_PHRASES = 500  # v1: phrases per request
MAX_EARLY_ENDS = 3  # streams in a row Google may end early without a result before it is a failure
# Our codes → the language codes v1 recognises (cloud.google.com/speech-to-text/docs/
# speech-to-text-supported-languages).
LANGUAGES = {"en": "en-US", "es": "es-ES", "fr": "fr-FR", "de": "de-DE", "it": "it-IT",
             "pt": "pt-BR", "nl": "nl-NL", "pl": "pl-PL", "ru": "ru-RU", "ja": "ja-JP",
             "ko": "ko-KR", "ar": "ar-SA", "hi": "hi-IN", "tr": "tr-TR", "sv": "sv-SE",
             "ca": "ca-ES", "uk": "uk-UA", "zh": "cmn-Hans-CN", "ro": "ro-RO", "hr": "hr-HR",
             "is": "is-IS", "mk": "mk-MK", "gl": "gl-ES", "eu": "eu-ES"}


def _classes() -> tuple[Any, Any]:
    from google.cloud.speech_v1 import SpeechClient
    from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport
    return SpeechClient, SpeechGrpcTransport


class GoogleSTT(STT):
    """Google streaming STT. `transcribe()` (whole clips) sends the clip as one turn."""

    segment_by: Literal["lock", "sentence"] = "lock"

    def __init__(self, config: GoogleConfig, vad: VadConfig | None = None) -> None:
        self.config = config
        self.name = NAME
        self.vad_config = vad or VadConfig()
        self.clients = Clients(config, _classes)
        self.turns = 0
        self.failures = 0
        self.rotations = 0

    @property
    def capabilities(self) -> STTCapabilities:
        return STTCapabilities(streaming=True, interim_results=True, offline=False,
                               languages=frozenset(LANGUAGES) & frozenset(LANGUAGE_TABLE))

    def status(self) -> dict[str, Any]:
        return dict(super().status(), premium=True, turns=self.turns, failures=self.failures,
                    rotations=self.rotations)

    def ready(self) -> bool:
        return self.config.within_budget("audio_seconds")

    def close(self) -> None:
        self.clients.close()

    def start(self) -> None:
        """Import the client library now, not on a speaker's first words."""
        from google.cloud import speech_v1  # noqa: F401

    def stream(self, language: str, key_prefix: str,
               options: StreamOptions | None = None) -> SpeechStream:
        if not self.supports(language):
            raise UnsupportedLanguageError(f"{self.name} cannot recognise {language}", engine=NAME)
        return TurnStream(self, language, key_prefix, options or StreamOptions())

    def client(self) -> Any:
        """The Speech client, its streaming calls made cancellable from the start: google-api-core
        otherwise waits for a call's first answer before handing it over, and a call Google never
        answers could not be cancelled (the flag is the one Pub/Sub's client sets)."""
        client = self.clients.get()
        client.transport.streaming_recognize._prefetch_first_result_ = False
        return client

    def turn(self, language: str, keyterms: tuple[str, ...],
             wake: Callable[[], None] | None = None) -> GoogleTurn:
        return GoogleTurn(self, language, keyterms, wake)

    def _transcribe_impl(self, pcm16: bytes, language: str) -> str:
        return whole_clip(GoogleTurn(self, language, ()), pcm16,
                          2 * self.config.stall_s + len(pcm16) / BYTES_PER_S)

    def streaming_config(self, language: str, keyterms: tuple[str, ...]) -> Any:
        from google.cloud import speech_v1 as speech
        config = speech.RecognitionConfig(
            encoding=speech.RecognitionConfig.AudioEncoding.LINEAR16, sample_rate_hertz=SAMPLE_RATE,
            language_code=LANGUAGES[language], enable_automatic_punctuation=True,
            speech_contexts=[speech.SpeechContext(phrases=list(keyterms[:MAX_PHRASES]))] if keyterms else [])
        if self.config.stt_model:
            config.model = self.config.stt_model
        return speech.StreamingRecognitionConfig(config=config, interim_results=True)


class _Call:
    """One StreamingRecognize call: its requests' queue (None half-closes) and where in the turn's
    audio its own audio begins."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.requests: queue.Queue[bytes | None] = queue.Queue()
        self.started = time.monotonic()
        self.fresh = 0  # bytes of audio sent on it for the first time (not the re-sent)
        self.taken = 0  # bytes gRPC took from its queue and sent (what Google bills)
        self.responses: Any = None
        self.dropped = False  # replaced or aborted: what it still says is not heard

    def feed(self) -> Iterator[Any]:
        from google.cloud import speech_v1 as speech
        while True:
            chunk = self.requests.get()
            if chunk is None or self.dropped:
                return
            self.taken += len(chunk)
            yield speech.StreamingRecognizeRequest(audio_content=chunk)

    def cancel(self) -> None:
        """Cancel it (not half-close: what Google would still settle is sent again elsewhere);
        before its first answer there is no call object yet, and ending its requests ends it."""
        self.dropped = True
        if self.responses is not None:
            try:
                self.responses.cancel()
            except Exception:  # noqa: BLE001, S110 - a call already over
                pass
        self.requests.put(None)


class GoogleTurn:
    """One utterance, on one call at a time (engines.stt.turns.Turn): a reader thread per call
    collects its results; the audio since the turn's last final is kept for a rotation."""

    def __init__(self, stt: GoogleSTT, language: str, keyterms: tuple[str, ...],
                 wake: Callable[[], None] | None = None) -> None:
        stt.config.check_budget("audio_seconds")
        self.stt = stt
        self.wake = wake or (lambda: None)
        self.locked: list[str] = []
        self.result: str | None = None
        self.error: EngineError | None = None
        self.speech_final_at = 0.0
        self.finished_at: float | None = None
        self._calls: list[_Call] = []
        self._metered = 0
        self.opened_at = time.monotonic()
        self.last_heard = self.opened_at
        self.last_sent = 0.0
        self.closed = False
        self._config = stt.streaming_config(language, keyterms)
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._retained = bytearray()  # the turn's audio since its last final
        self._retained_at = 0  # where that begins in the turn's audio (bytes)
        self._interim = False  # words heard since the last final
        self._early_ends = 0
        self._waiting_since = 0.0  # since when the answer is waited for (after the end was sent)
        self._resent_s = 0.0  # audio sent again since then, which Google must hear first
        self._lock = threading.Lock()
        self._call: _Call | None = None
        stt.turns += 1
        with self._lock:
            self._open()

    @property
    def sent_bytes(self) -> int:
        """Audio Google was sent (again or not: it bills both) and not yet metered."""
        return sum(c.taken for c in self._calls) - self._metered

    @sent_bytes.setter
    def sent_bytes(self, value: int) -> None:
        self._metered = sum(c.taken for c in self._calls) - value

    # ---- calls ----
    def _open(self) -> None:
        """A new call from the last final on (lock held): the audio kept is sent first."""
        call = _Call(self._retained_at)
        self._call = call
        self._calls.append(call)
        if self.finished_at is not None:  # the answer is waited for anew, for the audio re-sent
            self._waiting_since = time.monotonic()
            self._resent_s = len(self._retained) / BYTES_PER_S
        for i in range(0, len(self._retained), REQUEST_BYTES):
            self._put(call, bytes(self._retained[i:i + REQUEST_BYTES]))
        if self.finished_at is not None:
            call.requests.put(None)
        threading.Thread(target=self._read, args=(call,), name="google-stt", daemon=True).start()

    def _put(self, call: _Call, chunk: bytes) -> None:
        call.requests.put(chunk)
        self.last_sent = time.monotonic()

    def _rotate(self, why: str) -> None:
        """Replace the call (lock held): Google's 5-minute limit, or it ended the call early."""
        assert self._call is not None
        self._call.cancel()
        self.stt.rotations += 1
        logger.info("Google speech stream rotated", extra={"engine": NAME, "reason": why})
        self._open()

    def _read(self, call: _Call) -> None:
        try:
            client = self.stt.client()
            # A deadline too: a call is never older than the rotation's limit, plus a margin.
            call.responses = client.streaming_recognize(
                self._config, call.feed(), retry=None, timeout=self.stt.config.stt_max_stream_s + 20)
            if call.dropped:  # replaced or aborted while it was being made
                call.cancel()
            for response in call.responses:
                self._heard(call, response)
        except Exception as exc:  # noqa: BLE001 - every way a call can end is handled below
            self._ended(call, exc)
        else:
            self._ended(call, None)

    def _heard(self, call: _Call, response: Any) -> None:
        with self._lock:
            if call is not self._call or call.dropped or self.closed:
                return
            self.last_heard = time.monotonic()
            if not response.results:  # v1 also sends answers with none (billing, events)
                return
            interim: list[str] = []
            for result in response.results:
                text = result.alternatives[0].transcript.strip() if result.alternatives else ""
                if not result.is_final:
                    if text:
                        interim.append(text)
                    continue
                self._early_ends = 0
                self.speech_final_at = time.monotonic()
                end = call.base + _bytes(result.result_end_time)
                if text:
                    self.locked.append(text)
                    self._events.put(("lock", Lock(text, end / 32, self._retained_at / 32)))
                drop = min(len(self._retained), max(0, end - self._retained_at))
                del self._retained[:drop]
                self._retained_at += drop
            self._interim = bool(interim)
            self._events.put(("interim", " ".join(interim)))  # the words after the last final
        self.wake()

    def _ended(self, call: _Call, exc: BaseException | None) -> None:
        """The call is over: the turn's answer after our half-close; a rotation when Google ended
        it early; otherwise the turn failed."""
        with self._lock:
            if call is not self._call or call.dropped or self.closed:
                return
            code = code_name(exc) if exc is not None else ""
            # Over after our end, every word settled: the answer. Words still unsettled (Google
            # ended it without their final): they are sent again, as for an early end.
            if exc is None and self.finished_at is not None and not self._interim:
                self.result = ""  # every word came in a final (a lock)
                self.closed = True
            elif (exc is None or code == "OUT_OF_RANGE") and self._early_ends < MAX_EARLY_ENDS:
                self._early_ends += 1
                self._rotate("ended early")
                return
            else:
                error = (exc if isinstance(exc, EngineError)  # the client could not be made
                         else failed("speech stream", exc) if exc is not None and is_call_error(exc)
                         else EngineError("Google Cloud ended the speech stream", engine=NAME))
                # Always cooled down: even a request Google calls invalid (a model it lacks for
                # the language) would fail every utterance again.
                error.retryable = True
                self._fail_locked(error)
        self.wake()

    # ---- the Turn interface ----
    def send(self, chunk: bytes) -> None:
        with self._lock:
            if self.closed or self.error is not None or self.finished_at is not None:
                return
            assert self._call is not None
            self._retained += chunk
            # Its age: the time it has been open, or the new audio it was sent if that is more
            # (audio pushed faster than real time). What it was sent again at its start is not
            # counted, or a rotation could call for the next one at once.
            self._call.fresh += len(chunk)
            age = max(time.monotonic() - self._call.started, self._call.fresh / BYTES_PER_S)
            cfg = self.stt.config
            settled = not self._interim and len(self._retained) <= SETTLED_BYTES
            if age >= cfg.stt_max_stream_s or (age >= cfg.stt_rotate_s and settled):
                self._rotate("stream age")  # sends the new chunk too, with the rest kept
                return
            self._put(self._call, chunk)

    def finish(self) -> None:
        with self._lock:
            if self.finished_at is None:
                self.finished_at = self._waiting_since = time.monotonic()
                if self._call is not None:
                    self._call.requests.put(None)

    def check(self, deadline: float | None = None) -> None:
        if self.error is not None:
            raise self.error
        if self.result is not None:
            return
        now = time.monotonic()
        stall = self.stt.config.stall_s
        if self._stalled(now, stall) or (deadline is not None and now > deadline):
            with self._lock:
                self._fail_locked(EngineTimeoutError("Google Cloud speech stream stalled", engine=NAME))
        if self.error is not None:
            raise self.error

    def _stalled(self, now: float, stall_s: float) -> bool:
        """As Grok's turns (providers/xai/stt.py): quiet for `stall_s` since the end was sent (never more
        than twice that after it, plus the audio a rotation since sent again), or for three times
        that while audio goes out."""
        if self.finished_at is not None:
            since = self._waiting_since
            return (now - max(self.last_heard, since) > stall_s + self._resent_s
                    or now - since > 2 * stall_s + self._resent_s)
        return (self.last_sent > self.last_heard and now - self.last_heard > 3 * stall_s
                and now - self.last_sent < 1.0)

    def _fail_locked(self, exc: EngineError) -> None:
        if self.error is None and self.result is None:
            self.error = exc
            self.stt.failures += 1
            logger.warning("Google speech stream failed", extra={"engine": NAME,
                                                                 "reason": type(exc).__name__})
        self._abort_locked()

    def drain(self) -> list[tuple[str, Any]]:
        return drain(self._events)

    def abort(self) -> None:
        with self._lock:
            self._abort_locked()

    def _abort_locked(self) -> None:
        self.closed = True
        if self._call is not None:
            self._call.cancel()


def _bytes(duration: Any) -> int:
    """A result_end_time (a timedelta) as bytes of 16 kHz PCM16, even."""
    seconds = duration.total_seconds() if hasattr(duration, "total_seconds") else float(duration or 0)
    return int(seconds * SAMPLE_RATE) * 2
