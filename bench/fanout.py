"""Fan-out load benchmark: N rooms x M clients, speakers at R utterances/s, real service processes.

Starts the whole service itself on 127.0.0.1 (free ports, a temporary VAR_DIR), connects real
Socket.IO clients (``socketio.AsyncClient``, one asyncio loop per client process), lets speakers in
every room send sentences at a fixed total rate (open loop: a slow ack never delays the next send),
and measures every ``translated-message`` that arrives. Everything stops by itself at the end.

Modes
  embedded     one web process (eventlet), SQLite, fan-outs run in-process (Celery eager).
  distributed  redis-server + the web process + ``celery worker`` process(es) over that Redis.
  --db postgres  either mode on a throwaway local PostgreSQL instead of the SQLite file.

Usage (from the repository root, with the project's virtualenv; needs ``aiohttp``, see
bench/requirements.txt):

  .venv/bin/python bench/fanout.py --mode embedded --rooms 10 --clients 4 --rate 5 --duration 30
  .venv/bin/python bench/fanout.py --mode distributed --rooms 250 --clients 4 --rate 25 \
      --duration 60 --workers 2 --concurrency 4 --client-procs 2 --json out.json

Room languages cycle en, es, fr, en (for M clients per room, client i speaks LANGS[i % 4]); the
speaker rotates inside each room, so every direction (en->es, en->fr via es, es->en, fr->en ...)
is exercised. Each utterance is expected to reach the M-1 other participants.

Per message it reports (all stamps epoch ms; server and client share the clock):
  e2e        client receive - client send
  ingress    server enqueued - client send        (socket in, persist utterance, enqueue)
  queue      started - enqueued                   (Celery queue / green-thread start)
  translate  translated - started                 (plan read + every translation done before
                                                   this listener's group: groups run in order)
  delivery   client receive - emitted             (emit, Redis pub/sub, web, socket, client loop)
  overhead   e2e - translationMs                  (the goal: p99 <= 50 ms)
  overhead_same_lang / overhead_translated        (the same, split by listener kind)
  fanout_non_engine  translated - started - translationMs  (DB reads/writes in the fan-out and
                     the engine time of groups translated before this listener's group),
                     split into earlier_groups_engine and fanout_db_other
  e2e_minus_stage    e2e - (translated - started)  (everything outside the fan-out's translate
                     stage: socket in, persist, enqueue, queue, emit, delivery)
and throughput (messages/s), lost (expected - unique received), duplicates, send errors, the
client event-loop lag (so a saturated load generator is visible) and the CPU seconds each service
process group used during the run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue as queue_mod
import resource
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LANGS = ("en", "es", "fr", "en")
SENTENCES = {
    "en": ["The weather is nice today.",
           "I would like a cup of coffee, please.",
           "Where is the train station?",
           "We will meet at the office tomorrow morning.",
           "The children are playing in the garden.",
           "Could you repeat that more slowly?",
           "My brother lives in a small house near the river.",
           "The meeting starts at nine o'clock."],
    "es": ["El tiempo es bueno hoy.",
           "Quisiera una taza de café, por favor.",
           "¿Dónde está la estación de tren?",
           "Nos vemos en la oficina mañana por la mañana.",
           "Los niños juegan en el jardín.",
           "Mi hermano vive en una casa pequeña cerca del río."],
    "fr": ["Il fait beau aujourd'hui.",
           "Je voudrais une tasse de café, s'il vous plaît.",
           "Où est la gare ?",
           "Nous nous verrons au bureau demain matin.",
           "Les enfants jouent dans le jardin.",
           "Mon frère habite dans une petite maison près de la rivière."],
}


def now_ms() -> float:
    return time.time() * 1000.0


# --------------------------------------------------------------------------------------------
# Client side: one process drives a subset of the rooms in one asyncio loop.
# --------------------------------------------------------------------------------------------

class Member:
    def __init__(self, index: int, lang: str) -> None:
        self.index = index
        self.lang = lang
        self.token = ""
        self.user_id = ""
        self.sio: Any = None


async def _client_main(cfg: dict[str, Any], rooms: list[int], ctrl: Any, go: Any) -> dict[str, Any]:
    import aiohttp
    import socketio

    url = cfg["url"]
    m = cfg["clients"]
    received: list[tuple[float, dict[str, Any]]] = []   # (recv ms, payload)
    sends: list[dict[str, Any]] = []
    errors: dict[str, int] = {}
    disconnects = [0]

    def err(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    members: dict[int, list[Member]] = {r: [Member(i, LANGS[i % len(LANGS)]) for i in range(m)]
                                        for r in rooms}
    codes: dict[int, str] = {}
    sem = asyncio.Semaphore(cfg["setup_concurrency"])
    timeout = aiohttp.ClientTimeout(total=60)
    conn = aiohttp.TCPConnector(limit=cfg["setup_concurrency"])
    setup_t0 = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout, connector=conn) as http:

        async def sign_in(r: int, mem: Member) -> None:
            async with sem:
                async with http.post(url + "/api/session",
                                     json={"displayName": f"r{r}c{mem.index}", "language": mem.lang}) as resp:
                    body = await resp.json()
                    if resp.status != 201:
                        raise RuntimeError(f"sign-in {resp.status}: {body}")
                mem.token, mem.user_id = body["token"], body["user"]["id"]

        await asyncio.gather(*(sign_in(r, mem) for r in rooms for mem in members[r]))

        async def make_room(r: int) -> None:
            async with sem:
                async with http.post(url + "/api/rooms",
                                     headers={"Authorization": f"Bearer {members[r][0].token}"}) as resp:
                    body = await resp.json()
                    if resp.status != 201:
                        raise RuntimeError(f"create room {resp.status}: {body}")
                codes[r] = str(body["code"])

        await asyncio.gather(*(make_room(r) for r in rooms))

    def on_translated(data: Any) -> None:
        received.append((now_ms(), data))

    def on_disconnect(*_: Any) -> None:
        disconnects[0] += 1

    async def connect_join(r: int, mem: Member) -> None:
        async with sem:
            sio = socketio.AsyncClient(reconnection=False)
            sio.on("translated-message", on_translated)
            sio.on("disconnect", on_disconnect)
            await sio.connect(url, auth={"token": mem.token}, transports=["websocket"], wait_timeout=30)
            mem.sio = sio
            ack = await sio.call("join-room", codes[r], timeout=30)
            if not (isinstance(ack, dict) and ack.get("ok")):
                raise RuntimeError(f"join-room failed: {ack}")

    # Connect room by room (all members of a room before the next) so partial setups stay coherent.
    await asyncio.gather(*(connect_join(r, mem) for r in rooms for mem in members[r]))
    setup_s = time.monotonic() - setup_t0

    ctrl.put(("ready", cfg["proc_index"], {"setup_s": setup_s, "clients": len(rooms) * m}))
    loop = asyncio.get_running_loop()
    start_at: float = await loop.run_in_executor(None, go.get)   # epoch seconds, same for all procs

    # Event-loop lag monitor: how late a 10 ms sleep wakes up.
    lags: list[float] = []
    stop_lag = asyncio.Event()

    async def lag_monitor() -> None:
        while not stop_lag.is_set():
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append((time.monotonic() - t - 0.01) * 1000.0)

    lag_task = asyncio.create_task(lag_monitor())

    rate = cfg["rate"] * len(rooms) / cfg["rooms"]   # this process's share of the total rate
    warmup, duration = cfg["warmup"], cfg["duration"]
    total = int(round(rate * (warmup + duration)))
    n_warm = int(round(rate * warmup))
    speaker_turn = {r: 0 for r in rooms}
    sentence_turn = [0]
    tasks: list[asyncio.Task[None]] = []

    async def send(k: int, r: int, mem: Member) -> None:
        lang = mem.lang
        pool = SENTENCES[lang]
        text = pool[sentence_turn[0] % len(pool)]
        sentence_turn[0] += 1
        rec: dict[str, Any] = {"room": r, "speaker": mem.user_id, "warm": k < n_warm,
                               "expected": m - 1, "lang": lang}
        rec["send"] = now_ms()
        try:
            ack = await mem.sio.call("speech-transcript", {"transcript": text, "sourceLang": lang},
                                     timeout=cfg["ack_timeout"])
        except Exception as exc:  # noqa: BLE001
            err("send:" + type(exc).__name__)
            return
        rec["ack"] = now_ms()
        if isinstance(ack, dict) and ack.get("ok"):
            rec["uid"] = ack["utteranceId"]
            sends.append(rec)
        else:
            code = (ack.get("error") or {}).get("code") if isinstance(ack, dict) else ack
            err(f"send:not-ok:{code}")

    t0 = time.time()
    await asyncio.sleep(max(0.0, start_at - t0))
    for k in range(total):
        due = start_at + k / rate if rate > 0 else start_at
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        r = rooms[k % len(rooms)]
        mem = members[r][speaker_turn[r] % m]
        speaker_turn[r] += 1
        tasks.append(asyncio.create_task(send(k, r, mem)))
    send_end = time.time()
    if tasks:
        await asyncio.wait(tasks, timeout=cfg["ack_timeout"] + 5)

    # Drain: until every expected message arrived, or the drain time is over.
    expected_all = sum(s["expected"] for s in sends)
    drain_deadline = time.monotonic() + cfg["drain"]
    while time.monotonic() < drain_deadline:
        if len({(d.get("utteranceId"), d.get("toUserId")) for _, d in received}) >= expected_all:
            break
        await asyncio.sleep(0.2)
    # A short grace so late duplicates are seen too.
    await asyncio.sleep(0.5)
    stop_lag.set()
    await lag_task

    async def close(mem: Member) -> None:
        try:
            if mem.sio is not None and mem.sio.connected:
                await asyncio.wait_for(mem.sio.disconnect(), 10)
        except Exception:  # noqa: BLE001
            pass

    dc_before_close = disconnects[0]
    await asyncio.gather(*(close(mem) for r in rooms for mem in members[r]))
    slim = [(t, d.get("utteranceId"), d.get("toUserId"), d.get("targetLang"), d.get("sourceLang"),
             d.get("timings") or {}) for t, d in received]
    return {"sends": sends, "received": slim, "errors": errors, "lags": lags,
            "disconnects_during_run": dc_before_close, "send_window": (start_at, send_end),
            "setup_s": setup_s}


def client_proc(cfg: dict[str, Any], rooms: list[int], ctrl: Any, go: Any) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, _nofile_target())
        out = asyncio.run(_client_main(cfg, rooms, ctrl, go))
        ctrl.put(("result", cfg["proc_index"], out))
    except BaseException:  # noqa: BLE001
        ctrl.put(("error", cfg["proc_index"], traceback.format_exc()))


# --------------------------------------------------------------------------------------------
# Service side
# --------------------------------------------------------------------------------------------

def _nofile_target() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    return (max(soft, min(want, 65536)), hard)


def _group_cpu_s(pgid: int) -> float:
    """utime+stime (s) of every live process in a process group (the service's children too)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        # fields[0] is state (field 3); pgrp is field 5, utime 14, stime 15 (1-based).
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def start_service(args: argparse.Namespace, var_dir: Path, log_dir: Path) -> tuple[str, list[Any]]:
    from tests import support

    procs: list[Any] = []
    # One address opens a thousand sessions: rate limits off (they are not what is measured).
    extra: dict[str, str] = {"LOG_LEVEL": args.log_level, "RATE_LIMIT_SCALE": "0"}
    try:
        if args.mode == "distributed":
            redis_proc, redis_url = support.start_redis(log_dir)
            procs.append(redis_proc)
            extra["REDIS_URL"] = redis_url
        if args.db == "postgres":
            pg_proc, pg_url, pg_data = support.start_postgres(log_dir)
            procs.append(pg_proc)
            extra["DATABASE_URL"] = pg_url
            args._pg_data = str(pg_data)
        env = support.base_env(var_dir, **extra)
        support.migrate(env)
        web = support.start_web(env, log_dir)
        procs.append(web)
        if args.mode == "distributed":
            for i in range(args.workers):
                name = f"worker{i + 1}"
                procs.append(support.start(name, [
                    support.PY, "-m", "celery", "-A", "workers.celery_app", "worker",
                    f"--pool={args.pool}", f"--concurrency={args.concurrency}",
                    f"--loglevel={args.log_level}", "-n", f"{name}@%h",
                    "--without-gossip", "--without-mingle", "-Q", "fanout"], env, log_dir))
        support.wait_healthy(web.url, web, timeout=120)
        if args.mode == "distributed":
            support.wait_until(
                lambda: len(support.health(web.url).get("workers", []))
                >= args.workers, 120, f"{args.workers} worker heartbeat(s)", interval=0.5)
        return str(web.url), procs
    except BaseException:
        for p in reversed(procs):
            p.stop()
        raise


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def summarize(results: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    sends = [s for r in results for s in r["sends"]]
    by_uid = {s["uid"]: s for s in sends}
    measured = {uid for uid, s in by_uid.items() if not s["warm"]}
    expected = sum(by_uid[u]["expected"] for u in measured)
    seen: set[tuple[str, str]] = set()
    dup = 0
    stray = 0
    series: dict[str, list[float]] = {k: [] for k in (
        "e2e", "ingress", "queue", "translate", "delivery", "overhead", "overhead_same_lang",
        "overhead_translated", "translationMs", "fanout_non_engine", "earlier_groups_engine",
        "fanout_db_other", "e2e_minus_stage")}
    # Per utterance: each target group's (translated stamp, engine ms), to split fanout_non_engine
    # into the engine time of the groups translated before a listener's group and the rest (DB).
    groups: dict[str, dict[str, tuple[float, float]]] = {}
    for r in results:
        for _t, uid, _to, target, _src, tm in r["received"]:
            groups.setdefault(uid, {})[target] = (tm["translated"], float(tm.get("translationMs") or 0.0))
    recv_times: list[float] = []
    for r in results:
        for t_recv, uid, to, target, source, tm in r["received"]:
            s = by_uid.get(uid)
            if s is None:
                stray += 1
                continue
            key = (uid, to)
            if key in seen:
                dup += 1
                continue
            seen.add(key)
            if s["warm"]:
                continue
            recv_times.append(t_recv)
            e2e = t_recv - s["send"]
            tr = float(tm.get("translationMs") or 0.0)
            series["e2e"].append(e2e)
            series["ingress"].append(tm["enqueued"] - s["send"])
            series["queue"].append(tm["started"] - tm["enqueued"])
            series["translate"].append(tm["translated"] - tm["started"])
            series["delivery"].append(t_recv - tm["emitted"])
            series["overhead"].append(e2e - tr)
            series["translationMs"].append(tr)
            series["fanout_non_engine"].append(tm["translated"] - tm["started"] - tr)
            earlier = sum(ms for tgt, (stamp, ms) in groups[uid].items()
                          if tgt != target and stamp < tm["translated"])
            series["earlier_groups_engine"].append(earlier)
            series["fanout_db_other"].append(tm["translated"] - tm["started"] - tr - earlier)
            series["e2e_minus_stage"].append(e2e - (tm["translated"] - tm["started"]))
            kind = "overhead_same_lang" if target == source else "overhead_translated"
            series[kind].append(e2e - tr)
    received_measured = len(recv_times)
    win_start = min((by_uid[u]["send"] for u in measured), default=0.0)
    win_end = max(recv_times, default=win_start)
    span_s = max(1e-9, (win_end - win_start) / 1000.0)
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    lags = [x for r in results for x in r["lags"]]
    stats = {k: {"n": len(v), "p50": pct(v, 50), "p95": pct(v, 95), "p99": pct(v, 99),
                 "max": max(v) if v else None} for k, v in series.items()}
    return {
        "utterances": len(measured), "expected": expected, "received": received_measured,
        "lost": expected - received_measured, "duplicates": dup, "stray": stray,
        "send_errors": errors, "throughput_msgs_s": received_measured / span_s,
        "offered_msgs_s": args.rate * (args.clients - 1), "span_s": span_s,
        "disconnects_during_run": sum(r["disconnects_during_run"] for r in results),
        "client_loop_lag_ms": {"p50": pct(lags, 50), "p99": pct(lags, 99),
                               "max": max(lags) if lags else None},
        "setup_s": max(r["setup_s"] for r in results),
        "stats": stats,
    }


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def print_report(summary: dict[str, Any], args: argparse.Namespace, cpu: dict[str, float]) -> None:
    print(f"\n== fanout: mode={args.mode} rooms={args.rooms} clients/room={args.clients} "
          f"({args.rooms * args.clients} clients) rate={args.rate}/s duration={args.duration}s"
          + (f" workers={args.workers}x{args.pool}:{args.concurrency}" if args.mode == "distributed" else "")
          + f" db={args.db} client-procs={args.client_procs}")
    print(f"utterances={summary['utterances']} expected msgs={summary['expected']} "
          f"received={summary['received']} lost={summary['lost']} duplicates={summary['duplicates']} "
          f"stray={summary['stray']} send_errors={summary['send_errors'] or 0} "
          f"disconnects={summary['disconnects_during_run']}")
    print(f"throughput={summary['throughput_msgs_s']:.1f} msgs/s (offered {summary['offered_msgs_s']:.1f}) "
          f"over {summary['span_s']:.1f} s; setup {summary['setup_s']:.1f} s")
    lag = summary["client_loop_lag_ms"]
    print(f"client loop lag ms: p50={fmt(lag['p50'])} p99={fmt(lag['p99'])} max={fmt(lag['max'])}")
    print(f"{'metric (ms)':<22}{'n':>7}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    for k, st in summary["stats"].items():
        print(f"{k:<22}{st['n']:>7}{fmt(st['p50']):>9}{fmt(st['p95']):>9}{fmt(st['p99']):>9}{fmt(st['max']):>9}")
    print("CPU seconds during run: " + ", ".join(f"{k}={v:.1f}" for k, v in cpu.items()))
    p99 = summary["stats"]["overhead"]["p99"]
    verdict = "MET" if p99 is not None and p99 <= 50 and summary["lost"] == 0 else "MISSED"
    print(f"goal overhead p99 <= 50 ms (and no loss): {verdict} (p99={fmt(p99)} ms)")


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("embedded", "distributed"), default="embedded")
    ap.add_argument("--rooms", type=int, default=10, help="N rooms")
    ap.add_argument("--clients", type=int, default=4, help="M clients per room (>= 2)")
    ap.add_argument("--rate", type=float, default=5.0, help="R utterances/s across all rooms")
    ap.add_argument("--duration", type=float, default=30.0, help="measured seconds of sending")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of sending not measured")
    ap.add_argument("--drain", type=float, default=30.0, help="max seconds to wait for stragglers")
    ap.add_argument("--ack-timeout", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=1, help="celery worker processes (distributed)")
    ap.add_argument("--concurrency", type=int, default=4, help="--concurrency per worker")
    ap.add_argument("--pool", default="threads", help="celery pool (threads keeps one APY per worker)")
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite",
                    help="sqlite (the default, a file in VAR_DIR) or a throwaway local PostgreSQL")
    ap.add_argument("--client-procs", type=int, default=1, help="load-generator processes")
    ap.add_argument("--setup-concurrency", type=int, default=50)
    ap.add_argument("--log-level", default="WARNING", help="service LOG_LEVEL")
    ap.add_argument("--json", help="also write the summary as JSON to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite) afterwards")
    args = ap.parse_args(argv)
    if args.clients < 2 or args.rooms < 1 or args.rate <= 0 or args.duration <= 0:
        ap.error("need rooms >= 1, clients >= 2, rate > 0, duration > 0")
    args.client_procs = max(1, min(args.client_procs, args.rooms))

    resource.setrlimit(resource.RLIMIT_NOFILE, _nofile_target())  # children inherit it
    tmp = Path(tempfile.mkdtemp(prefix="lt-bench-"))
    var_dir, log_dir = tmp / "var", tmp / "logs"
    var_dir.mkdir()
    log_dir.mkdir()
    procs: list[Any] = []
    children: list[Any] = []
    hard_deadline = (time.monotonic() + 600 + args.warmup + args.duration + args.drain
                     + args.rooms * args.clients * 0.2)
    try:
        t = time.monotonic()
        url, procs = start_service(args, var_dir, log_dir)
        print(f"service up at {url} in {time.monotonic() - t:.1f} s (logs: {log_dir})", flush=True)
        ctx = mp.get_context("spawn")
        ctrl = ctx.Queue()
        gos = [ctx.Queue() for _ in range(args.client_procs)]
        shares = [list(range(i, args.rooms, args.client_procs)) for i in range(args.client_procs)]
        for i, rooms in enumerate(shares):
            cfg = {"url": url, "clients": args.clients, "rooms": args.rooms, "rate": args.rate,
                   "warmup": args.warmup, "duration": args.duration, "drain": args.drain,
                   "ack_timeout": args.ack_timeout, "setup_concurrency": args.setup_concurrency,
                   "proc_index": i}
            p = ctx.Process(target=client_proc, args=(cfg, rooms, ctrl, gos[i]), daemon=True)
            p.start()
            children.append(p)

        def take(kind: str) -> dict[int, Any]:
            got: dict[int, Any] = {}
            while len(got) < len(children):
                left = hard_deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out waiting for clients to be {kind}")
                try:
                    what, idx, data = ctrl.get(timeout=min(left, 5))
                except queue_mod.Empty:
                    dead = [c for c in children if not c.is_alive()]
                    if dead and len(got) < len(children):
                        # a dead child may still have queued its message; give it one more look
                        try:
                            what, idx, data = ctrl.get(timeout=2)
                        except queue_mod.Empty:
                            raise RuntimeError("a client process died without a report") from None
                    else:
                        continue
                if what == "error":
                    raise RuntimeError(f"client process {idx} failed:\n{data}")
                got[idx] = data
            return got

        ready = take("ready")
        print(f"{sum(r['clients'] for r in ready.values())} clients connected and joined in "
              f"{max(r['setup_s'] for r in ready.values()):.1f} s", flush=True)
        pgids = {p.name: p.popen.pid for p in procs}
        cpu0 = {name: _group_cpu_s(pg) for name, pg in pgids.items()}
        self_cpu0 = os.times()
        start_at = time.time() + 1.0
        for g in gos:
            g.put(start_at)
        results = take("result")
        cpu = {name: _group_cpu_s(pg) - cpu0[name] for name, pg in pgids.items()}
        for c in children:
            c.join(timeout=30)
        t1 = os.times()  # the client processes are reaped now, so their CPU is counted
        cpu["load-generator"] = (t1.children_user + t1.children_system
                                 - self_cpu0.children_user - self_cpu0.children_system)
        summary = summarize(list(results.values()), args)
        summary["cpu_s"] = cpu
        summary["args"] = vars(args)
        print_report(summary, args, cpu)
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=2))
        return 0
    finally:
        for c in children:
            if c.is_alive():
                c.terminate()
                c.join(timeout=5)
        for p in reversed(procs):
            p.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
            if getattr(args, "_pg_data", None):
                shutil.rmtree(args._pg_data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
