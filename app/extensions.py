"""Process-wide objects the factory wires up: the SocketIO server and the app's services."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_socketio import SocketIO

from app.auth import Tokens
from core.metrics import MetricsStore
from core.settings import Settings
from engines.translation import TranslatorRegistry

socketio = SocketIO()


@dataclass
class Services:
    settings: Settings
    tokens: Tokens
    metrics: MetricsStore
    registry: TranslatorRegistry
    speech: Any = None  # app.speech.SpeechLink, set by the factory
    livekit: Any = None  # core.livekit.LiveKitService, or None when LiveKit is not configured


def services() -> Services:
    svc: Services = current_app.extensions["live_translator"]
    return svc
