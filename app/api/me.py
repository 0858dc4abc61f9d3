"""Guest sessions and the signed-in user's preferences: POST /api/session, GET and PATCH /api/me."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select

from app import validation as v
from app.api.common import bp, json_body, require_user
from app.api.engines import engine_name
from app.extensions import services, socketio
from core.db import session_scope
from core.models import Participant, User


@bp.post("/session")
def create_session() -> tuple[Response, int]:
    """Create a guest account: {displayName, language} → {token, user}."""
    data = json_body()
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
    uid = require_user()
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
    uid = require_user()
    services().quotas.take("prefs", user=uid, ip=request.remote_addr)
    data = json_body()
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
