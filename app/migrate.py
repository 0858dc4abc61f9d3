"""Run and check Alembic migrations from code (`python -m app.migrate` upgrades to head)."""
from __future__ import annotations

import sys

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from core.settings import ROOT, Settings

MIGRATE_HINT = "make migrate   (or: .venv/bin/alembic upgrade head)"


def _config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema."""
    command.upgrade(_config(url), "head")


def pending(url: str) -> str | None:
    """None if the database is at head; else a sentence saying what to run."""
    head = ScriptDirectory.from_config(_config(url)).get_current_head()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    if current == head:
        return None
    return (f"the database is not migrated (it is at {current or 'no revision'}, the code needs "
            f"{head}); run: {MIGRATE_HINT}")


if __name__ == "__main__":
    upgrade(Settings.from_env().database_url)
    sys.stdout.write("database migrated\n")
