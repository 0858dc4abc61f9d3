"""unit: distributed web processes say they are there and whom they hold (app/liveness.py, real
Redis); the users of one that has gone are departed once the grace has passed, unless a live
web process holds them now, and by one sweeper only."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from app import liveness
from app.liveness import Liveness

pytestmark = pytest.mark.unit


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushall()
    yield client
    client.flushall()


def _three(redis_url: str) -> tuple[Liveness, Liveness, Liveness]:
    """Three web processes that said they are there; the first holds Carl in room1."""
    made = Liveness(redis_url), Liveness(redis_url), Liveness(redis_url)
    for w in made:
        w.beat()
    made[0].hold("room1", "carl")
    return made


def test_users_of_a_gone_web_process_are_departed_unless_a_live_one_holds_them(
        r: redis.Redis, redis_url: str) -> None:
    gone, live, other = _three(redis_url)
    gone.hold("room1", "dan")
    live.hold("room1", "dan")  # Dan came back on the live process
    other.hold("room2", "eve")
    r.delete(liveness.ALIVE + gone.name)
    died = time.time() * 1000 - 60_000
    r.set(liveness.SEEN + gone.name, str(died))  # last heard of a minute ago
    departed: list[tuple[str, str, float]] = []
    assert live.sweep(1.0, lambda room, user, before: departed.append((room, user, before))) == 1
    assert departed == [("room1", "carl", pytest.approx(died + 3000))]
    assert not r.exists(liveness.HOLDS + gone.name) and gone.name not in r.smembers(liveness.NAMES)
    assert other.sweep(1.0, lambda *a: departed.append(a)) == 0 and len(departed) == 1


def test_nobody_is_departed_within_the_grace_nor_twice_by_two_sweepers(
        r: redis.Redis, redis_url: str) -> None:
    gone, a, b = _three(redis_url)
    r.delete(liveness.ALIVE + gone.name)  # gone just now: Carl may still come back
    departed: list[tuple[str, str, float]] = []
    assert a.sweep(5.0, lambda *x: departed.append(x)) == 0 and departed == []
    r.set(liveness.SEEN + gone.name, str(time.time() * 1000 - 60_000))
    r.set("lt:lock:holder:" + gone.name, b.name)  # b is sweeping it right now
    assert a.sweep(5.0, lambda *x: departed.append(x)) == 0 and departed == []
