"""Simulated Deribit for open interest, quotes, candles and dated futures: wire shapes against the real
payloads, and the real adapter over sockets against it (values equal the model's)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

import pytest
from tests.conftest import SimThread
from tests.shapes import shape_differences

from dtrack.config import Settings
from dtrack.errors import UnsupportedError, VenueError
from dtrack.records import Instrument, Kind, Margin, OpenInterest, PricePoint, PriceQuote, Unit
from dtrack.sim.faults import Faults
from dtrack.sim.model import HOUR_MS, MarketModel, SimFuture, SimPerp
from dtrack.venues.base import Answer
from dtrack.venues.deribit import api as deribit_api
from dtrack.venues.deribit.adapter import DeribitAdapter
from dtrack.venues.fields import ms_to_utc, page_windows, utc_to_ms
from dtrack.venues.pool import VenuePool, open_pool

T = TypeVar("T")
Payload = Callable[[str], dict[str, Any]]
NO_ID = frozenset({"id"})
#: a pinned market clock, not on a whole hour (2026-11-18 11:23:40 UTC, a Wednesday)
PINNED_MS = 1_795_000_000_000 + 17 * 60_000
ASSETS = ["BTC", "ETH", "SOL"]


def run_at(settings: Settings, now_ms: int, fn: Callable[[VenuePool], Awaitable[T]]) -> T:
    """Run ``fn(pool)`` in a fresh loop with the adapters' clock pinned to ``now_ms``."""

    async def main() -> T:
        async with open_pool(settings, now=lambda: ms_to_utc(now_ms)) as pool:
            return await fn(pool)

    return asyncio.run(main())


def deribit(pool: VenuePool) -> DeribitAdapter:
    adapter = pool.adapter("deribit")
    assert isinstance(adapter, DeribitAdapter)
    return adapter


def pinned(sim_factory: Callable[..., SimThread], **kwargs: Any) -> SimThread:
    return sim_factory(model=MarketModel(7, now_ms=PINNED_MS), **kwargs)


def sim_body(sim: SimThread, path_qs: str) -> Any:
    with urlopen(sim.venue_urls()["deribit"]["rest"] + path_qs, timeout=10) as resp:
        return json.loads(resp.read())


