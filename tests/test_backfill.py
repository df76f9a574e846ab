"""``backfill`` (the library function, ``AsyncClient.backfill`` and ``dtrack backfill``) against the simulated
venues over real sockets, into real stores (SQLite and PostgreSQL): exactly the settlements the venues serve,
nothing twice, only what is missing on a later run, each venue's depth said, one venue failing never stopping
the others, and the command's progress, summary, JSON Schema and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import dtrack
from clirun import dtrack as cli
from conftest import SimThread
from dtrack.client.backfill import backfill
from dtrack.client.stored import depth_of
from dtrack.records import DataKind, Kind
from dtrack.schemas import load_schema
from dtrack.store import open_store, to_ms
from dtrack.venues import ACTIVE, VENUES
from storefix import NOW, PINNED_MS, model, pinned, run, sim_settings, store_url, write_config

__all__ = ["store_url"]  # the fixture, imported

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def market() -> Iterator[SimThread]:
    server = SimThread(model=model())
    yield server
    server.close()


def client(server: SimThread, tmp: Path, at: Any = NOW, **kw: Any) -> dtrack.AsyncClient:
    return dtrack.AsyncClient(config=sim_settings(server.venue_urls(), tmp), clock=pinned(at), **kw)


def rows_of(doc: dict[str, Any], venue: str, kind: str) -> dict[str, Any]:
    return next(r for r in doc["rows"] if r["venue"] == venue and r["kind"] == kind)


# --- what is written ---------------------------------------------------------------------------------------------


def test_backfill_writes_exactly_the_settlements_the_venues_serve_and_nothing_twice(
        market: SimThread, tmp_path: Path, store_url: str) -> None:
    since = NOW - timedelta(days=7)

    async def go() -> tuple[Any, Any, dict[tuple[str, str], list[tuple[int, float, float]]]]:
        async with client(market, tmp_path) as dt:
            with open_store(store_url) as st:
                first = await backfill(dt, st, "funding", ["BTC", "SOL"], since="7d")
                second = await backfill(dt, st, ["funding"], ["BTC", "SOL"], since="7d")
            served: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
            pool = await dt.pool()
            for v in [v for v in ACTIVE if VENUES[v].offers(DataKind.FUNDING_HISTORY)]:
                ad = pool.adapter(v)
                for inst in await ad.perpetuals(["BTC", "SOL"]):
                    h = await ad.fetch_funding_history(inst, since, NOW)
                    served[(v, inst.symbol)] = [(to_ms(p.time), p.rate, p.interval_hours) for p in h.points]
            return first, second, served

    first, second, served = run(go())
    assert first.failures == [] and second.failures == []
    with open_store(store_url) as st:
        stored: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
        for r in st.read("funding_points"):
            stored.setdefault((str(r["venue"]), str(r["symbol"])), []).append(
                (to_ms(r["time"]), r["rate"], r["interval_hours"]))  # type: ignore[arg-type]
        instruments = {(r["venue"], r["symbol"]) for r in st.read("instruments")}
    assert set(stored) == set(served) and len(served) >= 10
    for key, points in served.items():
        assert stored[key] == points, key  # the same times and rates, exactly (floats stored as doubles)
    assert first.written["funding_points"] == sum(len(p) for p in served.values())
    assert second.written == {"funding_points": 0}
    assert set(served) <= instruments
    # and they are the sim's own settlements (Binance: settled rates at its 8 h / 4 h boundaries)
    binance = model().perp("binance", "SOLUSDT")
    assert binance is not None
    truth = model().settlements(binance, to_ms(since), PINNED_MS)
    assert [(t, r) for t, r, _ in stored[("binance", "SOLUSDT")]] == truth


def test_a_later_run_fetches_only_what_is_new(market: SimThread, tmp_path: Path, sim_factory: Any) -> None:
    later = NOW + timedelta(hours=16)
    url = str(tmp_path / "s.sqlite3")
    run(client(market, tmp_path, venues=["binance"]).backfill("funding", "BTC", since="3d", store=url))
    moved = sim_factory(model=model(later))
    before = len(moved.flight.rounds)
    result = run(client(moved, tmp_path / "later", at=later, venues=["binance"]).backfill(
        "funding", "BTC", since="3d", store=url))
    asked = [p for r in moved.flight.rounds[before:] for p in sorted(a.path for a in r) if "fundingRate" in p]
    row = rows_of(result.to_dict(), "binance", "funding")
    # two 8 h settlements (08:00 was stored: 16:00 and 00:00 are new) per BTC perpetual (BTCUSDT, BTCUSDC, BTCUSD_PERP)
    assert row["written"] == 2 * row["contracts"] == 6 and row["points"] == 6
    start = to_ms(NOW) + 1  # from the last stored settlement + 1 ms, not from --since
    assert asked and all(f"startTime={start}" in p for p in asked), asked
    assert row["got_from"] == "2026-12-02T00:00:00.000Z"  # 3 days before the later clock
    with open_store(url) as st:
        times = [to_ms(r["time"]) for r in st.read("funding_points", venue="binance", symbol="BTCUSDT")]
    assert times == sorted(set(times)) and times[-1] == to_ms(later)


def test_since_further_back_than_before_fills_the_head_too(market: SimThread, tmp_path: Path) -> None:
    url = str(tmp_path / "s.sqlite3")
    dt_venues = ["bybit"]
    run(client(market, tmp_path, venues=dt_venues).backfill("funding", "ETH", since="2d", store=url))
    wider = run(client(market, tmp_path, venues=dt_venues).backfill("funding", "ETH", since="5d", store=url))
    row = rows_of(wider.to_dict(), "bybit", "funding")
    assert row["written"] == 9 * row["contracts"]  # three more days of 8 h settlements, nothing after
    assert row["got_from"] == "2026-11-29T08:00:00.000Z"


def test_depth_is_said_per_venue(market: SimThread, tmp_path: Path) -> None:
    """OKX keeps about 3 months of funding, Binance 30 days of open interest: asked for more, they give that
    much, and the summary says so instead of silently returning less."""
    result = run(client(market, tmp_path, venues=["okx", "binance"]).backfill(
        ["funding", "oi"], "BTC", since="120d", store=str(tmp_path / "s.sqlite3")))
    doc = result.to_dict()
    okx = rows_of(doc, "okx", "funding")
    assert okx["depth"] == "92d" and okx["status"] == "ok" and "okx keeps 92d" in okx["note"]
    assert okx["got_from"] >= (NOW - timedelta(days=92)).strftime("%Y-%m-%dT%H")
    binance_oi = rows_of(doc, "binance", "oi")
    assert binance_oi["depth"] == "30d" and "binance keeps 30d" in binance_oi["note"]
    assert binance_oi["got_from"][:10] == (NOW - timedelta(days=30)).strftime("%Y-%m-%d")
    binance_funding = rows_of(doc, "binance", "funding")  # since listing: all 120 days
    assert binance_funding["got_from"] == (NOW - timedelta(days=120)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert "keeps" not in binance_funding["note"]
    jsonschema.validate(doc, load_schema("backfill"))


def test_klines_are_closed_hourly_candles_and_oi_is_hourly(market: SimThread, tmp_path: Path) -> None:
    url = str(tmp_path / "s.sqlite3")
    result = run(client(market, tmp_path, venues=["okx"], at=NOW + timedelta(minutes=20)).backfill(
        ["klines", "oi"], "SOL", since="2d", store=url))
    assert result.failures == []
    with open_store(url) as st:
        closes = st.read("price_points")
        oi = st.read("oi_points")
        kinds = {r["symbol"]: r["kind"] for r in st.read("instruments")}
    times = [to_ms(r["time"]) for r in closes]  # type: ignore[arg-type]
    assert closes and all(t % HOUR_MS == 0 for t in times) and max(times) == PINNED_MS  # no open candle (08:20)
    assert {kinds[str(r["symbol"])] for r in closes} == {"perp", "future"}  # live dated futures' closes too
    assert oi and {kinds[str(r["symbol"])] for r in oi} == {"perp"}  # OI of perpetuals only
    perp = next(r for r in closes if r["symbol"] == "SOL-USDT-SWAP" and to_ms(r["time"]) == PINNED_MS)  # type: ignore
    sim_perp = model().perp("okx", "SOL-USDT-SWAP")
    assert sim_perp is not None
    assert perp["price"] == pytest.approx(model().candle(sim_perp, PINNED_MS - HOUR_MS, HOUR_MS)[3], rel=1e-9)


def test_a_failing_venue_never_stops_the_others(sim_factory: Any, tmp_path: Path) -> None:
    broken = sim_factory(model=model(), faults={"okx": "500"})
    result = run(client(broken, tmp_path, venues=["okx", "bybit"]).backfill(
        "funding", "BTC", since="2d", store=str(tmp_path / "s.sqlite3")))
    doc = result.to_dict()
    assert rows_of(doc, "bybit", "funding")["status"] == "ok" and rows_of(doc, "bybit", "funding")["written"] > 0
    assert rows_of(doc, "okx", "funding")["status"] == "failed"
    assert {f.venue for f in result.failures} == {"okx"} and result.exit_code == 3


def test_a_venue_without_the_kind_is_said_not_failed(market: SimThread, tmp_path: Path) -> None:
    result = run(client(market, tmp_path).backfill("oi", "BTC", since="1d", venues=["deribit", "bybit"],
                                                   store=str(tmp_path / "s.sqlite3")))
    doc = result.to_dict()
    deribit = rows_of(doc, "deribit", "oi")
    assert deribit["status"] == "unsupported" and "Deribit publishes no open-interest history" in deribit["note"]
    assert rows_of(doc, "bybit", "oi")["written"] > 0 and result.exit_code == 0


def test_progress_is_called_per_series(market: SimThread, tmp_path: Path) -> None:
    lines: list[str] = []
    result = run(client(market, tmp_path).backfill("funding", "ETH", since="1d", venues=["binance"],
                                                   store=str(tmp_path / "s.sqlite3"), progress=lines.append))
    series = rows_of(result.to_dict(), "binance", "funding")["contracts"]
    assert lines[0].startswith("backfill funding of ETH since 2026-12-03 08:00 UTC")
    assert len(lines) == 1 + series and lines[-1].endswith(f"[{series}/{series}]")


def test_depth_declarations_read() -> None:
    assert depth_of("30d") == timedelta(days=30) and depth_of("92d") == timedelta(days=92)
    assert depth_of("1,440 points per period") == timedelta(hours=1440)
    assert depth_of("5,000 candles") == timedelta(hours=5000)
    assert depth_of("since listing") is None and depth_of(None) is None


def test_perpetuals_only_for_funding(market: SimThread, tmp_path: Path) -> None:
    url = str(tmp_path / "s.sqlite3")
    run(client(market, tmp_path, venues=["binance"]).backfill("funding", "BTC", since="1d", store=url))
    with open_store(url) as st:
        instruments = {r["symbol"]: r["kind"] for r in st.read("instruments")}
        symbols = {r["symbol"] for r in st.read("funding_points")}
    assert {instruments[s] for s in symbols} == {Kind.PERP.value}
    assert "future" in instruments.values()  # the dated futures' terms are kept too (history reads them)


# --- the command --------------------------------------------------------------------------------------------------


@pytest.fixture
def config(market: SimThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DTRACK_NOW", "2026-12-04T08:00:00Z")
    monkeypatch.delenv("DTRACK_STORE", raising=False)
    return write_config(tmp_path / "settings.yaml", market.venue_urls())


def test_cli_backfill_json_progress_and_a_second_run(capsys: pytest.CaptureFixture[str], config: Path,
                                                    tmp_path: Path) -> None:
    store = str(tmp_path / "cli.sqlite3")
    args = ("--store", store, "--config", str(config), "backfill", "funding", "BTC", "ETH", "--since", "2d",
            "--venue", "binance", "--venue", "hyperliquid")
    first = cli(capsys, *args, "--format", "json")
    assert first.code == 0, first.err
    doc = first.json()
    jsonschema.validate(doc, load_schema("backfill"))
    assert doc["command"] == "backfill" and doc["store"] == store and doc["assets"] == ["BTC", "ETH"]
    assert {(r["venue"], r["kind"]) for r in doc["rows"]} == {("binance", "funding"), ("hyperliquid", "funding")}
    assert doc["written"]["funding_points"] == sum(r["written"] for r in doc["rows"]) > 0
    progress = [line for line in first.err.splitlines() if line.startswith("dtrack: ")]
    assert progress[0].startswith("dtrack: backfill funding of BTC, ETH since 2026-12-02 08:00 UTC")
    assert any("hyperliquid funding BTC:" in line for line in progress)
    again = cli(capsys, "-q", *args)
    assert again.code == 0 and again.err == ""  # -q: no progress
    assert "BACKFILL of BTC, ETH" in again.out and "0 new rows written" in again.out


@pytest.mark.parametrize(("argv", "message"), [
    (("backfill", "fundng", "BTC"), "'fundng' is not one of funding, oi, klines"),
    (("backfill", "funding", "BTC", "--since", "yesterday"), "bad --since 'yesterday'"),
    (("backfill", "funding", "BTC", "--venue", "bitmex"), "BitMEX closed on 2026-09-23"),
    (("backfill", "funding", "BTC", "--since", "2027-01-01"), "--since must be in the past"),
    (("backfill", "funding", "BTC", "--sim"), "with --sim (sim=True), name the store to fill"),
])
def test_cli_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path,
                                   argv: tuple[str, ...], message: str) -> None:
    store = () if "--sim" in argv else ("--store", str(tmp_path / "x.sqlite3"))
    got = cli(capsys, *store, "--config", str(config), *argv)
    assert got.code == 2, got.err
    assert got.err.count("\n") == 1 and message in got.err and "Traceback" not in got.err
