"""Logging set-up: one line per record with `extra=` fields as key=value.

Nothing here ever logs payloads; callers pass ids, counts and timings only.
"""
from __future__ import annotations

import logging
import sys

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Celery's task records carry the task's arguments in `data`; a tts_audio task's are the text.
_TASK_ARGS = ("args", "kwargs")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: ({dk: dv for dk, dv in v.items() if dk not in _TASK_ARGS}
                      if k == "data" and isinstance(v, dict) else v)
                  for k, v in record.__dict__.items() if k not in _STANDARD}
        if extras:
            line += " " + " ".join(f"{k}={v!r}" for k, v in sorted(extras.items()))
        return line


def configure(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(getattr(h, "_lt", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._lt = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; engineio/socketio log payloads at INFO when enabled.
    for noisy in ("httpx", "httpcore", "engineio", "socketio", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
