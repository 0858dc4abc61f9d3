"""The control plane: Flask + Flask-SocketIO (eventlet), REST, rooms, and handle_transcript().

Kept free of imports so that `python -m app` can monkey-patch for eventlet before anything loads.
"""
from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("create_app", "NotMigrated"):
        from app import factory
        return getattr(factory, name)
    raise AttributeError(name)
