"""The simulated options market: listings and naming, prices (parity, bounds, an independent Black-76), smile,
open interest, DVOL, realized volatility, trades and speed, with Deribit's conventions checked on a real ticker."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from statistics import NormalDist
from typing import Any

import pytest

from dtrack.sim import calendar as cal
from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel
from dtrack.sim.options import MARKETS, YEAR_MS, OptionsModel, SimOptionQuote

Payload = Callable[[str], dict[str, Any]]
#: a pinned market clock (Wednesday 2026-11-18 11:23:40 UTC), not on a whole hour
PINNED_MS = 1_795_000_000_000 + 17 * 60_000
N = NormalDist()
NAME_PATTERNS = {
    "deribit": r"^{a}-\d{{1,2}}[A-Z]{{3}}\d{{2}}-\d+-[CP]$",
    "okx": r"^{a}-USD-\d{{6}}-\d+-[CP]$",
    "bybit": r"^{a}-\d{{1,2}}[A-Z]{{3}}\d{{2}}-\d+-[CP](-USDT)?$",
}


def model(seed: int = 7, now_ms: int = PINNED_MS) -> OptionsModel:
    return OptionsModel(MarketModel(seed, now_ms))


def black76(forward: float, strike: float, years: float, vol: float, call: bool) -> dict[str, float]:
    """Textbook Black-76 (r = 0) with Deribit's greek units, on statistics.NormalDist (not the code under test)."""
    sd = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + sd * sd / 2) / sd
    d2 = d1 - sd
    price = forward * N.cdf(d1) - strike * N.cdf(d2) if call else strike * N.cdf(-d2) - forward * N.cdf(-d1)
    return {"price": price, "delta": N.cdf(d1) - (0.0 if call else 1.0), "gamma": N.pdf(d1) / (forward * sd),
            "vega": forward * N.pdf(d1) * math.sqrt(years) / 100, "theta": -forward * N.pdf(d1) * vol
            / (2 * math.sqrt(years)) / 365}


def by_expiry(chain: list[SimOptionQuote]) -> dict[int, list[SimOptionQuote]]:
    out: dict[int, list[SimOptionQuote]] = defaultdict(list)
    for q in chain:
        out[q.option.expiry_ms].append(q)
    return dict(out)


def z_score(q: SimOptionQuote) -> float:
    return math.log(q.option.strike / q.underlying_price) / (0.55 * math.sqrt(q.years))


# --- listings ------------------------------------------------------------------------------------


def test_same_seed_same_chain_other_seed_other_chain() -> None:
    a = model().chain("deribit", "BTC", PINNED_MS)
    assert a == model().chain("deribit", "BTC", PINNED_MS)
    other = model(seed=8).chain("deribit", "BTC", PINNED_MS)
    assert [q.mark_iv for q in other[:50]] != [q.mark_iv for q in a[:50]]


def test_deribit_calendar_dailies_fridays_month_ends_quarterlies() -> None:
    expiries = model().expiries("deribit", "BTC", PINNED_MS)
    days = [datetime.fromtimestamp(e / 1000, UTC) for e in expiries]
    assert expiries == sorted(set(expiries)) and all(d.hour == 8 and d.minute == 0 for d in days)
    assert [d.date().isoformat() for d in days[:3]] == ["2026-11-19", "2026-11-20", "2026-11-21"]
    fridays = [d for d in days if d.weekday() == 4]
    last_fridays = [d for d in fridays if (d + timedelta(weeks=1)).month != d.month]
    assert [d.day for d in fridays[:4]] == [20, 27, 4, 11]  # 4 weeklies
    assert [(d.month, d.year) for d in last_fridays[:3]] == [(11, 2026), (12, 2026), (1, 2027)]  # 3 month-ends
    assert [f"{d:%d%b%y}".upper() for d in last_fridays if d.month % 3 == 0] == [
        "25DEC26", "26MAR27", "25JUN27", "24SEP27"]  # 4 quarterlies
    assert len(expiries) == 11


