"""Celery settings, from the service's (REDIS_URL and its Celery section). With REDIS_URL unset,
tasks run in-process (the embedded default)."""
from core.settings import Settings

_settings = Settings.from_env(prepare=False)
_redis = _settings.redis_url

broker_url = _redis or "memory://"
task_always_eager = not _redis
# Embedded, Celery's apply() runs a task's retries itself; it can only do so when an eager failure
# is returned as the result rather than raised. Celery logs such a failure; workers.tasks also
# counts a failed fan-out.
task_eager_propagates = False
task_ignore_result = True
result_backend = None
task_serializer = "json"
accept_content = ["json"]
# A task is acknowledged only once it has run, and given back if its worker dies mid-way, so a
# fan-out interrupted by a crash is run again; deliveries already made are skipped by the task.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# How long Redis keeps an unacknowledged task before handing it to another worker: this bounds how
# late a fan-out lost with its worker arrives. Fan-outs take milliseconds, so a minute is ample.
# Workers sweep for such tasks every quarter of that (kombu's default sweep is ~100 s).
_visibility = _settings.celery.visibility_timeout
broker_transport_options = {"visibility_timeout": _visibility,
                            "unacked_restore_interval": max(1, _visibility // 4),
                            "unacked_restore_throttle": 1}
broker_connection_retry_on_startup = True
task_default_queue = "fanout"
worker_hijack_root_logger = False
