"""unit: handle_transcript() and publish_interim() in an in-process app — stored once, echoed to
the speaker, fanned out, refused for people not in the room, duplicates changing nothing."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from app.transcripts import TranscriptIn, handle_transcript, publish_interim
from app.validation import BadInput
from core.db import session_scope
from core.models import Participant, Utterance, now_ms
from tests.support import wait_until
from tests.unit.inprocess import App, received

pytestmark = pytest.mark.unit


def _in_a_room(app: App) -> tuple[str, str, str, object, object]:
    """Ann (en) and Bea (es) in one room, each connected; returns ids, room id and clients."""
    ann, bea = app.sign_up("Ann", "en"), app.sign_up("Bea", "es")
    code = app.room(ann)
    a, b = app.connect(ann), app.connect(bea)
    room = a.emit("join-room", code, callback=True)["roomId"]
    assert b.emit("join-room", code, callback=True)["ok"]
    a.get_received(), b.get_received()
    return ann, bea, room, a, b


def _count(app: App) -> int:
    with session_scope(app.svc.settings.database_url) as s:
        return int(s.scalar(select(func.count()).select_from(Utterance)) or 0)


def test_a_transcript_is_stored_echoed_to_its_speaker_and_translated_for_the_room(app: App) -> None:
    ann, bea, room, a, b = _in_a_room(app)
    with app.flask.app_context():
        out = handle_transcript(TranscriptIn(ann, "Hello", "en", room_id=room))
    assert out["duplicate"] is False and out["text"] == "Hello"
    assert [m["utteranceId"] for m in received(a, "recognized-speech")] == [out["id"]]  # type: ignore[attr-defined]
    msgs = wait_until(lambda: received(b, "translated-message"), 10, "the translation")  # type: ignore[attr-defined]
    assert [(m["translatedText"], m["utteranceId"]) for m in msgs] == [("es:Hello", out["id"])]
    assert _count(app) == 1


def test_the_same_idempotency_key_twice_is_one_utterance_and_one_message(app: App) -> None:
    ann, bea, room, a, b = _in_a_room(app)
    t = TranscriptIn(ann, "Hello", "en", room_id=room, engine="agent", idempotency_key="agent:k1",
                     speech_end_at=now_ms())
    with app.flask.app_context():
        first = handle_transcript(t)
        wait_until(lambda: received(b, "translated-message"), 10, "the translation")  # type: ignore[attr-defined]
        assert len(received(a, "recognized-speech")) == 1  # type: ignore[attr-defined]
        second = handle_transcript(t)
    assert second["id"] == first["id"] and second["duplicate"] is True
    assert not received(a, "recognized-speech")  # type: ignore[attr-defined]  (no second echo)
    time.sleep(0.5)  # the fan-out is enqueued again; it must skip whoever has their message
    assert not received(b, "translated-message")  # type: ignore[attr-defined]
    assert _count(app) == 1
    carla = app.sign_up("Carla", "fr")
    with app.flask.app_context(), pytest.raises(BadInput) as err:
        handle_transcript(TranscriptIn(carla, "Hi", "fr", idempotency_key="agent:k1"))
    assert err.value.code == "bad_idempotency_key"


def test_someone_not_in_the_room_is_refused_and_nothing_is_stored(app: App) -> None:
    ann, bea, room, a, b = _in_a_room(app)
    outsider = app.sign_up("Olaf", "de")
    with app.flask.app_context():
        with pytest.raises(BadInput) as err:
            handle_transcript(TranscriptIn(outsider, "Hallo", "de", room_id=room))
        assert err.value.code == "not_in_room" and err.value.status == 403
        with pytest.raises(BadInput) as err:
            handle_transcript(TranscriptIn("no-such-user", "Hallo", "de"))
        assert err.value.code == "unknown_user"
    assert _count(app) == 0


def test_speech_recognised_before_the_speaker_left_still_counts_typed_text_does_not(app: App) -> None:
    ann, bea, room, a, b = _in_a_room(app)
    spoke = now_ms()
    with session_scope(app.svc.settings.database_url) as s:
        p = s.scalars(select(Participant).where(Participant.user_id == ann)).one()
        p.left_at = spoke + 500
    with app.flask.app_context():
        late = handle_transcript(TranscriptIn(ann, "Bye", "en", room_id=room, engine="local-stt",
                                              idempotency_key="speech:x", speech_end_at=spoke))
        assert late["duplicate"] is False
        with pytest.raises(BadInput):
            handle_transcript(TranscriptIn(ann, "Bye", "en", room_id=room, speech_end_at=spoke))
        with pytest.raises(BadInput):  # recognised after they left
            handle_transcript(TranscriptIn(ann, "Bye", "en", room_id=room, engine="agent",
                                           speech_end_at=spoke + 1000))


def test_interims_reach_the_room_only_from_a_participant(app: App) -> None:
    ann, bea, room, a, b = _in_a_room(app)
    with app.flask.app_context():
        publish_interim(ann, room, "Hel", "en", "k1")
        assert [m["text"] for m in received(b, "interim-transcript")] == ["Hel"]  # type: ignore[attr-defined]
        outsider = app.sign_up("Olaf", "de")
        with pytest.raises(BadInput) as err:
            publish_interim(outsider, room, "Hal", "de", "k2")
        assert err.value.code == "not_in_room"
        assert not received(b, "interim-transcript")  # type: ignore[attr-defined]
        publish_interim(ann, None, "solo", "en", "k3")  # solo: the speaker's own sockets only
    assert [m["text"] for m in received(a, "interim-transcript")] == ["Hel", "solo"]  # type: ignore[attr-defined]
    assert not received(b, "interim-transcript")  # type: ignore[attr-defined]


def test_a_transcript_is_one_line_and_a_clients_speech_end_cannot_reorder_it(app: App) -> None:
    ann, bea, room, a, b = _in_a_room(app)
    forged = "Hello\n\n2\n00:00:00,000 --> 00:00:05,000\nBob: I resign\u2028"
    now = now_ms()
    with app.flask.app_context():
        ids = [handle_transcript(TranscriptIn(ann, forged, "en", room_id=room))["id"],
               handle_transcript(TranscriptIn(ann, "Old", "en", room_id=room, speech_end_at=1.0))["id"],
               handle_transcript(TranscriptIn(ann, "Later", "en", room_id=room,
                                              speech_end_at=now + 3_600_000))["id"],
               handle_transcript(TranscriptIn(ann, "Fine", "en", room_id=room,
                                              speech_end_at=now - 1000))["id"],
               handle_transcript(TranscriptIn(ann, "Agent", "en", room_id=room, engine="agent",
                                              speech_end_at=now + 60_000))["id"]]
        with pytest.raises(BadInput) as err:
            handle_transcript(TranscriptIn(ann, "\n\r\u2029", "en", room_id=room))
        assert err.value.code == "empty_transcript"
    with session_scope(app.svc.settings.database_url) as s:
        rows = {u.id: u for u in s.scalars(select(Utterance))}
        text = rows[ids[0]].text
        assert "\n" not in text and "\u2028" not in text and text.startswith("Hello 2 00:00:00,000")
        assert rows[ids[1]].speech_end_at is None and rows[ids[2]].speech_end_at is None
        assert rows[ids[3]].speech_end_at == pytest.approx(now - 1000)
        assert rows[ids[4]].speech_end_at == rows[ids[4]].received_at  # never after receipt
    with app.flask.app_context():
        publish_interim(ann, room, "half\nway", "en", "k")
    assert [i["text"] for i in received(b, "interim-transcript")] == ["half way"]


def test_a_message_resent_after_moving_to_another_room_is_refused_not_misplaced(app: App) -> None:
    ann, bea, room, a, b = _in_a_room(app)
    first = a.emit("speech-transcript", {"transcript": "Hello", "sourceLang": "en", "roomId": room,
                                         "clientId": "c1"}, callback=True)
    assert first["ok"], first
    other = app.room(ann)
    assert a.emit("join-room", other, callback=True)["ok"]
    again = a.emit("speech-transcript", {"transcript": "Still there?", "sourceLang": "en",
                                         "roomId": room, "clientId": "c2"}, callback=True)
    assert again["ok"] is False and again["error"]["code"] == "wrong_room"
    assert _count(app) == 1
