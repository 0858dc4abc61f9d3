"""unit: property-based fuzzing (hypothesis) of every REST body and of REST authentication.

Every example checks three things: the input gets a clear error (a 4xx JSON
`{"error": {code, message}}`), nothing crashes (no 5xx), and no row of any table changed.
"""
from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.extensions import socketio
from core.models import Base
from tests.fuzz.common import (
    BAD_TOKENS,
    FEW,
    FUZZ,
    MB,
    SECRET,
    TABLES,
    TTL_S,
    Raw,
    RestCase,
    World,
    _assert_refused,
    _bad_token,
    _bad_type,
    _bearer,
    _send,
    _sign_up,
    _snapshot,
    _token,
    ascii_junk,
    bad_language,
    bad_text,
    db_unchanged,
    json_values,
    known_languages,
    non_dicts,
    plain,
    unknown_keys,
    unparsable,
)

pytestmark = pytest.mark.unit


def test_database_oracle_covers_every_table() -> None:
    assert set(TABLES) == set(Base.metadata.tables)


def _shape_case(draw: st.DrawFn, kind: str, body: dict[str, Any], known: set[str]) -> RestCase:
    """A body of the wrong shape: an unknown field, not an object, not JSON, or too large."""
    if kind == "unknown":
        body[draw(unknown_keys(known))] = draw(json_values)
        return RestCase(body, "unknown_field")
    if kind == "not_object":
        return RestCase(draw(non_dicts.filter(lambda v: v is not None)), "bad_payload")
    if kind == "not_json":
        return draw(_not_json())
    return draw(_oversized())


def _not_json(json_ok: bool = True) -> st.SearchStrategy[RestCase]:

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
    else:
        return _shape_case(draw, kind, body, {"displayName", "language"})
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


def _bad_engine() -> st.SearchStrategy[Any]:
    """A bad engine name: not text, a name nobody registered, or a premium one without its key
    (the fuzzed app has no XAI_API_KEY)."""
    return st.one_of(
        bad_text(32, single_line=True),
        plain.filter(lambda s: s.strip() not in ("local", "espeak", "grok")).map(
            lambda v: (v, "unknown_engine")),
        st.just(("grok", "engine_unavailable")))


VALID_PREFS: dict[str, st.SearchStrategy[Any]] = {
    "displayName": plain, "language": known_languages, "translationEngine": st.just("local"),
    "sttEngine": st.just("local"), "ttsEngine": st.sampled_from(["local", "espeak"]),
    "ttsEnabled": st.booleans(), "voice": st.none() | plain,
    "soloTargetLang": st.none() | known_languages,
}
BAD_PREFS: dict[str, st.SearchStrategy[Any]] = {
    "displayName": bad_text(64, single_line=True),
    "language": bad_language(required=True),
    "translationEngine": _bad_engine(),
    "sttEngine": _bad_engine(),
    "ttsEngine": _bad_engine(),
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
    else:
        return _shape_case(draw, kind, body, set(VALID_PREFS))
    return RestCase(body, code)


@FUZZ
@given(case=preference_cases())
@example(case=RestCase({"displayName": "Ana", "voice": MB}, "too_large"))
@example(case=RestCase({"language": "de", "soloTargetLang": "tlh"}, "unsupported_language"))
@example(case=RestCase({"ttsEnabled": True, "translationEngine": "babelfish"}, "unknown_engine"))
@example(case=RestCase({"language": "fr", "sttEngine": "grok"}, "engine_unavailable"))
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


@st.composite
def glossary_cases(draw: st.DrawFn) -> RestCase:
    """A glossary body with one thing wrong: nothing of it may be applied."""
    body: dict[str, Any] = {"terms": draw(st.lists(plain, max_size=4))}
    kind = draw(st.sampled_from(["terms", "term", "too_many", "unknown", "not_object", "not_json",
                                 "oversized"]))
    if kind == "terms":
        body["terms"] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=5),
                                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
        return RestCase(body, "bad_type")
    if kind == "term":
        bad, code = draw(bad_text(50, single_line=True))
        body["terms"].insert(draw(st.integers(0, len(body["terms"]))), bad)
        return RestCase(body, code)
    if kind == "too_many":
        return RestCase({"terms": [f"term {i}" for i in range(101)]}, "too_many")
    return _shape_case(draw, kind, body, {"terms"})


@FUZZ
@given(case=glossary_cases())
@example(case=RestCase({"terms": ["ok", "x" * 51]}, "too_long"))
@example(case=RestCase({"terms": ["a\nb"]}, "bad_characters"))
def test_a_bad_glossary_is_refused_and_changes_nothing(world: World, case: RestCase) -> None:
    with db_unchanged(world):
        resp = _send(world.http, "PUT", f"/api/rooms/{world.room_id}/glossary", case.body,
                     world.member_token)
    _assert_refused(resp, case.status, case.code)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/rooms/{room}/glossary", None), ("PUT", "/api/rooms/{room}/glossary", {"terms": ["x"]}),
    ("GET", "/api/rooms/{room}/usage", None)])
def test_room_glossary_and_usage_are_for_members_only(world: World, method: str, path: str,
                                                      body: Any) -> None:
    """Someone who never joined gets 403; an unknown room 404; no token 401; nothing changes."""
    with db_unchanged(world):
        outsider = _send(world.http, method, path.format(room=world.room_id), body, world.lobby_token)
        unknown = _send(world.http, method, path.format(room="0" * 32), body, world.member_token)
        anonymous = world.http.open(path.format(room=world.room_id), method=method, json=body)
    _assert_refused(outsider, 403, "not_in_room")
    _assert_refused(unknown, 404, "room_not_found")
    _assert_refused(anonymous, 401, "unauthorized")


def test_only_the_rooms_creator_sets_its_glossary(world: World) -> None:
    """Control and the owner rule: a member who did not create the room is refused; the creator's
    well-formed glossary is accepted, trimmed and de-duplicated."""
    token, _ = _sign_up(world.http, "Guest", "fr")
    guest = socketio.test_client(world.app, auth={"token": token})
    try:
        assert guest.emit("join-room", world.room_code, callback=True)["ok"]
        with db_unchanged(world):
            resp = _send(world.http, "PUT", f"/api/rooms/{world.room_id}/glossary", {"terms": ["a"]}, token)
        _assert_refused(resp, 403, "not_room_owner")
        ok = _send(world.http, "PUT", f"/api/rooms/{world.room_id}/glossary",
                   {"terms": [" LiveKit ", "livekit", "Grok"]}, world.member_token)
        assert ok.status_code == 200 and ok.get_json()["terms"] == ["LiveKit", "Grok"]
        seen = _send(world.http, "GET", f"/api/rooms/{world.room_id}/glossary", None, token)
        assert seen.get_json() == {"roomId": world.room_id, "terms": ["LiveKit", "Grok"], "canEdit": False}
    finally:
        _send(world.http, "PUT", f"/api/rooms/{world.room_id}/glossary", {"terms": []}, world.member_token)
        guest.disconnect()
