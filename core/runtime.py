"""What every task and handler of one process shares: settings, the translator registry, the
metrics store and the Socket.IO emitter.

A worker process builds its Runtime from the environment on first use (`runtime()`). The web
process builds its own (app.extensions.Services is a Runtime with the web's extras) and, in the
embedded default, hands it in with `configure`, so tasks run in-process share its engines and its
Socket.IO server.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import socketio

from core.metrics import MetricsStore, make_store
from core.providers import translator_registry
from core.settings import Settings
from engines.translation import TranslatorRegistry


class PublishError(Exception):
    """A message could not be handed to the message queue: nothing was sent."""


class StrictRedisManager(socketio.RedisManager):  # type: ignore[misc]
    """The workers' write-only end of the message queue. python-socketio logs a failed publish
    and carries on; here it raises, so a fan-out does not record as delivered a message that never
    left (the task fails, and the web process's recovery resumes it)."""

    def _publish(self, data: Any) -> Any:
        for attempt in (1, 2):
            try:
                if not getattr(self, "connected", False):
                    self._redis_connect()
                return self.redis.publish(self.channel, self.json.dumps(data))
            except Exception as exc:
                self.connected = False
                if attempt == 2:
                    raise PublishError("the message queue did not take the message") from exc
        return None


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
            queue = ({"client_manager": StrictRedisManager(settings.redis_url, channel="flask-socketio",
                                                           write_only=True)}
                     if settings.redis_url else {})
            emitter = SocketIO(message_queue=settings.redis_url or None, async_mode="threading",
                               **queue)
            _runtime = Runtime(settings, translator_registry(settings),
                               make_store(settings.redis_url), emitter)
        return _runtime


def close() -> None:
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.registry.close()
            _runtime = None
