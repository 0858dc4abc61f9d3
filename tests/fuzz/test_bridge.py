"""unit: property-based fuzzing (hypothesis) of the agent's bridge (/internal/transcripts and
/internal/agent-heartbeat): correctly signed bodies of any wrong shape, and any forged signature
or timestamp, get a clear 4xx error and change no row of any table."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.signing import sign
from tests.fuzz.common import (
    FEW,
    FUZZ,
    World,
    _assert_clear,
    db_unchanged,
    json_values,
    unknown_keys,
    unparsable,
)

pytestmark = pytest.mark.unit

PATHS = ("/internal/transcripts", "/internal/agent-heartbeat")
FIELDS = {"kind", "idempotencyKey", "speakerId", "roomId", "text", "sourceLang", "utteranceKey",
          "speechEndAt", "soloTargetLang"}


def _post(world: World, path: str, raw: bytes, ts: str, signature: str) -> Any:
    return world.http.post(path, data=raw, content_type="application/json",
                           headers={"X-LT-Timestamp": ts, "X-LT-Signature": signature})


def _secret(world: World) -> str:
    return str(world.app.extensions["live_translator"].settings.bridge_secret)


@st.composite
def bad_bodies(draw: st.DrawFn) -> bytes:
    """JSON that is not a post the bridge takes: wrong shapes, unknown fields, bad kinds or values,
    or a final for a speaker who does not exist."""
    shape = draw(st.sampled_from(["value", "unknown_field", "bad_field", "no_such_speaker", "not_json"]))
    if shape == "not_json":
        return draw(st.binary(max_size=40).filter(unparsable))
    if shape == "value":
        return json.dumps(draw(json_values.filter(lambda v: not isinstance(v, dict) or not v))).encode()
    body: dict[str, Any] = {"kind": "final", "idempotencyKey": "k", "speakerId": "nobody",
                            "text": "hi", "sourceLang": "en"}
    if shape == "unknown_field":
        body[draw(unknown_keys(FIELDS | {"agentId", "rooms", "registered"}))] = draw(json_values)
    elif shape == "bad_field":
        body[draw(st.sampled_from(sorted(FIELDS)))] = draw(
            st.one_of(st.integers(), st.lists(st.integers(), max_size=2), st.just(""),
                      st.just("x" * 5000), st.just("zz-ZZ")))
    return json.dumps(body).encode()


@FUZZ
@given(path=st.sampled_from(PATHS), raw=bad_bodies())
def test_signed_bodies_of_the_wrong_shape_are_refused_clearly(world: World, path: str, raw: bytes) -> None:
    ts = str(int(time.time()))
    with db_unchanged(world):
        r = _post(world, path, raw, ts, sign(_secret(world), ts, raw))
    assert 400 <= r.status_code < 500, (r.status_code, raw[:200])
    body = r.get_json()
    assert set(body) == {"error"}
    _assert_clear(body["error"])


# What an HTTP header value can carry: Latin-1 without control characters.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=70)


@FEW
@given(path=st.sampled_from(PATHS), ts=st.one_of(header_text, st.integers(0, 4 * 10**9).map(str)),
       signature=st.one_of(header_text, st.from_regex(r"\A[0-9a-f]{64}\Z")),
       resign_with=st.sampled_from([None, "wrong-secret", ""]))
def test_forged_signatures_and_timestamps_are_refused_401(world: World, path: str, ts: str,
                                                          signature: str, resign_with: str | None) -> None:
    raw = json.dumps({"agentId": "a", "rooms": []}).encode()
    if resign_with is not None and resign_with != _secret(world):
        signature = sign(resign_with, ts, raw)
    with db_unchanged(world):
        r = _post(world, path, raw, ts, signature)
    assert r.status_code == 401, (r.status_code, ts, signature)
    _assert_clear(r.get_json()["error"])
