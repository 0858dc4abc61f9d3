"""/health and /metrics (Prometheus).

/health answers anyone with the status only, from cheap checks (the database, the workers'
heartbeats by name: never a scan of Redis, never usage aggregates), rate-limited per address.
Details (engines, workers, speech, LiveKit, providers' usage) need the operator's token
(HEALTH_TOKEN, `Authorization: Bearer <token>`); with none configured nobody gets them."""
from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import text

from app.extensions import services
from core import providers, usage
from core.db import session_scope
from core.metrics import StoreCollector
from core.naming import WORKER_HEARTBEAT_KEY, WORKER_INDEX_KEY
from engines.providers.base import Provider

bp = Blueprint("health", __name__)
MAX_WORKERS = 100  # the most recently heard of; more would be a fleet this page is not for


@functools.cache
def app_version() -> str:
    try:
        return version("live-translator")
    except PackageNotFoundError:
        return "0+unknown"


@functools.cache
def _redis(redis_url: str) -> Any:
    import redis
    return redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1,
                                decode_responses=True)


def _workers(redis_url: str) -> tuple[bool, list[dict[str, Any]]]:
    """Whether Redis answers, and the workers whose heartbeat has not expired, by name: the
    names from the index their heartbeats keep (workers/heartbeat.py), their states by key."""
    import redis
    r = _redis(redis_url)
    try:
        names = sorted(r.zrevrange(WORKER_INDEX_KEY, 0, MAX_WORKERS - 1))
        raws = r.mget([WORKER_HEARTBEAT_KEY + n for n in names]) if names else []
        return True, [dict(json.loads(raw), worker=name)
                      for name, raw in zip(names, raws, strict=True) if raw]
    except redis.RedisError:
        return False, []


def _operator(token: str) -> bool:
    """Whether the request carries the operator's token (none configured: nobody does)."""
    given = request.headers.get("Authorization", "")
    return (bool(token) and given.startswith("Bearer ")
            and hmac.compare_digest(given[7:].encode(), token.encode()))


def _state(svc: Any) -> dict[str, Any]:
    """Mode, database, Redis and workers (distributed), the translation engines' state, and the
    status they make: ok when the database answers and the embedded engine, which every
    failover order ends with, is running (on a worker, distributed)."""
    out: dict[str, Any] = {"version": app_version(),
                           "mode": "distributed" if svc.settings.distributed else "embedded"}
    try:
        with session_scope(svc.settings.database_url) as s:
            s.execute(text("SELECT 1"))
        out["database"] = "ok"
    except Exception:
        out["database"] = "unreachable"
    if svc.settings.distributed:
        redis_ok, workers = _workers(svc.settings.redis_url)
        out["redis"] = "ok" if redis_ok else "unreachable"
        out["workers"] = workers
        out["engines"] = {"translation": workers[0]["translation"] if workers else {}}
        healthy = redis_ok and bool(workers)
    else:
        out["engines"] = {"translation": svc.registry.status()}
        healthy = True
    embedded = "local" if "local" in svc.registry.chain() else svc.registry.default
    engine_ok = bool(out["engines"]["translation"].get(embedded, {}).get("running"))
    out["status"] = "ok" if healthy and engine_ok and out["database"] == "ok" else "degraded"
    return out


@bp.get("/health")
def health() -> tuple[Response, int]:
    """Anyone: {"status": "ok" | "degraded"}; the operator: what every part says. 503 while the
    database is away, 200 otherwise."""
    svc = services()
    if not _operator(svc.settings.web.health_token):
        svc.quotas.take("health", ip=request.remote_addr)
        state = _state(svc)
        return jsonify({"status": state["status"]}), 200 if state["database"] == "ok" else 503
    out = _state(svc)
    if svc.speech is not None:
        out["engines"]["speech"] = svc.speech.status()
    if svc.livekit is not None:
        from app.agents import presence
        from app.clients import clients
        out["livekit"] = {"url": svc.livekit.config.url, "voiceRooms": len(clients.voice_rooms()),
                          "agentLastSeenS": presence(svc).last_seen_s()}
    out["providers"] = {p.name: _provider(svc, p) for p in providers.PROVIDERS if p.premium}
    return jsonify(out), 200 if out["database"] == "ok" else 503


def _provider(svc: Any, provider: Provider[Any]) -> dict[str, Any]:
    """A premium provider's state: configured or not (never its credentials), and when it cannot
    be used for a kind, why; when it can be used for any, _in_use's."""
    section = provider.of(svc.settings)
    missing = {kind: provider.missing(section, kind) for kind in providers.KINDS if provider.names(kind)}
    if all(missing.values()):
        why = next(iter(missing.values()), "")
        return {"configured": False, **({"reason": why} if provider.says_why else {})}
    out: dict[str, Any] = {"configured": not any(missing.values())}
    if not out["configured"]:
        out["unavailable"] = {kind: why for kind, why in missing.items() if why}
    return dict(out, **_in_use(svc, provider.name))


def _in_use(svc: Any, name: str) -> dict[str, Any]:
    """A configured premium provider: which kinds use it, whether this process's translation is
    skipping it after a failure, today's usage and budget."""
    settings = svc.settings
    out: dict[str, Any] = {"order": {"stt": settings.engines.stt_order,
                                     "translation": settings.engines.translation_order,
                                     "tts": settings.engines.tts_order},
                           "translationCoolingDown": svc.registry.cooling_down(name)}
    try:
        out["usageToday"] = usage.provider_totals(settings.database_url).get(name, {})
        out["budget"] = usage.budget(settings).status().get(name, {})
    except Exception:
        out["usageToday"] = None
    return out


class UsageCollector(Collector):
    """Today's premium usage per provider and unit, and the daily budgets, from the database
    every process meters into."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Any]:
        try:
            totals = usage.provider_totals(self.settings.database_url)
        except Exception:  # the database is away: /metrics still answers, without these
            return
        used = GaugeMetricFamily("lt_premium_usage_today", "Premium provider usage today (UTC)",
                                 labels=["provider", "unit"])
        for provider, units in totals.items():
            for unit, amount in units.items():
                used.add_metric([provider, unit], amount)
        yield used
        limits = GaugeMetricFamily("lt_premium_budget_daily", "Daily budget per provider and unit",
                                   labels=["provider", "unit"])
        for (provider, unit), limit in usage.budget(self.settings).limits.items():
            limits.add_metric([provider, unit], limit)
        yield limits


@bp.get("/metrics")
def metrics() -> Response:
    from app.clients import clients
    reg = CollectorRegistry()
    reg.register(StoreCollector(services().metrics, {"connected_clients": lambda: len(clients)}))
    reg.register(UsageCollector(services().settings))
    return Response(generate_latest(reg), mimetype=CONTENT_TYPE_LATEST)
