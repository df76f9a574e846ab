"""The history store on SQLite and on PostgreSQL: real records in, the same values out; idempotent batched
writes (twice, and from two concurrent writers); gaps merged; migrations applied once; retention; ``info``;
``dtrack store info|prune``; bad URLs as one line.

Records are built by the venues' real parsers from the captured payloads (tests/payloads). PostgreSQL runs
at ``$DTRACK_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``, the server of the development
and CI machines); each test works in its own schema, dropped afterwards, so concurrent runs never collide.
Those tests skip, saying why, only when that server cannot be reached. Floats go in and out as IEEE doubles
(both engines keep DOUBLE PRECISION exactly), so they are compared at rel 1e-15.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clirun import dtrack
from conftest import load_payload
from dtrack.client.queries.options import expiry_records
from dtrack.config import parse_settings
from dtrack.errors import ConfigError
from dtrack.records import DataKind, FundingPoint, FundingRate, Gap, Instrument, OptionQuote, PriceQuote, Record
from dtrack.store import LATEST, MIGRATIONS, TABLES, Store, StoreError, open_store, parse_store_url
from dtrack.store.base import table_of
from dtrack.venues.binance import parse as binance
from dtrack.venues.binance import stream as binance_ws
from dtrack.venues.bybit import parse as bybit
from dtrack.venues.bybit import stream as bybit_ws
from dtrack.venues.deribit import parse as deribit
from dtrack.venues.deribit import stream as deribit_ws
from dtrack.venues.hyperliquid import parse as hyperliquid
from dtrack.venues.okx import api as okx_api
from dtrack.venues.okx import parse as okx
from dtrack.venues.okx import stream as okx_ws
from storefix import store_url

__all__ = ["store_url"]  # the fixture, imported: a fresh, private store on each engine

RECEIVED = datetime(2026, 11, 20, 12, tzinfo=UTC)
REL = 1e-15


# --- the two engines ------------------------------------------------------------------------------------------

@pytest.fixture
def opened(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as st:
        yield st


# --- real records ----------------------------------------------------------------------------------------------

def raws(name: str) -> list[Any]:
    return [case["raw"] for case in load_payload(name)["cases"]]


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def real_records() -> list[Record]:
    """One or more records of every type the store keeps, each through its venue's real parser (the per-expiry
    option metrics through the options desk, from the parsed Deribit quotes)."""
    (body,) = raws("binance-usdm__rest_exchangeInfo__capture.json")
    usdm = {i.symbol: i for i in binance.parse_exchange_info(body, "usdm").instruments}
    single, _bulk = raws("binance-usdm__rest_premiumIndex__docs.json")
    premium = binance.parse_premium_index(single, "usdm").rows["BTCUSDT"]
    (info,) = raws("binance-usdm__rest_fundingInfo__docs.json")
    out: list[Record] = [binance.funding_rate(usdm["BTCUSDT"], premium, binance.parse_funding_intervals(info, "usdm"),
                                              None, RECEIVED)]
    (hl,) = raws("hyperliquid__rest_info_metaAndAssetCtxs__docs.json")[:1]
    rates, _missing = hyperliquid.funding_rates(hl, hyperliquid.parse_meta(hl[0]).instruments, {}, RECEIVED)
    out += rates  # no venue time: keyed on received_at
    (body,) = raws("binance-usdm__rest_fundingRate_history__docs.json")
    rows = binance.parse_funding_history(body, "usdm", "BTCUSDT")
    out.append(binance.funding_history(usdm["BTCUSDT"], rows, utc(1570608000000), utc(1570636800000), 8.0,
                                       RECEIVED))
    page = raws("bybit__rest_instruments_info__docs.json")[0]
    (btcusdt,) = bybit.parse_instruments_page(page).listing.instruments
    ois, errors = bybit.parse_open_interest(raws("bybit__ccxt_fetchFundingRates.json")[0], {"BTCUSDT": btcusdt},
                                            RECEIVED)
    assert errors == []
    out += ois
    (body,) = raws("binance-usdm__rest_openInterestHist_hexdocs__docs.json")
    out += binance.parse_oi_history(body, usdm["BTCUSDT"], {"symbol": "BTCUSDT"}, RECEIVED)
    latest = bybit.parse_account_ratio(raws("bybit__rest_account_ratio__docs.json")[0], "BTCUSDT")
    assert latest is not None
    out.append(bybit.long_short(btcusdt, latest, RECEIVED))
    out.append(binance.price_quote(usdm["BTCUSDT"], premium, None, RECEIVED))
    quotes, errors = bybit.parse_quotes(raws("bybit__ccxt_fetchTicker.json")[0], {"BTCUSDT": btcusdt}, RECEIVED)
    assert errors == [] and quotes[0].volume_24h_usd == 2352063794.0035  # the 24 h volume round trips too
    out += quotes
    tickers = okx.parse_tickers(raws("okx__ccxt_fetchTicker.json")[0], {"BTC-USDT"})
    spot = okx.spot_price("BTC", tickers["BTC-USDT"], RECEIVED)
    assert spot is not None
    out.append(spot)
    doc = load_payload("okx__rest_public_instruments__capture.json")
    swaps = next(c["raw"] for c in doc["cases"] if "instType=SWAP" in c["input"]["url"])
    btc = {i.symbol: i for i in okx.parse_instruments(swaps).instruments}["BTC-USDT-SWAP"]
    candles = okx.parse_candles(raws("okx__ccxt_fetchOHLCV.json")[0], okx_api.CANDLES)
    out += okx.price_points(candles, btc, 1, RECEIVED, datetime(2024, 1, 30, tzinfo=UTC),
                            datetime(2024, 1, 31, tzinfo=UTC), received=RECEIVED)
    specs: dict[str, deribit.DeribitOptionSpec] = {}
    for body in raws("deribit__rest_get_instruments__capture.json"):
        specs.update(deribit.parse_option_instruments(body).specs)
    for r in raws("deribit__ws_ticker__capture.json"):
        data = r["params"]["data"]
        if data["instrument_name"] in specs:
            out.append(deribit.option_ticker_quote(data, specs[data["instrument_name"]], RECEIVED))
    quotes = [r for r in out if isinstance(r, OptionQuote)]
    out += expiry_records(max(q.time for q in quotes if q.time is not None), quotes)  # their per-expiry metrics
    out += deribit.parse_option_trades(raws("deribit__rest_get_last_trades_by_currency__docs.json")[0], "BTC",
                                       RECEIVED).trades
    out += bybit.parse_historical_volatility(raws("bybit__rest_historical_volatility__docs.json")[0], "BTC", 30,
                                             RECEIVED)
    from dtrack.analytics.book import book_snapshot

    depth = load_payload("binance-usdm__rest_depth__capture.json")["cases"][0]  # SUSHIUSDT, 1,000 levels a side
    snap = book_snapshot(binance.parse_depth(depth["raw"], usdm["SUSHIUSDT"], 1000, RECEIVED), (0.001, 0.2))
    assert not isinstance(snap, str) and snap.imbalance_1pct is not None  # the bands' JSON text round trips too
    out.append(snap)
    out.append(Gap(venue="binance", stream="funding", start=utc(1597370400000), end=utc(1597370460000),
                   reason="disconnect", received_at=RECEIVED))
    out += liquidations(usdm["BTCUSDT"], btcusdt, btc)
    from dtrack.records import CarryPosition

    mark = binance.price_quote(usdm["BTCUSDT"], premium, None, RECEIVED).mark_price
    assert mark is not None
    opened = CarryPosition(id="btc-binance-open", asset="BTC", spot_venue="okx", perp_venue="binance",
                           perp_symbol="BTCUSDT", size=2.5, spot_entry=spot.price, perp_entry=mark,
                           opened_at=utc(1570608000000), fee_pct=0.05)  # open: no exit (nulls round trip)
    out += [opened, replace(opened, id="btc-binance-closed", closed_at=RECEIVED, spot_exit=spot.price * 1.01,
                            perp_exit=mark * 1.01, note="closed")]
    return out


def liquidations(usdm_btc: Instrument, bybit_btc: Instrument, okx_btc: Instrument) -> list[Record]:
    """Liquidations through the stream parsers, from the venues' documented samples: Binance ``forceOrder``, Bybit
    ``allLiquidation`` (its ROSEUSDT on the parsed BTCUSDT's terms), OKX ``liquidation-orders`` (IOST-USDT-SWAP as
    listed) and Deribit's documented BTC-PERPETUAL trade flagged ``MT`` (two events, one key each)."""
    liq = frozenset({DataKind.LIQUIDATIONS})
    (event,) = raws("binance-usdm__ws_forceOrder__docs.json")
    out = list(binance_ws.MarkPriceStream("usdm", [usdm_btc], {}, liq).handle(
        json.dumps({"stream": "!forceOrder@arr", "data": event}), RECEIVED).records)
    rose = replace(bybit_btc, symbol="ROSEUSDT", asset="ROSE")
    out += bybit_ws.TickerStream("linear", [rose], {}, liq).handle(
        json.dumps(raws("bybit__ws_allLiquidation__docs.json")[0]), RECEIVED).records
    doc = load_payload("okx__rest_public_instruments__capture.json")
    swaps = next(c["raw"] for c in doc["cases"] if "instType=SWAP" in c["input"]["url"])
    iost = {i.symbol: i for i in okx.parse_instruments(swaps).instruments}["IOST-USDT-SWAP"]
    assert iost.market == okx_btc.market
    out += okx_ws.PublicStream([iost], liq).handle(json.dumps(raws("okx__ws_liquidation_orders__docs.json")[0]),
                                                  RECEIVED).records
    perp = next(i for body in raws("deribit__rest_get_instruments__capture.json")
                for i in deribit.parse_instruments(body).instruments if i.symbol == "BTC-PERPETUAL")
    trade = {**raws("deribit__ws_user_trades__docs.json")[0]["data"][0], "liquidation": "MT"}
    out += deribit_ws.TickerStream([perp], liq).handle(json.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "trades.BTC-PERPETUAL.100ms",
                                                                "data": [trade]}}), RECEIVED).records
    assert len(out) == 5
    return out


