"""Premium usage: what each provider billed (audio seconds, characters, tokens) per UTC day, room
and user, in the database every process shares (the speech process meters recognition, the
workers translation and speech); and the operator's daily budgets over it."""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.db import session_scope
from core.models import Usage
from core.settings import Settings
from engines.providers import PROVIDERS

logger = logging.getLogger(__name__)

UNITS = ("audio_seconds", "characters", "tokens")


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def record(url: str, provider: str, unit: str, amount: float, room_id: str | None = None,
           user_id: str | None = None) -> None:
    """Add `amount` of `unit` to today's row for (provider, room, user). Metering never fails
    its caller (a caption or a voice must not be lost to it): a database error is logged."""
    if amount <= 0:
        return
    try:
        _add(url, provider, unit, amount, room_id, user_id)
    except Exception:
        logger.exception("usage could not be recorded", extra={"provider": provider, "unit": unit})


def _add(url: str, provider: str, unit: str, amount: float, room_id: str | None,
         user_id: str | None) -> None:
    key = {"day": today(), "provider": provider, "unit": unit, "room_id": room_id or "",
           "user_id": user_id or ""}
    for _ in range(3):
        try:
            with session_scope(url) as s:
                done = s.execute(update(Usage).filter_by(**key)
                                 .values(amount=Usage.amount + amount)).rowcount  # type: ignore[attr-defined]
                if not done:
                    s.add(Usage(**key, amount=amount))
            return
        except IntegrityError:
            continue  # another process inserted the row first: add to it
    logger.error("usage could not be recorded", extra={"provider": provider, "unit": unit})


def provider_totals(url: str, day: str | None = None) -> dict[str, dict[str, float]]:
    """{provider: {unit: amount}} for a day (today by default)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    with session_scope(url) as s:
        for provider, unit, amount in s.execute(
                select(Usage.provider, Usage.unit, func.sum(Usage.amount))
                .where(Usage.day == (day or today())).group_by(Usage.provider, Usage.unit)):
            out[provider][unit] = round(float(amount), 3)
    return dict(out)


def room_usage(url: str, room_id: str, day: str | None = None) -> dict[str, Any]:
    """A room's usage on a day: totals per provider and unit, and per user."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(UNITS, 0.0))
    users: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: dict.fromkeys(UNITS, 0.0))
    with session_scope(url) as s:
        for row in s.scalars(select(Usage).where(Usage.day == (day or today()),
                                                 Usage.room_id == room_id)):
            totals[row.provider][row.unit] = round(totals[row.provider][row.unit] + row.amount, 3)
            users[(row.user_id, row.provider)][row.unit] = round(
                users[(row.user_id, row.provider)][row.unit] + row.amount, 3)
    return {"totals": dict(totals),
            "byUser": [{"userId": uid, "provider": p, **amounts}
                       for (uid, p), amounts in sorted(users.items())]}


class Budget:
    """Daily limits per (provider, unit); `spent()` reads today's totals at most every few seconds
    (a limit may be passed by what was in flight when it was reached, never by more)."""

    def __init__(self, url: str, limits: dict[tuple[str, str], float], refresh_s: float = 2.0) -> None:
        self.url = url
        self.limits = {k: v for k, v in limits.items() if v > 0}
        self.refresh_s = refresh_s
        self._totals: dict[str, dict[str, float]] = {}
        self._read_at = 0.0
        self._told: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def _current(self) -> dict[str, dict[str, float]]:
        with self._lock:
            if time.monotonic() - self._read_at > self.refresh_s:
                try:
                    self._totals = provider_totals(self.url)
                except Exception:  # the database is away: keep the last figures
                    logger.warning("usage totals unreadable; budget uses the last known")
                self._read_at = time.monotonic()
            return self._totals

    def spent(self, provider: str, unit: str) -> bool:
        limit = self.limits.get((provider, unit))
        if limit is None:
            return False
        used = self._current().get(provider, {}).get(unit, 0.0)
        if used < limit:
            return False
        if (provider, unit, today()) not in self._told:  # the operator hears of it once a day
            self._told.add((provider, unit, today()))
            logger.warning("daily budget spent: falling back to the local engine until tomorrow",
                           extra={"provider": provider, "unit": unit, "limit": limit,
                                  "used": round(used, 3)})
        return True

    def status(self) -> dict[str, dict[str, dict[str, float]]]:
        """{provider: {unit: {limit, used}}} for the limits set."""
        current = self._current() if self.limits else {}
        out: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
        for (provider, unit), limit in self.limits.items():
            out[provider][unit] = {"limit": limit, "used": current.get(provider, {}).get(unit, 0.0)}
        return dict(out)


def budget(settings: Settings) -> Budget:
    """The operator's daily budgets: each provider's limits, as its record reads them from its
    settings section."""
    return Budget(settings.database_url, {(p.name, unit): limit for p in PROVIDERS
                                          for unit, limit in p.budget(p.of(settings)).items()})
