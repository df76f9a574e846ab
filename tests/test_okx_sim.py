"""The simulated OKX against the real captures (shapes), and the real OKX adapter over real sockets
against the simulator (values equal to the market model's, paging, disk cache, error envelopes).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dtrack.config import Settings
from dtrack.errors import ParseError, RateLimited, VenueError
from dtrack.records import FundingHistory, FundingPoint, Instrument, Kind, Margin, Unit
from dtrack.sim.model import MarketModel
from dtrack.sim.server import SimRequest, SimRoutes, build_app, load_routes
from dtrack.sim.venues.okx import OkxSim
from dtrack.venues.base import FundingAnswer, VenueContext
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.okx import api
from dtrack.venues.okx.adapter import OkxAdapter
from dtrack.venues.okx.parse import parse_funding
from dtrack.venues.pool import VenuePool, open_pool
from shapes import shape_differences

T = TypeVar("T")
NOW = datetime(2026, 11, 20, 13, 37, 11, 123000, tzinfo=UTC)
NOW_MS = utc_to_ms(NOW)
ASSETS = ["BTC", "ETH", "SOL", "PEPE"]


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def _case(doc: dict[str, Any], url_part: str) -> dict[str, Any]:
    return next(c for c in doc["cases"] if url_part in c["input"]["url"])


def _run(settings: Settings, fn: Callable[[VenuePool], Awaitable[T]]) -> T:
    """Run ``fn(pool)`` with the adapter clock pinned to the model's ``NOW``."""

    async def main() -> T:
        async with open_pool(settings, now=lambda: NOW) as pool:
            return await fn(pool)

    return asyncio.run(main())


def start_pinned(sim_factory: Callable[..., Any], tmp_path: Path, **kwargs: Any) -> Any:
    """A simulator whose market clock is ``NOW``, logging requests to tmp_path/requests.jsonl."""
    return sim_factory(model=MarketModel(seed=7, now_ms=NOW_MS), log_requests=str(tmp_path / "requests.jsonl"),
                       **kwargs)


@pytest.fixture
def pinned(sim_factory: Callable[..., Any], tmp_path: Path) -> Any:
    """A simulator whose market clock is ``NOW`` (see ``start_pinned``)."""
    return start_pinned(sim_factory, tmp_path)


def _requests(tmp_path: Path) -> list[str]:
    lines = (tmp_path / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["path"] for line in lines if json.loads(line)["venue"] == "okx"]


def _okx(pool: VenuePool) -> OkxAdapter:
    adapter = pool.adapter("okx")
    assert isinstance(adapter, OkxAdapter)
    return adapter


async def _current(pool: VenuePool) -> FundingAnswer:
    """Current funding of ASSETS (the pipeline's perpetuals step, then the venue's rates round).

    Not ``fetch_funding(ASSETS)``: without ``history`` the shared pipeline in base.py zips the perps
    against an empty history list with ``strict=True`` and raises (reported to the lead).
    """
    okx = _okx(pool)
    return await okx.fetch_funding_rates(await okx.perpetuals(ASSETS))


# --- (a) conformance with the real captures ---------------------------------------------------


def test_sim_instruments_shape_matches_capture(sim: Any, payload: Any) -> None:
    real = _case(payload("okx__rest_public_instruments__capture.json"), "instType=SWAP")["raw"]
    body = _get_json(sim.venue_urls()["okx"]["rest"] + "/api/v5/public/instruments?instType=SWAP")
    assert body["data"]
    assert shape_differences(body, real) == []


def test_sim_open_interest_shape_matches_capture(sim: Any, payload: Any) -> None:
    # OKX sends every number as a string; the ccxt capture kept them so: no loose types needed.
    real = payload("okx__ccxt_fetchOpenInterest.json")["cases"][0]["raw"]
    base = sim.venue_urls()["okx"]["rest"] + "/api/v5/public/open-interest?instType=SWAP"
    for url in (base, base + "&instId=BTC-USDT-SWAP"):
        body = _get_json(url)
        assert body["data"]
        assert shape_differences(body, real) == []