def expected_rows(records: list[Record]) -> dict[str, list[dict[str, Any]]]:
    """The rows each table should hold (histories as their points), unique by natural key."""
    by_table: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for rec in records:
        for point in getattr(rec, "points", (rec,)):
            table = table_of(point)
            row = point.to_row()
            key = tuple(row[p] if isinstance(p, str) else next(row[c] for c in p if row[c] is not None)
                        for p in table.key)
            by_table.setdefault(table.name, {}).setdefault(key, row)
    return {name: list(rows.values()) for name, rows in by_table.items()}


def assert_same_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """Same rows regardless of order, every value equal (floats at REL, times to the millisecond)."""
    def order(row: dict[str, Any]) -> str:
        return json.dumps(row, default=str, sort_keys=True)

    assert len(got) == len(want)
    for g, w in zip(sorted(got, key=order), sorted(want, key=order), strict=True):
        assert list(g) == list(w)
        for col, value in w.items():
            if isinstance(value, float):
                assert type(g[col]) is float and g[col] == pytest.approx(value, rel=REL), col
            else:
                assert type(g[col]) is type(value) and g[col] == value, col


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return real_records()


def points(n: int, venue: str = "binance", start_ms: int = 1_700_000_000_000) -> list[FundingPoint]:
    """``n`` settled funding points, 8 h apart, from the first point of the real Binance history."""
    (body,) = raws("binance-usdm__rest_fundingRate_history__docs.json")
    ((_t, rate), *_rest) = binance.parse_funding_history(body, "usdm", "BTCUSDT")
    base = FundingPoint(venue=venue, symbol="BTCUSDT", time=utc(start_ms), rate=rate, interval_hours=8.0,
                        received_at=RECEIVED)
    return [replace(base, time=utc(start_ms + i * 8 * 3_600_000), rate=rate + i * 1e-7) for i in range(n)]


