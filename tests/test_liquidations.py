"""``dtrack liquidations``: the pure totals against a hand computation, the store answer on SQLite and PostgreSQL
(windows, coverage spans from collector runs and gaps, the lower bound, de-duplication, ``--recent``), the JSON
document against its schema, CSV, bad input, the collector keeping every event, and the command against the
simulated venues.

The stored case (``NOW`` = 2026-12-04 08:00 UTC; USD = price x coins, or USD contracts x contract size):

| venue   | contract        | side  | price   | quantity            | USD       | when    | coverage   |
|---------|-----------------|-------|---------|---------------------|-----------|---------|------------|
| binance | BTCUSDT         | long  | 90,000  | 2 BTC               | 180,000   | -10 min | sampled    |
| binance | BTCUSDT         | short | 90,000  | 1 BTC               | 90,000    | -2 h    | sampled    |
| binance | BTCUSDT         | long  | 80,000  | 0.5 BTC             | 40,000    | -20 h   | sampled    |
| bybit   | BTCUSDT         | long  | 91,000  | 15 BTC              | 1,365,000 | -30 min | complete   |
| bybit   | BTCUSDT         | short | 91,000  | 0.5 BTC             | 45,500    | -10 h   | complete   |
| bybit   | BTCUSDT         | short | 100,000 | 3 BTC               | 300,000   | -25 h   | complete   |
| deribit | BTC-PERPETUAL   | long  | 90,000  | 5,000 x 10 USD      | 50,000    | -3 h    | trade-flag |
| bybit   | ETHUSDT         | long  | 3,000   | 10 ETH              | 30,000    | -5 min  | complete   |

By hand, for BTC: 1 h: longs 180,000 + 1,365,000 = 1,545,000, shorts 0 (2 events); 4 h: longs + 50,000 =
1,595,000, shorts 90,000 (4); 12 h: shorts + 45,500 = 135,500 (5); 24 h: longs + 40,000 = 1,635,000 (6); the
-25 h short is outside every window, the ETH long is another asset.

Coverage: one collector run streamed the three venues' liquidations from -6 h to now (its heartbeat), and the
stored events span what they span: binance -20 h .. -10 min, bybit -10 h .. -30 min. Gaps: binance
``fstream !forceOrder@arr`` -3 h .. -2 h 30 (30 min), bybit ``allLiquidation.BTCUSDT`` -5 h .. -4 h (1 h) and
``allLiquidation.ETHUSDT`` -1 h .. -50 min (ETH's: not BTC's), deribit ``*`` -1 h .. -45 min (15 min). So within
24 h: binance [-20 h, now) less 30 min = 19.5 h; bybit [-10 h, now) less 1 h = 9 h; deribit [-6 h, now) less
15 min = 5.75 h; at least one venue: 20 h; every venue: [-6, -5) + [-4, -3) + [-2.5, -1) + [-0.75, 0) h = 4.25 h.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as hs

import dtrack
from clirun import dtrack as run_cli
from dtrack.analytics.liquidations import (
    VenueStatus,
    clip,
    dedupe,
    intersect,
    ratio,
    seconds,
    subtract,
    union,
    window_totals,
    windows_for,
)
from dtrack.collect.plan import make_plan
from dtrack.collect.runs import RunBook
from dtrack.collect.status import StatusLine, Tally
from dtrack.collect.writer import BatchWriter
from dtrack.config import Settings, parse_settings
from dtrack.records import Coverage, Gap, Instrument, Kind, Liquidation, Margin, PriceKind, Unit
from dtrack.schemas import load_schema
from dtrack.store import open_store
from storefix import store_url

__all__ = ["store_url"]  # the fixture, imported: a fresh, private store on each engine

pytestmark = pytest.mark.usefixtures("private_dirs")

NOW = datetime(2026, 12, 4, 8, tzinfo=UTC)
H = 3600.0
#: USD sums: exact in binary for these figures, compared to a cent all the same
CENT = 0.01

BIN = Instrument(venue="binance", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                 margin=Margin.LINEAR)
BYB = Instrument(venue="bybit", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                 margin=Margin.LINEAR)
BYB_ETH = Instrument(venue="bybit", symbol="ETHUSDT", asset="ETH", quote="USDT", settle="USDT", kind=Kind.PERP,
                     margin=Margin.LINEAR)
DER = Instrument(venue="deribit", symbol="BTC-PERPETUAL", asset="BTC", quote="USD", settle="BTC", kind=Kind.PERP,
                 margin=Margin.INVERSE, contract_size=10.0, contract_unit=Unit.USD)


def liq(inst: Instrument, side: str, price: float, amount: float, ago: timedelta, coverage: Coverage, key: str,
        unit: Unit = Unit.BASE) -> Liquidation:
    when = NOW - ago
    return Liquidation.of(instrument=inst, side=side, price=price, price_kind=PriceKind.AVERAGE, amount=amount,
                          unit=unit, time=when, received_at=when + timedelta(milliseconds=150), coverage=coverage,
                          key=key)


M, HR = timedelta(minutes=1), timedelta(hours=1)
EVENTS = [
    liq(BIN, "long", 90_000, 2, 10 * M, Coverage.SAMPLED, "b1"),
    liq(BIN, "short", 90_000, 1, 2 * HR, Coverage.SAMPLED, "b2"),
    liq(BIN, "long", 80_000, 0.5, 20 * HR, Coverage.SAMPLED, "b3"),
    liq(BYB, "long", 91_000, 15, 30 * M, Coverage.COMPLETE, "y1"),
    liq(BYB, "short", 91_000, 0.5, 10 * HR, Coverage.COMPLETE, "y2"),
    liq(BYB, "short", 100_000, 3, 25 * HR, Coverage.COMPLETE, "y3"),
    liq(DER, "long", 90_000, 5_000, 3 * HR, Coverage.TRADE_FLAG, "d1", Unit.CONTRACTS),
    liq(BYB_ETH, "long", 3_000, 10, 5 * M, Coverage.COMPLETE, "e1"),
]
#: by hand (see the module doc): window -> (long USD, short USD, events)
BTC_TOTALS = {"1h": (1_545_000.0, 0.0, 2), "4h": (1_595_000.0, 90_000.0, 4), "12h": (1_595_000.0, 135_500.0, 5),
              "24h": (1_635_000.0, 135_500.0, 6)}
#: per venue over 24 h: (long USD, short USD, events, covered seconds)
BTC_VENUES_24H = {"binance": (220_000.0, 90_000.0, 3, 19.5 * H), "bybit": (1_365_000.0, 45_500.0, 2, 9 * H),
                  "deribit": (50_000.0, 0.0, 1, 5.75 * H)}


# --- the pure parts --------------------------------------------------------------------------------------------

def test_windows_up_to_since() -> None:
    assert [w for w, _ in windows_for(timedelta(hours=24))] == ["1h", "4h", "12h", "24h"]
    assert [w for w, _ in windows_for(timedelta(hours=12))] == ["1h", "4h", "12h"]
    assert [w for w, _ in windows_for(timedelta(hours=2))] == ["1h", "2h"]
    assert [w for w, _ in windows_for(timedelta(days=7))] == ["1h", "4h", "12h", "24h", "7d"]
    assert [w for w, _ in windows_for(timedelta(hours=1))] == ["1h"]


def t(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


def test_time_spans() -> None:
    assert union([(t(5), t(3)), (t(4), t(2)), (t(1), t(0)), (t(0.5), t(0.5))]) == [(t(5), t(2)), (t(1), t(0))]
    assert subtract([(t(10), t(0))], [(t(8), t(7)), (t(3), t(2.5))]) == [(t(10), t(8)), (t(7), t(3)), (t(2.5), t(0))]
    assert subtract([(t(2), t(1))], [(t(3), t(0))]) == []
    assert clip([(t(30), t(20)), (t(10), t(0))], t(24), t(5)) == [(t(24), t(20)), (t(10), t(5))]
    assert intersect([(t(10), t(3)), (t(2.5), t(0))], [(t(6), t(5)), (t(4), t(1))]) == [
        (t(6), t(5)), (t(4), t(3)), (t(2.5), t(1))]
    assert seconds([(t(2), t(1)), (t(1.5), t(0))]) == 2 * H


def test_ratio_and_dedupe() -> None:
    assert ratio(1_595_000.0, 90_000.0) == pytest.approx(17.722222222, rel=1e-9)
    assert ratio(1.0, 0.0) is None and ratio(0.0, 5.0) == 0.0
    twice = [EVENTS[0], EVENTS[3], liq(BIN, "long", 1.0, 1.0, 1 * M, Coverage.SAMPLED, "b1"), EVENTS[3]]
    assert dedupe(twice) == [EVENTS[0], EVENTS[3]]  # the first of each (venue, symbol, key)


VENUES = [VenueStatus("binance", True, "sampled"), VenueStatus("bybit", True, "complete"),
          VenueStatus("deribit", True, "trade-flag"), VenueStatus("hyperliquid", False, None, "no feed")]


def test_window_totals_against_a_hand_computation() -> None:
    whole = {v.venue: [(t(24), NOW)] for v in VENUES[:3]}
    out = window_totals("BTC", EVENTS, NOW, windows_for(timedelta(hours=24)), VENUES, whole)
    assert [w.window for w in out] == list(BTC_TOTALS)
    for w in out:
        longs, shorts, n = BTC_TOTALS[w.window]
        assert w.totals.long_usd == pytest.approx(longs, abs=CENT)
        assert w.totals.short_usd == pytest.approx(shorts, abs=CENT)
        assert w.totals.count == n
        assert [v.venue for v in w.venues] == ["binance", "bybit", "deribit"]  # covered venues only
        assert w.lower_bound and w.sampled_venues == ("binance",)
        assert w.covered_seconds == w.span.total_seconds() and not w.partial
    day = out[-1]
    for v in day.venues:
        longs, shorts, n, _ = BTC_VENUES_24H[v.venue]
        assert (v.totals.long_usd, v.totals.short_usd, v.totals.count) == (pytest.approx(longs, abs=CENT),
                                                                           pytest.approx(shorts, abs=CENT), n)
    assert out[0].totals.ratio is None  # no short in the last hour
    assert out[1].totals.ratio == pytest.approx(1_595_000 / 90_000, rel=1e-12)
    # without the sampled venue the total is no lower bound
    complete = window_totals("BTC", EVENTS, NOW, windows_for(timedelta(hours=4)), VENUES[1:], whole)
    assert not complete[-1].lower_bound and complete[-1].totals.long_usd == pytest.approx(1_415_000, abs=CENT)


@settings(max_examples=60)
@given(hs.lists(hs.tuples(hs.sampled_from([BIN, BYB, DER]), hs.sampled_from(["long", "short"]),
                          hs.floats(1_000, 200_000), hs.floats(0.001, 50), hs.integers(0, 30 * 3600),
                          hs.integers(0, 40)), max_size=40))
def test_window_totals_equal_a_second_implementation(
        rows: list[tuple[Instrument, str, float, float, int, int]]) -> None:
    """Property: the vectorized totals equal plain sums over the de-duplicated events, window by window."""
    events = [liq(inst, side, price, amount, timedelta(seconds=secs), Coverage.COMPLETE, f"k{key}")
              for inst, side, price, amount, secs, key in rows]
    unique = dedupe(events)
    out = window_totals("BTC", unique, NOW, windows_for(timedelta(hours=24)), VENUES, {})
    for w in out:
        inside = [e for e in unique if e.time >= NOW - w.span]
        for v in w.venues:
            mine = [e for e in inside if e.instrument.venue == v.venue]
            assert v.totals.long_usd == pytest.approx(sum(e.usd for e in mine if e.side == "long"), rel=1e-12)
            assert v.totals.short_usd == pytest.approx(sum(e.usd for e in mine if e.side == "short"), rel=1e-12)
            assert v.totals.count == len(mine)
        assert w.totals.count == len(inside) == sum(v.totals.count for v in w.venues)


def test_a_partial_window_says_how_much_it_covers() -> None:
    two_hours = {"bybit": [(t(2), NOW)]}
    (w,) = window_totals("BTC", [EVENTS[3]], NOW, [("24h", timedelta(hours=24))], [VENUES[1]], two_hours)
    assert w.partial and w.covered_seconds == 2 * H and w.every_venue_seconds == 2 * H
    assert w.totals.long_usd == pytest.approx(1_365_000, abs=CENT)


# --- the store answer (SQLite and PostgreSQL) ------------------------------------------------------------------

def gap(venue: str, stream: str, start_h: float, end_h: float, reason: str = "disconnect") -> Gap:
    return Gap(venue=venue, stream=stream, start=t(start_h), end=t(end_h), reason=reason, received_at=t(end_h),
               collector="run-a")


def fill(url: str) -> None:
    """The stored case of the module doc."""
    what = {"assets": ["BTC", "ETH"], "venues": ["binance", "bybit", "deribit"], "streams": ["liquidations"],
            "gap_streams": [["binance", "stream.liquidations"], ["bybit", "stream.liquidations"],
                            ["deribit", "stream.liquidations"]]}
    with open_store(url) as st:
        st.write(EVENTS)
        st.write([liq(BYB, "long", 1.0, 1.0, 1 * M, Coverage.COMPLETE, "y1")])  # a repeated key: not stored again
        st.write([gap("binance", "fstream !forceOrder@arr", 3, 2.5),  # a gap names its Binance host first
                  gap("bybit", "allLiquidation.BTCUSDT", 5, 4, "stall"),
                  gap("bybit", "allLiquidation.ETHUSDT", 1, 50 / 60), gap("deribit", "*", 1, 0.75, "error")])
        st.write_rows("collector_runs", [{"run_id": "run-a", "host": "h", "pid": 1, "started_at": t(6),
                                          "ended_at": None, "status": "running", "note": "", "last_seen": NOW,
                                          "what": json.dumps(what)}])
        st.write_rows("instruments", [{**i.to_row(), "seen_at": t(1)} for i in (BIN, BYB, BYB_ETH, DER)])


@pytest.fixture
def stored(store_url: str) -> str:
    fill(store_url)
    return store_url


def answer(url: str, *assets: str, **kw: Any) -> Any:
    with dtrack.Client(store=url, clock=lambda: NOW, venues=kw.pop("venues", None)) as dt:
        return dt.liquidations(list(assets) or ["BTC"], **kw)


def test_store_totals_windows_and_coverage(stored: str) -> None:
    result = answer(stored)
    doc = result.to_dict()
    jsonschema.validate(doc, load_schema("liquidations"))
    assert result.exit_code == 0 and doc["errors"] == [] and doc["source"]["kind"] == "store"
    assert doc["assets"] == ["BTC"] and doc["windows"] == ["1h", "4h", "12h", "24h"] and doc["events"] == 6
    totals = {r["window"]: r for r in doc["totals"]}
    for window, (longs, shorts, n) in BTC_TOTALS.items():
        row = totals[window]
        assert row["long_usd"] == pytest.approx(longs, abs=CENT)
        assert row["short_usd"] == pytest.approx(shorts, abs=CENT)
        assert row["total_usd"] == pytest.approx(longs + shorts, abs=CENT)
        assert row["count"] == n and row["long_count"] + row["short_count"] == n
        assert row["lower_bound"] and row["sampled_venues"] == ["binance"]
    assert totals["1h"]["long_short_ratio"] is None
    assert totals["12h"]["long_short_ratio"] == pytest.approx(1_595_000 / 135_500, rel=1e-12)
    day = totals["24h"]
    assert day["covered_seconds"] == pytest.approx(20 * H) and day["every_venue_seconds"] == pytest.approx(4.25 * H)
    assert day["partial"] and set(day["venues_not_covered"]) >= {"hyperliquid"}
    rows = {r["venue"]: r for r in doc["rows"] if r["window"] == "24h"}
    for venue, (longs, shorts, n, covered) in BTC_VENUES_24H.items():
        row = rows[venue]
        assert (row["long_usd"], row["short_usd"], row["count"]) == (pytest.approx(longs, abs=CENT),
                                                                     pytest.approx(shorts, abs=CENT), n)
        assert row["covered_seconds"] == pytest.approx(covered)
    assert {r["venue"]: r["coverage"] for r in doc["rows"] if r["window"] == "1h"} == {
        "binance": "sampled", "bybit": "complete", "okx": "sampled", "deribit": "trade-flag", "dydx": "trade-flag"}
    # dYdX has a feed but nothing of it was stored: a row of nothing, covering no time (never taken as "no events")
    assert (rows["dydx"]["count"], rows["dydx"]["covered_seconds"]) == (0, 0)
    cov = {r["venue"]: r for r in doc["coverage"]}
    assert cov["hyperliquid"]["covered"] is False
    assert cov["hyperliquid"]["note"] == "Hyperliquid publishes no market-wide liquidation feed"
    assert cov["binance"]["gaps"] == 1 and cov["binance"]["gap_seconds"] == pytest.approx(0.5 * H)
    assert cov["bybit"]["gaps"] == 1 and cov["bybit"]["gap_seconds"] == pytest.approx(1 * H)  # not ETH's
    assert cov["deribit"]["covered_seconds"] == pytest.approx(5.75 * H)
    assert cov["binance"]["first_covered"] == "2026-12-03T12:00:00Z" and cov["okx"]["covered_seconds"] == 0
    # the 1 h window: binance and bybit were watched all of it, deribit 45 min of it
    hour = {r["venue"]: r["covered_seconds"] for r in doc["rows"] if r["window"] == "1h"}
    assert hour == {"binance": pytest.approx(H), "bybit": pytest.approx(H), "okx": 0,
                    "deribit": pytest.approx(0.75 * H), "dydx": 0}
    with open_store(stored) as st:  # the repeated key was stored once, the first row kept
        (y1,) = [r for r in st.read("liquidations", venue="bybit") if r["key"] == "y1"]
        assert y1["usd"] == pytest.approx(1_365_000, abs=CENT)


def test_store_answer_without_a_sampled_venue_is_no_lower_bound(stored: str) -> None:
    doc = answer(stored, since="12h", venues=["bybit", "deribit"]).to_dict()
    assert doc["windows"] == ["1h", "4h", "12h"]
    totals = {r["window"]: r for r in doc["totals"]}
    assert not any(r["lower_bound"] for r in doc["totals"])
    assert totals["12h"]["long_usd"] == pytest.approx(1_365_000 + 50_000, abs=CENT)
    assert totals["12h"]["short_usd"] == pytest.approx(45_500, abs=CENT)
    assert {r["venue"] for r in doc["coverage"]} == {"bybit", "deribit"}


def test_recent_min_size_newest_first(stored: str) -> None:
    result = answer(stored, recent=True, min_size="$100k")
    doc = result.to_dict()
    jsonschema.validate(doc, load_schema("liquidations"))
    assert [(e["venue"], e["key"], e["side"]) for e in doc["recent"]] == [("binance", "b1", "long"),
                                                                          ("bybit", "y1", "long")]
    assert doc["recent_filter"] == {"min_usd": 100_000.0, "limit": 20, "matched": 2}
    first = doc["recent"][0]
    assert first["time"] == "2026-12-04T07:50:00Z" and first["price"] == 90_000 and first["price_kind"] == "average"
    assert first["base"] == 2 and first["usd"] == pytest.approx(180_000, abs=CENT) and first["coverage"] == "sampled"
    limited = answer(stored, min_size=40_000, limit=3).to_dict()  # --min-size alone lists the recent events too
    assert [e["key"] for e in limited["recent"]] == ["b1", "y1", "b2"]
    assert limited["recent_filter"]["matched"] == 6  # every BTC event of the 24 h is >= $40,000 (b3: exactly)
    frame = result.to_pandas()
    assert list(frame["key"]) == ["b1", "y1"] and str(frame["time"].dtype).endswith("UTC]")


def test_csv_rows_and_totals(stored: str) -> None:
    text = answer(stored).to_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    day = {r["venue"]: r for r in rows if r["window"] == "24h"}
    assert set(day) == {"binance", "bybit", "okx", "deribit", "dydx", "all"}
    assert float(day["all"]["long_usd"]) == pytest.approx(1_635_000, abs=CENT)
    assert day["all"]["lower_bound"] == "True" and day["binance"]["coverage"] == "sampled"
    assert day["bybit"]["lower_bound"] == "False" and day["all"]["long_short_ratio"]
    assert float(day["all"]["long_short_ratio"]) == pytest.approx(1_635_000 / 135_500, rel=1e-9)


def test_table_view_says_what_the_figure_is(stored: str) -> None:
    text = answer(stored).table().render(120)
    assert "24h Liquidations: Longs $1.64M | Shorts $135.50K (a lower bound: binance is sampled; the data covers " \
           "20h 00m of 24h)" in text
    assert "hyperliquid: not covered: Hyperliquid publishes no market-wide liquidation feed" in text
    assert "Source: the store" in text


def test_nothing_stored_says_what_to_run(tmp_path: Path) -> None:
    url = str(tmp_path / "empty.sqlite3")
    open_store(url).close()
    result = answer(url, "SOL")
    assert result.exit_code == 1 and result.all_failed
    assert "holds no liquidation of SOL in the last 24h" in result.note and "dtrack collect" in result.note
    jsonschema.validate(result.to_dict(), load_schema("liquidations"))


# --- the command ---------------------------------------------------------------------------------------------

@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[str]:
    url = str(tmp_path / "store.sqlite3")
    fill(url)
    yield url


def test_cli_json_is_the_api_document(capsys: pytest.CaptureFixture[str], sqlite_store: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DTRACK_NOW", "2026-12-04T08:00:00Z")
    out = run_cli(capsys, "--store", sqlite_store, "liquidations", "BTC", "--format", "json")
    assert out.code == 0, out.err
    assert out.json() == answer(sqlite_store).to_dict()
    out = run_cli(capsys, "--store", sqlite_store, "liquidations", "BTC", "--recent", "--min-size", "1m",
                  "--format", "csv")
    assert out.code == 0 and out.out.splitlines()[1].startswith("2026-12-04T07:30:00Z,bybit,BTC,BTCUSDT,perp,long")
    assert len(out.out.splitlines()) == 2 and "CSV holds the recent events" in out.err
    out = run_cli(capsys, "--store", sqlite_store, "liquidations", "BTC")
    assert out.code == 0 and "24h Liquidations: Longs $1.64M | Shorts $135.50K" in out.out


@pytest.mark.parametrize(("args", "needle"), [
    (("--since", "3x"), "bad --since '3x': expected a duration like 24h, 7d or 2w"),
    (("--since", "400d"), "bad --since '400d': expected between 1h and 365d"),
    (("--min-size", "lots"), "bad --min-size 'lots': expected USD like 1000000, $1M or 250k"),
    (("--min-size", "-5"), "bad --min-size '-5'"),
    (("--listen", "5y"), "bad --listen '5y': expected a duration like 20s, 2m or 1h"),
    (("--venue", "hyperliquid"), "no liquidation feed in dtrack for the venues asked (Hyperliquid: Hyperliquid "
                                 "publishes no market-wide liquidation feed)"),
    (("--venue", "bitmex"), "BitMEX closed on 2026-09-23"),
    (("--limit", "0"), "Invalid value for '--limit'"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], sqlite_store: str,
                                          args: tuple[str, ...], needle: str) -> None:
    out = run_cli(capsys, "--store", sqlite_store, "liquidations", "BTC", *args)
    assert out.code == 2, out.err
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and needle in out.err, out.err
    assert "Traceback" not in out.err


def test_schema_command_prints_the_liquidations_schema(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "schema", "liquidations")
    schema = json.loads(out.out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["command"] == {"const": "liquidations"}


def test_sim_with_nothing_stored_listens_briefly(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A new user: ``--sim``, no store: a short listen to the simulated venues (said so), the venues' figures
    with their coverage, Hyperliquid not covered, and every event heard once."""
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(yaml.safe_dump({"liquidations": {"listen_seconds": 4}}))
    out = run_cli(capsys, "--config", str(cfg), "liquidations", "BTC", "ETH", "--sim", "--format", "json",
                  "--recent", "--min-size", "0", "--limit", "100000")
    assert out.code in (0, 3), out.err
    assert "listening to the simulated venues' liquidation streams of BTC, ETH for 4 s" in out.err
    doc = out.json()
    jsonschema.validate(doc, load_schema("liquidations"))
    source = doc["source"]
    # at least the 4 s asked; no upper bound: a busy machine may listen longer
    assert source["kind"] == "listen" and source["auto_listen"] and source["listen_seconds"] >= 4
    cov = {(r["asset"], r["venue"]): r for r in doc["coverage"]}
    assert cov[("BTC", "hyperliquid")]["covered"] is False
    assert {cov[("BTC", v)]["coverage"] for v in ("binance", "okx")} == {"sampled"}
    assert cov[("BTC", "bybit")]["coverage"] == "complete" and cov[("BTC", "deribit")]["coverage"] == "trade-flag"
    listened = source["listen_seconds"]
    for r in doc["rows"]:  # every covered venue was watched at most the listen (less its gaps)
        assert r["covered_seconds"] <= listened + 1e-6
    keys = [(e["venue"], e["symbol"], e["key"]) for e in doc["recent"]]
    assert len(keys) == len(set(keys)) == doc["events"]  # nothing counted twice (OKX's backlog included)
    # the totals are the sums of the events heard, by the side of the position liquidated
    for total in doc["totals"]:
        start = total["start"]
        mine = [e for e in doc["recent"] if e["asset"] == total["asset"] and e["time"] >= start]
        assert total["long_usd"] == pytest.approx(sum(e["usd"] for e in mine if e["side"] == "long"), abs=CENT)
        assert total["short_usd"] == pytest.approx(sum(e["usd"] for e in mine if e["side"] == "short"), abs=CENT)
        assert total["count"] == len(mine)
        assert total["lower_bound"] == any(e["coverage"] == "sampled" for e in mine) or total["lower_bound"]


