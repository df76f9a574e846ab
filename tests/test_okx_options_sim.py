"""OKX options: the simulated OKX option endpoints against the real captures (shapes) and OKX's parameter rules,
and the real adapter over real sockets against the simulator: the chain and the trades equal the options
model's, units and conversions (checked with an independent Black-76), one round of requests, the option list
asked again when it is stale, rows that are missing, and faults (core endpoints raise, enrichments go to errors).

Float tolerances: the simulator writes every number as the exact decimal of a float, so fields read as sent
compare exactly; a USD price is the coin price times the forward, one multiplication away from the model's
USD price (1e-12 relative); the independent Black-76 (statistics.NormalDist) agrees to 1e-9 relative.
"""

from __future__ import annotations

import json
import math
import urllib.error
from collections.abc import Callable
from datetime import UTC, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

import pytest

from dtrack.errors import ParseError, VenueError
from dtrack.net.http import RateLimit
from dtrack.records import OptionQuote, OptionTrade
from dtrack.sim.model import DAY_MS, MarketModel
from dtrack.sim.options import OptionsModel, SimOptionQuote
from dtrack.sim.server import SimHttpError, SimRequest, load_routes
from dtrack.venues.base import Answer
from dtrack.venues.fields import ms_to_utc
from dtrack.venues.okx import api
from dtrack.venues.okx.adapter import OkxAdapter
from dtrack.venues.pool import VenuePool
from shapes import shape_differences
from test_okx_sim import MODEL, NOW, NOW_MS, _case, _get_json, _okx, _requests, _run, _serve_modified, start_pinned

N = NormalDist()
OPTIONS = OptionsModel(MODEL)
CAPTURE = "okx__rest_public_instruments__capture.json"


@pytest.fixture
def pinned(sim_factory: Callable[..., Any], tmp_path: Path) -> Any:
    """A simulator whose market clock is ``NOW``, logging requests to tmp_path/requests.jsonl."""
    return start_pinned(sim_factory, tmp_path)


def _chain(asset: str) -> Callable[[VenuePool], Any]:
    return lambda pool: _okx(pool).fetch_option_chain(asset)


def _model_chain(asset: str) -> list[SimOptionQuote]:
    return OPTIONS.chain("okx", asset, NOW_MS)


def _failing(status: int, code: str) -> Callable[[SimRequest], Any]:
    def handler(req: SimRequest) -> Any:
        raise SimHttpError(status, {"code": code, "msg": "System error, try again later", "data": []})
    return handler


def _black76_usd(forward: float, strike: float, years: float, vol: float, call: bool) -> float:
    sd = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + sd * sd / 2) / sd
    if call:
        return forward * N.cdf(d1) - strike * N.cdf(d1 - sd)
    return strike * N.cdf(sd - d1) - forward * N.cdf(-d1)


# --- (a) the simulated endpoints: real shapes and OKX's parameter rules ----------------------------


@pytest.mark.parametrize("family", ["BTC-USD", "ETH-USD"])
def test_sim_option_instruments_shape_matches_capture(sim: Any, payload: Any, family: str) -> None:
    real = _case(payload(CAPTURE), f"instType=OPTION&uly={family}")["raw"]
    base = sim.venue_urls()["okx"]["rest"] + "/api/v5/public/instruments?instType=OPTION"
    body = _get_json(f"{base}&instFamily={family}")
    assert body["data"] and shape_differences(body, real) == []
    assert _get_json(f"{base}&uly={family}") == body  # the capture asked with uly=
    # the contract terms of the real rows: ctVal 1 x ctMult (0.1 BTC, 1 ETH), ticks of 0.0005 coin, lots of 1
    terms = {(r["ctVal"], r["ctMult"], r["ctValCcy"], r["tickSz"], r["lotSz"], r["settleCcy"]) for r in real["data"]}
    assert {(r["ctVal"], r["ctMult"], r["ctValCcy"], r["tickSz"], r["lotSz"], r["settleCcy"])
            for r in body["data"]} == terms


