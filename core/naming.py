"""Socket.IO channel and Redis key names, shared by whoever emits to a user or reads a key (web
process, fan-out worker)."""
from __future__ import annotations

from pathlib import Path

WORKER_HEARTBEAT_KEY = "lt:health:worker:"  # + worker name: its engine state, for /health
# Sorted set: worker name → its last beat (epoch s), so /health reads workers by name, never by
# scanning the keyspace.
WORKER_INDEX_KEY = "lt:health:workers"


def room_channel(room_id: str) -> str:
    """The Socket.IO room of every socket in one app room."""
    return f"room:{room_id}"


def user_room(room_id: str, user_id: str) -> str:
    """The Socket.IO room of one user's sockets inside one app room."""
    return f"ru:{room_id}:{user_id}"


def own_room(user_id: str) -> str:
    """The Socket.IO room of all of one user's sockets (for solo results)."""
    return f"user:{user_id}"


def speaker_channel(speaker_id: str, room_id: str | None) -> str:
    """Where a speaker's own echo and errors go: their sockets in that room, or (solo) all of
    their sockets."""
    return user_room(room_id, speaker_id) if room_id else own_room(speaker_id)


def tts_audio_dir(var_dir: Path) -> Path:
    """Where synthesized speech is kept, one file per (engine, voice, language, text) hash."""
    return var_dir / "tts"
