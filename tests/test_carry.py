"""The basis-trade tracker: the analytics against independent references (plain loops over the seed's formulas),
the Monte Carlo reproducible for a seed, and the issue's check on the simulated venues: a position opened on the sim
at a pinned moment, then valued after the sim's next settlements by a NEW client (restart-safe: everything read back
from the store) receives exactly the settled rates x size x the price the sim served at each settlement."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import SimThread

import dtrack
from dtrack.analytics import carry as calc
from dtrack.config import Settings
from dtrack.errors import UsageError
from dtrack.sim.model import MarketModel

HOUR_MS = 3_600_000
REL = 1e-9  # the sim serves its floats exactly (repr): only the float sums differ


# --- funding payments ----------------------------------------------------------------------------------------------


def reference_payments(points: list[tuple[int, float, float]], opened: int, end: int, size: float, entry: float,
                       prices: dict[int, float]) -> list[tuple[int, float, float]]:
    """(time, accrual, amount) per payment, a plain loop: a discrete settlement pays the whole interval; a point
    sampled closer than its interval accrues the hours since the previous point or the opening."""
    out = []
    points = sorted(points)
    for i, (t, rate, interval) in enumerate(points):
        if not opened < t <= end:
            continue
        if i > 0 and (t - points[i - 1][0]) / HOUR_MS < interval / 2:
            since = (t - max(points[i - 1][0], opened)) / HOUR_MS
            accrual = min(1.0, max(0.0, since / interval))
        else:
            accrual = 1.0
        out.append((t, accrual, rate * accrual * size * prices.get(t, entry)))
    return out


def test_an_8h_venue_pays_each_settlement_after_opening_in_full_at_its_own_price() -> None:
    t0 = 1_796_371_200_000  # 2026-12-04T00:00Z
    points = [(t0 + k * 8 * HOUR_MS, 0.0001 * (k - 1), 8.0) for k in range(5)]
    prices = {t0 + 8 * HOUR_MS: 90_000.0, t0 + 16 * HOUR_MS: 91_000.0}  # the third settlement has no price
    opened, end = t0 + 7 * HOUR_MS + 59 * 60_000, t0 + 24 * HOUR_MS  # opened a minute before the 08:00 settlement
    times = np.array([p[0] for p in points])
    pays = calc.funding_payments(times, np.array([p[1] for p in points]), np.array([p[2] for p in points]),
                                 opened_ms=opened, end_ms=end, size=3.0, entry_price=89_500.0,
                                 prices=calc.prices_at(times, np.array(sorted(prices)),
                                                       np.array([prices[k] for k in sorted(prices)])))
    want = reference_payments(points, opened, end, 3.0, 89_500.0, prices)
    assert [int(t) for t in pays.time_ms] == [w[0] for w in want] == [t0 + 8 * HOUR_MS, t0 + 16 * HOUR_MS,
                                                                      t0 + 24 * HOUR_MS]
    assert list(pays.accrual) == [1.0, 1.0, 1.0]
    assert pays.amount.tolist() == pytest.approx([w[2] for w in want], rel=1e-12)
    assert pays.from_market.tolist() == [True, True, False]  # the last one at the entry price, and it says so
    assert pays.total == pytest.approx(0.0 * 3 * 90_000 + 0.0001 * 3 * 91_000 + 0.0002 * 3 * 89_500, rel=1e-12)


def test_hourly_payments_are_eight_times_as_many_as_8h_ones_each_with_its_own_interval() -> None:
    t0 = 1_796_371_200_000
    hourly = [(t0 + k * HOUR_MS, 0.0000125, 1.0) for k in range(1, 25)]
    eight = [(t0 + k * 8 * HOUR_MS, 0.0001, 8.0) for k in range(1, 4)]
    for points, n in ((hourly, 24), (eight, 3)):
        times = np.array([p[0] for p in points])
        pays = calc.funding_payments(times, np.array([p[1] for p in points]), np.array([p[2] for p in points]),
                                     opened_ms=t0, end_ms=t0 + 24 * HOUR_MS, size=1.0, entry_price=100.0)
        assert len(pays) == n
        assert pays.total == pytest.approx(sum(w[2] for w in reference_payments(points, t0, t0 + 24 * HOUR_MS, 1.0,
                                                                                100.0, {})), rel=1e-12)
        assert pays.total == pytest.approx(0.03, rel=1e-12)  # the same 0.01 %/8h level, paid 24 or 3 times a day


def test_a_sampled_venue_accrues_the_share_of_its_interval_since_the_previous_sample_or_the_opening() -> None:
    # Deribit-like: hourly samples of an 8 h-equivalent rate
    t0 = 1_796_371_200_000
    points = [(t0 + k * HOUR_MS, 0.0001 + k * 1e-6, 8.0) for k in range(0, 6)]
    opened = t0 + 2 * HOUR_MS + 30 * 60_000
    times = np.array([p[0] for p in points])
    pays = calc.funding_payments(times, np.array([p[1] for p in points]), np.array([p[2] for p in points]),
                                 opened_ms=opened, end_ms=t0 + 5 * HOUR_MS, size=2.0, entry_price=50_000.0)
    want = reference_payments(points, opened, t0 + 5 * HOUR_MS, 2.0, 50_000.0, {})
    assert pays.accrual.tolist() == pytest.approx([0.5 / 8, 1 / 8, 1 / 8])
    assert pays.amount.tolist() == pytest.approx([w[2] for w in want], rel=1e-12)


def test_prices_at_takes_the_nearest_point_within_five_minutes_only() -> None:
    got = calc.prices_at(np.array([1_000_000, 10_000_000, 20_000_000]), np.array([1_000_001, 9_000_000, 19_999_000]),
                         np.array([1.0, 2.0, 3.0]))
    assert got[0] == 1.0 and math.isnan(got[1]) and got[2] == 3.0


# --- P&L -----------------------------------------------------------------------------------------------------------


def test_position_pnl_follows_the_seed_formulas_with_capital_spot_plus_perp_margin() -> None:
    size, se, pe, sx, px, funding, fee = 10.0, 43_000.0, 43_050.0, 44_000.0, 44_020.0, 1_234.5, 0.0005
    got = calc.position_pnl(size=size, spot_entry=se, perp_entry=pe, spot_price=sx, perp_price=px, funding=funding,
                            fee_rate=fee, closed=True, days_held=30.0, leverage=2.0)
    spot_pnl = size * (sx - se)            # long spot
    perp_pnl = size * (pe - px)            # short perp
    fees = size * se * fee + size * pe * fee + size * sx * fee + size * px * fee
    net = spot_pnl + perp_pnl + funding - fees
    capital = size * se + size * pe / 2.0
    assert (got.spot_pnl, got.perp_pnl) == pytest.approx((10_000.0, -9_700.0))
    assert got.fees == pytest.approx(fees) and got.net == pytest.approx(net)
    assert got.capital == pytest.approx(capital)
    assert got.return_on_capital == pytest.approx(net / capital)
    assert got.annualized_return == pytest.approx(net / capital * 365 / 30)
    assert got.return_on_notional == pytest.approx(net / (size * se))
    still_open = calc.position_pnl(size=size, spot_entry=se, perp_entry=pe, spot_price=sx, perp_price=px,
                                   funding=funding, fee_rate=fee, closed=False, days_held=0.0)
    assert still_open.exit_fees == 0.0 and still_open.annualized_return is None
    assert still_open.capital == pytest.approx(size * se + size * pe)  # leverage 1: fully collateralized


# --- Monte Carlo ---------------------------------------------------------------------------------------------------


def params(**kw: Any) -> calc.SimParams:
    base = dict(avg_8h=0.0003, vol_8h=0.0001, days=90.0, interval_hours=8.0, half_life_hours=24.0,
                price_vol_daily=0.02, notional=100_000.0, fee_rate=0.0005, leverage=1.0, paths=400, seed=11)
    base.update(kw)
    return calc.SimParams(**base)  # type: ignore[arg-type]


def reference_simulation(p: calc.SimParams) -> np.ndarray:
    """Net P&L per path, path by path and step by step, drawing the normals in the same order."""
    rng = np.random.default_rng(p.seed)
    steps = math.floor(p.days * 24 / p.interval_hours + 1e-9)  # the settlements inside the holding period
    phi = 0.0 if p.half_life_hours <= 0 else 0.5 ** (p.interval_hours / p.half_life_hours)
    shocks = rng.standard_normal((p.paths, steps))
    start = rng.standard_normal(p.paths) if phi > 0 else np.zeros(p.paths)
    moves = rng.standard_normal((p.paths, steps))
    sv = p.price_vol_daily * math.sqrt(p.interval_hours / 24)
    out = np.empty(p.paths)
    for i in range(p.paths):
        x = start[i] * p.vol_8h
        price, funding = 1.0, 0.0
        for k in range(steps):
            x = phi * x + shocks[i, k] * p.vol_8h * math.sqrt(1 - phi * phi)
            rate = max(p.avg_8h + x, -0.005) * p.interval_hours / 8
            price *= math.exp(moves[i, k] * sv - 0.5 * sv * sv)
            funding += rate * p.notional * price
        out[i] = funding - p.fee_rate * 2 * p.notional * (1 + price)
    return out


def test_simulate_equals_a_path_by_path_reference_and_is_reproducible_for_a_seed() -> None:
    p = params(paths=60, days=20.0)
    got = calc.simulate(p)
    assert got.net == pytest.approx(reference_simulation(p), rel=1e-9)
    again = calc.simulate(p)
    assert np.array_equal(got.net, again.net) and got.stats == again.stats
    other = calc.simulate(params(paths=60, days=20.0, seed=12))
    assert not np.array_equal(got.net, other.net)
    assert got.stats["probability_of_loss"] == float((got.net < 0).mean())
    assert got.stats["net_p50"] == pytest.approx(float(np.median(got.net)))


def test_without_randomness_the_simulation_is_the_closed_form_carry() -> None:
    p = params(vol_8h=0.0, price_vol_daily=0.0, paths=5, interval_hours=1.0)
    got = calc.simulate(p)
    assert got.settlements == 90 * 24
    funding = 100_000.0 * 0.0003 / 8 * 90 * 24  # hourly: 1/8 of the 8 h rate, 8x as often
    assert got.funding == pytest.approx(np.full(5, funding), rel=1e-12)
    assert got.net == pytest.approx(np.full(5, funding - 0.0005 * 2 * 100_000 * 2), rel=1e-12)
    assert got.stats["probability_of_loss"] == 0.0 and got.capital == 200_000.0


@pytest.mark.parametrize(("days", "interval", "count"), [(1.2, 8.0, 3), (1.0, 8.0, 3), (0.99, 8.0, 2),
                                                       (1.5, 4.0, 9), (0.05, 1.0, 1)])
def test_only_the_settlements_inside_the_holding_period_are_paid(days: float, interval: float, count: int) -> None:
    """Held 1.2 days (28.8 h) on an 8 h venue: settlements at 8, 16 and 24 h, not a fourth at 32 h; 1.5 days of
    4 h: 9; 0.99 days: 2 (the 24 h one is after it). No randomness: funding = count x rate x interval / 8 x notional."""
    p = params(days=days, interval_hours=interval, vol_8h=0.0, price_vol_daily=0.0, paths=2)
    got = calc.simulate(p)
    assert got.settlements == count
    assert got.funding == pytest.approx(np.full(2, count * 0.0003 * interval / 8 * 100_000.0), rel=1e-12)


def test_the_mean_funding_is_the_average_rate_over_many_paths() -> None:
    p = params(paths=4000, half_life_hours=0.0)
    got = calc.simulate(p)
    expected = 100_000.0 * 0.0003 * 270  # E[price] stays 1 (driftless lognormal), the floor is 6 sd away
    stderr = got.funding.std(ddof=1) / math.sqrt(p.paths)
    assert abs(got.funding.mean() - expected) < 5 * stderr


# --- backtest ------------------------------------------------------------------------------------------------------


def test_backtest_holds_constant_coins_and_pays_each_settlement_on_its_price() -> None:
    t0 = 1_796_371_200_000
    points = [(t0 + k * 8 * HOUR_MS, 0.0001 * ((-1) ** k) + 0.00005, 8.0) for k in range(1, 10)]
    prices = {t: 100.0 + k for k, (t, _r, _i) in enumerate(points)}
    times = np.array([p[0] for p in points])
    got = calc.backtest(times, np.array([p[1] for p in points]), np.array([p[2] for p in points]), start_ms=t0,
                        end_ms=t0 + 72 * HOUR_MS, notional=10_000.0, fee_rate=0.001,
                        prices=calc.prices_at(times, np.array(list(prices)), np.array(list(prices.values()))))
    size = 10_000.0 / 100.0
    funding = sum(r * size * prices[t] for t, r, _i in points)
    fees = 0.001 * size * 100.0 * 2 + 0.001 * size * 108.0 * 2
    assert got.size == size and got.entry_price == 100.0 and got.exit_price == 108.0
    assert got.pnl.funding == pytest.approx(funding, rel=1e-12)
    assert got.pnl.net == pytest.approx(funding - fees, rel=1e-12)
    assert got.days == 3.0 and got.intervals == {8.0: 9}
    assert got.pnl.annualized_return == pytest.approx((funding - fees) / 20_000.0 * 365 / 3)


# --- the check on the simulated venues ------------------------------------------------------------------


class MovingMarket(MarketModel):
    """The sim's market with a clock the test moves."""

    def __init__(self, at_ms: int) -> None:
        super().__init__(seed=7, now_ms=at_ms)
        self.at_ms = at_ms

    def now_ms(self) -> int:
        return self.at_ms


