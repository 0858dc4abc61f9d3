"""Google Cloud's configuration: without the standard credentials it is listed as unavailable, with
why, for every kind (and translation without a project); the placeholders that keep glossary terms;
one WAV header on LINEAR16 audio, however Google framed it."""
from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import pytest

from core import providers
from core.settings import Settings
from engines.errors import ConfigurationError, EngineError
from engines.providers.google.config import GoogleConfig, failed
from engines.providers.google.translation import protect, restore
from engines.providers.google.tts import as_wav


def settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite3", var_dir=tmp_path, **kw)  # type: ignore[arg-type]


def credentials(tmp_path: Path, **info: object) -> str:
    path = tmp_path / "google.json"
    path.write_text(json.dumps({"type": "service_account", **info}))
    return str(path)


def test_without_credentials_google_is_unavailable_for_every_kind_and_says_why(tmp_path: Path) -> None:
    s = settings(tmp_path, engines={"stt_order": ["google", "local"]})
    choices = providers.choices(s)
    for kind in providers.KINDS:
        google = next(c for c in choices[kind] if c["name"] == "google")
        assert google == {"name": "google", "available": False, "premium": True, "label": "Google Cloud",
                          "reason": "no GOOGLE_APPLICATION_CREDENTIALS configured"}
        assert choices["default"][kind] == "local"
    with pytest.raises(ConfigurationError, match="not available here"):
        providers.stt_registry(s).provider("google")


def test_a_file_that_is_not_credentials_or_no_project_is_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    s = settings(tmp_path, google={"credentials": str(bad)})
    assert "readable Google credentials file" in s.google.missing("stt")
    s = settings(tmp_path, google={"credentials": str(tmp_path / "missing.json")})
    assert "readable Google credentials file" in s.google.missing("tts")
    s = settings(tmp_path, google={"credentials": credentials(tmp_path)})
    assert s.google.missing("stt") == s.google.missing("tts") == ""
    assert s.google.missing("translation") == "no GOOGLE_CLOUD_PROJECT configured"
    # The project may come from the environment or from the credentials file itself.
    s = settings(tmp_path, google={"credentials": credentials(tmp_path, project_id="from-file")})
    assert s.google.missing("translation") == ""
    assert s.google.config().project == "from-file"
    s = settings(tmp_path, google={"credentials": credentials(tmp_path, project_id="from-file"),
                                   "project": "from-env"})
    assert s.google.config().project == "from-env"


def test_a_loopback_endpoint_is_insecure_and_a_remote_one_is_not() -> None:
    assert GoogleConfig(endpoint="127.0.0.1:8443").insecure
    assert GoogleConfig(endpoint="localhost:1").insecure
    assert not GoogleConfig(endpoint="speech.googleapis.com:443").insecure
    assert not GoogleConfig().insecure


def test_glossary_terms_are_taken_out_and_put_back_whole() -> None:
    text, terms = protect("Ask livekit about Grok Voice, not grok.", ("LiveKit", "Grok Voice", "Grok", " "))
    assert "livekit" not in text.lower() and "grok" not in text.lower()
    assert terms == ["Grok Voice", "LiveKit", "Grok"]
    translated = text.replace("Ask", "Pregunta a").replace("about", "sobre").replace("not", "no")
    said = "Pregunta a LiveKit sobre Grok Voice, no Grok."
    assert restore(translated, terms) == said
    assert restore(translated.replace("⟦1⟧", "⟦ 1 ⟧"), terms) == said
    assert restore(translated.replace("⟦1⟧", ""), terms) is None  # one lost: not used
    assert protect("Nothing to keep here", ("LiveKit",)) == ("Nothing to keep here", [])
    # Whole words only: "Grokking" is not the term "Grok".
    assert protect("Grokking it", ("Grok",)) == ("Grokking it", [])


def _wav(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


@pytest.mark.parametrize("framed", [True, False])
def test_linear16_audio_gets_exactly_one_wav_header(framed: bool) -> None:
    pcm = bytes(range(256)) * 40
    wav = as_wav(_wav(pcm, 22050) if framed else pcm, 24000)
    assert wav.count(b"RIFF") == 1 and wav.count(b"WAVE") == 1
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getframerate() == (22050 if framed else 24000)
        assert w.readframes(w.getnframes()) == pcm  # the samples, and only them
    with pytest.raises(EngineError, match="not 16-bit PCM"):
        as_wav(b"\x01", 24000)
    with pytest.raises(EngineError, match="not one"):
        as_wav(b"RIFF\x00\x00\x00\x00WAVEjunk", 24000)


def test_a_failed_call_names_its_status_only(caplog: pytest.LogCaptureFixture) -> None:
    import grpc
    from google.api_core import exceptions

    said = "the secret thing someone said"
    err = failed("translation", exceptions.InvalidArgument(f"Bad language for '{said}'"))
    assert not err.retryable and "INVALID_ARGUMENT" in str(err) and said not in str(err)
    err = failed("translation", exceptions.ServiceUnavailable(said))
    assert err.retryable and said not in str(err)
    err = failed("speech stream", exceptions.from_grpc_status(grpc.StatusCode.RESOURCE_EXHAUSTED, said))
    assert err.retryable and getattr(err, "status", 0) == 429
    assert said not in caplog.text
