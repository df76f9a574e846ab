"""``dtrack.analytics.execution`` against references written here: the market order walked with plain loops, the
square-root fit by ``numpy.linalg.lstsq``, the realized volatility by ``statistics.stdev``, the volume profile and
the VWAP weights by counting minutes, and TWAP / VWAP / iceberg by a slow loop over paths, children and levels that
prices every level on every path (the code under test prices each child's mean offset on a path-independent walk).
The reference draws the same normal numbers (``numpy.random.default_rng(seed).standard_normal((paths, slices))``,
the documented contract) and builds the price path step by step.
"""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtrack.analytics import execution as ex
from dtrack.records import Instrument, Kind, Margin, OrderBook, Unit

NOW = datetime(2026, 12, 4, 13, 30, tzinfo=UTC)
INST = Instrument(venue="binance", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                  margin=Margin.LINEAR)
REL = 1e-12


def book(bids: list[tuple[float, float]], asks: list[tuple[float, float]], limit: int = 1000) -> OrderBook:
    return OrderBook(instrument=INST, bids=tuple(bids), asks=tuple(asks), unit=Unit.BASE, limit=limit, time=NOW,
                     received_at=NOW)


#: an uneven book: 40 levels a side, irregular steps and sizes
BIDS = [(100.0 - 0.05 - 0.03 * k - 0.01 * (k % 4), 1.0 + (k * 7 % 5) * 0.6) for k in range(40)]
ASKS = [(100.0 + 0.05 + 0.02 * k + 0.015 * (k % 3), 0.8 + (k * 3 % 7) * 0.5) for k in range(40)]


# --- references ---------------------------------------------------------------------------------------------


def ref_walk(levels: list[tuple[float, float]], qty: float) -> tuple[float, float, int, list[float]]:
    """(filled, notional, levels touched, takes) by a plain loop."""
    left, filled, notional, touched, takes = qty, 0.0, 0.0, 0, []
    for price, size in levels:
        take = min(size, left) if left > 0 else 0.0
        takes.append(take)
        if take > 0:
            filled += take
            notional += take * price
            touched += 1
            left -= take
    return filled, notional, touched, takes


def ref_sliced(levels: list[tuple[float, float]], mid: float, sign: int, sizes: list[float], dt: float,
               refill: float, sigma_h: float, y: float | None, phi: float, volume: float, z: np.ndarray
               ) -> tuple[np.ndarray, float]:
    """Per-path average prices of children ``sizes`` walking a depleting, refilling book, and the filled coins."""
    offsets = [sign * (p - mid) / mid for p, _ in levels]
    depth = [q for _, q in levels]
    avail = list(depth)
    takes_by_child: list[list[float]] = []
    carry = 0.0
    for i, size in enumerate(sizes):
        if i > 0:
            amount = refill * dt
            for k in range(len(depth)):
                add = min(depth[k] - avail[k], amount)
                avail[k] += add
                amount -= add
        want, takes = size + carry, []
        for k in range(len(depth)):
            take = min(avail[k], want) if want > 0 else 0.0
            takes.append(take)
            avail[k] -= take
            want -= take
        carry = want
        takes_by_child.append(takes)
    sigma_d = sigma_h * math.sqrt(24)
    out = np.zeros(z.shape[0])
    filled_total = sum(sum(t) for t in takes_by_child)
    for p in range(z.shape[0]):
        w, executed, notional = 0.0, 0.0, 0.0
        for i, takes in enumerate(takes_by_child):
            if i > 0:
                w += math.sqrt(dt) * z[p, i - 1]
            t = i * dt
            exo = mid * math.exp(sigma_h * w - sigma_h ** 2 * t / 2)
            impact = 1.0 if y is None else 1 + sign * phi * y * sigma_d * math.sqrt(executed / volume)
            for k, take in enumerate(takes):
                notional += take * exo * impact * (1 + sign * offsets[k])
            executed += sum(takes)
        out[p] = notional / filled_total
    return out, filled_total