@pytest.mark.parametrize(("venue", "count"), [("deribit", 11), ("okx", 7), ("bybit", 6)])
def test_venue_calendars_sizes(venue: str, count: int) -> None:
    assert len(model().expiries(venue, "BTC", PINNED_MS)) == count


@pytest.mark.parametrize("market", MARKETS, ids=lambda m: f"{m.venue}-{m.asset}")
def test_names_follow_real_naming_and_grid_is_sane(market: Any) -> None:
    om = model()
    listed = om.listed(market.venue, market.asset, PINNED_MS)
    pattern = re.compile(NAME_PATTERNS[market.venue].format(a=market.asset))
    assert all(pattern.match(o.instrument) for o in listed)
    assert len({o.instrument for o in listed}) == len(listed)
    for o in listed[:3]:
        code = cal.yymmdd(o.expiry_ms) if market.venue == "okx" else cal.dmy(o.expiry_ms)
        assert o.instrument.split("-")[2 if market.venue == "okx" else 1] == code
    for expiry, quotes in by_expiry(om.chain(market.venue, market.asset, PINNED_MS)).items():
        strikes = sorted({q.option.strike for q in quotes})
        assert 12 <= len(strikes) <= 45, (expiry, len(strikes))
        assert strikes[0] < quotes[0].underlying_price < strikes[-1]
        assert len(quotes) == 2 * len(strikes)  # a call and a put on every strike
    if market.venue == "deribit" and market.asset == "BTC":
        assert 700 <= len(listed) <= 1000


def test_listing_is_stable_within_the_day_and_rolls_at_0800() -> None:
    om = model()
    before = om.listed("deribit", "BTC", PINNED_MS)
    assert om.listed("deribit", "BTC", PINNED_MS + 20 * HOUR_MS) == before  # 07:23 next day: same listing
    rolled = om.listed("deribit", "BTC", PINNED_MS + 21 * HOUR_MS)  # 08:23: the 19NOV26 options expired
    assert min(o.expiry_ms for o in before) < PINNED_MS + 21 * HOUR_MS < min(o.expiry_ms for o in rolled)
    assert all(o.listed_ms <= PINNED_MS for o in before)


def test_contract_terms_match_the_real_instrument_captures(payload: Payload) -> None:
    om = model()
    okx = payload("okx__rest_public_instruments__capture.json")
    for case in okx["cases"]:
        for row in case["raw"]["data"]:
            if row["instType"] != "OPTION":
                continue
            sim = om.listed("okx", row["uly"].split("-")[0], PINNED_MS)[0]
            assert sim.contract_size == pytest.approx(float(row["ctVal"]) * float(row["ctMult"]), rel=1e-12)
            assert sim.tick_size == pytest.approx(float(row["tickSz"]), rel=1e-12)
            assert sim.min_amount == pytest.approx(float(row["lotSz"]), rel=1e-12)
            assert sim.settle == row["settleCcy"]
    deribit = payload("deribit__rest_get_instruments__capture.json")
    for case in deribit["cases"]:
        row = next(r for r in case["raw"]["result"] if r["kind"] == "option")
        sim = om.listed("deribit", row["base_currency"], PINNED_MS)[0]
        assert (sim.contract_size, sim.tick_size, sim.min_amount) == (
            row["contract_size"], row["tick_size"], row["min_trade_amount"])
        assert sim.settle == row["quote_currency"] and sim.quote == "coin"


# --- prices --------------------------------------------------------------------------------------