OPENED = datetime(2026, 12, 4, 8, 30, tzinfo=UTC)
LATER = OPENED + timedelta(hours=17)  # bybit settles 16:00 and 00:00 (8 h); hyperliquid 17 times (1 h)


@pytest.fixture
def market() -> Iterator[tuple[MovingMarket, SimThread]]:
    model = MovingMarket(int(OPENED.timestamp() * 1000))
    server = SimThread(model=model)
    yield model, server
    server.close()


def _client(server: SimThread, tmp: Path, at: datetime, store: Path) -> dtrack.AsyncClient:
    settings: Settings = server.settings(tmp)
    return dtrack.AsyncClient(config=settings, clock=lambda: at, store=str(store))


def expected_funding(model: MarketModel, venue: str, symbol: str, size: float) -> tuple[list[tuple[int, float]], float]:
    perp = model.perp(venue, symbol)
    assert perp is not None
    opened_ms, later_ms = int(OPENED.timestamp() * 1000), int(LATER.timestamp() * 1000)
    settled = [(t, r) for t, r in model.settlements(perp, opened_ms, later_ms) if t > opened_ms]
    return settled, sum(r * size * model.mark_price(perp, t) / perp.multiplier for t, r in settled)


@pytest.mark.parametrize(("venue", "symbol", "interval", "count"),
                         [("bybit", "BTCUSDT", 8.0, 2), ("hyperliquid", "BTC", 1.0, 17)])
