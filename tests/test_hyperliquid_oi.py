"""Hyperliquid open interest, quotes and klines (issue 3): multiplier coins (kPEPE) on the venue's published
answers, and the real adapter over real sockets against the simulation (values equal to the market model's).

Floats: rel=1e-12 (the sim writes the model's floats as exact decimal strings).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import test_hyperliquid_sim as hl
from dtrack.config import Settings
from dtrack.errors import UnsupportedError, VenueError
from dtrack.records import Kind, OpenInterest, PricePoint, PriceQuote, Unit
from dtrack.sim.model import HOUR_MS, MarketModel, SimPerp
from dtrack.sim.server import SimHttpError
from dtrack.sim.venues import hyperliquid as sim_hl
from dtrack.venues.base import Adapter, Answer
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.hyperliquid import parse
from dtrack.venues.hyperliquid.adapter import candle_pages

Payload = Callable[[str], dict[str, Any]]
NOW, NOW_MS, EXACT, ASSETS = hl.NOW, hl.NOW_MS, hl.EXACT, hl.ASSETS
RECEIVED = datetime(2026, 11, 20, 13, 27, 45, 123000, tzinfo=UTC)
#: the sim pinned at NOW, settings pointing at it, its request log (the fixture of test_hyperliquid_sim)
pinned = hl.pinned


def _ctxs_with_kpepe(payload: Payload) -> Any:
    """The docs' metaAndAssetCtxs example with ETH listed as kPEPE (1 kPEPE = 1000 PEPE)."""
    body = copy.deepcopy(payload("hyperliquid__rest_info_metaAndAssetCtxs__docs.json")["cases"][0]["raw"])
    body[0]["universe"][1]["name"] = "kPEPE"
    return body


# --- kPEPE on the published answers --------------------------------------------------------------------


def test_kpepe_open_interest_counts_pepe(payload: Payload) -> None:
    # 1882.55 kPEPE open = 1,882,550 PEPE; markPx 6.0436 per kPEPE = 0.0060436 per PEPE;
    # USD = 1882.55 x 6.0436 = 11377.37918 either way.
    body = _ctxs_with_kpepe(payload)
    kpepe = parse.parse_meta(body[0]).instruments[1]
    assert (kpepe.symbol, kpepe.asset, kpepe.multiplier) == ("kPEPE", "PEPE", 1000.0)
    (oi,), missing = parse.open_interests(body, [kpepe], RECEIVED)
    assert missing == []
    assert (oi.amount, oi.unit) == (1882.55, Unit.BASE)
    assert oi.base == pytest.approx(1_882_550.0, rel=EXACT)
    assert oi.price_used == pytest.approx(0.0060436, rel=EXACT)
    assert oi.usd == pytest.approx(11377.37918, rel=EXACT)
    assert oi.note == "openInterest is one side, in coins (kPEPE, kPEPE = 1000 PEPE); USD = openInterest x markPx"


def test_kpepe_quotes_per_pepe(payload: Payload) -> None:
    body = _ctxs_with_kpepe(payload)
    (quote,), _ = parse.price_quotes(body, [parse.instrument("kPEPE")], RECEIVED)
    assert quote.mark_price == pytest.approx(0.0060436, rel=EXACT)
    assert quote.index_price == pytest.approx(0.0060457, rel=EXACT)
    assert quote.last_price == pytest.approx(0.0060431, rel=EXACT)


def test_kpepe_candle_closes_per_pepe(payload: Payload) -> None:
    # The real PURR/USDC daily candles, read as if they were kPEPE's: closes divided by 1000.
    raw = copy.deepcopy(payload("hyperliquid__ccxt_fetchOHLCV.json")["cases"][3]["raw"])
    for row in raw:
        row["s"] = "kPEPE"
    rows = parse.parse_candles(raw, "kPEPE", "1d")
    points = parse.price_points(rows, parse.instrument("kPEPE"), 24 * HOUR_MS, RECEIVED)
    assert [p.price for p in points] == pytest.approx([0.13472e-3, 0.14098e-3, 0.13689e-3, 0.14315e-3, 0.14241e-3],
                                                      rel=EXACT)
    assert [p.high for p in points] == pytest.approx([0.1438e-3, 0.147e-3, 0.15401e-3, 0.15091e-3, 0.14523e-3],
                                                     rel=EXACT)
    assert [p.low for p in points] == pytest.approx([0.12182e-3, 0.12851e-3, 0.13686e-3, 0.13685e-3, 0.14158e-3],
                                                    rel=EXACT)


