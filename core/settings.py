"""Settings from the environment (and `.env`); every setting is documented in .env.example."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent.parent
N = TypeVar("N", int, float)


def _number(name: str, default: N, kind: Callable[[str], N], what: str) -> N:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(f"setting {name} must be {what}, got {raw!r}") from None


def _int(name: str, default: int) -> int:
    return _number(name, default, int, "a whole number")


def _float(name: str, default: float) -> float:
    return _number(name, default, float, "a number")


def _names(name: str) -> list[str]:
    """A comma-separated list of engine names ("grok,local"); empty when unset."""
    return [n.strip() for n in os.environ.get(name, "").split(",") if n.strip()]


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


def _secret(var_dir: Path, env: str = "SECRET_KEY", filename: str = "secret.key") -> str:
    """The secret in `env`, or one generated once and kept in var/ so it survives a restart (and
    processes of this machine that share var/ share it)."""
    if os.environ.get(env):
        return os.environ[env]
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


def _without_password(value: object) -> object:
    """A URL's password replaced by *** (redis://:pw@host, postgresql://user:pw@host); any other
    value as it is."""
    if not isinstance(value, str) or "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        if parts.password is None:
            return value
    except ValueError:
        return "***"  # not a URL we can take apart: show none of it
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


@dataclass
class Settings:
    """Everything the app, workers and agent read from the environment (the engines read their
    own tuning, STT_*/WHISPER_*/APERTIUM_*, since they import nothing of ours)."""

    host: str = "127.0.0.1"
    port: int = 5000
    database_url: str = ""
    redis_url: str = ""
    secret_key: str = field(default="", repr=False)
    bridge_secret: str = field(default="", repr=False)
    token_ttl_s: int = 86400
    translation_engine: str = "local"
    apertium_pairs_path: str = "/usr/share/apertium/modes"
    max_transcript_chars: int = 2000
    cors_origins: list[str] = field(default_factory=list)
    log_level: str = "INFO"
    var_dir: Path = ROOT / "var"
    # The speech process: its socket, whether the web process starts it (no SPEECH_SOCKET set),
    # whether at once, and its engines.
    speech_socket: str = ""  # default: var_dir/speech.sock
    speech_managed: bool = True
    # How the web process and workers reach speech processes: "socket" (one, on this host) or
    # "redis" (streams: any number, on any host; core.speech_bus). Default: redis when distributed.
    speech_link: str = ""
    # The Redis link's shared signing key (SPEECH_LINK_SECRET; default: derived from SECRET_KEY,
    # which every host of one deployment shares): see core.speech_bus.
    speech_link_secret: str = field(default="", repr=False)
    speech_autostart: bool = True
    stt_engine: str = "local"
    tts_engine: str = "local"
    tts_cache_bytes: int = 64 * 1024 * 1024
    # Synthesized speech files (var/tts): removed once older than this, oldest first past the size.
    tts_files_max_age_s: float = 3600.0
    # Every rate limit's amount is multiplied by this (app/quotas.py); 0 turns them off.
    rate_limit_scale: float = 1.0
    # How many reverse proxies stand in front (their X-Forwarded-For is trusted that far).
    trusted_proxies: int = 0
    # Who may read /health's details (HEALTH_TOKEN, sent as `Authorization: Bearer <token>`);
    # unset, nobody: the public answer is the status only.
    health_token: str = field(default="", repr=False)
    tts_files_max_bytes: int = 256 * 1024 * 1024
    # Rooms and voice: how long a dropped connection stays a participant, and an empty room keeps
    # its LiveKit room.
    disconnect_grace_s: float = 15.0
    empty_room_grace_s: float = 30.0
    fanout_lock_ttl_ms: int = 15000
    # A fan-out handed on this long ago and not finished (its task lost with Redis, its process
    # killed) is handed on again; utterances older than the horizon are left as they are.
    resume_after_s: float = 30.0
    resume_horizon_s: float = 3600.0
    # Translated interims (`interim-translation`): at most one per utterance this often, and with
    # a premium translation engine only when the operator allows it (else the local engine's).
    interim_translation_interval_s: float = 0.5
    premium_interim_translation: bool = False
    # The LiveKit agent inside the speech process.
    agent_enabled: bool = True
    agent_max_rooms: int = 20
    agent_http_port: int = 0
    app_url: str = ""
    agent_outbox: Path | None = None  # default: var_dir/agent-outbox
    # Translated speech on tts-<lang> tracks: past VOICE_SPEEDUP_S of backlog a language plays
    # faster (up to VOICE_MAX_SPEED at VOICE_SKIP_S); past VOICE_SKIP_S its oldest lines are skipped.
    voice_speedup_s: float = 3.0
    voice_skip_s: float = 10.0
    voice_max_speed: float = 1.4
    # Premium providers. Failover orders per kind (a user's preference first, then these in
    # order); the first available one is the default for new users.
    stt_engines: list[str] = field(default_factory=list)  # default: [stt_engine]
    translation_engines: list[str] = field(default_factory=list)
    tts_engines: list[str] = field(default_factory=list)
    engine_cooldown_s: float = 30.0
    xai_api_key: str = field(default="", repr=False)
    xai_base_url: str = "https://api.x.ai/v1"
    xai_translation_model: str = "grok-4.3"
    xai_timeout_s: float = 10.0
    xai_stall_s: float = 2.5
    xai_voice: str = "eve"
    # Daily budgets of the xAI account (0: none): after one is spent, its kind falls back to local.
    xai_daily_audio_minutes: float = 0.0
    xai_daily_characters: float = 0.0
    xai_daily_tokens: float = 0.0
    # Google Cloud: the standard credentials file and project; GOOGLE_API_ENDPOINT replaces
    # Google's hosts (one on loopback is a local server reached without TLS or credentials).
    google_credentials: str = field(default="", repr=False)
    google_project: str = ""
    google_endpoint: str = ""
    google_timeout_s: float = 10.0
    google_stall_s: float = 2.5
    google_stt_model: str = ""
    google_stt_rotate_s: float = 240.0  # a speech stream is replaced at its next pause after this
    google_stt_max_stream_s: float = 280.0  # and at the latest (Google: ~305 s, re-sent audio included)
    google_voice: str = ""
    google_daily_audio_minutes: float = 0.0
    google_daily_characters: float = 0.0
    # Premium use people choose (core.premium): "1" anyone may choose a premium engine, "0" nobody
    # (only the operator's defaults use one), "auto" (default) only once a daily budget or a cap
    # below is set. Caps per user and per room a day, over every premium provider (0: none).
    premium_for_users: str = "auto"
    premium_user_daily_audio_minutes: float = 0.0
    premium_user_daily_characters: float = 0.0
    premium_user_daily_tokens: float = 0.0
    premium_room_daily_audio_minutes: float = 0.0
    premium_room_daily_characters: float = 0.0
    premium_room_daily_tokens: float = 0.0

    def __repr__(self) -> str:
        """Every setting but the secrets, and URLs without their passwords: settings end up in
        logs and tracebacks."""
        shown = ", ".join(f"{f.name}={_without_password(getattr(self, f.name))!r}"
                          for f in fields(self) if f.repr)
        return f"{type(self).__name__}({shown})"

    @property
    def speech_link_key(self) -> bytes:
        """The key the Redis speech link signs with: SPEECH_LINK_SECRET's, or one derived from
        SECRET_KEY (never SECRET_KEY itself, which also signs the page's tokens)."""
        if self.speech_link_secret:
            return hashlib.sha256(self.speech_link_secret.encode()).digest()
        return hmac.new(self.secret_key.encode(), b"live-translator speech link",
                        hashlib.sha256).digest()

    def __post_init__(self) -> None:
        self.speech_socket = self.speech_socket or str(self.var_dir / "speech.sock")
        self.speech_link = self.speech_link or ("redis" if self.redis_url else "socket")
        if self.speech_link not in ("socket", "redis") or (self.speech_link == "redis"
                                                           and not self.redis_url):
            raise SystemExit("setting SPEECH_LINK must be socket or redis (redis needs REDIS_URL)")
        if self.premium_for_users not in ("auto", "1", "0"):
            raise SystemExit("setting PREMIUM_FOR_USERS must be auto, 1 or 0")
        self.agent_outbox = self.agent_outbox or self.var_dir / "agent-outbox"
        self.stt_engines = self.stt_engines or [self.stt_engine]
        self.translation_engines = self.translation_engines or [self.translation_engine]
        self.tts_engines = self.tts_engines or [self.tts_engine]

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of this process, read from the environment (and .env). Every process of
        the service starts by reading them, so this is also where it makes the files it creates
        from then on private from their creation (umask 077): the database, the agent's outbox,
        synthesized speech, sockets and logs in var/ are its user's alone."""
        os.umask(0o077)
        load_dotenv(ROOT / ".env", override=False)
        var_dir = Path(os.environ.get("VAR_DIR", ROOT / "var"))
        var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _make_private(var_dir)
        return cls(
            host=os.environ.get("HOST", "127.0.0.1"),
            port=_int("PORT", 5000),
            database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'live-translator.db'}",
            redis_url=os.environ.get("REDIS_URL", "").strip(),
            secret_key=_secret(var_dir),
            bridge_secret=_secret(var_dir, "BRIDGE_SECRET", "bridge.key"),
            token_ttl_s=_int("TOKEN_TTL_SECONDS", 86400),
            translation_engine=os.environ.get("TRANSLATION_ENGINE", "local"),
            apertium_pairs_path=os.environ.get("APERTIUM_PAIRS_PATH", "/usr/share/apertium/modes"),
            max_transcript_chars=_int("MAX_TRANSCRIPT_CHARS", 2000),
            cors_origins=[o for o in os.environ.get("CORS_ORIGINS", "").split(",") if o.strip()],
            log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
            var_dir=var_dir,
            speech_socket=os.environ.get("SPEECH_SOCKET", ""),
            # The web process starts a speech process of its own unless told not to (SPEECH_MANAGED=0,
            # or SPEECH_SOCKET naming one run separately).
            speech_managed=(os.environ["SPEECH_MANAGED"] == "1" if os.environ.get("SPEECH_MANAGED")
                            else not os.environ.get("SPEECH_SOCKET")),
            speech_link=os.environ.get("SPEECH_LINK", "").strip().lower(),
            speech_link_secret=os.environ.get("SPEECH_LINK_SECRET", "").strip(),
            speech_autostart=os.environ.get("SPEECH_AUTOSTART", "1") == "1",
            stt_engine=os.environ.get("STT_ENGINE", "local"),
            tts_engine=os.environ.get("TTS_ENGINE", "local"),
            tts_cache_bytes=_int("TTS_CACHE_BYTES", 64 * 1024 * 1024),
            tts_files_max_age_s=_float("TTS_FILES_MAX_AGE_S", 3600.0),
            rate_limit_scale=max(0.0, _float("RATE_LIMIT_SCALE", 1.0)),
            trusted_proxies=max(0, _int("TRUSTED_PROXIES", 0)),
            health_token=os.environ.get("HEALTH_TOKEN", "").strip(),
            tts_files_max_bytes=_int("TTS_FILES_MAX_BYTES", 256 * 1024 * 1024),
            disconnect_grace_s=_float("DISCONNECT_GRACE_S", 15.0),
            empty_room_grace_s=_float("LIVEKIT_EMPTY_ROOM_GRACE_S", 30.0),
            fanout_lock_ttl_ms=_int("FANOUT_LOCK_TTL_MS", 15000),
            resume_after_s=max(1.0, _float("RESUME_AFTER_S", 30.0)),
            resume_horizon_s=_float("RESUME_HORIZON_S", 3600.0),
            interim_translation_interval_s=max(0.1, _float("INTERIM_TRANSLATION_INTERVAL_S", 0.5)),
            premium_interim_translation=os.environ.get("PREMIUM_INTERIM_TRANSLATION", "0") == "1",
            agent_enabled=os.environ.get("AGENT_DISABLED") != "1",
            agent_max_rooms=max(1, _int("AGENT_MAX_ROOMS", 20)),
            agent_http_port=_int("AGENT_HTTP_PORT", 0),
            app_url=os.environ.get("APP_URL") or f"http://127.0.0.1:{_int('PORT', 5000)}",
            agent_outbox=Path(os.environ["AGENT_OUTBOX"]) if os.environ.get("AGENT_OUTBOX") else None,
            voice_speedup_s=_float("VOICE_SPEEDUP_S", 3.0),
            voice_skip_s=_float("VOICE_SKIP_S", 10.0),
            voice_max_speed=min(2.0, max(1.0, _float("VOICE_MAX_SPEED", 1.4))),
            stt_engines=_names("STT_ENGINES"),
            translation_engines=_names("TRANSLATION_ENGINES"),
            tts_engines=_names("TTS_ENGINES"),
            engine_cooldown_s=_float("ENGINE_COOLDOWN_S", 30.0),
            xai_api_key=os.environ.get("XAI_API_KEY", "").strip(),
            xai_base_url=os.environ.get("XAI_BASE_URL", "").strip() or "https://api.x.ai/v1",
            xai_translation_model=os.environ.get("XAI_TRANSLATION_MODEL", "").strip() or "grok-4.3",
            xai_timeout_s=_float("XAI_TIMEOUT_S", 10.0),
            xai_stall_s=_float("XAI_STALL_S", 2.5),
            xai_voice=os.environ.get("XAI_VOICE", "").strip() or "eve",
            xai_daily_audio_minutes=_float("XAI_DAILY_AUDIO_MINUTES", 0.0),
            xai_daily_characters=_float("XAI_DAILY_CHARACTERS", 0.0),
            xai_daily_tokens=_float("XAI_DAILY_TOKENS", 0.0),
            google_credentials=os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip(),
            google_project=os.environ.get("GOOGLE_CLOUD_PROJECT", "").strip(),
            google_endpoint=os.environ.get("GOOGLE_API_ENDPOINT", "").strip(),
            google_timeout_s=_float("GOOGLE_TIMEOUT_S", 10.0),
            google_stall_s=_float("GOOGLE_STALL_S", 2.5),
            google_stt_model=os.environ.get("GOOGLE_STT_MODEL", "").strip(),
            google_stt_rotate_s=_float("GOOGLE_STT_ROTATE_S", 240.0),
            google_stt_max_stream_s=min(280.0, _float("GOOGLE_STT_MAX_STREAM_S", 280.0)),
            google_voice=os.environ.get("GOOGLE_VOICE", "").strip(),
            google_daily_audio_minutes=_float("GOOGLE_DAILY_AUDIO_MINUTES", 0.0),
            google_daily_characters=_float("GOOGLE_DAILY_CHARACTERS", 0.0),
            premium_for_users=os.environ.get("PREMIUM_FOR_USERS", "auto").strip().lower() or "auto",
            premium_user_daily_audio_minutes=_float("PREMIUM_USER_DAILY_AUDIO_MINUTES", 0.0),
            premium_user_daily_characters=_float("PREMIUM_USER_DAILY_CHARACTERS", 0.0),
            premium_user_daily_tokens=_float("PREMIUM_USER_DAILY_TOKENS", 0.0),
            premium_room_daily_audio_minutes=_float("PREMIUM_ROOM_DAILY_AUDIO_MINUTES", 0.0),
            premium_room_daily_characters=_float("PREMIUM_ROOM_DAILY_CHARACTERS", 0.0),
            premium_room_daily_tokens=_float("PREMIUM_ROOM_DAILY_TOKENS", 0.0),
        )
