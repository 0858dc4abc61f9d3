"""unit: fan-outs that never finished are handed on again (app.recovery), in an in-process app
whose fan-outs run here, as embedded."""
from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from app.recovery import resume_unfinished
from core.db import session_scope
from core.models import Utterance, now_ms
from core.settings import Settings
from tests.support import wait_until
from tests.unit.inprocess import App, received

pytestmark = pytest.mark.unit


def _ann_and_bea(app: App) -> tuple[str, str, Any, Any]:
    """Ann (en) and Bea (es) connected in one room: Ann's id, the room id, both clients."""
    ann, bea = app.sign_up("Ann", "en"), app.sign_up("Bea", "es")
    code = app.room(ann)
    a, b = app.connect(ann), app.connect(bea)
    room = a.emit("join-room", code, callback=True)["roomId"]
    assert b.emit("join-room", code, callback=True)["ok"]
    return ann, room, a, b


def soon(settings: Settings) -> Settings:
    """The same settings with fan-outs due again after 10 ms instead of RESUME_AFTER_S."""
    return settings.model_copy(update={
        "fanout": settings.fanout.model_copy(update={"resume_after_s": 0.01})})


def test_an_utterance_whose_fan_out_never_finished_is_resumed_once(app: App) -> None:
    ann, room, a, b = _ann_and_bea(app)
    url = app.svc.settings.database_url
    said = now_ms()
    with session_scope(url) as s:  # stored, then its process died before the fan-out ran
        s.add(Utterance(speaker_id=ann, room_id=room, text="Good morning.", source_lang="en",
                        received_at=said))
    b.get_received()
    assert resume_unfinished(app.svc.settings) == 0  # not due yet: it may still be running
    time.sleep(0.05)
    with app.flask.app_context():
        assert resume_unfinished(soon(app.svc.settings)) == 1
    got: list[dict[str, object]] = []
    wait_until(lambda: got.extend(received(b, "translated-message")) or got, 10, "the message")
    assert [m["originalText"] for m in got] == ["Good morning."]

    def done() -> bool:  # marked by the fan-out right after it sends (a moment after it arrives)
        with session_scope(url) as s:
            return s.scalars(select(Utterance.fanned_out_at)).one() is not None

    wait_until(done, 10, "the fan-out to mark itself finished")
    with app.flask.app_context():  # finished: never again, not even at a start-up
        assert resume_unfinished(app.svc.settings, everything=True) == 0
    assert received(b, "translated-message") == []


def test_a_finished_fan_out_is_marked_and_a_stale_one_is_left_alone(app: App) -> None:
    ann, room, a, b = _ann_and_bea(app)
    assert a.emit("speech-transcript", {"transcript": "Hello", "sourceLang": "en"}, callback=True)["ok"]
    url = app.svc.settings.database_url
    wait_until(lambda: received(b, "translated-message"), 10, "the message")

    def finished() -> bool:
        with session_scope(url) as s:
            return s.scalars(select(Utterance.fanned_out_at)).one() is not None

    wait_until(finished, 10, "the fan-out to mark itself finished")
    with session_scope(url) as s:  # older than the horizon: history, not work
        s.add(Utterance(speaker_id=ann, room_id=room, text="Long ago", source_lang="en",
                        received_at=now_ms() - app.svc.settings.fanout.resume_horizon_s * 1000 - 1))
    with app.flask.app_context():
        assert resume_unfinished(app.svc.settings, everything=True) == 0