# --- candle pages (pure) ---------------------------------------------------------------------------------


def test_candle_pages_cover_the_window_once() -> None:
    start = NOW - timedelta(days=7)
    first = utc_to_ms(datetime(2026, 11, 13, 13, tzinfo=UTC))  # its candle closes at 14:00, after start
    last = utc_to_ms(datetime(2026, 11, 20, 13, tzinfo=UTC))  # the candle holding NOW
    assert candle_pages(utc_to_ms(start), NOW_MS, HOUR_MS, 5000) == [(first, last)]
    pages = candle_pages(utc_to_ms(NOW - timedelta(days=300)), NOW_MS, HOUR_MS, 5000)
    assert len(pages) == 2
    assert pages[0][1] - pages[0][0] == 4999 * HOUR_MS
    assert pages[1] == (pages[0][1] + HOUR_MS, last)
    on_grid = utc_to_ms(datetime(2026, 11, 20, 12, tzinfo=UTC))  # the candle closing exactly at start counts
    assert candle_pages(on_grid, on_grid, HOUR_MS, 5000) == [(on_grid - HOUR_MS, on_grid)]


# --- the adapter against the simulation --------------------------------------------------------------------


def _perp(model: MarketModel, symbol: str) -> SimPerp:
    perp = model.perp("hyperliquid", symbol)
    assert perp is not None
    return perp


def test_contracts_are_the_perps_only(pinned: tuple[Any, Settings, Path]) -> None:
    # Hyperliquid's core perp DEX lists no dated futures.
    _server, settings, _log = pinned
    contracts = hl._run(settings, lambda a: a.contracts(ASSETS))
    assert [(c.symbol, c.kind, c.expiry) for c in contracts] == [
        ("BTC", Kind.PERP, None), ("ETH", Kind.PERP, None), ("SOL", Kind.PERP, None), ("kPEPE", Kind.PERP, None)]


async def _oi(a: Adapter) -> Answer[OpenInterest]:
    return await a.fetch_open_interest(await a.contracts(ASSETS))


async def _quotes(a: Adapter) -> Answer[PriceQuote]:
    return await a.fetch_quotes(await a.contracts(ASSETS))


