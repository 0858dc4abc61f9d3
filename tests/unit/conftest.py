"""What the unit tests share: a fresh SQLite database with the schema, rows made directly, a
translator whose behaviour each test scripts (the engine interface, not a copy of ours), an
emitter that records what would go to Socket.IO, and a Runtime over them."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app import migrate
from app.extensions import Services
from app.factory import create_app
from core import membership
from core.db import dispose_all, get_engine, session_scope
from core.metrics import make_store
from core.models import Base, Participant, Room, User, Utterance, now_ms
from core.runtime import Runtime
from core.settings import Settings
from engines.errors import EngineError
from engines.translation import Capabilities, Translator, TranslatorRegistry
from tests.unit.inprocess import App


class Scripted(Translator):
    """Translates to "<target>:<text>"; `fail` (an EngineError or None) is consulted per call."""

    def __init__(self, name: str, fail: Callable[[int], EngineError | None] = lambda n: None) -> None:
        self.name = name
        self.fail = fail
        self.calls: list[tuple[str, str, str]] = []
        self.max_attempts = 1

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(offline=True)

    def supports(self, source: str, target: str) -> bool:
        return True

    def _translate_impl(self, text: str, source: str, target: str) -> tuple[str, tuple[str, ...]]:
        self.calls.append((text, source, target))
        exc = self.fail(len(self.calls))
        if exc is not None:
            raise exc
        return f"{target}:{text}", (source, target)


@dataclass
class Recorder:
    """An emitter that keeps (event, data, to) instead of sending."""

    sent: list[tuple[str, Any, str | None]] = field(default_factory=list)

    def emit(self, event: str, data: Any = None, *, to: str | None = None, **_: Any) -> None:
        self.sent.append((event, data, to))

    def events(self, name: str) -> list[tuple[Any, str | None]]:
        return [(d, to) for e, d, to in self.sent if e == name]


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'unit.db'}"
    Base.metadata.create_all(get_engine(url))
    yield url
    dispose_all()


@pytest.fixture
def local() -> Scripted:
    return Scripted("local")


@pytest.fixture
def rt(db_url: str, tmp_path: Path, local: Scripted) -> Runtime:
    settings = Settings(database_url=db_url, secret_key="unit", var_dir=tmp_path)
    registry = TranslatorRegistry({"local": lambda: local}, default="local")
    return Runtime(settings, registry, make_store(""), Recorder())


def add_user(url: str, name: str, language: str, **prefs: Any) -> str:
    with session_scope(url) as s:
        user = User(display_name=name, language=language, **prefs)
        s.add(user)
        s.flush()
        return user.id


def add_room(url: str, owner: str, *members: str) -> str:
    """A room with `owner` and `members` present, each in their own language."""
    with session_scope(url) as s:
        room = Room(code=f"R{now_ms():.0f}"[-12:], created_by=owner)
        s.add(room)
        s.flush()
        for uid in (owner, *members):
            user = s.get(User, uid)
            assert user is not None
            s.add(Participant(room_id=room.id, user_id=uid, language=user.language))
            membership.open_stretch(s, room.id, uid, now_ms())
        return room.id


def add_utterance(url: str, speaker: str, text: str, source: str, room: str | None = None,
                  solo_target: str | None = None) -> str:
    with session_scope(url) as s:
        u = Utterance(speaker_id=speaker, room_id=room, text=text, source_lang=source,
                      solo_target_lang=solo_target, received_at=now_ms())
        s.add(u)
        s.flush()
        return u.id


@contextmanager
def in_process_app(tmp_path: Path, **settings: Any) -> Iterator[App]:
    """The in-process app (tests.unit.inprocess), its translator scripted; `settings` (top-level
    values and whole sections, e.g. `web={...}`) override the unit defaults (no rate limits)."""
    cfg = Settings(**{"database_url": f"sqlite:///{tmp_path}/app.db", "secret_key": "unit",
                      "bridge_secret": "bridge-unit", "var_dir": tmp_path, "web": {"rate_limit_scale": 0},
                      **settings})
    migrate.upgrade(cfg.database_url)
    flask = create_app(cfg, async_mode="threading", start_engines=False)
    svc: Services = flask.extensions["live_translator"]
    svc.registry = TranslatorRegistry({"local": lambda: Scripted("local")}, default="local")
    world = App(flask, svc, [])
    yield world
    for c in world.clients:
        if c.is_connected():
            c.disconnect()
    dispose_all()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    with in_process_app(tmp_path) as world:
        yield world
