"""The agent's side of the transcript bridge: signed posts to the app, finals kept until accepted.

Every final is written to an outbox directory before it is sent and removed once the app has it
(or has refused it for good), so a final survives an app restart (retried with backoff) and an
agent restart (sent again at start-up). The idempotency key makes a second delivery a no-op in
the app. Interims are best effort: sent in order with the finals, never retried.
A heartbeat thread tells the app which rooms this agent serves, so the app re-dispatches a room
whose agent died.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from core import wire
from core.signing import sign

logger = logging.getLogger(__name__)

FINAL_MAX_AGE_S = 3600  # a final the app has not taken within an hour is dropped (logged)
# 401: a skewed clock or a secret being rotated may recover; 409: the same signature inside one
# second (a retry is signed anew with a later timestamp, so it is never refused twice)
RETRIABLE = {401, 408, 409, 425, 429}


class BridgeClient:
    """Posts transcripts and heartbeats to the app's /internal endpoints."""

    def __init__(self, base_url: str, secret: str, outbox: Path, *, agent_id: str,
                 rooms: Callable[[], list[str]], heartbeat_s: float = 2.0,
                 max_backoff_s: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.outbox = outbox
        self.agent_id = agent_id
        self.rooms = rooms
        self.heartbeat_s = heartbeat_s
        self.max_backoff_s = max_backoff_s
        self._queue: queue.Queue[tuple[str, Mapping[str, Any], Path | None]] = queue.Queue()
        self._http = httpx.Client(timeout=httpx.Timeout(5.0, connect=2.0), transport=transport)
        self._stop = threading.Event()
        self._beat = threading.Event()
        self._registered = False
        self.sent = {"final": 0, "interim": 0, "dropped": 0, "retries": 0, "failed": 0}
        outbox.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        pending = sorted(self.outbox.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for path in pending:  # finals a previous run decoded but did not deliver
            try:
                self._queue.put(("final", json.loads(path.read_text()), path))
            except (OSError, ValueError):
                path.unlink(missing_ok=True)
        if pending:
            logger.info("resending finals left by a previous run", extra={"count": len(pending)})
        threading.Thread(target=self._sender, name="bridge-sender", daemon=True).start()
        threading.Thread(target=self._heartbeats, name="bridge-heartbeat", daemon=True).start()

    def close(self) -> None:
        self._stop.set()

    # -- what the speakers call ------------------------------------------------------------
    def final(self, payload: wire.BridgeTranscript) -> None:
        key = f"{payload['idempotencyKey']}#{payload.get('part', 0)}"  # one file per segment
        path = self.outbox / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(payload, queuedAt=time.time())))
        os.replace(tmp, path)
        self._queue.put(("final", payload, path))

    def interim(self, payload: wire.BridgeTranscript) -> None:
        """An interim or a notice: sent in order with the finals, never retried."""
        if self._queue.qsize() < 20:  # behind a backlog an interim is stale: skip it
            self._queue.put(("interim", payload, None))

    # -- sending -------------------------------------------------------------------------
    def post(self, path: str, payload: Mapping[str, Any]) -> httpx.Response:
        body = json.dumps(payload, separators=(",", ":")).encode()
        stamp = str(int(time.time()))
        return self._http.post(self.base_url + path, content=body, headers={
            "Content-Type": "application/json", "X-LT-Timestamp": stamp,
            "X-LT-Signature": sign(self.secret, stamp, body)})

    def _sender(self) -> None:
        while not self._stop.is_set():
            kind, payload, path = self._queue.get()
            try:
                self._send_one(kind, payload, path)
            except Exception as exc:  # one message failing in an unforeseen way stops no other
                self.sent["failed"] += 1
                logger.error("a bridge message could not be sent; a final stays in the outbox "
                             "for the next start", extra={"kind": kind, "error": type(exc).__name__})

    def _send_one(self, kind: str, payload: Mapping[str, Any], path: Path | None) -> None:
        body = {k: v for k, v in payload.items() if k != "queuedAt"}
        if kind == "interim":
            try:
                self.post("/internal/transcripts", body)
                self.sent["interim"] += 1
            except httpx.HTTPError:
                pass  # best effort: the final follows
            return
        self._deliver(body, path, float(payload.get("queuedAt") or time.time()))

    def _deliver(self, body: dict[str, Any], path: Path | None, queued_at: float) -> None:
        delay = 1.0  # at least a second apart: each retry carries a new timestamp
        while not self._stop.is_set():
            status, code = 0, "unreachable"
            try:
                r = self.post("/internal/transcripts", body)
                status = r.status_code
                code = _error_code(r)
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            if 200 <= status < 300 or (400 <= status < 500 and status not in RETRIABLE):
                if status >= 400:
                    self.sent["dropped"] += 1
                    logger.warning("the app refused a final", extra={"status": status, "code": code})
                else:
                    self.sent["final"] += 1
                if path is not None:
                    path.unlink(missing_ok=True)
                return
            if time.time() - queued_at > FINAL_MAX_AGE_S:
                self.sent["dropped"] += 1
                logger.error("dropping a final the app did not take within an hour",
                             extra={"status": status, "code": code})
                if path is not None:
                    path.unlink(missing_ok=True)
                return
            self.sent["retries"] += 1
            logger.info("the app did not take a final; retrying",
                        extra={"status": status, "code": code, "in_s": delay})
            self._stop.wait(delay)
            delay = min(delay * 2, self.max_backoff_s)

    def beat_now(self, registered: bool = False) -> None:
        """Heartbeat at once: a room was joined or left, or the worker (re)registered with
        LiveKit (then the app dispatches waiting rooms without waiting for its retry)."""
        self._registered = self._registered or registered
        self._beat.set()

    def _heartbeats(self) -> None:
        while not self._stop.is_set():
            self._beat.wait(self.heartbeat_s)
            self._beat.clear()
            try:
                body: wire.AgentHeartbeat = {"agentId": self.agent_id, "rooms": self.rooms()}
                if self._registered:
                    body["registered"] = True
                r = self.post("/internal/agent-heartbeat", body)
                if r.status_code == 200:
                    self._registered = False
            except httpx.HTTPError:
                pass  # the app is restarting; it re-dispatches from the next heartbeat it misses
            except Exception:  # the next beat tries again
                logger.exception("an agent heartbeat failed")


def _error_code(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error", {}).get("code", "")) or str(r.status_code)
    except ValueError:
        return str(r.status_code)