def test_open_interest_equals_the_model(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, log = pinned
    answer = hl._run(settings, _oi)
    assert answer.errors == []
    assert hl._info_calls(log) == 2  # listing + one metaAndAssetCtxs
    model = server.model
    assert sorted(o.instrument.symbol for o in answer.items) == ["BTC", "ETH", "SOL", "kPEPE"]
    for oi in answer.items:
        perp = _perp(model, oi.instrument.symbol)
        coins, mark = model.open_interest_base(perp, NOW_MS), model.mark_price(perp, NOW_MS)
        assert (oi.unit, oi.price_source, oi.time, oi.received_at) == (Unit.BASE, "mark", None, NOW)
        assert oi.amount == pytest.approx(coins, rel=EXACT)
        assert oi.base == pytest.approx(coins * perp.multiplier, rel=EXACT)
        assert oi.price_used == pytest.approx(mark / perp.multiplier, rel=EXACT)
        assert oi.usd == pytest.approx(coins * mark, rel=EXACT)
    # kPEPE: the model's PEPE open interest (share x total, in PEPE), valued per PEPE
    kpepe = next(o for o in answer.items if o.instrument.symbol == "kPEPE")
    assert kpepe.base == pytest.approx(model.open_interest_base(_perp(model, "kPEPE"), NOW_MS) * 1000, rel=EXACT)
    assert kpepe.price_used < 1e-4
    assert kpepe.usd == pytest.approx(kpepe.base * kpepe.price_used, rel=EXACT)


def test_quotes_equal_the_model(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, _log = pinned
    answer = hl._run(settings, _quotes)
    assert answer.errors == []
    model = server.model
    for quote in answer.items:
        perp = _perp(model, quote.instrument.symbol)
        mark = model.mark_price(perp, NOW_MS) / perp.multiplier
        assert (quote.time, quote.received_at) == (None, NOW)
        assert quote.mark_price == pytest.approx(mark, rel=EXACT)
        assert quote.index_price == pytest.approx(model.index_price(perp.asset, NOW_MS), rel=EXACT)
        if perp.symbol == sim_hl.THIN_COIN:  # a one-sided book: no midPx, no last
            assert quote.last_price is None
        else:
            assert quote.last_price == pytest.approx(mark, rel=EXACT)  # the sim's midPx is its mark


def test_concurrent_callers_share_one_asset_ctxs_request(pinned: tuple[Any, Settings, Path]) -> None:
    # Funding, OI and quotes of one command asked together: one metaAndAssetCtxs (+ predictedFundings).
    _server, settings, log = pinned

    async def together(a: Adapter) -> tuple[Any, ...]:
        perps = await a.contracts(ASSETS)
        return tuple(await asyncio.gather(a.fetch_open_interest(perps), a.fetch_quotes(perps),
                                          a.fetch_funding_rates(perps)))

    oi, quotes, funding = hl._run(settings, together)
    assert hl._info_calls(log) == 3  # listing, metaAndAssetCtxs once (not 3 times), predictedFundings
    assert len(oi.items) == len(quotes.items) == len(funding.items) == 4
    by = {o.instrument.symbol: o.usd for o in oi.items}
    assert all(by[r.instrument.symbol] == pytest.approx(r.open_interest_usd, rel=EXACT) for r in funding.items)

    async def one_after_another(a: Adapter) -> None:
        perps = await a.contracts(ASSETS)
        await a.fetch_open_interest(perps)
        await a.fetch_open_interest(perps)

    hl._run(settings, one_after_another)
    assert hl._info_calls(log) == 5  # listing from disk; nothing kept between calls: 2 more


def test_a_symbol_the_answer_lacks_is_an_error(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, _log = pinned
    gone = parse.instrument("DOGE")
    answer = hl._run(settings, lambda a: a.fetch_open_interest([parse.instrument("BTC"), gone]))
    assert [o.instrument.symbol for o in answer.items] == ["BTC"]
    assert len(answer.errors) == 1 and "no asset context for 'DOGE'" in str(answer.errors[0])


def test_failed_asset_ctxs_raise(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    # The core endpoint of OI and quotes failing is the venue failing: VenueError with the status.
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), faults={"hyperliquid": "500"})
    settings = server.settings(tmp_path, retries=0)
    for fetch in (lambda a: a.fetch_open_interest([parse.instrument("BTC")]),
                  lambda a: a.fetch_quotes([parse.instrument("BTC")])):
        with pytest.raises(VenueError) as err:
            hl._run(settings, fetch)
        assert err.value.status == 500


def test_no_oi_history_no_long_short_no_spot(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, log = pinned
    btc = parse.instrument("BTC")
    with pytest.raises(UnsupportedError, match="Hyperliquid publishes no open-interest history"):
        hl._run(settings, lambda a: a.fetch_oi_history(btc, NOW - timedelta(days=1), NOW, 1))
    with pytest.raises(UnsupportedError, match="publishes no long/short ratio"):
        hl._run(settings, lambda a: a.fetch_long_short("BTC", [btc]))
    with pytest.raises(UnsupportedError, match="no spot market"):
        hl._run(settings, lambda a: a.fetch_spot(["BTC"]))
    assert hl._info_calls(log) == 0


# --- klines ------------------------------------------------------------------------------------------------


def _expected_closes(model: MarketModel, perp: SimPerp, start: datetime, end: datetime,
                     period_ms: int) -> list[tuple[datetime, float]]:
    """The model's candle closes whose close time (the still-open candle: NOW) lies in [start, end]."""
    out: list[tuple[datetime, float]] = []
    for t in range(utc_to_ms(start) // period_ms * period_ms - period_ms, utc_to_ms(end) + 1, period_ms):
        close_at = ms_to_utc(min(t + period_ms, NOW_MS))
        if start <= close_at <= end and t <= NOW_MS:
            out.append((close_at, model.candle(perp, t, period_ms)[3] / perp.multiplier))
    return out


@pytest.mark.parametrize(("symbol", "days", "period_hours", "count"), [
    ("BTC", 7, 1, 169), ("kPEPE", 7, 1, 169), ("ETH", 30, 4, 181), ("SOL", 90, 24, 91)])
def test_price_history_equals_the_model(pinned: tuple[Any, Settings, Path], symbol: str, days: int,
                                        period_hours: int, count: int) -> None:
    # 7 days hourly: 168 closed candles + the one still open (stamped NOW); 30 d x 6 + 1; 90 d + 1.
    server, settings, log = pinned
    perp = _perp(server.model, symbol)
    start = NOW - timedelta(days=days)
    points: tuple[PricePoint, ...] = hl._run(
        settings, lambda a: a.fetch_price_history(parse.instrument(symbol), start, NOW, period_hours))
    assert hl._info_calls(log) == 1
    assert len(points) == count
    assert points[-1].time == NOW
    assert all(a.time < b.time for a, b in itertools.pairwise(points))
    expected = _expected_closes(server.model, perp, start, NOW, period_hours * HOUR_MS)
    assert [p.time for p in points] == [t for t, _ in expected]
    assert [p.price for p in points] == pytest.approx([c for _, c in expected], rel=EXACT)


def test_price_history_pages_are_requested_at_once(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    # 400 .. 190 days ago hourly: 5041 candles, two pages. The venue keeps the latest 5000 candles only,
    # so the answer starts ~208 days ago. The two pages are asked at once: one round (requests all in flight
    # before any is answered), not two. The sim holds the round's answers until both have arrived, so the
    # rounds are what the adapter sent together however slow the machine.
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), hold=(2,), log_requests=str(log))
    settings = server.settings(tmp_path)
    start, end = NOW - timedelta(days=400), NOW - timedelta(days=190)
    perp = _perp(server.model, "ETH")

    async def history(a: Adapter) -> tuple[PricePoint, ...]:
        return await a.fetch_price_history(parse.instrument("ETH"), start, end, 1)

    points = hl._run(settings, history)
    assert hl._info_calls(log) == 2
    assert server.rounds() == [["/info", "/info"]] and server.flight.timed_out == 0
    kept_from = ms_to_utc((NOW_MS // HOUR_MS - sim_hl.CANDLES_KEPT + 2) * HOUR_MS)  # close of the oldest kept
    assert points[0].time == kept_from
    expected = _expected_closes(server.model, perp, kept_from, end, HOUR_MS)
    # closes from 4998 h before the open candle (13:00 today) to the one 190 days (4560 h) before it
    assert len(points) == len(expected) == 4998 - 4560 + 1
    assert [p.price for p in points] == pytest.approx([c for _, c in expected], rel=EXACT)


def test_price_history_of_an_unknown_coin_is_an_error(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, _log = pinned
    with pytest.raises(VenueError) as err:
        hl._run(settings, lambda a: a.fetch_price_history(parse.instrument("NOPE"), NOW - timedelta(days=1), NOW, 1))
    assert err.value.code == "unknown_coin"
    assert "candleSnapshot: Hyperliquid lists no perpetual 'NOPE' (it answered no candles)" in str(err.value)


def test_price_history_period_must_be_1_4_or_24(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, log = pinned
    with pytest.raises(UnsupportedError, match=r"no 8 h candles in dtrack \(periods: 1, 4, 24 h\)"):
        hl._run(settings, lambda a: a.fetch_price_history(parse.instrument("BTC"), NOW - timedelta(days=1), NOW, 8))
    assert hl._info_calls(log) == 0


def test_failed_candles_fail_that_call_only(pinned: tuple[Any, Settings, Path], tmp_path: Path) -> None:
    # HTTP 500 on candleSnapshot only: the price-history call raises a VenueError naming the endpoint,
    # the open interest asked at the same time still arrives.
    server, _settings, _log = pinned
    settings = server.settings(tmp_path, retries=0)
    routes = server.server.routes
    key = ("hyperliquid", "rest", "POST", "/info")
    served = routes.table[key]

    def broken(req: Any) -> Any:
        if req.body.get("type") == "candleSnapshot":
            raise SimHttpError(500, None)
        return served(req)

    async def both(a: Adapter) -> list[Any]:
        btc = parse.instrument("BTC")
        return list(await asyncio.gather(a.fetch_price_history(btc, NOW - timedelta(days=1), NOW, 1),
                                         a.fetch_open_interest([btc]), return_exceptions=True))

    routes.table[key] = broken
    try:
        history, oi = hl._run(settings, both)
    finally:
        routes.table[key] = served
    assert isinstance(history, VenueError) and history.status == 500
    assert "candleSnapshot" in str(history)
    assert isinstance(oi, Answer) and [o.instrument.symbol for o in oi.items] == ["BTC"]
