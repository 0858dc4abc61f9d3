"""The service's settings: one typed object in sections, read from the environment (and `.env`)
here and nowhere else. Every field names the variable it is read from (its validation alias) and
has its default written once; every variable is documented in .env.example
(tests/unit/test_settings_doc.py holds the two together).

`Settings(...)` is its arguments and the defaults, nothing from the environment (what the tests
build); `Settings.from_env()` is what a process of the service reads. Sections are handed to what
they configure: `settings.livekit` to the LiveKit service, `settings.celery` to celeryconfig, and
each provider's own section (declared in its package, engines/providers/, and named by its record:
`settings.local`, `settings.xai`, `settings.google`) to its engines (core.providers).
An empty or blank variable means its default.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dotenv import load_dotenv
from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from core.livekit import LiveKitConfig
from engines.providers import PROVIDERS
from engines.providers.base import Section, env, without_password
from engines.providers.base import within as _within

ROOT = Path(__file__).resolve().parent.parent


def _flag(value: Any) -> Any:
    """A "1"/"0" switch: only "1" is on (as the variables have always been read)."""
    return value.strip() == "1" if isinstance(value, str) else value


def _names(value: Any) -> Any:
    """A comma-separated list ("grok,local", "https://a.example,https://b.example")."""
    return [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else value


class Web(Section):
    """The web process: where it listens, sessions, input limits, quotas, /health, rooms."""

    host: str = env("127.0.0.1", "HOST")
    port: int = env(5000, "PORT")
    token_ttl_s: int = env(86400, "TOKEN_TTL_SECONDS")
    max_transcript_chars: int = env(2000, "MAX_TRANSCRIPT_CHARS")
    cors_origins: list[str] = env([], "CORS_ORIGINS")
    # Every rate limit's amount is multiplied by this (app/quotas.py); 0 turns them off.
    rate_limit_scale: float = env(1.0, "RATE_LIMIT_SCALE")
    # How many reverse proxies stand in front (their X-Forwarded-For is trusted that far).
    trusted_proxies: int = env(0, "TRUSTED_PROXIES")
    # Who may read /health's details (`Authorization: Bearer <token>`); unset, nobody.
    health_token: str = env("", "HEALTH_TOKEN", secret=True)
    # How long a dropped connection stays a participant.
    disconnect_grace_s: float = env(15.0, "DISCONNECT_GRACE_S")
    # Synthesized speech files (var/tts): removed once older than this, oldest first past the size.
    tts_files_max_age_s: float = env(3600.0, "TTS_FILES_MAX_AGE_S")
    tts_files_max_bytes: int = env(256 * 1024 * 1024, "TTS_FILES_MAX_BYTES")

    split_origins = field_validator("cors_origins", mode="before")(_names)

    @field_validator("rate_limit_scale", "trusted_proxies")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        return max(0, value)


class Speech(Section):
    """The speech process as the web process and workers see it: how they reach it (a socket on
    this host, or Redis streams: core.speech_bus), whether the web process starts one, TTS cache."""

    socket: str = env("", "SPEECH_SOCKET")  # default: var_dir/speech.sock
    # Whether the web process starts a speech process of its own; default: unless SPEECH_SOCKET
    # names one run separately.
    managed: bool | None = env(None, "SPEECH_MANAGED")
    link: str = env("", "SPEECH_LINK")  # "socket" or "redis"; default: redis when distributed
    # The Redis link's signing key; default: derived from SECRET_KEY (Settings.speech_link_key).
    link_secret: str = env("", "SPEECH_LINK_SECRET", secret=True)
    autostart: bool = env(True, "SPEECH_AUTOSTART")
    tts_cache_bytes: int = env(64 * 1024 * 1024, "TTS_CACHE_BYTES")

    switches = field_validator("managed", "autostart", mode="before")(_flag)

    @field_validator("link")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class LiveKit(Section):
    """LiveKit as the media plane: all three of URL, key and secret, or none (Socket.IO audio only)."""

    url: str = env("", "LIVEKIT_URL")  # what browsers and agents connect to
    api_key: str = env("", "LIVEKIT_API_KEY", secret=True)
    api_secret: str = env("", "LIVEKIT_API_SECRET", secret=True)
    api_url: str = env("", "LIVEKIT_API_URL")  # where this server reaches LiveKit's API, if not `url`
    agent_name: str = env(LiveKitConfig.agent_name, "LIVEKIT_AGENT_NAME")
    # How long an emptied room keeps its LiveKit room (a reconnect is not a departure).
    empty_room_grace_s: float = env(30.0, "LIVEKIT_EMPTY_ROOM_GRACE_S")

    @model_validator(mode="after")
    def _all_or_none(self) -> LiveKit:
        given = {"LIVEKIT_URL": self.url, "LIVEKIT_API_KEY": self.api_key,
                 "LIVEKIT_API_SECRET": self.api_secret}
        missing = [name for name, value in given.items() if not value]
        if 0 < len(missing) < len(given):
            raise ValueError(f"LiveKit is half configured: set {', '.join(missing)} too (or none)")
        return self

    def config(self) -> LiveKitConfig | None:
        """The LiveKit service's configuration; None when LiveKit is not configured."""
        if not self.url:
            return None
        return LiveKitConfig(self.url, self.api_key, self.api_secret, self.api_url, self.agent_name)


