"""Distributed: a room's glossary edited on one web process reaches the speech sessions every web
process holds in that room (their recognisers' key terms, from the next utterance on).

The web process that took the edit applies it to its own sessions and publishes it on the Redis
channel `lt:glossary`; every other web process applies it to theirs. A message is signed with
the speech link's key (core.settings `speech_link_key`), so a client of Redis without it cannot
plant key terms in a room's recognition.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import redis

logger = logging.getLogger(__name__)

CHANNEL = "lt:glossary"
MAX_TERMS = 100


class GlossarySync:
    def __init__(self, redis_url: str, key: bytes, name: str,
                 apply: Callable[[str, list[str]], None]) -> None:
        self.r = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.key = key
        self.name = name
        self.apply = apply

    def _mac(self, body: bytes) -> str:
        return hmac.new(self.key, CHANNEL.encode() + b"\0" + body, hashlib.sha256).hexdigest()

    def publish(self, room_id: str, terms: list[str]) -> None:
        """Tell the other web processes (a failure is logged: their sessions get the glossary when
        they next start)."""
        body = json.dumps({"from": self.name, "roomId": room_id, "terms": terms}).encode()
        try:
            self.r.publish(CHANNEL, json.dumps({"b": body.decode(), "m": self._mac(body)}))
        except redis.RedisError:
            logger.warning("could not tell the other web processes of a glossary change")

    def handle(self, raw: bytes | str) -> bool:
        """One message from the channel: applied if signed, from another process and well formed."""
        try:
            outer = json.loads(raw)
            body = str(outer["b"]).encode()
            if not hmac.compare_digest(str(outer["m"]), self._mac(body)):
                raise ValueError("not signed with the link's key")
            msg: Any = json.loads(body)
            room_id, terms = msg["roomId"], msg["terms"]
            if not (isinstance(room_id, str) and isinstance(terms, list) and len(terms) <= MAX_TERMS
                    and all(isinstance(t, str) and len(t) <= 50 for t in terms)):
                raise ValueError("malformed")
        except (ValueError, KeyError, TypeError):
            logger.warning("a glossary message was not ours; dropped")
            return False
        if msg.get("from") == self.name:
            return False  # ours: applied when it was taken
        self.apply(room_id, terms)
        return True

    def listen_forever(self, sleep: Callable[[float], Any]) -> None:
        """Apply what the other web processes publish (subscribed again after Redis was away)."""
        while True:
            try:
                sub = self.r.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                sub.subscribe(CHANNEL)
                while True:
                    message = sub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        try:
                            self.handle(message["data"])
                        except Exception:  # noqa: BLE001 - that one change is lost, the next goes
                            logger.exception("a glossary change could not be applied")
                    sleep(0)
            except redis.RedisError:
                logger.warning("glossary changes: Redis is unavailable; trying again")
                sleep(1.0)
