"""The app factory: wires settings, services, blueprints, Socket.IO and Celery."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from app import logs
from app.auth import Tokens
from app.extensions import Services, socketio
from app.migrate import pending
from core import runtime
from core.metrics import make_store
from core.providers import choices, translator_registry
from core.settings import Settings
from engines.translation import TranslatorRegistry

logger = logging.getLogger(__name__)


class NotMigrated(SystemExit):
    """The database schema is behind the code; the message says which command to run."""


def create_app(settings: Settings | None = None, *, async_mode: str | None = None,
               start_engines: bool = True) -> Flask:
    """Build the app. Embedded (no REDIS_URL): fan-outs run in this process and the local
    translation engine starts here. Distributed: they go to Celery workers through Redis."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    problem = pending(settings.database_url)
    if problem:
        raise NotMigrated(problem)
    app = Flask(__name__, static_folder="static")
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=64 * 1024,
                      JSON_SORT_KEYS=False)
    registry = translator_registry(settings)
    svc = Services(settings=settings, registry=registry, metrics=make_store(settings.redis_url),
                   emitter=socketio, tokens=Tokens(settings.secret_key, settings.web.token_ttl_s),
                   engines=choices(settings))
    app.extensions["live_translator"] = svc
    from app.quotas import Quotas
    from app.quotas import install as limit_every_request
    svc.quotas = Quotas(settings)
    limit_every_request(app, svc.quotas)

    from app import agents, api, bridge, errors, health, livekit_webhook, pages, security, speech_link
    from app.api import tts
    from app.events import audio, rooms, text, voice  # noqa: F401  (they register their handlers)
    from core.livekit import LiveKitService
    lk_config = settings.livekit.config()
    svc.livekit = LiveKitService(lk_config) if lk_config else None
    security.install(app, lk_config.url if lk_config else None)
    for blueprint in (api.bp, bridge.bp, livekit_webhook.bp, tts.bp, health.bp, pages.bp):
        app.register_blueprint(blueprint)
    errors.install(app, lambda label: svc.metrics.inc("errors", label))

    queue: dict[str, Any] = {}
    if settings.redis_url.startswith(("redis://", "rediss://")):
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        from app.message_queue import OnceRedisManager
        # No silent reconnects inside redis-py: a dropped subscription must reach the listener,
        # which resubscribes and has its sockets resync (app/message_queue.py).
        queue["client_manager"] = OnceRedisManager(
            settings.redis_url, channel="flask-socketio",
            redis_options={"retry": Retry(NoBackoff(), 0), "socket_connect_timeout": 1})
    socketio.init_app(app, async_mode=async_mode, message_queue=settings.redis_url or None,
                      cors_allowed_origins=settings.web.cors_origins or None,
                      max_http_buffer_size=1_000_000, ping_interval=10, ping_timeout=10, **queue)
    if settings.web.trusted_proxies:  # outside Socket.IO's middleware: its handlers see it too
        from werkzeug.middleware.proxy_fix import ProxyFix
        n = settings.web.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    if settings.distributed:
        from app.events.rooms import depart_held
        from app.liveness import Liveness
        svc.liveness = Liveness(settings.redis_url)
        socketio.start_background_task(svc.liveness.beat_forever, socketio.sleep)
        socketio.start_background_task(svc.liveness.sweep_forever, socketio.sleep,
                                       settings.web.disconnect_grace_s,
                                       lambda room, user, before: depart_held(svc, room, user, before))
    if settings.speech.link == "redis":  # distributed: any number of speech processes, anywhere
        from app import speech_bus
        svc.speech = speech_bus.start_link(app, settings, autostart=start_engines,
                                           name=svc.liveness.name)
    else:
        svc.speech = speech_link.start_link(app, settings, autostart=start_engines)
    if settings.distributed:
        from app.glossary_sync import GlossarySync
        svc.glossary_sync = GlossarySync(settings.redis_url, settings.speech_link_key,
                                         svc.liveness.name, svc.speech.set_keyterms)
        socketio.start_background_task(svc.glossary_sync.listen_forever, socketio.sleep)
    if svc.livekit is not None:
        socketio.start_background_task(agents.watch_agents, svc)
    from workers import tasks
    app.extensions["celery"] = tasks.celery
    # Tasks this process runs (all of them when embedded) share its engines and Socket.IO server.
    runtime.configure(svc)
    if not settings.distributed:
        _forget_stale_presence(settings)
        if start_engines:
            socketio.start_background_task(_start_engine, registry)
    if start_engines:
        from app.housekeeping import tidy_forever
        from app.recovery import sweep_forever
        socketio.start_background_task(sweep_forever, settings, socketio.sleep)
        socketio.start_background_task(tidy_forever, settings, socketio.sleep)
    logger.info("app ready", extra={"mode": "distributed" if settings.distributed else "embedded"})
    return app


def _forget_stale_presence(settings: Settings) -> None:
    """Embedded, this process holds every socket: anyone still marked present is left over from
    a previous run that ended without its disconnect handlers, so mark them gone."""
    from sqlalchemy import update

    from core import membership
    from core.db import session_scope
    from core.models import Participant, now_ms
    with session_scope(settings.database_url) as s:
        at = now_ms()
        s.execute(update(Participant).where(Participant.left_at.is_(None)).values(left_at=at))
        membership.close_all(s, at)


def _start_engine(registry: TranslatorRegistry) -> None:
    """Start every engine of the failover order now (the embedded one loads its pairs), so the
    first utterance does not wait for it."""
    for name in registry.chain():
        try:
            registry.provider(name)
        except Exception:
            logger.exception("a translation engine did not start", extra={"engine": name})
