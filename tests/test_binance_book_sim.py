"""The real Binance adapter against the simulated Binance over real sockets: order books, candles and the public
web brackets (margin tiers), with the market model (and the sim's bracket tables) as the reference.

The sim is pinned at NOW_MS and so is the adapter's clock. Books are recomputed from ``MarketModel.book`` as the sim
serves them (prices on the symbol's tick; USDⓈ-M quantities on the lot, COIN-M whole contracts): never hard-coded
levels. Candle prices are the model's ``candle`` at rel=1e-12 (full float precision on the wire).
"""

from __future__ import annotations

import json
import urllib.request
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from dtrack.errors import ParseError, UnsupportedError, UsageError, VenueError
from dtrack.records import Kind, Unit
from dtrack.sim.faults import Faults
from dtrack.sim.model import DAY_MS, MarketModel, SimFuture, SimPerp
from dtrack.sim.venues.binance import BRACKETS_PATHS, bracket_table
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from test_binance_oi_sim import run_at

EXACT = 1e-12
NOW_MS = 1_790_000_000_000  # 2026-09-21 14:13:20 UTC
NOW = ms_to_utc(NOW_MS)
#: the symbols' price ticks on the simulated Binance (as its exchangeInfo PRICE_FILTER says)
TICKS = {"BTCUSDT": 0.01, "1000PEPEUSDT": 0.0000001, "BTCUSD_PERP": 0.1, "ETHUSD_PERP": 0.1}


def logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def pinned(sim_factory, tmp_path):
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(log))
    return server, server.settings(tmp_path, retries=0), log


def contract(model: MarketModel, symbol: str) -> SimPerp | SimFuture:
    found = model.perp("binance", symbol) or model.future("binance", symbol, NOW_MS)
    assert found is not None, symbol
    return found


def instruments(settings) -> dict[str, Any]:
    async def job(pool):
        return await pool.adapter("binance").contracts(["BTC", "ETH", "SOL", "PEPE"])

    return {i.symbol: i for i in run_at(settings, job)}


def served_book(model: MarketModel, c: SimPerp | SimFuture, limit: int) -> tuple[list, list]:
    """What dtrack must make of the sim's depth answer: the model's levels with the sim's wire rounding undone into
    dtrack's units (price per coin, size in coins)."""
    tick = TICKS[c.symbol]
    bids, asks = model.book(c, NOW_MS, limit, tick)

    def level(price: float, size: float) -> tuple[float, float]:
        if c.host == "coinm":  # whole contracts of contract_size USD, at the level's price
            return price, max(1, round(size * price / c.contract_size)) * c.contract_size / price
        lots = max(1.0, round(size)) if c.multiplier != 1 else max(0.001, round(size, 3))
        return price / c.multiplier, lots * c.multiplier

    return [level(*b) for b in bids], [level(*a) for a in asks]


# --- order books -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "depth", "limit"), [
    ("BTCUSDT", 30, 50), ("1000PEPEUSDT", 20, 20), ("BTCUSD_PERP", 7, 10), ("ETHUSD_PERP", 100, 100),
])
def test_order_book_is_the_models_book_in_coins(pinned, symbol: str, depth: int, limit: int) -> None:
    server, settings, log = pinned
    inst = instruments(settings)[symbol]
    before = len(logged(log))
    book = run_at(settings, lambda pool: pool.adapter("binance").fetch_order_book(inst, depth))
    asked = [row["path"] for row in logged(log)[before:]]
    prefix = "/dapi/v1" if inst.market == "coinm" else "/fapi/v1"
    assert asked == [f"{prefix}/depth?symbol={symbol}&limit={limit}"]
    bids, asks = served_book(server.model, contract(server.model, symbol), limit)
    assert (book.limit, book.levels_bid, book.levels_ask) == (limit, len(bids), len(asks))
    assert len(asks) == limit
    for got, want in zip(book.bids + book.asks, bids + asks, strict=True):
        assert got == (pytest.approx(want[0], rel=EXACT), pytest.approx(want[1], rel=EXACT))
    assert book.unit is (Unit.CONTRACTS if inst.market == "coinm" else Unit.BASE)
    assert book.time == NOW and book.sequence is not None and book.instrument == inst
    mark = server.model.contract_mark(contract(server.model, symbol), NOW_MS) / inst.multiplier
    assert book.best_bid is not None and book.best_ask is not None
    assert book.best_bid < mark <= book.best_ask


