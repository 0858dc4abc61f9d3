"""Celery app and tasks: the translation fan-out to each listener language, translated interims,
speech synthesis of translations, and the heartbeat that marks a worker alive."""
