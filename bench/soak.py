"""Soak with faults: steady typed traffic through the distributed service while Redis, the worker,
the web process and Apertium are killed in turn; per minute, the latency of what arrived live and
each process's RSS; at the end, what every listener has (live, or filled in from history as the
page does after a reconnect or a `resync`): lost, duplicated, failed.

Starts everything itself on 127.0.0.1 (a Redis of its own that keeps nothing on disk, the web
process, one Celery worker with its APY) and stops it all at the end. Clients behave as the page:
a message is sent again with its clientId until acknowledged; a listener that reconnects joins
again and reads the room's history; one told to `resync` reads it too.

  .venv/bin/python bench/soak.py --minutes 30 --fault-every 4 --rooms 10 --rate 4 --json out.json

Rooms have an English speaker and Spanish, French and English listeners. Faults cycle: Redis
killed (down `--redis-down` s, then started again on its port: queues and locks gone), the worker
SIGKILLed (a new one started), the web process SIGKILLed (started again on its port), APY
SIGKILLed (the worker restarts it). As docker-compose's restart policy does, a web or worker
process that exits by itself is started again (`--no-restart-policy`: not); the report lists those.
"""
from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import socketio  # noqa: E402

from tests import support  # noqa: E402
from tests.support import Peer  # noqa: E402

SENTENCES = ["The weather is nice today.", "Where is the train station?",
             "We will meet at the office tomorrow morning.", "The children are playing in the garden.",
             "My brother lives in a small house near the river.", "The meeting starts at nine o'clock.",
             "I would like a cup of coffee, please.", "Could you repeat that more slowly?"]
LISTENERS = ("es", "fr", "en")


def now_ms() -> float:
    return time.time() * 1000.0


class Client(Peer):
    """A Peer that reconnects on its own and, like the page, joins again and fills in."""

    def __init__(self, url: str, name: str, lang: str) -> None:
        super().__init__(url, name, lang)
        self.lang = lang
        self.code = ""
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.5,
                                   reconnection_delay_max=2, request_timeout=10)
        for ev in self.EVENTS:
            self.sio.on(ev, self._recorder(ev))
        self.sio.on("connect", self._connected)
        self.reconnects = 0

    def _connected(self) -> None:
        if self.code:
            self.reconnects += 1
            threading.Thread(target=self._rejoin, daemon=True).start()

    def _rejoin(self) -> None:
        for _ in range(20):
            try:
                if self.call("join-room", self.code)["ok"]:
                    self.fill_in()
                    return
            except Exception:  # noqa: BLE001 - the web process may still be starting
                pass
            time.sleep(1)

    def join(self, code: str) -> dict[str, Any]:
        self.code = code
        return super().join(code)

    def say_until_ok(self, text: str, client_id: str) -> bool:
        ack = self.say_until_taken(text, client_id, give_up_s=180)
        return bool(ack and ack["ok"])


