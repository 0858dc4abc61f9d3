"""REST API: guest sessions, preferences, rooms, languages."""
from __future__ import annotations

import json
import secrets
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import validation as v
from app.auth import TokenError
from app.errors import error_response
from app.extensions import services, socketio
from core import membership, premium, providers, usage, wire
from core.db import session_scope
from core.models import Participant, Room, Translation, User, Utterance
from core.naming import room_channel
from engines.languages import LANGUAGES, describe, partner, translation_quality
from engines.translation.routes import installed_routes

bp = Blueprint("api", __name__, url_prefix="/api")

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        raise v.BadInput("bad_json", "the body must be JSON (Content-Type: application/json)")
    return v.as_object(body, "the body")


def _require_user() -> str:
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else None
    try:
        return services().tokens.verify(token)
    except TokenError as exc:
        raise v.BadInput(exc.code, str(exc), 401) from None


@bp.post("/session")
def create_session() -> tuple[Response, int]:
    """Create a guest account: {displayName, language} → {token, user}."""
    data = _json_body()
    v.only_keys(data, {"displayName", "language"}, "the body")
    services().quotas.take("session", ip=request.remote_addr)
    name = v.text(data, "displayName", max_len=64, single_line=True)
    lang = v.language(data, "language")
    svc = services()
    with session_scope(svc.settings.database_url) as s:
        default = svc.engines["default"]
        user = User(display_name=name, language=lang, translation_engine=default["translation"],
                    stt_engine=default["stt"], tts_engine=default["tts"])
        s.add(user)
        s.flush()
        out = user.public()
    return jsonify({"token": svc.tokens.issue(str(out["id"])), "user": out}), 201


@bp.get("/me")
def get_me() -> Response:
    uid = _require_user()
    with session_scope(services().settings.database_url) as s:
        user = s.get(User, uid)
        if user is None:
            raise v.BadInput("unauthorized", "unknown user", 401)
        return jsonify({"user": user.public(), "preferences": user.preferences()})


PREFS = {"displayName", "language", "sttEngine", "translationEngine", "ttsEnabled", "ttsEngine",
         "voice", "soloTargetLang"}


@bp.patch("/me")
def patch_me() -> Response:
    """Change preferences; all fields are checked before any is applied."""
    uid = _require_user()
    services().quotas.take("prefs", user=uid, ip=request.remote_addr)
    data = _json_body()
    v.only_keys(data, PREFS, "the body")
    changes: dict[str, Any] = {}
    if "displayName" in data:
        changes["display_name"] = v.text(data, "displayName", max_len=64, single_line=True)
    if "language" in data:
        changes["language"] = v.language(data, "language")
    for field, column, kind in (("sttEngine", "stt_engine", "stt"),
                                ("translationEngine", "translation_engine", "translation"),
                                ("ttsEngine", "tts_engine", "tts")):
        if field in data:
            changes[column] = engine_name(kind, v.text(data, field, max_len=32, single_line=True))
    if "ttsEnabled" in data:
        if not isinstance(data["ttsEnabled"], bool):
            raise v.BadInput("bad_type", "ttsEnabled must be true or false")
        changes["tts_enabled"] = data["ttsEnabled"]
    if "voice" in data:
        changes["voice"] = (None if data["voice"] is None
                            else v.text(data, "voice", max_len=64, single_line=True))
    if "soloTargetLang" in data:
        changes["solo_target_lang"] = v.language(data, "soloTargetLang", required=False)
    with session_scope(services().settings.database_url) as s:
        user = s.get(User, uid)
        if user is None:
            raise v.BadInput("unauthorized", "unknown user", 401)
        for key, value in changes.items():
            setattr(user, key, value)
        if "language" in changes:
            # Listeners hear rooms in their current language from the next utterance on.
            for p in s.scalars(select(Participant).where(Participant.user_id == uid,
                                                         Participant.left_at.is_(None))):
                p.language = changes["language"]
        out = jsonify({"user": user.public(), "preferences": user.preferences()})
    followed = {"language": "language", "stt_engine": "sttEngine"}  # what the agent reads
    attributes = {followed[k]: str(val) for k, val in changes.items() if k in followed}
    if attributes and services().livekit is not None:
        from app.agents import attributes_changed
        socketio.start_background_task(attributes_changed, services(), uid, attributes)
    return out


KIND_NAMES = {"stt": "speech recognition", "translation": "translation", "tts": "speech synthesis"}


def engine_name(kind: str, name: str | None) -> str:
    """An engine of `kind` ("stt", "translation", "tts") that can be used here, else BadInput:
    `unknown_engine` for a name nobody registered, `engine_unavailable` (with why) for one that
    cannot run here (a premium provider without its key, or one this server does not offer its
    users: core.premium)."""
    operators = services().engines
    # The operator's default is the operator's choice: offered or not, it may be used.
    listed = {c["name"]: c for c in (operators if name == operators["default"][kind] else _engines())[kind]}
    choice = listed.get(str(name))
    if choice is None:
        raise v.BadInput("unknown_engine", f"unknown {KIND_NAMES[kind]} engine {str(name)[:32]!r}; "
                                           f"known: {', '.join(sorted(listed))}")
    if not choice["available"]:
        raise v.BadInput("engine_unavailable", f"{choice['label']} {KIND_NAMES[kind]} is not "
                                               f"available here: {choice['reason']}")
    return str(name)


