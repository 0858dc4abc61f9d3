"""Celery app and tasks: translation fan-out (and, later, speech synthesis)."""
