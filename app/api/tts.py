"""POST /api/tts: speech for a signed-in user, synthesized in the speech process (never here)."""
from __future__ import annotations

import base64

from flask import Blueprint, Response, request

from app import validation as v
from app.api.common import json_body, require_user
from app.api.engines import tts_engine_name
from app.errors import error_response
from app.extensions import services
from core import usage
from core.db import session_scope
from core.models import User
from core.naming import tts_audio_dir
from core.providers import PREMIUM
from core.signing import audio_ticket_valid

bp = Blueprint("tts", __name__, url_prefix="/api")

MAX_TTS_CHARS = 500
@bp.get("/tts/audio/<key>.wav")
def audio(key: str) -> Response:
    """Synthesized speech for `tts-audio` messages: only with the ticket (`t`) that message's URL
    carries, issued to a listener in the room it was said in (core.signing.audio_ticket). Without
    one, or with one for another file or out of date, there is no such audio (404)."""
    from flask import send_from_directory

    svc = services()
    if (len(key) != 64 or any(c not in "0123456789abcdef" for c in key)
            or not audio_ticket_valid(svc.settings.secret_key, key, request.args.get("t", ""))):
        raise v.BadInput("not_found", "no such audio", 404)
    resp = send_from_directory(tts_audio_dir(svc.settings.var_dir), f"{key}.wav",
                               mimetype="audio/wav", max_age=3600)
    resp.cache_control.public = False
    resp.cache_control.private = True
    return resp


@bp.post("/tts")
def synthesize() -> Response | tuple[Response, int]:
    """{text, language, voice?, engine?} → audio/wav. The engine defaults to the user's preference."""
    uid = require_user()
    data = json_body()
    v.only_keys(data, {"text", "language", "voice", "engine"}, "the body")
    text = str(v.text(data, "text", max_len=MAX_TTS_CHARS))
    language = str(v.language(data, "language"))
    voice = v.text(data, "voice", max_len=64, required=False, single_line=True)
    engine = data.get("engine")
    if engine is not None:
        engine = tts_engine_name(v.text(data, "engine", max_len=32, single_line=True))
    services().quotas.take("tts", user=uid, ip=request.remote_addr)
    if engine is None:
        with session_scope(services().settings.database_url) as s:
            user = s.get(User, uid)
            engine = user.tts_engine if user else "local"
    reply = services().speech.synthesize(text, language, voice, str(engine))
    if not reply.get("ok"):
        status = 400 if reply.get("code") in ("unsupported_language", "unknown_engine") else 502
        return error_response(str(reply.get("code")), str(reply.get("message", ""))[:300], status)
    if reply.get("engine") in PREMIUM and not reply.get("cached"):
        usage.record(services().settings.database_url, str(reply["engine"]), "characters",
                     len(text), None, uid)
    resp = Response(base64.b64decode(reply["wav"]), mimetype="audio/wav")
    resp.headers["X-Duration-Ms"] = str(reply["durationMs"])
    resp.headers["X-TTS-Engine"] = f"{reply['engine']}:{reply['voice']}"
    return resp