# --- the collector keeps every event ------------------------------------------------------------------------------

def test_the_collector_streams_liquidations_by_default_and_records_what_it_watched() -> None:
    plan = make_plan(Settings(), assets=["BTC"], venues=["binance", "hyperliquid"])
    assert "liquidations" in plan.stream_kinds and "Liquidation" in plan.stream_records
    streams = plan.gap_streams()
    assert ("binance", "stream.liquidations") in streams and ("binance", "stream.tickers") in streams
    assert ("hyperliquid", "stream.liquidations") not in streams and ("hyperliquid", "stream.tickers") in streams
    only = make_plan(parse_settings({"collect": {"streams": {"kinds": ["funding"]}}}), assets=["BTC"],
                     venues=["bybit"])
    assert only.stream_kinds == ("funding",) and ("bybit", "stream.liquidations") not in only.gap_streams()
    # a kind none of the venues streams is left out of what the run says it watches
    dex = make_plan(Settings(), assets=["BTC"], venues=["hyperliquid"])
    assert "liquidations" not in dex.stream_kinds and "liquidations" not in json.loads(dex.what())["streams"]


def test_the_writer_keeps_every_liquidation_never_conflated(tmp_path: Path) -> None:
    url = str(tmp_path / "w.sqlite3")
    book = RunBook.new("{}", NOW)
    writer = BatchWriter(lambda: open_store(url), book, tally=Tally(), status=StatusLine(None, messages=io.StringIO()),
                         clock=lambda: NOW, conflation=60.0)
    burst = [liq(BYB, "long", 91_000 + i, 0.1, timedelta(seconds=10 - i), Coverage.COMPLETE, f"k{i}")
             for i in range(5)]

    async def go() -> None:
        writer.add_live_batch(burst)
        writer.add_live(burst[0])  # the same event again: stored once (its key)
        await writer.close(status="stopped")

    asyncio.run(go())
    with open_store(url) as st:
        assert sorted(r["key"] for r in st.read("liquidations")) == ["k0", "k1", "k2", "k3", "k4"]


