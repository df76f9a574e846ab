"""OKX open interest, OI history, long/short, klines, quotes, spot and dated futures: the simulated OKX
against the real captures (shapes), and the real adapter over real sockets against the simulator
(values equal to the market model's, history windows complete, pages concurrent, faults).

Float tolerances: the simulator writes every number as the exact decimal of a float, so values that
pass through one conversion compare to 1e-12 relative; long/short ratios are rounded by the sim as
OKX rounds them (4 decimals per contract, 2 per currency) and are compared to the rounded model value.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dtrack.errors import VenueError
from dtrack.net.http import RateLimit
from dtrack.records import Instrument, Kind, Margin, OIHistory, Unit
from dtrack.sim.model import HOUR_MS, MarketModel, SimFuture
from dtrack.sim.server import SimHttpError, SimRequest, load_routes
from dtrack.sim.venues.okx import OkxSim
from dtrack.venues.base import Answer
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.okx import api
from dtrack.venues.okx.adapter import OkxAdapter
from dtrack.venues.pool import VenuePool, open_pool
from shapes import shape_differences
from test_okx_sim import (  # the OKX sim helpers: pinned clock, request log, modified routes
    MODEL,
    NOW,
    NOW_MS,
    _case,
    _get_json,
    _okx,
    _requests,
    _run,
    _serve_modified,
    start_pinned,
)

ASSETS = ["BTC", "ETH", "SOL"]


@pytest.fixture
def pinned(sim_factory: Callable[..., Any], tmp_path: Path) -> Any:
    """A simulator whose market clock is ``NOW``, logging requests to tmp_path/requests.jsonl."""
    return start_pinned(sim_factory, tmp_path)


def _contract(model: MarketModel, symbol: str) -> Any:
    found = model.perp("okx", symbol) or model.future("okx", symbol, NOW_MS)
    assert found is not None
    return found


async def _contracts(pool: VenuePool) -> list[Instrument]:
    return await _okx(pool).contracts(ASSETS)


def _one(symbol: str) -> Callable[[VenuePool], Any]:
    """A job that finds ``symbol`` in OKX's listing."""
    async def find(pool: VenuePool) -> Instrument:
        return next(i for i in await _okx(pool).contracts(ASSETS) if i.symbol == symbol)
    return find


def _history(settings: Any, symbol: str, start: datetime, end: datetime, period: int) -> OIHistory:
    async def job(pool: VenuePool) -> OIHistory:
        return await _okx(pool).fetch_oi_history(await _one(symbol)(pool), start, end, period)
    return _run(settings, job)


def _paths(tmp_path: Path, endpoint: str) -> list[str]:
    return [p for p in _requests(tmp_path) if p.startswith(endpoint + "?")]


# --- (a) conformance with the real captures ---------------------------------------------------


def test_sim_futures_instruments_shape_matches_capture(sim: Any, payload: Any) -> None:
    real = _case(payload("okx__rest_public_instruments__capture.json"), "instType=FUTURES")["raw"]
    body = _get_json(sim.venue_urls()["okx"]["rest"] + "/api/v5/public/instruments?instType=FUTURES")
    assert {r["alias"] for r in body["data"]} >= {"this_week", "next_week", "quarter", "next_quarter"}
    assert shape_differences(body, real) == []


def test_sim_futures_open_interest_shape_matches_capture(sim: Any, payload: Any) -> None:
    real = payload("okx__ccxt_fetchOpenInterest.json")["cases"][0]["raw"]
    body = _get_json(sim.venue_urls()["okx"]["rest"] + "/api/v5/public/open-interest?instType=FUTURES")
    assert body["data"] and {r["instType"] for r in body["data"]} == {"FUTURES"}
    assert shape_differences(body, real) == []


