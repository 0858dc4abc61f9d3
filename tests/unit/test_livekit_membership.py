"""integration, in-process, against a real livekit-server on loopback: nobody stays in a LiveKit
room who is not a member of the app room. A removal that fails (LiveKit's API not reachable for a
moment) is tried again; the periodic reconciliation removes participants who are not members (a
token outlives leaving, and LiveKit refreshes a connected participant's)."""
from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest

from app import agents
from core.livekit import LiveKitConfig, LiveKitService
from tests.support import wait_until
from tests.support.livekit_client import LkParticipant, signed_webhook
from tests.support.processes import free_port
from tests.unit.inprocess import App

pytestmark = [pytest.mark.integration, pytest.mark.livekit]


def _service(env: dict[str, str], api_url: str = "") -> LiveKitService:
    return LiveKitService(LiveKitConfig(env["LIVEKIT_URL"], env["LIVEKIT_API_KEY"],
                                        env["LIVEKIT_API_SECRET"], api_url))


def _in_call(lk: LiveKitService, room: str) -> set[str]:
    return {p.identity for p in lk.participants(room)}


def _join_call(lk: LiveKitService, room: str, identity: str, made: list[LkParticipant]) -> None:
    token = lk.token(user_id=identity, name=identity, language="en", room=room, listen_only=True)
    made.append(LkParticipant(lk.config.url, token).connect())
    wait_until(lambda: identity in _in_call(lk, room), 15, "the participant to be in the call")


def _room_with(app: App, *names: str) -> tuple[str, list[str], list[object]]:
    """An app room with these members (each on a socket): (room id, user ids, sockets)."""
    users = [app.sign_up(n, "en") for n in names]
    code = app.room(users[0])
    sockets = [app.connect(u) for u in users]
    room = ""
    for s in sockets:
        room = s.emit("join-room", code, callback=True)["roomId"]  # type: ignore[attr-defined]
    return room, users, sockets


def test_participants_who_are_not_members_are_removed_by_the_reconciliation(
        app: App, livekit_env: dict[str, str], lk_peers: list[LkParticipant]) -> None:
    lk = app.svc.livekit = _service(livekit_env)
    room, (ann,), _ = _room_with(app, "Ann")
    lk.ensure_room(room, agents.room_metadata([]))
    stranger = app.sign_up("Stranger", "en")  # never joined the app room (a token from elsewhere)
    _join_call(lk, room, ann, lk_peers)
    _join_call(lk, room, stranger, lk_peers)
    # A room of another deployment sharing the LiveKit server: none of its people are ours to judge.
    elsewhere = uuid.uuid4().hex
    lk.ensure_room(elsewhere, agents.room_metadata([]))
    _join_call(lk, elsewhere, "someone-elses-user", lk_peers)
    assert agents.reconcile(app.svc) == 1
    wait_until(lambda: _in_call(lk, room) == {ann}, 10, "the stranger to be removed")
    assert agents.reconcile(app.svc) == 0  # a member stays
    assert _in_call(lk, elsewhere) == {"someone-elses-user"}


def test_a_webhook_about_another_deployments_room_changes_nothing(
        app: App, livekit_env: dict[str, str], lk_peers: list[LkParticipant]) -> None:
    """Deployments sharing a LiveKit server (or project) get each other's webhooks: someone
    joining a room this deployment does not know is neither shown the door nor announced."""
    lk = app.svc.livekit = _service(livekit_env)
    elsewhere = uuid.uuid4().hex
    lk.ensure_room(elsewhere, agents.room_metadata([]))
    _join_call(lk, elsewhere, "someone-elses-user", lk_peers)
    body, token = signed_webhook(livekit_env, "participant_joined", elsewhere, "someone-elses-user")
    r = app.flask.test_client().post("/livekit/webhook", data=body, headers={"Authorization": token})
    assert r.status_code == 200
    time.sleep(2)  # a removal (started on a background task) would be done by now
    assert _in_call(lk, elsewhere) == {"someone-elses-user"}


def _proxy_later(port: int, to: tuple[str, int], after_s: float) -> None:
    """Nothing listens on `port` for `after_s` (connections refused: LiveKit's API unreachable),
    then a TCP forwarder to `to` does, for 30 s."""
    def pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve() -> None:
        time.sleep(after_s)
        with socket.create_server(("127.0.0.1", port)) as srv:
            srv.settimeout(0.5)
            until = time.monotonic() + 30
            while time.monotonic() < until:
                try:
                    conn, _ = srv.accept()
                except TimeoutError:
                    continue
                up = socket.create_connection(to)
                for a, b in ((conn, up), (up, conn)):
                    threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


def test_a_removal_that_failed_is_tried_again(app: App, livekit_env: dict[str, str],
                                              lk_peers: list[LkParticipant]) -> None:
    """Ann leaves the app room while LiveKit's API cannot be reached (for 1.5 s): she is removed
    from the call all the same, within seconds, and Bob (still a member) stays."""
    direct = _service(livekit_env)
    room, (ann, bob), (ann_socket, _) = _room_with(app, "Ann", "Bob")
    direct.ensure_room(room, agents.room_metadata([]))
    _join_call(direct, room, ann, lk_peers)
    _join_call(direct, room, bob, lk_peers)
    port = free_port()
    host, lk_port = direct.config.http_url.split("//", 1)[1].rsplit(":", 1)
    _proxy_later(port, (host, int(lk_port.split("/")[0])), after_s=1.5)
    app.svc.livekit = _service(livekit_env, api_url=f"http://127.0.0.1:{port}")
    assert ann_socket.emit("leave-room", callback=True)["roomId"] == room  # type: ignore[attr-defined]
    wait_until(lambda: _in_call(direct, room) == {bob}, 15, "Ann to be removed after a retry")
