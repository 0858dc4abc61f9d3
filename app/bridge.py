"""POST /internal/transcripts: the speech agent's signed bridge into handle_transcript().

The agent signs `"<timestamp>." + raw body` with HMAC-SHA256 and the shared BRIDGE_SECRET. A post
is refused if the signature is wrong (401), the timestamp is outside the window (401), or the very
same signed request was seen before (409: a replay). A retry the agent signs anew with the same
idempotency key is accepted and changes nothing (`duplicate: true`), so a brief app restart loses
no final and shows none twice.
"""
from __future__ import annotations

import hmac
import json
import math
import time

from flask import Blueprint, Response, jsonify, request

from app import agents
from app import validation as v
from app.errors import error_response
from app.extensions import services, socketio
from app.transcripts import (
    TranscriptIn,
    handle_transcript,
    publish_interim,
    publish_notice,
    segment_key,
)
from core import wire
from core.expiring import ExpiringKeys
from core.signing import sign  # one signature for both sides

bp = Blueprint("bridge", __name__, url_prefix="/internal")

WINDOW_S = 30
MAX_BODY = 16 * 1024


_seen: ExpiringKeys | None = None  # signatures accepted within the window


def _refuse(code: str, message: str, status: int) -> tuple[Response, int]:
    services().metrics.inc("errors", f"bridge:{code}")
    return error_response(code, message, status)


def _verified() -> bytes | tuple[Response, int]:
    """The raw body if it is signed by the agent, fresh and not seen before; else the refusal."""
    global _seen
    svc = services()
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY:
        return _refuse("too_large", f"the body is over {MAX_BODY} bytes", 413)
    ts = request.headers.get("X-LT-Timestamp", "")
    given = request.headers.get("X-LT-Signature", "")
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 401).
    expected = sign(svc.settings.bridge_secret, ts, body).encode()
    if not hmac.compare_digest(expected, given.encode("utf-8", "surrogatepass")):
        return _refuse("bad_signature", "the signature does not match", 401)
    try:
        stamp = float(ts)
    except ValueError:
        stamp = math.nan
    if not math.isfinite(stamp):  # "nan" would pass any comparison with the window
        return _refuse("bad_timestamp", "X-LT-Timestamp must be Unix seconds", 401)
    if abs(time.time() - stamp) > WINDOW_S:
        return _refuse("stale", f"the timestamp is more than {WINDOW_S} s off", 401)
    if _seen is None:
        _seen = ExpiringKeys(svc.settings.redis_url, "lt:bridge:seen:")
    if not _seen.put(given, 2 * WINDOW_S, only_new=True):
        return _refuse("replayed", "this exact request was already received", 409)
    return body


@bp.post("/transcripts")
def transcripts() -> tuple[Response, int]:
    body = _verified()
    if not isinstance(body, bytes):
        return body
    try:
        return _accept(body)
    except v.BadInput as exc:
        return _refuse(exc.code, exc.message, exc.status)


@bp.post("/agent-heartbeat")
def agent_heartbeat() -> tuple[Response, int]:
    """The agent's list of rooms it serves, every couple of seconds; a voice room missing from
    every fresh heartbeat gets the agent dispatched again (app.agents)."""
    body = _verified()
    if not isinstance(body, bytes):
        return body
    try:
        data = v.as_object(json.loads(body), "the body")
        v.only_keys(data, wire.fields(wire.AgentHeartbeat), "the body")
        registered = v.boolean(data, "registered")
        agent = str(v.text(data, "agentId", max_len=64, single_line=True))
        rooms = data.get("rooms")
        if not isinstance(rooms, list) or len(rooms) > 1000 or not all(
                isinstance(r, str) and 0 < len(r) <= 32 for r in rooms):
            raise v.BadInput("bad_rooms", "rooms must be a list of room ids")
    except ValueError:
        return _refuse("bad_json", "the body must be JSON", 400)
    except v.BadInput as exc:
        return _refuse(exc.code, exc.message, exc.status)
    agents.presence().beat(agent, rooms)
    if registered:  # a new agent worker: rooms waiting for one need not wait for the retry
        socketio.start_background_task(agents.ensure_agents, services(), at_once=True)
    return jsonify({"ok": True}), 200


def _accept(body: bytes) -> tuple[Response, int]:
    """A core.wire.BridgeTranscript, checked field by field."""
    try:
        data = v.as_object(json.loads(body), "the body")
    except ValueError:
        raise v.BadInput("bad_json", "the body must be JSON") from None
    v.only_keys(data, wire.fields(wire.BridgeTranscript), "the body")
    kind = data.get("kind", "final")
    if kind not in ("final", "interim", "notice"):
        raise v.BadInput("bad_kind", "kind must be 'final', 'interim' or 'notice'")
    speaker = str(v.text(data, "speakerId", max_len=32, single_line=True))
    room = v.text(data, "roomId", max_len=32, required=False, single_line=True)
    text = str(v.text(data, "text", max_len=services().settings.web.max_transcript_chars))
    lang = str(v.language(data, "sourceLang"))
    solo = v.language(data, "soloTargetLang", required=False)
    if kind == "notice":  # the speaker's recognition moved to another engine (text: the code)
        publish_notice(speaker, room, text,
                       str(v.text(data, "engine", max_len=32, single_line=True)),
                       str(v.text(data, "previous", max_len=32, required=False, single_line=True) or ""))
        return jsonify({"ok": True}), 202
    part = v.part(data)
    utterance_key = v.text(data, "utteranceKey", max_len=100, required=False, single_line=True)
    if kind == "interim":
        publish_interim(speaker, room, text, lang, utterance_key or "", part, solo)
        return jsonify({"ok": True}), 202
    # A final is one segment of an utterance (part 0: its first, or the whole of it).
    key = str(v.text(data, "idempotencyKey", max_len=100, single_line=True))
    out = handle_transcript(TranscriptIn(
        speaker_id=speaker, text=text, source_lang=lang, room_id=room,
        solo_target_lang=solo if room is None else None, engine="agent",
        idempotency_key=segment_key(f"agent:{key}", part), utterance_key=utterance_key or key,
        part=part, speech_end_at=v.number(data, "speechEndAt", lo=0, hi=1e14)))
    return jsonify({"utteranceId": out["id"], "duplicate": out["duplicate"]}), 202

