"""How long the ESTIMATED liquidation map of one asset takes from the history store (target: <= 100 ms).

Fills a temporary SQLite store with 30 days of hourly open-interest points and kline closes of five BTC
perpetuals on the four venues that publish open-interest history (Binance USDⓈ-M and COIN-M, Bybit, OKX, dYdX), the
contracts' instrument rows, five-minute long/short ratios and a minute of mark prices (what a collector keeps), then
times ``AsyncClient.liquidation_map("BTC")`` answered from that store (no network: the result's source says so),
and the analytics alone on the same inputs. Prints the median and the spread.

    python benchmarks/bench_liquidation_map.py [--runs 30] [--days 30]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dtrack
from dtrack.config import Settings
from dtrack.records import Instrument, Kind, LongShortRatio, Margin, OIPoint, PricePoint, PriceQuote, Unit
from dtrack.store import open_store

NOW = datetime(2026, 12, 4, 8, tzinfo=UTC)
CONTRACTS = (
    Instrument(venue="binance", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
               margin=Margin.LINEAR, market="usdm"),
    Instrument(venue="binance", symbol="BTCUSD_PERP", asset="BTC", quote="USD", settle="BTC", kind=Kind.PERP,
               margin=Margin.INVERSE, contract_size=100.0, contract_unit=Unit.USD, market="coinm"),
    Instrument(venue="bybit", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
               margin=Margin.LINEAR, market="linear"),
    Instrument(venue="okx", symbol="BTC-USDT-SWAP", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
               margin=Margin.LINEAR, contract_size=0.01, market="SWAP"),
    Instrument(venue="dydx", symbol="BTC-USD", asset="BTC", quote="USD", settle="USDC", kind=Kind.PERP,
               margin=Margin.LINEAR, market="perpetual"),
)


def price_at(hour: int) -> float:
    """A wavy BTC path: a few percent a week, a little within the day."""
    return 90_000.0 * math.exp(0.04 * math.sin(hour / 40.0) + 0.008 * math.sin(hour / 3.0))


def fill(url: str, days: int) -> int:
    """The store a collector would hold after ``days``; the number of rows written."""
    hours = days * 24
    start = NOW - timedelta(hours=hours)
    rows = 0
    with open_store(url) as store:
        store.write_rows("instruments", [i.to_row() | {"seen_at": NOW} for i in CONTRACTS])
        for n, inst in enumerate(CONTRACTS):
            points: list[object] = []
            for h in range(hours + 1):
                t = start + timedelta(hours=h)
                oi = 50_000.0 * (1 + 0.1 * n) * (1.0 + 0.08 * math.sin(h / 55.0 + n) + 0.01 * math.sin(h / 2.0))
                points.append(OIPoint(venue=inst.venue, symbol=inst.symbol, time=t, base=oi, usd=oi * price_at(h),
                                      received_at=t))
                points.append(PricePoint(venue=inst.venue, symbol=inst.symbol, time=t,
                                         price=price_at(h) * (1 + 0.0002 * n), received_at=t))
            for m in range(0, hours * 60, 5):
                t = start + timedelta(minutes=m)
                if inst.venue != "dydx" and t > NOW - timedelta(days=1):
                    share = 0.52 + 0.05 * math.sin(m / 700.0)
                    points.append(LongShortRatio(venue=inst.venue, asset="BTC", symbol=inst.symbol,
                                                 definition="top-trader positions", ratio=share / (1 - share),
                                                 long_share=share, time=t, received_at=t, period="5m"))
            for s in range(60):
                t = NOW - timedelta(seconds=s)
                points.append(PriceQuote(instrument=inst, time=t, received_at=t, mark_price=price_at(hours)))
            rows += sum(store.write(points).values())  # type: ignore[arg-type]
    return rows


async def timed_map(url: str, runs: int) -> tuple[list[float], dict[str, object]]:
    settings = Settings(cache_dir=Path(tempfile.mkdtemp()), state_dir=Path(tempfile.mkdtemp()))
    times: list[float] = []
    doc: dict[str, object] = {}
    async with dtrack.AsyncClient(config=settings, store=url, clock=lambda: NOW) as dt:
        for _ in range(runs + 1):
            t0 = time.perf_counter()
            result = await dt.liquidation_map("BTC")
            times.append(time.perf_counter() - t0)
            doc = result.to_dict()
    return times[1:], doc  # the first run opens the store


def timed_analytics(runs: int, days: int) -> list[float]:
    from dtrack.analytics.liquidation_map import Bars, MapParams, estimate_map

    hours = days * 24
    t = [int((NOW - timedelta(hours=hours - h)).timestamp() * 1000) for h in range(hours + 1)]
    series = [Bars.from_closes("binance", f"S{n}", t,
                               [50_000.0 * (1 + 0.08 * math.sin(h / 55.0 + n)) for h in range(hours + 1)],
                               [price_at(h) for h in range(hours + 1)], 0.52) for n in range(5)]
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        estimate_map("BTC", NOW, series, MapParams(), price_at(hours))
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = str(Path(tmp) / "store.sqlite3")
        t0 = time.perf_counter()
        rows = fill(url, args.days)
        took = time.perf_counter() - t0
        print(f"store: {rows:,} rows ({args.days} days, {len(CONTRACTS)} contracts) in {took:.1f} s")
        times, doc = asyncio.run(timed_map(url, args.runs))
        source = doc["source"]
        assert isinstance(source, dict) and source["kind"] == "store", source
        ms = sorted(x * 1000 for x in times)
        print(f"liquidation_map BTC from the store: median {statistics.median(ms):.1f} ms "
              f"(p10 {ms[len(ms) // 10]:.1f}, p90 {ms[len(ms) * 9 // 10]:.1f}; {len(ms)} runs; target <= 100 ms)")
        an = sorted(x * 1000 for x in timed_analytics(args.runs, args.days))
        print(f"of which the estimate alone (5 contracts x {args.days * 24} bars x 8 leverages x 2 sides): "
              f"median {statistics.median(an):.1f} ms")


if __name__ == "__main__":
    main()