class Service:
    """Redis, web and worker of the soak, each restartable in place."""

    def __init__(self, var: Path, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.redis, self.redis_url = support.start_redis(log_dir)
        self.redis_port = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        self.env = support.base_env(var, REDIS_URL=self.redis_url, LOG_LEVEL="WARNING",
                                    RATE_LIMIT_SCALE="0", RESUME_AFTER_S="10",
                                    CELERY_VISIBILITY_TIMEOUT="10", FANOUT_LOCK_TTL_MS="5000")
        support.migrate(self.env)
        self.web = support.start_web(self.env, log_dir)
        self.url: str = self.web.url  # type: ignore[attr-defined]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.worker = support.start_worker(self.env, log_dir)
        support.wait_healthy(self.url, self.web, timeout=120)
        self.busy = threading.Lock()  # a fault or a policy restart at a time
        self.restarted: list[tuple[float, str]] = []  # by the restart policy: (epoch ms, which)

    def restart_policy(self, stop: threading.Event) -> None:
        """What docker-compose's `restart: unless-stopped` does for web and worker: a process
        that exited (not by a fault of ours) is started again. Celery's consumer can exit after
        Redis comes back (kombu's "Unrecoverable error"), which the soak must survive as a
        deployment does."""
        while not stop.wait(1.0):
            with self.busy:
                if not self.worker.alive():
                    self.restarted.append((time.time() * 1000, "worker"))
                    print("  restart policy: the worker had exited; started again", flush=True)
                    self.worker = support.start_worker(self.env, self.log_dir)
                if not self.web.alive():
                    self.restarted.append((time.time() * 1000, "web"))
                    print("  restart policy: the web process had exited; started again", flush=True)
                    self.web = support.start_web(self.env, self.log_dir, port=self.port)

    def kill_redis(self, down_s: float) -> None:
        self.redis.kill(signal.SIGKILL)
        time.sleep(down_s)
        self.redis, _ = support.start_redis(self.log_dir, port=self.redis_port)

    def kill_worker(self) -> None:
        self.worker.kill(signal.SIGKILL)
        self.worker = support.start_worker(self.env, self.log_dir)

    def kill_web(self) -> None:
        self.web.kill(signal.SIGKILL)
        self.web = support.start_web(self.env, self.log_dir, port=self.port)
        support.wait_healthy(self.url, self.web, timeout=120, need_engine=False)

    def kill_apy(self) -> None:
        try:
            pid = support.health(self.url)["engines"]["translation"]["local"]["pid"]
            psutil.Process(int(pid)).kill()
        except Exception as exc:  # noqa: BLE001 - report, the soak goes on
            print(f"  (could not kill APY: {exc})", flush=True)

    def rss_mb(self) -> dict[str, float]:
        out = {}
        for name, proc in (("web", self.web), ("worker", self.worker), ("redis", self.redis)):
            try:
                p = psutil.Process(proc.popen.pid)
                # with its children: the worker's APY (and its pipelines)
                rss = p.memory_info().rss + sum(c.memory_info().rss
                                                for c in p.children(recursive=True))
                out[name] = round(rss / 2**20, 1)
            except psutil.Error:
                out[name] = float("nan")
        return out

    def stop(self) -> None:
        for proc in (self.web, self.worker, self.redis):
            proc.stop()


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--fault-every", type=float, default=4, help="minutes between faults")
    ap.add_argument("--rooms", type=int, default=10)
    ap.add_argument("--rate", type=float, default=4, help="utterances per second over all rooms")
    ap.add_argument("--redis-down", type=float, default=10)
    ap.add_argument("--settle", type=float, default=60, help="seconds after the load for stragglers")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-restart-policy", action="store_true",
                    help="do not start web or worker again when they exit by themselves")
    args = ap.parse_args()

    log_dir = ROOT / "test-artifacts" / "soak"
    log_dir.mkdir(parents=True, exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="lt-soak-"))
    svc = Service(var, log_dir)
    speakers: list[Client] = []
    listeners: list[Client] = []
    sent: dict[str, tuple[float, int]] = {}  # text → (first send ms, room index)
    given_up: list[str] = []
    faults: list[tuple[float, str]] = []
    rss: list[dict[str, Any]] = []
    try:
        for r in range(args.rooms):
            sp = Client(svc.url, f"Speaker{r}", "en").connect()
            code = sp.create_room()
            sp.join(code)
            speakers.append(sp)
            for lang in LISTENERS:
                li = Client(svc.url, f"L{r}{lang}", lang).connect()
                li.join(code)
                listeners.append(li)
        print(f"soak: {args.rooms} rooms, {len(listeners)} listeners, {args.rate}/s for "
              f"{args.minutes} min, a fault every {args.fault_every} min", flush=True)
        start = time.monotonic()
        t0 = now_ms()
        stop = threading.Event()

        def fault_loop() -> None:
            kinds = [("redis", lambda: svc.kill_redis(args.redis_down)), ("worker", svc.kill_worker),
                     ("web", svc.kill_web), ("apy", svc.kill_apy)]
            i = 0
            while not stop.wait(args.fault_every * 60):
                name, do = kinds[i % len(kinds)]
                i += 1
                print(f"  fault at {(now_ms() - t0) / 60000:.1f} min: {name}", flush=True)
                faults.append(((now_ms() - t0) / 60000, name))
                try:
                    with svc.busy:
                        do()
                except Exception as exc:  # noqa: BLE001
                    print(f"  fault {name} failed: {exc}", flush=True)

        def rss_loop() -> None:
            while True:
                rss.append({"minute": round((now_ms() - t0) / 60000, 1), **svc.rss_mb()})
                if stop.wait(60):
                    return

        threading.Thread(target=fault_loop, daemon=True).start()
        threading.Thread(target=rss_loop, daemon=True).start()
        if not args.no_restart_policy:
            threading.Thread(target=svc.restart_policy, args=(stop,), daemon=True).start()
        pool = ThreadPoolExecutor(max_workers=64)
        n = 0

        def send(sp: Client, room: int, text: str) -> None:
            if not sp.say_until_ok(text, f"s{hash(text) & 0xffffffff:x}-{room}"):
                given_up.append(text)

        while time.monotonic() - start < args.minutes * 60:
            room = n % args.rooms
            text = f"{SENTENCES[n % len(SENTENCES)][:-1]}, number {n}."
            sent[text] = (now_ms(), room)
            pool.submit(send, speakers[room], room, text)
            n += 1
            time.sleep(max(0.0, start + n / args.rate - time.monotonic()))
        stop.set()
        pool.shutdown(wait=True)
        print(f"soak: load done ({n} utterances); settling {args.settle:.0f} s", flush=True)
        time.sleep(args.settle)
        for li in listeners:  # a page reload at the end: history fills in what is still missing
            try:
                li.fill_in()
            except Exception as exc:  # noqa: BLE001
                print(f"  final fill-in failed for {li.user['displayName']}: {exc}", flush=True)
        report = summarize(args, t0, sent, listeners, given_up, faults, rss)
        report["totals"]["restarted_by_policy"] = [(round((at - t0) / 60000, 1), k)
                                                   for at, k in svc.restarted]
        print(json.dumps(report["totals"], indent=2))
        for row in report["minutes"]:
            print(f"  min {row['minute']:>3}: n={row['n']:>4} p50={row['p50']:>7.1f} "
                  f"p99={row['p99']:>8.1f} ms  rss={row.get('rss')}")
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        for c in speakers + listeners:
            c.close()
        svc.stop()