# --- round trip ------------------------------------------------------------------------------------------------

def test_every_record_type_round_trips_every_value(opened: Store, records: list[Record]) -> None:
    want = expected_rows(records)
    assert set(want) == {t.name for t in TABLES.values() if t.record not in (None, "LiquidationLevel")}
    written = opened.write(records)
    for name, rows in want.items():
        assert written[name] == len(rows), name
        assert_same_rows(opened.read(name), rows)


def test_per_side_funding_and_open_interest_round_trip(opened: Store) -> None:
    """GMX-like records (the sides pay differently, long and short OI apart) come back from the store whole."""
    from dtrack.client.stored import record_of
    from dtrack.records import Instrument, Kind, Margin, OpenInterest, SideRates, Unit

    pool = Instrument(venue="gmx", symbol="arbitrum:ETH/USD [WETH-USDC]", asset="ETH", quote="USD", settle="USD",
                      kind=Kind.PERP, margin=Margin.LINEAR, market="arbitrum")
    rate = FundingRate(instrument=pool, rate=1.25e-5, interval_hours=8.0, interval_source="continuous",
                       time=RECEIVED, received_at=RECEIVED,
                       sides=SideRates(funding_long=1.25e-5, funding_short=-1.41e-5, borrow_long=2e-6,
                                       borrow_short=0.0))
    oi = OpenInterest.of(instrument=pool, amount=8_500_000.0, unit=Unit.USD, price=3150.25, price_source="oracle",
                         time=RECEIVED, received_at=RECEIVED, long_usd=4_500_000.0, short_usd=4_000_000.0)
    plain = replace(rate, instrument=replace(pool, symbol="other"), sides=None)
    opened.write([rate, oi, plain])
    rows = {r["symbol"]: r for r in opened.read("funding_rates")}
    assert record_of(FundingRate, rows[pool.symbol]) == rate
    assert record_of(FundingRate, rows["other"]) == plain
    (oi_row,) = opened.read("open_interest")
    assert record_of(OpenInterest, oi_row) == oi