def test_sim_option_tickers_oi_and_trades_shapes(sim: Any, payload: Any) -> None:
    """Option tickers against a recorded tickers row (REST and WebSocket rows are the same), option OI against
    ccxt's recorded open-interest answer, option-trades against ccxt's recorded trades answer (the keys they
    share; option-trades adds fillVol, fwdPx, idxPx, markPx, optType, instFamily). No real capture of
    opt-summary or of option mark prices exists."""
    base = sim.venue_urls()["okx"]["rest"]
    ticker_row = next(c["raw"]["data"][0] for c in payload("okx__ws_tickers__capture.json")["cases"]
                      if c["raw"]["data"][0]["instType"] == "FUTURES")
    tickers = _get_json(base + "/api/v5/market/tickers?instType=OPTION&instFamily=BTC-USD")["data"]
    assert tickers and {r["instType"] for r in tickers} == {"OPTION"}
    assert all(shape_differences(r, ticker_row) == [] for r in tickers)
    assert any(r["bidPx"] == "" for r in tickers)  # far out of the money nobody bids
    oi = _get_json(base + "/api/v5/public/open-interest?instType=OPTION&instFamily=ETH-USD")
    assert oi["data"] and shape_differences(oi, payload("okx__ccxt_fetchOpenInterest.json")["cases"][0]["raw"]) == []
    trades = _get_json(base + "/api/v5/public/option-trades?instFamily=BTC-USD")
    assert len(trades["data"]) == api.OPTION_TRADES_KEPT
    assert shape_differences(trades, payload("okx__ccxt_fetchTrades.json")["cases"][0]["raw"]) == []


def test_sim_opt_summary_coin_greeks_follow_okx_relations(pinned: Any) -> None:
    """opt-summary's coin greeks relate to the Black-Scholes ones and the coin mark as OKX's documented example
    does (delta = deltaBS - markPx; gamma = fwdPx x gammaBS - 2 delta; vega = vegaBS / fwdPx)."""
    base = pinned.venue_urls()["okx"]["rest"]
    rows = _get_json(base + "/api/v5/public/opt-summary?instFamily=BTC-USD")["data"]
    marks = {r["instId"]: float(r["markPx"]) for r in
             _get_json(base + "/api/v5/public/mark-price?instType=OPTION&instFamily=BTC-USD")["data"]}
    assert rows and {r["instId"] for r in rows} == set(marks)
    for r in rows:
        f, delta = float(r["fwdPx"]), float(r["delta"])
        assert delta == pytest.approx(float(r["deltaBS"]) - marks[r["instId"]], abs=1e-12)
        assert float(r["gamma"]) == pytest.approx(f * float(r["gammaBS"]) - 2 * delta, abs=1e-9)
        assert float(r["vega"]) == pytest.approx(float(r["vegaBS"]) / f, rel=1e-12)


def _http_error(url: str) -> tuple[int, Any]:
    with pytest.raises(urllib.error.HTTPError) as err:
        _get_json(url)
    return err.value.code, json.load(err.value)["code"]


def test_sim_option_parameter_rules(pinned: Any) -> None:
    base = pinned.venue_urls()["okx"]["rest"]
    assert _http_error(base + "/api/v5/public/instruments?instType=OPTION") == (400, "50014")
    assert _http_error(base + "/api/v5/public/opt-summary") == (400, "50014")
    assert _http_error(base + "/api/v5/public/option-trades") == (400, "50014")
    assert _http_error(base + "/api/v5/public/opt-summary?instFamily=BTC-USD&expTime=2611") == (400, "51000")
    assert _http_error(base + "/api/v5/public/option-trades?instFamily=BTC-USD&optType=X") == (400, "51000")
    assert _get_json(base + "/api/v5/public/option-trades?instId=BTC-USD-991231-1-C")["code"] == "51001"
    marks = "/api/v5/public/mark-price?instType=OPTION&instFamily=BTC-USD"
    assert _get_json(f"{base}{marks}&instId=NOPE")["code"] == "51001"
    # a family without options answers no rows
    for path in ("/api/v5/public/instruments?instType=OPTION&instFamily=SOL-USD",
                 "/api/v5/public/opt-summary?instFamily=SOL-USD", "/api/v5/public/option-trades?instFamily=XRP-USD"):
        assert _get_json(base + path) == {"code": "0", "msg": "", "data": []}
    # filters: expTime picks one expiry, optType one side, instId one option
    expiry = OPTIONS.expiries("okx", "BTC", NOW_MS)[1]
    day = ms_to_utc(expiry).strftime("%y%m%d")
    rows = _get_json(base + f"/api/v5/public/opt-summary?instFamily=BTC-USD&expTime={day}")["data"]
    assert rows and {r["instId"].split("-")[2] for r in rows} == {day}
    puts = _get_json(base + "/api/v5/public/option-trades?instFamily=BTC-USD&optType=P")["data"]
    assert puts and {r["optType"] for r in puts} == {"P"} and all(r["instId"].endswith("-P") for r in puts)
    one = puts[0]["instId"]
    assert {r["instId"] for r in _get_json(base + f"/api/v5/public/option-trades?instId={one}")["data"]} == {one}


