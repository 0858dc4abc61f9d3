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
    """Named providers of one kind; `kind` names it in error messages.

    `order` is the operator's failover order (e.g. STT_ENGINES=grok,local): a preference is tried
    first, then the rest in that order. `unavailable` names registered providers that cannot run
    here, with why (a premium provider without its key): they are listed, never created or tried.
    The default is the first available one of the order."""

    kind = "engine"

    def __init__(self, factories: dict[str, Callable[[], P]], default: str,
                 order: list[str] | None = None, unavailable: dict[str, str] | None = None,
                 cooldown_s: float = 30.0) -> None:
        self._factories = dict(factories)
        self.cooldown_s = cooldown_s
        self.unavailable = dict(unavailable or {})
        self.order = [self.check(n) for n in (order or [default])]
        if default not in self.order:
            self.order.append(self.check(default))
        usable = [n for n in self.order if n not in self.unavailable]
        if not usable:
            raise ConfigurationError(f"no {self.kind} of {', '.join(self.order)} can run here")
        self.default = usable[0]
        self._instances: dict[str, P] = {}
        self._chains: dict[tuple[str, ...], P] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._factories)

    def check(self, name: str) -> str:
        """Return `name` if registered, else raise ConfigurationError naming the known ones."""
        if name not in self._factories:
            raise ConfigurationError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return name

    def available(self, name: str) -> bool:
        return name in self._factories and name not in self.unavailable

    def choices(self) -> list[dict[str, Any]]:
        """Every registered provider, the order's first: whether it can run here, and if not why."""
        ranked = self.order + [n for n in self.names() if n not in self.order]
        return [{"name": n, "available": self.available(n), "reason": self.unavailable.get(n, "")}
                for n in ranked]

    def provider(self, name: str) -> P:
        """The single instance of provider `name`, created and started on first use."""
        self.check(name)
        if name in self.unavailable:
            raise ConfigurationError(f"{self.kind} {name!r} is not available here: "
                                     f"{self.unavailable[name]}")
        with self._lock:
            inst = self._instances.get(name)
            if inst is None:
                inst = self._factories[name]()
                inst.start()
                self._instances[name] = inst
            return inst

    def chain(self, name: str | None = None) -> list[str]:
        """Who serves a preference: it (if available here), then the rest of the order. An unknown
        name is a ConfigurationError; one that cannot run here is passed over."""
        first = [name] if name and self.available(self.check(name)) else []
        rest = [n for n in self.order if n not in first and self.available(n)]
        return first + rest or [self.default]

    def get(self, name: str | None = None) -> P:
        """The provider for a preference, with the rest of the failover order behind it, so a
        premium provider that fails still yields a result from the embedded one."""
        names = tuple(self.chain(name or self.default))
        if len(names) == 1:
            return self.provider(names[0])
        # One wrapper per chain, kept: its cooldowns must outlive the call, or a provider that
        # just failed would be tried first again on the next utterance.
        with self._lock:
            chain = self._chains.get(names)
        if chain is None:
            built = self._fallback([self.provider(n) for n in names])
            with self._lock:
                chain = self._chains.setdefault(names, built)
        return chain

    def _fallback(self, providers: list[P]) -> P:
        """The kind's fallback wrapper over `providers`."""
        raise ConfigurationError(f"{self.kind}s have no fallback wrapper")

    def status(self) -> dict[str, Any]:
        """Every registered provider: started ones report their state, unavailable ones why."""
        out: dict[str, Any] = {}
        for n in self.names():
            if n in self._instances:
                out[n] = self._instances[n].status()
            else:
                out[n] = {"name": n, "started": False, "available": self.available(n)}
                if n in self.unavailable:
                    out[n]["reason"] = self.unavailable[n]
        return out

    def cooling_down(self, name: str) -> bool:
        """Whether a failover chain is skipping `name` for now, after it failed."""
        with self._lock:
            chains = list(self._chains.values())
        return any(not c.cooldowns.up(name) for c in chains if hasattr(c, "cooldowns"))

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
