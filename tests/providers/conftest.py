"""The fake xAI and Google servers, one each per test run, reset to a healthy provider before each
test."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import support
from tests.support.fake_google import FakeGoogle
from tests.support.fake_xai import FakeXAI


@pytest.fixture(scope="session")
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


@pytest.fixture
def grok_service(request: pytest.FixtureRequest, fake: FakeXAI, tmp_path: Path,
                 log_dir: Path) -> Iterator[support.Service]:
    """The whole service on the embedded default (speech process started at once) with xAI
    configured against the fake: Grok first in every failover order. `@pytest.mark.env(...)`
    adds to or overrides the environment (XAI_API_KEY="" for a deployment without a key); tests
    marked `livekit` get a real LiveKit server."""
    yield from support.service_for(
        request, tmp_path, log_dir, SPEECH_AUTOSTART="1", XAI_API_KEY=fake.key,
        XAI_BASE_URL=fake.base_url, XAI_STALL_S="1.5", STT_ENGINES="grok,local",
        TRANSLATION_ENGINES="grok,local", TTS_ENGINES="grok,local")


@pytest.fixture(scope="session")
def google_server() -> Iterator[FakeGoogle]:
    fake = FakeGoogle().start()
    yield fake
    fake.reset()
    fake.stop()


@pytest.fixture
def gfake(google_server: FakeGoogle) -> Iterator[FakeGoogle]:
    """The fake Google, healthy, its registered clips kept (they describe the audio, not a fault)."""
    google_server.reset()
    yield google_server
    google_server.reset()
