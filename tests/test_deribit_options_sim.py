"""Simulated Deribit options: wire shapes against the real payloads and parameter rules, then the real adapter over
sockets against it: the chain, trades, DVOL and realized volatility equal the OptionsModel's; one round; faults."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
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
from dtrack.records import OptionQuote, OptionTrade, VolPoint
from dtrack.sim.faults import Faults
from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel
from dtrack.sim.options import OptionsModel
from dtrack.venues.base import Answer
from dtrack.venues.deribit.adapter import DeribitAdapter
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.pool import VenuePool, open_pool

T = TypeVar("T")
Payload = Callable[[str], dict[str, Any]]
#: a plain HTTP GET answer has no JSON-RPC ``id``; the docs examples carry their request's
NO_ID = frozenset({"id"})
#: Deribit sends null for what an option does not have: no bid ("null if there aren't any bids", also mid), no
#: trade in 24 h (last, high, low, price_change)
NULLABLE = frozenset({"bid_price", "mid_price", "last", "high", "low", "price_change"})
#: a pinned market clock (Wednesday 2026-11-18 11:23:40 UTC), not on a whole hour
PINNED_MS = 1_795_000_000_000 + 17 * 60_000
REST = "/api/v2/public/"


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


def pinned(sim_factory: Callable[..., SimThread], now_ms: int = PINNED_MS, **kwargs: Any) -> SimThread:
    return sim_factory(model=MarketModel(7, now_ms=now_ms), **kwargs)


def sim_body(sim: SimThread, method_qs: str) -> Any:
    with urlopen(sim.venue_urls()["deribit"]["rest"] + REST + method_qs, timeout=30) as resp:
        return json.loads(resp.read())


def logged(path: Path, method: str) -> list[dict[str, list[str]]]:
    """Query parameters of every logged request to one Deribit method."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [parse_qs(urlsplit(r["path"]).query) for r in rows
            if r["venue"] == "deribit" and urlsplit(r["path"]).path.endswith("/" + method)]


@pytest.fixture(scope="module")
def at_pin() -> OptionsModel:
    """The options model the pinned sims serve (pure: an equal model gives equal numbers)."""
    return OptionsModel(MarketModel(7, now_ms=PINNED_MS))


# --- (a) conformance with the real payloads -----------------------------------------------------------------


def test_option_instrument_rows_shape(sim: SimThread, payload: Payload) -> None:
    body = sim_body(sim, "get_instruments?currency=BTC&kind=option")
    assert body["result"] and all(r["kind"] == "option" for r in body["result"])
    for case in payload("deribit__rest_get_instruments__capture.json")["cases"]:
        real = {**case["raw"], "result": [r for r in case["raw"]["result"] if r["kind"] == "option"]}
        assert shape_differences(body, real) == []
    everything = sim_body(sim, "get_instruments?currency=ETH")["result"]  # no kind: futures and options
    assert {r["kind"] for r in everything} == {"future", "option"}


def test_option_rows_terms(sim_factory: Callable[..., SimThread], at_pin: OptionsModel) -> None:
    """Rows carry the model's terms; quarterlies are ``month`` in settlement_period, as on Deribit."""
    rows = {r["instrument_name"]: r for r in sim_body(pinned(sim_factory), "get_instruments?currency=BTC&kind="
                                                                           "option")["result"]}
    listed = at_pin.listed("deribit", "BTC", PINNED_MS)
    assert list(rows) == [o.instrument for o in listed]
    for o in listed:
        row = rows[o.instrument]
        assert (row["strike"], row["option_type"], row["expiration_timestamp"], row["contract_size"]) == (
            o.strike, o.option_type, o.expiry_ms, 1.0)
        assert (row["quote_currency"], row["settlement_currency"], row["instrument_type"]) == ("BTC", "BTC",
                                                                                              "reversed")
        assert row["settlement_period"] == {"quarter": "month"}.get(o.period, o.period)
    assert {r["settlement_period"] for r in rows.values()} == {"day", "week", "month"}


def test_option_book_summary_shape(sim: SimThread, payload: Payload) -> None:
    """The docs example row is an option: every simulated option row has its fields and types."""
    real = payload("deribit__rest_get_book_summary_by_currency__docs.json")["cases"][0]["raw"]
    for currency in ("BTC", "ETH"):
        body = sim_body(sim, f"get_book_summary_by_currency?currency={currency}&kind=option")
        assert len(body["result"]) > 300
        assert shape_differences(body, real, optional=NO_ID, loose_types=NULLABLE) == []
        assert all(isinstance(r["mark_iv"], float) for r in body["result"])
    assert sim_body(sim, "get_book_summary_by_currency?currency=USDC&kind=option")["result"] == []


