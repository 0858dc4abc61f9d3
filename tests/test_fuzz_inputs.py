"""unit: property-based fuzzing (hypothesis) of every Socket.IO event and REST body.

In-process, no external services: one Flask app on a temporary SQLite file, driven through Flask's
and Flask-SocketIO's test clients, with no translation engine started (bad input is refused before
any engine is used). Every example checks three things: the input gets a clear error (a 4xx JSON
`{"error": {code, message}}`, or an error ack plus `speech-error` / `app-error`), nothing crashes
(no 5xx, no ack with code "internal"), and no row of any table changed.
"""
from __future__ import annotations

import json
import re
import string
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio.test_client import SocketIOTestClient
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import text as sql

from app import migrate, sockets
from app.auth import SALT
from app.extensions import socketio
from app.factory import create_app
from core.db import dispose_all, get_engine
from core.models import Base
from core.settings import Settings
from engines.languages import LANGUAGES

pytestmark = pytest.mark.unit

TABLES = ("users", "rooms", "participants", "utterances", "translations", "deliveries")
SECRET = "x"
TTL_S = 86400
MB = "x" * 1_000_000
EVENTS = ("join-room", "leave-room", "speech-transcript", "client-error")

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
    member_token: str  # a user who has joined `room_code`
    room_code: str
    lobby: SocketIOTestClient
    member: SocketIOTestClient

    def engines(self) -> list[str]:
        return list(self.app.extensions["live_translator"].registry.names())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sign_up(http: FlaskClient, name: str, lang: str) -> tuple[str, str]:
    r = http.post("/api/session", json={"displayName": name, "language": lang})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    return body["token"], body["user"]["id"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("fuzz")
    cfg = Settings(database_url=f"sqlite:///{tmp}/fuzz.db", secret_key=SECRET, token_ttl_s=TTL_S,
                   var_dir=Path(tmp))
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
                room.get_json()["code"], lobby, member)
    for client in (lobby, member):
        if client.is_connected():
            client.disconnect()
    dispose_all()


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


def test_database_oracle_covers_every_table() -> None:
    assert set(TABLES) == set(Base.metadata.tables)


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


def _not_json(json_ok: bool = True) -> st.SearchStrategy[RestCase]:
    def unparsable(data: bytes) -> bool:
        try:
            json.loads(data)
        except ValueError:
            return True
        return False

    return st.one_of(
        st.binary(max_size=40).filter(unparsable).map(Raw),
        st.builds(Raw, st.binary(max_size=40), st.sampled_from(["text/plain", "application/xml", None])),
    ).map(lambda raw: RestCase(raw, "bad_json"))


def _oversized() -> st.SearchStrategy[RestCase]:
    """JSON bodies over the 64 KiB limit (MAX_CONTENT_LENGTH)."""
    return st.builds(lambda n: RestCase(Raw(b"x" * n), "too_large"),
                     st.sampled_from([64 * 1024 + 1, 200_000, 1_000_000]))


@st.composite
def session_cases(draw: st.DrawFn) -> RestCase:
    body: dict[str, Any] = {"displayName": draw(plain), "language": draw(known_languages)}
    kind = draw(st.sampled_from(["displayName", "language", "drop", "unknown", "not_object",
                                 "not_json", "oversized"]))
    if kind == "displayName":
        body[kind], code = draw(bad_text(64, single_line=True))
    elif kind == "language":
        body[kind], code = draw(bad_language(required=True))
    elif kind == "drop":
        del body[draw(st.sampled_from(sorted(body)))]
        code = "missing_field"
    elif kind == "unknown":
        body[draw(unknown_keys({"displayName", "language"}))] = draw(json_values)
        code = "unknown_field"
    elif kind == "not_object":
        return RestCase(draw(non_dicts.filter(lambda v: v is not None)), "bad_payload")
    elif kind == "not_json":
        return draw(_not_json())
    else:
        return draw(_oversized())
    return RestCase(body, code)