def test_readme_documents_the_command() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Liquidations"):]
    for needle in ("dtrack liquidations", "--recent", "--min-size", "--listen", "lower bound", "sampled",
                   "trade-flag", "Hyperliquid", "liquidations.min_size_usd"):
        assert needle in section, needle
    assert re.search(r"liquidations:\s*\{?\s*min_size_usd", readme), "settings reference"


def test_history_liquidations_reads_the_events(stored: str) -> None:
    with dtrack.Client(store=stored, clock=lambda: NOW) as dt:
        h = dt.history("liquidations", "BTC", since="24h")
    doc = h.to_dict()
    jsonschema.validate(doc, load_schema("history"))
    assert [(r["venue"], r["key"]) for r in doc["rows"]] == [("binance", "b3"), ("bybit", "y2"), ("deribit", "d1"),
                                                             ("binance", "b2"), ("bybit", "y1"), ("binance", "b1")]
    assert doc["rows"][2]["unit"] == "contracts" and doc["rows"][2]["usd"] == pytest.approx(50_000, abs=CENT)
    assert {(s["venue"], s["symbol"]): s["points"] for s in doc["series"]} == {
        ("binance", "BTCUSDT"): 3, ("bybit", "BTCUSDT"): 2, ("deribit", "BTC-PERPETUAL"): 1}
    assert h.to_csv().splitlines()[0].startswith("time,venue,symbol,asset,side,price,price_kind")


