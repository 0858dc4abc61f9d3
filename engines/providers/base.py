"""What a provider is to the service: one record (`Provider`) that names it, says which engines of
each kind it offers and how to make them from its settings section, why it cannot be used here,
and what its daily budgets are. The service (core.providers, core.usage, /health) reads records
only, so a provider is added in its own folder (engines/providers/<name>/) and listed in
engines/providers/__init__.py; nothing else names it.

Also what every provider's settings section is made of (`Section`, `env`): the service composes
the sections into its one Settings object (core.settings)."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engines.errors import BudgetExhaustedError

KINDS = ("stt", "translation", "tts")


def env(default: Any, name: str, *, secret: bool = False) -> Any:
    """A field read from the environment variable `name`; a secret never shows in a repr."""
    return Field(default, validation_alias=name, repr=not secret)


def within(low: float | None = None, high: float | None = None) -> Any:
    """A validator that brings a number into [low, high] (either end open when None)."""
    def clamp(value: float) -> float:
        if low is not None:
            value = max(low, value)
        return value if high is None else min(high, value)
    return clamp


def without_password(value: object) -> object:
    """A URL's password replaced by *** (redis://:pw@host, postgresql://user:pw@host); any other
    value as it is."""
    if not isinstance(value, str) or "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        if parts.password is None:
            return value
    except ValueError:
        return "***"  # not a URL we can take apart: show none of it
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


class Section(BaseModel):
    """A group of settings, built by field name in code and by variable name from the environment."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, extra="forbid",
                              validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """URLs without their passwords: settings end up in logs and tracebacks."""
        for name, value in super().__repr_args__():
            yield name, without_password(value)


def eventlet_patched() -> bool:
    """Whether this process runs under eventlet's monkey-patching (the web process does)."""
    patcher = sys.modules.get("eventlet.patcher")  # not imported: not patched either
    return patcher is not None and bool(patcher.is_monkey_patched("thread"))


@dataclass(frozen=True)
class Context:
    """What the service hands a provider's factory besides its section: where runtime files go,
    and whether today's budget of a unit is spent (None: no budget is set)."""

    var_dir: Path
    spent: Callable[[str], bool] | None = None


class DailyBudget:
    """What a premium provider's engine configuration shares: `spent(unit)`, filled by the service
    from the daily budgets, says whether today's budget of a unit is spent (None: no budget)."""

    NAME: ClassVar[str]
    LABEL: ClassVar[str]
    spent: Callable[[str], bool] | None

    def within_budget(self, unit: str) -> bool:
        return self.spent is None or not self.spent(unit)

    def check_budget(self, unit: str) -> None:
        if not self.within_budget(unit):
            raise BudgetExhaustedError(f"today's {self.LABEL} budget ({unit}) is spent",
                                       engine=self.NAME)


S = TypeVar("S", bound=Section)
Factory = Callable[[S, Context], Any]


def _usable(section: Any, kind: str) -> str:
    return ""


def _unbounded(section: Any) -> dict[str, float]:
    return {}


@dataclass(frozen=True)
class Provider(Generic[S]):
    """One provider as the service sees it.

    `name` is what its engines are called where there is one per kind, and what its usage is
    recorded under; `engines` per kind, engine name → factory(section, context), made when first
    used; `section` is its settings (`settings.<attribute>`); `missing(section, kind)` why it
    cannot be used for a kind here ("" if it can: a premium provider without its key is listed,
    never created); `budget(section)` its daily limits, unit → amount (0: none).
    `premium`: billed, metered and subject to core.premium. `off_loop`: its translation client
    cannot run under eventlet (gRPC), so an eventlet process has the speech process make its
    translations, waiting as long as this says for one. `says_why`: /health gives the reason
    when it is not configured."""

    name: str
    label: str
    attribute: str
    section: type[S]
    engines: Mapping[str, Mapping[str, Factory[S]]]
    premium: bool = False
    missing: Callable[[S, str], str] = _usable
    budget: Callable[[S], Mapping[str, float]] = _unbounded
    labels: Mapping[str, str] = field(default_factory=dict)  # engines not called `name`
    notes: Mapping[str, str] = field(default_factory=dict)  # kind → said under its engine
    off_loop: Callable[[S], float] | None = None
    says_why: bool = True

    def of(self, settings: object) -> S:
        """Its section of the service's settings."""
        return cast(S, getattr(settings, self.attribute))

    def names(self, kind: str) -> list[str]:
        """Its engines of `kind`."""
        return list(self.engines.get(kind, {}))

    def label_of(self, engine: str) -> str:
        return self.labels.get(engine, self.label)