def test_sim_tickers_shape_matches_captures(sim: Any, payload: Any) -> None:
    base = sim.venue_urls()["okx"]["rest"] + "/api/v5/market/tickers?instType="
    spot = payload("okx__ccxt_fetchTicker.json")["cases"][0]["raw"]
    body = _get_json(base + "SPOT")
    assert "BTC-USDT" in {r["instId"] for r in body["data"]}
    assert shape_differences(body, spot) == []
    # swap and future rows: the WebSocket tickers rows recorded by cryptofeed (REST rows are the same)
    rows = {c["raw"]["data"][0]["instType"]: c["raw"]["data"][0]
            for c in payload("okx__ws_tickers__capture.json")["cases"]}
    for inst_type in ("SWAP", "FUTURES"):
        data = _get_json(base + inst_type)["data"]
        assert data and {r["instType"] for r in data} == {inst_type}
        assert shape_differences(data[0], rows[inst_type]) == []


@pytest.mark.parametrize("path", [api.CANDLES, api.HISTORY_CANDLES])
def test_sim_candles_shape_matches_capture(sim: Any, payload: Any, path: str) -> None:
    real = payload("okx__ccxt_fetchOHLCV.json")["cases"][0]["raw"]
    future = MarketModel.futures("okx", sim.model.now_ms())[0].symbol
    for inst_id in ("BTC-USDT-SWAP", future):
        body = _get_json(f"{sim.venue_urls()['okx']['rest']}{path}?instId={inst_id}&bar=1H&limit=3")
        assert len(body["data"]) == 3
        assert shape_differences(body, real) == []


@pytest.mark.parametrize(("query", "status", "code"), [
    ("", 400, "50014"),  # instId can not be empty
    ("?instId=BTC-USDT-SWAP&limit=101", 400, "51000"),
    ("?instId=BTC-USDT-SWAP&period=7H", 400, "51000"),
    ("?instId=NOPE-USDT-SWAP", 200, "51001"),
])
def test_sim_statistics_reject_bad_parameters(sim: Any, query: str, status: int, code: str) -> None:
    url = sim.venue_urls()["okx"]["rest"] + api.OI_HISTORY + query
    if status == 200:
        assert _get_json(url)["code"] == code
        return
    with pytest.raises(urllib.error.HTTPError) as err:
        _get_json(url)
    assert err.value.code == status
    assert json.load(err.value)["code"] == code


def test_sim_pages_newest_first_between_before_and_after() -> None:
    sim = OkxSim(MODEL)
    hour = NOW_MS // HOUR_MS * HOUR_MS
    query = {"instId": "BTC-USDT-SWAP", "bar": "1H", "after": str(hour - HOUR_MS), "before": str(hour - 5 * HOUR_MS)}
    rows = sim.candles(SimRequest("okx", "rest", api.CANDLES, query, None, NOW_MS))["data"]
    assert [int(r[0]) for r in rows] == [hour - k * HOUR_MS for k in (2, 3, 4)]
    assert {r[8] for r in rows} == {"1"}
    latest = sim.candles(SimRequest("okx", "rest", api.CANDLES, {"instId": "BTC-USDT-SWAP", "bar": "1H"}, None,
                                    NOW_MS))["data"]
    assert (int(latest[0][0]), latest[0][8], len(latest)) == (hour, "0", 100)  # the open candle first


# --- (b) the adapter against the simulator -----------------------------------------------------


def test_listing_holds_dated_futures(pinned: Any, tmp_path: Path) -> None:
    model: MarketModel = pinned.model
    contracts = _run(pinned.settings(tmp_path), _contracts)
    futures = {i.symbol: i for i in contracts if i.kind is Kind.FUTURE}
    want = {f.symbol: f for f in model.futures("okx", NOW_MS) if f.asset in ASSETS}
    assert set(futures) == set(want) and len(want) == 14
    for symbol, inst in futures.items():
        f: SimFuture = want[symbol]
        assert inst.expiry == ms_to_utc(f.expiry_ms)
        assert (inst.asset, inst.quote, inst.margin, inst.market) == (f.asset, f.quote, Margin(f.margin), "FUTURES")
        assert (inst.contract_size, inst.contract_unit) == (f.contract_size, Unit(f.contract_unit))
        assert inst.settle == (f.asset if f.margin == "inverse" else f.quote)
    assert futures["BTC-USD-261225"].normalized_id == "BTC-USD-20261225"
    perps = {i.symbol for i in contracts if i.kind is Kind.PERP}
    assert perps == {p.symbol for p in model.perps("okx") if p.asset in ASSETS}
    assert sorted(_paths(tmp_path, api.INSTRUMENTS)) == [f"{api.INSTRUMENTS}?instType={t}" for t in ("FUTURES", "SWAP")]


