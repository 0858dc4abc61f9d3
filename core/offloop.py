"""Translation by a provider whose client cannot run in this process: gRPC (Google) hangs under
eventlet, even on a real thread (its locks are patched green), so the embedded web process, where
in-process fan-outs translate, asks the speech process to make the call (the `translate` op of
the speech link) and waits for it as for any other I/O. Workers and the speech process call the
provider directly."""
from __future__ import annotations

from typing import Any

from core import wire
from core.settings import Settings
from core.speech import ask
from engines.errors import (
    BudgetExhaustedError,
    EngineConnectionError,
    EngineError,
    EngineTimeoutError,
    UnsupportedLanguageError,
)
from engines.translation.base import BatchTranslator, Capabilities, Context, Translation, Translator

ERRORS: dict[str, type[EngineError]] = {
    "EngineTimeoutError": EngineTimeoutError, "EngineConnectionError": EngineConnectionError,
    "UnsupportedLanguageError": UnsupportedLanguageError, "BudgetExhaustedError": BudgetExhaustedError}
WAIT_S = 2.0  # for the speech process to listen (embedded, it is started with the web process)


class SpeechProcessTranslator(BatchTranslator):
    """`provider` (made here only for its name, languages and limits; it never connects), with
    its requests made by the speech process."""

    def __init__(self, provider: Translator, settings: Settings, timeout_s: float = 10.0) -> None:
        self.provider = provider
        self.settings = settings
        self.name = provider.name
        self.batches = provider.batches
        # The provider's own timeout, twice (a translation asked again), and the link's way there.
        self.timeout_s = 2 * timeout_s + 3.0

    @property
    def capabilities(self) -> Capabilities:
        return self.provider.capabilities

    def supports(self, source: str, target: str) -> bool:
        return self.provider.supports(source, target)

    def status(self) -> dict[str, Any]:
        return dict(self.provider.status(), via="speech process")

    def translate_many(self, text: str, source: str, targets: list[str],
                       context: Context | None = None) -> dict[str, Translation]:
        self.check_targets(source, targets)
        msg: wire.TranslateOp = {"op": "translate", "engine": self.name, "text": text,
                                 "source": source, "targets": list(targets),
                                 "glossary": list((context or Context()).glossary)}
        try:
            reply = ask(self.settings, msg, timeout_s=self.timeout_s, wait_s=WAIT_S)
        except TimeoutError:
            raise EngineTimeoutError(f"{self.name} translation timed out (speech process)",
                                     engine=self.name) from None
        except (OSError, ValueError):
            raise EngineConnectionError(f"{self.name} translation needs the speech process, which "
                                        "is not reachable", engine=self.name) from None
        if not reply.get("ok"):
            cls = ERRORS.get(str(reply.get("code")), EngineError)
            message = str(reply.get("message") or f"{self.name} translation failed")
            if cls is EngineError:
                raise EngineError(message, engine=self.name, retryable=bool(reply.get("retryable")))
            raise cls(message, engine=self.name)
        out: dict[str, Translation] = {}
        for t in targets:
            got = (reply.get("translations") or {}).get(t)
            if not isinstance(got, dict) or not isinstance(got.get("text"), str):
                raise EngineError(f"{self.name} translation came back without {t}", engine=self.name,
                                  retryable=True)
            usage = {str(k): float(v) for k, v in (got.get("usage") or {}).items()}
            out[t] = Translation(got["text"], source, t, self.name, float(got.get("elapsedMs") or 0.0),
                                 (source,) if t == source else (source, t), usage)
        return out