def ref_iceberg(levels: list[tuple[float, float]], mid: float, sign: int, touch: float, queue: float, size: float,
                slices: int, dt: float, sigma_h: float, y: float | None, phi: float, volume: float, share: float,
                z: np.ndarray) -> tuple[np.ndarray, list[float], float]:
    """Per-path average prices of the passive iceberg plus its clean-up, the passive fills, the clean-up coins."""
    visible = size / slices
    flow = share * volume / 24 * dt
    fills, left = [], size
    for _ in range(slices):
        got = min(left, flow * visible / (queue + visible)) if left > 0 else 0.0
        fills.append(got)
        left -= got
    *_, takes = ref_walk(levels, left) if left > 1e-12 else (0.0, 0.0, 0, [])
    rest = sum(takes)
    sigma_d = sigma_h * math.sqrt(24)
    out = np.zeros(z.shape[0])
    for p in range(z.shape[0]):
        w, executed, notional = 0.0, 0.0, 0.0
        for i in range(slices + 1):
            if i > 0:
                w += math.sqrt(dt) * z[p, i - 1]
            exo = mid * math.exp(sigma_h * w - sigma_h ** 2 * i * dt / 2)
            impact = 1.0 if y is None else 1 + sign * phi * y * sigma_d * math.sqrt(executed / volume)
            if i < slices:
                notional += fills[i] * exo * impact * touch / mid
                executed += fills[i]
            else:
                for k, take in enumerate(takes):
                    notional += take * exo * impact * levels[k][0] / mid
        out[p] = notional / (sum(fills) + rest)
    return out, fills, rest


# --- the market order -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("qty", [0.3, 0.8, 5.0, 17.25, 40.0])
def test_market_order_equals_a_plain_walk(side: str, qty: float) -> None:
    lad = ex.ladder_of(book(BIDS, ASKS), side)
    levels = ASKS if side == "buy" else BIDS
    mid = (BIDS[0][0] + ASKS[0][0]) / 2
    filled, notional, touched, _ = ref_walk(levels, qty)
    m = ex.market_order(lad, qty)
    sign = 1 if side == "buy" else -1
    assert m.mid == pytest.approx(mid, rel=REL)
    assert m.filled == pytest.approx(filled, rel=REL)
    assert m.levels == touched
    assert m.avg_price == pytest.approx(notional / filled, rel=REL)
    assert m.slippage_bps == pytest.approx(sign * (notional / filled - mid) / mid * 1e4, rel=1e-9)
    assert m.cost_usd == pytest.approx(sign * (notional - mid * filled), rel=1e-9)
    assert m.worst_price == levels[touched - 1][0]
    assert m.depth == "enough" and m.unfilled == 0.0
    assert m.cost_usd > 0  # crossing the spread always costs


def test_an_order_past_the_book_says_truncated_or_exhausted() -> None:
    whole = sum(q for _, q in ASKS)
    # the side holds `limit` levels: the venue's answer ended there, more may rest beyond
    cut = ex.market_order(ex.ladder_of(book(BIDS, ASKS, limit=40), "buy"), whole + 5)
    assert cut.depth == "book_truncated"
    assert cut.filled == pytest.approx(whole, rel=REL) and cut.unfilled == pytest.approx(5.0, rel=1e-9)
    assert cut.levels == 40
    # fewer levels than the limit: the venue's whole side
    gone = ex.market_order(ex.ladder_of(book(BIDS, ASKS, limit=100), "buy"), whole + 5)
    assert gone.depth == "side_exhausted"
    assert gone.avg_price == pytest.approx(sum(p * q for p, q in ASKS) / whole, rel=REL)


@pytest.mark.parametrize("times", [10.0, 1e6, 1e12])
def test_an_order_far_larger_than_the_book_takes_every_level(times: float) -> None:
    """An order of many times the whole side still takes every level: the float-residue cut is relative to the
    book (it once dropped levels whose size fell below 1e-12 of the order, and the worst price was then wrong)."""
    whole = sum(q for _, q in ASKS)
    m = ex.market_order(ex.ladder_of(book(BIDS, ASKS, limit=40), "buy"), whole * times)
    assert m.levels == len(ASKS) and m.worst_price == ASKS[-1][0]
    assert m.filled == pytest.approx(whole, rel=REL)
    assert m.avg_price == pytest.approx(sum(p * q for p, q in ASKS) / whole, rel=REL)


