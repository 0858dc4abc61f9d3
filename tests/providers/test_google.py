"""Google Cloud's three providers against the local fake gRPC server, driven through our engines
and Google's own client libraries (their gRPC transports, on an insecure local channel), on real
recorded English: the streaming protocol, VAD gating, stream rotation (forced mid-speech, at a
settled part, and when Google ends a stream early) losing and repeating no word; translation with
one request per target, in parallel, the glossary kept; synthesis with one WAV header and the
voice list; and every failure (a status, a stall, a slow answer) an EngineError naming only its
status."""
from __future__ import annotations

import io
import subprocess
import sys
import time
import wave
from typing import Any

import grpc
import pytest

from engines.errors import (
    BudgetExhaustedError,
    EngineConnectionError,
    EngineError,
    EngineStatusError,
    EngineTimeoutError,
)
from engines.providers.google.config import GoogleConfig
from engines.providers.google.stt import GoogleSTT
from engines.providers.google.translation import GoogleTranslator
from engines.providers.google.tts import GoogleTTS
from engines.stt.base import SpeechEvent, StreamOptions
from engines.stt.vad import VadConfig
from engines.translation.base import Context
from tests.support import ROOT
from tests.support.fake_google import FakeGoogle
from tests.support.speech import clips

pytestmark = [pytest.mark.integration, pytest.mark.speech]

SILENCE = b"\0" * 32000  # one second
# The VAD keeps a turn open over a half-second pause: Google settles the sentence before it.
LONG_PAUSES = VadConfig(min_silence_ms=1200, max_silence_ms=1500)


@pytest.fixture(scope="module")
def sentences(google_server: FakeGoogle) -> list[tuple[bytes, str]]:
    out = clips()[:3]
    for pcm, ref in out:
        google_server.register(pcm, ref)
    return out


def config(fake: FakeGoogle, **kw: Any) -> GoogleConfig:
    return GoogleConfig(**{"endpoint": fake.endpoint, "project": "test-project", "stall_s": 1.5,
                           "timeout_s": 3.0, **kw})


def feed(stream: Any, pcm: bytes, pace: float = 0.004) -> list[SpeechEvent]:
    """Push audio in 40 ms chunks, a little faster than a microphone, then flush."""
    events: list[SpeechEvent] = []
    for i in range(0, len(pcm), 1280):
        events += stream.push(pcm[i:i + 1280])
        time.sleep(pace)
    return events + stream.flush()


def finals(events: list[SpeechEvent]) -> list[str]:
    return [e.text for e in events if e.kind == "final"]


# ---- speech to text ----

def test_speech_is_streamed_as_the_protocol_says_and_heard(gfake: FakeGoogle,
                                                           sentences: list[tuple[bytes, str]]) -> None:
    (pcm, ref), *_ = sentences
    used: list[tuple[str, str, float]] = []
    stt = GoogleSTT(config(gfake))
    stream = stt.stream("en", "k", StreamOptions(keyterms=("LiveKit", "Dashwood"),
                                                 on_usage=lambda p, u, a: used.append((p, u, a))))
    events = feed(stream, SILENCE + pcm + SILENCE * 2)
    assert finals(events) == [ref]
    final = next(e for e in events if e.kind == "final")
    assert final.engine == "google" and final.utterance_key == "k:0" and final.speech_end_at
    interims = [e.text for e in events if e.kind == "interim"]
    assert len(interims) >= 3 and all(ref.startswith(i) for i in interims)
    [s] = gfake.stt_streams
    assert s["config"] == {"language_code": "en-US", "sample_rate_hertz": 16000, "encoding": "LINEAR16",
                           "interim_results": True, "single_utterance": False, "model": "",
                           "phrases": ["LiveKit", "Dashwood"]}
    assert "gl-python" in s["metadata"]["x-goog-api-client"]  # Google's own client spoke
    assert s["ended"] == "half-close"
    # Only the speech (and the VAD's pre-roll) went out, and that is what was metered.
    assert len(pcm) - 32000 < s["audio_bytes"] < len(pcm) + 16000
    assert used == [("google", "audio_seconds", pytest.approx(s["audio_bytes"] / 32000))]


