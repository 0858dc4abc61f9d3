"""An in-process app for unit tests of the control plane (the `app` fixture in conftest.py):
SQLite, the threading async mode, no engines started, a scripted translator in place of Apertium,
and Socket.IO test clients."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask_socketio.test_client import SocketIOTestClient

from app.extensions import Services, socketio


@dataclass
class App:
    flask: Flask
    svc: Services
    clients: list[SocketIOTestClient]

    def sign_up(self, name: str, language: str) -> str:
        r = self.flask.test_client().post("/api/session", json={"displayName": name, "language": language})
        assert r.status_code == 201, r.get_json()
        return str(r.get_json()["user"]["id"])

    def connect(self, user_id: str) -> SocketIOTestClient:
        client = socketio.test_client(self.flask, auth={"token": self.svc.tokens.issue(user_id)})
        assert client.is_connected()
        self.clients.append(client)
        return client

    def room(self, owner: str) -> str:
        r = self.flask.test_client().post("/api/rooms", headers={
            "Authorization": f"Bearer {self.svc.tokens.issue(owner)}"})
        assert r.status_code == 201
        return str(r.get_json()["code"])


def received(client: SocketIOTestClient, name: str) -> list[Any]:
    return [e["args"][0] for e in client.get_received() if e["name"] == name]
