"""What the fuzz suites share: an in-process app on a temporary SQLite file (driven through
Flask's and Flask-SocketIO's test clients, no translation engine started: bad input is refused
before any engine is used), the database oracle (every row of every table, before and after),
value strategies for each kind of field, the shape of a clear error, and forged tokens.
"""
from __future__ import annotations

import json
import re
import string
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_socketio.test_client import SocketIOTestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import text as sql

from app.auth import SALT
from core import wire
from core.db import get_engine
from engines.languages import LANGUAGES

TABLES = ("users", "rooms", "participants", "presence", "utterances", "translations", "deliveries",
          "usage")
SECRET = "x"
TTL_S = 86400
MB = "x" * 1_000_000
EVENTS = tuple(wire.CLIENT_EVENTS)  # every event a handler is registered for (tests/unit/test_wire.py)

FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
FEW = settings(FUZZ, max_examples=30)


# ---------------------------------------------------------------------------------------------
# The app, its users, and the database oracle


@dataclass
class World:
    app: Flask
    http: FlaskClient
    url: str
    lobby_token: str  # a user in no room
    lobby_id: str
    member_token: str  # a user who created and joined `room_code`
    room_code: str
    lobby: SocketIOTestClient
    member: SocketIOTestClient
    room_id: str = ""

    def engines(self) -> list[str]:
        return list(self.app.extensions["live_translator"].registry.names())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sign_up(http: FlaskClient, name: str, lang: str) -> tuple[str, str]:
    r = http.post("/api/session", json={"displayName": name, "language": lang})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    return body["token"], body["user"]["id"]


def _snapshot(url: str) -> dict[str, list[str]]:
    """Every row of every table (they stay small here), so an UPDATE shows as well as an INSERT."""
    with get_engine(url).connect() as conn:
        return {t: sorted(map(repr, conn.execute(sql(f"SELECT * FROM {t}")))) for t in TABLES}


@contextmanager
def db_unchanged(world: World) -> Iterator[None]:
    before = _snapshot(world.url)
    yield
    after = _snapshot(world.url)
    changed = {t: (len(before[t]), len(after[t])) for t in TABLES if before[t] != after[t]}
    assert not changed, f"bad input changed the database (rows before, after): {changed}"


# ---------------------------------------------------------------------------------------------
# Value strategies

CC = [chr(i) for i in range(0x20)] + [chr(i) for i in range(0x7F, 0xA0)]
WHITESPACE = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]

non_strings = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False),
                        st.lists(st.integers(), max_size=3),
                        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
non_dicts = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=20), st.lists(st.integers(), max_size=3))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=8)
# Valid single-line text: no control characters, not blank.
plain = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1,
                max_size=12).filter(lambda s: s.strip() != "")
# Valid free text (transcripts, messages): anything but NUL, not blank.
prose = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                min_size=1, max_size=60).filter(lambda s: s.strip() != "")


def _known_language(s: str) -> bool:
    """A language code the app supports: a known base subtag ('en', 'EN', 'pt_BR', 'es-419')."""
    return 2 <= len(s) <= 16 and re.split("[-_]", s, maxsplit=1)[0].lower() in LANGUAGES


known_languages = st.builds(lambda code, form: form(code), st.sampled_from(sorted(LANGUAGES)),
                            st.sampled_from([str, str.upper, lambda c: c + "-US", lambda c: c + "_BR"]))
unknown_languages = st.one_of(
    st.sampled_from(["", "x", "xx", "zz-ZZ", "klingon", "english", "-en", " en", "en-US-x-long-tag-1"]),
    st.from_regex(r"\A[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})?\Z"),
    st.text(max_size=20),
).filter(lambda s: not _known_language(s))


def _over(max_len: int) -> st.SearchStrategy[str]:
    """Strings just over max_len characters, built by repetition so hypothesis stays quick."""
    return st.builds(lambda s, extra: (s * (max_len + extra))[: max_len + extra],
                     st.text(min_size=1, max_size=8), st.integers(1, 64))


def bad_text(max_len: int, *, single_line: bool, required: bool = True) -> st.SearchStrategy[Any]:
    """(value, expected code) pairs a text field of at most max_len characters must refuse."""
    forbidden = ["\x00"] + (CC if single_line else [])
    cases = [
        non_strings.map(lambda v: (v, "bad_type")),
        _over(max_len).map(lambda v: (v, "too_long")),
        st.text(st.sampled_from(WHITESPACE), max_size=10).map(lambda v: (v, "empty_field")),
        st.tuples(plain, st.sampled_from(forbidden), plain).map(lambda t: ("".join(t), "bad_characters")),
    ]
    if required:
        cases.append(st.just((None, "missing_field")))
    return st.one_of(*cases)


