"""Measure store ingest: rows per second written into SQLite and PostgreSQL through ``Store.write`` (batched).

Usage: python benchmarks/bench_store.py [--rows 200000] [--batch 5000] [--pg postgresql://postgres@127.0.0.1:5432/test]

What is timed is the whole write path a collector uses: records -> ``to_row()`` -> epoch-ms parameters, key
de-duplication and ordering -> one transaction per batch (SQLite: ``executemany`` of ``INSERT … ON CONFLICT
DO NOTHING``; PostgreSQL: COPY into a staging table, then ``INSERT … SELECT … ON CONFLICT DO NOTHING``).
Two shapes: narrow settled history (``FundingPoint``, 7 columns) and wide snapshots (``FundingRate`` with its
instrument, 26 columns), both copied from one real record with shifted times. Then the same rows again
(all duplicates: the cost of idempotency). SQLite runs on a file in a temporary directory; PostgreSQL in a
private schema, dropped afterwards. A third line times the wide rows already built (``write_rows``): the
store's own share, apart from ``Record.to_row()`` (skipped, saying why, when the server is unreachable).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dtrack.records import FundingPoint, FundingRate, Instrument, Kind, Margin, Record
from dtrack.store import Store, StoreError, open_store

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def narrow(n: int) -> list[Record]:
    base = FundingPoint(venue="binance", symbol="BTCUSDT", time=T0, rate=0.0001, interval_hours=8.0, received_at=T0)
    return [replace(base, time=T0 + timedelta(seconds=i), rate=0.0001 + i * 1e-9) for i in range(n)]


def wide(n: int) -> list[Record]:
    inst = Instrument(venue="binance", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR, market="usdm")
    base = FundingRate(instrument=inst, rate=0.00038246, interval_hours=8.0, interval_source="fundingInfo",
                       time=T0, received_at=T0, next_funding_time=T0 + timedelta(hours=8), mark_price=11793.63,
                       index_price=11781.80, open_interest_usd=None, predicted_rate=None, note="")
    return [replace(base, time=T0 + timedelta(seconds=i), received_at=T0 + timedelta(seconds=i, milliseconds=7))
            for i in range(n)]


def ingest(st: Store, records: list[Record], batch: int) -> tuple[float, int]:
    """Seconds to write ``records`` in batches, and rows that were new."""
    new = 0
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        new += sum(st.write(records[i:i + batch]).values())
    return time.perf_counter() - start, new


def bench(label: str, url: str, rows: int, batch: int) -> None:
    for shape, make in (("narrow FundingPoint (7 cols)", narrow), ("wide FundingRate (26 cols)", wide)):
        records = make(rows)
        with open_store(url) as st:
            secs, new = ingest(st, records, batch)
            again, dup = ingest(st, records, batch)
        print(f"{label:10s} {shape:28s} {rows:>8,} rows in batches of {batch:,}: "
              f"{rows / secs:>9,.0f} rows/s new ({new:,} stored), {rows / again:>9,.0f} rows/s all duplicates "
              f"({dup} stored)")
    later = timedelta(days=1000)  # new keys (the shapes above are stored already)
    rows_only = [replace(r, time=T0 + later + timedelta(seconds=i)).to_row() for i, r in enumerate(wide(rows))]
    with open_store(url) as st:
        start = time.perf_counter()
        for i in range(0, rows, batch):
            st.write_rows("funding_rates", rows_only[i:i + batch])
        secs = time.perf_counter() - start
    print(f"{label:10s} {'wide rows, to_row() excluded':28s} {rows:>8,} rows in batches of {batch:,}: "
          f"{rows / secs:>9,.0f} rows/s (write_rows: the store's share of the wide path)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench("sqlite", str(Path(tmp) / "bench.sqlite3"), args.rows, args.batch)
    schema = f"dtrack_bench_{uuid.uuid4().hex[:8]}"
    url = f"{args.pg}{'&' if '?' in args.pg else '?'}schema={schema}"
    try:
        bench("postgresql", url, args.rows, args.batch)
    except StoreError as exc:
        print(f"postgresql skipped: {exc}")
        return
    finally:
        try:
            import psycopg
            from psycopg import sql

            with psycopg.connect(args.pg, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        except psycopg.Error:
            pass
    print(f"(python {__import__('sys').version.split()[0]}, {datetime.now(UTC):%Y-%m-%d})")


if __name__ == "__main__":
    main()
