"""Who may use a premium engine (core.providers.PREMIUM), and when not.

Budgets (core.usage.Budget) bound what a provider costs the operator in a day; this bounds what
one person or one room can make it cost, so nobody can spend everyone's day:
- whether people may choose a premium engine at all (PREMIUM_FOR_USERS: "1", "0", or "auto":
  only once the operator set a daily budget or a cap; with neither, spend would be unbounded);
- daily caps per user and per room over every premium provider, in the units they bill (audio
  seconds, characters, tokens). Recognition counts for its speaker; translation and speech for
  the listeners it was made for (shared among them) — who asked for it pays for it.

`refusal` is asked where a person's engine is chosen (their recognition at the start of speech
and of a voice session, each caption's translation and speech in the fan-out): a premium engine
refused falls back to the local one, and the person is told why.
"""
from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from core.db import session_scope
from core.models import Usage
from core.providers import LABELS, PREMIUM
from core.settings import Settings
from core.usage import budget, today

FALLBACK = "local"
CACHE_S = 2.0  # usage is read at most this often per user and per room (a cap may be passed by
# what was in flight when it was reached, never by more)

REASONS = {
    "premium_not_offered": "this server does not offer premium engines to its users",
    "user_cap": "your daily premium allowance is used up",
    "room_cap": "this room's daily premium allowance is used up",
}


KINDS = {"stt": "recognition", "translation": "translation", "tts": "speech"}


def message(kind: str, chosen: str, why: str) -> str:
    """What a person is told when their premium engine of `kind` was refused: why, and that the
    local engine is used instead."""
    return f"{REASONS[why][0].upper()}{REASONS[why][1:]}: local {KINDS.get(kind, kind)} is used " \
           f"instead of {LABELS.get(chosen, chosen)}."


class PremiumPolicy:
    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        self.user_caps = _caps(settings.premium.user_daily_audio_minutes,
                               settings.premium.user_daily_characters, settings.premium.user_daily_tokens)
        self.room_caps = _caps(settings.premium.room_daily_audio_minutes,
                               settings.premium.room_daily_characters, settings.premium.room_daily_tokens)
        bounded = bool(budget(settings).limits) or bool(self.user_caps) or bool(self.room_caps)
        self.offered = settings.premium.for_users == "1" or (
            settings.premium.for_users == "auto" and bounded)
        # The operator's own choices ("" in a preference means these): caps apply to them too,
        # the offer does not (the operator chose to pay for them).
        self.defaults = {"stt": settings.engines.stt, "translation": settings.engines.translation,
                         "tts": settings.engines.tts}
        self._cache: dict[tuple[str, str], tuple[float, dict[str, float]]] = {}
        self._lock = threading.Lock()

    def refusal(self, kind: str, engine: str, user_id: str | None, room_id: str | None) -> str | None:
        """Why the `kind` engine `engine` ("" for the operator's default) may not be used for this
        user in this room now (a REASONS code), or None (not premium, or allowed)."""
        chosen = engine or self.defaults.get(kind, "")
        if chosen not in PREMIUM:
            return None
        if not self.offered and chosen != self.defaults.get(kind):
            return "premium_not_offered"
        if user_id and self.user_caps and _over(self._spent("user", user_id), self.user_caps):
            return "user_cap"
        if room_id and self.room_caps and _over(self._spent("room", room_id), self.room_caps):
            return "room_cap"
        return None

    def engine_for(self, kind: str, engine: str, user_id: str | None,
                   room_id: str | None) -> tuple[str, str | None]:
        """(the engine to use, why the chosen one was refused or None)."""
        why = self.refusal(kind, engine, user_id, room_id)
        return (FALLBACK, why) if why else (engine, None)

    def _spent(self, kind: str, key: str) -> dict[str, float]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get((kind, key))
            if hit is not None and now - hit[0] < CACHE_S:
                return hit[1]
        column = Usage.user_id if kind == "user" else Usage.room_id
        with session_scope(self.url) as s:
            rows = s.execute(select(Usage.unit, func.sum(Usage.amount))
                             .where(Usage.day == today(), column == key,
                                    Usage.provider.in_(sorted(PREMIUM)))
                             .group_by(Usage.unit)).all()
        spent = {unit: float(amount or 0.0) for unit, amount in rows}
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[(kind, key)] = (now, spent)
        return spent


def _caps(audio_minutes: float, characters: float, tokens: float) -> dict[str, float]:
    caps = {"audio_seconds": audio_minutes * 60, "characters": characters, "tokens": tokens}
    return {unit: cap for unit, cap in caps.items() if cap > 0}


def _over(spent: dict[str, float], caps: dict[str, float]) -> bool:
    return any(spent.get(unit, 0.0) >= cap for unit, cap in caps.items())


_policies: dict[int, PremiumPolicy] = {}


def policy(settings: Settings) -> PremiumPolicy:
    """One policy (and its cache) per settings object in this process."""
    found = _policies.get(id(settings))
    if found is None:
        found = _policies[id(settings)] = PremiumPolicy(settings)
    return found