def logged(path: Path, method: str) -> list[dict[str, list[str]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [parse_qs(urlsplit(r["path"]).query) for r in rows
            if r["venue"] == "deribit" and urlsplit(r["path"]).path.endswith("/" + method)]


def contract(model: MarketModel, symbol: str) -> SimPerp | SimFuture:
    found = model.perp("deribit", symbol) or model.future("deribit", symbol, model.now_ms())
    assert found is not None, symbol
    return found


# --- (a) conformance with the real payloads -----------------------------------------------------------


def test_chart_shape(sim: SimThread, payload: Payload) -> None:
    now = sim.model.now_ms()
    body = sim_body(sim, "/api/v2/public/get_tradingview_chart_data?instrument_name=BTC-PERPETUAL&resolution=60"
                         f"&start_timestamp={now - 5 * HOUR_MS}&end_timestamp={now}")
    real = payload("deribit__ccxt_fetchOHLCV.json")["cases"][0]["raw"]
    # ccxt re-serialised the envelope's numbers as strings (INDEX.md caveat); the columns kept numbers
    assert shape_differences(body, real, loose_types=frozenset({"usIn", "usOut", "usDiff"})) == []
    assert body["result"]["status"] == "ok" and len(body["result"]["ticks"]) == 5


def test_future_rows_and_ticker_shapes(sim: SimThread, payload: Payload) -> None:
    """Futures rows sit in the BTC book summary next to the perpetual (no funding fields); a future's
    ticker has the docs ticker's fields but the perpetual-only funding ones."""
    body = sim_body(sim, "/api/v2/public/get_book_summary_by_currency?currency=BTC&kind=future")
    names = [r["instrument_name"] for r in body["result"]]
    futures = [r for r in body["result"] if r["instrument_name"] != "BTC-PERPETUAL"]
    assert "BTC-PERPETUAL" in names and len(futures) >= 4
    assert all("funding_8h" not in r and "current_funding" not in r for r in futures)
    fut = futures[0]["instrument_name"]
    ticker = sim_body(sim, f"/api/v2/public/ticker?instrument_name={fut}")
    docs = payload("deribit__rest_ticker__docs.json")["cases"][0]["raw"]
    perp_only = frozenset({"current_funding", "funding_8h", "interest_value"})
    assert shape_differences(ticker, docs, optional=NO_ID | perp_only) == []


def test_instruments_list_futures_by_real_naming(sim_factory: Callable[..., SimThread]) -> None:
    sim = pinned(sim_factory)
    rows = sim_body(sim, "/api/v2/public/get_instruments?currency=ETH&kind=future")["result"]
    futures = {r["instrument_name"]: r for r in rows if r["settlement_period"] != "perpetual"}
    # Wednesday 2026-11-18: two Friday weeklies, the December month-end, two more quarterlies
    assert sorted(futures, key=lambda s: futures[s]["expiration_timestamp"]) == [
        "ETH-20NOV26", "ETH-27NOV26", "ETH-25DEC26", "ETH-26MAR27", "ETH-25JUN27"]
    assert futures["ETH-20NOV26"]["settlement_period"] == "week"
    assert futures["ETH-27NOV26"]["settlement_period"] == "month"  # November's last Friday
    assert all(r["instrument_type"] == "reversed" and r["contract_size"] == 1 for r in futures.values())
    assert sim_body(sim, "/api/v2/public/get_instruments?currency=USDC&kind=future")["result"]  # USDC perps


@pytest.mark.parametrize(("query", "param", "reason"), [
    ("get_tradingview_chart_data?instrument_name=BTC-PERPETUAL&start_timestamp=1&end_timestamp=2&resolution=240",
     "resolution", "must be one of 1, 3, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1D"),
    ("get_tradingview_chart_data?instrument_name=BTC-29SEP23&start_timestamp=1&end_timestamp=2&resolution=60",
     "instrument_name", "wrong format"),
    ("get_index_price?index_name=xrp_usd", "index_name",
     "must be one of btc_usd, btc_usdc, eth_usd, eth_usdc, sol_usdc"),
])
def test_bad_parameters_are_invalid_params(sim: SimThread, query: str, param: str, reason: str) -> None:
    with pytest.raises(HTTPError) as err:
        sim_body(sim, "/api/v2/public/" + query)
    assert err.value.code == 400
    assert json.loads(err.value.read())["error"] == {"code": -32602, "message": "Invalid params",
                                                     "data": {"reason": reason, "param": param}}


# --- (b) the real adapter against the sim ---------------------------------------------------------------


def test_contracts_list_futures_with_expiry(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    sim = pinned(sim_factory)
    contracts = run_at(sim.settings(tmp_path), PINNED_MS, lambda pool: deribit(pool).contracts(ASSETS))
    futures = [i for i in contracts if i.kind is Kind.FUTURE]
    expected = [f for f in sim.model.futures("deribit", PINNED_MS) if f.asset in ASSETS]
    assert sorted(i.symbol for i in futures) == sorted(f.symbol for f in expected)
    for fut in expected:
        (inst,) = [i for i in futures if i.symbol == fut.symbol]
        assert inst == Instrument(venue="deribit", symbol=fut.symbol, asset=fut.asset, quote="USD", settle=fut.asset,
                                  kind=Kind.FUTURE, margin=Margin.INVERSE,
                                  contract_size=fut.contract_size, contract_unit=Unit.USD,
                                  expiry=ms_to_utc(fut.expiry_ms), market=fut.asset)
    assert sorted(i.symbol for i in contracts if i.kind is Kind.PERP) == sorted(
        p.symbol for p in sim.model.perps("deribit"))


def test_expired_future_leaves_the_cached_listing(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    """The list is disk-cached for an hour; a weekly that expires inside that hour is no longer offered."""
    sim = pinned(sim_factory)
    settings = sim.settings(tmp_path)
    first_expiry = sim.model.futures("deribit", PINNED_MS)[0].expiry_ms
    before = run_at(settings, first_expiry - 60_000, lambda pool: deribit(pool).contracts(["BTC"]))
    after = run_at(settings, first_expiry + 60_000, lambda pool: deribit(pool).contracts(["BTC"]))
    assert "BTC-20NOV26" in {i.symbol for i in before}
    assert {i.symbol for i in before} - {i.symbol for i in after} == {"BTC-20NOV26"}


def test_open_interest_matches_model(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    sim = pinned(sim_factory, log_requests=str(log))
    model = sim.model

    async def run(pool: VenuePool) -> tuple[list[Instrument], Answer[OpenInterest]]:
        adapter = deribit(pool)
        contracts = await adapter.contracts(ASSETS)
        return contracts, await adapter.fetch_open_interest(contracts)

    contracts, answer = run_at(sim.settings(tmp_path), PINNED_MS, run)
    assert answer.errors == []
    assert [o.instrument for o in answer.items] == contracts  # perps and futures, in the asked order
    assert sum(o.instrument.kind is Kind.FUTURE for o in answer.items) == 10
    for oi in answer.items:
        c = contract(model, oi.instrument.symbol)
        mark = model.contract_mark(c, PINNED_MS)
        assert oi.time == ms_to_utc(PINNED_MS)
        assert oi.base == pytest.approx(model.open_interest_base(c, PINNED_MS), rel=1e-12)
        assert oi.usd == pytest.approx(oi.base * mark, rel=1e-12)
        assert (oi.price_used, oi.price_source) == (pytest.approx(mark, rel=1e-15), "mark")
        inverse = oi.instrument.margin is Margin.INVERSE
        assert oi.unit is (Unit.USD if inverse else Unit.BASE)
        assert oi.amount == (oi.usd if inverse else oi.base)
    # one round: a book summary per settlement currency, nothing else beyond the instrument list
    assert sorted(q["currency"][0] for q in logged(log, "get_book_summary_by_currency")) == ["BTC", "ETH", "USDC"]
    assert logged(log, "ticker") == [] and logged(log, "get_index_price") == []


def test_quotes_match_model(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    sim = pinned(sim_factory, log_requests=str(log))
    model = sim.model

    async def run(pool: VenuePool) -> Answer[PriceQuote]:
        adapter = deribit(pool)
        return await adapter.fetch_quotes(await adapter.contracts(ASSETS))

    answer = run_at(sim.settings(tmp_path), PINNED_MS, run)
    assert answer.errors == [] and len(answer.items) == 15
    for q in answer.items:
        c = contract(model, q.instrument.symbol)
        mark = model.contract_mark(c, PINNED_MS)
        assert q.mark_price == pytest.approx(mark, rel=1e-15)
        assert q.index_price == pytest.approx(model.index_price(c.asset, PINNED_MS), rel=1e-15)
        assert q.last_price == pytest.approx(mark * (1 - 0.00005), rel=1e-12)  # the sim's last trade: the bid
    futures = [q for q in answer.items if q.instrument.kind is Kind.FUTURE]
    assert all(q.mark_price and q.index_price and q.mark_price != q.index_price for q in futures)
    assert sorted(q["index_name"][0] for q in logged(log, "get_index_price")) == [
        "btc_usd", "btc_usdc", "eth_usd", "eth_usdc", "sol_usdc"]
    assert len(logged(log, "get_book_summary_by_currency")) == 3


def test_failed_index_falls_back_and_is_reported(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    sim = pinned(sim_factory, faults=Faults(endpoints={("deribit", "/api/v2/public/get_index_price"): 500}))

    async def run(pool: VenuePool) -> Answer[PriceQuote]:
        adapter = deribit(pool)
        return await adapter.fetch_quotes(await adapter.contracts(["BTC"]))

    answer = run_at(sim.settings(tmp_path, retries=0), PINNED_MS, run)
    assert len(answer.items) == 7  # every quote kept: 2 perpetuals, 5 futures
    assert all(q.index_price == pytest.approx(sim.model.index_price("BTC", PINNED_MS), rel=1e-15)
               for q in answer.items)  # estimated_delivery_price
    assert len(answer.errors) == 2 and all(isinstance(e, VenueError) and e.status == 500 for e in answer.errors)
    assert sorted(str(e).split("index_name=")[1].split(":")[0] for e in answer.errors) == ["btc_usd", "btc_usdc"]


def expected_closes(model: MarketModel, c: SimPerp | SimFuture, start: datetime, end: datetime,
                    period_hours: int) -> list[PricePoint]:
    """The model's closes: each period's candle close at its end, the open one at now."""
    period = period_hours * HOUR_MS
    now = model.now_ms()
    first = -(-utc_to_ms(start) // period) * period
    points = [PricePoint(venue="deribit", symbol=c.symbol, time=ms_to_utc(t), price=model.candle(c, t - period,
                                                                                                 period)[3],
                         received_at=ms_to_utc(now))
              for t in range(first, min(utc_to_ms(end), now) + 1, period)]
    if first <= now < utc_to_ms(end) + period and now % period:
        points.append(PricePoint(venue="deribit", symbol=c.symbol, time=ms_to_utc(now),
                                 price=model.contract_mark(c, now), received_at=ms_to_utc(now)))
    return points


@pytest.mark.parametrize(("period_hours", "days", "count"), [(1, 7, 7 * 24 + 1), (4, 7, 7 * 6 + 1), (24, 30, 31)])
def test_price_history_matches_model(sim_factory: Callable[..., SimThread], tmp_path: Path,
                                     period_hours: int, days: int, count: int) -> None:
    sim = pinned(sim_factory)
    end = ms_to_utc(PINNED_MS)
    start = end - timedelta(days=days)

    async def run(pool: VenuePool) -> dict[str, tuple[PricePoint, ...]]:
        adapter = deribit(pool)
        picked = [i for i in await adapter.contracts(["BTC"]) if i.symbol in ("BTC-PERPETUAL", "BTC-25DEC26")]
        return {i.symbol: await adapter.fetch_price_history(i, start, end, period_hours) for i in picked}

    histories = run_at(sim.settings(tmp_path), PINNED_MS, run)
    assert set(histories) == {"BTC-PERPETUAL", "BTC-25DEC26"}
    for symbol, points in histories.items():
        want = expected_closes(sim.model, contract(sim.model, symbol), start, end, period_hours)
        assert len(points) == count  # every period of the window, and the open one at now
        assert [p.time for p in points] == [p.time for p in want]
        # the 4 h closes come from hourly candles: the same mark, sampled at 1/6 of another span
        assert [p.price for p in points] == pytest.approx([p.price for p in want], rel=1e-12)
        assert points[-1].time == end
        assert {(p.venue, p.symbol, p.received_at) for p in points} == {("deribit", symbol, end)}


def test_price_history_pages_concurrently(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    """90 days of hourly candles are three pages (1,000 candles each at most), asked at once: one round
    (requests all in flight before any is answered), not three. The sim holds the round's answers until
    its three requests have arrived, so this does not depend on the machine's speed."""
    log = tmp_path / "requests.jsonl"
    sim = pinned(sim_factory, log_requests=str(log), hold=(3,))
    end = ms_to_utc(PINNED_MS)
    start = end - timedelta(days=90)
    perp = Instrument(venue="deribit", symbol="ETH-PERPETUAL", asset="ETH", quote="USD", settle="ETH", kind=Kind.PERP,
                      margin=Margin.INVERSE,
                      contract_size=1.0, contract_unit=Unit.USD, market="ETH")

    async def run(pool: VenuePool) -> tuple[PricePoint, ...]:
        return await deribit(pool).fetch_price_history(perp, start, end, 1)

    points = run_at(sim.settings(tmp_path), PINNED_MS, run)
    assert len(points) == 90 * 24 + 1
    asked = logged(log, "get_tradingview_chart_data")
    first = (utc_to_ms(start) // HOUR_MS) * HOUR_MS  # the candle that closes on the first whole hour
    windows = page_windows(first, PINNED_MS // HOUR_MS * HOUR_MS, HOUR_MS, deribit_api.CHART_CHUNK)
    assert len(windows) == 3
    assert sorted((int(q["start_timestamp"][0]), int(q["end_timestamp"][0])) for q in asked) == windows
    assert all(q["resolution"] == ["60"] and q["instrument_name"] == ["ETH-PERPETUAL"] for q in asked)
    (pages,) = sim.rounds()  # one round: sequential pages would be three
    assert len(pages) == 3 and all("/get_tradingview_chart_data?" in p for p in pages)
    assert sim.flight.timed_out == 0


def test_unsupported_and_faults(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    """No OI history, long/short or spot on Deribit (each says so); a 500 surfaces per call as a VenueError."""
    sim = pinned(sim_factory, faults={"deribit": "500"})
    perp = Instrument(venue="deribit", symbol="BTC-PERPETUAL", asset="BTC", quote="USD", settle="BTC", kind=Kind.PERP,
                      margin=Margin.INVERSE,
                      contract_size=10.0, contract_unit=Unit.USD, market="BTC")
    end = ms_to_utc(PINNED_MS)

    async def run(pool: VenuePool) -> list[BaseException | Any]:
        adapter = deribit(pool)
        return list(await asyncio.gather(
            adapter.fetch_oi_history(perp, end - timedelta(days=1), end, 1),
            adapter.fetch_long_short("BTC", [perp]),
            adapter.fetch_spot(["BTC"]),
            adapter.fetch_price_history(perp, end - timedelta(days=1), end, 1),
            adapter.fetch_open_interest([perp]),
            adapter.fetch_quotes([perp]),
            adapter.fetch_price_history(perp, end - timedelta(days=1), end, 2),
            return_exceptions=True))

    oi_hist, long_short, spot, klines, oi, quotes, bad_period = run_at(sim.settings(tmp_path, retries=0),
                                                                        PINNED_MS, run)
    assert isinstance(oi_hist, UnsupportedError) and "Deribit publishes no open-interest history" in str(oi_hist)
    assert isinstance(long_short, UnsupportedError) and "publishes no long/short ratio" in str(long_short)
    assert isinstance(spot, UnsupportedError)
    for failed in (klines, oi, quotes):
        assert isinstance(failed, VenueError) and failed.status == 500
    assert isinstance(bad_period, UnsupportedError) and "1, 4 or 24" in str(bad_period)