def test_a_deeper_book_than_binance_serves_asks_its_maximum(pinned) -> None:
    _server, settings, log = pinned
    inst = instruments(settings)["BTCUSDT"]
    before = len(logged(log))
    book = run_at(settings, lambda pool: pool.adapter("binance").fetch_order_book(inst, 5000))
    assert [row["path"] for row in logged(log)[before:]] == ["/fapi/v1/depth?symbol=BTCUSDT&limit=1000"]
    assert book.limit == 1000 and book.levels_ask == 1000
    with pytest.raises(UsageError, match="give 1 or more"):
        run_at(settings, lambda pool: pool.adapter("binance").fetch_order_book(inst, 0))


def test_a_failing_depth_endpoint_is_a_venue_error(sim_factory, tmp_path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS),
                         faults=Faults(endpoints={("binance", "/fapi/v1/depth"): 500}))
    settings = server.settings(tmp_path, retries=0)
    inst = instruments(settings)["BTCUSDT"]
    with pytest.raises(VenueError) as err:
        run_at(settings, lambda pool: pool.adapter("binance").fetch_order_book(inst, 5))
    assert err.value.status == 500


def test_a_truncated_depth_answer_is_a_parse_error(sim_factory, tmp_path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS),
                         faults=Faults(endpoints={("binance", "/dapi/v1/depth"): "malformed"}))
    settings = server.settings(tmp_path, retries=0)
    inst = instruments(settings)["BTCUSD_PERP"]
    with pytest.raises(ParseError):
        run_at(settings, lambda pool: pool.adapter("binance").fetch_order_book(inst, 5))