def test_a_snapshot_without_a_venue_time_keeps_none(opened: Store, records: list[Record]) -> None:
    """Hyperliquid sends no time: the row's time stays None (never the receive time), keyed on received_at."""
    opened.write(records)
    (btc,) = opened.read("funding_rates", venue="hyperliquid", symbol="BTC")
    assert btc["time"] is None and btc["received_at"] == RECEIVED
    later = [replace(r, received_at=RECEIVED + timedelta(minutes=1)) for r in records
             if isinstance(r, FundingRate) and r.instrument.venue == "hyperliquid"]
    assert opened.write(later)["funding_rates"] == len(later)  # a later poll is a new observation
    assert len(opened.read("funding_rates", venue="hyperliquid", symbol="BTC")) == 2


def test_read_filters_and_window(opened: Store, records: list[Record]) -> None:
    opened.write(records)
    assert {r["venue"] for r in opened.read("funding_rates", venue="binance")} == {"binance"}
    assert {r["asset"] for r in opened.read("option_quotes", asset=["ETH"])} == {"ETH"}
    pts = opened.write(points(10))
    assert pts == {"funding_points": 10}
    t0 = utc(1_700_000_000_000)
    window = opened.read("funding_points", symbol="BTCUSDT", since=t0 + timedelta(hours=8),
                         until=t0 + timedelta(hours=32))
    assert [r["time"] for r in window] == [t0 + timedelta(hours=h) for h in (8, 16, 24)]
    assert len(opened.read("funding_points", limit=4)) == 4
    with pytest.raises(ValueError, match="no asset column"):
        opened.read("funding_points", asset="BTC")
    with pytest.raises(ValueError, match="no store table 'nope'"):
        opened.read("nope")


# --- idempotency -----------------------------------------------------------------------------------------------

def test_the_same_batch_twice_stores_it_once(opened: Store, records: list[Record]) -> None:
    first = opened.write(records)
    again = opened.write(records + records)  # duplicates inside one batch too
    assert all(n == 0 for n in again.values()), again
    assert {name: opened.count(name) for name in first} == first


