"""Measure `dtrack funding BTC ETH SOL` answered from a fresh history store (no network, no aiohttp).

Usage: python benchmarks/bench_store_read.py [--runs 15] [--store postgresql://…]

Fills a store (SQLite in a temporary directory unless --store names one) the way a collector leaves it: 8 days of
settled funding backfilled and one snapshot round of current funding of BTC, ETH and SOL on every active simulated
venue, at a pinned moment. Then times the real command in a fresh interpreter, 20 seconds later on the same
pinned clock (`DTRACK_NOW`), so that the store is fresh and answers: wall time of the whole process, median of
--runs after two warm-up runs (Python's bytecode cache on, as in an installed package). Also times the same with
`--format json`, and `dtrack --help` (the interpreter and CLI start-up alone), and checks that the store answered
and that neither aiohttp nor rich was imported (the table view is dtrack's own plain renderer, fit to $COLUMNS:
200 in this pipe unless the environment sets it). Prints one line per figure; target: <= 0.25 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dtrack.venues import ACTIVE

ASSETS = ["BTC", "ETH", "SOL"]
NOW = datetime(2026, 12, 4, 8, tzinfo=UTC)
VENUES = ACTIVE  # every venue a default `dtrack funding` asks


async def fill(store_url: str, tmp: Path) -> None:
    """Backfill 8 days of funding and write one snapshot round, from the simulated venues pinned at NOW."""
    import dtrack
    from dtrack.config import Settings
    from dtrack.records import Kind
    from dtrack.sim.model import MarketModel
    from dtrack.sim.server import start_sim

    server = await start_sim(model=MarketModel(seed=7, now_ms=int(NOW.timestamp() * 1000)))
    try:
        settings = Settings(cache_dir=tmp / "cache", state_dir=tmp / "state").with_venue_urls(server.venue_urls())
        async with dtrack.AsyncClient(config=settings, clock=lambda: NOW, store=store_url) as dt:
            await dt.backfill("funding", ASSETS, since="8d")
            store = dt.store()
            assert store is not None
            pool = await dt.pool()
            for venue in VENUES:
                source = pool.adapter(venue)
                contracts = await source.contracts(ASSETS)
                rates = await source.fetch_funding_rates([i for i in contracts if i.kind is Kind.PERP])
                store.write(rates.items)
                store.write_rows("instruments", [i.to_row() | {"seen_at": NOW} for i in contracts])
    finally:
        await server.stop()


def dtrack_cmd() -> list[str]:
    script = Path(sys.executable).with_name("dtrack")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dtrack"]


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def figure(label: str, cmd: list[str], env: dict[str, str], runs: int) -> float:
    for _ in range(2):  # warm-up: bytecode compiled and cached, the store file in the page cache
        timed(cmd, env)
    times = sorted(timed(cmd, env)[0] for _ in range(runs))
    median = statistics.median(times)
    p10, p90 = times[max(0, runs // 10)], times[min(runs - 1, runs - 1 - runs // 10)]
    print(f"{label}: median {median * 1000:.0f} ms (p10 {p10 * 1000:.0f}, p90 {p90 * 1000:.0f}, "
          f"min {times[0] * 1000:.0f}; {runs} runs)")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--store", default=None, help="a store URL to fill and read (default: a temporary SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtrack-bench-store-") as tmpdir:
        tmp = Path(tmpdir)
        store_url = args.store or str(tmp / "store.sqlite3")
        asyncio.run(fill(store_url, tmp))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DTRACK_CONFIG",
                                                                  "DTRACK_STORE")}
        env.update(DTRACK_NOW=(NOW + timedelta(seconds=20)).isoformat().replace("+00:00", "Z"),
                   XDG_CONFIG_HOME=str(tmp / "config"), PYTHONPYCACHEPREFIX=str(tmp / "pycache"),
                   DTRACK_CACHE_DIR=str(tmp / "cache"), DTRACK_STATE_DIR=str(tmp / "state"))
        cmd = [*dtrack_cmd(), "--store", store_url, "funding", *ASSETS]
        _, proc = timed(cmd, env)
        if proc.returncode != 0 or "Source: the store" not in proc.stdout:
            sys.exit(f"the store did not answer (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        check = ("import sys\nfrom dtrack.cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
                 "    pass\nloaded = {m: m in sys.modules for m in ('aiohttp', 'rich')}\n"
                 "print('; '.join(f'{m} loaded: {v}' for m, v in loaded.items()), file=sys.stderr)")
        loaded = subprocess.run([sys.executable, "-c", check, "--store", store_url, "funding", *ASSETS], env=env,
                                capture_output=True, text=True).stderr.strip().splitlines()[-1]
        print(f"store: {store_url}; {loaded}")
        figure("dtrack --help", [*dtrack_cmd(), "--help"], env, args.runs)
        figure("dtrack funding BTC ETH SOL (from the store, table)", cmd, env, args.runs)
        figure("dtrack funding BTC ETH SOL --format json (from the store)", [*cmd, "--format", "json"], env,
               args.runs)


if __name__ == "__main__":
    main()
