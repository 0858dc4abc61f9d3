"""integration: Alembic migrations on SQLite and PostgreSQL, and the server's un-migrated check."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.migrate import pending, upgrade
from core.models import Base
from tests import support
from tests.support import Peer, Service, room_with

pytestmark = pytest.mark.integration


def _fresh_pg_database(postgres_url: str, name: str) -> str:
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name


def _assert_schema_matches_models(url: str) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert diff == [], diff


def test_sqlite_migration_creates_every_table_as_the_models_say(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    assert "make migrate" in str(pending(url))
    upgrade(url)
    assert pending(url) is None
    _assert_schema_matches_models(url)


def test_postgres_migration_creates_every_table_as_the_models_say(postgres_url: str) -> None:
    url = _fresh_pg_database(postgres_url, "lt_migrate")
    upgrade(url)
    assert pending(url) is None
    _assert_schema_matches_models(url)


def test_server_on_unmigrated_database_says_which_command_to_run(tmp_path: Path) -> None:
    env = support.base_env(tmp_path)
    out = subprocess.run([support.PY, "-m", "app"], cwd=support.ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "not migrated" in out.stderr and "make migrate" in out.stderr


@pytest.fixture
def embedded_postgres(tmp_path: Path, log_dir: Path, postgres_url: str):  # type: ignore[no-untyped-def]
    url = _fresh_pg_database(postgres_url, "lt_e2e")
    env = support.base_env(tmp_path, DATABASE_URL=url)
    support.migrate(env)
    web = support.start_web(env, log_dir)
    try:
        support.wait_healthy(web.url, web)  # type: ignore[attr-defined]
        yield Service(web.url, env, log_dir, [web])  # type: ignore[attr-defined]
    finally:
        web.stop()


def test_text_mode_on_postgres_translates_and_persists(embedded_postgres: Service,
                                                      peers: list[Peer]) -> None:
    a, b = room_with(embedded_postgres.url, peers, ("Ann", "en"), ("Bob", "es"))
    a.say("Good morning.", "en")
    assert b.wait_for("translated-message")[0]["translatedText"] == "Buenos días."
    engine = create_engine(embedded_postgres.env["DATABASE_URL"])

    def delivered() -> list[str]:  # recorded just after the emit, so poll briefly
        with engine.connect() as conn:
            return [r[0] for r in conn.exec_driver_sql("SELECT user_id FROM deliveries")]

    assert support.wait_until(delivered, 10, "the delivery row") == [b.id]
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT u.text, t.target_lang, t.text FROM utterances u "
                                    "JOIN translations t ON t.utterance_id = u.id").all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("Good morning.", "es", "Buenos días.")]
