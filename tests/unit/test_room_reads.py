"""unit: a room's glossary and usage are for the people in it now (and its creator): a member who
left gets 403 on both, as someone who never joined does."""
from __future__ import annotations

import pytest

from tests.unit.inprocess import App

pytestmark = pytest.mark.unit


def test_a_former_member_can_no_longer_read_the_glossary_or_the_usage(app: App) -> None:
    ann, bob = app.sign_up("Ann", "en"), app.sign_up("Bob", "es")
    code = app.room(ann)
    bob_socket = app.connect(bob)
    room = bob_socket.emit("join-room", code, callback=True)["roomId"]
    http = app.flask.test_client()

    def read(uid: str) -> list[int]:
        auth = {"Authorization": f"Bearer {app.svc.tokens.issue(uid)}"}
        return [http.get(f"/api/rooms/{room}/{what}", headers=auth).status_code
                for what in ("glossary", "usage")]

    assert read(bob) == [200, 200]
    assert bob_socket.emit("leave-room", callback=True)["roomId"] == room
    assert read(bob) == [403, 403]
    assert read(ann) == [200, 200]  # the creator, who never joined on a socket
    assert read(app.sign_up("Eve", "fr")) == [403, 403]
