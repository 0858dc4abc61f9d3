"""unit: the wire contract (core.wire) is the one the server keeps — its handlers are exactly the
client events it lists, what the server emits and the page listens to is in it, the README's
event fields are in it, and a live caption and its history item agree on every field they share."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app.clients import handler
from app.extensions import socketio
from core import wire
from tests.support import wait_until
from tests.unit.inprocess import App, received

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SOCKET_IO_OWN = {"connect", "disconnect", "connect_error"}  # Socket.IO's, not the contract's


def test_the_handlers_registered_are_exactly_the_client_events_of_the_contract(app: App) -> None:
    registered = set(socketio.server.handlers["/"]) - SOCKET_IO_OWN
    assert registered == set(wire.CLIENT_EVENTS), (
        f"handlers without a contract: {sorted(registered - set(wire.CLIENT_EVENTS))}; "
        f"contracts without a handler: {sorted(set(wire.CLIENT_EVENTS) - registered)}")


def test_a_handler_for_an_event_the_contract_does_not_list_is_refused() -> None:
    with pytest.raises(LookupError, match="core.wire.CLIENT_EVENTS"):
        handler("no-such-event")


def _sources(*folders: str, suffix: str) -> list[Path]:
    return [p for f in folders for p in sorted((ROOT / f).rglob(f"*{suffix}"))]


def test_every_event_the_server_emits_is_in_the_contract() -> None:
    emitted = {name for p in _sources("app", "workers", "agent", suffix=".py")
               for name in re.findall(r"""\.emit\(\s*["']([a-z-]+)["']""", p.read_text())}
    emitted |= {name for p in _sources("app", suffix=".py")
                for name in re.findall(r"""["']event["']:\s*["']([a-z-]+)["']""", p.read_text())}
    assert emitted, "the scan found no emit"
    assert emitted <= set(wire.SERVER_EVENTS), sorted(emitted - set(wire.SERVER_EVENTS))


def test_the_page_listens_to_and_sends_only_events_of_the_contract() -> None:
    page = "\n".join(p.read_text() for p in _sources("web/src", suffix=".js"))
    listened = set(re.findall(r"""socket\.on\(\s*["']([a-z_-]+)["']""", page)) - SOCKET_IO_OWN
    sent = set(re.findall(r"""(?:\bcall|\bsend|socket\.emit)\(\s*["']([a-z-]+)["']""", page))
    assert listened and sent, "the scan found nothing"
    assert listened <= set(wire.SERVER_EVENTS), sorted(listened - set(wire.SERVER_EVENTS))
    assert sent <= set(wire.CLIENT_EVENTS), sorted(sent - set(wire.CLIENT_EVENTS))


def _readme_fields() -> list[tuple[str, set[str]]]:
    """Each `event {field, field?: "value", …}` the README spells out, with its field names."""
    readme = (ROOT / "README.md").read_text()
    out = []
    for name, body in re.findall(r"`([a-z][a-z-]+) \{([^`]*)\}`", readme, re.S):
        body = re.sub(r'"[^"]*"', "", body)
        out.append((name, {m.group(1) for piece in body.split(",")
                           if (m := re.match(r"\s*(\w+)", piece))}))
    return out


def test_the_fields_the_readme_gives_each_event_are_in_its_contract() -> None:
    found = _readme_fields()
    assert len(found) >= 10, found
    for name, names in found:
        payload = (wire.SERVER_EVENTS.get(name) if name in wire.SERVER_EVENTS
                   else wire.CLIENT_EVENTS[name].payload)
        assert names <= wire.fields(payload), (name, sorted(names - wire.fields(payload)))


@pytest.mark.parametrize("payload", [wire.RecognizedSpeech, wire.TranslatedMessage,
                                     wire.SoloTranslated, wire.TranslationFailed, wire.HistoryItem])
def test_every_caption_and_history_item_carries_its_utterance_key_and_part(payload: Any) -> None:
    assert {"utteranceKey", "part"} <= wire.fields(payload)


def test_a_live_caption_and_its_history_item_agree_on_every_field_they_share(app: App) -> None:
    ann, bea = app.sign_up("Ann", "en"), app.sign_up("Bea", "es")
    code = app.room(ann)
    a, b = app.connect(ann), app.connect(bea)
    room = a.emit("join-room", code, callback=True)["roomId"]
    assert b.emit("join-room", code, callback=True)["ok"]
    b.get_received()
    ack = a.emit("speech-transcript", {"transcript": "Hello", "sourceLang": "en"}, callback=True)
    assert ack["ok"], ack
    [live] = wait_until(lambda: received(b, "translated-message"), 10, "the translation")
    history = app.flask.test_client().get(
        f"/api/rooms/{room}/messages", headers={"Authorization": f"Bearer {app.svc.tokens.issue(bea)}"})
    [item] = history.get_json()["messages"]
    assert set(live) == wire.fields(wire.TranslatedMessage)
    assert set(item) == wire.fields(wire.HistoryItem)
    shared = set(live) & set(item)
    assert wire.fields(wire.Caption) | {"translatedText", "fromUserId"} <= shared
    assert {k: item[k] for k in shared} == {k: live[k] for k in shared}
    assert item["speakerId"] == ann and item["translatedText"] == "es:Hello"
