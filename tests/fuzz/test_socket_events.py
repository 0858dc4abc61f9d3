"""unit: property-based fuzzing (hypothesis) of the Socket.IO handshake and every event.

Every example checks three things: the input gets a clear error (an error ack plus
`speech-error` / `app-error`, whichever core.wire says), nothing crashes (no ack with code
"internal"), and no row of any table changed. The events and their fields come from core.wire,
so every registered handler is fuzzed.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask_socketio.test_client import SocketIOTestClient
from hypothesis import assume, event, example, given
from hypothesis import strategies as st

from app.clients import clients
from app.extensions import socketio
from core import wire
from tests.fuzz.common import (
    BAD_TOKENS,
    EVENTS,
    FEW,
    FUZZ,
    MB,
    World,
    _assert_clear,
    _bad_token,
    _bad_type,
    _over,
    ascii_junk,
    bad_language,
    bad_text,
    db_unchanged,
    json_values,
    known_languages,
    non_dicts,
    plain,
    prose,
    unknown_keys,
)

pytestmark = pytest.mark.unit


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
    known = clients.snapshot()
    with db_unchanged(world):
        client = socketio.test_client(world.app, auth=auth)
    assert not client.is_connected(), f"connected with {kind}"
    assert clients.snapshot() == known


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
    if wire.CLIENT_EVENTS[event].error_event == wire.SPEECH_ERROR:
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


SPEECH_FIELDS = wire.fields(wire.SpeechTranscript)
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


CLIENT_ERROR_FIELDS = wire.fields(wire.ClientError)
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


RESULT_FIELDS = {"ping": wire.fields(wire.PingResult)}  # what an accepted event's ack carries


def _answered_cleanly(client: SocketIOTestClient, event_name: str, args: tuple[Any, ...],
                      accepted: Callable[[tuple[Any, ...]], bool]) -> None:
    ack, events = _emit(client, event_name, args)
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
    event("accepted" if accepted(args) else "refused")  # hypothesis statistics
    if accepted(args):
        assert ack["ok"] is True and events == [], (ack, events)
        assert set(ack) == {"ok", *RESULT_FIELDS.get(event_name, ())}, ack
        return
    assert ack["ok"] is False, f"{event_name} took bad input {args!r}"[:400]
    _assert_clear(ack["error"])
    assert [n for n, _ in events] == [wire.CLIENT_EVENTS[event_name].error_event], events


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
    """Inputs that are legitimately allowed to act: solo transcripts (stored) and solo speech
    sessions (started) need no room; joining the open room is left out by its code."""
    payload = args[0] if args else None
    if event in ("speech-transcript", "start-speech"):
        return isinstance(payload, dict) and payload.get("soloMode") is True
    return False


def _accepted(event: str, args: tuple[Any, ...]) -> bool:
    """The oracle for a client in no room: what any event of the contract takes from it."""
    if event == "client-error":
        return _client_error_ok(args)
    return event == "ping" and len(args) <= 1  # a probe takes anything, and at most one argument


# Every field any event's payload has (core.wire), and any value for it.
ALL_FIELDS = sorted(set().union(*(e.fields for e in wire.CLIENT_EVENTS.values())))


@FUZZ
@given(event=st.sampled_from(EVENTS),
       args=st.lists(st.one_of(json_values, st.dictionaries(
           st.sampled_from(ALL_FIELDS), json_values, max_size=4)), max_size=3).map(tuple))
@example(event="join-room", args=(MB,))
@example(event="speech-transcript", args=(MB, MB))
@example(event="client-error", args=({"code": MB, "message": MB, "details": MB},))
@example(event="start-speech", args=({"languageCode": "en", "sampleRateHertz": MB},))
@example(event="speech-data", args=(MB,))
@example(event="start-voice-session", args=({"listenOnly": True},))
@example(event="ping", args=(MB,))
def test_any_payload_to_any_event_never_crashes_or_touches_the_database(
        world: World, event: str, args: tuple[Any, ...]) -> None:
    assume(not _would_store(event, args))
    assume(world.room_code not in _codes_in(args))
    with db_unchanged(world):
        _answered_cleanly(world.lobby, event, args, lambda a: _accepted(event, a))