# --- end to end: the sim's frames -> dtrack collect -> dtrack liquidations ------------------------------------------

E2E_ASSETS = ("BTC", "ETH", "SOL")
E2E_VENUES = ("binance", "bybit", "okx", "deribit")
WAIT = 120.0
#: the venues' side conventions, restated from their docs (not from dtrack's parsers): an ORDER side (Binance ``S``,
#: OKX ``side`` in net mode, Deribit ``direction``) sell = a long liquidated; Bybit ``S`` is the POSITION's side
ORDER_SIDE = {"SELL": "long", "BUY": "short", "sell": "long", "buy": "short"}
BYBIT_POSITION = {"Buy": "long", "Sell": "short"}
OTHER = {"long": "short", "short": "long"}


def _contract(venue: str, symbol: str, t_ms: int) -> Any:
    from dtrack.sim.model import MarketModel

    return MarketModel.perp(venue, symbol) or MarketModel.future(venue, symbol, t_ms)


def _usd(contract: Any, qty: float, price: float) -> float:
    """USD of ``qty`` in the venue's unit at ``price`` (per unit of the venue's base), from the venue's docs and the
    contract's published terms: Deribit's ``amount`` is USD on inverse contracts and coins on linear ones; elsewhere
    a quantity is contracts (or coins: a size of 1) worth ``contract_size`` USD, or that many coins x price."""
    if contract.venue == "deribit":
        return qty if contract.contract_unit == "usd" else qty * price
    if contract.contract_unit == "usd":
        return qty * contract.contract_size
    return qty * contract.contract_size * price


