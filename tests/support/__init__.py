"""Test support, by what it serves: processes (free ports, waiting, Redis, PostgreSQL,
livekit-server), service (the app under test as processes), peers (recording Socket.IO users),
livekit_client (a LiveKit participant publishing recorded speech) and speech (recorded speech and
its scoring). The names most tests use are re-exported here."""
from tests.support.peers import Peer, room_with
from tests.support.processes import (
    PY,
    ROOT,
    Proc,
    free_port,
    start,
    start_livekit,
    start_postgres,
    start_redis,
    wait_until,
    when_quiet,
)
from tests.support.service import (
    Service,
    ServicePool,
    apy_pid,
    base_env,
    embedded_service,
    health,
    migrate,
    service_for,
    start_web,
    start_worker,
    two_web_processes,
    wait_healthy,
)

__all__ = ["PY", "ROOT", "Peer", "Proc", "Service", "ServicePool", "apy_pid", "base_env",
           "embedded_service", "free_port", "health", "migrate", "room_with", "service_for", "start",
           "start_livekit", "start_postgres", "start_redis", "start_web", "start_worker",
           "two_web_processes", "wait_healthy", "wait_until", "when_quiet"]