def bad_language(*, required: bool) -> st.SearchStrategy[Any]:
    cases = [non_strings.map(lambda v: (v, "bad_type")),
             unknown_languages.map(lambda v: (v, "unsupported_language"))]
    if required:
        cases.append(st.just((None, "missing_field")))
    return st.one_of(*cases)


def _bad_type(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values.map(lambda v: (v, "bad_type"))


def unparsable(data: bytes) -> bool:
    """Bytes that are not JSON."""
    try:
        json.loads(data)
    except ValueError:
        return True
    return False


def unknown_keys(known: set[str]) -> st.SearchStrategy[str]:
    return st.text(max_size=12).filter(lambda k: k not in known)


# ---------------------------------------------------------------------------------------------
# REST


@dataclass(frozen=True)
class Raw:
    """A body sent as bytes with a Content-Type (or none)."""

    data: bytes
    content_type: str | None = "application/json"

    def __repr__(self) -> str:
        head = self.data if len(self.data) <= 60 else self.data[:40] + b"...%d bytes" % len(self.data)
        return f"Raw({head!r}, {self.content_type!r})"


@dataclass(frozen=True)
class RestCase:
    body: Any  # a JSON value, or Raw
    code: str

    @property
    def status(self) -> int:
        return 413 if self.code in ("too_long", "too_large") else 400


def _send(http: FlaskClient, method: str, path: str, body: Any, token: str | None) -> Any:
    headers = _bearer(token) if token else {}
    if isinstance(body, Raw):
        return http.open(path, method=method, data=body.data, content_type=body.content_type,
                         headers=headers)
    return http.open(path, method=method, data=json.dumps(body), content_type="application/json",
                     headers=headers)


def _assert_clear(err: Any) -> None:
    assert isinstance(err, dict) and set(err) == {"code", "message"}, err
    assert isinstance(err["code"], str) and re.fullmatch(r"[a-z_]+", err["code"]), err
    assert err["code"] != "internal", err
    assert isinstance(err["message"], str) and 0 < len(err["message"]) <= 300, err


def _assert_refused(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, (resp.status_code, resp.get_data()[:300])
    body = resp.get_json(silent=True)
    assert isinstance(body, dict) and set(body) == {"error"}, resp.get_data()[:300]
    _assert_clear(body["error"])
    assert body["error"]["code"] == code, body


# ---------------------------------------------------------------------------------------------
# Tokens, for REST and for the Socket.IO handshake


class _Backdated(TimestampSigner):
    age_s = 0

    def get_timestamp(self) -> int:
        return int(time.time()) - self.age_s


def _token(secret: str, uid: str, age_s: int = 0) -> str:
    """A session token as app.auth.Tokens makes it, signed `age_s` seconds ago.

    (Tokens' ttl only matters when verifying, so an expired token has to be backdated.)
    """
    signer = type("Signer", (_Backdated,), {"age_s": age_s})
    return URLSafeTimedSerializer(secret, salt=SALT, signer=signer).dumps({"uid": uid})


BASE64 = string.ascii_letters + string.digits + "-_"


def _tampered(token: str, pick: int) -> str:
    """One character changed inside a segment (never the last one, whose low bits may be unused)."""
    spots = [i for i, c in enumerate(token) if c != "." and i + 1 < len(token) and token[i + 1] != "."]
    i = spots[pick % len(spots)]
    c = BASE64[(BASE64.index(token[i]) + 1 + pick % 63) % 64]
    return token[:i] + c + token[i + 1:]


BAD_TOKENS = ("garbage", "tampered", "other_secret", "expired", "unknown_user", "huge", "empty",
              "not_text")


def _bad_token(world: World, kind: str, junk: str, pick: int) -> Any:
    return {
        "garbage": junk,
        "tampered": _tampered(world.lobby_token, pick),
        "other_secret": _token(SECRET + "!", world.lobby_id),
        "expired": _token(SECRET, world.lobby_id, age_s=TTL_S + 60 + pick % 10_000),
        "unknown_user": _token(SECRET, "no-such-user"),
        "huge": MB,
        "empty": "",
        "not_text": pick,
    }[kind]


ascii_junk = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
