"""Google Cloud's settings (settings.google): the standard credentials file and project, an
endpoint instead of Google's hosts (one on loopback is a local server reached without TLS or
credentials), and daily budgets as xAI's."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import field_validator

from engines.providers.base import Section, env, within
from engines.providers.google.config import GoogleConfig


class Google(Section):
    """Google Cloud, a premium provider of every kind: unavailable without readable credentials
    (and translation without a project)."""

    credentials: str = env("", "GOOGLE_APPLICATION_CREDENTIALS", secret=True)
    project: str = env("", "GOOGLE_CLOUD_PROJECT")
    endpoint: str = env("", "GOOGLE_API_ENDPOINT")
    timeout_s: float = env(GoogleConfig.timeout_s, "GOOGLE_TIMEOUT_S")
    stall_s: float = env(GoogleConfig.stall_s, "GOOGLE_STALL_S")
    stt_model: str = env("", "GOOGLE_STT_MODEL")
    # A speech stream is replaced at its next pause after `stt_rotate_s`, and at the latest after
    # `stt_max_stream_s` (Google ends one at ~305 s, re-sent audio included).
    stt_rotate_s: float = env(GoogleConfig.stt_rotate_s, "GOOGLE_STT_ROTATE_S")
    stt_max_stream_s: float = env(GoogleConfig.stt_max_stream_s, "GOOGLE_STT_MAX_STREAM_S")
    voice: str = env("", "GOOGLE_VOICE")
    daily_audio_minutes: float = env(0.0, "GOOGLE_DAILY_AUDIO_MINUTES")
    daily_characters: float = env(0.0, "GOOGLE_DAILY_CHARACTERS")

    google_limit = field_validator("stt_max_stream_s")(within(high=280.0))

    def credentials_file(self) -> dict[str, Any] | None:
        """The credentials file's contents (None if it cannot be read as one)."""
        try:
            info = json.loads(Path(self.credentials).read_text())
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) and isinstance(info.get("type"), str) else None

    def project_id(self) -> str:
        """GOOGLE_CLOUD_PROJECT, else the credentials file's project."""
        if self.project or not self.credentials:
            return self.project
        info = self.credentials_file() or {}
        return str(info.get("project_id") or info.get("quota_project_id") or "")

    def missing(self, kind: str) -> str:
        """Why Google cannot be used for `kind` here ("" if it can): the standard credentials, and
        for translation a project (v3 bills one)."""
        if not self.credentials:
            return "no GOOGLE_APPLICATION_CREDENTIALS configured"
        if self.credentials_file() is None:
            return "GOOGLE_APPLICATION_CREDENTIALS does not name a readable Google credentials file"
        if kind == "translation" and not self.project_id():
            return "no GOOGLE_CLOUD_PROJECT configured"
        return ""

    def config(self, spent: Callable[[str], bool] | None = None) -> GoogleConfig:
        """The engines' configuration; `spent` says whether today's budget of a unit is spent."""
        return GoogleConfig(credentials_file=self.credentials, project=self.project_id(),
                            endpoint=self.endpoint, timeout_s=self.timeout_s, stall_s=self.stall_s,
                            stt_model=self.stt_model, stt_rotate_s=self.stt_rotate_s,
                            stt_max_stream_s=self.stt_max_stream_s, voice=self.voice, spent=spent)

    def budget(self) -> dict[str, float]:
        return {"audio_seconds": self.daily_audio_minutes * 60, "characters": self.daily_characters}
