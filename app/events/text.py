"""Typed speech and small client events: `speech-transcript` (typed text, and finals
a client recognised itself), `ping` (latency probe) and `client-error` (browser telemetry)."""
from __future__ import annotations

import logging
from typing import Any

from app import validation as v
from app.clients import Client, handler
from app.extensions import services
from app.transcripts import TranscriptIn, handle_transcript
from core import wire
from core.db import session_scope
from core.models import User, now_ms

logger = logging.getLogger(__name__)


@handler("speech-transcript")
def on_speech_transcript(client: Client, payload: Any = None) -> wire.TranscriptResult:
    """One final transcript from the browser."""
    data = v.as_object(payload, "speech-transcript")
    services().quotas.take("transcript", user=client.user_id, ip=client.ip)
    v.only_keys(data, wire.fields(wire.SpeechTranscript), "speech-transcript")
    text = v.text(data, "transcript", max_len=services().settings.web.max_transcript_chars)
    source = v.language(data, "sourceLang")
    solo_mode = v.boolean(data, "soloMode")
    solo_target = v.language(data, "soloTargetLang", required=False)
    client_id = v.text(data, "clientId", max_len=64, required=False, single_line=True)
    speech_end = v.number(data, "speechEndAt", lo=0, hi=1e14)
    if solo_mode and not solo_target:
        solo_target = _solo_preference(client.user_id)
    if solo_mode and not solo_target:
        raise v.BadInput("missing_field", "soloTargetLang is required in solo mode (or set it "
                                          "in your preferences)")
    if not solo_mode and client.room_id is None:
        raise v.BadInput("not_in_room", "join a room (or use solo mode) before sending speech", 403)
    said_in = v.text(data, "roomId", max_len=32, required=False, single_line=True)
    if said_in is not None and not solo_mode and said_in != client.room_id:
        # A page resending a message after its user moved to another room: not here.
        raise v.BadInput("wrong_room", "that message was for a room you are no longer in", 409)
    recognized = handle_transcript(TranscriptIn(
        speaker_id=client.user_id, text=str(text), source_lang=str(source),
        room_id=None if solo_mode else client.room_id,
        solo_target_lang=solo_target if solo_mode else None,
        idempotency_key=f"client:{client.user_id}:{client_id}" if client_id else None,
        speech_end_at=speech_end))
    return {"utteranceId": recognized["id"], "duplicate": recognized["duplicate"]}


def _solo_preference(user_id: str) -> str | None:
    """The session's solo target language (PATCH /api/me soloTargetLang), read fresh."""
    with session_scope(services().settings.database_url) as s:
        user = s.get(User, user_id)
        return user.solo_target_lang if user else None


@handler("ping")
def on_ping(client: Client, payload: Any = None) -> wire.PingResult:
    """Round-trip probe for latency meters: acks at once with the server's clock."""
    return {"serverTime": now_ms()}


@handler("client-error")
def on_client_error(client: Client, payload: Any = None) -> dict[str, Any]:
    """Browser-side error telemetry. Only the code and sizes are logged: the message may quote
    what someone said."""
    services().quotas.take("client_error", user=client.user_id, ip=client.ip)
    data = v.as_object(payload, "client-error")
    v.only_keys(data, wire.fields(wire.ClientError), "client-error")
    code = v.text(data, "code", max_len=64, single_line=True)
    message = v.text(data, "message", max_len=2000)
    details = data.get("details")
    if details is not None and not isinstance(details, (dict, str)):
        raise v.BadInput("bad_type", "details must be an object or a string")
    if details is not None and len(repr(details)) > 8000:
        raise v.BadInput("too_long", "details is too large", 413)
    services().metrics.inc("errors", "client")
    logger.warning("client reported an error", extra={
        "user_id": client.user_id, "code": code, "message_chars": len(message or ""),
        "detail_keys": sorted(map(str, details))[:20] if isinstance(details, dict) else None})
    return {}