def test_an_empty_side_has_no_ladder() -> None:
    with pytest.raises(ValueError, match="empty side"):
        ex.ladder_of(book([], ASKS), "buy")
    with pytest.raises(ValueError, match="buy or sell"):
        ex.ladder_of(book(BIDS, ASKS), "hold")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 5.0), st.floats(0.001, 50.0)), min_size=1, max_size=30),
       st.floats(0.001, 400.0))
def test_the_walk_is_bounded_by_its_levels(steps: list[tuple[float, float]], qty: float) -> None:
    price, asks = 1000.0, []
    for step, size in steps:
        price += step
        asks.append((price, size))
    lad = ex.ladder_of(book([(999.0, 1.0)], asks), "buy")
    m = ex.market_order(lad, qty)
    filled, _, touched, _ = ref_walk(asks, qty)
    assert m.filled == pytest.approx(filled, rel=1e-9)
    assert m.levels == touched
    assert m.avg_price is not None and asks[0][0] - 1e-9 <= m.avg_price <= m.worst_price + 1e-9


def test_depth_within_the_band_and_its_truncation() -> None:
    lad = ex.ladder_of(book(BIDS, ASKS, limit=40), "buy")
    mid = lad.mid
    coins, usd, cut = lad.within(0.005)
    assert coins == pytest.approx(sum(q for p, q in ASKS if p <= mid * 1.005), rel=REL)
    assert usd == pytest.approx(sum(p * q for p, q in ASKS if p <= mid * 1.005), rel=REL)
    assert not cut  # the band ends inside the book
    assert lad.within(0.5)[2]  # past the last level of a side holding `limit` levels
    assert not ex.ladder_of(book(BIDS, ASKS, limit=41), "buy").within(0.5)[2]


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_depth_within_the_band_agrees_with_the_book_query_on_its_edge(side: str) -> None:
    """A level exactly on the band's edge (mid 100, 1 %: 99 / 101) is in the band, and a last level ON the edge
    leaves nothing of the band unseen (not truncated): the ``book`` query's rule (``dtrack.analytics.book``, the
    second implementation), and the hand count: 2 + 3 coins, 2 x 99.5 + 3 x 99 = 496 USD (bids), 2 x 100.5 + 3 x
    101 = 504 USD (asks)."""
    from dtrack.analytics.book import book_metrics

    bids, asks = [(99.5, 2.0), (99.0, 3.0)], [(100.5, 2.0), (101.0, 3.0)]
    b = book(bids, asks, limit=2)  # each side full: it may go on past its last level
    coins, usd, cut = ex.ladder_of(b, side).within(0.01)
    assert coins == pytest.approx(5.0, rel=REL)
    assert usd == pytest.approx(496.0 if side == "sell" else 504.0, rel=REL)
    assert not cut
    ref = book_metrics(b, [0.01])
    assert not isinstance(ref, str)
    band = ref.bands[0]
    assert (coins, usd, cut) == pytest.approx(
        (band.bid_base, band.bid_usd, band.bid_truncated) if side == "sell" else
        (band.ask_base, band.ask_usd, band.ask_truncated), rel=REL)
    # a band wider than the levels received is a lower bound on a full side
    assert ex.ladder_of(b, side).within(0.02)[2]


# --- calibration ------------------------------------------------------------------------------------------------