def test_status_after_the_next_settlements_is_the_settled_rates_times_the_served_notional(
        market: tuple[MovingMarket, SimThread], tmp_path: Path, venue: str, symbol: str, interval: float,
        count: int) -> None:
    model, server = market
    store = tmp_path / "carry.db"

    async def open_it() -> Any:
        async with _client(server, tmp_path, OPENED, store) as dt:
            return await dt.carry_open("BTC", spot_venue="binance", perp_venue=venue, size=4.0)

    opened = asyncio.run(open_it())
    (view,) = opened.views
    position = view.position
    perp = model.perp(venue, symbol)
    assert perp is not None and position.perp_symbol == symbol  # the venue's main USD-stablecoin linear perpetual
    assert position.spot_entry == pytest.approx(model.spot_price("binance", "BTC", model.at_ms), rel=REL)
    assert position.perp_entry == pytest.approx(model.mark_price(perp, model.at_ms), rel=REL)

    model.at_ms = int(LATER.timestamp() * 1000)  # the market moves on; a new client (a restart) values the position

    async def value() -> Any:
        async with _client(server, tmp_path / "restart", LATER, store) as dt:
            return await dt.carry_status()

    status = asyncio.run(value())
    assert status.failures == []
    (view,) = status.views
    assert view.position == position  # read back from the store, field for field
    settled, funding = expected_funding(model, venue, symbol, 4.0)
    assert len(settled) == count
    # the settlement times as the venue stamps them (Hyperliquid's carry a few ms past the hour)
    assert [round(int(t) / 1000) * 1000 for t in view.payments.time_ms] == [t for t, _ in settled]
    assert view.payments.rate.tolist() == [r for _, r in settled]
    assert set(view.payments.interval_hours.tolist()) == {interval}
    assert view.payments.from_market.all()  # every payment at the kline close of its settlement
    assert (view.payments.accrual == 1.0).all()  # a discrete settlement pays its whole interval
    assert view.payments.total == pytest.approx(funding, rel=REL)
    pnl = view.pnl
    spot_now = model.spot_price("binance", "BTC", model.at_ms)
    perp_now = model.mark_price(perp, model.at_ms)
    assert pnl.spot_pnl == pytest.approx(4.0 * (spot_now - position.spot_entry), rel=REL)
    assert pnl.perp_pnl == pytest.approx(4.0 * (position.perp_entry - perp_now), rel=REL)
    fees = 0.0005 * 4.0 * (position.spot_entry + position.perp_entry)
    assert pnl.entry_fees == pytest.approx(fees, rel=REL) and pnl.exit_fees == 0.0
    assert pnl.net == pytest.approx(pnl.spot_pnl + pnl.perp_pnl + funding - fees, rel=1e-9)
    assert pnl.days_held == pytest.approx(17 / 24)