def test_sim_unknown_instrument_is_51001_with_http_200(sim: Any) -> None:
    base = sim.venue_urls()["okx"]["rest"]
    for path in ("/api/v5/public/funding-rate?instId=NOPE-USDT-SWAP",
                 "/api/v5/public/funding-rate-history?instId=NOPE-USDT-SWAP",
                 "/api/v5/public/mark-price?instType=SWAP&instId=NOPE-USDT-SWAP"):
        assert _get_json(base + path) == {"code": "51001", "msg": "Instrument ID does not exist", "data": []}


def test_sim_history_page_limit(sim: Any) -> None:
    base = sim.venue_urls()["okx"]["rest"] + "/api/v5/public/funding-rate-history?instId=BTC-USDT-SWAP"
    with pytest.raises(urllib.error.HTTPError) as err:
        _get_json(base + "&limit=401")
    assert err.value.code == 400
    assert json.load(err.value)["code"] == "51000"
    page = _get_json(base + "&limit=3")["data"]
    times = [int(r["fundingTime"]) for r in page]
    assert len(page) == 3 and times == sorted(times, reverse=True)
    older = _get_json(base + f"&limit=2&after={times[1]}")["data"]
    assert [int(r["fundingTime"]) for r in older] == [times[2], times[2] - 8 * 3_600_000]


# --- (b) the adapter against the simulator -----------------------------------------------------


def test_current_funding_equals_model(pinned: Any, tmp_path: Path) -> None:
    model: MarketModel = pinned.model
    result: FundingAnswer = _run(pinned.settings(tmp_path), _current)
    assert result.errors == []
    perps = {p.symbol: p for p in model.perps("okx")}
    assert {r.instrument.symbol for r in result.items} == set(perps)
    for r in result.items:
        p = perps[r.instrument.symbol]
        rate, settle = model.current_funding(p, NOW_MS)
        inst = r.instrument
        assert (inst.asset, inst.quote, inst.margin, inst.multiplier) == (p.asset, p.quote, Margin(p.margin),
                                                                         p.multiplier)
        assert (inst.contract_size, inst.contract_unit) == (p.contract_size, Unit(p.contract_unit))
        assert inst.settle == (p.asset if p.margin == "inverse" else p.quote)
        assert r.rate == pytest.approx(rate, rel=1e-12)
        assert r.interval_hours == p.interval_h
        assert r.interval_source == "nextFundingTime - fundingTime (funding-rate)"
        assert r.next_funding_time == ms_to_utc(settle)
        assert r.predicted_rate is None
        assert r.time == NOW
        mark = model.mark_price(p, NOW_MS)
        assert r.mark_price == pytest.approx(mark / p.multiplier, rel=1e-12)
        assert r.index_price == pytest.approx(model.index_price(p.asset, NOW_MS), rel=1e-12)
        assert r.open_interest_usd == pytest.approx(model.open_interest_base(p, NOW_MS) * mark, rel=1e-12)
        assert r.note == "OI = oiUsd (open-interest, USD)"
    sol = next(r for r in result.items if r.instrument.symbol == "SOL-USDT-SWAP")
    assert sol.interval_hours == 4.0  # not the 8 h default
    pepe = next(r for r in result.items if r.instrument.symbol == "PEPE-USDT-SWAP")
    assert pepe.instrument.contract_size == 10_000_000 and pepe.instrument.contract_unit is Unit.BASE


def test_one_round_and_instruments_from_disk_cache(pinned: Any, tmp_path: Path) -> None:
    settings = pinned.settings(tmp_path)
    for _ in range(2):
        assert _run(settings, _current).items
    paths = _requests(tmp_path)
    assert sorted(p for p in paths if p.startswith(api.INSTRUMENTS)) == [
        f"{api.INSTRUMENTS}?instType=FUTURES", f"{api.INSTRUMENTS}?instType=SWAP"]
    assert sum(p.startswith(api.FUNDING_RATE + "?") for p in paths) == 2
    # first call: instruments (SWAP, FUTURES) + funding + OI + mark + one index call per quote (USD, USDC, USDT)
    assert len(paths) == 8 + 6
    assert {p for p in paths if p.startswith(api.INDEX_TICKERS)} == {
        f"{api.INDEX_TICKERS}?quoteCcy={q}" for q in ("USD", "USDC", "USDT")}