# --- (b) the adapter against the simulator ---------------------------------------------------------


def _assert_quote(q: OptionQuote, m: SimOptionQuote, index: float) -> None:
    o = m.option
    assert (q.venue, q.symbol, q.asset, q.strike, q.is_call, q.settle) == ("okx", o.instrument, o.asset, o.strike,
                                                                           o.is_call, o.settle)
    assert q.expiry == ms_to_utc(o.expiry_ms) and q.expiry.tzinfo is UTC and q.expiry.hour == 8
    assert q.time == NOW and q.contract_size == o.contract_size
    assert q.underlying_price == m.underlying_price and q.index_price == index
    assert q.mark_price_coin == m.mark_price_coin
    assert q.mark_price_usd == pytest.approx(m.mark_price_usd, rel=1e-12)
    assert q.ask_price_usd == pytest.approx(m.ask_price_usd, rel=1e-12)
    if m.bid_price_usd is None:
        assert q.bid_price_usd is None and q.bid_iv is None
    else:
        assert q.bid_price_usd == pytest.approx(m.bid_price_usd, rel=1e-12) and q.bid_iv == m.bid_iv
    assert (q.mark_iv, q.ask_iv) == (m.mark_iv, m.ask_iv)
    assert (q.delta, q.gamma, q.vega, q.theta) == (m.delta, m.gamma, m.vega, m.theta)
    assert (q.open_interest, q.volume) == (m.open_interest, m.volume_24h)
    assert q.price_note.startswith(f"OKX prices in {o.asset}") and "fwdPx" in q.price_note


@pytest.mark.parametrize(("asset", "size"), [("BTC", 0.1), ("ETH", 1.0)])
def test_chain_equals_model(pinned: Any, tmp_path: Path, asset: str, size: float) -> None:
    answer: Answer[OptionQuote] = _run(pinned.settings(tmp_path), _chain(asset))
    assert answer.errors == []
    model = _model_chain(asset)
    assert [q.symbol for q in answer.items] == [m.option.instrument for m in model]
    index = MODEL.index_price(asset, NOW_MS)
    for q, m in zip(answer.items, model, strict=True):
        _assert_quote(q, m, index)
    # every listed expiry and every listed strike, a call and a put at each
    assert sorted({q.expiry for q in answer.items}) == [ms_to_utc(e) for e in OPTIONS.expiries("okx", asset, NOW_MS)]
    listed = {(ms_to_utc(o.expiry_ms), o.strike, o.is_call) for o in OPTIONS.listed("okx", asset, NOW_MS)}
    assert {(q.expiry, q.strike, q.is_call) for q in answer.items} == listed
    assert {q.contract_size for q in answer.items} == {size}


