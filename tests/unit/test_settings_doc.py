"""unit: .env.example documents exactly the settings that exist, and the settings read the
environment as documented: blank means the default, a bad value is refused naming its variable."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from core.settings import Section, Settings
from tests.support import ROOT

pytestmark = pytest.mark.unit

# Assigned in .env.example but read by `make run` (the Makefile), not by the service's settings.
MAKEFILE_ONLY = {"LIVEKIT_PORT"}


def _variables(model: type[BaseModel] = Settings) -> set[str]:
    """Every variable the settings read: each field's alias, sections included."""
    out: set[str] = set()
    for info in model.model_fields.values():
        if isinstance(info.annotation, type) and issubclass(info.annotation, Section):
            out |= _variables(info.annotation)
        else:
            assert isinstance(info.validation_alias, str), info
            out.add(info.validation_alias)
    return out


def _documented() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def test_every_setting_is_in_env_example_and_every_variable_there_is_a_setting() -> None:
    read, documented = _variables(), _documented()
    assert read - documented == set(), "read by the settings, missing from .env.example"
    assert documented - read - MAKEFILE_ONLY == set(), "in .env.example, read by no setting"


def test_the_env_example_as_it_ships_gives_the_defaults(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    for name in _variables():
        monkeypatch.delenv(name, raising=False)
    defaults = Settings()
    text = (ROOT / ".env.example").read_text()
    for name, value in re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, re.MULTILINE):
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("core.settings.ROOT", tmp_path)  # no .env of this checkout
    shipped = Settings.from_env(prepare=False)
    assert shipped.model_dump(exclude={"secret_key", "bridge_secret"}) == defaults.model_dump(
        exclude={"secret_key", "bridge_secret"})


def _from(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **variables: str) -> Settings:
    for name in _variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("core.settings.ROOT", tmp_path)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(prepare=False)


def test_variables_are_read_into_their_sections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = _from(monkeypatch, tmp_path, PORT=" 5001 ", CORS_ORIGINS="https://a.example, https://b.example",
              STT_ENGINES="grok,local", SPEECH_AUTOSTART="0", AGENT_DISABLED="1", STT_SEGMENTS="0",
              RESUME_AFTER_S="0.2", VOICE_MAX_SPEED="3", PREMIUM_FOR_USERS=" AUTO ",
              XAI_VOICE="", APERTIUM_PAIRS_PATH="/opt/modes", LIVEKIT_AGENT_NAME="lt-b",
              LIVEKIT_URL="ws://127.0.0.1:7880", LIVEKIT_API_KEY="k", LIVEKIT_API_SECRET="s")
    assert s.web.port == 5001 and s.agent.app_url == "http://127.0.0.1:5001"
    assert s.web.cors_origins == ["https://a.example", "https://b.example"]
    assert s.engines.stt_order == ["grok", "local"] and s.engines.tts_order == ["local"]
    assert not s.speech.autostart and s.agent.disabled and s.local.whisper.config(s.var_dir).segments is None
    assert s.fanout.resume_after_s == 1.0 and s.agent.voice_max_speed == 2.0  # clamped as documented
    assert s.premium.for_users == "auto" and s.xai.voice == "eve"  # blank: the default
    assert s.local.apertium.config().pairs_path == "/opt/modes"
    livekit = s.livekit.config()
    assert livekit is not None and livekit.agent_name == "lt-b"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("PORT", "80a", "setting PORT must be a whole number, got '80a'"),
    ("XAI_TIMEOUT_S", "soon", "setting XAI_TIMEOUT_S must be a number, got 'soon'"),
    ("STT_THREADS", "1.5", "setting STT_THREADS must be a whole number, got '1.5'"),
    ("PREMIUM_FOR_USERS", "maybe", "setting PREMIUM_FOR_USERS must be auto, 1 or 0"),
    ("SPEECH_LINK", "redis", "setting SPEECH_LINK must be socket or redis (redis needs REDIS_URL)"),
    ("LIVEKIT_URL", "ws://127.0.0.1:7880",
     "LiveKit is half configured: set LIVEKIT_API_KEY, LIVEKIT_API_SECRET too (or none)"),
])
def test_a_bad_value_stops_the_process_naming_its_variable(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path, name: str, value: str,
                                                            message: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        _from(monkeypatch, tmp_path, **{name: value})
    assert str(stopped.value) == message
