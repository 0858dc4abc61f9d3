"""unit: the agent's bridge client (agent.bridge_client.BridgeClient) against an httpx
MockTransport standing in for the app: finals kept on disk until the app takes them, retried
through refusals that may pass, dropped on ones that will not, signed so the app can check them."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.bridge_client import BridgeClient
from core.signing import sign
from tests.support import wait_until

pytestmark = pytest.mark.unit

SECRET = "s3cret"


class App:
    """The app's side: answers each post with `answer(path, body)` and keeps what it saw."""

    def __init__(self, answer: Callable[[str, dict[str, Any]], int]) -> None:
        self.answer = answer
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        ts = request.headers["X-LT-Timestamp"]
        assert request.headers["X-LT-Signature"] == sign(SECRET, ts, body)
        assert abs(time.time() - float(ts)) < 5
        data = json.loads(body)
        with self.lock:
            self.posts.append((request.url.path, data))
        status = self.answer(request.url.path, data)
        return httpx.Response(status, json={"error": {"code": f"status_{status}"}} if status >= 400 else {})

    def finals(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for p, b in self.posts if p == "/internal/transcripts" and b["kind"] == "final"]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., BridgeClient]]:
    made: list[BridgeClient] = []

    def build(app: App, outbox: Path | None = None, **kw: Any) -> BridgeClient:
        client = BridgeClient("http://app.test", SECRET, outbox or tmp_path / "outbox", agent_id="a1",
                              rooms=lambda: ["r1"], max_backoff_s=0.2,
                              transport=httpx.MockTransport(app.handle), **kw)
        made.append(client)
        return client

    yield build
    for c in made:
        c.close()


def _final(key: str) -> dict[str, Any]:
    return {"kind": "final", "idempotencyKey": key, "speakerId": "u1", "roomId": "r1",
            "text": "Hello", "sourceLang": "en"}


def test_a_final_is_on_disk_until_the_app_takes_it(make: Callable[..., BridgeClient], tmp_path: Path) -> None:
    gate = threading.Event()
    app = App(lambda path, body: 202 if gate.is_set() else 503)
    client = make(app)
    client.start()
    client.final(_final("k1"))
    outbox = tmp_path / "outbox"
    wait_until(lambda: len(app.finals()) >= 2, 10, "retries while the app is down")
    assert len(list(outbox.glob("*.json"))) == 1  # kept while the app refuses
    gate.set()
    wait_until(lambda: not list(outbox.glob("*.json")), 10, "the final to be taken")
    assert client.sent["final"] == 1 and client.sent["retries"] >= 1
    assert {b["idempotencyKey"] for b in app.finals()} == {"k1"}
    assert all("queuedAt" not in b for b in app.finals())


def test_a_final_refused_for_good_is_dropped_not_retried(make: Callable[..., BridgeClient],
                                                        tmp_path: Path) -> None:
    app = App(lambda path, body: 400 if body.get("kind") == "final" else 200)
    client = make(app)
    client.start()
    client.final(_final("bad"))
    wait_until(lambda: client.sent["dropped"] == 1, 10, "the refusal")
    time.sleep(0.5)
    assert len(app.finals()) == 1 and not list((tmp_path / "outbox").glob("*.json"))


def test_finals_left_by_a_previous_run_are_sent_at_start_in_order(make: Callable[..., BridgeClient],
                                                                  tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    down = App(lambda path, body: 503)
    first = make(down, outbox)  # not started: the agent died before sending
    first.final(_final("k1"))
    time.sleep(0.02)
    first.final(_final("k2"))
    app = App(lambda path, body: 202)
    make(app, outbox).start()
    wait_until(lambda: len(app.finals()) == 2, 10, "the resent finals")
    assert [b["idempotencyKey"] for b in app.finals()] == ["k1", "k2"]


def test_heartbeats_name_the_rooms_and_say_once_that_the_worker_registered(
        make: Callable[..., BridgeClient]) -> None:
    app = App(lambda path, body: 200)
    client = make(app, heartbeat_s=0.1)
    client.start()
    client.beat_now(registered=True)

    def beats() -> list[dict[str, Any]]:
        with app.lock:
            return [b for p, b in app.posts if p == "/internal/agent-heartbeat"]

    wait_until(lambda: len(beats()) >= 3, 10, "heartbeats")
    assert all(b["rooms"] == ["r1"] and b["agentId"] == "a1" for b in beats())
    assert sum(1 for b in beats() if b.get("registered")) == 1


def test_interims_are_best_effort_and_skipped_behind_a_backlog(make: Callable[..., BridgeClient]) -> None:
    app = App(lambda path, body: 202)
    client = make(app)
    for i in range(30):  # queued before the sender runs: a backlog
        client.interim({"kind": "interim", "speakerId": "u1", "text": f"w{i}", "sourceLang": "en",
                        "utteranceKey": "k"})
    client.start()
    wait_until(lambda: client.sent["interim"] == 20, 10, "the interims")
    time.sleep(0.2)
    assert client.sent["interim"] == 20


def test_a_message_that_fails_in_an_unforeseen_way_stops_none_after_it(
        make: Callable[..., BridgeClient], tmp_path: Path) -> None:
    def answer(path: str, body: dict[str, Any]) -> int:
        if body.get("idempotencyKey") == "broken":
            raise UnicodeError("a proxy answered with something nobody could read")
        return 202

    app = App(answer)
    client = make(app)
    client.start()
    client.final(_final("broken"))
    client.final(_final("k2"))
    wait_until(lambda: [b["idempotencyKey"] for b in app.finals()] == ["broken", "k2"], 10,
               "the final after the broken one")
    assert client.sent["failed"] == 1 and client.sent["final"] == 1
    left = [json.loads(p.read_text())["idempotencyKey"] for p in (tmp_path / "outbox").glob("*.json")]
    assert left == ["broken"]  # kept for the next start