def test_units_with_an_independent_black76(pinned: Any, tmp_path: Path) -> None:
    """IVs are fractions and USD = coin x fwdPx: the USD mark is Black-76 on (fwdPx, strike, markVol), and the
    BS greeks OKX sends are per option, per USD, USD per vol point and USD per day."""
    answer: Answer[OptionQuote] = _run(pinned.settings(tmp_path), _chain("BTC"))
    checked = 0
    for q in answer.items:
        assert q.mark_iv is not None and 0.05 < q.mark_iv < 3.0
        assert q.mark_price_usd == pytest.approx(q.mark_price_coin * q.underlying_price, rel=1e-15)  # type: ignore[operator]
        years = max((q.expiry - NOW).total_seconds() / (365 * 86400), 60 / (365 * 86400))
        reference = _black76_usd(q.underlying_price, q.strike, years, q.mark_iv, q.is_call)
        assert q.mark_price_usd == pytest.approx(reference, rel=1e-9, abs=1e-9 * q.underlying_price)
        if abs(math.log(q.strike / q.underlying_price)) < 0.05:  # near the money: greeks by finite differences
            h = 1e-4 * q.underlying_price
            up = _black76_usd(q.underlying_price + h, q.strike, years, q.mark_iv, q.is_call)
            down = _black76_usd(q.underlying_price - h, q.strike, years, q.mark_iv, q.is_call)
            assert q.delta == pytest.approx((up - down) / (2 * h), abs=1e-6)
            dv = 1e-5
            vol_up = _black76_usd(q.underlying_price, q.strike, years, q.mark_iv + dv, q.is_call)
            vol_down = _black76_usd(q.underlying_price, q.strike, years, q.mark_iv - dv, q.is_call)
            assert q.vega == pytest.approx((vol_up - vol_down) / (2 * dv) / 100, rel=1e-5)  # per vol point
            minute = 60 / (365 * 86400)
            later = _black76_usd(q.underlying_price, q.strike, years - minute, q.mark_iv, q.is_call)
            earlier = _black76_usd(q.underlying_price, q.strike, years + minute, q.mark_iv, q.is_call)
            assert q.theta == pytest.approx((later - earlier) / (2 * minute) / 365, rel=1e-4)  # per day
            checked += 1
    assert checked > 10


