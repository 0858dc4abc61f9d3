"""What every engine registry shares: providers by short name, each created once per process,
an unknown name a configuration error (never a silent default), and a cooldown for fallbacks."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from cachetools import TTLCache

from engines.errors import AllEnginesFailedError, ConfigurationError, EngineError


class Provider(Protocol):
    name: str

    def start(self) -> None: ...

    def close(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


P = TypeVar("P", bound=Provider)


class Registry(Generic[P]):
    """Named providers of one kind; `kind` names it in error messages."""

    kind = "engine"

    def __init__(self, factories: dict[str, Callable[[], P]], default: str) -> None:
        self._factories = dict(factories)
        self.default = self.check(default)
        self._instances: dict[str, P] = {}
        self._chains: dict[str, P] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._factories)

    def check(self, name: str) -> str:
        """Return `name` if registered, else raise ConfigurationError naming the known ones."""
        if name not in self._factories:
            raise ConfigurationError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return name

    def provider(self, name: str) -> P:
        """The single instance of provider `name`, created and started on first use."""
        self.check(name)
        with self._lock:
            inst = self._instances.get(name)
            if inst is None:
                inst = self._factories[name]()
                inst.start()
                self._instances[name] = inst
            return inst

    def get(self, name: str | None = None) -> P:
        """The provider for a preference, with the default behind it as fallback, so a premium
        provider that fails still yields a result from the embedded one."""
        name = name or self.default
        primary = self.provider(name)
        if name == self.default:
            return primary
        # One wrapper per preference, kept: its cooldowns must outlive the call, or a provider
        # that just failed would be tried first again on the next utterance.
        with self._lock:
            chain = self._chains.get(name)
        if chain is None:
            built = self._fallback([primary, self.provider(self.default)])
            with self._lock:
                chain = self._chains.setdefault(name, built)
        return chain

    def _fallback(self, providers: list[P]) -> P:
        """The kind's fallback wrapper over `providers`."""
        raise ConfigurationError(f"{self.kind}s have no fallback wrapper")

    def status(self) -> dict[str, Any]:
        """Every registered provider: started ones report their state."""
        return {n: (self._instances[n].status() if n in self._instances else {"name": n, "started": False})
                for n in self.names()}

    def close(self) -> None:
        with self._lock:
            for inst in self._instances.values():
                inst.close()
            self._instances.clear()
            self._chains.clear()


class Cooldowns:
    """Which providers a fallback should skip for now, after a retryable failure: names that
    expire after `seconds` (a cachetools TTLCache)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._down: TTLCache[str, bool] = TTLCache(maxsize=256, ttl=seconds, timer=time.monotonic)
        self._lock = threading.Lock()  # cachetools caches are not thread-safe

    def mark(self, name: str) -> None:
        with self._lock:
            self._down[name] = True

    def up(self, name: str) -> bool:
        with self._lock:
            return name not in self._down


R = TypeVar("R")


def try_in_order(providers: list[P], cooldowns: Cooldowns, call: Callable[[P], R]) -> R:
    """Call each provider in turn (those not cooling down first) until one succeeds. A retryable
    failure cools that provider down; if all fail, one error names every provider and why."""
    errors: list[tuple[str, EngineError]] = []
    for p in [p for p in providers if cooldowns.up(p.name)] or providers:
        try:
            return call(p)
        except EngineError as exc:
            errors.append((p.name, exc))
            if exc.retryable:
                cooldowns.mark(p.name)
    raise AllEnginesFailedError(errors)