def frame_events(log: Path) -> dict[tuple[Any, ...], tuple[str, str, str, int, float]]:
    """Every liquidation the sim's frames carry, read by each venue's documented convention, once per identity (the
    venue's own fields): identity -> (venue, asset, side, time ms, USD)."""
    out: dict[tuple[Any, ...], tuple[str, str, str, int, float]] = {}

    def put(ident: tuple[Any, ...], venue: str, symbol: str, side: str, t_ms: int, qty: float, price: float) -> None:
        c = _contract(venue, symbol, t_ms)
        if c is not None and c.asset in E2E_ASSETS and qty > 0:
            out.setdefault(ident, (venue, c.asset, side, t_ms, _usd(c, qty, price)))

    for line in log.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        venue, channel = row.get("venue"), row.get("channel") or ""
        if row.get("dir") != "send" or not channel:
            continue
        f = json.loads(row["frame"])
        if venue == "binance" and channel == "!forceOrder@arr":
            o = f["data"]["o"]
            price = float(o["ap"]) or float(o["p"])
            put(("binance", o["s"], o["T"], o["S"], o["z"], o["ap"], o["p"]), "binance", o["s"], ORDER_SIDE[o["S"]],
                int(o["T"]), float(o["z"]), price)
        elif venue == "bybit" and channel.startswith("allLiquidation."):
            for r in f["data"]:
                put(("bybit", r["s"], r["T"], r["S"], r["v"], r["p"]), "bybit", r["s"], BYBIT_POSITION[r["S"]],
                    int(r["T"]), float(r["v"]), float(r["p"]))
        elif venue == "okx" and channel.startswith("liquidation-orders"):
            for r in f["data"]:
                for d in r["details"]:
                    side = d["posSide"] if d["posSide"] in ("long", "short") else ORDER_SIDE[d["side"]]
                    put(("okx", r["instId"], d["ts"], d["side"], d["posSide"], d["sz"], d["bkPx"]), "okx",
                        r["instId"], side, int(d["ts"]), float(d["sz"]), float(d["bkPx"]))
        elif venue == "deribit" and channel.startswith("trades."):
            for tr in f["params"]["data"]:
                flag = tr.get("liquidation")
                if not flag:
                    continue
                taker = ORDER_SIDE[tr["direction"]]
                for side in {"T": [taker], "M": [OTHER[taker]], "MT": [taker, OTHER[taker]]}[flag]:
                    put(("deribit", tr["trade_id"], side), "deribit", tr["instrument_name"], side,
                        int(tr["timestamp"]), float(tr["amount"]), float(tr["price"]))
    return out


