"""unit: premium usage metering and daily budgets (core.usage) on a real SQLite database."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app import migrate
from core import usage
from core.db import dispose_all

pytestmark = pytest.mark.unit


@pytest.fixture
def url(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path}/usage.db"
    migrate.upgrade(db)
    yield db
    dispose_all()


def test_usage_adds_up_per_provider_room_and_user(url: str) -> None:
    usage.record(url, "grok", "audio_seconds", 2.5, "room1", "ann")
    usage.record(url, "grok", "audio_seconds", 1.5, "room1", "ann")
    usage.record(url, "grok", "characters", 40, "room1", "bob")
    usage.record(url, "grok", "tokens", 100, "room2", "ann")
    usage.record(url, "grok", "tokens", 0, "room1", "ann")  # nothing: no row
    assert usage.provider_totals(url) == {"grok": {"audio_seconds": 4.0, "characters": 40.0,
                                                   "tokens": 100.0}}
    room = usage.room_usage(url, "room1")
    assert room["totals"] == {"grok": {"audio_seconds": 4.0, "characters": 40.0, "tokens": 0.0}}
    assert {(u["userId"], u["audio_seconds"], u["characters"]) for u in room["byUser"]} == {
        ("ann", 4.0, 0.0), ("bob", 0.0, 40.0)}
    assert usage.room_usage(url, "room1", day="2000-01-01") == {"totals": {}, "byUser": []}


def test_a_budget_is_spent_once_its_limit_is_reached_and_says_so_once(
        url: str, caplog: pytest.LogCaptureFixture) -> None:
    budget = usage.Budget(url, {("grok", "audio_seconds"): 3.0, ("grok", "tokens"): 0}, refresh_s=0)
    assert budget.limits == {("grok", "audio_seconds"): 3.0}  # 0: no budget
    assert not budget.spent("grok", "audio_seconds") and not budget.spent("grok", "tokens")
    usage.record(url, "grok", "audio_seconds", 2.0, "r", "u")
    assert not budget.spent("grok", "audio_seconds")
    usage.record(url, "grok", "audio_seconds", 1.0, "r", "u")
    with caplog.at_level(logging.WARNING):
        assert budget.spent("grok", "audio_seconds") and budget.spent("grok", "audio_seconds")
    assert [r.getMessage() for r in caplog.records].count(
        "daily budget spent: falling back to the local engine until tomorrow") == 1
    assert budget.status() == {"grok": {"audio_seconds": {"limit": 3.0, "used": 3.0}}}


def test_metering_never_fails_its_caller(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = f"sqlite:///{tmp_path}/missing/dir/usage.db"  # cannot be opened
    with caplog.at_level(logging.ERROR):
        usage.record(broken, "grok", "characters", 10, None, "ann")
    assert "usage could not be recorded" in caplog.text
    dispose_all()