def test_chain_is_one_round_and_the_list_comes_from_disk(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    """Cold: six requests in one round (requests all in flight before any is answered); warm: five, one round.
    The sim holds a round's answers until its requests have arrived, so the rounds are what the adapter sent
    together however slow the machine."""
    server = sim_factory(model=MarketModel(seed=7, now_ms=NOW_MS), hold=(6, 5),
                         log_requests=str(tmp_path / "requests.jsonl"))
    settings = server.settings(tmp_path)
    family = "instType=OPTION&instFamily=BTC-USD"
    chain_paths = {f"{api.OPT_SUMMARY}?instFamily=BTC-USD", f"{api.MARK_PRICE}?{family}",
                   f"{api.OPEN_INTEREST}?{family}", f"{api.TICKERS}?{family}", f"{api.INDEX_TICKERS}?instId=BTC-USD"}
    cold = _run(settings, _chain("BTC"))
    assert sorted(_requests(tmp_path)) == sorted(chain_paths | {f"{api.INSTRUMENTS}?{family}"})
    warm = _run(settings, _chain("BTC"))  # the option list from the disk cache: 5 requests
    assert sorted(_requests(tmp_path)[6:]) == sorted(chain_paths)
    assert server.rounds() == [sorted(chain_paths | {f"{api.INSTRUMENTS}?{family}"}), sorted(chain_paths)]
    assert server.flight.timed_out == 0
    assert [q.symbol for q in warm.items] == [q.symbol for q in cold.items] and len(cold.items) > 300


def test_stale_list_is_asked_again(tmp_path: Path) -> None:
    """The cached list lacks options opt-summary names (listed since): the list is asked again, once."""
    routes = load_routes(MODEL, ("okx",))
    instruments = routes.table[("okx", "rest", "GET", api.INSTRUMENTS)]
    calls: list[int] = []

    def stale_first(req: SimRequest) -> Any:
        body = instruments(req)
        calls.append(len(body["data"]))
        if len(calls) == 1:
            body["data"] = body["data"][:-4]
        return body

    routes.add("okx", "rest", "GET", api.INSTRUMENTS, stale_first)
    answer = _serve_modified(tmp_path, routes, _chain("ETH"))
    assert answer.errors == [] and len(calls) == 2
    assert [q.symbol for q in answer.items] == [m.option.instrument for m in _model_chain("ETH")]


def test_asset_without_options_is_empty(pinned: Any, tmp_path: Path) -> None:
    for asset in ("SOL", "PEPE"):
        answer = _run(pinned.settings(tmp_path), _chain(asset))
        assert (answer.items, answer.errors) == ([], [])


def test_missing_rows_keep_the_option(tmp_path: Path) -> None:
    """opt-summary without one option and without a whole expiry, mark-price and tickers without one option:
    every option is served; the missing fields are None; the forward comes from the expiry's other options,
    else the index (said in price_note)."""
    model = _model_chain("BTC")
    lone = model[3].option.instrument
    last_expiry = model[-1].option.expiry_ms
    gone = {m.option.instrument for m in model if m.option.expiry_ms == last_expiry} | {lone}
    routes = load_routes(MODEL, ("okx",))
    for path in (api.OPT_SUMMARY, api.MARK_PRICE, api.TICKERS):
        handler = routes.table[("okx", "rest", "GET", path)]
        drop = gone if path == api.OPT_SUMMARY else {lone}

        def dropping(req: SimRequest, handler: Any = handler, drop: set[str] = drop) -> Any:
            body = handler(req)
            body["data"] = [r for r in body["data"] if r["instId"] not in drop]
            return body

        routes.add("okx", "rest", "GET", path, dropping)
    answer = _serve_modified(tmp_path, routes, _chain("BTC"))
    assert answer.errors == [] and len(answer.items) == len(model)
    by_symbol = {q.symbol: q for q in answer.items}
    q = by_symbol[lone]
    assert (q.mark_iv, q.delta, q.mark_price_coin, q.mark_price_usd, q.bid_price_usd, q.volume) == (
        None, None, None, None, None, 0.0)
    assert q.underlying_price == model[3].underlying_price and "expiry's other options" in q.price_note
    assert q.open_interest == model[3].open_interest
    index = MODEL.index_price("BTC", NOW_MS)
    for m in model:
        if m.option.expiry_ms == last_expiry:
            q = by_symbol[m.option.instrument]
            assert q.mark_iv is None and q.underlying_price == index and "BTC-USD index" in q.price_note
            assert q.mark_price_usd == pytest.approx(m.mark_price_coin * index, rel=1e-12)


# --- trades ------------------------------------------------------------------------------------


def _model_trades() -> list[Any]:
    """The latest 100 non-block trades of the model's BTC tape at NOW, ascending."""
    tape = OPTIONS.trades("okx", "BTC", NOW_MS - 7 * DAY_MS, NOW_MS)
    return [t for t in tape if t.block_trade_id is None][-api.OPTION_TRADES_KEPT:]


def test_trades_equal_model(pinned: Any, tmp_path: Path) -> None:
    start = NOW - timedelta(days=2)
    answer: Answer[OptionTrade] = _run(pinned.settings(tmp_path),
                                       lambda pool: _okx(pool).fetch_option_trades("BTC", start, NOW))
    expected = _model_trades()
    assert answer.errors == [] and len(answer.items) == len(expected) == api.OPTION_TRADES_KEPT
    for t, m in zip(answer.items, expected, strict=True):
        o = m.option
        assert (t.venue, t.symbol, t.asset, t.strike, t.is_call) == ("okx", o.instrument, "BTC", o.strike, o.is_call)
        assert (t.time, t.expiry, t.trade_id) == (ms_to_utc(m.ts_ms), ms_to_utc(o.expiry_ms), m.trade_id)
        assert (t.side, t.amount, t.contract_size, t.block) == (m.direction, m.amount, 0.1, False)
        assert t.price_usd == pytest.approx(m.price_usd, rel=1e-12) and t.index_price == m.index_price
        assert t.iv == pytest.approx(m.iv / 100, rel=1e-15)
        assert t.premium_usd == pytest.approx(m.price_usd * m.amount * 0.1, rel=1e-12)
    # a window inside the latest 100: just those trades
    middle = answer.items[40].time
    inner = _run(pinned.settings(tmp_path), lambda pool: _okx(pool).fetch_option_trades("BTC", middle, NOW))
    assert [t.trade_id for t in inner.items] == [t.trade_id for t in answer.items[40:]]
    assert sorted(set(_requests(tmp_path))) == [f"{api.INSTRUMENTS}?instType=OPTION&instFamily=BTC-USD",
                                                f"{api.OPTION_TRADES}?instFamily=BTC-USD"]


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [api.OPT_SUMMARY, api.INSTRUMENTS])
def test_failed_core_endpoint_raises(tmp_path: Path, path: str) -> None:
    routes = load_routes(MODEL, ("okx",))
    routes.add("okx", "rest", "GET", path, _failing(500, "50001"))
    with pytest.raises(VenueError) as err:
        _serve_modified(tmp_path, routes, _chain("BTC"))
    assert err.value.status == 500