# --- bad input -----------------------------------------------------------------------------------------------------


def test_bad_input_is_one_clear_usage_error(market: tuple[MovingMarket, SimThread], tmp_path: Path) -> None:
    _model, server = market
    store = tmp_path / "carry.db"

    async def attempt(call: Any) -> str:
        async with _client(server, tmp_path, OPENED, store) as dt:
            with pytest.raises(UsageError) as exc:
                await call(dt)
        message = str(exc.value)
        assert "\n" not in message
        return message

    assert "--size" in asyncio.run(attempt(lambda dt: dt.carry_open("BTC", spot_venue="binance", perp_venue="bybit",
                                                                     size=0)))
    assert "--size" in asyncio.run(attempt(lambda dt: dt.carry_open("BTC", spot_venue="binance", perp_venue="bybit",
                                                                     size=-1.5)))
    spotless = asyncio.run(attempt(lambda dt: dt.carry_open("BTC", spot_venue="deribit", perp_venue="bybit",
                                                             size=1)))
    assert "Deribit cannot be the spot venue" in spotless and "binance" in spotless
    assert "no carry position 'nope'" in asyncio.run(attempt(lambda dt: dt.carry_status("nope")))
    assert "BTCXYZ" in asyncio.run(attempt(lambda dt: dt.carry_open("BTC", spot_venue="binance", perp_venue="bybit",
                                                                     size=1, perp="BTCXYZ")))

    async def open_and_close_twice() -> str:
        async with _client(server, tmp_path, OPENED, store) as dt:
            made = await dt.carry_open("BTC", spot_venue="binance", perp_venue="bybit", size=1, spot_price=90_000,
                                       perp_price=90_010)
            pid = made.views[0].position.id
            closed = await dt.carry_close(pid, spot_price=90_100, perp_price=90_105)
            assert closed.views[0].position.closed_at == OPENED and closed.views[0].pnl.exit_fees > 0
            with pytest.raises(UsageError) as exc:
                await dt.carry_close(pid)
            return str(exc.value)

    assert "was closed at 2026-12-04 08:30:00 UTC" in asyncio.run(open_and_close_twice())
    with pytest.raises(UsageError, match="name a store"):
        asyncio.run(dtrack.AsyncClient(sim=True).carry_list())
    with pytest.raises(UsageError, match="--avg-funding"):
        asyncio.run(dtrack.AsyncClient(config=Settings()).carry_simulate(float("nan"), 90))
