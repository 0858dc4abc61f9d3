"""LiveKit as the media plane: access tokens for one room, rooms ensured and deleted, the speech
agent dispatched — through `livekit-api`.

`LiveKitAPI` is asyncio (aiohttp). Under eventlet it runs on a real OS thread with its own event
loop (`eventlet.tpool`), so the web process's green threads keep serving while it waits.
"""
from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class LiveKitConfig:
    """How this server reaches LiveKit (built from the settings' LiveKit section)."""

    url: str  # what browsers and agents connect to (ws://…)
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    api_url: str = ""  # LIVEKIT_API_URL: where this server reaches LiveKit's API, if not `url`
    # LIVEKIT_AGENT_NAME: the name the speech agent registers under and is dispatched by; two
    # deployments sharing one LiveKit server (or project) each need their own.
    agent_name: str = "live-translator"

    @property
    def http_url(self) -> str:
        base = self.api_url or self.url
        return base.replace("wss://", "https://").replace("ws://", "http://")


def _off_loop(fn: Callable[[], T]) -> T:
    """Run blocking work on a native thread when eventlet is active, directly otherwise."""
    patcher = sys.modules.get("eventlet.patcher")  # only if eventlet is in use in this process
    if patcher is not None and patcher.is_monkey_patched("thread"):
        from eventlet import tpool
        return tpool.execute(fn)  # type: ignore[no-any-return]
    return fn()


class LiveKitService:
    def __init__(self, config: LiveKitConfig) -> None:
        self.config = config

    def token(self, *, user_id: str, name: str, language: str, room: str, stt_engine: str = "",
              listen_only: bool = False, ttl: timedelta = timedelta(minutes=5)) -> str:
        """A token for exactly one room: join, subscribe, and (unless `listen_only`) publish the
        microphone. The agent reads the participant's `language` (which track they may hear,
        what they speak) and `sttEngine` (recognition preference) attributes. Short-lived: it is
        for joining now (the server refreshes a connected participant's own token); leaving the
        app's room removes the participant (`remove_participant`), and an old token cannot bring
        them back."""
        from livekit import api
        attributes = {"language": language, **({"sttEngine": stt_engine} if stt_engine else {})}
        return (api.AccessToken(self.config.api_key, self.config.api_secret)
                .with_identity(user_id).with_name(name).with_attributes(attributes)
                .with_grants(api.VideoGrants(
                    room_join=True, room=room, can_publish=not listen_only, can_subscribe=True,
                    can_publish_data=not listen_only,
                    can_publish_sources=["microphone"] if not listen_only else []))
                .with_ttl(ttl).to_jwt())

    def _call(self, make: Callable[[Any], Awaitable[T]]) -> T:
        from livekit import api

        async def run() -> T:
            async with api.LiveKitAPI(self.config.http_url, self.config.api_key,
                                      self.config.api_secret) as lk:
                return await make(lk)

        return _off_loop(lambda: asyncio.run(run()))

    def ensure_room(self, room: str, metadata: dict[str, Any], max_participants: int = 50) -> None:
        from livekit import api
        self._call(lambda lk: lk.room.create_room(api.CreateRoomRequest(
            name=room, empty_timeout=300, max_participants=max_participants,
            metadata=json.dumps(metadata))))

    def dispatch_agent(self, room: str) -> None:
        """Ask the speech agent (explicit dispatch by name) to join the room. Whether one is
        needed is the caller's decision (app.agents.ensure_agent)."""
        from livekit import api
        self._call(lambda lk: lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=self.config.agent_name, room=room)))

    def set_attributes(self, room: str, identity: str, attributes: dict[str, str]) -> None:
        """Update a participant's attributes (`language`, `sttEngine`: the agent follows them)."""
        from livekit import api
        self._call(lambda lk: lk.room.update_participant(api.UpdateParticipantRequest(
            room=room, identity=identity, attributes=attributes)))

    def set_metadata(self, room: str, metadata: dict[str, Any]) -> None:
        """Replace a room's metadata (the agent reads the glossary from it)."""
        from livekit import api
        self._call(lambda lk: lk.room.update_room_metadata(api.UpdateRoomMetadataRequest(
            room=room, metadata=json.dumps(metadata))))

    def participants(self, room: str) -> list[Any]:
        from livekit import api

        async def listing(lk: Any) -> list[Any]:
            return list((await lk.room.list_participants(api.ListParticipantsRequest(room=room)))
                        .participants)

        return self._call(listing)

    def remove_participant(self, room: str, identity: str) -> bool:
        """Disconnect `identity` from the LiveKit room; False if they were not in it."""
        from livekit import api
        from livekit.api.twirp_client import TwirpError

        async def remove(lk: Any) -> bool:
            try:
                await lk.room.remove_participant(api.RoomParticipantIdentity(room=room,
                                                                             identity=identity))
            except TwirpError as exc:
                if exc.code == "not_found":
                    return False
                raise
            return True

        return self._call(remove)

    def delete_room(self, room: str) -> None:
        from livekit import api
        self._call(lambda lk: lk.room.delete_room(api.DeleteRoomRequest(room=room)))

    def list_rooms(self) -> list[str]:
        from livekit import api

        async def names(lk: Any) -> list[str]:
            return [r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms]

        return self._call(names)