def test_option_ticker_shape(sim: SimThread, payload: Payload) -> None:
    """An option's ticker has every field of the real ws option tickers (greeks, bid/ask IV, stats)."""
    atm = max(sim_body(sim, "get_book_summary_by_currency?currency=BTC&kind=option")["result"],
              key=lambda r: r["volume"])["instrument_name"]
    body = sim_body(sim, f"ticker?instrument_name={atm}")
    for case in payload("deribit__ws_ticker__capture.json")["cases"]:
        assert shape_differences(body["result"], case["raw"]["params"]["data"]) == []
    assert set(body["result"]["greeks"]) == {"delta", "gamma", "vega", "theta", "rho"}


def test_trades_shape(sim: SimThread, payload: Payload) -> None:
    real = payload("deribit__rest_get_last_trades_by_currency__docs.json")["cases"][0]["raw"]
    end = sim.model.now_ms()
    body = sim_body(sim, f"get_last_trades_by_currency?currency=BTC&kind=option&start_timestamp={end - DAY_MS}"
                         f"&end_timestamp={end}&count=1000&sorting=desc")
    trades = body["result"]["trades"]
    assert len(trades) > 100 and body["result"]["has_more"] is False
    assert shape_differences(body, real, optional=NO_ID) == []
    assert [t["timestamp"] for t in trades] == sorted((t["timestamp"] for t in trades), reverse=True)
    blocks = [t for t in trades if "block_trade_id" in t]
    assert blocks and all(isinstance(t["block_trade_id"], str) for t in blocks)


def test_volatility_shapes(sim: SimThread, payload: Payload) -> None:
    end = sim.model.now_ms()
    dvol = sim_body(sim, f"get_volatility_index_data?currency=BTC&start_timestamp={end - 10 * DAY_MS}"
                         f"&end_timestamp={end}&resolution=1D")
    real = payload("deribit__rest_get_volatility_index_data__docs.json")["cases"][0]["raw"]
    assert shape_differences(dvol, real, optional=NO_ID) == []
    assert len(dvol["result"]["data"]) == 10 and dvol["result"]["continuation"] is None
    hv = sim_body(sim, "get_historical_volatility?currency=ETH")
    real = payload("deribit__rest_get_historical_volatility__docs.json")["cases"][0]["raw"]
    assert shape_differences(hv, real, optional=NO_ID) == []
    assert len(hv["result"]) == 16 * 24


@pytest.mark.parametrize(("query", "param", "reason"), [
    ("get_last_trades_by_currency?currency=BTC&kind=option&count=1001", "count", "must be between 1 and 1000"),
    ("get_last_trades_by_currency?currency=SOL&kind=option", "currency", "must be one of BTC, ETH, USDC, USDT, EURR"),
    ("get_last_trades_by_currency?currency=BTC&sorting=newest", "sorting", "must be one of asc, desc, default"),
    ("get_volatility_index_data?currency=SOL&start_timestamp=1&end_timestamp=2&resolution=1D", "currency",
     "must be one of BTC, ETH"),
    ("get_volatility_index_data?currency=BTC&start_timestamp=1&end_timestamp=2&resolution=1W", "resolution",
     "must be one of 1, 60, 3600, 43200, 1D"),
    ("get_volatility_index_data?currency=BTC&end_timestamp=2&resolution=1D", "start_timestamp", "missing"),
    ("get_historical_volatility?currency=USDC", "currency", "must be one of BTC, ETH"),
    ("get_book_summary_by_currency?currency=BTC&kind=options", "kind",
     "must be one of future, option, spot, future_combo, option_combo"),
    ("ticker?instrument_name=BTC-1JAN20-1000-C", "instrument_name", "wrong format"),
])
def test_bad_parameters_are_invalid_params(sim: SimThread, query: str, param: str, reason: str) -> None:
    with pytest.raises(HTTPError) as err:
        sim_body(sim, query)
    assert err.value.code == 400
    assert json.loads(err.value.read())["error"] == {"code": -32602, "message": "Invalid params",
                                                     "data": {"reason": reason, "param": param}}


# --- (b) the real adapter against the sim ------------------------------------------------------------------


