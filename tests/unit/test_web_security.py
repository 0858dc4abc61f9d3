"""unit, in-process: what the web app shows strangers. Every response carries the security headers
(a CSP that allows no framing and scripts only from this origin); anonymous /health is the status
alone, from cheap checks (no Redis scan, no usage sums), and rate-limited; its details need the
operator's token; glossary changes, preference changes, voice lists, usage, health checks and
error reports are rate-limited, and a refused request changes nothing."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from app import security
from tests.unit.conftest import in_process_app
from tests.unit.inprocess import App
from workers import heartbeat

pytestmark = pytest.mark.unit

TOKEN = "operator-token-8f2c"


class Speech:
    """The speech link, as far as these routes use it: no process behind it."""

    def voices(self, engine: str, language: str) -> dict[str, Any]:
        return {"ok": True, "voices": [{"id": "v1", "name": "One"}]}

    def set_keyterms(self, room_id: str, terms: list[str]) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {"running": True}


@pytest.fixture
def web(tmp_path: Path) -> Iterator[App]:
    """The in-process app with the shipped rate limits, an operator token and an xAI key."""
    with in_process_app(tmp_path, web={"rate_limit_scale": 1, "health_token": TOKEN},
                        xai={"api_key": "xai-unit-key"}) as world:
        world.svc.speech = Speech()
        yield world


def _bearer(app: App, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.svc.tokens.issue(user)}"}


def _early_in_a_minute() -> None:
    """Limits count in windows aligned to the clock's minutes: start a count well inside one."""
    if time.time() % 60 > 45:
        time.sleep(60.2 - time.time() % 60)


# ---- headers -------------------------------------------------------------------------------------

def _csp(value: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in value.split(";") if d.strip()}


def test_every_response_forbids_framing_sniffing_and_scripts_from_elsewhere(web: App) -> None:
    http = web.flask.test_client()
    for path in ("/", "/static/style.css", "/static/pcm-chunker.js", "/api/languages",
                 "/api/engines", "/health", "/api/nothing-here"):
        r = http.get(path)
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert r.headers["X-Frame-Options"] == "DENY", path
        assert r.headers["Referrer-Policy"] == "no-referrer", path
        csp = _csp(r.headers["Content-Security-Policy"])
        assert csp["frame-ancestors"] == ["'none'"] and csp["script-src"] == ["'self'"], path
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"], path
        assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"], path
    csp = _csp(http.get("/").headers["Content-Security-Policy"])
    assert csp["connect-src"] == ["'self'", "ws://localhost", "wss://localhost"]  # no LiveKit here


def test_the_page_may_connect_to_the_livekit_server_it_is_given() -> None:
    assert security.livekit_sources("ws://127.0.0.1:7880") == ["ws://127.0.0.1:7880",
                                                               "http://127.0.0.1:7880"]
    cloud = security.livekit_sources("wss://team-x1.livekit.cloud")
    assert cloud == ["wss://team-x1.livekit.cloud", "https://team-x1.livekit.cloud",
                     "wss://*.livekit.cloud", "https://*.livekit.cloud"]
    assert security.livekit_sources("javascript:alert(1)") == []
    csp = _csp(security.policy(["wss://lk.example.org", "https://lk.example.org"]))
    assert csp["connect-src"] == ["'self'", "wss://lk.example.org", "https://lk.example.org"]
    assert csp["script-src"] == ["'self'"]


def test_the_page_learns_about_voice_rooms_without_health(web: App) -> None:
    got = web.flask.test_client().get("/api/features").get_json()
    assert got["voice"] is False
    assert got["notes"]["translation"]["local"].startswith("Apertium")


# ---- /health -------------------------------------------------------------------------------------

def test_anonymous_health_is_the_status_alone(web: App) -> None:
    http = web.flask.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer "}):
        r = http.get("/health", headers=headers)
        assert r.status_code == 200 and r.get_json() == {"status": "degraded"}, headers
    details = http.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert details["database"] == "ok" and details["mode"] == "embedded"
    assert details["providers"]["grok"]["configured"] is True and "version" in details
    assert "xai-unit-key" not in str(details)


def test_without_a_token_configured_nobody_sees_the_details(app: App) -> None:
    http = app.flask.test_client()
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
        assert set(http.get("/health", headers=headers).get_json()) == {"status"}, headers