def test_future_expired_since_the_list_was_cached_is_left_out(pinned: Any, tmp_path: Path) -> None:
    settings = pinned.settings(tmp_path)
    later = NOW + timedelta(days=7)  # BTC-USD-261127 expired on 27 Nov 08:00 UTC; the cached list still has it

    async def at(now: datetime) -> set[str]:
        async with open_pool(settings, now=lambda: now) as pool:
            return {i.symbol for i in await _contracts(pool)}

    assert "BTC-USD-261127" in asyncio.run(at(NOW))
    symbols = asyncio.run(at(later))
    assert "BTC-USD-261127" not in symbols and "BTC-USD-261204" in symbols
    assert len(_paths(tmp_path, api.INSTRUMENTS)) == 2  # the second listing came from the disk cache


def test_open_interest_equals_model_in_one_round(pinned: Any, tmp_path: Path) -> None:
    model: MarketModel = pinned.model

    async def job(pool: VenuePool) -> Answer[Any]:
        return await _okx(pool).fetch_open_interest(await _contracts(pool))

    answer = _run(pinned.settings(tmp_path), job)
    assert answer.errors == []
    raw = OkxSim(model).open_interest(SimRequest("okx", "rest", api.OPEN_INTEREST, {"instType": "FUTURES"}, None,
                                                 NOW_MS))["data"]
    raw += OkxSim(model).open_interest(SimRequest("okx", "rest", api.OPEN_INTEREST, {"instType": "SWAP"}, None,
                                                  NOW_MS))["data"]
    okx_usd = {r["instId"]: float(r["oiUsd"]) for r in raw}
    assert len(answer.items) == 20  # 6 swaps and 14 futures on BTC, ETH, SOL
    for oi in answer.items:
        c = _contract(model, oi.instrument.symbol)
        mark = model.contract_mark(c, NOW_MS)
        base = model.open_interest_base(c, NOW_MS)
        size = oi.instrument.contract_size
        assert oi.unit is Unit.CONTRACTS and oi.price_source == "mark" and oi.time == NOW
        assert oi.amount == pytest.approx(base * mark / size if c.contract_unit == "usd" else base / size, rel=1e-12)
        assert oi.price_used == pytest.approx(mark, rel=1e-12)
        assert oi.base == pytest.approx(base, rel=1e-12)
        assert oi.usd == pytest.approx(base * mark, rel=1e-12)
        # base x the price used agrees with OKX's own oiUsd (to 1e-9: in the sim both use the same mark)
        assert oi.base * oi.price_used == pytest.approx(okx_usd[oi.instrument.symbol], rel=1e-9)
    paths = _requests(tmp_path)
    assert sorted(p for p in paths if not p.startswith(api.INSTRUMENTS)) == sorted(
        f"{path}?instType={t}" for path in (api.OPEN_INTEREST, api.MARK_PRICE) for t in ("SWAP", "FUTURES"))


def _assert_history(model: MarketModel, hist: OIHistory, symbol: str, times: list[int]) -> None:
    c = _contract(model, symbol)
    assert [p.time for p in hist.points] == [ms_to_utc(t) for t in times]
    for p, t in zip(hist.points, times, strict=True):
        base = model.open_interest_base(c, t)
        assert p.base == pytest.approx(base, rel=1e-12)
        assert p.usd == pytest.approx(base * model.contract_mark(c, t), rel=1e-12)


