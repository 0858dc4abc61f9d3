"""The Celery application: `celery -A workers.celery_app worker` runs it on its own."""
from __future__ import annotations

from typing import Any

from celery import Celery, signals

celery = Celery("live_translator", include=["workers.tasks"])
celery.config_from_object("celeryconfig")


@signals.worker_ready.connect
def _warm_engines(**_: Any) -> None:
    # Load Apertium pairs before the first fan-out, and start reporting engine health to /health.
    from core.runtime import runtime
    from workers.heartbeat import start_heartbeat
    rt = runtime()
    for name in rt.registry.chain():  # the whole failover order, the embedded engine included
        rt.registry.provider(name)
    start_heartbeat(rt)


@signals.worker_shutdown.connect
def _close_engines(**_: Any) -> None:
    from core.runtime import close
    close()


@signals.after_setup_logger.connect
def _quiet_loggers(**_: Any) -> None:
    # httpx logs every request at INFO; nothing of ours logs payloads, keep it that way.
    import logging
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
