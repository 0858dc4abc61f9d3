"""The one registry of connected Socket.IO clients, and the `handler` decorator every event
module registers its handlers with (only for an event of the contract, core.wire.CLIENT_EVENTS).

Event modules (app.events.*) never import each other: each registers its handlers here, and what
must happen when a socket goes away (stop its audio, end its voice session) as a `when_gone` hook,
and what must happen when it leaves a room (the same, for that room) as a `when_left` hook.
"""
from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request

from app import validation as v
from app.extensions import services, socketio
from core import wire

logger = logging.getLogger(__name__)


@dataclass
class Client:
    """What the server knows about one connected socket."""

    user_id: str
    ip: str = ""  # the address it connected from (rate limits)
    room_id: str | None = None
    voice_room: str | None = None  # the room of this socket's live voice session, if any


class Clients:
    """sid → Client for this web process, and the hooks run when a socket goes."""

    def __init__(self) -> None:
        self._by_sid: dict[str, Client] = {}
        self._gone: list[Callable[[str, Client], None]] = []
        self._left: list[Callable[[str, Client, str], None]] = []

    def add(self, sid: str, client: Client) -> None:
        self._by_sid[sid] = client

    def get(self, sid: str) -> Client | None:
        return self._by_sid.get(sid)

    def __len__(self) -> int:
        return len(self._by_sid)

    def snapshot(self) -> dict[str, Client]:
        return dict(self._by_sid)

    def when_gone(self, hook: Callable[[str, Client], None]) -> None:
        """Run `hook(sid, client)` when a socket disconnects, before it leaves the registry."""
        self._gone.append(hook)

    def when_left(self, hook: Callable[[str, Client, str], None]) -> None:
        """Run `hook(sid, client, room_id)` when a socket leaves a room (not when it goes away:
        its `when_gone` hooks run then)."""
        self._left.append(hook)

    def left(self, sid: str, client: Client, room_id: str) -> None:
        for hook in self._left:
            try:
                hook(sid, client, room_id)
            except Exception:
                logger.exception("leave hook failed")

    def remove(self, sid: str) -> Client | None:
        client = self._by_sid.get(sid)
        if client is not None:
            for hook in self._gone:
                try:
                    hook(sid, client)
                except Exception:
                    logger.exception("disconnect hook failed")
        return self._by_sid.pop(sid, None)

    def in_room(self, user_id: str, room_id: str, *, besides: str | None = None) -> bool:
        """Whether another socket (not `besides`) of this user is in the room."""
        return any(c.user_id == user_id and c.room_id == room_id
                   for sid, c in self._by_sid.items() if sid != besides)

    def voice_rooms(self, user_id: str | None = None) -> set[str]:
        """Rooms with a live voice session here (of one user's sockets, if given)."""
        return {c.voice_room for c in self._by_sid.values()
                if c.voice_room and (user_id is None or c.user_id == user_id)}


clients = Clients()


def handler(event: str, counted: bool = True) -> Callable[..., Any]:
    """Register a Socket.IO handler for `event`, one of core.wire.CLIENT_EVENTS (any other is a
    LookupError at import), that answers bad input with an error ack and the event the contract
    names (the string `speech-error` for speech events, `app-error {event, code, message}` else).
    Each call counts against the user's general event limit (`event`, app/quotas.py) unless
    `counted` is False: start-speech, speech-data and stop-speech, limited as speech sessions and
    audio, whose order the handlers keep by not yielding before they have placed a chunk or ended
    the session behind the chunks sent before (a quota check may yield)."""

    contract = wire.CLIENT_EVENTS.get(event)
    if contract is None:
        raise LookupError(f"{event!r} has no contract: add it to core.wire.CLIENT_EVENTS")
    error_event = contract.error_event

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        # A client may send any number of arguments; more than the handler takes is bad input,
        # not a TypeError.
        params = list(inspect.signature(fn).parameters.values())[1:]
        max_args = None if any(p.kind is p.VAR_POSITIONAL for p in params) else len(params)

        @functools.wraps(fn)
        def inner(*args: Any) -> Any:
            sid = request.sid  # type: ignore[attr-defined]
            client = clients.get(sid)
            try:
                if client is None:
                    raise v.BadInput("unauthorized", "connect with a session token first", 401)
                if counted:
                    services().quotas.take("event", user=client.user_id, ip=client.ip)
                if max_args is not None and len(args) > max_args:
                    raise v.BadInput("bad_payload", f"{event} takes {max_args} argument(s), "
                                                    f"got {len(args)}")
                result = fn(client, *args)
                return {"ok": True, **(result or {})}
            except v.BadInput as exc:
                services().metrics.inc("errors", f"bad_input:{event}")
                if error_event == wire.SPEECH_ERROR:
                    socketio.emit(wire.SPEECH_ERROR, exc.message, to=sid)
                else:
                    reported: wire.AppError = {"event": event, **exc.as_dict()}
                    socketio.emit(error_event, reported, to=sid)
                refused: wire.Refused = {"ok": False, "error": exc.as_dict()}
                return refused
            except Exception:
                services().metrics.inc("errors", f"internal:{event}")
                logger.exception("socket handler failed", extra={"event": event})
                return {"ok": False, "error": {"code": "internal", "message": "server error"}}

        socketio.on_event(event, inner)
        return inner

    return wrap
