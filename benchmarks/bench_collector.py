"""Measure the collector's cost: CPU (percent of one core) and peak RSS of ``dtrack collect`` against the sim.

Usage: python benchmarks/bench_collector.py [--duration 600] [--store URL] [--backfill] [--every 1]

Two processes, as a user runs them: ``dtrack sim serve`` (five venues, REST and WebSocket) in one, and
``dtrack collect --assets BTC,ETH,SOL`` in another, with the live streams and the default snapshot intervals
(funding 60 s, open interest and basis 300 s, options 900 s), writing into a SQLite file in a temporary
directory (or ``--store``). The backfill is off unless ``--backfill`` (it is a start-up cost, not the steady
state). The collector's CPU time (utime + stime) and peak RSS (VmHWM) are read from ``/proc/<pid>`` every
``--every`` seconds; at the end the collector is stopped with SIGTERM (its final flush included in nothing).
Prints the average CPU over the whole run and after the first 30 s (start-up: interpreter, imports, the
instrument lists, the first option chains), split between the main thread (streams, snapshots, the event loop)
and the others (the store writer), the peak RSS, and the rows written per table. ``--streams-only`` measures
``AsyncClient.stream_batches`` alone, as the collector consumes it (same kinds and assets, batches discarded):
the stream layer's share; with ``--records`` too, ``AsyncClient.stream`` (record by record) instead.
Targets (issue 10): < 5 % of one core on average, <= 150 MB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARMUP_S = 30.0
VENUES = ("binance", "bybit", "okx", "deribit", "hyperliquid")
#: ``--streams-only``: the client's live streams of the collector's kinds and assets, consumed and discarded
#: (argv[2]: ``stream_batches``, as the collector reads them, or ``stream``)
STREAMS_ONLY = """
import asyncio, signal, sys
from dtrack.client import AsyncClient
from dtrack.collect.streams import LINGER

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with AsyncClient(config=sys.argv[1]) as client:
        options = {"linger": LINGER} if sys.argv[2] == "stream_batches" else {}
        records = getattr(client, sys.argv[2])(["funding", "open_interest", "quotes"], ["BTC", "ETH", "SOL"],
                                               venues=["binance", "bybit", "okx", "deribit", "hyperliquid"],
                                               **options)
        async def consume():
            async for _ in records:
                pass
        task = asyncio.create_task(consume())
        await stop.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await records.aclose()