def tts_engine_name(name: str | None) -> str:
    return engine_name("tts", name)


@bp.get("/engines")
def engines() -> Response:
    """Per kind, every engine: whether it can be used here (and why not), premium or not, in the
    operator's failover order; and the defaults."""
    return jsonify(_engines())


def _engines() -> dict[str, Any]:
    """The engines of each kind (core.providers.choices), premium ones marked unavailable when
    this server does not offer them to its users (PREMIUM_FOR_USERS)."""
    listed: dict[str, Any] = services().engines
    if premium.policy(services().settings).offered:
        return listed
    why = premium.REASONS["premium_not_offered"]
    return {kind: [dict(c, available=False, reason=why) if c.get("premium") and c["available"] else c
                   for c in choices] if isinstance(choices, list) else choices
            for kind, choices in listed.items()}


@bp.get("/features")
def features() -> Response:
    """What the page offers beyond text, and notes on engines (no sign-in needed, fixed for the
    process): voice rooms need the server's LiveKit."""
    return jsonify({"voice": services().livekit is not None, "notes": providers.NOTES})


@bp.get("/tts/voices")
def tts_voices() -> Response:
    """The voices a speech synthesis engine offers (a premium provider's from its own list)."""
    uid = _require_user()
    services().quotas.take("voices", user=uid, ip=request.remote_addr)
    args = dict(request.args)
    engine = engine_name("tts", args.get("engine") or services().engines["default"]["tts"])
    language = v.language(args, "language", required=False) or ""
    reply = services().speech.voices(engine, language)
    if not reply.get("ok"):
        raise v.BadInput("voices_unavailable", f"{engine} did not give its voice list; "
                                               "the default voice is used", 502)
    return jsonify({"engine": engine, "voices": reply["voices"]})


MAX_TERMS = 100
MAX_TERM_CHARS = 50


def _member_room(s: Any, room_id: str, uid: str) -> Room:
    """The room, if `uid` created it or is in it now (a member who left sees no more of it);
    else BadInput 404/403."""
    room: Room | None = s.get(Room, room_id) if len(room_id) <= 32 else None
    if room is None:
        raise v.BadInput("room_not_found", "no such room", 404)
    if room.created_by != uid and s.scalars(select(Participant.id).where(
            Participant.room_id == room_id, Participant.user_id == uid,
            Participant.left_at.is_(None))).first() is None:
        raise v.BadInput("not_in_room", "only people in the room can see this", 403)
    return room


@bp.get("/rooms/<room_id>/glossary")
def get_glossary(room_id: str) -> Response:
    uid = _require_user()
    with session_scope(services().settings.database_url) as s:
        room = _member_room(s, room_id, uid)
        return jsonify({"roomId": room.id, "terms": room.terms(), "canEdit": room.created_by == uid})


@bp.put("/rooms/<room_id>/glossary")
def put_glossary(room_id: str) -> Response:
    """The room's creator sets its glossary: up to 100 terms of up to 50 characters, kept in the
    order given, duplicates dropped. Everyone in the room is told (`glossary-updated`)."""
    uid = _require_user()
    services().quotas.take("glossary", user=uid, ip=request.remote_addr)
    data = _json_body()
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
        room = _member_room(s, room_id, uid)
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
    uid = _require_user()
    svc = services()
    svc.quotas.take("usage", user=uid, ip=request.remote_addr)
    with session_scope(svc.settings.database_url) as s:
        _member_room(s, room_id, uid)
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
    uid = _require_user()
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


@bp.get("/languages")
def languages() -> Response:
    """Languages a user may pick, with how well the local engines hear and voice each; which the
    local engine translates between (`local`: source → target → quality and pivots, every route
    not listed is not offered locally); and each language's usual partner, the solo default."""
    routes = installed_routes(services().settings.apertium.pairs_path)
    local = {src: {dst: {"quality": translation_quality(r), "via": list(r[1:-1])}
                   for dst, r in sorted(targets.items())} for src, targets in sorted(routes.items())}
    out = []
    for code in sorted(LANGUAGES):
        item = describe(code)
        item["partner"] = partner(code, frozenset(routes.get(code, {})))
        out.append(item)
    return jsonify({"languages": out, "local": local,
                    "engines": [c["name"] for c in services().engines["translation"]]})


@bp.get("/rooms/<room_id>/messages")
def room_messages(room_id: str) -> Response:
    """The room's finals after `since` (epoch ms of receipt), oldest first, each a caption in the
    caller's language with its translation where one was made (core.wire.HistoryItem: the live
    caption's fields, and when it was received and said): a reconnecting client fills in
    what it missed (dropping ids it has), and transcript export reads it. Only what was said
    while the caller was in the room (between each join and its leave); `limit` at most 500,
    `more` says whether to page on."""
    uid = _require_user()
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