# --- candles -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "period_s", "days"), [
    ("BTCUSDT", 3600, 2), ("1000PEPEUSDT", 3600, 1), ("BTCUSD_PERP", 86_400, 10), ("ETHUSD_PERP", 3600, 1),
])
def test_candles_are_the_models_bars(pinned, symbol: str, period_s: int, days: int) -> None:
    server, settings, _log = pinned
    model, inst = server.model, instruments(settings)[symbol]
    c, step = contract(model, symbol), period_s * 1000
    start = ms_to_utc(NOW_MS - days * DAY_MS)
    candles = run_at(settings, lambda pool: pool.adapter("binance").fetch_candles(inst, start, NOW, period_s))
    first = -(-(NOW_MS - days * DAY_MS) // step) * step
    assert [utc_to_ms(x.time) for x in candles] == list(range(first, NOW_MS + 1, step))
    for bar in candles:
        o, h, lo, close = model.candle(c, utc_to_ms(bar.time), step)
        m = c.multiplier
        assert (bar.open, bar.high, bar.low, bar.close) == (
            pytest.approx(o / m, rel=EXACT), pytest.approx(h / m, rel=EXACT), pytest.approx(lo / m, rel=EXACT),
            pytest.approx(close / m, rel=EXACT))
        assert bar.period_seconds == period_s and bar.symbol == symbol and bar.received_at == NOW
        assert bar.volume_base is not None and bar.volume_usd is not None and bar.volume_base > 0
        # USD over coins is a price of the bar (the sim books a bar's volume at its close): the units are right
        assert bar.low * 0.999 <= bar.volume_usd / bar.volume_base <= bar.high * 1.001
    assert [bar.closed for bar in candles] == [True] * (len(candles) - 1) + [False]


def test_a_long_window_is_paged_concurrently_in_one_round(sim_factory, tmp_path) -> None:
    """2 days of 1 m bars are 2881 candles: two pages of at most 1500, both in flight together (the rounds are held
    until both arrive: the listing's two exchangeInfo requests, then the two klines pages)."""
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), hold=(2, 2))
    settings = server.settings(tmp_path, retries=0)
    start = ms_to_utc(NOW_MS - 2 * DAY_MS)

    async def job(pool):
        adapter = pool.adapter("binance")
        (inst,) = [i for i in await adapter.contracts(["BTC"]) if i.symbol == "BTCUSDT"]
        return await adapter.fetch_candles(inst, start, NOW, 60)

    candles = run_at(settings, job)
    first = -(-(NOW_MS - 2 * DAY_MS) // 60_000) * 60_000
    assert [utc_to_ms(x.time) for x in candles] == list(range(first, NOW_MS + 1, 60_000))  # 2881 bars, no gap
    listing, pages = server.rounds()
    assert [p.split("?")[0] for p in listing] == ["/dapi/v1/exchangeInfo", "/fapi/v1/exchangeInfo"]
    assert len(pages) == 2 and all(p.startswith("/fapi/v1/klines?symbol=BTCUSDT&interval=1m") for p in pages)
    assert server.flight.timed_out == 0


def test_an_unknown_candle_length_or_market_is_unsupported(pinned) -> None:
    _server, settings, _log = pinned
    listed = instruments(settings)
    with pytest.raises(UnsupportedError, match="7200 s"):
        run_at(settings, lambda pool: pool.adapter("binance").fetch_candles(listed["BTCUSDT"], NOW, NOW, 7200))


# --- margin tiers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTCUSDT", "1000PEPEUSDT", "SOLUSDT", "BTCUSD_PERP", "ETHUSD_PERP"])
def test_margin_tiers_are_the_web_brackets_the_sim_serves(pinned, symbol: str) -> None:
    _server, settings, log = pinned
    inst = instruments(settings)[symbol]
    before = len(logged(log))
    tiers = run_at(settings, lambda pool: pool.adapter("binance").fetch_margin_tiers(inst))
    asked = logged(log)[before:]
    assert [(row["host"], row["path"]) for row in asked] == [("web", BRACKETS_PATHS[inst.market])]
    served = bracket_table(inst.market, inst.asset)
    assert [(t.tier, t.floor, t.cap, t.mmr, t.deduction, t.max_leverage) for t in tiers] == [
        (r["bracketSeq"], r["bracketNotionalFloor"], r["bracketNotionalCap"], r["bracketMaintenanceMarginRate"],
         pytest.approx(r["cumFastMaintenanceAmount"], rel=EXACT), r["maxOpenPosLeverage"]) for r in served]
    assert all(t.unit is (Unit.BASE if inst.market == "coinm" else Unit.USD) for t in tiers)
    assert all(t.official is False and t.source == BRACKETS_PATHS[inst.market] for t in tiers)
    assert all(t.time is not None and t.time <= NOW for t in tiers)
    # continuity, written as "maintenance margin just below and at each floor is the same" (no cum recurrence)
    for n in range(1, len(tiers)):
        f = tiers[n].floor
        below = f * tiers[n - 1].mmr - tiers[n - 1].deduction
        assert f * tiers[n].mmr - tiers[n].deduction == pytest.approx(below, rel=1e-12, abs=1e-12)


def test_the_sims_tables_satisfy_binances_cum_rule() -> None:
    """Every table the sim serves: cum_n - cum_(n-1) = floor_n x (MMR_n - MMR_(n-1)), the first cum 0."""
    for host in ("usdm", "coinm"):
        for asset in (("BTC", "ETH", "SOL", "PEPE") if host == "usdm" else ("BTC", "ETH", "SOL")):
            rows = bracket_table(host, asset)
            assert rows[0]["cumFastMaintenanceAmount"] == 0 and rows[0]["bracketNotionalFloor"] == 0
            for a, b in pairwise(rows):
                rise = b["bracketMaintenanceMarginRate"] - a["bracketMaintenanceMarginRate"]
                step = b["bracketNotionalFloor"] * rise
                assert b["cumFastMaintenanceAmount"] - a["cumFastMaintenanceAmount"] == pytest.approx(step, rel=1e-9)
                assert 1 / b["maxOpenPosLeverage"] > b["bracketMaintenanceMarginRate"]  # initial above maintenance


def test_the_table_is_cached_and_quarterlies_have_tiers(pinned) -> None:
    _server, settings, log = pinned
    listed = instruments(settings)
    quarterly = next(i for i in listed.values() if i.kind is Kind.FUTURE and i.market == "usdm" and i.asset == "BTC")
    before = len(logged(log))

    async def job(pool):
        adapter = pool.adapter("binance")
        return await adapter.fetch_margin_tiers(listed["BTCUSDT"]), await adapter.fetch_margin_tiers(quarterly)

    perp, dated = run_at(settings, job)
    assert [t.mmr for t in dated] == [t.mmr for t in perp] and dated[0].symbol == quarterly.symbol
    assert len(logged(log)[before:]) == 1  # one table per host, read once


def test_the_web_brackets_answer_get_and_post_alike(pinned) -> None:
    server, _settings, _log = pinned
    url = server.venue_urls()["binance"]["web"] + BRACKETS_PATHS["coinm"]
    with urllib.request.urlopen(url, timeout=10) as resp:
        got = json.loads(resp.read())
    post = urllib.request.Request(url, data=b"{}", headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(post, timeout=10) as resp:
        posted = json.loads(resp.read())
    assert got == posted and got["code"] == "000000" and got["success"] is True
    assert {row["symbol"] for row in got["data"]["brackets"]} >= {"BTCUSD_PERP", "ETHUSD_PERP", "SOLUSD_PERP"}


def test_a_broken_table_fails_only_its_contract_naming_the_endpoint(sim_factory, tmp_path) -> None:
    path = BRACKETS_PATHS["usdm"]
    broken = bracket_table("usdm", "BTC")
    broken[2] = {**broken[2], "cumFastMaintenanceAmount": broken[2]["cumFastMaintenanceAmount"] + 500}
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS),
                         faults=Faults(odd_rows={("binance", path, "BTCUSDT"): {"riskBrackets": broken}}))
    settings = server.settings(tmp_path, retries=0)
    listed = instruments(settings)

    async def job(pool):
        adapter = pool.adapter("binance")
        with pytest.raises(ParseError, match="cum is not continuous") as err:
            await adapter.fetch_margin_tiers(listed["BTCUSDT"])
        return err.value, await adapter.fetch_margin_tiers(listed["ETHUSDT"])

    error, eth = run_at(settings, job)
    assert error.endpoint == path and error.venue == "binance"
    assert len(eth) == len(bracket_table("usdm", "ETH"))


