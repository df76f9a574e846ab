"""The real Binance adapter's options against the simulated Binance options host (eapi) over real sockets,
with the options model as the reference, and the sim's wire shapes against every capture of these endpoints.

The sim is pinned at NOW_MS and so is the adapter's clock. The reference chain is the model's Bybit listing
(OptionsModel has no Binance market; the sim re-dresses that one as Binance's): IVs, open interest and volume
must come back exactly (rel 1e-12, the sim sends full float precision); prices and greeks are checked against
dtrack's own Black-76 on the index (an implementation independent of the sim's) to rel 1e-9; best bid/ask
lie on the tick (within one tick of Black-76 at the bid/ask IV).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dtrack.analytics.options import black76_price, greeks, implied_vol
from dtrack.errors import VenueError
from dtrack.records import OptionQuote
from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel
from dtrack.sim.options import OptionsModel, SimOptionQuote
from dtrack.sim.venues import binance as binance_sim
from dtrack.venues.binance import parse
from dtrack.venues.fields import ms_to_utc
from dtrack.venues.pool import open_pool
from shapes import shape_differences

EXACT = 1e-12
PRICE = 1e-9
NOW_MS = 1_790_000_000_000  # 2026-09-21 14:13:20 UTC
NOW = ms_to_utc(NOW_MS)
YEAR_MS = 365 * DAY_MS
ASSETS = ("BTC", "ETH", "SOL")


def run_at(settings, fn, now_ms: int = NOW_MS) -> Any:
    async def main() -> Any:
        async with open_pool(settings, now=lambda: ms_to_utc(now_ms)) as pool:
            return await fn(pool.adapter("binance"))

    return asyncio.run(main())


def fetch(base: str, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def eapi_paths(rows: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["path"].split("?")[0] for r in rows if r["host"] == "options")


def reference(model: MarketModel, asset: str) -> dict[str, SimOptionQuote]:
    """The model's quotes behind the sim's Binance chain, by Binance symbol."""
    return {binance_sim.option_symbol(q.option): q for q in OptionsModel(model).chain("bybit", asset, NOW_MS)}


@pytest.fixture
def pinned(sim_factory, tmp_path):
    """A sim pinned at NOW_MS with a request log; settings without retries (faults fail at once)."""
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(log))
    return server, server.settings(tmp_path, retries=0), log


def chain_of(settings, asset: str = "BTC"):
    return run_at(settings, lambda ad: ad.fetch_option_chain(asset))


# --- the chain against the model -------------------------------------------------------------------


def test_chain_equals_the_model_with_explicit_units(pinned) -> None:
    server, settings, _log = pinned
    answer = chain_of(settings)
    assert answer.errors == []
    truth = reference(server.model, "BTC")
    got = {q.symbol: q for q in answer.items}
    assert sorted(got) == sorted(truth) and len(got) > 300
    index = server.model.index_price("BTC", NOW_MS)
    for symbol, want in truth.items():
        q, o = got[symbol], want.option
        assert (q.venue, q.asset, q.strike, q.is_call) == ("binance", "BTC", o.strike, o.is_call)
        assert q.expiry == ms_to_utc(o.expiry_ms) and q.expiry.tzinfo is UTC and q.expiry.hour == 8
        assert q.time == NOW and q.settle == "USDT" and q.contract_size == 1.0
        # Binance prices on its spot index: that is the underlying price, in USD
        assert q.underlying_price == pytest.approx(index, rel=EXACT) and q.index_price == q.underlying_price
        # IVs as fractions, exactly the model's; no bid IV where the model has no bid
        assert q.mark_iv == pytest.approx(want.mark_iv, rel=EXACT)
        assert q.ask_iv == pytest.approx(want.ask_iv, rel=EXACT)
        assert (q.bid_iv is None) == (want.bid_iv is None)
        if want.bid_iv is not None:
            assert q.bid_iv == pytest.approx(want.bid_iv, rel=EXACT)
        # open interest and volume in contracts of one coin
        assert q.open_interest == pytest.approx(want.open_interest, rel=EXACT)
        assert q.volume == pytest.approx(want.volume_24h, rel=EXACT)
        # USD and coin are the same price: coin = USD / underlying
        assert q.mark_price_coin * q.underlying_price == pytest.approx(q.mark_price_usd, rel=EXACT)
        assert "USDT (taken as USD)" in q.price_note and "index" in q.price_note


def test_prices_and_greeks_follow_black76_on_the_index(pinned) -> None:
    _server, settings, _log = pinned
    items: list[OptionQuote] = chain_of(settings).items
    F = np.array([q.underlying_price for q in items])
    K = np.array([q.strike for q in items])
    T = np.array([(q.expiry - NOW).total_seconds() * 1000 / YEAR_MS for q in items])
    iv = np.array([q.mark_iv for q in items])
    call = np.array([q.is_call for q in items])
    mark = np.array([q.mark_price_usd for q in items])
    # an independent Black-76 (dtrack's analytics, not the sim's) reproduces the marks, to 1e-9 of the forward
    np.testing.assert_allclose(mark / F, black76_price(F, K, T, iv, call) / F, rtol=PRICE, atol=PRICE)
    g = greeks(F, K, T, iv, call)
    for name in ("delta", "gamma", "vega", "theta"):
        np.testing.assert_allclose([getattr(q, name) for q in items], getattr(g, name), rtol=PRICE, atol=1e-15)
    # and the mark inverts to the venue's IV wherever the price says anything about the vol
    solved, _why = implied_vol(mark, F, K, T, call)
    informative = np.array([q.vega for q in items]) > 1e-3  # USD per vol point
    assert informative.sum() > 0.5 * len(items)
    np.testing.assert_allclose(solved[informative], iv[informative], atol=1e-6)
    # best bid/ask on the tick (BTC: 5 USDT), the bid below the ask, within a tick of their IVs' prices
    for q in items:
        tick = 5.0
        assert q.ask_price_usd is not None and q.ask_price_usd % tick == 0
        at_ask = float(black76_price(q.underlying_price, q.strike, (q.expiry - NOW).total_seconds() / 31_536_000,
                                     q.ask_iv, q.is_call))
        assert at_ask <= q.ask_price_usd < max(at_ask, 0.0) + tick + 1e-6
        if q.bid_price_usd is not None:
            assert q.bid_price_usd % tick == 0 and q.bid_price_usd < q.ask_price_usd


def test_expiries_and_strikes_are_complete(pinned) -> None:
    server, settings, _log = pinned
    for asset in ASSETS:
        items = chain_of(settings, asset).items
        model_expiries = OptionsModel.expiries("bybit", asset, NOW_MS)
        assert sorted({q.expiry for q in items}) == [ms_to_utc(e) for e in model_expiries]
        assert len(model_expiries) >= 7  # dailies, Fridays, month-ends and quarterlies
        listed = OptionsModel(server.model).listed("bybit", asset, NOW_MS)
        assert {(q.expiry, q.strike, q.is_call) for q in items} == {
            (ms_to_utc(o.expiry_ms), o.strike, o.is_call) for o in listed}
        for expiry in {q.expiry for q in items}:  # a call and a put at every strike
            calls = sorted(q.strike for q in items if q.expiry == expiry and q.is_call)
            puts = sorted(q.strike for q in items if q.expiry == expiry and not q.is_call)
            assert calls == puts and len(calls) >= 5


def test_an_asset_without_options_is_an_empty_answer(pinned) -> None:
    _server, settings, _log = pinned
    answer = chain_of(settings, "PEPE")
    assert answer.items == [] and answer.errors == []


# --- requests and rounds ---------------------------------------------------------------------------


def test_requests_per_chain_and_shared_bulk_answers(pinned) -> None:
    _server, settings, log = pinned

    async def both(ad):
        return await asyncio.gather(ad.fetch_option_chain("BTC"), ad.fetch_option_chain("ETH"))

    btc, eth = run_at(settings, both)
    expiries = len({q.expiry for q in btc.items}) + len({q.expiry for q in eth.items})
    # one exchangeInfo, ONE mark and ONE ticker for both assets, an index each, openInterest per expiry
    assert eapi_paths(logged(log)) == Counter({"/eapi/v1/exchangeInfo": 1, "/eapi/v1/mark": 1, "/eapi/v1/ticker": 1,
                                               "/eapi/v1/index": 2, "/eapi/v1/openInterest": expiries})
    oi = [r["path"] for r in logged(log) if r["path"].startswith("/eapi/v1/openInterest")]
    assert "/eapi/v1/openInterest?underlyingAsset=BTC&expiration=260925" in oi
    # a second query reads the listing from the disk cache
    before = len(logged(log))
    run_at(settings, lambda ad: ad.fetch_option_chain("BTC"))
    assert eapi_paths(logged(log)[before:])["/eapi/v1/exchangeInfo"] == 0
    # the futures listing never reads the options host
    before = len(logged(log))
    contracts = run_at(settings, lambda ad: ad.contracts(["BTC"]))
    assert {c.market for c in contracts} == {"usdm", "coinm"}
    assert eapi_paths(logged(log)[before:]) == Counter()


def test_one_round_with_a_warm_cache_two_when_cold(sim_factory, tmp_path) -> None:
    """Rounds as the sim saw them (a round: requests all in flight together before any was answered). The sim
    holds each round's answers until the round's requests have all arrived, so the rounds are what the adapter
    sent together, however loaded the machine: nothing here depends on how long anything took."""
    model = MarketModel(7, now_ms=NOW_MS)
    expiries = len(OptionsModel(model).expiries("bybit", "BTC", NOW_MS))  # the listing the sim re-dresses
    server = sim_factory(model=model, hold=(4, expiries, 3 + expiries))
    settings = server.settings(tmp_path, retries=0)
    cold = chain_of(settings)
    warm = chain_of(settings)
    assert cold.errors == warm.errors == [] and len(warm.items) == len(cold.items)
    assert len({q.expiry for q in cold.items}) == expiries == 7
    oi = ["/eapi/v1/openInterest"] * expiries
    assert [[p.split("?")[0] for p in r] for r in server.rounds()] == [
        # cold: exchangeInfo with mark, ticker and index, then every expiry's openInterest at once
        # (seven expiries one after another would be eight rounds)
        ["/eapi/v1/exchangeInfo", "/eapi/v1/index", "/eapi/v1/mark", "/eapi/v1/ticker"], oi,
        # warm: the listing from disk, everything in one round
        sorted(["/eapi/v1/index", "/eapi/v1/mark", "/eapi/v1/ticker", *oi])]
    assert server.flight.timed_out == 0


# --- faults ----------------------------------------------------------------------------------------


def test_a_failed_mark_fails_the_chain(pinned) -> None:
    server, settings, _log = pinned
    server.server.faults.endpoints[("binance", "/eapi/v1/mark")] = 500
    with pytest.raises(VenueError, match="/eapi/v1/mark"):
        chain_of(settings)


def test_a_failed_index_fails_the_chain(pinned) -> None:
    server, settings, _log = pinned
    server.server.faults.endpoints[("binance", "/eapi/v1/index")] = 500
    with pytest.raises(VenueError, match="/eapi/v1/index"):
        chain_of(settings)


def test_a_failed_ticker_is_an_error_and_the_chain_is_served(pinned) -> None:
    server, settings, _log = pinned
    server.server.faults.endpoints[("binance", "/eapi/v1/ticker")] = 500
    answer = chain_of(settings)
    assert len(answer.errors) == 1 and "/eapi/v1/ticker" in str(answer.errors[0])
    assert len(answer.items) == len(reference(server.model, "BTC"))
    assert all(q.volume == 0.0 and q.ask_price_usd is None and q.mark_iv is not None for q in answer.items)
    assert sum(q.open_interest for q in answer.items) > 0


def test_failed_open_interest_is_an_error_per_expiry(pinned) -> None:
    server, settings, _log = pinned
    server.server.faults.endpoints[("binance", "/eapi/v1/openInterest")] = 500
    answer = chain_of(settings)
    expiries = {q.expiry for q in answer.items}
    assert len(answer.errors) == len(expiries) and all("openInterest" in str(e) for e in answer.errors)
    assert all(q.open_interest == 0.0 for q in answer.items)
    assert sum(q.volume for q in answer.items) > 0


def test_a_venue_down_raises(sim_factory, tmp_path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), faults={"binance": "500"})
    with pytest.raises(VenueError):
        chain_of(server.settings(tmp_path, retries=0))


def test_a_malformed_listing_row_fails_only_that_option(pinned) -> None:
    server, _settings, _log = pinned
    base = server.venue_urls()["binance"]["options"]
    status, body = fetch(base, "/eapi/v1/exchangeInfo")
    assert status == 200
    rows = body["optionSymbols"]
    bad, pending = rows[0]["symbol"], rows[1]["symbol"]
    rows[0] = {**rows[0], "strikePrice": "-1"}
    rows[1] = {**rows[1], "status": "PENDING_TRADING"}  # not trading: not in the chain
    listing = parse.parse_option_exchange_info(body)
    assert bad not in listing.options and pending not in listing.options
    assert len(listing.options) == len(rows) - 2
    [error] = listing.broken["BTC"]
    assert "strikePrice" in str(error) and "ETH" not in listing.broken
    with pytest.raises(Exception, match="no option row parsed"):
        parse.parse_option_exchange_info({**body, "optionSymbols": [rows[0]]})


# --- block trades ----------------------------------------------------------------------------------


def test_block_trades_match_the_model(pinned) -> None:
    server, settings, log = pinned
    model = server.model
    start = NOW - timedelta(hours=24)
    answer = run_at(settings, lambda ad: ad.fetch_option_trades("BTC", start, NOW))
    assert answer.errors == []
    want = [t for t in OptionsModel(model).trades("bybit", "BTC", NOW_MS - 24 * HOUR_MS, NOW_MS)
            if t.block_trade_id is not None]
    assert len(want) >= 3
    assert [t.symbol for t in answer.items] == [binance_sim.option_symbol(t.option) for t in want]
    index = model.index_price("BTC", NOW_MS)
    for got, t in zip(answer.items, want, strict=True):
        o = t.option
        assert (got.time, got.side, got.block, got.trade_id) == (ms_to_utc(t.ts_ms), t.direction, True, t.trade_id)
        assert got.amount == pytest.approx(t.amount, rel=EXACT) and got.contract_size == 1.0
        assert (got.expiry, got.strike, got.is_call) == (ms_to_utc(o.expiry_ms), o.strike, o.is_call)
        assert got.index_price == pytest.approx(index, rel=EXACT) and got.iv is None
        # priced at the trade's IV on the index of its time, on the tick
        years = (o.expiry_ms - t.ts_ms) / YEAR_MS
        fair = float(black76_price(model.index_price("BTC", t.ts_ms), o.strike, years, t.iv / 100.0, o.is_call))
        assert got.price_usd == pytest.approx(max(fair, o.tick_size), abs=o.tick_size / 2 + 1e-6)
    assert eapi_paths(logged(log)) == Counter({"/eapi/v1/exchangeInfo": 1, "/eapi/v1/blockTrades": 1,
                                               "/eapi/v1/index": 1})
    assert "/eapi/v1/blockTrades?limit=500" in [r["path"] for r in logged(log)]


def test_block_trades_fault_raises(pinned) -> None:
    server, settings, _log = pinned
    server.server.faults.endpoints[("binance", "/eapi/v1/blockTrades")] = 500
    with pytest.raises(VenueError, match="blockTrades"):
        run_at(settings, lambda ad: ad.fetch_option_trades("BTC", NOW - timedelta(hours=24), NOW))


# --- wire formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "capture"), [
    ("/eapi/v1/mark", "binance__ccxt_fetchAllGreeks.json"),
    ("/eapi/v1/mark", "binance-options__rest_mark__docs.json"),
    ("/eapi/v1/ticker", "binance-options__rest_ticker__docs.json"),
    ("/eapi/v1/openInterest?underlyingAsset=BTC&expiration=260925", "binance-options__rest_openInterest__docs.json"),
    ("/eapi/v1/blockTrades", "binance-options__rest_blockTrades__docs.json"),
])
def test_sim_shapes_match_the_captures(sim, payload, path: str, capture: str) -> None:
    real = payload(capture)["cases"][0]["raw"]
    base = sim.venue_urls()["binance"]["options"]
    if "openInterest" in path:  # the default sim runs on the wall clock: ask for its nearest expiry
        status, body = fetch(base, "/eapi/v1/exchangeInfo")
        path = path.replace("260925", str(body["optionSymbols"][0]["symbol"]).split("-")[1])
    status, body = fetch(base, path)
    assert status == 200 and isinstance(body, list) and body
    assert shape_differences(body, real) == []


def test_sim_error_answers(pinned) -> None:
    server, _settings, _log = pinned
    base = server.venue_urls()["binance"]["options"]
    assert fetch(base, "/eapi/v1/mark?symbol=BTC-260925-1-C") == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert fetch(base, "/eapi/v1/index?underlying=PEPEUSDT")[1]["code"] == -1121
    status, body = fetch(base, "/eapi/v1/openInterest?underlyingAsset=BTC")
    assert status == 400 and body["code"] == -1102 and "expiration" in body["msg"]
    status, one = fetch(base, "/eapi/v1/mark?symbol=BTC-260925-95000-P")
    assert status == 200 and [r["symbol"] for r in one] == ["BTC-260925-95000-P"]
    status, rows = fetch(base, "/eapi/v1/blockTrades?limit=2")
    assert status == 200 and len(rows) == 2 and rows[0]["time"] <= rows[1]["time"]