@FUZZ
@given(case=session_cases())
@example(case=RestCase({"displayName": MB, "language": "en"}, "too_large"))
@example(case=RestCase({"displayName": "Ana", "language": MB}, "too_large"))
@example(case=RestCase({"displayName": "Ana", "language": "xx"}, "unsupported_language"))
def test_sign_up_with_bad_body_is_refused_and_creates_no_user(world: World, case: RestCase) -> None:
    with db_unchanged(world):
        resp = _send(world.http, "POST", "/api/session", case.body, None)
    _assert_refused(resp, case.status, case.code)


VALID_PREFS: dict[str, st.SearchStrategy[Any]] = {
    "displayName": plain, "language": known_languages, "translationEngine": st.just("local"),
    "ttsEnabled": st.booleans(), "voice": st.none() | plain,
    "soloTargetLang": st.none() | known_languages,
}
BAD_PREFS: dict[str, st.SearchStrategy[Any]] = {
    "displayName": bad_text(64, single_line=True),
    "language": bad_language(required=True),
    "translationEngine": st.one_of(
        bad_text(32, single_line=True),
        plain.filter(lambda s: s.strip() != "local").map(lambda v: (v, "unknown_engine"))),
    "ttsEnabled": _bad_type(st.one_of(st.none(), st.integers(), st.text(max_size=5),
                                      st.floats(allow_nan=False), st.lists(st.booleans(), max_size=2))),
    "voice": bad_text(64, single_line=True, required=False),
    "soloTargetLang": bad_language(required=False),
}


@st.composite
def preference_cases(draw: st.DrawFn) -> RestCase:
    """A body of valid changes plus one bad one: the valid ones must not be applied either."""
    body = draw(st.fixed_dictionaries({}, optional=VALID_PREFS))
    kind = draw(st.sampled_from([*BAD_PREFS, "unknown", "not_object", "not_json", "oversized"]))
    if kind in BAD_PREFS:
        body[kind], code = draw(BAD_PREFS[kind])
    elif kind == "unknown":
        body[draw(unknown_keys(set(VALID_PREFS)))] = draw(json_values)
        code = "unknown_field"
    elif kind == "not_object":
        return RestCase(draw(non_dicts.filter(lambda v: v is not None)), "bad_payload")
    elif kind == "not_json":
        return draw(_not_json())
    else:
        return draw(_oversized())
    return RestCase(body, code)


@FUZZ
@given(case=preference_cases())
@example(case=RestCase({"displayName": "Ana", "voice": MB}, "too_large"))
@example(case=RestCase({"language": "de", "soloTargetLang": "tlh"}, "unsupported_language"))
@example(case=RestCase({"ttsEnabled": True, "translationEngine": "babelfish"}, "unknown_engine"))
def test_preferences_with_any_bad_field_are_refused_and_none_applied(world: World, case: RestCase) -> None:
    with db_unchanged(world):
        resp = _send(world.http, "PATCH", "/api/me", case.body, world.lobby_token)
    _assert_refused(resp, case.status, case.code)


def _normal(lang: str) -> str:
    return re.split("[-_]", lang, maxsplit=1)[0].lower()


@FEW
@given(name=plain, lang=known_languages, prefs=st.fixed_dictionaries({}, optional=VALID_PREFS))
def test_well_formed_sign_up_and_preferences_are_accepted(world: World, name: str, lang: str,
                                                          prefs: dict[str, Any]) -> None:
    """Control for the mutations above: the bodies they start from are accepted as they are."""
    users = len(_snapshot(world.url)["users"])
    signed = world.http.post("/api/session", json={"displayName": name, "language": lang})
    assert signed.status_code == 201, signed.get_json()
    assert signed.get_json()["user"]["language"] == _normal(lang)
    assert len(_snapshot(world.url)["users"]) == users + 1
    patched = world.http.patch("/api/me", json=prefs, headers=_bearer(signed.get_json()["token"]))
    assert patched.status_code == 200, patched.get_json()
    got = patched.get_json()["preferences"]
    for key, value in prefs.items():
        if key == "displayName":
            assert patched.get_json()["user"]["displayName"] == value.strip()
        elif key in ("language", "soloTargetLang") and value is not None:
            assert got[key] == _normal(value)
        else:
            assert got[key] == (value.strip() if isinstance(value, str) else value)


