"""How long the execution simulation takes (target: 1,000 paths x 24 slices <= 200 ms).

Times ``dtrack.analytics.execution.compare`` (market, TWAP, VWAP and iceberg on the same paths: the calibration
included) on a 1,000-level book of uneven levels for each (paths, slices) asked, and, with ``--query``, the whole
``AsyncClient.execsim`` against the built-in simulated venues (every venue's book, the chosen venue's 14 days of
hourly candles, the model, the result's JSON), after one warm-up run. Prints the median and the spread.

    python benchmarks/bench_execsim.py [--runs 30] [--grid 1000x24,10000x24,1000x96] [--query]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

import numpy as np

from dtrack.analytics import execution as ex
from dtrack.records import Instrument, Kind, Margin, OrderBook, Unit

NOW = datetime(2026, 12, 4, 8, tzinfo=UTC)
INST = Instrument(venue="binance", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                  margin=Margin.LINEAR)


def a_book(levels: int = 1000) -> OrderBook:
    """A BTC-like book: 0.1 USD ticks, a few coins a level, uneven."""
    rng = np.random.default_rng(0)
    bids = tuple((91_500.0 - 0.1 * (k + 1), float(s)) for k, s in enumerate(rng.uniform(0.2, 6.0, levels)))
    asks = tuple((91_500.0 + 0.1 * k, float(s)) for k, s in enumerate(rng.uniform(0.2, 6.0, levels)))
    return OrderBook(instrument=INST, bids=bids, asks=asks, unit=Unit.BASE, limit=levels, time=NOW, received_at=NOW)


def time_analytics(paths: int, slices: int, runs: int) -> list[float]:
    """Milliseconds of one calibration + comparison of the four algorithms, ``runs`` times."""
    book = a_book()
    share = np.array([1.0 + (h % 6) for h in range(24)])
    profile = ex.Profile(share=share / share.sum(), bars=336, days=14.0)
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        ladder = ex.ladder_of(book, "buy")
        y, _, _ = ex.calibrate_y(ladder, 0.03, 150_000.0, 250.0)
        cal = ex.Calibration(sigma_hourly=0.03 / 24 ** 0.5, daily_volume=150_000.0, y=y)
        spec = ex.Spec(side="buy", size=250.0, over_hours=6.0, slices=slices, paths=paths, seed=1, start_hour=8.0)
        ex.compare(ladder, cal, spec, list(ex.ALGOS), profile)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def time_query(runs: int) -> list[float]:
    """Milliseconds of ``AsyncClient.execsim`` against the simulated venues (after one warm-up)."""
    import dtrack

    out = []
    async with dtrack.AsyncClient(sim=True) as dt:
        await dt.execsim("BTC", side="buy", size=100)
        for _ in range(runs):
            start = time.perf_counter()
            result = await dt.execsim("BTC", side="buy", size=100)
            result.to_dict()
            out.append((time.perf_counter() - start) * 1000)
    return out


def line(label: str, ms: list[float]) -> str:
    return (f"{label:<44} median {statistics.median(ms):8.2f} ms   min {min(ms):8.2f}   max {max(ms):8.2f}   "
            f"({len(ms)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--grid", default="1000x24,10000x24,1000x96,100x24")
    parser.add_argument("--query", action="store_true", help="also time the whole query against the sim")
    args = parser.parse_args()
    time_analytics(10, 4, 2)  # warm the imports
    for cell in args.grid.split(","):
        paths, slices = (int(x) for x in cell.split("x"))
        print(line(f"analytics: {paths:,} paths x {slices} slices", time_analytics(paths, slices, args.runs)))
    if args.query:
        print(line("AsyncClient.execsim BTC (sim, all venues)", asyncio.run(time_query(max(3, args.runs // 6)))))


if __name__ == "__main__":
    main()
