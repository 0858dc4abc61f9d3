"""The app the fuzz suites drive: one per module, with a user in no room and one in a room."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app import migrate
from app.extensions import socketio
from app.factory import create_app
from core.db import dispose_all
from core.settings import Settings
from tests.fuzz.common import SECRET, TTL_S, World, _bearer, _sign_up


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("fuzz")
    # Rate limits off: hundreds of generated requests come from one address in seconds (the
    # limits have tests of their own).
    cfg = Settings(database_url=f"sqlite:///{tmp}/fuzz.db", secret_key=SECRET, var_dir=Path(tmp),
                   web={"token_ttl_s": TTL_S, "rate_limit_scale": 0})
    migrate.upgrade(cfg.database_url)
    app = create_app(cfg, async_mode="threading", start_engines=False)
    http = app.test_client()
    lobby_token, lobby_id = _sign_up(http, "Lobby", "en")
    member_token, _ = _sign_up(http, "Member", "es")
    room = http.post("/api/rooms", headers=_bearer(member_token))
    assert room.status_code == 201, room.get_json()
    lobby = socketio.test_client(app, auth={"token": lobby_token})
    member = socketio.test_client(app, auth={"token": member_token})
    assert lobby.is_connected() and member.is_connected()
    joined = member.emit("join-room", room.get_json()["code"], callback=True)
    assert joined["ok"], joined
    lobby.get_received()
    member.get_received()
    yield World(app, http, cfg.database_url, lobby_token, lobby_id, member_token,
                room.get_json()["code"], lobby, member, room.get_json()["roomId"])
    for client in (lobby, member):
        if client.is_connected():
            client.disconnect()
    dispose_all()