def test_a_forced_rotation_in_mid_speech_loses_and_repeats_no_word(
        gfake: FakeGoogle, sentences: list[tuple[bytes, str]]) -> None:
    (one, ref1), (two, ref2), _ = sentences
    gfake.endpoint_ms = 300  # Google settles the first sentence at the short pause between them
    used: list[float] = []
    stt = GoogleSTT(config(gfake, stt_max_stream_s=1.2), vad=LONG_PAUSES)
    stream = stt.stream("en", "k", StreamOptions(on_usage=lambda p, u, a: used.append(a)))
    events = feed(stream, SILENCE + one + b"\0" * 16000 + two + SILENCE * 2)
    said = " ".join(finals(events))
    assert said == f"{ref1} {ref2}", said
    assert stt.rotations >= 4 and len(gfake.stt_streams) == stt.rotations + 1
    _all_ended(gfake)
    # Replaced streams were cancelled (or half-closed when the cancel came after their last
    # audio): never ended by the provider.
    assert all(s["ended"] in ("cancelled", "half-close") for s in gfake.stt_streams[:-1])
    # Each new stream was sent what followed the last settled part again: more audio went out
    # than was said.
    received = sum(s["audio_bytes"] for s in gfake.stt_streams)
    assert received > len(one) + len(two) + 32000
    # What Google was sent, again or not, is what it bills and what was metered (a chunk on its
    # way when a stream was cancelled may count and not arrive).
    assert received <= sum(used) * 32000 <= received + 6400 * len(gfake.stt_streams)


