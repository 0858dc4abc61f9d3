"""A local fake of Google Cloud's speech, translation and text-to-speech APIs: a real gRPC server on
127.0.0.1 serving the real methods with the real messages (the proto-plus classes of the installed
google-cloud packages), so the real clients talk to it over an insecure channel, with knobs to fail,
stall, answer slowly and end or abort recognition streams, and a record of everything it was sent.

- `google.cloud.speech.v1.Speech/StreamingRecognize`: the first request must carry the
  `streaming_config`, then audio (PCM16 LE at the config's rate). It listens in 20 ms windows (voiced
  when a sample is louder than 500): an utterance starts at the first voiced window after the last
  final and is final after `endpoint_ms` of quiet (or at half-close), its `result_end_time` the
  stream position where that was decided. While it lasts, an interim result (stability 0.5) every
  300 ms of audio, when `interim_results` is asked for and there are words so far.
  What an utterance says is position-faithful for registered clips (`register(pcm, text)`): its first
  voiced window is looked up in the clips, which places the clip on the stream; the clip's words are
  spread evenly over it (word i of n centred at (i + 0.5) / n of its length), and an utterance says
  the words centred between the last final's end and where it is now (and, at a final, the rest of
  the clip when nothing voiced is left in it). So a client that cancels a stream and re-sends the
  audio since its last final on a new stream hears the same words, neither lost nor repeated. Audio
  found in no clip (say, through a codec) hears the next text of `script` instead (the last repeats),
  a word more per 0.3 s of voice in interims. With `stt_final_every_s`, a registered clip's words
  heard so far are also final every that many seconds of an utterance, with no pause (as Google
  settles a long utterance in parts): the utterance goes on after each.
- `google.cloud.translation.v3.TranslationService/TranslateText`: one translation per content,
  `translate(text, target)`.
- `google.cloud.texttospeech.v1.TextToSpeech/SynthesizeSpeech`: LINEAR16 only, answered as Google
  does with a whole WAV file (a 220 Hz tone, 50 ms per character); `ListVoices`: a fixed list,
  filtered by language as Google filters it ("es" matches "es-ES").

It runs on gRPC's own threads, so tests in this process and the service's child processes can all
reach it. Mind the real clients: `SpeechClient.streaming_recognize` does not return until the first
response (or the end of the stream) arrives, as google-api-core prefetches it, and it retries a
stream that fails with UNAVAILABLE or DEADLINE_EXCEEDED before its first response.
"""
from __future__ import annotations

import array
import io
import math
import queue
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import grpc
from google.cloud import speech_v1, texttospeech_v1, translate_v3

MESSAGES = {
    grpc.StatusCode.UNAVAILABLE: "The service is currently unavailable.",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "Quota exceeded for quota metric 'Requests' of service.",
    grpc.StatusCode.UNAUTHENTICATED: "Request had invalid authentication credentials.",
    grpc.StatusCode.PERMISSION_DENIED: "The caller does not have permission",
    grpc.StatusCode.INTERNAL: "Internal error encountered.",
    grpc.StatusCode.DEADLINE_EXCEEDED: "Deadline Exceeded",
    grpc.StatusCode.INVALID_ARGUMENT: "Invalid argument.",
}
_FEMALE, _MALE = texttospeech_v1.SsmlVoiceGender.FEMALE, texttospeech_v1.SsmlVoiceGender.MALE
VOICES = [("en-US-Neural2-A", "en-US", _FEMALE), ("en-US-Neural2-D", "en-US", _MALE),
          ("es-ES-Neural2-A", "es-ES", _FEMALE), ("es-ES-Neural2-B", "es-ES", _MALE),
          ("fr-FR-Neural2-A", "fr-FR", _FEMALE), ("de-DE-Neural2-B", "de-DE", _MALE)]
