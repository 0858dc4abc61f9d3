"""The fake xAI server, one per module, reset to a healthy provider before each test."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_xai import FakeXAI


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeXAI]:
    fake = FakeXAI().start()
    yield fake
    fake.reset()
    fake.stop()


@pytest.fixture
def fake(fake_server: FakeXAI) -> Iterator[FakeXAI]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()  # a stalled handler lets go