def test_two_concurrent_writers_never_duplicate(store_url: str) -> None:
    """Two stores (two connections) write overlapping batches at once: every key once."""
    batch = points(4000)
    with open_store(store_url):
        pass  # migrated before the race (concurrent first opens are tested below)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def writer(part: list[FundingPoint]) -> None:
        try:
            with open_store(store_url) as st:
                barrier.wait()
                for i in range(0, len(part), 500):
                    st.write(part[i:i + 500])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(batch[:3000],)),
               threading.Thread(target=writer, args=(batch[1000:],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with open_store(store_url) as st:
        rows = st.read("funding_points")
    assert len(rows) == 4000 and len({r["time"] for r in rows}) == 4000


# --- gaps ------------------------------------------------------------------------------------------------------

def test_gaps_are_rows_and_an_open_gap_is_closed_once(opened: Store) -> None:
    start = datetime(2026, 11, 20, 11, 59, tzinfo=UTC)
    open_gap = Gap(venue="bybit", stream="liquidations", start=start, end=None, reason="stall",
                   received_at=RECEIVED)
    assert opened.write([open_gap]) == {"gaps": 1}
    info = opened.info()
    assert (info.gaps, info.open_gaps) == (1, 1)
    closed = replace(open_gap, end=start + timedelta(seconds=42))
    assert opened.write([closed]) == {"gaps": 1}  # the end filled in
    assert opened.write([open_gap, closed]) == {"gaps": 0}  # nothing new; the end is never erased
    (row,) = opened.read("gaps", venue="bybit")
    assert row == closed.to_row()
    info = opened.info()
    assert (info.gaps, info.open_gaps) == (1, 0)
    assert info.gap_streams == ({"venue": "bybit", "stream": "liquidations", "gaps": 1,
                                 "last_start": "2026-11-20T11:59:00Z"},)


def test_gaps_of_two_collectors_are_two_rows(opened: Store) -> None:
    start = datetime(2026, 11, 20, 11, 59, tzinfo=UTC)
    gaps = [Gap(venue="okx", stream="mark-price:BTC-USDT-SWAP", start=start, end=None, reason="disconnect",
                received_at=RECEIVED, collector=run) for run in ("run-a", "run-b")]
    assert opened.write(gaps) == {"gaps": 2}
    assert [r["collector"] for r in opened.read("gaps")] == ["run-a", "run-b"]


def test_collector_runs_take_plain_rows_and_keep_the_latest_heartbeat(opened: Store) -> None:
    run = {"run_id": "r1", "host": "box", "pid": 42, "started_at": RECEIVED, "ended_at": None, "status": "running",
           "note": "", "last_seen": RECEIVED, "what": "BTC,ETH"}
    assert opened.write_rows("collector_runs", [run, run]) == 1
    assert opened.read("collector_runs") == [run]
    later = RECEIVED + timedelta(seconds=5)
    beat = {**run, "last_seen": later}
    ended = {**beat, "ended_at": later, "status": "stopped", "note": "SIGTERM"}
    opened.write_rows("collector_runs", [beat])
    assert opened.read("collector_runs") == [beat]
    opened.write_rows("collector_runs", [ended, {**ended, "host": "other", "what": "changed"}])
    assert opened.read("collector_runs") == [ended]  # heartbeat and status follow; the run's identity does not
    with pytest.raises(ValueError, match="does not match its columns"):
        opened.write_rows("collector_runs", [{"run_id": "r2"}])


# --- migrations ------------------------------------------------------------------------------------------------

def _columns(st: Store, table: str) -> list[tuple[str, str, bool]]:
    """(name, declared type, nullable) of a table as the engine reports it."""
    if st.engine == "sqlite":
        return [(r[1], r[2], not r[3]) for r in st._query(f'PRAGMA table_info("{table}")')]
    rows = st._query("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                     "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))
    return [(n, t, nullable == "YES") for n, t, nullable in rows]


def test_migrations_build_the_declared_tables_once(store_url: str) -> None:
    with open_store(store_url) as st:
        assert st.schema_version() == LATEST
        applied = st.migrations()
        assert [(v, d) for v, d, _t in applied] == [(m.version, m.description) for m in MIGRATIONS]
        for spec in TABLES.values():
            cols = _columns(st, spec.name)
            assert [c[0] for c in cols] == list(spec.names), spec.name
            assert [c[2] for c in cols] == [c.nullable for c in spec.columns], spec.name
            kinds = {"sqlite": {"text": "TEXT", "real": "DOUBLE PRECISION", "int": "BIGINT", "bool": "BOOLEAN",
                                "time": "BIGINT"},
                     "postgresql": {"text": "text", "real": "double precision", "int": "bigint", "bool": "boolean",
                                    "time": "bigint"}}[st.engine]
            assert [c[1] for c in cols] == [kinds[c.type] for c in spec.columns], spec.name
    with open_store(store_url) as st:  # reopening applies nothing again
        assert st.migrations() == applied


def test_a_version_1_store_is_upgraded_keeping_its_rows(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import dtrack.store.base as base

    with monkeypatch.context() as m:  # a store made by the dtrack that knew only version 1
        m.setattr(base, "MIGRATIONS", MIGRATIONS[:1])
        m.setattr(base, "LATEST", 1)
        with open_store(store_url) as st:
            assert st.schema_version() == 1
            st._begin_write()
            st._execute('INSERT INTO "gaps" ("venue", "stream", "start", "end", "reason", "received_at") '
                        "VALUES (?, ?, ?, ?, ?, ?)", ("okx", "mark-price:BTC-USDT-SWAP", 1000, None, "stall", 1500))
            st._commit()
    with open_store(store_url) as st:
        assert st.schema_version() == LATEST
        assert st.read("gaps") == [Gap(venue="okx", stream="mark-price:BTC-USDT-SWAP", start=utc(1000), end=None,
                                       reason="stall", received_at=utc(1500)).to_row()]
        assert st.read("instruments") == []


def write_at_version(store_url: str, monkeypatch: pytest.MonkeyPatch, version: int, table: str,
                     rows: list[dict[str, Any]], *, dropped: int) -> None:
    """Make the store as the dtrack that knew steps 1 to ``version`` made it, and write ``rows`` into ``table``
    without its last ``dropped`` columns (those the later steps add)."""
    import dtrack.store.base as base

    spec = TABLES[table]
    old = spec.names[:-dropped]
    columns, marks = ", ".join(f'"{n}"' for n in old), ", ".join("?" for _ in old)
    with monkeypatch.context() as m:
        m.setattr(base, "MIGRATIONS", MIGRATIONS[:version])
        m.setattr(base, "LATEST", version)
        with open_store(store_url) as st:
            assert st.schema_version() == version
            st._begin_write()
            for values in base.params_of(spec, rows):
                st._execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', values[:-dropped])
            st._commit()


def test_a_version_5_store_keeps_its_price_quotes_with_no_24h_volume(store_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 6 adds the quotes' 24 h volume columns: rows written before read back with null volumes, and the
    upgraded table takes new rows with them."""
    quote = next(r for r in real_records() if isinstance(r, PriceQuote) and r.instrument.venue == "binance")
    assert TABLES["price_quotes"].names[-2:] == ("volume_24h_usd", "volume_24h_base")
    write_at_version(store_url, monkeypatch, 5, "price_quotes", [quote.to_row()], dropped=2)
    with open_store(store_url) as st:
        assert st.schema_version() == LATEST
        assert st.read("price_quotes") == [quote.to_row()]  # volume_24h_usd and volume_24h_base None
        later = replace(quote, received_at=RECEIVED + timedelta(minutes=1), time=None, volume_24h_usd=1.5e9,
                        volume_24h_base=17_000.25)
        st.write([later])
        assert st.read("price_quotes") == [quote.to_row(), later.to_row()]


def test_a_version_7_store_keeps_its_klines_with_no_high_or_low(store_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 8 adds the klines' high and low columns: rows written before read back with null highs and lows (and as
    PricePoints without them), and the upgraded table takes new rows with them (OKX's real 1 h candles)."""
    from dtrack.client.stored import record_of
    from dtrack.records import PricePoint

    points = [r for r in real_records() if isinstance(r, PricePoint)]
    assert [(p.price, p.high, p.low) for p in points] == [(43495.9, 43500.0, 43220.9), (43398.6, 43591.7, 43300.0),
                                                          (43373.9, 43493.9, 43279.9)]
    assert TABLES["price_points"].names[-2:] == ("high", "low")
    write_at_version(store_url, monkeypatch, 7, "price_points", [p.to_row() for p in points[:2]], dropped=2)
    with open_store(store_url) as st:
        assert st.schema_version() == LATEST
        before = [replace(p, high=None, low=None) for p in points[:2]]
        assert st.read("price_points") == [p.to_row() for p in before]
        assert [record_of(PricePoint, r) for r in st.read("price_points")] == before
        st.write(points)  # the rows already there keep their key's first row; the new one comes with its range
        assert st.read("price_points") == [p.to_row() for p in [*before, points[2]]]


def test_concurrent_first_opens_migrate_once(store_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def opener() -> None:
        try:
            barrier.wait()
            with open_store(store_url) as st:
                st.write(points(3))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with open_store(store_url) as st:
        assert [v for v, _d, _t in st.migrations()] == [m.version for m in MIGRATIONS]
        assert st.count("funding_points") == 3


def test_a_store_from_a_newer_dtrack_is_refused(store_url: str) -> None:
    with open_store(store_url) as st:
        st._begin_write()
        st._execute('INSERT INTO "schema_version" ("version", "description", "applied_at") VALUES (?, ?, ?)',
                    (LATEST + 1, "from the future", 0))
        st._commit()
    with pytest.raises(StoreError, match=f"schema version {LATEST + 1}, newer than this dtrack knows"):
        open_store(store_url)


# --- retention and info ------------------------------------------------------------------------------------------

def test_prune_by_retention(opened: Store, records: list[Record]) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    old_rates = [replace(r, received_at=now - timedelta(days=100), time=None) for r in records
                 if isinstance(r, FundingRate)]
    new_rates = [replace(r, received_at=now - timedelta(days=10)) for r in records if isinstance(r, FundingRate)]
    opened.write([*old_rates, *new_rates, *points(5, start_ms=1_500_000_000_000)])
    retention = parse_settings({}).store.retention.days()
    assert retention["funding_rates"] == 90.0 and retention["funding_points"] is None
    dry = opened.prune(now, retention, dry_run=True)
    assert dry["funding_rates"] == len(old_rates) and "funding_points" not in dry
    assert opened.count("funding_rates") == len(old_rates) + len(new_rates)  # a dry run deletes nothing
    done = opened.prune(now, retention)
    assert done == dry
    assert opened.count("funding_rates") == len(new_rates)
    assert opened.count("funding_points") == 5  # settled history is kept forever
    assert opened.prune(now, {"funding_points": 0.0, "gaps": None}) == {"funding_points": 5}


def test_info_figures(opened: Store, records: list[Record]) -> None:
    opened.write(records)
    want = expected_rows(records)
    info = opened.info({"funding_rates": 90.0})
    assert (info.engine, info.schema_version) == (opened.engine, LATEST)
    by_name = {t.name: t for t in info.tables}
    assert set(by_name) == set(TABLES)
    for name, spec in TABLES.items():
        rows = want.get(name, [])
        t = by_name[name]
        assert t.rows == len(rows), name
        axis = [r[spec.axis] for r in rows]
        assert (t.first, t.last) == ((min(axis), max(axis)) if axis else (None, None)), name
        assert t.size_bytes is None or t.size_bytes > 0
    assert by_name["funding_rates"].retention_days == 90.0 and by_name["gaps"].retention_days is None
    assert info.size_bytes is not None and info.size_bytes > 0
    assert info.gaps == 1 and info.open_gaps == 0


# --- URLs and the command line ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "engine", "target"), [
    (None, "sqlite", "/data/dtrack/store.sqlite3"),
    ("/tmp/x.db", "sqlite", "/tmp/x.db"),
    ("sqlite:///rel/x.db", "sqlite", "rel/x.db"),
    ("sqlite:////abs/x.db", "sqlite", "/abs/x.db"),
    ("postgresql://u:pw@h:5433/db", "postgresql", "postgresql://u:pw@h:5433/db"),
    ("postgres://h/db?schema=s1", "postgresql", "postgres://h/db?schema=s1"),
])
def test_store_urls(url: str | None, engine: str, target: str) -> None:
    assert parse_store_url(url, {"XDG_DATA_HOME": "/data"}) == (engine, target)


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://h/db", "unknown scheme 'mysql'; expected a SQLite file path, sqlite:///path, or postgresql://"),
    ("sqlite://", "names no file"),
    ("postgresql://h:99999/db", "is not a valid PostgreSQL URL"),
    ("postgresql://u:secret@h", "names no database"),
    ("postgresql://h/db?schema=Bad-Name", "is not a plain name"),
])
def test_bad_store_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        open_store(url)
    assert "secret" not in str(err.value)