LOUD = 500  # a window is voiced when a sample is louder than this
WINDOW_S = 0.02
INTERIM_S = 0.3
IDENTIFY_WINDOWS = 5  # voiced windows an utterance tries to find in the clips before the script
_END = object()  # the client half-closed
_CANCEL = object()  # the client cancelled (the request iterator raised)


def _samples(pcm: bytes) -> array.array[int]:
    samples = array.array("h", pcm[:len(pcm) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _voiced(pcm: bytes) -> bool:
    return max((abs(x) for x in _samples(pcm)), default=0) > LOUD


class _Listener:
    """One stream's recognition: fed audio, it yields ("interim" | "final", text, position) and
    ("end" | "abort", "", position) when a knob ends the stream."""

    def __init__(self, fake: FakeGoogle, rate: int, index: int = 0) -> None:
        self.fake = fake
        self.index = index  # which stream of the server's this is (0: the first)
        self.rate = rate
        self.window = max(2, int(rate * WINDOW_S) * 2)
        self.carry = b""
        self.pos = 0  # bytes of audio heard (processed) on this stream
        self.start = 0  # where the next utterance's words begin: the last final's result_end
        self.voiced_at: int | None = None  # the utterance's first voiced window (None: no utterance)
        self.voiced_s = 0.0
        self.quiet = 0  # bytes of unvoiced audio since the utterance's last voiced window
        self.next_tick = 0
        self.clip: bytes | None = None  # the clip this stream is in, placed at stream position `base`
        self.base = 0
        self.words: list[str] = []  # the clip's words
        self.tries = 0  # identification attempts left for this utterance (0: decided)
        self.script: list[str] | None = None  # the utterance's words when it is in no clip

    def seconds(self, nbytes: int) -> float:
        return nbytes / (2 * self.rate)

    def feed(self, data: bytes) -> Iterator[tuple[str, str, int]]:
        self.carry += data
        while len(self.carry) >= self.window:
            window, self.carry = self.carry[:self.window], self.carry[self.window:]
            limit = self._limit()
            if limit is not None:
                yield limit
                return
            yield from self._hear(window)

    def flush(self) -> Iterator[tuple[str, str, int]]:
        """The client half-closed: the rest of the audio, then the final of a pending utterance."""
        if len(self.carry) >= 2:
            limit = self._limit()
            if limit is not None:
                yield limit
                return
            window, self.carry = self.carry[:len(self.carry) // 2 * 2], b""
            yield from self._hear(window)
        if self.voiced_at is not None:
            yield from self._final()

    def _limit(self) -> tuple[str, str, int] | None:
        heard = self.seconds(self.pos)
        end, abort = self.fake.stt_end_after_s, self.fake.stt_abort_after_s
        if self.fake.stt_limit_streams is not None and self.index >= self.fake.stt_limit_streams:
            return None
        if abort is not None and heard >= abort:
            return ("abort", "", self.pos)
        if end is not None and heard >= end:
            return ("end", "", self.pos)
        return None

    def _hear(self, window: bytes) -> Iterator[tuple[str, str, int]]:
        at = self.pos
        self.pos += len(window)
        if _voiced(window):
            if self.voiced_at is None:
                self.voiced_at, self.voiced_s, self.next_tick = at, 0.0, at + self._bytes(INTERIM_S)
                self.script = None
                if self.clip is not None and self.base <= at < self.base + len(self.clip):
                    self.tries = 0  # still in the clip this stream is in
                else:
                    self.clip, self.tries = None, IDENTIFY_WINDOWS
            if self.tries:
                self._identify(window, at)
            self.voiced_s += self.seconds(len(window))
            self.quiet = 0
        elif self.voiced_at is not None:
            self.quiet += len(window)
        if self.voiced_at is None:
            return
        if self.seconds(self.quiet) * 1000 >= self.fake.endpoint_ms:
            yield from self._final()
            return
        every = self.fake.stt_final_every_s
        since = max(self.start, self.voiced_at)
        if every and self.clip is not None and self.pos - since >= self._bytes(every):
            words = self._clip_words(final=False)
            if words:  # settled in mid-speech: the utterance goes on
                self.start = self.pos
                yield ("final", " ".join(words), self.pos)
                return
        if self.pos >= self.next_tick:
            self.next_tick += self._bytes(INTERIM_S)
            words = self._interim_words()
            if words:
                yield ("interim", " ".join(words), self.pos)

    def _bytes(self, seconds: float) -> int:
        return int(self.rate * seconds) * 2

    def _identify(self, window: bytes, at: int) -> None:
        self.tries -= 1
        for clip, text in list(self.fake.clips.items()):
            offset = clip.find(window)
            while offset > 0 and offset % 2:  # only at a whole sample
                offset = clip.find(window, offset + 1)
            if offset >= 0:
                self.clip, self.base, self.words, self.tries = clip, at - offset, text.split(), 0
                return
        if not self.tries:
            self._use_script()

    def _use_script(self) -> None:
        self.tries = 0
        self.clip = None
        with self.fake._lock:
            script = self.fake.script or [""]
            self.script = script[min(self.fake._script_finals, len(script) - 1)].split()

    def _clip_words(self, final: bool) -> list[str]:
        assert self.clip is not None
        n, size = len(self.words), len(self.clip)
        centres = [self.base + round((i + 0.5) / n * size / 2) * 2 for i in range(n)]
        end = self.pos
        if final and not _voiced(self.clip[max(0, self.pos - self.base):]):
            end = max(end, self.base + size)  # nothing voiced left in the clip: its last words too
        return [w for w, c in zip(self.words, centres, strict=True) if self.start <= c < end]

    def _interim_words(self) -> list[str]:
        if self.clip is not None:
            return self._clip_words(final=False)
        if self.script is not None:
            shown = min(int(self.voiced_s / INTERIM_S), len(self.script) - 1)
            return self.script[:max(0, shown)]
        return []  # not identified yet

    def _final(self) -> Iterator[tuple[str, str, int]]:
        if self.clip is None and self.script is None:
            self._use_script()
        words = self._clip_words(final=True) if self.clip is not None else list(self.script or [])
        scripted = self.clip is None
        self.voiced_at, self.quiet, self.tries, self.script = None, 0, 0, None
        if not words:
            return  # nothing said: the utterance is dropped
        self.start = self.pos
        if scripted:
            with self.fake._lock:
                self.fake._script_finals += 1
        yield ("final", " ".join(words), self.pos)


class FakeGoogle:
    def __init__(self) -> None:
        # Knobs (set any time; each applies from the next request or audio chunk).
        self.fail: dict[str, grpc.StatusCode] = {}  # kind ("stt", "translate", "tts", "voices") -> abort
        self.stall: set[str] = set()  # kinds that accept, then never answer (until reset or removed)
        self.delays: dict[str, float] = {}  # kind -> seconds before every answer (stt: every response)
        self.stt_end_after_s: float | None = None  # STT: end the stream cleanly after this much audio
        self.stt_abort_after_s: float | None = None  # STT: abort the stream after this much audio
        self.stt_abort_code = grpc.StatusCode.OUT_OF_RANGE
        self.stt_unsettled_end = False  # STT: at half-close, end without the pending utterance's final
        self.stt_empty_results = False  # STT: an answer with no results after every one
        self.stt_limit_streams: int | None = None  # the end/abort knobs apply to the first this many streams
        self.stt_final_every_s: float | None = None  # STT: a clip's words so far final this often, mid-speech
        self.stt_abort_message = "Exceeded maximum allowed stream duration"
        self.script: list[str] = ["hello world"]  # what audio in no registered clip says
        self.translate: Callable[[str, str], str] = lambda text, target: f"[{target}] {text}"
        self.clips: dict[bytes, str] = {}  # registered recordings (16 kHz mono PCM16) -> transcript
        self.endpoint_ms = 500.0  # the quiet after voice that ends an utterance
        # Records.
        self.stt_streams: list[dict[str, Any]] = []
        self.translate_requests: list[dict[str, Any]] = []
        self.tts_requests: list[dict[str, Any]] = []
        self.voice_requests: list[dict[str, Any]] = []
        self.refused: list[tuple[str, grpc.StatusCode]] = []
        self._lock = threading.Lock()
        self._script_finals = 0
        self._generation = 0  # bumped by reset(): what was stalled is released
        self._stopping = False
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.port = 0

    # ---- life ----
    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeGoogle:
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="fake-google")
        server = grpc.server(self._executor)
        server.add_generic_rpc_handlers([
            grpc.method_handlers_generic_handler("google.cloud.speech.v1.Speech", {
                "StreamingRecognize": grpc.stream_stream_rpc_method_handler(
                    self._stt, request_deserializer=speech_v1.StreamingRecognizeRequest.deserialize,
                    response_serializer=speech_v1.StreamingRecognizeResponse.serialize)}),
            grpc.method_handlers_generic_handler("google.cloud.translation.v3.TranslationService", {
                "TranslateText": grpc.unary_unary_rpc_method_handler(
                    self._translate, request_deserializer=translate_v3.TranslateTextRequest.deserialize,
                    response_serializer=translate_v3.TranslateTextResponse.serialize)}),
            grpc.method_handlers_generic_handler("google.cloud.texttospeech.v1.TextToSpeech", {
                "SynthesizeSpeech": grpc.unary_unary_rpc_method_handler(
                    self._synthesize,
                    request_deserializer=texttospeech_v1.SynthesizeSpeechRequest.deserialize,
                    response_serializer=texttospeech_v1.SynthesizeSpeechResponse.serialize),
                "ListVoices": grpc.unary_unary_rpc_method_handler(
                    self._list_voices, request_deserializer=texttospeech_v1.ListVoicesRequest.deserialize,
                    response_serializer=texttospeech_v1.ListVoicesResponse.serialize)}),
        ])
        self.port = server.add_insecure_port("127.0.0.1:0")
        if not self.port:
            raise RuntimeError("the fake Google server could not bind a port")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping = True  # releases stalls; stopping cancels every RPC still open
        server.stop(grace=None).wait(10)
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def reset(self) -> None:
        """Knobs back to a healthy provider; records cleared; whatever is stalled is released. The
        registered clips stay (they are what the audio says, not a fault)."""
        with self._lock:
            self._generation += 1
            self._script_finals = 0
        self.fail = {}
        self.stall = set()
        self.delays = {}
        self.stt_end_after_s = self.stt_abort_after_s = self.stt_limit_streams = None
        self.stt_final_every_s = None
        self.stt_unsettled_end = self.stt_empty_results = False
        self.stt_abort_code = grpc.StatusCode.OUT_OF_RANGE
        self.stt_abort_message = "Exceeded maximum allowed stream duration"
        self.script = ["hello world"]
        self.translate = lambda text, target: f"[{target}] {text}"
        self.endpoint_ms = 500.0
        for record in (self.stt_streams, self.translate_requests, self.tts_requests, self.voice_requests,
                       self.refused):
            record.clear()

    def register(self, pcm: bytes, text: str) -> None:
        """A recording (16 kHz mono PCM16) and what it says."""
        self.clips[bytes(pcm)] = text

    @property
    def requests(self) -> int:
        """Everything that reached it, refused or not."""
        return (len(self.stt_streams) + len(self.translate_requests) + len(self.tts_requests)
                + len(self.voice_requests) + len(self.refused))

    # ---- shared ----
    def _refuse(self, kind: str, context: grpc.ServicerContext) -> None:
        """Aborts the call (raises) when `fail` says so for this kind."""
        code = self.fail.get(kind)
        if code is None:
            return
        self.refused.append((kind, code))
        context.abort(code, MESSAGES.get(code, f"{code.name.lower().replace('_', ' ')} (fake)"))

    def _pause(self, kind: str, context: grpc.ServicerContext) -> bool:
        """The kind's delay, then its stall; False when the call was cancelled meanwhile."""
        until = time.monotonic() + self.delays.get(kind, 0.0)
        while context.is_active() and not self._stopping and time.monotonic() < until:
            time.sleep(min(0.05, max(0.0, until - time.monotonic())))
        return self._hold(kind, context)

    def _hold(self, kind: str, context: grpc.ServicerContext) -> bool:
        """Waits while the kind is stalled; False when the call was cancelled meanwhile."""
        generation = self._generation
        while (kind in self.stall and generation == self._generation and not self._stopping
               and context.is_active()):
            time.sleep(0.05)
        return bool(context.is_active())

    @staticmethod
    def _metadata(context: grpc.ServicerContext) -> dict[str, Any]:
        return dict(context.invocation_metadata() or ())

    # ---- speech to text ----
    def _stt(self, requests: Iterator[speech_v1.StreamingRecognizeRequest],
             context: grpc.ServicerContext) -> Iterator[speech_v1.StreamingRecognizeResponse]:
        try:
            first = next(requests)
        except (StopIteration, grpc.RpcError):
            return
        self._refuse("stt", context)
        if "streaming_config" not in first:
            self.refused.append(("stt", grpc.StatusCode.INVALID_ARGUMENT))
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "Malordered Data Received. Expected audio but none was set. Send exactly one "
                          "config, followed by audio data.")
        streaming = first.streaming_config
        config = streaming.config
        encoding = config.encoding
        record: dict[str, Any] = {
            "config": {"language_code": config.language_code, "sample_rate_hertz": config.sample_rate_hertz,
                       "encoding": getattr(encoding, "name", str(encoding)),
                       "interim_results": streaming.interim_results,
                       "single_utterance": streaming.single_utterance, "model": config.model,
                       "phrases": [p for c in config.speech_contexts for p in c.phrases]},
            "metadata": self._metadata(context), "audio_bytes": 0, "opened_at": time.time(),
            "closed_at": None, "finals": [], "final_ends": [], "ended": None, "half_closed_at": None,
            "answered_at": None}
        self.stt_streams.append(record)
        language = config.language_code.lower()
        listener = _Listener(self, config.sample_rate_hertz or 16000, len(self.stt_streams) - 1)
        heard: queue.Queue[Any] = queue.Queue()

        def read() -> None:
            try:
                for request in requests:
                    if request.audio_content:
                        record["audio_bytes"] += len(request.audio_content)
                        heard.put(bytes(request.audio_content))
                heard.put(_END)
            except Exception:  # the client cancelled, or the call is over
                heard.put(_CANCEL)

        threading.Thread(target=read, name="fake-google-stt-reader", daemon=True).start()
        try:
            while True:
                try:
                    item = heard.get(timeout=0.05)
                except queue.Empty:
                    if not context.is_active():
                        record["ended"] = "cancelled"
                        return
                    continue
                if item is _CANCEL or not self._hold("stt", context):
                    record["ended"] = "cancelled"
                    return
                if item is _END:
                    record["half_closed_at"] = time.time()
                events = listener.flush() if item is _END else listener.feed(item)
                limited = self.stt_limit_streams is None or listener.index < self.stt_limit_streams
                if item is _END and self.stt_unsettled_end and limited:
                    events = [e for e in events if e[0] != "final"]  # ends with words unsettled
                for event, text, position in events:
                    if event == "end":
                        record["ended"] = "early-end"
                        return
                    if event == "abort":
                        record["ended"] = "aborted"
                        context.abort(self.stt_abort_code, self.stt_abort_message)
                    final = event == "final"
                    if not final and not streaming.interim_results:
                        continue
                    if not self._pause("stt", context):
                        record["ended"] = "cancelled"
                        return
                    result = speech_v1.StreamingRecognitionResult(
                        alternatives=[speech_v1.SpeechRecognitionAlternative(
                            transcript=text, confidence=0.9 if final else 0.0)],
                        is_final=final, stability=0.0 if final else 0.5,
                        result_end_time=timedelta(seconds=listener.seconds(position)),
                        language_code=language)
                    if final:
                        record["finals"].append(text)
                        record["final_ends"].append(listener.seconds(position))  # result_end_time
                        record["answered_at"] = time.time()
                    yield speech_v1.StreamingRecognizeResponse(results=[result])
                    if self.stt_empty_results:  # as v1 also sends: no results (billing, events)
                        yield speech_v1.StreamingRecognizeResponse(
                            total_billed_time=timedelta(seconds=listener.seconds(position)))
                if item is _END:
                    record["ended"] = "half-close"
                    return
        finally:
            if record["ended"] is None:
                record["ended"] = "cancelled"
            record["closed_at"] = time.time()

    # ---- translation ----
    def _translate(self, request: translate_v3.TranslateTextRequest,
                   context: grpc.ServicerContext) -> translate_v3.TranslateTextResponse:
        self._refuse("translate", context)
        record: dict[str, Any] = {
            "parent": request.parent, "contents": list(request.contents), "mime_type": request.mime_type,
            "source_language_code": request.source_language_code,
            "target_language_code": request.target_language_code,
            "glossary": request.glossary_config.glossary, "metadata": self._metadata(context),
            "at": time.time(), "answered_at": None}
        self.translate_requests.append(record)
        if not self._pause("translate", context):
            return translate_v3.TranslateTextResponse()
        target = request.target_language_code
        response = translate_v3.TranslateTextResponse(translations=[
            translate_v3.Translation(translated_text=self.translate(text, target))
            for text in request.contents])
        record["answered_at"] = time.time()
        return response

    # ---- speech synthesis ----
    def _synthesize(self, request: texttospeech_v1.SynthesizeSpeechRequest,
                    context: grpc.ServicerContext) -> texttospeech_v1.SynthesizeSpeechResponse:
        self._refuse("tts", context)
        audio = request.audio_config
        encoding = audio.audio_encoding
        language = request.voice.language_code
        text = request.input.text or request.input.ssml
        record: dict[str, Any] = {
            "text": text, "language_code": language,
            "voice": request.voice.name or f"{language}-Standard-A",
            "audio_encoding": getattr(encoding, "name", str(encoding)),
            "sample_rate_hertz": audio.sample_rate_hertz, "metadata": self._metadata(context),
            "at": time.time(), "answered_at": None}
        self.tts_requests.append(record)
        if encoding != texttospeech_v1.AudioEncoding.LINEAR16:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"This fake synthesizes LINEAR16 only, not {getattr(encoding, 'name', encoding)}.")
        if not self._pause("tts", context):
            return texttospeech_v1.SynthesizeSpeechResponse()
        rate = audio.sample_rate_hertz or 24000
        n = int(rate * 0.05 * max(1, len(text)))
        samples = array.array("h", (int(8000 * math.sin(2 * math.pi * 220 * i / rate)) for i in range(n)))
        if sys.byteorder == "big":
            samples.byteswap()
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(samples.tobytes())
        record["answered_at"] = time.time()
        return texttospeech_v1.SynthesizeSpeechResponse(audio_content=out.getvalue())

    def _list_voices(self, request: texttospeech_v1.ListVoicesRequest,
                     context: grpc.ServicerContext) -> texttospeech_v1.ListVoicesResponse:
        self._refuse("voices", context)
        language = request.language_code
        self.voice_requests.append({"language_code": language, "metadata": self._metadata(context),
                                    "at": time.time()})
        if not self._pause("voices", context):
            return texttospeech_v1.ListVoicesResponse()
        return texttospeech_v1.ListVoicesResponse(voices=[
            texttospeech_v1.Voice(name=name, language_codes=[code],
                                  ssml_gender=gender,
                                  natural_sample_rate_hertz=24000)
            for name, code, gender in VOICES
            if not language or code.lower().startswith(language.lower())])