def test_black76_reference_reproduces_a_real_deribit_ticker(payload: Payload) -> None:
    """The conventions the sim follows, shown on a real ticker: coin price = Black-76 USD / underlying_price,
    delta N(d1), gamma per USD, vega USD per vol point, theta USD per 365-day day."""
    ticks = payload("deribit__ws_ticker__capture.json")["cases"]
    data = next(c["raw"]["params"]["data"] for c in ticks
                if c["raw"].get("params", {}).get("data", {}).get("instrument_name") == "ETH-30JUL21-2800-C")
    expiry = datetime.strptime("30JUL21", "%d%b%y").replace(hour=8, tzinfo=UTC)
    years = (expiry.timestamp() * 1000 - data["timestamp"]) / YEAR_MS
    ref = black76(data["underlying_price"], 2800.0, years, data["mark_iv"] / 100, True)
    assert ref["price"] / data["underlying_price"] == pytest.approx(data["mark_price"], abs=5e-7)
    for greek in ("delta", "gamma", "vega", "theta"):
        assert ref[greek] == pytest.approx(data["greeks"][greek], rel=2e-3, abs=5e-6), greek  # 5 decimals


@pytest.mark.parametrize("market", MARKETS, ids=lambda m: f"{m.venue}-{m.asset}")
def test_marks_and_greeks_equal_an_independent_black76(market: Any) -> None:
    for q in model().chain(market.venue, market.asset, PINNED_MS):
        ref = black76(q.underlying_price, q.option.strike, q.years, q.mark_iv, q.option.is_call)
        scale = q.underlying_price
        assert q.mark_price_usd == pytest.approx(ref["price"], abs=1e-9 * scale)
        assert q.mark_price_coin * q.underlying_price == pytest.approx(q.mark_price_usd, rel=1e-12)
        assert q.delta == pytest.approx(ref["delta"], abs=1e-9)
        assert q.gamma == pytest.approx(ref["gamma"], rel=1e-7, abs=1e-15)
        assert q.vega == pytest.approx(ref["vega"], rel=1e-7, abs=1e-9)
        assert q.theta == pytest.approx(ref["theta"], rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("market", MARKETS, ids=lambda m: f"{m.venue}-{m.asset}")
def test_put_call_parity_and_no_arbitrage_bounds(market: Any) -> None:
    chain = model().chain(market.venue, market.asset, PINNED_MS)
    pairs: dict[tuple[int, float], dict[bool, SimOptionQuote]] = defaultdict(dict)
    for q in chain:
        pairs[q.option.expiry_ms, q.option.strike][q.option.is_call] = q
    for (_, strike), pair in pairs.items():
        call, put = pair[True], pair[False]
        forward = call.underlying_price
        # C - P = F - K at r = 0, in USD and in the coin
        assert call.mark_price_usd - put.mark_price_usd == pytest.approx(forward - strike, abs=1e-8 * forward)
        assert call.mark_price_coin - put.mark_price_coin == pytest.approx(1 - strike / forward, abs=1e-8)
        assert max(forward - strike, 0.0) - 1e-9 * forward <= call.mark_price_usd <= forward
        assert max(strike - forward, 0.0) - 1e-9 * forward <= put.mark_price_usd <= strike
        assert call.mark_price_usd > 0 and put.mark_price_usd > 0


@pytest.mark.parametrize("market", MARKETS, ids=lambda m: f"{m.venue}-{m.asset}")
def test_book_sits_on_the_tick_around_the_mark(market: Any) -> None:
    chain = model().chain(market.venue, market.asset, PINNED_MS)
    for q in chain:
        tick = q.option.tick_size
        assert q.ask_price / tick == pytest.approx(round(q.ask_price / tick), abs=1e-6)
        assert q.ask_price >= max(q.mark_price, tick) - 1e-12 and q.ask_iv > q.mark_iv
        if q.bid_price is not None:
            assert q.bid_price / tick == pytest.approx(round(q.bid_price / tick), abs=1e-6)
            assert q.bid_iv is not None and q.bid_iv < q.mark_iv
            assert tick <= q.bid_price <= q.mark_price + 1e-12
        else:
            assert q.bid_iv is None and q.bid_size == 0.0
    assert any(q.bid_price is None for q in chain)  # far out of the money nobody bids
    assert sum(q.bid_price is not None for q in chain) > len(chain) / 2


def test_spread_widens_away_from_the_money_and_near_expiry() -> None:
    groups = by_expiry(model().chain("deribit", "BTC", PINNED_MS))

    def half_spread(quotes: list[SimOptionQuote], pick: Callable[[SimOptionQuote], float]) -> float:
        q = min((q for q in quotes if q.option.is_call), key=pick)
        return q.ask_iv - q.mark_iv

    first, last = groups[min(groups)], groups[max(groups)]
    atm = lambda q: abs(math.log(q.option.strike / q.underlying_price))  # noqa: E731
    far = lambda q: -abs(math.log(q.option.strike / q.underlying_price))  # noqa: E731
    assert half_spread(first, far) > 1.5 * half_spread(first, atm)
    assert half_spread(first, atm) > 1.5 * half_spread(last, atm)


def test_bybit_prices_in_usd_okx_and_deribit_in_coin() -> None:
    om = model()
    bybit = om.chain("bybit", "BTC", PINNED_MS)[0]
    assert bybit.option.quote == "usd" and bybit.mark_price == bybit.mark_price_usd
    assert bybit.ask_price_usd % 5.0 == pytest.approx(0.0, abs=1e-9)
    okx = om.chain("okx", "BTC", PINNED_MS)[0]
    assert okx.option.quote == "coin" and okx.mark_price == okx.mark_price_coin and okx.option.contract_size == 0.1


# --- smile ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_iv_rises_away_from_the_money_on_the_put_side(asset: str) -> None:
    for quotes in by_expiry(model().chain("deribit", asset, PINNED_MS)).values():
        puts = sorted((q for q in quotes if not q.option.is_call and q.option.strike < q.underlying_price),
                      key=lambda q: q.option.strike)
        assert len(puts) >= 4
        assert all(a.mark_iv > b.mark_iv for a, b in pairwise(puts))  # lower strike, higher IV
        atm = min(quotes, key=lambda q: abs(q.option.strike - q.underlying_price))
        wing = next(q for q in quotes if q.option.strike == puts[0].option.strike and q.option.is_call)
        assert wing.mark_iv == puts[0].mark_iv > atm.mark_iv  # one smile for calls and puts; put skew


def test_smile_is_sticky_in_moneyness_and_moves_slowly() -> None:
    om = model()
    expiry = om.expiries("deribit", "BTC", PINNED_MS)[6]
    t2 = PINNED_MS + 3 * HOUR_MS
    f1, f2 = (om.forward("deribit", "BTC", expiry, t) for t in (PINNED_MS, t2))
    assert abs(f2 / f1 - 1) > 1e-3  # the underlying moved

    def iv(strike: float, t: int) -> float:
        return om.implied_vol("deribit", "BTC", expiry, strike, t)

    skew1, skew2 = iv(f1 * 0.9, PINNED_MS) - iv(f1, PINNED_MS), iv(f2 * 0.9, t2) - iv(f2, t2)
    assert skew2 == pytest.approx(skew1, abs=0.002)  # the 90 % put's premium over ATM moved with the forward
    atm1, atm2 = iv(f1, PINNED_MS), iv(f2, t2)
    assert 0 < abs(atm2 - atm1) < 0.03  # the level drifts, slowly
    term = [om.atm_iv("BTC", d / 365, PINNED_MS) for d in (1, 7, 30, 90, 180, 365)]
    assert all(0.3 < v < 0.9 for v in term)
    assert term[2] == pytest.approx(om.dvol("BTC", PINNED_MS) / 100, rel=1e-12)


# --- open interest and volume ---------------------------------------------------------------------


def test_open_interest_is_concentrated_near_the_money_and_in_big_expiries() -> None:
    chain = model().chain("deribit", "BTC", PINNED_MS)
    near = [q.open_interest for q in chain if abs(z_score(q)) <= 1]
    far = [q.open_interest for q in chain if abs(z_score(q)) >= 2.5]
    assert sum(near) / len(near) > 3 * sum(far) / len(far)
    calls = sum(q.open_interest for q in chain if q.option.is_call)
    puts = sum(q.open_interest for q in chain if not q.option.is_call)
    assert 0.55 <= puts / calls <= 0.85
    oi_usd = (calls + puts) * chain[0].index_price
    assert 2e10 < oi_usd < 5e10
    per_expiry = {cal.dmy(e): sum(q.open_interest for q in qs) for e, qs in by_expiry(chain).items()}
    assert per_expiry["25DEC26"] > 5 * per_expiry["19NOV26"]  # the quarterly dwarfs the daily
    assert all(q.open_interest >= 0 and q.volume_24h >= 0 for q in chain)
    volume = [q.volume_24h for q in chain]
    assert sum(volume) > 0 and sum(v for q, v in zip(chain, volume, strict=True) if abs(z_score(q)) <= 1) > sum(
        v for q, v in zip(chain, volume, strict=True) if abs(z_score(q)) >= 2.5)


def test_quote_and_find_agree_with_the_chain() -> None:
    om = model()
    chain = om.chain("okx", "ETH", PINNED_MS)
    row = chain[len(chain) // 2]
    found = om.find("okx", row.option.instrument, PINNED_MS)
    assert found == row.option
    assert om.quote(row.option, PINNED_MS) == row
    assert om.find("okx", "ETH-USD-200101-1000-C", PINNED_MS) is None


# --- volatility indices --------------------------------------------------------------------------


def test_dvol_is_the_30_day_constant_maturity_atm_iv_of_the_chain() -> None:
    om = model()
    atm: list[tuple[float, float]] = []
    for quotes in by_expiry(om.chain("deribit", "BTC", PINNED_MS)).values():
        calls = sorted((q for q in quotes if q.option.is_call), key=lambda q: q.option.strike)
        lo = [q for q in calls if q.option.strike <= q.underlying_price][-1]
        hi = next(q for q in calls if q.option.strike > q.underlying_price)
        w = (lo.underlying_price - lo.option.strike) / (hi.option.strike - lo.option.strike)
        atm.append((lo.years, lo.mark_iv + w * (hi.mark_iv - lo.mark_iv)))
    t30 = 30 / 365
    (t1, v1), (t2, v2) = max(a for a in atm if a[0] <= t30), min(a for a in atm if a[0] > t30)
    var30 = t1 * v1 * v1 + (t30 - t1) / (t2 - t1) * (t2 * v2 * v2 - t1 * v1 * v1)  # total variance
    assert math.sqrt(var30 / t30) * 100 == pytest.approx(om.dvol("BTC", PINNED_MS), abs=1.0)


def test_dvol_candles_cover_400_days_and_give_iv_rank_a_range() -> None:
    om = model()
    candles = om.dvol_candles("BTC", PINNED_MS - 400 * DAY_MS, PINNED_MS, 86_400)
    assert len(candles) == 400
    assert all(b[0] - a[0] == DAY_MS for a, b in pairwise(candles))
    assert all(low <= min(o, c) and high >= max(o, c) for _, o, high, low, c in candles)
    assert all(a[4] == pytest.approx(b[1], rel=1e-12) for a, b in pairwise(candles))  # close = next open
    assert candles[-1][4] == pytest.approx(om.dvol("BTC", PINNED_MS), rel=1e-12)  # the last closes at now
    closes = [c[4] for c in candles]
    assert min(closes) > 25 and max(closes) < 95 and max(closes) - min(closes) > 15
    ranks = [(closes[i] - min(closes[i - 365:i + 1])) / (max(closes[i - 365:i + 1]) - min(closes[i - 365:i + 1]))
             for i in range(365, 400)]
    assert 0.05 < sum(ranks) / len(ranks) < 0.95 and max(ranks) - min(ranks) > 0.1
    minutes = om.dvol_candles("ETH", PINNED_MS - 3_600_000, PINNED_MS + 3_600_000, 60)
    assert len(minutes) == 60 and minutes[0][0] % 60_000 == 0  # ends at now


def test_historical_volatility_is_the_realized_vol_of_the_index_path() -> None:
    market = MarketModel(7, PINNED_MS)
    om = OptionsModel(market)
    points = om.historical_volatility("BTC", PINNED_MS - 2 * DAY_MS, PINNED_MS)
    assert len(points) == 48 and all(b[0] - a[0] == HOUR_MS for a, b in pairwise(points))
    last_hour = PINNED_MS // HOUR_MS * HOUR_MS
    assert points[-1][0] == last_hour
    logs = [math.log(market.index_price("BTC", last_hour - h * HOUR_MS)) for h in range(30 * 24 + 1)]
    rv = math.sqrt(sum((a - b) ** 2 for a, b in pairwise(logs)) / (30 * 24) * 365 * 24) * 100
    assert points[-1][1] == pytest.approx(rv, rel=1e-9)
    assert 30 < rv < 90


# --- trades --------------------------------------------------------------------------------------


def test_trades_are_stable_across_overlapping_windows() -> None:
    om = model()
    a = om.trades("deribit", "BTC", PINNED_MS - 6 * HOUR_MS, PINNED_MS - 2 * HOUR_MS)
    b = model().trades("deribit", "BTC", PINNED_MS - 4 * HOUR_MS, PINNED_MS)
    overlap = (PINNED_MS - 4 * HOUR_MS, PINNED_MS - 2 * HOUR_MS)
    in_a = [t for t in a if overlap[0] <= t.ts_ms <= overlap[1]]
    assert in_a and in_a == [t for t in b if t.ts_ms <= overlap[1]]
    assert om.trades("deribit", "BTC", PINNED_MS, PINNED_MS + HOUR_MS) == [t for t in b if t.ts_ms == PINNED_MS]
    times = [t.ts_ms for t in a]
    assert times == sorted(times) and len({t.trade_id for t in a}) == len(a)


def test_trades_look_like_an_options_tape() -> None:
    om = model()
    trades = om.trades("deribit", "BTC", PINNED_MS - 3 * DAY_MS, PINNED_MS)
    assert 5 * 72 < len(trades) < 40 * 72  # every few minutes
    blocks = [t for t in trades if t.block_trade_id is not None]
    assert 0.02 < len(blocks) / len(trades) < 0.09
    plain = sorted(t.amount for t in trades if t.block_trade_id is None)
    assert min(t.amount for t in blocks) > plain[len(plain) // 2] * 5
    assert {t.direction for t in trades} == {"buy", "sell"}
    for t in trades[:200]:
        assert t.amount >= t.option.min_amount and t.option.venue == "deribit"
        forward = om.forward("deribit", "BTC", t.option.expiry_ms, t.ts_ms)
        assert t.price_usd == pytest.approx(t.price * forward, rel=1e-12)  # coin price: USD / the forward
        assert abs(t.iv / 100 - om.quote(t.option, t.ts_ms).mark_iv) < 0.2
        assert t.price / t.option.tick_size == pytest.approx(round(t.price / t.option.tick_size), abs=1e-6)
        assert t.index_price == pytest.approx(om.market.index_price("BTC", t.ts_ms), rel=1e-12)
    bybit = om.trades("bybit", "SOL", PINNED_MS - DAY_MS, PINNED_MS)
    assert bybit and all(t.price == t.price_usd for t in bybit)


# --- the listing cache ------------------------------------------------------------------------------
# (its speed, under 50 ms cold or warm, is measured by benchmarks/bench_sim_options.py, not asserted here)


def test_a_warm_chain_is_the_chain_a_cold_model_builds() -> None:
    om = model()
    om.chain("deribit", "BTC", PINNED_MS)  # builds the day's listing
    warm = om.chain("deribit", "BTC", PINNED_MS + 1_000)  # reuses it
    cold = model().chain("deribit", "BTC", PINNED_MS + 1_000)
    assert len(warm) > 300 and warm == cold
