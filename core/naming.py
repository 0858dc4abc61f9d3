"""Socket.IO channel names, shared by whoever emits to a user (web process, fan-out worker)."""
from __future__ import annotations


def user_room(room_id: str, user_id: str) -> str:
    """The Socket.IO room of one user's sockets inside one app room."""
    return f"ru:{room_id}:{user_id}"


def own_room(user_id: str) -> str:
    """The Socket.IO room of all of one user's sockets (for solo results)."""
    return f"user:{user_id}"
