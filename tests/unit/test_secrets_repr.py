"""unit: no secret shows in the repr of what holds it (settings and provider configurations end
up in logs, tracebacks and debuggers): keys, tokens, passwords in URLs, where a private key is."""
from __future__ import annotations

import pytest

from core.livekit import LiveKitConfig
from core.metrics import make_store
from core.runtime import Runtime
from core.settings import Settings
from engines.providers.google.config import GoogleConfig
from engines.providers.xai.config import XAIConfig
from engines.translation import TranslatorRegistry

pytestmark = pytest.mark.unit

SECRETS = {"secret_key": "sk-7a1f", "bridge_secret": "bs-93c2",
           "speech": {"link_secret": "sl-5d0e"}, "xai": {"api_key": "xai-k-66b4"},
           "web": {"health_token": "ht-0f8a"}, "google": {"credentials": "/etc/keys/sa-1b7e.json"},
           "livekit": {"url": "wss://lk.example.org", "api_key": "APIk3y9", "api_secret": "lk-2f7d"}}
SECRET_VALUES = ["sk-7a1f", "bs-93c2", "sl-5d0e", "xai-k-66b4", "ht-0f8a", "sa-1b7e", "APIk3y9",
                 "lk-2f7d"]


def _settings() -> Settings:
    return Settings(**SECRETS, redis_url="redis://:rpw-4c2d@10.0.0.5:6379/0",  # type: ignore[arg-type]
                    database_url="postgresql+psycopg2://lt:dbpw-8e1a@db.internal/lt")


def _hides_every_secret(text: str) -> None:
    for secret in [*SECRET_VALUES, "rpw-4c2d", "dbpw-8e1a"]:
        assert secret not in text


def test_settings_repr_hides_secrets_and_url_passwords_but_shows_the_rest() -> None:
    settings = _settings()
    text = repr(settings)
    _hides_every_secret(text)
    _hides_every_secret(str(settings))
    assert "redis://:***@10.0.0.5:6379/0" in text and "postgresql+psycopg2://lt:***@db.internal/lt" in text
    assert "port=5000" in text and "base_url='https://api.x.ai/v1'" in text
    assert settings.redis_url.endswith(":rpw-4c2d@10.0.0.5:6379/0")  # only its repr is masked
    assert "redis://127.0.0.1:6379/0" in repr(Settings(redis_url="redis://127.0.0.1:6379/0"))


def test_what_is_built_from_settings_hides_them_too() -> None:
    settings = _settings()
    _hides_every_secret(repr(settings.xai.config()))
    _hides_every_secret(repr(settings.google.config()))
    _hides_every_secret(repr(settings.livekit.config()))
    rt = Runtime(settings, TranslatorRegistry({}, default="local"), make_store(""), None)  # type: ignore[arg-type]
    _hides_every_secret(repr(rt))


def test_provider_configurations_hide_their_keys() -> None:
    xai = XAIConfig(api_key="xai-k-66b4")
    assert "xai-k-66b4" not in repr(xai) and "grok-4.3" in repr(xai)
    assert xai.headers == {"Authorization": "Bearer xai-k-66b4"}  # still used where it belongs
    google = GoogleConfig(credentials_file="/etc/keys/sa-1b7e.json", project="p-1")
    assert "sa-1b7e" not in repr(google) and "p-1" in repr(google)
    livekit = LiveKitConfig("wss://lk.example.org", "APIk3y9", "lk-secret-2f7d")
    assert "APIk3y9" not in repr(livekit) and "lk-secret-2f7d" not in repr(livekit)
    assert "wss://lk.example.org" in repr(livekit)