asyncio.run(main())
"""
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        text = fh.read()
    fields = text[text.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of proc(5)


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU s of the main thread, CPU s of every other thread: the store writer, the resolver ...)."""
    main = other = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            with open(task / "stat", encoding="ascii") as fh:
                text = fh.read()
        except OSError:  # a thread that just ended
            continue
        fields = text[text.rfind(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / TICK
        if task.name == str(pid):
            main += used
        else:
            other += used
    return main, other


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, KiB."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def wait_for(path: Path, seconds: float) -> None:
    end = time.monotonic() + seconds
    while not (path.exists() and path.stat().st_size):
        if time.monotonic() > end:
            raise SystemExit(f"the sim did not write {path} within {seconds:g} s")
        time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of collection (default 600)")
    ap.add_argument("--store", default=None, help="store URL (default: a SQLite file in a temporary directory)")
    ap.add_argument("--backfill", action="store_true", help="include the start-up backfill")
    ap.add_argument("--every", type=float, default=1.0, help="seconds between two samples of /proc")
    ap.add_argument("--streams-only", action="store_true",
                    help="measure the live streams alone instead (AsyncClient.stream_batches, batches discarded): "
                         "the share of the collector's cost that is the stream layer's")
    ap.add_argument("--records", action="store_true",
                    help="with --streams-only: read AsyncClient.stream (record by record) instead")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtrack-bench-collector-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "DTRACK_CACHE_DIR": str(root / "cache"), "DTRACK_STATE_DIR": str(root / "state"),
               "XDG_CONFIG_HOME": str(root / "config")}
        env.pop("DTRACK_CONFIG", None)
        cfg = root / "sim.yaml"
        store = args.store or str(root / "store.sqlite3")
        sim = subprocess.Popen([sys.executable, "-m", "dtrack", "sim", "serve", "--port", "0", "--write-config",
                                str(cfg)], env=env, stderr=subprocess.DEVNULL)
        try:
            wait_for(cfg, 60)
            cmd = [sys.executable, "-m", "dtrack", "--config", str(cfg), "--store", store, "collect",
                   "--assets", "BTC,ETH,SOL", "--quiet", *(a for v in VENUES for a in ("--venue", v))]
            if not args.backfill:
                cmd.append("--no-backfill")
            if args.streams_only:
                cmd = [sys.executable, "-c", STREAMS_ONLY, str(cfg), "stream" if args.records else "stream_batches"]
            log = root / "collector.err"
            with open(log, "w", encoding="utf-8") as err:
                collector = subprocess.Popen(cmd, env=env, stderr=err)
                samples = run(collector.pid, args.duration, args.every)
                collector.send_signal(signal.SIGTERM)
                code = collector.wait(60)
        finally:
            sim.send_signal(signal.SIGINT)
            sim.wait(30)
        report(samples, code, None if args.streams_only else store, log.read_text(encoding="utf-8"))


Sample = tuple[float, float, int, int, float, float]


def run(pid: int, duration: float, every: float) -> list[Sample]:
    """(wall s since start, CPU s, RSS KiB, peak RSS KiB, main-thread CPU s, other threads' CPU s) samples until
    ``duration``."""
    start = time.monotonic()
    samples: list[Sample] = []
    while True:
        now = time.monotonic() - start
        try:
            rss, hwm = memory_kib(pid)
            samples.append((now, cpu_seconds(pid), rss, hwm, *thread_cpu_seconds(pid)))
        except (OSError, IndexError, ValueError):
            raise SystemExit(f"the collector (pid {pid}) ended after {now:.0f} s") from None
        if now >= duration:
            return samples
        time.sleep(min(every, max(0.0, duration - now)))


def report(samples: list[Sample], code: int, store: str | None, err: str) -> None:
    from dtrack.store import open_store

    wall, cpu, _rss, _hwm, main_cpu, other_cpu = samples[-1]
    warm = next((s for s in samples if s[0] >= WARMUP_S), samples[0])
    span = wall - warm[0]
    steady = (cpu - warm[1]) / span * 100 if span > 0 else float("nan")
    peak = max(s[3] for s in samples) / 1024
    what = "streams + default snapshots" if store else "the live streams alone, discarded"
    print(f"{'collector' if store else 'streams'}: {wall:.0f} s, five venues, BTC ETH SOL, {what} (exit {code})")
    print(f"  CPU, whole run:           {cpu / wall * 100:5.2f} % of one core ({cpu:.1f} s)")
    print(f"  CPU, after {WARMUP_S:.0f} s start-up: {steady:5.2f} % of one core")
    if span > 0:
        print(f"    main thread (streams, snapshots, event loop): {(main_cpu - warm[4]) / span * 100:5.2f} %, "
              f"other threads (the store writer): {(other_cpu - warm[5]) / span * 100:5.2f} %")
    print(f"  peak RSS:                 {peak:5.1f} MB (VmHWM; MB = 2^20 bytes)")
    print(f"  RSS at the end:           {samples[-1][2] / 1024:5.1f} MB")
    if store:
        with open_store(store) as st:
            info = st.info()
        rows = {t.name: t.rows for t in info.tables if t.rows}
        print(f"  rows in the store:        {json.dumps(rows)}")
    problems = [line for line in err.splitlines() if "error" in line.lower() or "unavailable" in line.lower()]
    if problems:
        print("  stderr of the collector:\n    " + "\n    ".join(problems[:10]))


if __name__ == "__main__":
    main()