def test_a_blocked_web_host_is_a_venue_error(sim_factory, tmp_path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS),
                         faults=Faults(endpoints={("binance", BRACKETS_PATHS["usdm"]): 451}))
    settings = server.settings(tmp_path, retries=0)
    inst = instruments(settings)["BTCUSDT"]
    with pytest.raises(VenueError) as err:
        run_at(settings, lambda pool: pool.adapter("binance").fetch_margin_tiers(inst))
    assert err.value.status == 451


# --- the sim's formats against the real captures -----------------------------------------------------------------


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def shape(value: Any) -> Any:
    """Keys and value types of a JSON document (lists by their first item), numbers as one type."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    return "number" if isinstance(value, int | float) else type(value).__name__


@pytest.mark.parametrize(("host", "name", "symbol"), [
    ("usdm", "binance-usdm__rest_depth__capture.json", "BTCUSDT"),
    ("coinm", "binance-coinm__rest_depth__capture.json", "BTCUSD_PERP"),
])
def test_sim_depth_has_the_real_shape(pinned, payload, host: str, name: str, symbol: str) -> None:
    server, _settings, _log = pinned
    prefix = "/dapi/v1" if host == "coinm" else "/fapi/v1"
    got = fetch_json(f"{server.venue_urls()['binance'][host]}{prefix}/depth?symbol={symbol}&limit=5")
    real = payload(name)["cases"][0]["raw"]
    assert shape(got) == shape(real)
    assert list(got) == list(real)  # the same key order too


def test_sim_klines_rows_have_the_real_shape(pinned, payload) -> None:
    server, _settings, _log = pinned
    real = next(c["raw"] for c in payload("binance__ccxt_fetchOHLCV.json")["cases"] if "/fapi/" in c["endpoint"])
    got = fetch_json(f"{server.venue_urls()['binance']['usdm']}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=3")
    assert shape(got) == shape(real)


def test_sim_web_brackets_have_the_real_shape(pinned, payload) -> None:
    server, _settings, _log = pinned
    real = payload("binance-web__rest_brackets__capture.json")["cases"][0]["raw"]
    got = fetch_json(server.venue_urls()["binance"]["web"] + BRACKETS_PATHS["usdm"])
    # ``success`` is not in the quoted (trimmed) answer; third-party clients of the endpoint read it (a Go struct
    # ``Success bool `json:"success"```, search-index id 9856668561), so the sim sends it
    assert {k: v for k, v in shape(got).items() if k != "success"} == shape(real) and got["success"] is True
    btc = next(row for row in got["data"]["brackets"] if row["symbol"] == "BTCUSDT")["riskBrackets"]
    real_btc = real["data"]["brackets"][0]["riskBrackets"]
    assert btc[:4] == real_btc  # the sim's BTCUSDT starts with the real brackets, cum derived by the rule
