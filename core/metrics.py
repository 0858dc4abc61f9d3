"""Counters and histograms shared by the web process and the workers.

In distributed mode the numbers live in Redis (a worker observes fan-out latency, the web process
serves /metrics); embedded, they live in memory. `/metrics` renders them in Prometheus' format.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

PREFIX = "lt:metrics"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COUNTERS = {
    "utterances": "Utterances accepted by handle_transcript()",
    "translations": "Translations made (once per target language and engine)",
    "messages": "translated-message / solo-translated events sent",
    "errors": "Errors, by kind",
}
HISTOGRAMS = {"fanout_latency_seconds": "Transcript received → last translated-message emitted"}


def _key(name: str, label: str) -> str:
    return f"{name}|{label}"


class MetricsStore:
    """In-memory store (embedded mode)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, float] = defaultdict(float)
        self.hist: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def inc(self, name: str, label: str = "", n: float = 1) -> None:
        with self._lock:
            self.counters[_key(name, label)] += n

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            h = self.hist[name]
            for b in BUCKETS:
                if seconds <= b:
                    h[str(b)] += 1
            h["+Inf"] += 1
            h["sum"] += seconds

    def snapshot(self) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        with self._lock:
            return dict(self.counters), {k: dict(v) for k, v in self.hist.items()}


class RedisMetricsStore(MetricsStore):
    """Redis hashes, so every process adds to the same numbers."""

    def __init__(self, redis_url: str) -> None:
        import redis
        self.r = redis.Redis.from_url(redis_url, socket_timeout=2, decode_responses=True)

    def inc(self, name: str, label: str = "", n: float = 1) -> None:
        self.r.hincrbyfloat(f"{PREFIX}:counters", _key(name, label), n)

    def observe(self, name: str, seconds: float) -> None:
        pipe = self.r.pipeline(transaction=False)
        key = f"{PREFIX}:hist:{name}"
        for b in BUCKETS:
            if seconds <= b:
                pipe.hincrbyfloat(key, str(b), 1)
        pipe.hincrbyfloat(key, "+Inf", 1)
        pipe.hincrbyfloat(key, "sum", seconds)
        pipe.execute()

    def snapshot(self) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        counters = {str(k): float(v) for k, v in self.r.hgetall(f"{PREFIX}:counters").items()}
        hist = {}
        for name in HISTOGRAMS:
            raw = self.r.hgetall(f"{PREFIX}:hist:{name}")
            hist[name] = {str(k): float(v) for k, v in raw.items()}
        return counters, hist


class StoreCollector(Collector):
    """Renders a MetricsStore (plus live gauges) for prometheus_client."""

    def __init__(self, store: MetricsStore, gauges: dict[str, Any]) -> None:
        self.store = store
        self.gauges = gauges

    def collect(self) -> Iterator[Any]:
        counters, hists = self.store.snapshot()
        for name, doc in COUNTERS.items():
            fam = CounterMetricFamily(f"lt_{name}", doc, labels=["kind"])
            for key, value in counters.items():
                n, _, label = key.partition("|")
                if n == name:
                    fam.add_metric([label], value)
            yield fam
        for name, doc in HISTOGRAMS.items():
            h = hists.get(name, {})
            buckets = [(str(b), h.get(str(b), 0.0)) for b in BUCKETS] + [("+Inf", h.get("+Inf", 0.0))]
            yield HistogramMetricFamily(f"lt_{name}", doc, buckets=buckets, sum_value=h.get("sum", 0.0))
        for name, fn in self.gauges.items():
            yield GaugeMetricFamily(f"lt_{name}", name.replace("_", " "), value=float(fn()))


def make_store(redis_url: str) -> MetricsStore:
    return RedisMetricsStore(redis_url) if redis_url else MetricsStore()