def test_oi_history_7_days_hourly_two_pages(pinned: Any, tmp_path: Path) -> None:
    start = NOW - timedelta(days=7)
    hist = _history(pinned.settings(tmp_path), "BTC-USDT-SWAP", start, NOW, 1)
    first = -(-utc_to_ms(start) // HOUR_MS) * HOUR_MS
    times = list(range(first, NOW_MS + 1, HOUR_MS))
    assert len(times) == 168
    _assert_history(pinned.model, hist, "BTC-USDT-SWAP", times)
    assert (hist.venue, hist.symbol, hist.period_hours, hist.note) == ("okx", "BTC-USDT-SWAP", 1.0, "")
    pages = _paths(tmp_path, api.OI_HISTORY)
    assert len(pages) == 2 and all("period=1H" in p and "limit=100" in p for p in pages)


@pytest.mark.parametrize(("symbol", "days", "period", "bar", "count"), [
    ("ETH-USD-SWAP", 30, 4, "4H", 180),
    ("SOL-USDT-SWAP", 90, 24, "1Dutc", 90),
    ("BTC-USD-261225", 1, 1, "1H", 24),  # a dated future (inverse: oiCcy in BTC)
])
def test_oi_history_periods(pinned: Any, tmp_path: Path, symbol: str, days: int, period: int, bar: str,
                            count: int) -> None:
    start = NOW - timedelta(days=days)
    hist = _history(pinned.settings(tmp_path), symbol, start, NOW, period)
    step = period * HOUR_MS
    times = list(range(-(-utc_to_ms(start) // step) * step, NOW_MS + 1, step))
    assert len(times) == count
    _assert_history(pinned.model, hist, symbol, times)
    assert hist.note == ""
    assert all(f"period={bar}" in p for p in _paths(tmp_path, api.OI_HISTORY))
    if period == 24:
        assert {p.time.hour for p in hist.points} == {0}  # UTC days


def test_oi_history_pages_are_requested_concurrently(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    """The four pages are in flight together: one round (requests all in flight before any is answered) after
    the listing's. The sim holds each round's answers until its requests have arrived, so the rounds are what
    the adapter sent together however slow the machine; one after the other would be four rounds."""
    server = start_pinned(sim_factory, tmp_path, hold=(2, 4))

    async def job(pool: VenuePool) -> OIHistory:
        inst = await _one("BTC-USDT-SWAP")(pool)
        return await _okx(pool).fetch_oi_history(inst, NOW - timedelta(days=16), NOW, 1)

    hist = _run(server.settings(tmp_path), job)
    assert len(hist.points) == 384
    assert len(_paths(tmp_path, api.OI_HISTORY)) == 4
    listing, pages = server.rounds()
    assert listing == [f"{api.INSTRUMENTS}?instType=FUTURES", f"{api.INSTRUMENTS}?instType=SWAP"]
    assert len(pages) == 4 and all(p.startswith(f"{api.OI_HISTORY}?instId=BTC-USDT-SWAP&") for p in pages)
    assert server.flight.timed_out == 0


def test_oi_history_beyond_okx_retention_is_clipped_and_said(pinned: Any, tmp_path: Path) -> None:
    hist = _history(pinned.settings(tmp_path), "BTC-USDT-SWAP", NOW - timedelta(days=90), NOW, 1)
    kept_from = NOW_MS // HOUR_MS * HOUR_MS - 1439 * HOUR_MS
    _assert_history(pinned.model, hist, "BTC-USDT-SWAP", list(range(kept_from, NOW_MS + 1, HOUR_MS)))
    assert hist.note.startswith(f"OKX keeps the latest 1440 1H entries of open-interest history "
                                f"(from {ms_to_utc(kept_from):%Y-%m-%d %H:%M} UTC)")
    assert len(_paths(tmp_path, api.OI_HISTORY)) == 15


def test_long_short_equals_model(pinned: Any, tmp_path: Path) -> None:
    model: MarketModel = pinned.model

    async def job(pool: VenuePool) -> Answer[Any]:
        perps = [i for i in await _contracts(pool) if i.kind is Kind.PERP and i.asset == "BTC"]
        return await _okx(pool).fetch_long_short("BTC", perps)

    answer = _run(pinned.settings(tmp_path), job)
    assert answer.errors == []
    latest = NOW_MS // 300_000 * 300_000
    by_symbol = {r.symbol: r for r in answer.items}
    assert set(by_symbol) == {"BTC", "BTC-USDT-SWAP"}
    for symbol, digits in (("BTC", 2), ("BTC-USDT-SWAP", 4)):
        share = model.long_share("okx", symbol, "accounts", latest)
        ratio = by_symbol[symbol]
        assert ratio.ratio == round(share / (1 - share), digits)
        assert ratio.long_share == pytest.approx(ratio.ratio / (1 + ratio.ratio), rel=1e-15)
        assert ratio.long_share == pytest.approx(share, abs=10 ** -digits)
        assert (ratio.venue, ratio.asset, ratio.time, ratio.period) == ("okx", "BTC", ms_to_utc(latest), "5m")
    assert by_symbol["BTC"].definition == "accounts net long vs net short (all BTC futures and perpetual swaps)"
    assert by_symbol["BTC-USDT-SWAP"].definition == "account long/short ratio of contract BTC-USDT-SWAP"
    assert len(_paths(tmp_path, api.LONG_SHORT_CCY)) == len(_paths(tmp_path, api.LONG_SHORT_CONTRACT)) == 1


def test_long_short_of_an_asset_without_swaps_asks_nothing(pinned: Any, tmp_path: Path) -> None:
    answer = _run(pinned.settings(tmp_path), lambda pool: _okx(pool).fetch_long_short("XRP", []))
    assert (answer.items, answer.errors) == ([], [])
    assert not (tmp_path / "requests.jsonl").exists() or _requests(tmp_path) == []


def test_price_history_equals_model_candles(pinned: Any, tmp_path: Path) -> None:
    model: MarketModel = pinned.model
    start = NOW - timedelta(days=2)

    async def job(pool: VenuePool) -> Any:
        return await _okx(pool).fetch_price_history(await _one("BTC-USD-SWAP")(pool), start, NOW, 1)

    points = _run(pinned.settings(tmp_path), job)
    c = _contract(model, "BTC-USD-SWAP")
    closes = list(range(-(-utc_to_ms(start) // HOUR_MS) * HOUR_MS, NOW_MS, HOUR_MS))
    assert [p.time for p in points] == [ms_to_utc(t) for t in closes] + [NOW]  # 48 closed candles and the open one
    for p, t in zip(points, closes, strict=False):
        assert p.price == pytest.approx(model.candle(c, t - HOUR_MS, HOUR_MS)[3], rel=1e-12)
    assert points[-1].price == pytest.approx(model.contract_mark(c, NOW_MS), rel=1e-12)
    assert [p.split("?")[0] for p in _requests(tmp_path) if "candles" in p] == [api.CANDLES]


def test_price_history_beyond_recent_bars_uses_history_candles(pinned: Any, tmp_path: Path) -> None:
    model: MarketModel = pinned.model
    start = NOW - timedelta(days=90)

    async def job(pool: VenuePool) -> Any:
        return await _okx(pool).fetch_price_history(await _one("BTC-USD-261225")(pool), start, NOW, 1)

    points = _run(pinned.settings(tmp_path), job)
    assert len(points) == 90 * 24 + 1  # complete: every hour, and the open candle
    c = _contract(model, "BTC-USD-261225")
    for p in points[:-1:97]:
        assert p.price == pytest.approx(model.candle(c, utc_to_ms(p.time) - HOUR_MS, HOUR_MS)[3], rel=1e-12)
    pages = [p for p in _requests(tmp_path) if "candles" in p]
    assert len(pages) == 8  # 2,161 candles in pages of 300
    assert {p.split("?")[0] for p in pages} == {api.CANDLES, api.HISTORY_CANDLES}


def test_quotes_equal_model(pinned: Any, tmp_path: Path) -> None:
    model: MarketModel = pinned.model

    async def job(pool: VenuePool) -> Answer[Any]:
        return await _okx(pool).fetch_quotes(await _contracts(pool))

    answer = _run(pinned.settings(tmp_path), job)
    assert answer.errors == [] and len(answer.items) == 20
    for q in answer.items:
        c = _contract(model, q.instrument.symbol)
        assert q.mark_price == pytest.approx(model.contract_mark(c, NOW_MS), rel=1e-12)
        assert q.last_price == pytest.approx(model.contract_mark(c, NOW_MS), rel=1e-12)
        assert q.index_price == pytest.approx(model.index_price(c.asset, NOW_MS), rel=1e-12)
        assert (q.time, q.received_at) == (None, NOW)  # mark, last and index from three answers: no one time
    basis = {q.instrument.symbol: q.mark_price / q.index_price - 1 for q in answer.items if q.instrument.expiry}
    assert basis["BTC-USD-270326"] != pytest.approx(basis["BTC-USD-261127"], abs=1e-4)  # grows with time to expiry
    others = sorted(p for p in _requests(tmp_path) if not p.startswith(api.INSTRUMENTS))
    assert others == sorted([*(f"{path}?instType={t}" for path in (api.MARK_PRICE, api.TICKERS)
                               for t in ("SWAP", "FUTURES")),
                             *(f"{api.INDEX_TICKERS}?quoteCcy={q}" for q in ("USD", "USDC", "USDT"))])


def test_spot_equals_model(pinned: Any, tmp_path: Path) -> None:
    model: MarketModel = pinned.model
    answer = _run(pinned.settings(tmp_path), lambda pool: _okx(pool).fetch_spot(["BTC", "ETH", "SOL", "XRP"]))
    assert answer.errors == []
    assert [(s.asset, s.quote, s.symbol, s.time) for s in answer.items] == [
        (a, "USDT", f"{a}-USDT", NOW) for a in ASSETS]  # no XRP pair: just absent
    for s in answer.items:
        assert s.price == pytest.approx(model.spot_price("okx", s.asset, NOW_MS), rel=1e-12)
    assert _requests(tmp_path) == [f"{api.TICKERS}?instType=SPOT"]


# --- faults ------------------------------------------------------------------------------------


def _failing(status: int, code: str) -> Callable[[SimRequest], Any]:
    def handler(req: SimRequest) -> Any:
        raise SimHttpError(status, {"code": code, "msg": "System error, try again later", "data": []})
    return handler


def test_history_endpoint_500_fails_that_call_only(tmp_path: Path) -> None:
    routes = load_routes(MODEL, ("okx",))
    routes.add("okx", "rest", "GET", api.OI_HISTORY, _failing(500, "50001"))

    async def job(pool: VenuePool) -> tuple[BaseException | None, Answer[Any]]:
        okx = _okx(pool)
        contracts = await okx.contracts(ASSETS)
        try:
            await okx.fetch_oi_history(contracts[0], NOW - timedelta(days=1), NOW, 1)
        except VenueError as exc:
            return exc, await okx.fetch_open_interest(contracts)
        return None, await okx.fetch_open_interest(contracts)

    error, answer = _serve_modified(tmp_path, routes, job)
    assert isinstance(error, VenueError) and error.status == 500
    assert len(answer.items) == 20 and answer.errors == []


def test_failed_mark_price_falls_back_to_okx_usd(tmp_path: Path) -> None:
    routes = load_routes(MODEL, ("okx",))
    routes.add("okx", "rest", "GET", api.MARK_PRICE,
               lambda req: {"code": "50026", "msg": "System error, try again later", "data": []})

    async def job(pool: VenuePool) -> Answer[Any]:
        return await _okx(pool).fetch_open_interest(await _contracts(pool))

    answer = _serve_modified(tmp_path, routes, job)
    assert [e.code for e in answer.errors] == ["50026", "50026"]  # type: ignore[attr-defined]
    assert len(answer.items) == 20
    for oi in answer.items:
        c = _contract(MODEL, oi.instrument.symbol)
        assert oi.price_source == "oiUsd / oiCcy (open-interest)"
        assert oi.price_used == pytest.approx(MODEL.contract_mark(c, NOW_MS), rel=1e-12)
        assert oi.usd == pytest.approx(MODEL.open_interest_base(c, NOW_MS) * oi.price_used, rel=1e-12)


def test_failed_futures_part_keeps_the_swaps(tmp_path: Path) -> None:
    routes = load_routes(MODEL, ("okx",))
    oi = routes.table[("okx", "rest", "GET", api.OPEN_INTEREST)]
    routes.add("okx", "rest", "GET", api.OPEN_INTEREST, lambda req: {"code": "50026", "msg": "busy", "data": []}
               if req.query.get("instType") == "FUTURES" else oi(req))

    async def job(pool: VenuePool) -> Answer[Any]:
        return await _okx(pool).fetch_open_interest(await _contracts(pool))

    answer = _serve_modified(tmp_path, routes, job)
    assert {o.instrument.kind for o in answer.items} == {Kind.PERP} and len(answer.items) == 6
    assert [e.code for e in answer.errors] == ["50026"]  # type: ignore[attr-defined]


def test_long_short_keeps_what_answered(tmp_path: Path) -> None:
    routes = load_routes(MODEL, ("okx",))
    routes.add("okx", "rest", "GET", api.LONG_SHORT_CONTRACT, _failing(400, "51000"))

    async def job(pool: VenuePool) -> Answer[Any]:
        perps = [i for i in await _contracts(pool) if i.kind is Kind.PERP and i.asset == "ETH"]
        return await _okx(pool).fetch_long_short("ETH", perps)

    answer = _serve_modified(tmp_path, routes, job)
    assert [r.symbol for r in answer.items] == ["ETH"]
    assert [(type(e), e.status) for e in answer.errors] == [(VenueError, 400)]  # type: ignore[attr-defined]
    assert api.LONG_SHORT_CONTRACT in str(answer.errors[0]) and "code 51000" in str(answer.errors[0])
    routes.add("okx", "rest", "GET", api.LONG_SHORT_CCY, _failing(400, "51000"))
    with pytest.raises(VenueError):
        _serve_modified(tmp_path, routes, job)


def test_history_of_unknown_contract_is_a_venue_error(pinned: Any, tmp_path: Path) -> None:
    ghost = Instrument(venue="okx", symbol="BTC-USD-991231", asset="BTC", quote="USD", settle="BTC", kind=Kind.FUTURE,
                       margin=Margin.INVERSE, contract_size=100,
                       contract_unit=Unit.USD)
    with pytest.raises(VenueError) as err:
        _run(pinned.settings(tmp_path),
             lambda pool: _okx(pool).fetch_oi_history(ghost, NOW - timedelta(days=1), NOW, 1))
    assert err.value.code == "51001"


# --- rate budgets ------------------------------------------------------------------------------


def test_budgets_of_the_new_endpoints(tmp_path: Path) -> None:
    from dtrack.config import Settings
    from dtrack.venues.base import VenueContext

    adapter = OkxAdapter(VenueContext(None, Settings(cache_dir=tmp_path), None, lambda: NOW))  # type: ignore[arg-type]
    btc = {"instId": "BTC-USDT-SWAP"}
    assert adapter.budget(api.REST, api.OI_HISTORY, btc) == (RateLimit(10, 2.0), f"{api.OI_HISTORY}|BTC-USDT-SWAP")
    assert adapter.budget(api.REST, api.LONG_SHORT_CONTRACT, btc) == (
        RateLimit(5, 2.0), f"{api.LONG_SHORT_CONTRACT}|BTC-USDT-SWAP")
    assert adapter.budget(api.REST, api.LONG_SHORT_CCY, {"ccy": "BTC"}) == (RateLimit(5, 2.0), f"{api.LONG_SHORT_CCY}|")
    assert adapter.budget(api.REST, api.CANDLES, btc) == (RateLimit(40, 2.0), f"{api.CANDLES}|")
    assert adapter.budget(api.REST, api.HISTORY_CANDLES, btc) == (RateLimit(20, 2.0), f"{api.HISTORY_CANDLES}|")
    assert adapter.budget(api.REST, api.TICKERS, {"instType": "SPOT"}) == (RateLimit(20, 2.0), f"{api.TICKERS}|")