class Agent(Section):
    """The LiveKit agent inside the speech process, and its translated speech on tts-<lang> tracks."""

    disabled: bool = env(False, "AGENT_DISABLED")
    max_rooms: int = env(20, "AGENT_MAX_ROOMS")
    http_port: int = env(0, "AGENT_HTTP_PORT")
    app_url: str = env("", "APP_URL")  # default: the local web process, http://127.0.0.1:$PORT
    outbox: Path | None = env(None, "AGENT_OUTBOX")  # default: var_dir/agent-outbox
    # Past `voice_speedup_s` of backlog a language plays faster (up to `voice_max_speed` at
    # `voice_skip_s`); past `voice_skip_s` its oldest lines are skipped.
    voice_speedup_s: float = env(3.0, "VOICE_SPEEDUP_S")
    voice_skip_s: float = env(10.0, "VOICE_SKIP_S")
    voice_max_speed: float = env(1.4, "VOICE_MAX_SPEED")

    switches = field_validator("disabled", mode="before")(_flag)

    at_least_one = field_validator("max_rooms")(_within(1))
    speed = field_validator("voice_max_speed")(_within(1.0, 2.0))


class Celery(Section):
    """Celery's broker, in the distributed mode (celeryconfig.py)."""

    # Seconds before Redis hands a task whose worker died to another worker.
    visibility_timeout: int = env(60, "CELERY_VISIBILITY_TIMEOUT")


class Fanout(Section):
    """Fan-outs and translated interims (workers/, app/recovery.py, app/transcripts.py)."""

    lock_ttl_ms: int = env(15000, "FANOUT_LOCK_TTL_MS")
    # A fan-out handed on this long ago and not finished is handed on again; utterances older
    # than the horizon are left as they are.
    resume_after_s: float = env(30.0, "RESUME_AFTER_S")
    resume_horizon_s: float = env(3600.0, "RESUME_HORIZON_S")
    # Translated interims: at most one per utterance this often, and with a premium translation
    # engine only when the operator allows it (else the local engine's).
    interim_translation_interval_s: float = env(0.5, "INTERIM_TRANSLATION_INTERVAL_S")
    premium_interim_translation: bool = env(False, "PREMIUM_INTERIM_TRANSLATION")

    switches = field_validator("premium_interim_translation", mode="before")(_flag)

    resume_floor = field_validator("resume_after_s")(_within(1.0))
    interim_floor = field_validator("interim_translation_interval_s")(_within(0.1))


class Engines(Section):
    """Which engine of each kind new users get, and each kind's failover order (a user's
    preference first, then these; default: the kind's engine alone)."""

    stt: str = env("local", "STT_ENGINE")
    translation: str = env("local", "TRANSLATION_ENGINE")
    tts: str = env("local", "TTS_ENGINE")
    stt_order: list[str] = env([], "STT_ENGINES")
    translation_order: list[str] = env([], "TRANSLATION_ENGINES")
    tts_order: list[str] = env([], "TTS_ENGINES")
    # Seconds a provider that failed is skipped before it is tried again.
    cooldown_s: float = env(30.0, "ENGINE_COOLDOWN_S")

    split_orders = field_validator("stt_order", "translation_order", "tts_order", mode="before")(_names)

    @model_validator(mode="after")
    def _orders(self) -> Engines:
        self.stt_order = self.stt_order or [self.stt]
        self.translation_order = self.translation_order or [self.translation]
        self.tts_order = self.tts_order or [self.tts]
        return self