@pytest.mark.parametrize("body", [None, Raw(b"{}"), Raw(b"  \n"), Raw(b"", "text/plain")],
                         ids=["no-body", "empty-object", "blank", "empty-text"])
def test_room_creation_without_fields_is_accepted_and_joinable_by_object(world: World, body: Any) -> None:
    token, _ = _sign_up(world.http, "Host", "fr")
    if body is None:
        resp = world.http.post("/api/rooms", headers=_bearer(token))
    else:
        resp = _send(world.http, "POST", "/api/rooms", body, token)
    assert resp.status_code == 201, resp.get_json()
    client = socketio.test_client(world.app, auth={"token": token})
    try:
        ack = client.emit("join-room", {"roomCode": resp.get_json()["code"].lower()}, callback=True)
        assert ack["ok"] and ack["code"] == resp.get_json()["code"], ack
    finally:
        client.disconnect()


room_cases = st.one_of(
    st.dictionaries(st.text(max_size=8), json_values, min_size=1).map(
        lambda d: RestCase(d, "unknown_field")),
    non_dicts.filter(lambda v: v is not None).map(lambda v: RestCase(v, "unknown_field")),
    _not_json().filter(lambda c: c.body.data.strip() != b""),
    _oversized(),
)


@FUZZ
@given(case=room_cases)
@example(case=RestCase(Raw(b"garbage"), "bad_json"))
@example(case=RestCase(Raw(b"{}", "text/plain"), "bad_json"))
@example(case=RestCase(Raw(MB.encode(), "text/plain"), "too_large"))
def test_room_creation_with_a_body_is_refused_and_creates_no_room(world: World, case: RestCase) -> None:
    with db_unchanged(world):
        resp = _send(world.http, "POST", "/api/rooms", case.body, world.lobby_token)
    _assert_refused(resp, case.status, case.code)


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


def test_forged_tokens_are_built_like_real_ones(world: World) -> None:
    """Control for the token fuzzing: a fresh hand-made token works, the same one backdated is
    refused as expired, not as malformed."""
    fresh = world.http.get("/api/me", headers=_bearer(_token(SECRET, world.lobby_id)))
    assert fresh.status_code == 200, fresh.get_json()
    client = socketio.test_client(world.app, auth={"token": _token(SECRET, world.lobby_id)})
    assert client.is_connected()
    client.disconnect()
    stale = world.http.get("/api/me", headers=_bearer(_token(SECRET, world.lobby_id, age_s=TTL_S + 60)))
    _assert_refused(stale, 401, "token_expired")


ascii_junk = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


@FUZZ
@given(kind=st.sampled_from(BAD_TOKENS), junk=ascii_junk, pick=st.integers(0, 10**6),
       route=st.sampled_from([("GET", "/api/me", None), ("PATCH", "/api/me", {"language": "fr"}),
                              ("POST", "/api/rooms", None)]),
       scheme=st.sampled_from(["Bearer ", "bearer ", "Token ", "", None]))
def test_rest_calls_without_a_valid_token_are_refused_401(world: World, kind: str, junk: str, pick: int,
                                                          route: tuple[str, str, Any],
                                                          scheme: str | None) -> None:
    method, path, body = route
    token = _bad_token(world, kind, junk, pick)
    headers = {} if scheme is None else {"Authorization": f"{scheme}{token}"}
    code = "token_expired" if scheme == "Bearer " and kind == "expired" else "unauthorized"
    with db_unchanged(world):
        resp = world.http.open(path, method=method, headers=headers, json=body)
    _assert_refused(resp, 401, code)


