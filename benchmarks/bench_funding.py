"""Measure `dtrack funding` against the simulated venues with injected latency, and CLI start-up.

Usage: python benchmarks/bench_funding.py [--latency-ms 100] [--runs 5]

Starts `dtrack sim serve --latency-ms L --log-requests FILE --write-config FILE` in a subprocess, then times
`dtrack --config FILE funding BTC ETH SOL --format json` with a cold cache (instrument lists and funding
intervals fetched) and a warm one (served from the disk cache), and counts the rounds of concurrent
requests from the sim's request log (a round: requests arriving within half the latency of its first one).
Also times `dtrack --help`. Prints one line per figure.
"""

from __future__ import annotations

import argparse
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rounds(log: Path, since: float, latency_s: float) -> tuple[int, int]:
    """(rounds, requests) in the log after ``since`` (epoch seconds)."""
    times = []
    for line in log.read_text().splitlines():
        t = datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00")).timestamp()
        if t >= since:
            times.append(t)
    times.sort()
    count, start = 0, None
    for t in times:
        if start is None or t - start > latency_s / 2:
            count, start = count + 1, t
    return count, len(times)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    dtrack = [sys.executable, "-m", "dtrack"]
    tmp = Path(tempfile.mkdtemp(prefix="dtrack-bench-"))
    cfg, log = tmp / "sim.yaml", tmp / "requests.jsonl"
    env = {**os.environ, "DTRACK_CACHE_DIR": str(tmp / "cache"), "DTRACK_STATE_DIR": str(tmp / "state")}
    server = subprocess.Popen([*dtrack, "sim", "serve", "--port", str(free_port()), "--latency-ms",
                               str(args.latency_ms), "--log-requests", str(log), "--write-config", str(cfg)],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if cfg.exists() and cfg.stat().st_size:
                break
            time.sleep(0.1)
        latency = args.latency_ms / 1000
        cmd = [*dtrack, "--config", str(cfg), "funding", "BTC", "ETH", "SOL", "--format", "json"]
        help_times = [timed([*dtrack, "--help"], env) for _ in range(args.runs)]
        startup = statistics.median(help_times)
        print(f"dtrack --help start-up: median {startup * 1000:.0f} ms over {args.runs} runs")
        for label in ("cold cache", "warm cache"):
            if label == "cold cache":
                shutil.rmtree(tmp / "cache", ignore_errors=True)
                runs = [timed(cmd, env)]
                since = time.time() - runs[0] - 0.05
            else:
                since = time.time()
                runs = [timed(cmd, env) for _ in range(args.runs)]
            n_rounds, n_requests = rounds(log, since, latency)
            per_run = n_requests / len(runs)
            print(f"funding BTC ETH SOL, {label}, latency {args.latency_ms:g} ms: median "
                  f"{statistics.median(runs) * 1000:.0f} ms (budget 3 x latency + start-up = "
                  f"{(3 * latency + startup) * 1000:.0f} ms); {per_run:.0f} requests in "
                  f"{n_rounds / len(runs):.1f} rounds per run")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