def _expected(model: MarketModel, symbol: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    perp = model.perp("okx", symbol)
    assert perp is not None
    return [(ms_to_utc(t), r) for t, r in model.settlements(perp, utc_to_ms(start), utc_to_ms(end))]


def _assert_points(points: tuple[FundingPoint, ...], want: list[tuple[datetime, float]]) -> None:
    """Same settlement times; rates equal to 1e-12 relative (the sim writes them as exact decimals)."""
    assert [p.time for p in points] == [t for t, _ in want]
    assert [p.rate for p in points] == pytest.approx([r for _, r in want], rel=1e-12)


def test_history_7_days_equals_settlements(pinned: Any, tmp_path: Path) -> None:
    model: MarketModel = pinned.model
    result = _run(pinned.settings(tmp_path), lambda pool: _okx(pool).fetch_funding(ASSETS, timedelta(days=7)))
    assert result.errors == []
    assert set(result.history) == {p.symbol for p in model.perps("okx")}
    for symbol, hist in result.history.items():
        perp = model.perp("okx", symbol)
        assert perp is not None
        want = _expected(model, symbol, NOW - timedelta(days=7), NOW)
        _assert_points(hist.points, want)
        assert {p.interval_hours for p in hist.points} == {perp.interval_h}
        assert hist.note == ""
        assert (hist.start, hist.end) == (NOW - timedelta(days=7), NOW)


def _history(pinned: Any, tmp_path: Path, symbol: str, days: int) -> FundingHistory:
    async def job(pool: VenuePool) -> FundingHistory:
        okx = _okx(pool)
        inst = next(i for i in await okx.instruments() if i.symbol == symbol)
        return await okx.fetch_funding_history(inst, NOW - timedelta(days=days), NOW)

    return _run(pinned.settings(tmp_path), job)


def test_history_90_days_of_4h_swap_pages(pinned: Any, tmp_path: Path) -> None:
    hist = _history(pinned, tmp_path, "SOL-USDT-SWAP", 90)
    want = _expected(pinned.model, "SOL-USDT-SWAP", NOW - timedelta(days=90), NOW)
    assert len(want) == 540
    _assert_points(hist.points, want)
    assert {p.interval_hours for p in hist.points} == {4.0}
    assert hist.note == ""
    pages = [p for p in _requests(tmp_path) if p.startswith(api.FUNDING_HISTORY)]
    assert len(pages) == 2
    assert all("limit=400" in p and "after=" in p for p in pages)


@pytest.mark.parametrize("cap", [400, 100])
def test_history_beyond_three_months_says_so(pinned: Any, tmp_path: Path, cap: int) -> None:
    """Said only once OKX answered an empty page, also when its pages hold fewer rows than asked."""
    pinned.server.faults.page_caps[("okx", api.FUNDING_HISTORY)] = cap
    hist = _history(pinned, tmp_path, "BTC-USDT-SWAP", 182)
    assert "OKX keeps about 3 months of funding history; asked 182 days" in hist.note
    assert hist.points[0].time >= NOW - api.HISTORY_RETENTION
    assert hist.points[0].time - (NOW - api.HISTORY_RETENTION) <= timedelta(hours=8)
    _assert_points(hist.points, _expected(pinned.model, "BTC-USDT-SWAP", hist.points[0].time, NOW))
    pages = [p for p in _requests(tmp_path) if p.startswith(api.FUNDING_HISTORY)]
    assert len(pages) == -(-276 // cap) + 1  # 92 days of 8 h settlements, then the empty page


def test_history_complete_when_pages_are_capped_below_the_limit(pinned: Any, tmp_path: Path) -> None:
    """OKX may answer fewer rows than ``limit`` (its maximum was 100 before 2025): a short page is
    not the end of the history; the full 90 days arrive and no "history starts later" note is made."""
    pinned.server.faults.page_caps[("okx", api.FUNDING_HISTORY)] = 100
    hist = _history(pinned, tmp_path, "SOL-USDT-SWAP", 90)
    want = _expected(pinned.model, "SOL-USDT-SWAP", NOW - timedelta(days=90), NOW)
    assert len(want) == 540
    _assert_points(hist.points, want)
    assert {p.interval_hours for p in hist.points} == {4.0}
    assert hist.note == ""
    pages = [p for p in _requests(tmp_path) if p.startswith(api.FUNDING_HISTORY)]
    assert len(pages) == 6  # 5 x 100 rows inside the window, the 6th crosses its start
    assert all("limit=400" in p for p in pages)


def test_history_of_unknown_swap_is_a_venue_error(pinned: Any, tmp_path: Path) -> None:
    ghost = Instrument(venue="okx", symbol="NOPE-USDT-SWAP", asset="NOPE", quote="USDT", settle="USDT",
                       kind=Kind.PERP, margin=Margin.LINEAR)

    async def job(pool: VenuePool) -> Any:
        return await _okx(pool).fetch_funding_history(ghost, NOW - timedelta(days=1), NOW)

    with pytest.raises(VenueError) as err:
        _run(pinned.settings(tmp_path), job)
    assert not isinstance(err.value, RateLimited)
    assert err.value.code == "51001"
    assert api.FUNDING_HISTORY in str(err.value) and "NOPE-USDT-SWAP" in str(err.value)


MODEL = MarketModel(seed=7, now_ms=NOW_MS)


def _serve_modified(tmp_path: Path, routes: SimRoutes, fn: Callable[[VenuePool], Awaitable[T]]) -> T:
    """Run ``fn(pool)`` against a sim app built from ``routes`` (some handlers replaced)."""
    from aiohttp import web

    async def main() -> T:
        app, _ = build_app(MODEL, routes=routes, log_requests=str(tmp_path / "requests.jsonl"))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        settings = Settings(cache_dir=tmp_path / "cache", state_dir=tmp_path / "state").with_venue_urls(
            {"okx": {"rest": f"http://127.0.0.1:{port}/okx/rest"}})
        try:
            async with open_pool(settings, now=lambda: NOW) as pool:
                return await fn(pool)
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def test_failed_enrichment_leaves_none_and_records_error(tmp_path: Path) -> None:
    """OI answers an OKX error envelope and there is no USDC index: rates stay, those fields are None."""
    routes = load_routes(MODEL, ("okx",))
    index = routes.table[("okx", "rest", "GET", api.INDEX_TICKERS)]
    routes.add("okx", "rest", "GET", api.OPEN_INTEREST,
               lambda req: {"code": "50026", "msg": "System error, try again later", "data": []})
    routes.add("okx", "rest", "GET", api.INDEX_TICKERS,
               lambda req: {"code": "0", "msg": "", "data": []} if req.query.get("quoteCcy") == "USDC" else index(req))
    result = _serve_modified(tmp_path, routes, _current)
    assert len(result.items) == len(MODEL.perps("okx"))
    assert [(type(e), e.code) for e in result.errors] == [(VenueError, "50026")]  # type: ignore[attr-defined]
    for r in result.items:
        assert r.open_interest_usd is None
        assert r.mark_price is not None
        if r.instrument.quote == "USDC":
            assert r.index_price is None
            assert r.note == "no BTC-USDC index in index-tickers"
        else:
            assert r.index_price == pytest.approx(MODEL.index_price(r.instrument.asset, NOW_MS), rel=1e-12)


def test_single_settlement_takes_current_interval(tmp_path: Path) -> None:
    """A swap with one settlement so far (new listing): its interval comes from funding-rate, and the
    short history is noted."""
    routes = load_routes(MODEL, ("okx",))
    history = routes.table[("okx", "rest", "GET", api.FUNDING_HISTORY)]
    listed = NOW_MS - 4 * 3_600_000  # the listing: one 4 h settlement since

    def new_listing(req: SimRequest) -> Any:
        body = history(req)
        body["data"] = [r for r in body["data"] if int(r["fundingTime"]) > listed]
        return body

    routes.add("okx", "rest", "GET", api.FUNDING_HISTORY, new_listing)

    async def job(pool: VenuePool) -> FundingHistory:
        okx = _okx(pool)
        sol = next(i for i in await okx.instruments() if i.symbol == "SOL-USDT-SWAP")
        return await okx.fetch_funding_history(sol, NOW - timedelta(days=2), NOW)

    hist = _serve_modified(tmp_path, routes, job)
    want = _expected(MODEL, "SOL-USDT-SWAP", NOW - timedelta(hours=4), NOW)
    _assert_points(hist.points, want)
    assert [p.interval_hours for p in hist.points] == [4.0]
    assert hist.note == f"OKX has no funding history before {want[0][0]:%Y-%m-%d %H:%M} UTC"
    assert f"{api.FUNDING_RATE}?instId=SOL-USDT-SWAP" in _requests(tmp_path)


# --- envelope and filters ----------------------------------------------------------------------


def test_check_maps_okx_codes(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", state_dir=tmp_path / "state")
    # check() does no I/O: no HTTP client or cache needed
    adapter = OkxAdapter(VenueContext(None, settings, None, lambda: NOW))  # type: ignore[arg-type]
    adapter.check({"code": "0", "msg": "", "data": []})
    for code in ("50011", "50061"):
        with pytest.raises(RateLimited) as limited:
            adapter.check({"code": code, "msg": "Too Many Requests", "data": []})
        assert limited.value.code == code
    with pytest.raises(VenueError) as err:
        adapter.check({"code": "51001", "msg": "Instrument ID does not exist", "data": []})
    assert not isinstance(err.value, RateLimited)
    assert err.value.code == "51001" and "okx" in str(err.value) and "51001" in str(err.value)


def test_funding_keeps_swaps_only() -> None:
    model = MarketModel(seed=7, now_ms=NOW_MS)
    req = SimRequest("okx", "rest", api.FUNDING_RATE, {"instId": "ANY"}, None, NOW_MS)
    body = OkxSim(model).funding_rate(req)
    x_perp = {**body["data"][0], "instId": "BTC-USDT-261225", "instType": "FUTURES"}
    body["data"].append(x_perp)
    swaps = {p.symbol for p in model.perps("okx")}
    rows = parse_funding(body, swaps | {"BTC-USDT-261225"})
    assert set(rows) == swaps


def test_odd_rows_of_other_swaps_do_not_fail_the_venue(tmp_path: Path) -> None:
    """The instrument list carries a swap of an unknown unit, a malformed XRP swap and a garbage row;
    funding-rate?instId=ANY and mark-price carry a garbage row of another swap. The asked coins get
    their full rates; asking for XRP (whose row is malformed) is a ParseError naming the field."""
    routes = load_routes(MODEL, ("okx",))
    table = {path: routes.table[("okx", "rest", "GET", path)]
             for path in (api.INSTRUMENTS, api.FUNDING_RATE, api.MARK_PRICE)}

    def with_rows(path: str, *extra: Any) -> Callable[[SimRequest], Any]:
        def handler(req: SimRequest) -> Any:
            body = table[path](req)
            if req.query.get("instType", api.SWAP) == api.SWAP:
                body["data"] = [*extra, *body["data"]]
            return body
        return handler

    btc = OkxSim(MODEL)._instrument(MODEL.perp("okx", "BTC-USDT-SWAP"), NOW_MS)  # type: ignore[arg-type]
    routes.add("okx", "rest", "GET", api.INSTRUMENTS, with_rows(
        api.INSTRUMENTS, {**btc, "instId": "BTC-EUR-SWAP", "uly": "BTC-EUR", "ctValCcy": "EUR"},
        {**btc, "instId": "XRP-USDT-SWAP", "uly": "XRP-USDT", "instFamily": "XRP-USDT", "ctValCcy": "XRP",
         "ctVal": ""}, "garbage"))
    odd = {"instId": "ODD-USDT-SWAP", "instType": "SWAP", "fundingRate": "?", "markPx": None}
    routes.add("okx", "rest", "GET", api.FUNDING_RATE, with_rows(api.FUNDING_RATE, odd))
    routes.add("okx", "rest", "GET", api.MARK_PRICE, with_rows(api.MARK_PRICE, odd, 42))

    async def job(pool: VenuePool) -> tuple[FundingAnswer, BaseException | None]:
        result = await _current(pool)
        try:
            await _okx(pool).perpetuals(["XRP"])
        except ParseError as exc:
            return result, exc
        return result, None

    result, xrp = _serve_modified(tmp_path, routes, job)
    assert result.errors == []
    assert {r.instrument.symbol for r in result.items} == {p.symbol for p in MODEL.perps("okx")}
    assert all(r.mark_price is not None for r in result.items)
    assert isinstance(xrp, ParseError)
    assert xrp.endpoint == api.INSTRUMENTS and "ctVal" in str(xrp)
    assert sum(p.startswith(api.INSTRUMENTS) for p in _requests(tmp_path)) == 2  # SWAP, FUTURES: both cached