def test_the_square_root_fit_is_least_squares_through_the_origin() -> None:
    lad = ex.ladder_of(book(BIDS, ASKS), "buy")
    mid = lad.mid
    sigma_d, volume = 0.03, 5000.0
    cum, xs, ys = 0.0, [], []
    for k, (p, q) in enumerate(ASKS):
        if k:
            xs.append(sigma_d * math.sqrt(cum / volume))
            ys.append((p - ASKS[0][0]) / mid)
        cum += q
    want, *_ = np.linalg.lstsq(np.array(xs)[:, None], np.array(ys), rcond=None)
    y, n, r2 = ex.calibrate_y(lad, sigma_d, volume)
    assert n == 39 and y == pytest.approx(float(want[0]), rel=1e-10)
    resid = np.array(ys) - want[0] * np.array(xs)
    assert r2 == pytest.approx(1 - float(resid @ resid) / float(np.array(ys) @ np.array(ys)), rel=1e-10)
    # limited to the order's reach: the levels with at most `size` coins before them, at least five
    y_small, n_small, _ = ex.calibrate_y(lad, sigma_d, volume, size=4.0)
    reach = sum(1 for k in range(1, 40) if sum(q for _, q in ASKS[:k]) <= 4.0)
    assert n_small == max(reach, ex.FIT_LEVELS)
    want_small, *_ = np.linalg.lstsq(np.array(xs[:n_small])[:, None], np.array(ys[:n_small]), rcond=None)
    assert y_small == pytest.approx(float(want_small[0]), rel=1e-10)
    assert ex.calibrate_y(lad, 0.0, volume)[0] is None
    assert ex.calibrate_y(ex.ladder_of(book(BIDS, ASKS[:1]), "buy"), sigma_d, volume)[0] is None


def test_realized_sigma_is_the_stdev_of_log_returns() -> None:
    closes = [100.0, 101.5, 100.7, 99.2, 102.3, 102.0, 103.9]
    want = statistics.stdev(math.log(b / a) for a, b in itertools.pairwise(closes))
    assert ex.realized_sigma(closes) == pytest.approx(want, rel=1e-12)
    assert ex.realized_sigma(closes[:2]) is None


def test_hourly_profile_by_counting() -> None:
    day0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
    rng = np.random.default_rng(3)
    opens = [day0 + h * ex.HOUR_MS for h in range(24 * 9) if h % 24 != 5]  # never a candle at 05:00
    vols = [float(v) for v in rng.uniform(10, 100, len(opens))]
    sums: dict[int, list[float]] = {}
    for t, v in zip(opens, vols, strict=True):
        sums.setdefault(datetime.fromtimestamp(t / 1000, UTC).hour, []).append(v)
    means = {h: statistics.fmean(v) for h, v in sums.items()}
    means[5] = statistics.fmean(means.values())
    total = sum(means.values())
    prof = ex.hourly_profile(opens, vols)
    assert prof is not None and prof.missing == (5,) and prof.bars == len(opens)
    for h in range(24):
        assert prof.share[h] == pytest.approx(means[h] / total, rel=1e-12)
    assert ex.hourly_profile(opens, [0.0] * len(opens)) is None


