"""Settings from the environment (and `.env`); every setting is documented in .env.example."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"setting {name} must be a whole number, got {raw!r}") from None


def _secret(var_dir: Path, env: str = "SECRET_KEY", filename: str = "secret.key") -> str:
    """The secret in `env`, or one generated once and kept in var/ so it survives a restart (and
    processes of this machine that share var/ share it)."""
    if os.environ.get(env):
        return os.environ[env]
    path = var_dir / filename
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class Settings:
    """Everything the app and workers read from the environment."""

    host: str = "127.0.0.1"
    port: int = 5000
    database_url: str = ""
    redis_url: str = ""
    secret_key: str = ""
    bridge_secret: str = ""
    token_ttl_s: int = 86400
    translation_engine: str = "local"
    apertium_pairs_path: str = "/usr/share/apertium/modes"
    max_transcript_chars: int = 2000
    cors_origins: list[str] = field(default_factory=list)
    log_level: str = "INFO"
    var_dir: Path = ROOT / "var"

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)

    @classmethod
    def from_env(cls) -> Settings:
        load_dotenv(ROOT / ".env", override=False)
        var_dir = Path(os.environ.get("VAR_DIR", ROOT / "var"))
        var_dir.mkdir(parents=True, exist_ok=True)
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
        )