def test_bad_urls_and_unreachable_servers_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                       private_dirs: None) -> None:
    bad = dtrack(capsys, "--store", "mysql://h/db", "store", "info")
    assert bad.code == 1 and bad.out == ""
    assert bad.err.startswith("dtrack: config error: store URL 'mysql://h/db': unknown scheme 'mysql'")
    assert bad.err.count("\n") == 1
    down = dtrack(capsys, "--store", "postgresql://u:secret@127.0.0.1:1/db", "store", "info")
    assert down.code == 1 and down.err.count("\n") == 1 and "Traceback" not in down.err
    assert down.err.startswith("dtrack: error: cannot connect to the PostgreSQL store "
                               "postgresql://u:***@127.0.0.1:1/db: ")
    assert "secret" not in down.err
    (tmp_path / "junk.db").write_text("not a database" * 100)
    junk = dtrack(capsys, "--store", str(tmp_path / "junk.db"), "store", "prune")
    assert junk.code == 1 and junk.err.startswith("dtrack: error: cannot open SQLite store ")
    settings = tmp_path / "settings.yaml"
    settings.write_text("store: {url: 'ftp://x/y'}\n")
    conf = dtrack(capsys, "--config", str(settings), "store", "info")
    assert conf.code == 1 and conf.err.startswith("dtrack: config error: settings key store: url: store URL")


