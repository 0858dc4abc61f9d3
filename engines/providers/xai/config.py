"""xAI Grok, a premium provider of all three kinds (stt.py, translation.py, tts.py in this folder):
what they share — the account's settings, the URLs, and turning a refusal into an EngineError
whose message carries the status and error code only (never the key, which xAI's own messages
quote in part, nor any text or audio). Wire facts and their sources: docs/providers/xai.md."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from engines.errors import (
    EngineConnectionError,
    EngineStatusError,
    EngineTimeoutError,
)
from engines.providers.base import DailyBudget

logger = logging.getLogger(__name__)

NAME = "grok"
LABEL = "xAI Grok"


@dataclass(frozen=True)
class XAIConfig(DailyBudget):
    """One xAI account. `timeout_s` bounds each HTTP request; `stall_s` how long a speech stream
    may go without an answer before it is given up as stalled. The key is never in its repr."""

    NAME: ClassVar[str] = NAME
    LABEL: ClassVar[str] = LABEL

    api_key: str = field(repr=False)
    base_url: str = "https://api.x.ai/v1"
    translation_model: str = "grok-4.3"
    # docs.x.ai model-capabilities/text/reasoning: "none" answers without a reasoning pass, the
    # fast setting for translation (low is the default).
    reasoning_effort: str = "none"
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    stall_s: float = 2.5
    voice: str = "eve"  # docs.x.ai TTS: the default voice_id
    # Budget: a callable saying whether today's budget of a unit is spent (None: no budget).
    spent: Callable[[str], bool] | None = None

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def ws_url(self, path: str) -> str:
        """WebSocket endpoints are the same URL with the ws/wss scheme (api.x.ai/v1/stt)."""
        base = self.base_url.rstrip("/")
        if base.startswith("https://"):
            base = "wss://" + base[len("https://"):]
        elif base.startswith("http://"):
            base = "ws://" + base[len("http://"):]
        return base + path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def error_code(body: bytes | str) -> str:
    """The `code` of xAI's flat error body `{"code": ..., "error": ...}` (docs.x.ai, API errors),
    cut short; "" when the body is not that. Only the code: the `error` text quotes the key."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return ""
    code = data.get("code") if isinstance(data, dict) else None
    return str(code)[:40] if isinstance(code, (str, int)) else ""


def refused(what: str, status: int, body: bytes | str) -> EngineStatusError:
    """An EngineStatusError for an HTTP refusal, logged once. Every refusal cools the provider down
    (retryable): a wrong key is 400 at xAI, a missing one 401, rate limits 429, outages 5xx."""
    code = error_code(body)
    logger.warning("xAI refused a request", extra={"engine": NAME, "request": what, "status": status,
                                                   "code": code})
    return EngineStatusError(f"{LABEL} {what} refused: HTTP {status}{' ' + code if code else ''}",
                             status=status, engine=NAME, retryable=True)


class XAIHttp:
    """The REST side of one xAI provider: an httpx client made on first use, and every failure
    turned into an EngineError (a timeout, an unreachable host, a refusal) and logged once."""

    def __init__(self, config: XAIConfig) -> None:
        self.config = config
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                timeout = httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s)
                self._client = httpx.Client(timeout=timeout, headers=self.config.headers)
            return self._client

    def request(self, what: str, method: str, path: str, **kw: Any) -> httpx.Response:
        """`method` `path` (under the base URL); the 200 answer, else an EngineError."""
        try:
            r = self._http().request(method, self.config.url(path), **kw)
        except httpx.TimeoutException:
            logger.warning("xAI request timed out", extra={"engine": NAME, "request": what})
            raise EngineTimeoutError(f"{LABEL} {what} timed out", engine=NAME) from None
        except httpx.HTTPError as exc:
            logger.warning("xAI unreachable", extra={"engine": NAME, "request": what,
                                                     "error": type(exc).__name__})
            raise EngineConnectionError(f"{LABEL} unreachable: {type(exc).__name__}",
                                        engine=NAME) from None
        if r.status_code != 200:
            raise refused(what, r.status_code, r.content)
        return r

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