def check_chain(items: list[OptionQuote], model: OptionsModel, asset: str, now_ms: int) -> None:
    """The adapter's chain equals the model's at ``now_ms``: every listed option (expiries and strikes complete,
    in order), marks and IVs to 1e-12 (the sim sends the model's floats unrounded; USD is recomputed from the
    coin price), OI and volume exactly."""
    want = model.chain("deribit", asset, now_ms)
    assert [q.symbol for q in items] == [w.option.instrument for w in want]
    index = model.market.index_price(asset, now_ms)
    for q, w in zip(items, want, strict=True):
        o = w.option
        assert (q.venue, q.asset, q.strike, q.is_call, q.settle) == ("deribit", asset, o.strike, o.is_call, asset)
        assert (q.expiry, q.time) == (ms_to_utc(o.expiry_ms), ms_to_utc(now_ms))
        assert (q.contract_size, q.open_interest, q.volume) == (1.0, w.open_interest, w.volume_24h)
        assert q.underlying_price == w.underlying_price and q.index_price == index
        assert q.mark_price_coin == w.mark_price_coin  # as sent
        assert q.mark_price_usd == pytest.approx(w.mark_price_usd, rel=1e-12)
        assert q.mark_iv == pytest.approx(w.mark_iv, rel=1e-12)  # 100 x, then / 100
        assert q.ask_price_usd == pytest.approx(w.ask_price_coin * w.underlying_price, rel=1e-15)
        if w.bid_price_coin is None:
            assert q.bid_price_usd is None
        else:
            assert q.bid_price_usd == pytest.approx(w.bid_price_coin * w.underlying_price, rel=1e-15)
        # the book summary has no greeks and no bid/ask IV
        assert (q.bid_iv, q.ask_iv, q.delta, q.gamma, q.vega, q.theta) == (None,) * 6


def test_chain_matches_model_in_one_round(sim_factory: Callable[..., SimThread], tmp_path: Path,
                                          at_pin: OptionsModel) -> None:
    """A cold cache: the option list, the book summary and the index at once (one round: requests all in
    flight before any is answered, not three); warm: two requests, one round. The sim holds a round's answers
    until its requests have arrived, so the rounds are what the adapter sent together however slow the machine."""
    log = tmp_path / "requests.jsonl"
    sim = pinned(sim_factory, log_requests=str(log), hold=(3, 2))

    async def run(pool: VenuePool) -> list[Answer[OptionQuote]]:
        return [await deribit(pool).fetch_option_chain("BTC"), await deribit(pool).fetch_option_chain("BTC")]

    cold, warm = run_at(sim.settings(tmp_path), PINNED_MS, run)
    assert cold.errors == [] and warm.items == cold.items
    check_chain(cold.items, at_pin, "BTC", PINNED_MS)
    assert len({q.expiry for q in cold.items}) == len(at_pin.expiries("deribit", "BTC", PINNED_MS)) == 11
    summary, index = "/api/v2/public/get_book_summary_by_currency", "/api/v2/public/get_index_price"
    assert [[p.split("?")[0] for p in r] for r in sim.rounds()] == [
        [summary, index, "/api/v2/public/get_instruments"], [summary, index]]
    assert sim.flight.timed_out == 0
    assert logged(log, "get_instruments") == [{"currency": ["BTC"], "kind": ["option"], "expired": ["false"]}]
    assert logged(log, "get_book_summary_by_currency") == [{"currency": ["BTC"], "kind": ["option"]}] * 2
    assert logged(log, "get_index_price") == [{"index_name": ["btc_usd"]}] * 2


def test_eth_chain_units(sim_factory: Callable[..., SimThread], tmp_path: Path, at_pin: OptionsModel) -> None:
    sim = pinned(sim_factory)
    answer = run_at(sim.settings(tmp_path), PINNED_MS, lambda pool: deribit(pool).fetch_option_chain("ETH"))
    check_chain(answer.items, at_pin, "ETH", PINNED_MS)
    for q in answer.items:  # prices per one coin: USD = coin x the expiry's forward; IVs as fractions
        assert q.mark_price_coin is not None
        assert q.mark_price_usd == pytest.approx(q.mark_price_coin * q.underlying_price, rel=1e-15)
        assert q.mark_iv is not None and 0.1 <= q.mark_iv < 3.0
        assert "ETH price x underlying_price (the expiry's forward)" in q.price_note


