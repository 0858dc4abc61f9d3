"""unit: who may use a premium engine (core.premium). Premium engines are offered to users only
where the operator allows it (by default, only once a budget or a cap bounds the spend); past a
user's or a room's daily cap their premium choices fall back to the local engine in the fan-out,
and what a translation billed counts for the listeners who chose it."""
from __future__ import annotations

from pathlib import Path

import pytest

from core import usage
from core.db import session_scope
from core.premium import PremiumPolicy
from core.settings import Settings
from tests.unit.conftest import add_room, add_user, add_utterance, in_process_app
from workers.plan import plan

pytestmark = pytest.mark.unit


def _policy(db_url: str, **sections: dict[str, float | str]) -> PremiumPolicy:
    return PremiumPolicy(Settings(database_url=db_url, secret_key="unit", **sections))  # type: ignore[arg-type]


def test_premium_is_offered_only_where_spend_is_bounded_or_the_operator_says_so(db_url: str) -> None:
    assert _policy(db_url).refusal("translation", "grok", "u", "r") == "premium_not_offered"
    assert _policy(db_url, premium={"for_users": "0"}, xai={"daily_characters": 1000}).refusal(
        "stt", "grok", "u", "r") == "premium_not_offered"
    for bounded in ({"xai": {"daily_characters": 1000.0}}, {"premium": {"user_daily_characters": 10.0}},
                    {"premium": {"room_daily_audio_minutes": 5.0}}, {"premium": {"for_users": "1"}}):
        assert _policy(db_url, **bounded).refusal("translation", "grok", "u", "r") is None, bounded
    # Local engines are never refused; the operator's own premium default is not an offer.
    assert _policy(db_url).refusal("translation", "local", "u", "r") is None
    assert _policy(db_url, engines={"translation": "grok"}).refusal("translation", "", "u", "r") is None


def test_a_users_and_a_rooms_daily_caps(db_url: str) -> None:
    pol = _policy(db_url, premium={"user_daily_characters": 100.0, "room_daily_tokens": 50.0})
    usage.record(db_url, "grok", "characters", 60, "room-1", "ann")
    usage.record(db_url, "google", "characters", 39, "room-2", "ann")  # every premium provider counts
    assert pol.refusal("tts", "google", "ann", "room-1") is None
    usage.record(db_url, "grok", "characters", 1, "room-2", "ann")
    pol._cache.clear()  # read again now (it is read at most every 2 s)
    assert pol.engine_for("tts", "google", "ann", "room-1") == ("local", "user_cap")
    assert pol.refusal("tts", "google", "bob", "room-1") is None  # Bob still may
    usage.record(db_url, "grok", "tokens", 50, "room-1", "bob")
    pol._cache.clear()
    assert pol.refusal("translation", "grok", "bob", "room-1") == "room_cap"
    assert pol.refusal("translation", "grok", "bob", "room-3") is None


def test_the_fan_out_gives_a_listener_past_their_cap_the_local_engine(db_url: str) -> None:
    ann = add_user(db_url, "Ann", "en")
    bob = add_user(db_url, "Bob", "es", translation_engine="grok", tts_enabled=True, tts_engine="grok")
    cat = add_user(db_url, "Cat", "es", translation_engine="grok")
    room = add_room(db_url, ann, bob, cat)
    uid = add_utterance(db_url, ann, "Hello.", "en", room)
    pol = _policy(db_url, premium={"user_daily_characters": 100.0})
    usage.record(db_url, "grok", "characters", 100, room, bob)
    with session_scope(db_url) as s:
        p = plan(s, uid, pol)
    assert p is not None
    assert sorted((j.target, j.engine, tuple(j.users)) for j in p.jobs) == [
        ("es", "grok", (cat,)), ("es", "local", (bob,))]
    assert p.speech[bob] == ("", "local")
    assert p.refused == [(bob, "translation", "grok", "user_cap"), (bob, "tts", "grok", "user_cap")]


def test_choosing_a_premium_engine_is_refused_where_it_is_not_offered(tmp_path: Path) -> None:
    for budget, offered in ((0.0, False), (1e6, True)):
        with in_process_app(tmp_path, xai={"api_key": "xai-test-key", "daily_characters": budget}) as app:
            http = app.flask.test_client()
            auth = {"Authorization": f"Bearer {app.svc.tokens.issue(app.sign_up('Ann', 'en'))}"}
            grok = next(c for c in http.get("/api/engines").get_json()["translation"]
                        if c["name"] == "grok")
            r = http.patch("/api/me", json={"translationEngine": "grok"}, headers=auth)
            if offered:
                assert grok["available"] and r.status_code == 200
            else:
                assert not grok["available"] and "does not offer" in grok["reason"]
                assert r.status_code == 400 and r.get_json()["error"]["code"] == "engine_unavailable"
                assert "does not offer premium engines" in r.get_json()["error"]["message"]
