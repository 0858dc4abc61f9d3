"""xAI's settings (settings.xai): the account, and its daily budgets (0: none; after one is spent,
its kind falls back to the local engine until the next UTC day)."""
from __future__ import annotations

from collections.abc import Callable

from engines.providers.base import Section, env
from engines.providers.xai.config import XAIConfig


class XAI(Section):
    """xAI Grok, a premium provider of every kind: unavailable without a key."""

    api_key: str = env("", "XAI_API_KEY", secret=True)
    base_url: str = env(XAIConfig.base_url, "XAI_BASE_URL")
    translation_model: str = env(XAIConfig.translation_model, "XAI_TRANSLATION_MODEL")
    timeout_s: float = env(XAIConfig.timeout_s, "XAI_TIMEOUT_S")
    stall_s: float = env(XAIConfig.stall_s, "XAI_STALL_S")
    voice: str = env(XAIConfig.voice, "XAI_VOICE")
    daily_audio_minutes: float = env(0.0, "XAI_DAILY_AUDIO_MINUTES")
    daily_characters: float = env(0.0, "XAI_DAILY_CHARACTERS")
    daily_tokens: float = env(0.0, "XAI_DAILY_TOKENS")

    def config(self, spent: Callable[[str], bool] | None = None) -> XAIConfig:
        """The engines' configuration; `spent` says whether today's budget of a unit is spent."""
        return XAIConfig(api_key=self.api_key, base_url=self.base_url,
                         translation_model=self.translation_model, timeout_s=self.timeout_s,
                         stall_s=self.stall_s, voice=self.voice, spent=spent)

    def budget(self) -> dict[str, float]:
        return {"audio_seconds": self.daily_audio_minutes * 60, "characters": self.daily_characters,
                "tokens": self.daily_tokens}