def _all_ended(fake: FakeGoogle, within_s: float = 3.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and any(s["ended"] is None for s in fake.stt_streams):
        time.sleep(0.05)
    assert all(s["ended"] is not None for s in fake.stt_streams), "a stream was left open"


def test_a_stream_ended_with_words_unsettled_is_sent_again(gfake: FakeGoogle,
                                                           sentences: list[tuple[bytes, str]]) -> None:
    """Google may end a half-closed stream without settling the last words, and sends answers
    with no results at all: neither may cost a word."""
    (pcm, ref), *_ = sentences
    gfake.endpoint_ms = 5000  # nothing settles before our end
    gfake.stt_unsettled_end = gfake.stt_empty_results = True
    gfake.stt_limit_streams = 1
    stt = GoogleSTT(config(gfake))
    events = feed(stt.stream("en", "k"), SILENCE + pcm + SILENCE * 2)
    assert finals(events) == [ref]
    first, second = gfake.stt_streams
    assert first["ended"] == "half-close" and not first["finals"] and second["finals"] == [ref]


def test_an_old_stream_is_rotated_at_a_settled_part_without_sending_it_again(
        gfake: FakeGoogle, sentences: list[tuple[bytes, str]]) -> None:
    (one, ref1), (two, ref2), _ = sentences
    gfake.endpoint_ms = 300
    stt = GoogleSTT(config(gfake, stt_rotate_s=1.0), vad=LONG_PAUSES)
    events = feed(stt.stream("en", "k"), SILENCE + one + b"\0" * 16000 + two + SILENCE * 2)
    assert " ".join(finals(events)) == f"{ref1} {ref2}"
    # Rotated after each settled sentence (the last time in the silence after the second).
    first, second, *rest = gfake.stt_streams
    assert first["finals"] == [ref1] and second["finals"] == [ref2] and not any(s["finals"] for s in rest)
    assert second["audio_bytes"] < len(two) + 24000  # the first sentence was not sent again
    assert len(rest) <= 1


@pytest.mark.parametrize("how", ["end", "out_of_range"])
def test_a_stream_google_ends_early_is_carried_on_by_a_new_one(
        gfake: FakeGoogle, sentences: list[tuple[bytes, str]], how: str) -> None:
    (pcm, ref), *_ = sentences
    gfake.stt_limit_streams = 1
    if how == "end":
        gfake.stt_end_after_s = 2.5
    else:
        gfake.stt_abort_after_s = 2.5
    stt = GoogleSTT(config(gfake))
    assert finals(feed(stt.stream("en", "k"), SILENCE + pcm + SILENCE * 2)) == [ref]
    assert [s["ended"] for s in gfake.stt_streams] == ["early-end" if how == "end" else "aborted",
                                                       "half-close"]
    assert stt.failures == 0 and stt.rotations == 1


@pytest.mark.parametrize(("knob", "error"), [
    ("refuse", EngineConnectionError), ("deny", EngineStatusError), ("stall", EngineTimeoutError),
    ("internal", EngineStatusError), ("always_end", EngineError)])
def test_a_failing_stream_raises_an_engine_error(gfake: FakeGoogle, sentences: list[tuple[bytes, str]],
                                                 knob: str, error: type[EngineError]) -> None:
    (pcm, _), *_ = sentences
    if knob == "refuse":
        gfake.fail["stt"] = grpc.StatusCode.UNAVAILABLE
    elif knob == "deny":
        gfake.fail["stt"] = grpc.StatusCode.PERMISSION_DENIED
    elif knob == "stall":
        gfake.stall.add("stt")
    elif knob == "internal":
        gfake.stt_abort_after_s, gfake.stt_abort_code = 1.0, grpc.StatusCode.INTERNAL
    else:  # every stream ends early, before anything settles: no progress is a failure
        gfake.stt_end_after_s = 1.0
    stt = GoogleSTT(config(gfake))
    started = time.monotonic()
    with pytest.raises(error) as caught:
        feed(stt.stream("en", "k"), SILENCE + pcm + SILENCE * 2)
    assert caught.value.retryable and caught.value.engine == "google"
    assert time.monotonic() - started < len(pcm) / 32000 + 3 + 3 * 1.5
    assert stt.failures == 1
    # The call was let go, even one Google never answered: no stream is left open.
    _all_ended(gfake)


def test_a_spent_budget_sends_nothing_and_says_so(gfake: FakeGoogle,
                                                  sentences: list[tuple[bytes, str]]) -> None:
    spent = config(gfake, spent=lambda unit: True)
    stt = GoogleSTT(spent)
    assert not stt.ready()
    with pytest.raises(BudgetExhaustedError):
        feed(stt.stream("en", "k"), SILENCE + sentences[0][0][:32000])
    with pytest.raises(BudgetExhaustedError):
        GoogleTranslator(spent).translate("Hello", "en", "es")
    with pytest.raises(BudgetExhaustedError):
        GoogleTTS(spent).synthesize("Hello", "en")
    assert gfake.requests == 0


# ---- translation ----

def test_all_targets_of_an_utterance_are_asked_for_at_once_as_plain_text(gfake: FakeGoogle) -> None:
    gfake.delays["translate"] = 0.4
    tr = GoogleTranslator(config(gfake))
    started = time.monotonic()
    out = tr.translate_many("Fish & chips <now>", "en", ["es", "fr", "de", "en"])
    elapsed = time.monotonic() - started
    assert {t: r.text for t, r in out.items()} == {
        "es": "[es] Fish & chips <now>", "fr": "[fr] Fish & chips <now>",
        "de": "[de] Fish & chips <now>", "en": "Fish & chips <now>"}
    assert out["es"].engine == "google" and out["es"].usage == {"characters": len("Fish & chips <now>")}
    assert out["en"].usage == {}  # nothing sent, nothing billed
    reqs = gfake.translate_requests
    assert sorted(r["target_language_code"] for r in reqs) == ["de", "es", "fr"]
    assert all(r["mime_type"] == "text/plain" and r["source_language_code"] == "en"
               and r["parent"] == "projects/test-project/locations/global"
               and r["contents"] == ["Fish & chips <now>"] for r in reqs)
    # In parallel: every request had reached Google before the first was answered.
    assert max(r["at"] for r in reqs) < min(r["answered_at"] for r in reqs)
    assert elapsed < 1.0


def test_glossary_terms_are_kept_as_written(gfake: FakeGoogle) -> None:
    gfake.translate = lambda text, target: text.replace("Ask", "Pregunta a").replace("about", "sobre")
    tr = GoogleTranslator(config(gfake))
    out = tr.translate("Ask livekit about Grok Voice", "en", "es",
                       Context(glossary=("LiveKit", "Grok Voice")))
    assert out.text == "Pregunta a LiveKit sobre Grok Voice"
    [req] = gfake.translate_requests
    assert "LiveKit" not in req["contents"][0] and "Grok" not in req["contents"][0]
    # A translation that loses a placeholder is never shown with a hole: asked again as said.
    gfake.translate = lambda text, target: text.replace("⟦0⟧", "").replace("Ask", "Pregunta")
    out = tr.translate("Ask LiveKit", "en", "es", Context(glossary=("LiveKit",)))
    assert out.text == "Pregunta LiveKit" and len(gfake.translate_requests) == 3


@pytest.mark.parametrize(("knob", "error", "retryable"), [
    ("unavailable", EngineConnectionError, True), ("invalid", EngineStatusError, False),
    ("quota", EngineStatusError, True), ("slow", EngineTimeoutError, True)])
def test_a_failed_translation_is_an_engine_error(gfake: FakeGoogle, knob: str,
                                                 error: type[EngineError], retryable: bool,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    if knob == "slow":
        gfake.delays["translate"] = 2.0
    else:
        gfake.fail["translate"] = {"unavailable": grpc.StatusCode.UNAVAILABLE,
                                   "invalid": grpc.StatusCode.INVALID_ARGUMENT,
                                   "quota": grpc.StatusCode.RESOURCE_EXHAUSTED}[knob]
    tr = GoogleTranslator(config(gfake, timeout_s=0.5))
    with pytest.raises(error) as caught:
        tr.translate_many("a secret sentence", "en", ["es", "fr"])
    assert caught.value.retryable is retryable
    assert "secret" not in str(caught.value) and "secret" not in caplog.text


# ---- speech synthesis ----

def test_speech_comes_back_as_one_wav_with_one_header(gfake: FakeGoogle) -> None:
    tts = GoogleTTS(config(gfake))
    out = tts.synthesize("Hola a todos.", "es", "es-ES-Neural2-B")
    assert out.engine == "google" and out.voice == "es-ES-Neural2-B" and out.sample_rate == 24000
    assert out.wav.count(b"RIFF") == 1
    with wave.open(io.BytesIO(out.wav)) as w:
        assert w.getnframes() == int(24000 * 0.05 * len("Hola a todos."))
        assert len(w.readframes(w.getnframes())) == 2 * w.getnframes()
    [req] = gfake.tts_requests
    assert req["language_code"] == "es-ES" and req["audio_encoding"] == "LINEAR16"
    assert req["sample_rate_hertz"] == 24000 and req["voice"] == "es-ES-Neural2-B"
    # Another engine's voice, or one of another language, is not sent: Google picks one.
    assert tts.synthesize("Hola.", "es", "ara").voice == "es-ES"
    assert tts.synthesize("Hola.", "es", "en-US-Neural2-A").voice == "es-ES"
    assert [r["voice"] for r in gfake.tts_requests[1:]] == ["es-ES-Standard-A"] * 2


def test_the_voices_offered_are_googles_for_the_language(gfake: FakeGoogle) -> None:
    tts = GoogleTTS(config(gfake))
    assert tts.voices("es") == [{"id": "es-ES-Neural2-A", "name": "es-ES-Neural2-A (female)"},
                                {"id": "es-ES-Neural2-B", "name": "es-ES-Neural2-B (male)"}]
    tts.voices("es")
    assert [r["language_code"] for r in gfake.voice_requests] == ["es-ES"]  # kept, not asked again
    gfake.fail["voices"] = grpc.StatusCode.UNAVAILABLE
    with pytest.raises(EngineConnectionError):
        tts.voices("fr")
    gfake.fail["tts"] = grpc.StatusCode.INTERNAL
    with pytest.raises(EngineStatusError):
        tts.synthesize("Bonjour.", "fr")


# ---- eventlet ----

def test_under_eventlet_translation_is_handed_to_the_speech_process(gfake: FakeGoogle, tmp_path: Any) -> None:
    """gRPC hangs under eventlet: there the registry's `google` asks the speech process, and a
    direct call refuses at once rather than hanging the web process."""
    creds = tmp_path / "google.json"
    creds.write_text('{"type": "service_account"}')
    code = (
        "import eventlet; eventlet.monkey_patch()\n"
        "from core.providers import translator_registry\n"
        "from core.settings import Settings\n"
        "from engines.errors import EngineError\n"
        "from engines.providers.google.config import GoogleConfig\n"
        "from engines.providers.google.translation import GoogleTranslator\n"
        f"s = Settings(database_url='sqlite://', var_dir=__import__('pathlib').Path({str(tmp_path)!r}),"
        f" google={{'credentials': {str(creds)!r}, 'project': 'p', 'endpoint': {gfake.endpoint!r}}},"
        " engines={'translation_order': ['google', 'local']})\n"
        "p = translator_registry(s).provider('google')\n"
        "print(type(p).__name__, p.name, p.batches)\n"
        "try:\n"
        f"    direct = GoogleTranslator(GoogleConfig(endpoint={gfake.endpoint!r}, project='p'))\n"
        "    direct.translate('hi', 'en', 'es')\n"
        "except EngineError as exc:\n"
        "    print('refused:', exc)\n")
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines() == ["SpeechProcessTranslator google True",
                                     "refused: Google Cloud cannot be called from an eventlet process"]
    assert gfake.requests == 0


def test_credentials_google_cannot_use_are_an_engine_error(tmp_path: Any,
                                                          sentences: list[tuple[bytes, str]]) -> None:
    """A file that looks like credentials but that Google's library refuses: every kind fails
    over as for any other failure (nothing is contacted, nothing hangs)."""
    creds = tmp_path / "google.json"
    creds.write_text('{"type": "service_account"}')
    cfg = GoogleConfig(credentials_file=str(creds), project="p", stall_s=1.0)
    with pytest.raises(EngineConnectionError, match="client could not be made"):
        GoogleTranslator(cfg).translate("Hello", "en", "es")
    with pytest.raises(EngineConnectionError, match="client could not be made"):
        GoogleTTS(cfg).synthesize("Hello", "en")
    with pytest.raises(EngineConnectionError, match="client could not be made"):
        feed(GoogleSTT(cfg).stream("en", "k"), SILENCE + sentences[0][0])
