"""Rate limits and quotas, per user and per client address, with the `limits` library (sliding
window counters; in memory when embedded, in Redis when distributed, so every web process counts
together). What each may do:

| what | per user | per address |
|---|---|---|
| `session`: guest accounts (POST /api/session) | | 20/min, 200/h |
| `room`: rooms created | 10/min, 60/h | 30/min |
| `join`: join-room attempts | 30/min | 60/min |
| `join_miss`: join-room with a code that opens no room (guessing) | 10/min, 40/h | |
| `transcript`: typed finals | 5/s, 60/min | 300/min |
| `speech`: audio sessions started (Socket.IO audio, LiveKit voice) | 20/min | 60/min |
| `audio`: seconds of audio sent (in hundredths) | 3 s/s, 90 s/min | 30 min/min |
| `tts`: POST /api/tts | 20/min | 60/min |
| `history`: GET /api/rooms/<id>/messages | 120/min | 600/min |
| `glossary`: PUT /api/rooms/<id>/glossary | 60/min | 300/min |
| `prefs`: PATCH /api/me | 60/min | 300/min |
| `voices`: GET /api/tts/voices | 30/min | 120/min |
| `usage`: GET /api/rooms/<id>/usage | 60/min | 300/min |
| `health`: GET /health without the operator's token | | 120/min |
| `client_error`: `client-error` reports | 30/min | 120/min |
| `request`: any HTTP request (the agent's signed bridge, LiveKit's webhook, files aside) | | 1200/min |
| `event`: Socket.IO events but start-, stop-speech, speech-data | 50/s, 600/min | 3000/min |

Audio may come at 1.5 times real time over a minute (a reconnect sends what it buffered), never
faster for long. Room codes are guessed by users, and users per address are limited. Behind a
reverse proxy set TRUSTED_PROXIES (how many), or everyone has the proxy's address.
RATE_LIMIT_SCALE multiplies every amount (0 turns limits off). Counting fails open and fast:
with Redis away, nobody is refused for it (one try, then none for OFF_AFTER_ERROR_S).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any

from limits import RateLimitItem, parse_many, storage, strategies

from app.validation import BadInput
from core import wire
from core.settings import Settings

logger = logging.getLogger(__name__)

RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "session": (("ip", "20/minute;200/hour"),),
    "room": (("user", "10/minute;60/hour"), ("ip", "30/minute")),
    "join": (("user", "30/minute"), ("ip", "60/minute")),
    "join_miss": (("user", "10/minute;40/hour"),),
    "transcript": (("user", "5/second;60/minute"), ("ip", "300/minute")),
    "speech": (("user", "20/minute"), ("ip", "60/minute")),
    "audio": (("user", "300/second;9000/minute"), ("ip", "180000/minute")),
    "tts": (("user", "20/minute"), ("ip", "60/minute")),
    "history": (("user", "120/minute"), ("ip", "600/minute")),
    "glossary": (("user", "60/minute"), ("ip", "300/minute")),
    "prefs": (("user", "60/minute"), ("ip", "300/minute")),
    "voices": (("user", "30/minute"), ("ip", "120/minute")),
    "usage": (("user", "60/minute"), ("ip", "300/minute")),
    "health": (("ip", "120/minute"),),
    "client_error": (("user", "30/minute"), ("ip", "120/minute")),
    "request": (("ip", "1200/minute"),),
    "event": (("user", "50/second;600/minute"), ("ip", "3000/minute")),
}
WHAT = {"session": "new sessions", "room": "new rooms", "join": "attempts to join a room",
        "join_miss": "room codes that open no room", "transcript": "messages",
        "speech": "speech sessions started", "audio": "audio sent faster than real time",
        "tts": "speech requests", "history": "history requests", "glossary": "glossary changes",
        "prefs": "preference changes", "voices": "voice list requests",
        "usage": "usage requests", "health": "health checks", "client_error": "error reports",
        "request": "requests", "event": "messages to the server"}


class RateLimited(BadInput):
    def __init__(self, what: str, retry_after: float) -> None:
        super().__init__("rate_limited", f"too many {WHAT[what]}; try again in "
                                         f"{math.ceil(retry_after)} s", 429)
        self.retry_after = max(1, math.ceil(retry_after))

    def as_dict(self) -> wire.ErrorBody:
        return {**super().as_dict(), "retryAfter": self.retry_after}


class Quotas:
    OFF_AFTER_ERROR_S = 10.0  # the store failed: nobody is counted (or refused) meanwhile

    def __init__(self, settings: Settings) -> None:
        self.scale = settings.web.rate_limit_scale
        options: dict[str, Any] = {}
        if settings.redis_url:  # one try, quickly: a down Redis must not slow every request
            from redis.backoff import NoBackoff
            from redis.retry import Retry
            options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5,
                       "retry": Retry(NoBackoff(), 0)}
        self.storage = storage.storage_from_string(settings.redis_url or "memory://", **options)
        self.limiter = strategies.SlidingWindowCounterRateLimiter(self.storage)
        self.rules = {name: [(scope, self._scaled(item)) for scope, spec in rules
                             for item in parse_many(spec)] for name, rules in RULES.items()}
        self._off_until = 0.0

    def _scaled(self, item: RateLimitItem) -> RateLimitItem:
        return type(item)(max(1, int(item.amount * (self.scale or 1))), item.multiples)

    def _failed(self, exc: Exception) -> None:
        if time.monotonic() > self._off_until:
            logger.warning("rate limits cannot be counted; not enforced for a while",
                           extra={"error": type(exc).__name__})
        self._off_until = time.monotonic() + self.OFF_AFTER_ERROR_S

    def take(self, what: str, *, user: str | None = None, ip: str | None = None,
             cost: int = 1) -> None:
        """Count `cost` of `what` for the user and the address; RateLimited if either is spent
        (each window counts only what it lets through)."""
        if not self.scale or cost <= 0 or time.monotonic() < self._off_until:
            return
        keys = {"user": user, "ip": ip}
        try:
            for scope, item in self.rules[what]:
                key = keys[scope]
                if key and not self.limiter.hit(item, what, scope, str(key), cost=cost):
                    reset = self.limiter.get_window_stats(item, what, scope, str(key)).reset_time
                    raise RateLimited(what, reset - time.time())
        except RateLimited:
            raise
        except Exception as exc:  # the counter's store is away: let people through
            self._failed(exc)

    def refused(self, what: str, *, user: str | None = None, ip: str | None = None) -> bool:
        """Whether `what` is spent for the user or the address (counting nothing)."""
        if not self.scale or time.monotonic() < self._off_until:
            return False
        keys = {"user": user, "ip": ip}
        try:
            return any(not self.limiter.test(item, what, scope, str(keys[scope]))
                       for scope, item in self.rules[what] if keys[scope])
        except Exception as exc:
            self._failed(exc)
            return False


# Requests the general limit leaves alone: our agent's bridge and LiveKit's webhook are signed
# (and come from few addresses at high rates), static files are the page itself.
UNLIMITED = ("/internal/", "/livekit/", "/static/")


def install(app: Any, quotas: Quotas) -> None:
    """Every HTTP request counts against its address's general limit (`request`), before the
    route's own."""
    from flask import request

    @app.before_request
    def every_request() -> None:
        if not request.path.startswith(UNLIMITED):
            quotas.take("request", ip=request.remote_addr)
