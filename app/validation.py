"""Small, strict validators for REST bodies and Socket.IO payloads.

Each raises BadInput with a code and a message a person can read; handlers turn that into a 400,
an error ack or a `speech-error`, and change nothing.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Set
from typing import Any

from core import wire
from engines.languages import normalize


class BadInput(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def as_dict(self) -> wire.ErrorBody:
        return {"code": self.code, "message": self.message}


ROOM_CODE = re.compile(r"^[A-Za-z0-9]{4,12}$")


def as_object(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadInput("bad_payload", f"{what} must be a JSON object")
    return payload


def only_keys(payload: dict[str, Any], allowed: Set[str], what: str) -> None:
    extra = sorted(str(k) for k in payload if k not in allowed)
    if extra:
        raise BadInput("unknown_field", f"{what} has unknown field(s): {', '.join(extra)[:200]}")


def text(payload: dict[str, Any], key: str, *, max_len: int, required: bool = True,
         single_line: bool = False) -> str | None:
    """A non-blank string of at most max_len characters, stripped."""
    value = payload.get(key)
    if value is None:
        if required:
            raise BadInput("missing_field", f"{key} is required")
        return None
    if not isinstance(value, str):
        raise BadInput("bad_type", f"{key} must be a string")
    if len(value) > max_len:
        raise BadInput("too_long", f"{key} is longer than {max_len} characters", 413)
    value = value.strip()
    if not value:
        raise BadInput("empty_field", f"{key} must not be empty")
    if "\x00" in value or (single_line and any(unicodedata.category(c) == "Cc" for c in value)):
        raise BadInput("bad_characters", f"{key} contains control characters")
    return value


def language(payload: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadInput("missing_field" if value is None else "bad_type",
                       f"{key} must be a language code such as 'en' or 'es'")
    code = normalize(value)
    if code is None:
        raise BadInput("unsupported_language", f"{key}: unknown language {value[:20]!r}")
    return code


def boolean(payload: dict[str, Any], key: str) -> bool | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadInput("bad_type", f"{key} must be true or false")
    return value


def number(payload: dict[str, Any], key: str, *, lo: float, hi: float) -> float | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise BadInput("bad_type", f"{key} must be a number between {lo:g} and {hi:g}")
    return float(value)


def part(payload: dict[str, Any], key: str = "part") -> int:
    """A segment number: a whole number from 0 (0 when absent)."""
    value = payload.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 100_000:
        raise BadInput("bad_type", f"{key} must be a whole number from 0 to 99999")
    return value


def room_code(payload: Any) -> str:
    """The code, sent as a bare string or as an object {roomCode} (core.wire.JoinRoom)."""
    if isinstance(payload, dict):
        only_keys(payload, wire.fields(wire.JoinRoom), "join-room")
        payload = payload.get("roomCode")
    if not isinstance(payload, str) or not ROOM_CODE.match(payload.strip()):
        raise BadInput("bad_room_code", "roomCode must be 4–12 letters or digits")
    return payload.strip().upper()