def test_vwap_weights_by_counting_minutes() -> None:
    share = np.array([1.0 + (h % 7) for h in range(24)])
    share /= share.sum()
    prof = ex.Profile(share=share, bars=240, days=10.0)
    start, dt, n = 21.5, 0.75, 12  # crosses midnight
    got = ex.vwap_weights(prof, start, dt, n)
    minutes = [sum(share[int(((start * 60 + i * dt * 60 + m) // 60) % 24)] / 60 for m in range(int(dt * 60)))
               for i in range(n)]
    total = sum(minutes)
    assert got == pytest.approx([x / total for x in minutes], rel=1e-12)
    spec = ex.Spec(side="buy", size=30.0, over_hours=n * dt, slices=n, paths=1, seed=0, start_hour=start)
    assert ex.schedule("vwap", spec, prof) == pytest.approx([30.0 * x / total for x in minutes], rel=1e-12)
    assert ex.schedule("twap", spec) == pytest.approx([2.5] * n, rel=1e-15)


def test_vwap_over_hours_that_traded_nothing_spreads_evenly_not_nan() -> None:
    """Candles whose hours 0-5 UTC traded nothing give those hours no share; a VWAP inside them has no volume
    to follow: its children are equal (TWAP), never NaN. Outside them the profile still rules."""
    hours = np.arange(48)
    prof = ex.hourly_profile(hours * ex.HOUR_MS, np.where(hours % 24 < 6, 0.0, 10.0))
    assert prof is not None and prof.share[:6].tolist() == [0.0] * 6
    assert ex.vwap_weights(prof, 1.0, 0.5, 4).tolist() == [0.25] * 4
    spec = ex.Spec(side="buy", size=8.0, over_hours=2.0, slices=4, paths=1, seed=0, start_hour=1.0)
    assert ex.schedule("vwap", spec, prof).tolist() == [2.0] * 4
    # 05:00-07:00 in two children: the first hour traded nothing, the second 10 coins
    assert ex.vwap_weights(prof, 5.0, 1.0, 2).tolist() == [0.0, 1.0]


# --- the simulation ---------------------------------------------------------------------------------------------


CAL = ex.Calibration(sigma_hourly=0.006, daily_volume=400.0, y=0.7, permanent_share=0.3, resilience=0.5,
                     passive_share=0.5)


@pytest.mark.parametrize(("side", "algo", "size", "slices"), [
    ("buy", "twap", 12.0, 6), ("sell", "twap", 30.0, 8), ("buy", "vwap", 25.0, 5), ("sell", "vwap", 9.0, 7),
])
def test_twap_vwap_equal_the_slow_loop(side: str, algo: str, size: float, slices: int) -> None:
    lad = ex.ladder_of(book(BIDS, ASKS), side)
    share = np.array([1.0 + (h * 5 % 11) for h in range(24)])
    prof = ex.Profile(share=share / share.sum(), bars=24 * 7, days=7.0)
    spec = ex.Spec(side=side, size=size, over_hours=3.0, slices=slices, paths=40, seed=11, start_hour=22.25)
    got = ex.compare(lad, CAL, spec, [algo], prof)
    run = got.runs[algo]
    z = np.random.default_rng(11).standard_normal((40, slices))
    sizes = list(ex.schedule(algo, spec, prof))
    sign = 1 if side == "buy" else -1
    want, filled = ref_sliced(ASKS if side == "buy" else BIDS, lad.mid, sign, sizes, spec.dt, CAL.refill_per_hour,
                              CAL.sigma_hourly, CAL.y, CAL.permanent_share, CAL.daily_volume, z)
    assert run.filled == pytest.approx(filled, rel=REL) and run.unfilled == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(run.avg_price, want, rtol=1e-12)
    np.testing.assert_allclose(run.slippage_bps, sign * (want - lad.mid) / lad.mid * 1e4, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(run.cost_usd, sign * (want - lad.mid) * filled, rtol=1e-9, atol=1e-9)
    stats = run.stats()
    lo, hi = np.percentile(want, [5, 95])
    assert stats["avg_price"].low == pytest.approx(lo, rel=REL) and stats["avg_price"].high == pytest.approx(hi)
    assert stats["avg_price"].mean == pytest.approx(float(np.mean(want)), rel=REL)
    # the last child is sent, and fills, at (slices - 1)·dt: the order is done one interval before --over ends
    assert stats["hours"].expected == pytest.approx(3.0 - spec.dt) and stats["fills"].expected == slices
    # the saving against the market order, path by path
    market_cost = sign * (got.market.avg_price - lad.mid) * size
    np.testing.assert_allclose(got.runs["market"].cost_usd, market_cost, rtol=1e-12)
    saved = market_cost - sign * (want - lad.mid) * filled
    assert got.savings[algo].usd.mean == pytest.approx(float(np.mean(saved)), rel=1e-9)


def test_a_depleted_book_makes_later_children_pay_more() -> None:
    lad = ex.ladder_of(book(BIDS, ASKS), "buy")
    slow = ex.Calibration(sigma_hourly=0.0, daily_volume=1.0, y=None, resilience=0.0)  # never refills
    spec = ex.Spec(side="buy", size=20.0, over_hours=1.0, slices=4, paths=3, seed=0)
    filled, offsets, _ = ex.child_walks(lad, ex.schedule("twap", spec), spec.dt, slow.refill_per_hour)
    assert list(np.diff(offsets) > 0) == [True, True, True]
    # never refilled, the four children together pay what one market order of the whole size does
    whole = ex.market_order(lad, 20.0)
    assert float(filled @ offsets) / 20.0 == pytest.approx(whole.slippage_bps / 1e4, rel=1e-9)
    fast = ex.child_walks(lad, ex.schedule("twap", spec), spec.dt, 1e9)[1]  # refilled in full before each
    assert fast == pytest.approx([fast[0]] * 4, rel=1e-12)


def test_iceberg_equals_the_slow_loop() -> None:
    side, size, slices = "buy", 30.0, 10
    lad = ex.ladder_of(book(BIDS, ASKS), side)
    cal = ex.Calibration(sigma_hourly=0.006, daily_volume=150.0, y=0.7, permanent_share=0.3, passive_share=0.5)
    spec = ex.Spec(side=side, size=size, over_hours=2.0, slices=slices, paths=25, seed=5)
    run = ex.compare(lad, cal, spec, ["iceberg"]).runs["iceberg"]
    z = np.random.default_rng(5).standard_normal((25, slices))
    want, fills, rest = ref_iceberg(ASKS, lad.mid, 1, BIDS[0][0], BIDS[0][1], size, slices, spec.dt,
                                    cal.sigma_hourly, cal.y, cal.permanent_share, cal.daily_volume, 0.5, z)
    assert rest > 0  # this case needs the clean-up at the end
    np.testing.assert_allclose(run.avg_price, want, rtol=1e-12)
    assert run.filled == pytest.approx(sum(fills) + rest, rel=REL)
    assert run.hours[0] == 2.0
    assert run.fills[0] == math.ceil(sum(fills) / (size / slices) - 1e-9) + 1
    # a liquid market fills it passively, early: earning the half spread on every clip
    liquid = ex.Calibration(sigma_hourly=0.0, daily_volume=1e6, y=None)
    quick = ex.compare(lad, liquid, spec, ["iceberg"]).runs["iceberg"]
    assert quick.hours[0] < spec.dt
    assert quick.avg_price[0] == pytest.approx(BIDS[0][0], rel=REL)


def test_same_seed_same_statistics_and_another_seed_differs() -> None:
    lad = ex.ladder_of(book(BIDS, ASKS), "buy")
    spec = ex.Spec(side="buy", size=15.0, over_hours=6.0, slices=24, paths=500, seed=42, start_hour=3.0)
    prof = ex.Profile.flat()
    algos = ["market", "twap", "vwap", "iceberg"]
    a, b = ex.compare(lad, CAL, spec, algos, prof), ex.compare(lad, CAL, spec, algos, prof)
    for algo in algos:
        assert a.runs[algo].stats() == b.runs[algo].stats()
        np.testing.assert_array_equal(a.runs[algo].avg_price, b.runs[algo].avg_price)
    other = ex.compare(lad, CAL, ex.Spec(side="buy", size=15.0, over_hours=6.0, slices=24, paths=500, seed=43,
                                         start_hour=3.0), algos, prof)
    assert other.runs["twap"].stats()["avg_price"].mean != a.runs["twap"].stats()["avg_price"].mean
    assert other.runs["twap"].stats()["avg_price"].expected == a.runs["twap"].stats()["avg_price"].expected


def test_the_expectation_is_what_many_paths_average_to() -> None:
    lad = ex.ladder_of(book(BIDS, ASKS), "sell")
    spec = ex.Spec(side="sell", size=20.0, over_hours=4.0, slices=16, paths=40_000, seed=9)
    run = ex.compare(lad, CAL, spec, ["twap"]).runs["twap"]
    st_ = run.stats()["avg_price"]
    stderr = float(np.std(run.avg_price)) / math.sqrt(spec.paths)
    assert abs(st_.mean - st_.expected) < 4 * stderr
    assert st_.low < st_.expected < st_.high


def test_unknown_algorithm_is_refused() -> None:
    lad = ex.ladder_of(book(BIDS, ASKS), "buy")
    with pytest.raises(ValueError, match="unknown algorithm"):
        ex.compare(lad, CAL, ex.Spec(side="buy", size=1.0, over_hours=1.0, slices=2, paths=2, seed=0), ["pov"])