class Premium(Section):
    """Premium use people choose (core.premium): "1" anyone may choose a premium engine, "0"
    nobody (only the operator's defaults use one), "auto" only once a daily budget or a cap is set.
    Caps per user and per room a day, over every premium provider (0: none)."""

    for_users: str = env("auto", "PREMIUM_FOR_USERS")
    user_daily_audio_minutes: float = env(0.0, "PREMIUM_USER_DAILY_AUDIO_MINUTES")
    user_daily_characters: float = env(0.0, "PREMIUM_USER_DAILY_CHARACTERS")
    user_daily_tokens: float = env(0.0, "PREMIUM_USER_DAILY_TOKENS")
    room_daily_audio_minutes: float = env(0.0, "PREMIUM_ROOM_DAILY_AUDIO_MINUTES")
    room_daily_characters: float = env(0.0, "PREMIUM_ROOM_DAILY_CHARACTERS")
    room_daily_tokens: float = env(0.0, "PREMIUM_ROOM_DAILY_TOKENS")

    @field_validator("for_users")
    @classmethod
    def _choice(cls, value: str) -> str:
        if value.lower() not in ("auto", "1", "0"):
            raise ValueError("setting PREMIUM_FOR_USERS must be auto, 1 or 0")
        return value.lower()


class _Variables(EnvSettingsSource):
    """Each field from the variable its alias names, sections included (HOST, XAI_API_KEY: the
    names the service has always read, not pydantic-settings' `section__field`); blank ones left
    out, so they mean the default."""

    def __call__(self) -> dict[str, Any]:
        def read(model: type[BaseModel]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, info in model.model_fields.items():
                kind = info.annotation
                if isinstance(kind, type) and issubclass(kind, Section):
                    out[name] = read(kind)
                elif isinstance(info.validation_alias, str):
                    raw = self.env_vars.get(info.validation_alias)
                    if raw is not None and raw.strip():
                        out[info.validation_alias] = raw
            return out
        return read(self.settings_cls)


_EXPECTED = {"int_parsing": "a whole number", "float_parsing": "a number", "bool_parsing": "0 or 1"}


def _explain(exc: ValidationError) -> str:
    """A bad variable, as the operator wrote it: `setting PORT must be a whole number, got 'x'`."""
    err = exc.errors()[0]
    if err["type"] == "value_error":
        return str(err["ctx"]["error"])
    name = str(err["loc"][-1]) if err["loc"] else "?"
    what = _EXPECTED.get(err["type"], err["msg"].lower())
    return f"setting {name} must be {what}, got {err['input']!r}"


def _secret_file(var_dir: Path, filename: str) -> str:
    """A secret generated once and kept in var/ so it survives a restart (and processes of this
    machine that share var/ share it)."""
    path = var_dir / filename
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        try:  # created once, owner-only; a process starting at the same moment reads the winner's
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
    for _ in range(50):  # the winner may not have written it yet
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.01)
    raise SystemExit(f"{path} is empty: delete it and start again")


def _make_private(var_dir: Path) -> None:
    """var/ and what lies directly in it, made by an earlier version with other modes: private
    now (new files are private from creation)."""
    try:
        for path in (var_dir, *var_dir.iterdir()):
            if path.is_symlink() or path.stat().st_uid != os.getuid():
                continue
            mode = path.stat().st_mode & 0o777
            private = mode & 0o700
            if mode != private:
                path.chmod(private)
    except OSError:
        pass  # not ours to change: the service still runs


