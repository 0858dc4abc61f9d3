"""Rooms: creating one (POST /api/rooms), its glossary, its premium usage and its history
(GET /api/rooms/<id>/messages)."""
from __future__ import annotations

import json
import secrets

from flask import Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import validation as v
from app.api.common import bp, json_body, member_room, require_user
from app.errors import error_response
from app.extensions import services, socketio
from core import membership, usage, wire
from core.db import session_scope
from core.models import Room, Translation, User, Utterance
from core.naming import room_channel

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


MAX_TERMS = 100
MAX_TERM_CHARS = 50


@bp.get("/rooms/<room_id>/glossary")
def get_glossary(room_id: str) -> Response:
    uid = require_user()
    with session_scope(services().settings.database_url) as s:
        room = member_room(s, room_id, uid)
        return jsonify({"roomId": room.id, "terms": room.terms(), "canEdit": room.created_by == uid})


@bp.put("/rooms/<room_id>/glossary")
def put_glossary(room_id: str) -> Response:
    """The room's creator sets its glossary: up to 100 terms of up to 50 characters, kept in the
    order given, duplicates dropped. Everyone in the room is told (`glossary-updated`)."""
    uid = require_user()
    services().quotas.take("glossary", user=uid, ip=request.remote_addr)
    data = json_body()
    v.only_keys(data, {"terms"}, "the body")
    raw = data.get("terms")
    if not isinstance(raw, list):
        raise v.BadInput("bad_type", "terms must be a list of strings")
    if len(raw) > MAX_TERMS:
        raise v.BadInput("too_many", f"a glossary holds at most {MAX_TERMS} terms")
    terms: list[str] = []
    for i, _ in enumerate(raw):
        term = str(v.text({"term": raw[i]}, "term", max_len=MAX_TERM_CHARS, single_line=True))
        if term.casefold() not in {t.casefold() for t in terms}:
            terms.append(term)
    with session_scope(services().settings.database_url) as s:
        room = member_room(s, room_id, uid)
        if room.created_by != uid:
            raise v.BadInput("not_room_owner", "only the room's creator can change its glossary", 403)
        room.glossary = json.dumps(terms, ensure_ascii=False)
    updated: wire.GlossaryUpdated = {"roomId": room_id, "terms": terms}
    socketio.emit("glossary-updated", updated, to=room_channel(room_id))
    services().speech.set_keyterms(room_id, terms)
    if services().glossary_sync is not None:  # the speakers other web processes hold
        services().glossary_sync.publish(room_id, terms)
    if services().livekit is not None:
        from app.agents import glossary_changed
        socketio.start_background_task(glossary_changed, services(), room_id, terms)
    return jsonify({"roomId": room_id, "terms": terms, "canEdit": True})


@bp.get("/rooms/<room_id>/usage")
def get_usage(room_id: str) -> Response:
    """Today's premium usage in the room (members): totals per provider, per user, and the
    account's daily budgets."""
    uid = require_user()
    svc = services()
    svc.quotas.take("usage", user=uid, ip=request.remote_addr)
    with session_scope(svc.settings.database_url) as s:
        member_room(s, room_id, uid)
    out = usage.room_usage(svc.settings.database_url, room_id)
    with session_scope(svc.settings.database_url) as s:
        names = dict(s.execute(select(User.id, User.display_name).where(
            User.id.in_([u["userId"] for u in out["byUser"]]))).all())
    for row in out["byUser"]:
        row["displayName"] = names.get(row["userId"], "")
    budget = {provider: {("audio_minutes" if unit == "audio_seconds" else unit): (
        {"limit": round(b["limit"] / 60, 3), "used": round(b["used"] / 60, 3)}
        if unit == "audio_seconds" else b) for unit, b in units.items()}
        for provider, units in usage.budget(svc.settings).status().items()}
    return jsonify({"roomId": room_id, "day": usage.today(), **out, "budget": budget})


@bp.post("/rooms")
def create_room() -> tuple[Response, int]:
    uid = require_user()
    services().quotas.take("room", user=uid, ip=request.remote_addr)
    if request.get_data(cache=True).strip():  # reading it enforces the 64 KiB limit (413)
        body = request.get_json(silent=True)
        if body is None:
            raise v.BadInput("bad_json", "the body must be JSON (Content-Type: application/json)")
        if body != {}:
            raise v.BadInput("unknown_field", "creating a room takes no fields")
    for _ in range(10):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with session_scope(services().settings.database_url) as s:
                if s.get(User, uid) is None:
                    raise v.BadInput("unauthorized", "unknown user", 401)
                room = Room(code=code, created_by=uid)
                s.add(room)
                s.flush()
                return jsonify({"roomId": room.id, "code": room.code}), 201
        except IntegrityError:
            continue  # code taken: draw again
    return error_response("busy", "could not allocate a room code; try again", 503)


@bp.get("/rooms/<room_id>/messages")
def room_messages(room_id: str) -> Response:
    """The room's finals after `since` (epoch ms of receipt), oldest first, each a caption in the
    caller's language with its translation where one was made (core.wire.HistoryItem: the live
    caption's fields, and when it was received and said): a reconnecting client fills in
    what it missed (dropping ids it has), and transcript export reads it. Only what was said
    while the caller was in the room (between each join and its leave); `limit` at most 500,
    `more` says whether to page on."""
    uid = require_user()
    services().quotas.take("history", user=uid, ip=request.remote_addr)
    args = {}
    for key in ("since", "limit"):
        raw = request.args.get(key)
        if raw is not None:
            try:
                args[key] = float(raw)
            except ValueError:
                raise v.BadInput("bad_type", f"{key} must be a number") from None
    since = v.number(args, "since", lo=0, hi=1e14) or 0.0
    limit = int(v.number(args, "limit", lo=1, hi=500) or 500)
    if len(room_id) > 32:
        raise v.BadInput("room_not_found", "no such room", 404)
    with session_scope(services().settings.database_url) as s:
        user = s.get(User, uid)
        if user is None or not membership.ever_present(s, room_id, uid):
            raise v.BadInput("not_in_room", "only people who joined the room can read it", 403)
        lang = user.language
        rows = s.execute(
            select(Utterance, User.display_name).join(User, User.id == Utterance.speaker_id)
            .where(Utterance.room_id == room_id, Utterance.received_at > since,
                   membership.present(room_id, uid, membership.said_at_sql()))
            .order_by(Utterance.received_at, Utterance.id).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        ids = [u.id for u, _ in rows]
        translated: dict[str, str] = {}
        for t in s.scalars(select(Translation).where(Translation.utterance_id.in_(ids),
                                                     Translation.target_lang == lang)):
            if t.engine == user.translation_engine or t.utterance_id not in translated:
                translated[t.utterance_id] = t.text
        messages = [wire.history_item(
            wire.caption(message=wire.message_id(u.id, lang), utterance_id=u.id,
                         utterance_key=u.utterance_key or u.id, part=u.part, original=u.text,
                         source=u.source_lang, target=lang, speaker_name=name),
            u.text if u.source_lang == lang else translated.get(u.id), u.speaker_id,
            u.received_at, u.speech_end_at) for u, name in rows]
    return jsonify({"roomId": room_id, "messages": messages, "more": more})
