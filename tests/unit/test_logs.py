"""unit: log lines carry ids and counts, never what was said — not even inside Celery's records."""
from __future__ import annotations

import logging

import pytest

from app.logs import KeyValueFormatter

pytestmark = pytest.mark.unit


def test_celery_task_arguments_never_reach_a_log_line() -> None:
    record = logging.makeLogRecord({
        "name": "celery.app.trace", "levelno": logging.INFO, "levelname": "INFO",
        "msg": "Task %(name)s[%(id)s] succeeded",
        "args": {"name": "tts_audio", "id": "t1"},
        "data": {"id": "t1", "name": "tts_audio", "args": "('u1', 'r1', 'es', 'hola, me llamo Ana')",
                 "kwargs": "{}", "runtime": 0.1}})
    line = KeyValueFormatter("%(name)s: %(message)s").format(record)
    assert "tts_audio[t1] succeeded" in line and "runtime" in line
    assert "me llamo" not in line