class ServiceSettings(BaseSettings):
    """Everything the app, workers and speech process read from the environment: what every
    process shares at the top, each component's settings in its section; Settings adds one section
    per provider."""

    model_config = SettingsConfigDict(validate_by_name=True, validate_by_alias=True, extra="forbid",
                                      case_sensitive=True)

    # Runtime files: the SQLite database, generated secrets, sockets, the agent's outbox, models.
    var_dir: Path = env(ROOT / "var", "VAR_DIR")
    database_url: str = env("", "DATABASE_URL")  # default: SQLite in var_dir
    redis_url: str = env("", "REDIS_URL")  # set: the distributed mode
    # Sign the page's tokens and the agent bridge's posts; default: generated once in var/.
    secret_key: str = env("", "SECRET_KEY", secret=True)
    bridge_secret: str = env("", "BRIDGE_SECRET", secret=True)
    log_level: str = env("INFO", "LOG_LEVEL")
    web: Web = Field(default_factory=Web)
    speech: Speech = Field(default_factory=Speech)
    livekit: LiveKit = Field(default_factory=LiveKit)
    agent: Agent = Field(default_factory=Agent)
    celery: Celery = Field(default_factory=Celery)
    fanout: Fanout = Field(default_factory=Fanout)
    engines: Engines = Field(default_factory=Engines)
    premium: Premium = Field(default_factory=Premium)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Built directly, settings are their arguments and the defaults only (from_env reads the
        environment)."""
        return (init_settings,)

    @field_validator("var_dir", "database_url", "redis_url", "log_level", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _derived(self) -> Settings:
        """Defaults that follow from other settings."""
        self.database_url = self.database_url or f"sqlite:///{self.var_dir / 'live-translator.db'}"
        speech = self.speech
        if speech.managed is None:
            speech.managed = not speech.socket
        speech.socket = speech.socket or str(self.var_dir / "speech.sock")
        speech.link = speech.link or ("redis" if self.redis_url else "socket")
        if speech.link not in ("socket", "redis") or (speech.link == "redis" and not self.redis_url):
            raise ValueError("setting SPEECH_LINK must be socket or redis (redis needs REDIS_URL)")
        self.agent.app_url = self.agent.app_url or f"http://127.0.0.1:{self.web.port}"
        self.agent.outbox = self.agent.outbox or self.var_dir / "agent-outbox"
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Every setting but the secrets, and URLs without their passwords: settings end up in
        logs and tracebacks."""
        for name, value in super().__repr_args__():
            yield name, without_password(value)

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)

    @property
    def speech_link_key(self) -> bytes:
        """The key the Redis speech link signs with: SPEECH_LINK_SECRET's, or one derived from
        SECRET_KEY (never SECRET_KEY itself, which also signs the page's tokens)."""
        if self.speech.link_secret:
            return hashlib.sha256(self.speech.link_secret.encode()).digest()
        return hmac.new(self.secret_key.encode(), b"live-translator speech link",
                        hashlib.sha256).digest()

    @classmethod
    def from_env(cls, *, prepare: bool = True) -> Settings:
        """The settings of this process, read from the environment (and .env). A bad value ends
        the process with a message naming the variable. Every process of the service starts by
        reading them, so this is also where it prepares (unless `prepare` is False: a second
        reading, celeryconfig's): the files it creates from then on are private from their
        creation (umask 077), so the database, the agent's outbox, synthesized speech, sockets and
        logs in var/ are its user's alone, and the secrets not set are generated once in var/."""
        if prepare:
            os.umask(0o077)
        load_dotenv(ROOT / ".env", override=False)
        try:
            settings = cls(**_Variables(cls)())
        except ValidationError as exc:
            raise SystemExit(_explain(exc)) from None
        if not prepare:
            return settings
        settings.var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _make_private(settings.var_dir)
        settings.secret_key = settings.secret_key or _secret_file(settings.var_dir, "secret.key")
        settings.bridge_secret = settings.bridge_secret or _secret_file(settings.var_dir, "bridge.key")
        return settings


# Each provider's section, under the attribute its record names (settings.local, settings.xai,
# settings.google): a provider declares its settings in its own package, and this module does not
# change when one is added. Typed code reaches a section through its record (`PROVIDER.of(settings)`).
if TYPE_CHECKING:
    Settings = ServiceSettings
else:
    Settings = create_model(
        "Settings", __base__=ServiceSettings, __module__=__name__, __doc__=ServiceSettings.__doc__,
        **{p.attribute: (p.section, Field(default_factory=p.section)) for p in PROVIDERS})
