"""What the browser tests share: the browser profiles a test opened, closed after it."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def people() -> Iterator[list[Any]]:
    """Browser profiles (test_browser_e2e.Person) a test made."""
    made: list[Any] = []
    yield made
    for p in made:
        p.close()
