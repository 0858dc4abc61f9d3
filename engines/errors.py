"""One provider-neutral error hierarchy for every engine kind."""
from __future__ import annotations


class EngineError(Exception):
    """Base of all engine failures; `retryable` says whether trying again may help."""

    retryable: bool = False

    def __init__(self, message: str, *, engine: str = "", retryable: bool | None = None) -> None:
        super().__init__(message)
        self.engine = engine
        if retryable is not None:
            self.retryable = retryable


class EngineConnectionError(EngineError):
    """The provider could not be reached (refused, reset, process died)."""

    retryable = True


class EngineTimeoutError(EngineError):
    """The provider did not answer in time."""

    retryable = True


class EngineStatusError(EngineError):
    """The provider answered with an error status."""

    def __init__(self, message: str, *, status: int, engine: str = "", retryable: bool | None = None) -> None:
        super().__init__(message, engine=engine, retryable=status >= 500 if retryable is None else retryable)
        self.status = status


class UnsupportedLanguageError(EngineError):
    """No route exists for the requested language or pair; trying again will not help."""

    retryable = False


class BudgetExhaustedError(EngineError):
    """Today's budget for a premium provider is spent: the caller falls back and says so. Not a
    fault of the provider, so no cool-down."""

    retryable = False


class ConfigurationError(EngineError):
    """An engine name or setting is wrong; raised at start-up, never silently defaulted."""

    retryable = False


class AllEnginesFailedError(EngineError):
    """Raised by a fallback wrapper: names every provider it tried and why each failed."""

    def __init__(self, errors: list[tuple[str, EngineError]]) -> None:
        detail = "; ".join(f"{name}: {err}" for name, err in errors)
        super().__init__(f"all engines failed ({detail})", engine="fallback",
                         retryable=any(e.retryable for _, e in errors))
        self.errors = errors
