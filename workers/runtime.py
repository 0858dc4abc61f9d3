"""Per-process services for tasks: settings, translator registry, metrics and the emitter.

A worker process builds them from the environment on first use. In embedded mode the web process
hands in its own (`configure`), so tasks run in-process share its engines and Socket.IO server.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from core.metrics import MetricsStore, make_store
from core.settings import Settings
from engines.translation import TranslatorRegistry

logger = logging.getLogger(__name__)
HEARTBEAT_KEY = "lt:health:worker:"


class Emitter(Protocol):
    def emit(self, event: str, data: Any = None, *, to: str | None = None, **kw: Any) -> Any: ...


@dataclass
class Runtime:
    settings: Settings
    registry: TranslatorRegistry
    metrics: MetricsStore
    emitter: Emitter


_lock = threading.Lock()
_runtime: Runtime | None = None


def configure(rt: Runtime) -> None:
    global _runtime
    with _lock:
        _runtime = rt


def runtime() -> Runtime:
    """This process's Runtime, built once from the environment if nobody configured one."""
    global _runtime
    with _lock:
        if _runtime is None:
            from flask_socketio import SocketIO
            settings = Settings.from_env()
            # Write-only emitter: publishes to the Redis queue the web servers listen on. It must
            # say async_mode="threading", or it silently picks eventlet in a non-eventlet worker.
            emitter = SocketIO(message_queue=settings.redis_url or None, async_mode="threading")
            _runtime = Runtime(settings, TranslatorRegistry(default=settings.translation_engine),
                               make_store(settings.redis_url), emitter)
        return _runtime


def close() -> None:
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.registry.close()
            _runtime = None


def start_heartbeat(rt: Runtime, interval_s: float = 5.0) -> None:
    """Publish this worker's engine state to Redis every few seconds, for the web's /health."""
    if not rt.settings.redis_url:
        return
    import redis
    r = redis.Redis.from_url(rt.settings.redis_url, socket_timeout=2)
    key = HEARTBEAT_KEY + socket.gethostname() + f":{threading.get_native_id()}"

    def beat() -> None:
        while True:
            try:
                r.set(key, json.dumps({"translation": rt.registry.status()}), ex=int(interval_s * 3))
            except Exception:
                logger.warning("worker heartbeat failed", exc_info=True)
            threading.Event().wait(interval_s)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()
