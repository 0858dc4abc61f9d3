"""Rebuild the two Markdown tables of bench/RESULTS.md from bench/results/*.json."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ORDER = ["emb-10x4-r5", "emb-50x4-r10", "emb-250x4-r25", "emb-50x4-r50", "dist-10x4-r5",
         "dist-50x4-r10", "dist-250x4-r25", "dist-50x4-r25", "dist-50x4-r25-w1", "dist-250x4-r25-w1",
         "dist-50x4-r25-pg-w2c8", "dist-250x4-r25-pg"]
PCTS = ("p50", "p95", "p99")


def f(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def ps(s: dict[str, Any], key: str, which: tuple[str, ...] = PCTS) -> str:
    return "/".join(f(s[key][p]) for p in which) if key in s else "(n/m)"


def main() -> None:
    runs = [(n, json.loads((HERE / f"{n}.json").read_text())) for n in ORDER]
    print("| run | rooms×M (clients) | R/s | workers×conc | db | msgs expected/received/lost/dup "
          "| throughput msg/s (offered) | e2e p50/p95/p99 | queue p50/p95/p99 | translate p50/p95/p99 "
          "| delivery p50/p95/p99 | **overhead excl. translation** p50/p95/p99 | translationMs p99 "
          "| CPU s web/workers/loadgen |")
    print("|" + "---|" * 14)
    for n, d in runs:
        a, s, cpu = d["args"], d["stats"], d["cpu_s"]
        w = f'{a["workers"]}×{a["concurrency"]}' if a["mode"] == "distributed" else "in-proc"
        wk = sum(v for k, v in cpu.items() if k.startswith("worker"))
        print(f'| {n} | {a["rooms"]}×{a["clients"]} ({a["rooms"] * a["clients"]}) | {a["rate"]:g} | {w} '
              f'| {a.get("db", "sqlite")} | {d["expected"]}/{d["received"]}/{d["lost"]}/{d["duplicates"]} '
              f'| {d["throughput_msgs_s"]:.1f} ({d["offered_msgs_s"]:.0f}) | {ps(s, "e2e")} '
              f'| {ps(s, "queue")} | {ps(s, "translate")} | {ps(s, "delivery")} | **{ps(s, "overhead")}** '
              f'| {f(s["translationMs"]["p99"])} | {cpu["web"]:.1f}/{wk:.1f}/{cpu["load-generator"]:.1f} |')
    print()
    print("| run | ingress p99 | fanout_non_engine p95/p99 | earlier_groups_engine p95/p99 "
          "| fanout_db_other p95/p99 | e2e_minus_stage p50/p99 | overhead same-lang listeners p99 "
          "| client loop lag p99/max |")
    print("|---|---|---|---|---|---|---|---|")
    tail = ("p95", "p99")
    for n, d in runs:
        s, lag = d["stats"], d["client_loop_lag_ms"]
        print(f'| {n} | {f(s["ingress"]["p99"])} | {ps(s, "fanout_non_engine", tail)} '
              f'| {ps(s, "earlier_groups_engine", tail)} | {ps(s, "fanout_db_other", tail)} '
              f'| {ps(s, "e2e_minus_stage", ("p50", "p99"))} | {f(s["overhead_same_lang"]["p99"])} '
              f'| {f(lag["p99"])}/{f(lag["max"])} |')


if __name__ == "__main__":
    main()
