"""Google Cloud, a premium provider of all three kinds (stt.py, translation.py, tts.py in this
folder): what they share — the account's settings, one gRPC client per service made on
first use, and turning a failed call into an EngineError whose message carries the status code
only (never Google's message, which may quote what was said). Wire facts and sources:
docs/providers/google.md.

Credentials are the standard ones: GOOGLE_APPLICATION_CREDENTIALS names a credentials file
(loaded with google.auth, so service-account, user and external-account files all work) and
GOOGLE_CLOUD_PROJECT the project (else the file's). `endpoint` replaces Google's host; one on a
loopback address (a local server that speaks the same services) is reached on an insecure
channel, without credentials.

gRPC does not work under eventlet: its waits use the threading module, which eventlet makes green,
so a call hangs, even on a real thread (tpool). Calls go through `off_loop`, which refuses to run
in an eventlet process: the embedded web process, where in-process fan-outs translate, has the
speech process make its Google translations (core.offloop). Speech and voices run in the speech
process, which has no eventlet.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from engines.errors import (
    EngineConnectionError,
    EngineError,
    EngineStatusError,
    EngineTimeoutError,
)
from engines.providers.base import DailyBudget, eventlet_patched

logger = logging.getLogger(__name__)

NAME = "google"
LABEL = "Google Cloud"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
# gRPC status → the HTTP status Google's REST surface gives for it (cloud.google.com/apis/design/errors).
HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
               "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
               "ABORTED": 409, "ALREADY_EXISTS": 409, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499,
               "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}
R = TypeVar("R")


@dataclass(frozen=True)
class GoogleConfig(DailyBudget):
    """One Google Cloud account. `timeout_s` bounds each unary call; `stall_s` how long a speech
    stream may go without an answer; `stt_rotate_s` when a speech stream is replaced by a new one
    at the next pause, `stt_max_stream_s` when at the latest (Google ends a stream at ~305 s)."""

    NAME: ClassVar[str] = NAME
    LABEL: ClassVar[str] = LABEL

    credentials_file: str = field(default="", repr=False)  # where the private key is: not in repr
    project: str = ""
    endpoint: str = ""  # host:port instead of each service's own
    location: str = "global"
    timeout_s: float = 10.0
    stall_s: float = 2.5
    stt_model: str = ""  # RecognitionConfig.model; "" is the API's default for the language
    stt_rotate_s: float = 240.0
    stt_max_stream_s: float = 280.0
    voice: str = ""  # a default voice name; "" lets Google pick one for the language
    spent: Callable[[str], bool] | None = None

    @property
    def insecure(self) -> bool:
        host = self.endpoint.rsplit(":", 1)[0]
        return bool(self.endpoint) and host in LOOPBACK

    def credentials(self) -> Any:
        """The credentials the file names (None for a local endpoint: no auth there)."""
        if self.insecure:
            return None
        import google.auth
        creds, _ = google.auth.load_credentials_from_file(  # type: ignore[no-untyped-call]
            self.credentials_file, scopes=list(SCOPES))
        return creds


def off_loop(fn: Callable[[], R]) -> R:
    """Run a blocking gRPC call, refusing to under eventlet: gRPC's waits use the threading
    module, which eventlet has made green, so a call hangs even on a real thread (tpool). An
    eventlet process has the speech process make its calls (core.offloop)."""
    if eventlet_patched():
        raise EngineError(f"{LABEL} cannot be called from an eventlet process", engine=NAME)
    return fn()


class Clients:
    """One client of one Google service, made on first use (never under eventlet, see off_loop):
    `classes()` imports and gives its (client class, gRPC transport class); the client is built
    over an insecure channel to a loopback endpoint, else over TLS with the account's credentials."""

    def __init__(self, config: GoogleConfig, classes: Callable[[], tuple[Any, Any]]) -> None:
        self.config = config
        self._classes = classes
        self._client: Any = None
        self._channel: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The client; an EngineError if it cannot be made (credentials Google's library cannot
        read, a bad endpoint), so the caller fails over as for any other failure."""
        with self._lock:
            if self._client is None:
                try:
                    self._client = off_loop(self._make)
                except EngineError:
                    raise
                except Exception as exc:  # noqa: BLE001 - google.auth and grpc raise their own
                    logger.warning("Google Cloud client could not be made",
                                   extra={"engine": NAME, "error": type(exc).__name__})
                    raise EngineConnectionError(f"{LABEL} client could not be made: "
                                                f"{type(exc).__name__}", engine=NAME) from None
            return self._client

    def _make(self) -> Any:
        import grpc
        client_cls, transport_cls = self._classes()
        cfg = self.config
        if cfg.insecure:
            self._channel = grpc.insecure_channel(cfg.endpoint)
            return client_cls(transport=transport_cls(channel=self._channel))
        from google.api_core.client_options import ClientOptions
        # No quota project: it takes a permission of its own (serviceusage.services.use), and
        # the credentials' project is billed without it.
        options = ClientOptions(api_endpoint=cfg.endpoint or None)
        return client_cls(credentials=cfg.credentials(), client_options=options)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.transport.close()
            except Exception:  # noqa: BLE001, S110 - closing a channel that is already gone
                pass


def code_name(exc: BaseException) -> str:
    """The gRPC status name of a failed call ("UNAVAILABLE"), "" when it is not one."""
    code = getattr(exc, "grpc_status_code", None)
    if code is None and callable(getattr(exc, "code", None)):
        try:
            code = exc.code()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - not a grpc.RpcError after all
            code = None
    name = getattr(code, "name", "")
    return str(name)


def is_call_error(exc: BaseException) -> bool:
    import grpc
    from google.api_core.exceptions import GoogleAPIError
    return isinstance(exc, (GoogleAPIError, grpc.RpcError))


def failed(what: str, exc: BaseException) -> EngineError:
    """The EngineError for a failed call, logged once (status only: Google's own message may
    quote the text or name the project). Every failure cools the provider down except a request
    Google calls invalid (a language or voice it does not have), which another try would repeat."""
    code = code_name(exc) or "UNKNOWN"
    logger.warning("Google Cloud call failed", extra={"engine": NAME, "request": what, "code": code})
    if code == "DEADLINE_EXCEEDED":
        return EngineTimeoutError(f"{LABEL} {what} timed out", engine=NAME)
    if code == "UNAVAILABLE":
        return EngineConnectionError(f"{LABEL} unreachable ({what})", engine=NAME)
    return EngineStatusError(f"{LABEL} {what} refused: {code}", status=HTTP_STATUS.get(code, 500),
                             engine=NAME, retryable=code != "INVALID_ARGUMENT")


def call(what: str, fn: Callable[[], R]) -> R:
    """A unary call (see off_loop), its failure an EngineError."""
    try:
        return off_loop(fn)
    except EngineError:
        raise
    except Exception as exc:
        if is_call_error(exc):
            raise failed(what, exc) from None
        raise