def test_store_info_and_prune_commands(capsys: pytest.CaptureFixture[str], store_url: str, private_dirs: None,
                                       records: list[Record], monkeypatch: pytest.MonkeyPatch) -> None:
    old = datetime.now(UTC) - timedelta(days=200)  # snapshots received 200 days ago: past the 90-day retention
    records = [replace(r, received_at=old) if isinstance(r, FundingRate) else r for r in records]
    with open_store(store_url) as st:
        st.write(records)
    want = expected_rows(records)
    monkeypatch.setenv("DTRACK_STORE", store_url)  # the environment names the store
    info = dtrack(capsys, "store", "info", "--format", "json")
    assert info.code == 0, info.err
    doc = info.json()
    assert {t["table"]: t["rows"] for t in doc["tables"]} == {n: len(want.get(n, [])) for n in TABLES}
    assert doc["gaps"]["count"] == 1 and doc["store_schema_version"] == LATEST
    table = dtrack(capsys, "store", "info")
    assert table.code == 0 and "funding_points" in table.out and "gaps: 1 recorded, 0 still open" in table.out
    dry = dtrack(capsys, "store", "prune", "--dry-run", "--format", "json")
    assert dry.code == 0 and dry.json()["dry_run"] is True
    removed = dry.json()["removed"]
    assert removed["funding_rates"] == len(want["funding_rates"])
    assert "funding_points" not in removed
    done = dtrack(capsys, "--store", store_url, "store", "prune")
    assert done.code == 0 and f"funding_rates: deleted {len(want['funding_rates'])} rows" in done.out
    with open_store(store_url) as st:
        assert st.count("funding_rates") == 0 and st.count("funding_points") == len(want["funding_points"])


def test_default_store_lives_in_the_data_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             private_dirs: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("DTRACK_STORE", raising=False)
    run = dtrack(capsys, "store", "info", "--format", "json")
    assert run.code == 0
    assert run.json()["location"] == str(tmp_path / "data" / "dtrack" / "store.sqlite3")
    assert (tmp_path / "data" / "dtrack" / "store.sqlite3").is_file()


def test_sqlite_is_wal_and_psycopg_is_loaded_only_for_postgresql(tmp_path: Path) -> None:
    code = ("import sys; from dtrack.store import open_store\n"
            f"st = open_store({str(tmp_path / 's.db')!r})\n"
            "print(st._query('PRAGMA journal_mode')[0][0], 'psycopg' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.split() == ["wal", "False"]


def test_unknown_records_are_refused(opened: Store) -> None:
    from dtrack.records import Instrument, Kind, Margin

    inst = Instrument(venue="x", symbol="Y", asset="Y", quote="USD", settle="USD", kind=Kind.PERP,
                      margin=Margin.LINEAR)
    with pytest.raises(TypeError, match="the store keeps no Instrument records"):
        opened.write([inst])

