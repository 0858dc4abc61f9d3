"""Process-wide objects the factory wires up: the SocketIO server and the app's services."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_socketio import SocketIO

from app.auth import Tokens
from core.runtime import Runtime

socketio = SocketIO()


@dataclass
class Services(Runtime):
    """The web process's Runtime (settings, translator registry, metrics, emitter: the Socket.IO
    server) and what only the web has."""

    tokens: Tokens
    speech: Any = None  # app.speech_link.SpeechLink, set by the factory
    livekit: Any = None  # core.livekit.LiveKitService, or None when LiveKit is not configured
    engines: Any = None  # core.providers.choices(): the engines of each kind that can be used
    quotas: Any = None  # app.quotas.Quotas: rate limits per user and per address
    liveness: Any = None  # app.liveness.Liveness (distributed): this process is there, holding whom
    glossary_sync: Any = None  # app.glossary_sync.GlossarySync (distributed): glossary edits to all


def services() -> Services:
    svc: Services = current_app.extensions["live_translator"]
    return svc