def test_anonymous_health_scans_nothing_and_sums_no_usage(web: App, redis_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    r.flushall()
    web.svc.settings = web.svc.settings.model_copy(update={"redis_url": redis_url})  # distributed
    for n in range(50):  # a keyspace worth scanning
        r.set(f"lt:unrelated:{n}", "x")
    sums: list[str] = []
    from core import usage
    monkeypatch.setattr(usage, "provider_totals", lambda url: sums.append(url) or {})
    http = web.flask.test_client()
    assert http.get("/health").get_json() == {"status": "degraded"}  # no worker yet
    heartbeat.beat(r, "host-a:1", {"translation": {"local": {"running": True}}}, 15)
    r.config_resetstat()
    got = http.get("/health")
    assert got.status_code == 200 and got.get_json() == {"status": "ok"}
    used = {name.removeprefix("cmdstat_") for name in r.info("commandstats")}
    assert not used & {"scan", "keys"}, used
    assert sums == []
    details = http.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert details["redis"] == "ok" and [w["worker"] for w in details["workers"]] == ["host-a:1"]
    assert sums  # the operator does get today's usage
    r.delete("lt:health:worker:host-a:1")  # its heartbeat expired: the worker is gone
    assert http.get("/health").get_json() == {"status": "degraded"}
    r.flushall()


# ---- rate limits ---------------------------------------------------------------------------------

def test_the_61st_glossary_put_in_a_minute_is_refused_and_changes_nothing(web: App) -> None:
    owner = web.sign_up("Olga", "en")
    room = web.connect(owner).emit("join-room", web.room(owner), callback=True)["roomId"]
    http, auth = web.flask.test_client(), _bearer(web, owner)
    _early_in_a_minute()
    for i in range(60):
        r = http.put(f"/api/rooms/{room}/glossary", json={"terms": [f"Term {i}"]}, headers=auth)
        assert r.status_code == 200, (i, r.get_json())
    r = http.put(f"/api/rooms/{room}/glossary", json={"terms": ["Planted"]}, headers=auth)
    assert r.status_code == 429
    error = r.get_json()["error"]
    assert error["code"] == "rate_limited" and "glossary" in error["message"]
    assert error["retryAfter"] > 0 and 0 < int(r.headers["Retry-After"]) <= 60
    assert http.get(f"/api/rooms/{room}/glossary", headers=auth).get_json()["terms"] == ["Term 59"]


def test_a_refused_preference_change_changes_nothing(web: App) -> None:
    user = web.sign_up("Pia", "en")
    http, auth = web.flask.test_client(), _bearer(web, user)
    _early_in_a_minute()
    for i in range(60):
        assert http.patch("/api/me", json={"displayName": f"Pia {i}"}, headers=auth).status_code == 200
    r = http.patch("/api/me", json={"displayName": "Mallory"}, headers=auth)
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "rate_limited"
    assert http.get("/api/me", headers=auth).get_json()["user"]["displayName"] == "Pia 59"


@pytest.mark.parametrize("what, allowed", [("voices", 30), ("usage", 60), ("health", 120)])
def test_voice_lists_usage_and_health_checks_are_limited(web: App, what: str, allowed: int) -> None:
    user = web.sign_up("Ula", "en")
    room = web.connect(user).emit("join-room", web.room(user), callback=True)["roomId"]
    http, auth = web.flask.test_client(), _bearer(web, user)
    path = {"voices": "/api/tts/voices?engine=local&language=en",
            "usage": f"/api/rooms/{room}/usage", "health": "/health"}[what]
    _early_in_a_minute()
    for i in range(allowed):
        assert http.get(path, headers=auth).status_code == 200, (what, i)
    r = http.get(path, headers=auth)
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "rate_limited", what
    if what == "health":  # the operator's monitoring is not the one flooding it
        operator = http.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert operator.status_code == 200 and "database" in operator.get_json()


def test_error_reports_past_thirty_a_minute_are_refused(web: App) -> None:
    user = web.sign_up("Eli", "en")
    sock = web.connect(user)
    _early_in_a_minute()
    report = {"code": "boom", "message": "it broke"}
    for i in range(30):
        assert sock.emit("client-error", report, callback=True) == {"ok": True}, i
    ack = sock.emit("client-error", report, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"
    assert ack["error"]["retryAfter"] > 0


def test_every_route_and_every_event_has_a_limit(web: App) -> None:
    """Routes and events with no limit of their own still count: 1200 requests a minute from one
    address (then 429 on any route), 50 Socket.IO events a second from one user."""
    http = web.flask.test_client()
    sock = web.connect(web.sign_up("Eve", "en"))
    _early_in_a_minute()
    served = 0
    while http.get("/api/languages").status_code == 200:
        served += 1
        assert served <= 1200, "no general limit"
    assert served >= 1198  # 1200 a minute, the sign-up's requests among them
    for path in ("/api/languages", "/api/engines", "/api/features"):
        r = http.get(path)
        assert r.status_code == 429 and r.get_json()["error"]["code"] == "rate_limited", path
    acks = [sock.emit("leave-room", callback=True) for _ in range(51)]
    assert [a["error"]["code"] for a in acks[:50]] == ["not_in_room"] * 50
    assert acks[50]["error"]["code"] == "rate_limited"
