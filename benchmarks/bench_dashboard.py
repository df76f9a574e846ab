"""Measure ``dtrack dashboard BTC ETH SOL`` against the simulated venues with 100 ms latency: requests and rounds of
requests per run with a cold and a warm cache, wall time and the peak RSS of the dtrack process.

Usage: python benchmarks/bench_dashboard.py [--latency-ms 100] [--runs 3] [--level 2] [--assets BTC ETH SOL]

Starts two `dtrack sim serve` processes (0 ms and the latency; request logs) and runs the dashboard against each as
a separate process (``--format json`` and the table), first with an empty cache directory (cold: instrument lists
and funding intervals are fetched) and then with the cache it left (warm). The 0 ms run is the fixed cost (start-up,
the sim computing its answers, analytics, rendering); the difference is what the latency costs. Requests are counted
from the sim's request log, and grouped in bursts (a new burst after a quiet gap of half the latency). A burst is a
round only when the sim keeps up: the log stamps a request when the sim's one event loop gets to it, so while it is
busy pricing option chains the stamps spread and a round can look like several; requests a venue's rate budget
holds back (the adapters' limiter: Deribit's burst of 90, then 18 per second) also arrive later. The per-venue
counts say which. Whether a request waited for another's answer is checked exactly by tests/test_dashboard.py (the
sim's Flight holds a round's answers until all of its requests arrived). Peak RSS is the dtrack process's
``ru_maxrss`` (os.wait4). Prints one line per figure; asserts nothing.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cli import free_port  # the benchmarks share their helpers


def log_rounds(log: Path, since: float, until: float, latency_s: float) -> list[list[dict[str, Any]]]:
    """The log's requests between ``since`` and ``until`` (epoch s), grouped in rounds (quiet gap > latency / 2)."""
    rows = []
    for line in log.read_text().splitlines():
        item = json.loads(line)
        if "path" not in item:  # a WebSocket frame
            continue
        t = datetime.fromisoformat(item["time"].replace("Z", "+00:00")).timestamp()
        if since <= t <= until:
            rows.append((t, item))
    rows.sort(key=lambda r: r[0])
    out: list[list[dict[str, Any]]] = []
    last = None
    for t, item in rows:
        if last is None or t - last > latency_s / 2:
            out.append([])
        out[-1].append(item)
        last = t
    return out


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, exit code) of one run of ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed ({code}): {err.strip()}")
    if proc.stderr:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss / 1024.0, code  # Linux: ru_maxrss in KiB


def start_sim(dtrack: list[str], tmp: Path, latency_ms: float, env: dict[str, str]) -> tuple[Any, Path, Path]:
    cfg, log = tmp / f"sim-{latency_ms:g}.yaml", tmp / f"requests-{latency_ms:g}.jsonl"
    proc = subprocess.Popen([*dtrack, "sim", "serve", "--port", str(free_port()), "--latency-ms", str(latency_ms),
                             "--log-requests", str(log), "--write-config", str(cfg)], env=env,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        if cfg.exists() and cfg.stat().st_size:
            break
        time.sleep(0.1)
    return proc, cfg, log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--level", type=int, default=2, choices=(1, 2, 3))
    ap.add_argument("--assets", nargs="+", default=["BTC", "ETH", "SOL"])
    args = ap.parse_args()
    dtrack = [sys.executable, "-m", "dtrack"]
    tmp = Path(tempfile.mkdtemp(prefix="dtrack-bench-dash-"))
    cache = tmp / "cache"
    env = {**os.environ, "DTRACK_CACHE_DIR": str(cache), "DTRACK_STATE_DIR": str(tmp / "state"),
           "DTRACK_STORE": str(tmp / "none.db")}
    servers = []
    try:
        sims: dict[float, tuple[Path, Path]] = {}
        for lat in (0.0, args.latency_ms):
            proc, cfg, log = start_sim(dtrack, tmp, lat, env)
            servers.append(proc)
            sims[lat] = (cfg, log)
        argv = ["dashboard", *args.assets, "--level", str(args.level)]
        figures: dict[tuple[float, str, str], list[tuple[float, float, int, list[list[dict[str, Any]]]]]] = {}
        for _ in range(args.runs):  # the two sims in turn, so that machine load hits them alike
            for lat, (cfg, log) in sims.items():
                for fmt in ("json", "table"):
                    for label in ("cold", "warm"):
                        if label == "cold":
                            shutil.rmtree(cache, ignore_errors=True)
                        t0 = time.time()
                        elapsed, rss, code = run_once([*dtrack, "--config", str(cfg), *argv, "--format", fmt], env)
                        time.sleep(lat / 1000 + 0.05)  # the last answers are logged
                        rounds = log_rounds(log, t0, time.time(), max(lat, 20.0) / 1000)
                        figures.setdefault((lat, fmt, label), []).append((elapsed, rss, code, rounds))
        print(f"dtrack {' '.join(argv)}: sims with 0 and {args.latency_ms:g} ms latency, {args.runs} runs each")
        for fmt in ("json", "table"):
            for label in ("cold", "warm"):
                base, slow = figures[(0.0, fmt, label)], figures[(args.latency_ms, fmt, label)]
                sizes = [len(r) for r in slow[-1][3]]
                later = collections.Counter(item["venue"] for r in slow[-1][3][1:] for item in r)
                t0, t1 = statistics.median(r[0] for r in base), statistics.median(r[0] for r in slow)
                print(f"--format {fmt}, {label} cache: median {t0 * 1000:.0f} ms with 0 ms latency, {t1 * 1000:.0f} ms "
                      f"with {args.latency_ms:g} ms (latency adds {(t1 - t0) * 1000:.0f} ms); peak RSS max "
                      f"{max(r[1] for r in base + slow):.1f} MiB; {sum(sizes)} requests, arriving in {len(sizes)} "
                      f"bursts {sizes}" + (f" (after the first: {dict(later)})" if later else "")
                      + f"; exit {sorted({r[2] for r in base + slow})}", flush=True)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