def test_options_listed_since_the_list_was_cached(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    """The cached list (an hour's TTL) lacks the daily listed at the next 08:00: the book summary names it, so
    the list is asked again and the chain is complete."""
    log = tmp_path / "requests.jsonl"
    sim = pinned(sim_factory, log_requests=str(log))
    settings = sim.settings(tmp_path)
    run_at(settings, PINNED_MS, lambda pool: deribit(pool).fetch_option_chain("BTC"))
    later = PINNED_MS + DAY_MS  # Thursday 11:23: Thursday's daily expired, a new one listed at 08:00
    sim.model._now_ms = later  # the sim's clock (injected), moved on
    answer = run_at(settings, later, lambda pool: deribit(pool).fetch_option_chain("BTC"))
    assert answer.errors == []
    check_chain(answer.items, OptionsModel(MarketModel(7, now_ms=later)), "BTC", later)
    # the first run's cold list; the second run reads it from the cache, finds it stale and asks again
    assert len(logged(log, "get_instruments")) == 2
    assert len(logged(log, "get_book_summary_by_currency")) == 2


def test_asset_without_options_is_empty(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    """SOL's options would be linear ones under currency=USDC: the simulated Deribit lists none."""
    log = tmp_path / "requests.jsonl"
    sim = pinned(sim_factory, log_requests=str(log))
    answer = run_at(sim.settings(tmp_path), PINNED_MS, lambda pool: deribit(pool).fetch_option_chain("SOL"))
    assert (answer.items, answer.errors) == ([], [])
    assert logged(log, "get_book_summary_by_currency") == [{"currency": ["USDC"], "kind": ["option"]}]


@pytest.mark.parametrize("method", ["get_book_summary_by_currency", "get_instruments"])
def test_failed_core_endpoint_raises(sim_factory: Callable[..., SimThread], tmp_path: Path, method: str) -> None:
    sim = pinned(sim_factory, faults=Faults(endpoints={("deribit", REST + method): 500}))
    with pytest.raises(VenueError) as err:
        run_at(sim.settings(tmp_path, retries=0), PINNED_MS, lambda pool: deribit(pool).fetch_option_chain("BTC"))
    assert err.value.status == 500


def test_failed_index_is_reported_and_the_chain_served(sim_factory: Callable[..., SimThread], tmp_path: Path,
                                                       at_pin: OptionsModel) -> None:
    sim = pinned(sim_factory, faults=Faults(endpoints={("deribit", REST + "get_index_price"): 500}))
    answer = run_at(sim.settings(tmp_path, retries=0), PINNED_MS,
                    lambda pool: deribit(pool).fetch_option_chain("BTC"))
    check_chain(answer.items, at_pin, "BTC", PINNED_MS)  # the index from estimated_delivery_price (the same)
    (error,) = answer.errors
    assert isinstance(error, VenueError) and error.status == 500 and "index_name=btc_usd" in str(error)


def test_venue_fault_fails_every_call(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    sim = pinned(sim_factory, faults={"deribit": "500"})
    end = ms_to_utc(PINNED_MS)

    async def run(pool: VenuePool) -> list[BaseException | Any]:
        a = deribit(pool)
        return list(await asyncio.gather(
            a.fetch_option_chain("BTC"), a.fetch_option_trades("BTC", end - timedelta(hours=1), end),
            a.fetch_vol_index("BTC", end - timedelta(days=30), end),
            a.fetch_realized_vol("BTC", end - timedelta(days=1), end), return_exceptions=True))

    for failed in run_at(sim.settings(tmp_path, retries=0), PINNED_MS, run):
        assert isinstance(failed, VenueError) and failed.status == 500


# --- trades, DVOL, realized volatility ------------------------------------------------------------------------


def check_trades(items: list[OptionTrade], model: OptionsModel, asset: str, start_ms: int, end_ms: int) -> None:
    want = model.trades("deribit", asset, start_ms, end_ms)
    assert [t.trade_id for t in items] == [w.trade_id for w in want]
    for t, w in zip(items, want, strict=True):
        assert (t.symbol, t.asset, t.time, t.side) == (w.instrument, asset, ms_to_utc(w.ts_ms), w.direction)
        assert (t.expiry, t.strike, t.is_call) == (ms_to_utc(w.option.expiry_ms), w.option.strike, w.option.is_call)
        assert (t.amount, t.contract_size, t.index_price) == (w.amount, 1.0, w.index_price)
        # the coin price x the trade's index; the model's price_usd is the coin price x the forward
        assert t.price_usd == pytest.approx(w.price * w.index_price, rel=1e-15)
        forward = model.forward("deribit", asset, w.option.expiry_ms, w.ts_ms)
        assert t.price_usd / w.index_price * forward == pytest.approx(w.price_usd, rel=1e-12)
        assert t.iv == pytest.approx(w.iv / 100, rel=1e-15)
        assert t.block is (w.block_trade_id is not None)


def test_trades_match_model(sim_factory: Callable[..., SimThread], tmp_path: Path, at_pin: OptionsModel) -> None:
    log = tmp_path / "requests.jsonl"
    sim = pinned(sim_factory, log_requests=str(log))
    end = ms_to_utc(PINNED_MS)
    start = end - timedelta(hours=24)
    answer = run_at(sim.settings(tmp_path), PINNED_MS,
                    lambda pool: deribit(pool).fetch_option_trades("ETH", start, end))
    assert answer.errors == []
    check_trades(answer.items, at_pin, "ETH", utc_to_ms(start), PINNED_MS)
    assert 100 < len(answer.items) < 1000 and any(t.block for t in answer.items)
    (asked,) = logged(log, "get_last_trades_by_currency")
    assert asked == {"currency": ["ETH"], "kind": ["option"], "start_timestamp": [str(utc_to_ms(start))],
                     "end_timestamp": [str(PINNED_MS)], "count": ["1000"], "sorting": ["desc"]}


def test_trades_beyond_one_page_keep_the_newest(sim_factory: Callable[..., SimThread], tmp_path: Path,
                                                at_pin: OptionsModel, caplog: pytest.LogCaptureFixture) -> None:
    """Three days of BTC trades are more than a page: the newest 1,000 arrive and a log line says so."""
    sim = pinned(sim_factory)
    end = ms_to_utc(PINNED_MS)
    with caplog.at_level(logging.INFO, logger="dtrack.venues.deribit.adapter"):
        answer = run_at(sim.settings(tmp_path), PINNED_MS,
                        lambda pool: deribit(pool).fetch_option_trades("BTC", end - timedelta(days=3), end))
    assert len(answer.items) == 1000 and answer.errors == []
    check_trades(answer.items, at_pin, "BTC", utc_to_ms(answer.items[0].time), PINNED_MS)
    assert len(at_pin.trades("deribit", "BTC", PINNED_MS - 3 * DAY_MS, PINNED_MS)) > 1000
    assert "more than 1000 BTC option trades" in caplog.text


def expected_dvol(model: OptionsModel, asset: str, start_ms: int, end_ms: int) -> list[VolPoint]:
    """The model's daily DVOL closes (each day's value at its end; the open day at now) as fractions."""
    first = -(-start_ms // DAY_MS) * DAY_MS
    def point(t: int) -> VolPoint:
        return VolPoint(venue="deribit", symbol=f"{asset}-DVOL", time=ms_to_utc(t), value=model.dvol(asset, t) / 100,
                        received_at=ms_to_utc(end_ms))

    return [*(point(t) for t in range(first, end_ms + 1, DAY_MS)), point(end_ms)]


@pytest.mark.parametrize(("days", "requests"), [(366, 1), (1500, 2)])
def test_dvol_matches_model(sim_factory: Callable[..., SimThread], tmp_path: Path, at_pin: OptionsModel,
                            days: int, requests: int) -> None:
    log = tmp_path / "requests.jsonl"
    sim = pinned(sim_factory, log_requests=str(log))
    end = ms_to_utc(PINNED_MS)
    start = end - timedelta(days=days)
    points = run_at(sim.settings(tmp_path), PINNED_MS, lambda pool: deribit(pool).fetch_vol_index("BTC", start, end))
    want = expected_dvol(at_pin, "BTC", utc_to_ms(start), PINNED_MS)
    assert len(points) == days + 1
    assert [p.time for p in points] == [p.time for p in want]
    assert [p.value for p in points] == pytest.approx([p.value for p in want], rel=1e-12)
    asked = logged(log, "get_volatility_index_data")
    assert len(asked) == requests and all(q["resolution"] == ["1D"] and q["currency"] == ["BTC"] for q in asked)


def test_dvol_keeps_the_open_day_at_a_clock_reading_past_the_millisecond(
        sim_factory: Callable[..., SimThread], tmp_path: Path, at_pin: OptionsModel) -> None:
    """The query's end (and the clock) 0.7 ms past a millisecond: the open day's point, stamped at that millisecond,
    is inside the window (milliseconds were rounded: half of all clock readings lost today's DVOL, and ``vol``
    flipped between it and yesterday's close)."""
    sim = pinned(sim_factory)
    end = ms_to_utc(PINNED_MS) + timedelta(microseconds=700)
    start = end - timedelta(days=3)

    async def main() -> tuple[VolPoint, ...]:
        async with open_pool(sim.settings(tmp_path), now=lambda: end) as pool:
            return await deribit(pool).fetch_vol_index("BTC", start, end)

    points = asyncio.run(main())
    want = expected_dvol(at_pin, "BTC", utc_to_ms(start), PINNED_MS)
    assert points[-1].time == ms_to_utc(PINNED_MS) == want[-1].time
    assert points[-1].value == pytest.approx(want[-1].value, rel=1e-12)
    assert utc_to_ms(end) == PINNED_MS  # floored, never the next millisecond


def test_dvol_follows_continuation(sim_factory: Callable[..., SimThread], tmp_path: Path,
                                  at_pin: OptionsModel) -> None:
    """With answers capped at 100 candles, a year still arrives whole by following ``continuation``."""
    log = tmp_path / "requests.jsonl"
    sim = pinned(sim_factory, log_requests=str(log),
                 faults=Faults(page_caps={("deribit", REST + "get_volatility_index_data"): 100}))
    end = ms_to_utc(PINNED_MS)
    start = end - timedelta(days=366)
    points = run_at(sim.settings(tmp_path), PINNED_MS, lambda pool: deribit(pool).fetch_vol_index("ETH", start, end))
    want = expected_dvol(at_pin, "ETH", utc_to_ms(start), PINNED_MS)
    assert [p.time for p in points] == [p.time for p in want]
    assert [p.value for p in points] == pytest.approx([p.value for p in want], rel=1e-12)
    assert len(logged(log, "get_volatility_index_data")) == 4  # 367 candles, 100 per answer


def test_realized_vol_matches_model(sim_factory: Callable[..., SimThread], tmp_path: Path,
                                    at_pin: OptionsModel) -> None:
    sim = pinned(sim_factory)
    end = ms_to_utc(PINNED_MS)
    start = end - timedelta(days=7)
    points = run_at(sim.settings(tmp_path), PINNED_MS,
                    lambda pool: deribit(pool).fetch_realized_vol("BTC", start, end))
    want = at_pin.historical_volatility("BTC", utc_to_ms(start), PINNED_MS)
    assert [utc_to_ms(p.time) for p in points] == [t for t, _ in want] and len(points) == 7 * 24
    assert [p.value for p in points] == pytest.approx([v / 100 for _, v in want], rel=1e-12)
    assert points[-1].time == ms_to_utc(PINNED_MS // HOUR_MS * HOUR_MS)


def test_no_dvol_or_realized_vol_beyond_btc_and_eth(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    sim = pinned(sim_factory, log_requests=str(log))
    end = ms_to_utc(PINNED_MS)

    async def run(pool: VenuePool) -> list[BaseException | Any]:
        a = deribit(pool)
        return list(await asyncio.gather(a.fetch_vol_index("SOL", end - timedelta(days=30), end),
                                         a.fetch_realized_vol("SOL", end - timedelta(days=1), end),
                                         return_exceptions=True))

    dvol, rv = run_at(sim.settings(tmp_path), PINNED_MS, run)
    assert isinstance(dvol, UnsupportedError) and "no DVOL for SOL (Deribit publishes it for BTC and ETH)" in str(dvol)
    assert isinstance(rv, UnsupportedError) and "no realized volatility for SOL" in str(rv)
    assert not log.exists() or log.read_text() == ""  # nothing asked


def test_dvol_today_is_the_open_day_at_the_query_end(sim_factory: Callable[..., SimThread], tmp_path: Path,
                                                      at_pin: OptionsModel) -> None:
    """The adapter's clock reads later than the query's end (as it does once requests are in flight): the
    latest point is still today's DVOL, stamped at the end, never dropped in favour of yesterday's close."""
    sim = pinned(sim_factory)
    end = ms_to_utc(PINNED_MS)
    points = run_at(sim.settings(tmp_path), PINNED_MS + 5_000,
                    lambda pool: deribit(pool).fetch_vol_index("BTC", end - timedelta(days=10), end))
    assert points[-1].time == end
    assert points[-1].value == pytest.approx(at_pin.dvol("BTC", PINNED_MS) / 100, rel=1e-12)
    assert points[-2].time == ms_to_utc(PINNED_MS // DAY_MS * DAY_MS)  # yesterday's close before it