# A number cannot be a CONNECT payload on the wire (it would be read as the packet id), so the
# non-object auth shapes are the ones a client can actually send.
auth_shapes = st.one_of(st.booleans(), st.text(max_size=20), st.lists(st.integers(), max_size=3))


@FUZZ
@given(kind=st.sampled_from([*BAD_TOKENS, "no_auth", "auth_not_object", "no_token_field"]),
       junk=ascii_junk, pick=st.integers(0, 10**6), shape=auth_shapes)
def test_socket_connect_without_a_valid_token_is_refused(world: World, kind: str, junk: str, pick: int,
                                                         shape: Any) -> None:
    if kind == "no_auth":
        auth: Any = None
    elif kind == "auth_not_object":
        auth = shape
    elif kind == "no_token_field":
        auth = {"session": world.lobby_token}
    else:
        auth = {"token": _bad_token(world, kind, junk, pick)}
    known = dict(sockets.clients)
    with db_unchanged(world):
        client = socketio.test_client(world.app, auth=auth)
    assert not client.is_connected(), f"connected with {kind}"
    assert sockets.clients == known


# ---------------------------------------------------------------------------------------------
# Socket.IO events


@dataclass(frozen=True)
class Emit:
    args: tuple[Any, ...]
    code: str


def _emit(client: SocketIOTestClient, event: str, args: tuple[Any, ...]) -> tuple[Any, list[Any]]:
    client.get_received()
    ack = client.emit(event, *args, callback=True)
    return ack, [(e["name"], e["args"]) for e in client.get_received()]


def _assert_rejected(client: SocketIOTestClient, event: str, args: tuple[Any, ...]) -> dict[str, str]:
    """Bad input: an error ack and exactly one error event saying the same; returns the error."""
    ack, events = _emit(client, event, args)
    assert isinstance(ack, dict) and ack.get("ok") is False, f"{event} took bad input: {ack!r}"[:400]
    assert set(ack) == {"ok", "error"}, ack
    err = ack["error"]
    _assert_clear(err)
    if event == "speech-transcript":
        assert events == [("speech-error", [err["message"]])], events
    else:
        assert events == [("app-error", [{"event": event, **err}])], events
    return err


def _arity(draw: st.DrawFn, payload: Any) -> Emit | None:
    """Sometimes: no payload at all, or a payload followed by extra arguments."""
    shape = draw(st.sampled_from(["one"] * 8 + ["none", "extra"]))
    if shape == "none":
        return Emit((), "bad_payload")
    if shape == "extra":
        return Emit((payload, *draw(st.lists(json_values, min_size=1, max_size=2))), "bad_payload")
    return None


def _well_formed_code(s: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9]{4,12}", s.strip()) is not None


well_formed_codes = st.builds(lambda pad, code, end: pad + code + end, st.sampled_from(["", " ", "\t"]),
                              st.from_regex(r"\A[A-Za-z0-9]{4,12}\Z"), st.sampled_from(["", " ", "\n"]))
malformed_codes = st.one_of(
    st.from_regex(r"\A[A-Za-z0-9]{0,3}\Z"), st.from_regex(r"\A[A-Za-z0-9]{13,20}\Z"),
    st.from_regex(r"\A[A-Za-z0-9]{2,5}[-_ .!é][A-Za-z0-9]{2,5}\Z"), st.text(max_size=20),
).filter(lambda s: not _well_formed_code(s))


