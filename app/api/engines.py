"""What this server offers: engines of each kind (GET /api/engines), features (GET
/api/features), a speech engine's voices (GET /api/tts/voices) and languages (GET /api/languages);
and the check that an engine a user asks for may be used here."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from app import validation as v
from app.api.common import bp, require_user
from app.extensions import services
from core import premium, providers
from engines.languages import LANGUAGES, describe, partner, translation_quality
from engines.providers import local as local_engines
from engines.translation.routes import installed_routes

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
    uid = require_user()
    services().quotas.take("voices", user=uid, ip=request.remote_addr)
    args = dict(request.args)
    engine = engine_name("tts", args.get("engine") or services().engines["default"]["tts"])
    language = v.language(args, "language", required=False) or ""
    reply = services().speech.voices(engine, language)
    if not reply.get("ok"):
        raise v.BadInput("voices_unavailable", f"{engine} did not give its voice list; "
                                               "the default voice is used", 502)
    return jsonify({"engine": engine, "voices": reply["voices"]})


@bp.get("/languages")
def languages() -> Response:
    """Languages a user may pick, with how well the local engines hear and voice each; which the
    local engine translates between (`local`: source → target → quality and pivots, every route
    not listed is not offered locally); and each language's usual partner, the solo default."""
    routes = installed_routes(local_engines.PROVIDER.of(services().settings).apertium.pairs_path)
    local = {src: {dst: {"quality": translation_quality(r), "via": list(r[1:-1])}
                   for dst, r in sorted(targets.items())} for src, targets in sorted(routes.items())}
    out = []
    for code in sorted(LANGUAGES):
        item = describe(code)
        item["partner"] = partner(code, frozenset(routes.get(code, {})))
        out.append(item)
    return jsonify({"languages": out, "local": local,
                    "engines": [c["name"] for c in services().engines["translation"]]})