def summarize(args: Any, t0: float, sent: dict[str, tuple[float, int]], listeners: list[Client],
              given_up: list[str], faults: list[tuple[float, str]],
              rss: list[dict[str, Any]]) -> dict[str, Any]:
    room_of = {li.code: i // len(LISTENERS) for i, li in enumerate(listeners)}
    lost = dup = failed = live = filled = 0
    lost_at: list[dict[str, Any]] = []
    per_minute: dict[int, list[float]] = {}
    for li in listeners:
        room = room_of[li.code]
        expected = {t for t, (_, r) in sent.items() if r == room and t not in given_up}
        first: dict[str, float] = {}
        counts: dict[str, int] = {}
        for ev, data, at in li.events:
            if ev == "translated-message":
                counts[data["originalText"]] = counts.get(data["originalText"], 0) + 1
                first.setdefault(data["originalText"], at)
            elif ev == "translation-failed":
                failed += 1
        dup += sum(c - 1 for c in counts.values() if c > 1)
        history = {m["originalText"]: m for m in li.filled.values()}
        for text in expected:
            if text in first:
                live += 1
                ms = first[text] - sent[text][0]
                per_minute.setdefault(int((sent[text][0] - t0) // 60000), []).append(ms)
            elif text in history and history[text].get("translatedText"):
                filled += 1
            else:
                lost += 1
                at = round((sent[text][0] - t0) / 60000, 2)
                lost_at.append({"sent_min": at, "lang": li.lang, "in_history": text in history})
    minutes = []
    for m in sorted(per_minute):
        xs = per_minute[m]
        row: dict[str, Any] = {"minute": m, "n": len(xs), "p50": round(pct(xs, 0.5), 1),
                               "p99": round(pct(xs, 0.99), 1),
                               "faults": [k for at, k in faults if int(at) == m]}
        near = [r for r in rss if int(r["minute"]) in (m, m + 1)]
        if near:
            row["rss"] = {k: v for k, v in near[0].items() if k != "minute"}
        minutes.append(row)
    p50s = [r["p50"] for r in minutes]
    totals = {"utterances": len(sent), "listeners": len(listeners), "expected": sum(
        1 for li in listeners for t, (_, r) in sent.items() if r == room_of[li.code]),
        "live": live, "filled_in_from_history": filled, "lost": lost, "duplicated_live": dup,
        "translation_failed_notices": failed, "sends_given_up": len(given_up),
        "reconnects": sum(li.reconnects for li in listeners), "faults": faults,
        "p50_of_minute_p50s": round(statistics.median(p50s), 1) if p50s else None,
        "rss_first_last": [rss[0], rss[-1]] if rss else [], "lost_samples": lost_at[:40]}
    return {"args": vars(args) | {"json": str(args.json) if args.json else None},
            "totals": totals, "minutes": minutes, "rss": rss}


if __name__ == "__main__":
    main()