def test_failed_enrichments_are_errors(tmp_path: Path) -> None:
    routes = load_routes(MODEL, ("okx",))
    routes.add("okx", "rest", "GET", api.OPEN_INTEREST, _failing(500, "50001"))
    routes.add("okx", "rest", "GET", api.MARK_PRICE,
               lambda req: {"code": "50026", "msg": "System error, try again later", "data": []})
    routes.add("okx", "rest", "GET", api.INDEX_TICKERS,
               lambda req: {"code": "0", "msg": "", "data": [{"instId": "BTC-USD", "idxPx": "x"}]})
    answer = _serve_modified(tmp_path, routes, _chain("BTC"))
    model = _model_chain("BTC")
    assert len(answer.items) == len(model)
    marks, oi, index = answer.errors
    assert isinstance(marks, VenueError) and marks.code == "50026"
    assert isinstance(oi, VenueError) and oi.status == 500 and api.OPEN_INTEREST in str(oi)
    assert isinstance(index, ParseError) and index.endpoint == api.INDEX_TICKERS
    for q, m in zip(answer.items, model, strict=True):
        assert (q.mark_price_coin, q.mark_price_usd, q.open_interest, q.index_price) == (None, None, 0.0, None)
        assert q.mark_iv == m.mark_iv and q.volume == m.volume_24h


def test_whole_venue_fault_raises(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    server = sim_factory(model=MarketModel(seed=7, now_ms=NOW_MS), faults={"okx": "500"})
    settings = server.settings(tmp_path, retries=0)
    with pytest.raises(VenueError):
        _run(settings, _chain("BTC"))
    with pytest.raises(VenueError):
        _run(settings, lambda pool: _okx(pool).fetch_option_trades("BTC", NOW - timedelta(hours=1), NOW))


def test_bad_trade_row_is_an_error_and_the_rest_serve(tmp_path: Path) -> None:
    routes = load_routes(MODEL, ("okx",))
    trades = routes.table[("okx", "rest", "GET", api.OPTION_TRADES)]

    def one_bad(req: SimRequest) -> Any:
        body = trades(req)
        body["data"][0]["sz"] = "lots"
        return body

    routes.add("okx", "rest", "GET", api.OPTION_TRADES, one_bad)
    answer = _serve_modified(tmp_path, routes,
                             lambda pool: _okx(pool).fetch_option_trades("BTC", NOW - timedelta(days=2), NOW))
    assert len(answer.items) == api.OPTION_TRADES_KEPT - 1
    assert len(answer.errors) == 1 and "field 'sz'" in str(answer.errors[0])


def test_budget_of_the_option_endpoints(tmp_path: Path) -> None:
    from dtrack.config import Settings
    from dtrack.venues.base import VenueContext

    adapter = OkxAdapter(VenueContext(None, Settings(cache_dir=tmp_path), None, lambda: NOW))  # type: ignore[arg-type]
    assert adapter.budget(api.REST, api.OPT_SUMMARY, {"instFamily": "BTC-USD"}) == (
        RateLimit(20, 2.0), f"{api.OPT_SUMMARY}|BTC-USD")
    assert adapter.budget(api.REST, api.OPTION_TRADES, {"instFamily": "BTC-USD"}) == (
        RateLimit(20, 2.0), f"{api.OPTION_TRADES}|")
    assert adapter.budget(api.REST, api.MARK_PRICE, {"instType": "OPTION", "instFamily": "BTC-USD"}) == (
        RateLimit(10, 2.0), f"{api.MARK_PRICE}|")