def test_collected_totals_equal_the_sims_frames(tmp_path: Path) -> None:
    """``dtrack sim serve --log-requests`` and ``dtrack collect`` (liquidation streams only), then ``dtrack
    liquidations --format json``: the totals per asset, side and venue equal those recomputed from every frame the
    sim sent, read with each venue's side convention, each event once (OKX's backlog on subscribing included).
    The sim is stopped before the collector, so that the frame log is complete, and the collector is stopped once the
    store holds as many events as the log (a lost frame: the wait fails; one stored twice: the totals differ)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "DTRACK_CACHE_DIR": str(tmp_path / "cache"), "DTRACK_STATE_DIR": str(tmp_path / "state"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    for name in ("DTRACK_CONFIG", "DTRACK_STORE", "DTRACK_NOW"):
        env.pop(name, None)
    cfg, log, store = tmp_path / "sim.yaml", tmp_path / "frames.jsonl", str(tmp_path / "store.sqlite3")

    def poll(ready: Any, what: str) -> Any:
        end = time.monotonic() + WAIT
        while not (value := ready()):
            if time.monotonic() > end:
                pytest.fail(f"waited {WAIT:g} s for {what}")
            time.sleep(0.3)
        return value

    sim = subprocess.Popen([sys.executable, "-m", "dtrack", "sim", "serve", "--port", "0", "--seed", "7",
                            "--write-config", str(cfg), "--log-requests", str(log)], env=env,
                           stderr=subprocess.DEVNULL)
    collector = None
    try:
        poll(lambda: cfg.exists() and cfg.stat().st_size > 0, "the sim's settings")
        doc = yaml.safe_load(cfg.read_text())
        doc["collect"] = {"heartbeat": 1, "backfill_days": 0, "streams": {"kinds": ["liquidations"]},
                          "snapshots": {"funding": 0, "open_interest": 0, "basis": 0, "options": 0}}
        settings = tmp_path / "settings.yaml"
        settings.write_text(yaml.safe_dump(doc))
        err = open(tmp_path / "collect.err", "w", encoding="utf-8")  # noqa: SIM115 - closed below
        collector = subprocess.Popen(
            [sys.executable, "-m", "dtrack", "--config", str(settings), "--store", store, "collect", "--no-backfill",
             "--assets", ",".join(E2E_ASSETS), *(a for v in E2E_VENUES for a in ("--venue", v))],
            env=env, stderr=err, stdout=subprocess.DEVNULL)
        poll(lambda: log.exists() and {e[0] for e in frame_events(log).values()} >= set(E2E_VENUES),
             "a liquidation of every venue in the sim's frames")
        sim.send_signal(signal.SIGINT)  # the sim stops first: everything it sent reaches the collector
        sim.wait(30)
        sent_all = len(frame_events(log))

        def stored() -> bool:  # every event the sim sent has reached the store (or the wait fails)
            with open_store(store) as st:
                return st.count("liquidations") >= sent_all

        poll(stored, f"the {sent_all} events the sim sent to be stored")
        collector.send_signal(signal.SIGTERM)
        assert collector.wait(60) == 0, (tmp_path / "collect.err").read_text()
        err.close()
    finally:
        for proc in (sim, collector):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(20)

    run = subprocess.run([sys.executable, "-m", "dtrack", "--store", store, "liquidations", *E2E_ASSETS,
                          "--format", "json", "--recent", "--min-size", "0", "--limit", "100000",
                          *(a for v in E2E_VENUES for a in ("--venue", v))],
                         env=env, capture_output=True, text=True, timeout=WAIT)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    jsonschema.validate(doc, load_schema("liquidations"))
    sent = frame_events(log)
    day = {r["asset"]: r for r in doc["totals"] if r["window"] == "24h"}
    start_ms = int(datetime.fromisoformat(day["BTC"]["start"].replace("Z", "+00:00")).timestamp() * 1000)
    expected = [e for e in sent.values() if e[3] >= start_ms]
    assert len(expected) == doc["events"] == len(doc["recent"]) > 0
    keys = [(e["venue"], e["symbol"], e["key"]) for e in doc["recent"]]
    assert len(keys) == len(set(keys))
    for asset in E2E_ASSETS:
        mine = [e for e in expected if e[1] == asset]
        for side in ("long", "short"):
            want = sum(e[4] for e in mine if e[2] == side)
            assert day[asset][f"{side}_usd"] == pytest.approx(want, rel=1e-9, abs=1e-6), (asset, side)
        assert day[asset]["count"] == len(mine)
        rows = {r["venue"]: r for r in doc["rows"] if r["asset"] == asset and r["window"] == "24h"}
        for venue in E2E_VENUES:
            theirs = [e for e in mine if e[0] == venue]
            assert rows[venue]["count"] == len(theirs), (asset, venue)
            assert rows[venue]["long_usd"] == pytest.approx(sum(e[4] for e in theirs if e[2] == "long"),
                                                            rel=1e-9, abs=1e-6), (asset, venue)
    assert {r["venue"]: r["coverage"] for r in doc["coverage"] if r["asset"] == "BTC"} == {
        "binance": "sampled", "bybit": "complete", "okx": "sampled", "deribit": "trade-flag"}
    # the time covered is the collector's run, less the sim's close (gaps): some of the last hour, not more
    for r in doc["coverage"]:
        assert 0 < r["covered_seconds"] < 3600