@st.composite
def join_room_cases(draw: st.DrawFn) -> Emit:
    kind = draw(st.sampled_from(["not_text", "malformed", "malformed_in_object", "empty_object",
                                 "unknown_field", "no_such_room", "no_such_room_in_object", "arity"]))
    if kind == "not_text":
        return Emit((draw(non_dicts.filter(lambda v: not isinstance(v, str))),), "bad_room_code")
    if kind == "malformed":
        return Emit((draw(malformed_codes),), "bad_room_code")
    if kind == "malformed_in_object":
        bad = draw(malformed_codes | non_dicts.filter(lambda v: not isinstance(v, str)))
        return Emit(({"roomCode": bad},), "bad_room_code")
    if kind == "empty_object":
        return Emit(({},), "bad_room_code")
    if kind == "unknown_field":
        extra = draw(st.dictionaries(unknown_keys({"roomCode"}), json_values, min_size=1, max_size=3))
        return Emit(({"roomCode": draw(well_formed_codes), **extra},), "unknown_field")
    code = draw(well_formed_codes)
    if kind == "no_such_room":
        return Emit((code,), "room_not_found")
    if kind == "no_such_room_in_object":
        return Emit(({"roomCode": code},), "room_not_found")
    if draw(st.booleans()):
        return Emit((code, *draw(st.lists(json_values, min_size=1, max_size=2))), "bad_payload")
    return Emit((), "bad_room_code")


def _codes_in(args: tuple[Any, ...]) -> list[str]:
    payload = args[0] if args else None
    if isinstance(payload, dict):
        payload = payload.get("roomCode")
    return [payload.strip().upper()] if isinstance(payload, str) else []


@FUZZ
@given(case=join_room_cases())
@example(case=Emit((MB,), "bad_room_code"))
@example(case=Emit(({"roomCode": MB},), "bad_room_code"))
@example(case=Emit(("ABCDEF", "extra"), "bad_payload"))
def test_join_room_with_bad_payload_is_refused_and_joins_nothing(world: World, case: Emit) -> None:
    assume(world.room_code not in _codes_in(case.args))
    with db_unchanged(world):
        err = _assert_rejected(world.lobby, "join-room", case.args)
    assert err["code"] == case.code, (err, case.args)


@FEW
@given(extra=st.dictionaries(unknown_keys({"roomCode"}), json_values, min_size=1, max_size=3))
def test_join_room_with_unknown_fields_is_refused_even_for_an_open_room(world: World,
                                                                       extra: dict[str, Any]) -> None:
    with db_unchanged(world):
        err = _assert_rejected(world.lobby, "join-room", ({"roomCode": world.room_code, **extra},))
    assert err["code"] == "unknown_field"


@FEW
@given(args=st.lists(json_values, max_size=3))
@example(args=[MB])
def test_leave_room_outside_any_room_is_refused_not_in_room(world: World, args: list[Any]) -> None:
    with db_unchanged(world):
        err = _assert_rejected(world.lobby, "leave-room", tuple(args))
    assert err["code"] == "not_in_room"


SPEECH_FIELDS = {"transcript", "sourceLang", "soloMode", "soloTargetLang", "clientId", "speechEndAt"}
speech_times = st.one_of(st.integers(0, 10**14), st.floats(0, 1e14))
bad_times = st.one_of(
    st.booleans(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
    st.integers(max_value=-1), st.integers(min_value=10**14 + 1),
    st.floats(max_value=-1e-9), st.floats(min_value=1e14, exclude_min=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]))


