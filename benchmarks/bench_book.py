"""Measure ``dtrack book BTC ETH SOL`` against the simulated venues: wall time (cold and warm instrument cache) and
the rounds of requests the sim saw (its ``Flight``: a round is the requests in flight together before any was
answered; the claim is ONE round of books after the cached instrument lists).

Usage: python benchmarks/bench_book.py [--latency-ms 50] [--runs 5] [--assets BTC ETH SOL] [--depth 1000]

The sim runs in a background thread of this process (seed 7, the real clock) with the given latency per request;
each run is a fresh ``dtrack.Client`` (its own session), so the time includes the venue pool's start but not Python's
start-up (``benchmarks/bench_cli.py`` measures that). Prints one line per figure; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import dtrack
from dtrack.config import Settings
from dtrack.sim.server import Flight, SimServer, start_sim


class Sim:
    """The simulated venues on a loopback port, served from a background thread's loop, requests in ``flight``."""

    def __init__(self, latency_ms: float) -> None:
        self.flight = Flight()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: SimServer = asyncio.run_coroutine_threadsafe(
            start_sim(latency_ms=latency_ms, flight=self.flight), self.loop).result(30)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def one_run(sim: Sim, settings: Settings, assets: list[str], depth: int) -> tuple[float, list[int], Any]:
    """(seconds, the sizes of the rounds of requests it made, the result) of one ``book`` query."""
    before = len(sim.flight.rounds)
    t0 = time.perf_counter()
    with dtrack.Client(config=settings) as dt:
        result = dt.book(assets, depth=depth)
    elapsed = time.perf_counter() - t0
    return elapsed, sim.flight.sizes()[before:], result


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--assets", nargs="+", default=["BTC", "ETH", "SOL"])
    ap.add_argument("--depth", type=int, default=1000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dtrack-bench-book-"))
    sim = Sim(args.latency_ms)
    try:
        base = Settings(cache_dir=tmp / "cache", state_dir=tmp / "state")
        settings = base.with_venue_urls(sim.server.venue_urls())
        figures: dict[str, list[tuple[float, list[int]]]] = collections.defaultdict(list)
        result: Any = None
        for _ in range(args.runs):
            shutil.rmtree(tmp / "cache", ignore_errors=True)
            for label in ("cold", "warm"):
                elapsed, sizes, result = one_run(sim, settings, args.assets, args.depth)
                figures[label].append((elapsed, sizes))
        rows = result.report.rows
        venues = sorted({m.instrument.venue for m in rows})
        levels = sum(m.levels_bid + m.levels_ask for m in rows)
        print(f"dtrack book {' '.join(args.assets)} --depth {args.depth}: {len(rows)} books on {len(venues)} venues "
              f"({', '.join(venues)}), {levels:,} levels; sim latency {args.latency_ms:g} ms, {args.runs} runs; "
              f"exit {result.exit_code}")
        for label in ("cold", "warm"):
            times = [t for t, _ in figures[label]]
            sizes = figures[label][-1][1]
            print(f"{label} instrument cache: median {statistics.median(times) * 1000:.0f} ms (min "
                  f"{min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); {sum(sizes)} requests in {len(sizes)} "
                  f"rounds {sizes}", flush=True)
    finally:
        sim.close()
        shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
