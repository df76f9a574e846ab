"""Measure dtrack's data commands against the simulated venues with injected latency, and CLI start-up.

Usage: python benchmarks/bench_cli.py [--latency-ms 100] [--runs 5] [--command funding|oi|basis|options]...
                                     [--view json|table]

Starts two `dtrack sim serve` processes (0 ms and L ms latency, request logs on) and times each command
(`funding BTC ETH SOL`, `oi BTC ETH SOL --changes`, `basis --all`, `options BTC`; `--format json`, or with
`--view table` the table view, piped, at COLUMNS=120) against
each, with a cold cache (instrument lists and funding intervals fetched) and a warm one (served from the
disk cache). The zero-latency run is the
command's fixed cost (interpreter, imports, parsing, rendering): its start-up. The latency's cost is the
difference, and the rounds of concurrent requests are counted from the sim's request log (a round: requests
arriving within half the latency of its first one). Also times `dtrack --help`. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rounds(log: Path, since: float, latency_s: float, until: float = float("inf")) -> tuple[int, int]:
    """(rounds, requests) in the log between ``since`` and ``until`` (epoch seconds).

    A new round starts after a quiet gap of half the latency between two arrivals: requests sent
    together arrive back to back (spread only by the client's dispatch time), while a request that
    needed an earlier answer arrives after that answer's latency.
    """
    times = []
    for line in log.read_text().splitlines():
        t = datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00")).timestamp()
        if since <= t <= until:
            times.append(t)
    times.sort()
    count = 1 if times else 0
    for before, after in itertools.pairwise(times):
        if after - before > latency_s / 2:
            count += 1
    return count, len(times)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


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


COMMANDS = {
    "funding": ["funding", "BTC", "ETH", "SOL"],
    "oi": ["oi", "BTC", "ETH", "SOL", "--changes"],
    "basis": ["basis", "--all"],
    "options": ["options", "BTC"],
}


def measure(dtrack: list[str], argv: list[str], sims: dict[float, tuple[Path, Path]], env: dict[str, str], runs: int,
            cache: Path, view: str = "json") -> dict[tuple[float, str], tuple[float, float, float]]:
    """{(latency ms, "cold cache"|"warm cache"): (median seconds, requests per run, rounds per run)}.

    The servers are measured in turn within each repetition, so that machine load hits them alike.
    """
    times: dict[tuple[float, str], list[float]] = {}
    windows: dict[tuple[float, str], list[tuple[float, float]]] = {}
    for _ in range(runs):
        for lat, (cfg, _log) in sims.items():
            cmd = [*dtrack, "--config", str(cfg), *argv, "--format", view]
            for label in ("cold cache", "warm cache"):
                if label == "cold cache":
                    shutil.rmtree(cache, ignore_errors=True)
                t0 = time.time()
                times.setdefault((lat, label), []).append(timed(cmd, env))
                windows.setdefault((lat, label), []).append((t0, time.time()))
    out = {}
    for (lat, label), samples in times.items():
        _cfg, log = sims[lat]
        counted = [rounds(log, t0, max(lat / 1000, 0.02), until=t1) for t0, t1 in windows[(lat, label)]]
        out[(lat, label)] = (statistics.median(samples), statistics.mean(c[1] for c in counted),
                             statistics.mean(c[0] for c in counted))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--command", action="append", choices=list(COMMANDS), help="default: all of them")
    ap.add_argument("--view", choices=("json", "table"), default="json",
                    help="the output timed: --format json (default) or the table view (COLUMNS=120)")
    args = ap.parse_args()
    dtrack = [sys.executable, "-m", "dtrack"]
    tmp = Path(tempfile.mkdtemp(prefix="dtrack-bench-"))
    env = {**os.environ, "DTRACK_CACHE_DIR": str(tmp / "cache"), "DTRACK_STATE_DIR": str(tmp / "state"),
           "COLUMNS": "120"}
    servers = []
    try:
        help_times = [timed([*dtrack, "--help"], env) for _ in range(args.runs)]
        print(f"dtrack --help start-up: median {statistics.median(help_times) * 1000:.0f} ms over {args.runs} runs")
        sims = {}
        for lat in (0.0, args.latency_ms):
            proc, cfg, log = start_sim(dtrack, tmp, lat, env)
            servers.append(proc)
            sims[lat] = (cfg, log)
        for name in args.command or list(COMMANDS):
            report(name, measure(dtrack, COMMANDS[name], sims, env, args.runs, tmp / "cache", args.view),
                   args.latency_ms)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def report(name: str, results: dict[tuple[float, str], tuple[float, float, float]], latency_ms: float) -> None:
    """One line per cache state: start-up, the latency's cost against the 3-round budget, requests and rounds."""
    for label in ("cold cache", "warm cache"):
        base, slow = results[(0.0, label)], results[(latency_ms, label)]
        added = slow[0] - base[0]
        print(f"{' '.join(COMMANDS[name])}, {label}: median {base[0] * 1000:.0f} ms with 0 ms latency (start-up), "
              f"{slow[0] * 1000:.0f} ms with {latency_ms:g} ms latency: latency adds {added * 1000:.0f} ms "
              f"(budget 3 x {latency_ms:g} = {3 * latency_ms:.0f} ms); {slow[1]:.0f} requests in "
              f"{slow[2]:.1f} rounds", flush=True)


if __name__ == "__main__":
    main()