@st.composite
def speech_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Valid room-mode transcripts (their only fault, for a client in no room: no room)."""
    body = {"transcript": draw(prose), "sourceLang": draw(known_languages)}
    body.update(draw(st.fixed_dictionaries({}, optional={
        "soloMode": st.just(False), "soloTargetLang": known_languages, "clientId": plain,
        "speechEndAt": speech_times})))
    return body


BAD_SPEECH: dict[str, st.SearchStrategy[Any]] = {
    "transcript": bad_text(2000, single_line=False),
    "sourceLang": bad_language(required=True),
    "soloMode": _bad_type(st.one_of(st.integers(), st.text(max_size=5), st.floats(allow_nan=False),
                                    st.lists(st.booleans(), max_size=2))),
    "soloTargetLang": bad_language(required=False),
    "clientId": bad_text(64, single_line=True, required=False),
    "speechEndAt": _bad_type(bad_times),
}


@st.composite
def speech_cases(draw: st.DrawFn) -> Emit:
    body = draw(speech_bodies())
    odd = _arity(draw, body)
    if odd is not None:
        return odd
    kind = draw(st.sampled_from([*BAD_SPEECH, "drop", "unknown", "not_object", "solo_without_target"]))
    if kind in BAD_SPEECH:
        body[kind], code = draw(BAD_SPEECH[kind])
    elif kind == "drop":
        del body[draw(st.sampled_from(["transcript", "sourceLang"]))]
        code = "missing_field"
    elif kind == "unknown":
        body[draw(unknown_keys(SPEECH_FIELDS))] = draw(json_values)
        code = "unknown_field"
    elif kind == "not_object":
        return Emit((draw(non_dicts),), "bad_payload")
    else:
        body["soloMode"] = True
        body.pop("soloTargetLang", None)
        code = "missing_field"
    return Emit((body,), code)


@FUZZ
@given(case=speech_cases(), who=st.sampled_from(["lobby", "member"]))
@example(case=Emit(({"transcript": MB, "sourceLang": "en"},), "too_long"), who="member")
@example(case=Emit(({"transcript": "hola", "sourceLang": MB},), "unsupported_language"), who="member")
@example(case=Emit(({"transcript": "hola", "sourceLang": "es", "clientId": MB},), "too_long"), who="member")
@example(case=Emit((MB,), "bad_payload"), who="member")
@example(case=Emit(({"transcript": "hi", "sourceLang": "en", "soloMode": True, "soloTargetLang": "xx"},),
                   "unsupported_language"), who="lobby")
def test_speech_transcript_with_a_bad_field_gets_speech_error_and_stores_nothing(
        world: World, case: Emit, who: str) -> None:
    client = world.lobby if who == "lobby" else world.member
    with db_unchanged(world):
        err = _assert_rejected(client, "speech-transcript", case.args)
    assert err["code"] == case.code, (err, case.args)


@FUZZ
@given(body=speech_bodies())
def test_speech_from_a_client_in_no_room_is_refused_not_in_room_and_nothing_stored(
        world: World, body: dict[str, Any]) -> None:
    with db_unchanged(world):
        err = _assert_rejected(world.lobby, "speech-transcript", (body,))
    assert err["code"] == "not_in_room"


CLIENT_ERROR_FIELDS = {"code", "message", "details"}
BAD_CLIENT_ERROR: dict[str, st.SearchStrategy[Any]] = {
    "code": bad_text(64, single_line=True),
    "message": bad_text(2000, single_line=False),
    "details": st.one_of(
        _bad_type(st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False),
                            st.lists(st.integers(), max_size=3))),
        _over(7999).map(lambda v: (v, "too_long")),
        _over(7999).map(lambda v: ({"trace": v}, "too_long"))),
}


@st.composite
def client_error_cases(draw: st.DrawFn) -> Emit:
    body = {"code": draw(plain), "message": draw(prose)}
    body.update(draw(st.fixed_dictionaries({}, optional={
        "details": st.dictionaries(st.text(max_size=8), json_values, max_size=3) | prose})))
    odd = _arity(draw, body)
    if odd is not None:
        return odd
    kind = draw(st.sampled_from([*BAD_CLIENT_ERROR, "drop", "unknown", "not_object"]))
    if kind in BAD_CLIENT_ERROR:
        body[kind], code = draw(BAD_CLIENT_ERROR[kind])
    elif kind == "drop":
        del body[draw(st.sampled_from(["code", "message"]))]
        code = "missing_field"
    elif kind == "unknown":
        body[draw(unknown_keys(CLIENT_ERROR_FIELDS))] = draw(json_values)
        code = "unknown_field"
    else:
        return Emit((draw(non_dicts),), "bad_payload")
    return Emit((body,), code)


@FUZZ
@given(case=client_error_cases())
@example(case=Emit(({"code": "mic", "message": MB},), "too_long"))
@example(case=Emit(({"code": MB, "message": "boom"},), "too_long"))
@example(case=Emit(({"code": "mic", "message": "boom", "details": MB},), "too_long"))
def test_client_error_with_a_bad_field_is_refused(world: World, case: Emit) -> None:
    with db_unchanged(world):
        err = _assert_rejected(world.lobby, "client-error", case.args)
    assert err["code"] == case.code, (err, case.args)


def _valid_text(value: Any, max_len: int, single_line: bool) -> bool:
    if not isinstance(value, str) or len(value) > max_len:
        return False
    s = value.strip()
    return bool(s) and "\x00" not in s and not (
        single_line and any(unicodedata.category(c) == "Cc" for c in s))


def _client_error_ok(args: tuple[Any, ...]) -> bool:
    """The oracle: what a well-formed client-error report is."""
    if len(args) != 1 or not isinstance(args[0], dict):
        return False
    p = args[0]
    details = p.get("details")
    return (set(p) <= CLIENT_ERROR_FIELDS and _valid_text(p.get("code"), 64, True)
            and _valid_text(p.get("message"), 2000, False)
            and (details is None or (isinstance(details, dict | str) and len(repr(details)) <= 8000)))


def _answered_cleanly(client: SocketIOTestClient, event_name: str, args: tuple[Any, ...],
                      accepted: Callable[[tuple[Any, ...]], bool]) -> None:
    ack, events = _emit(client, event_name, args)
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
    event("accepted" if accepted(args) else "refused")  # hypothesis statistics
    if accepted(args):
        assert ack == {"ok": True} and events == [], (ack, events)
        return
    assert ack["ok"] is False, f"{event_name} took bad input {args!r}"[:400]
    _assert_clear(ack["error"])
    name = "speech-error" if event_name == "speech-transcript" else "app-error"
    assert [n for n, _ in events] == [name], events


client_error_keys = st.sampled_from(sorted(CLIENT_ERROR_FIELDS)) | st.text(max_size=6)
client_error_values = st.one_of(plain, prose, st.sampled_from(["", " ", "a\x00b", "a\nb"]), json_values)


@FUZZ
@given(args=st.one_of(
    st.dictionaries(client_error_keys, client_error_values, max_size=4).map(lambda d: (d,)),
    st.lists(json_values, max_size=3).map(tuple)))
def test_client_error_of_any_shape_is_answered_and_touches_no_table(world: World,
                                                                   args: tuple[Any, ...]) -> None:
    with db_unchanged(world):
        _answered_cleanly(world.lobby, "client-error", args, _client_error_ok)


def _would_store(event: str, args: tuple[Any, ...]) -> bool:
    """Inputs that are legitimately allowed to write: solo transcripts, joining the open room."""
    payload = args[0] if args else None
    if event == "speech-transcript":
        return isinstance(payload, dict) and payload.get("soloMode") is True
    return False


@FUZZ
@given(event=st.sampled_from(EVENTS),
       args=st.lists(st.one_of(json_values, st.dictionaries(
           st.sampled_from(sorted(SPEECH_FIELDS | CLIENT_ERROR_FIELDS | {"roomCode"})), json_values,
           max_size=4)), max_size=3).map(tuple))
@example(event="join-room", args=(MB,))
@example(event="speech-transcript", args=(MB, MB))
@example(event="client-error", args=({"code": MB, "message": MB, "details": MB},))
def test_any_payload_to_any_event_never_crashes_or_touches_the_database(
        world: World, event: str, args: tuple[Any, ...]) -> None:
    assume(not _would_store(event, args))
    assume(world.room_code not in _codes_in(args))
    with db_unchanged(world):
        _answered_cleanly(world.lobby, event, args,
                          lambda a: event == "client-error" and _client_error_ok(a))
