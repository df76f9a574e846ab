"""Funding analytics against hand-worked references (plain Python arithmetic, not the code under test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtrack.analytics.funding import (
    ReportOptions,
    arbitrage,
    build_report,
    coverage_note,
    history_stats,
    is_alert,
    position_payment,
    sentiment,
    weighted_rate,
    window_average,
)
from dtrack.records import FundingHistory, FundingPoint, FundingRate, Instrument, Kind, Margin, rate_8h

T0 = datetime(2026, 11, 20, 8, tzinfo=UTC)
BANDS = (0.0008, 0.0003, 0.00005)


def inst(venue: str, symbol: str = "BTCUSDT", asset: str = "BTC") -> Instrument:
    return Instrument(venue=venue, symbol=symbol, asset=asset, quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR)


def fr(venue: str, rate: float, hours: float, oi: float | None = None, asset: str = "BTC",
       next_time: datetime | None = T0 + timedelta(hours=8)) -> FundingRate:
    return FundingRate(instrument=inst(venue, asset=asset), rate=rate, interval_hours=hours, interval_source="test",
                       time=T0, received_at=T0, open_interest_usd=oi, next_funding_time=next_time)


def test_normalization_never_assumes_8h() -> None:
    # 0.01 % per 1 h is 0.08 % per 8 h and 87.6 % a year; per 4 h it is 0.02 % per 8 h.
    hourly = fr("hyperliquid", 0.0001, 1)
    assert hourly.rate_8h == pytest.approx(0.0008, rel=1e-12)
    assert hourly.apr == pytest.approx(0.876, rel=1e-12)
    four = fr("binance", 0.0001, 4)
    assert four.rate_8h == pytest.approx(0.0002, rel=1e-12)
    assert four.apr == pytest.approx(0.219, rel=1e-12)
    assert fr("okx", 0.0001, 8).apr == pytest.approx(0.1095, rel=1e-12)


@pytest.mark.parametrize(("r8", "label"), [
    (0.00081, "extremely bullish"), (0.0008, "strongly bullish"), (0.0005, "strongly bullish"),
    (0.0003, "moderately bullish"), (0.0001, "moderately bullish"), (0.00005, "neutral"), (0.0, "neutral"),
    (-0.00005, "neutral"), (-0.0001, "moderately bearish"), (-0.0003, "moderately bearish"),
    (-0.0005, "strongly bearish"), (-0.00081, "extremely bearish"),
])
def test_sentiment_bands(r8: float, label: str) -> None:
    assert sentiment(r8, *BANDS) == label


def test_weighted_rate_by_open_interest() -> None:
    rows = [fr("binance", 0.0001, 8, oi=3e9), fr("bybit", 0.0002, 4, oi=1e9), fr("okx", 0.5, 8, oi=None)]
    w = weighted_rate(rows)
    assert w is not None
    # by hand: (0.0001*3 + 0.0004*1) / 4 = 0.000175 per 8 h; the OKX row has no OI and is left out
    assert w.rate_8h == pytest.approx(0.000175, rel=1e-12)
    assert w.apr == pytest.approx(0.000175 * 1095, rel=1e-12)
    assert "1 row(s) without OI left out" in w.weighting


def test_weighted_rate_without_any_oi_is_labelled_unweighted() -> None:
    w = weighted_rate([fr("binance", 0.0001, 8), fr("bybit", 0.0003, 8)])
    assert w is not None and w.rate_8h == pytest.approx(0.0002) and w.weighting.startswith("unweighted")


def points(rates: list[float], hours: float, end: datetime = T0, venue: str = "okx",
           symbol: str = "X") -> list[FundingPoint]:
    n = len(rates)
    return [FundingPoint(venue=venue, symbol=symbol, time=end - timedelta(hours=hours * (n - 1 - i)), rate=r,
                         interval_hours=hours, received_at=end) for i, r in enumerate(rates)]


def test_window_average_uses_settlements_inside_the_window() -> None:
    pts = points([0.0001, 0.0002, 0.0003, 0.0004], 8)  # at T0-24h, -16h, -8h, T0
    # (T0-24h, T0] holds the last three; per 8 h they are themselves
    assert window_average(pts, T0, timedelta(hours=24)) == pytest.approx(0.0003, rel=1e-12)
    hourly = points([0.00001] * 30, 1)
    assert window_average(hourly, T0, timedelta(hours=24)) == pytest.approx(0.00008, rel=1e-12)
    assert window_average([], T0, timedelta(hours=24)) is None


def test_history_stats_and_trend() -> None:
    pts = points([0.0001 * i for i in range(1, 22)], 8)  # rising 0.01 % per settlement, 3 a day
    s = history_stats(pts)
    assert s.count == 21 and s.min == pytest.approx(0.0001) and s.max == pytest.approx(0.0021)
    assert s.last == pytest.approx(0.0021) and s.mean == pytest.approx(0.0011)
    assert s.trend == "rising" and s.trend_per_day == pytest.approx(0.0003, rel=1e-9)
    flat = history_stats(points([0.0001, 0.0002] * 10, 8))
    assert flat.trend == "flat"
    assert history_stats([]).trend == "n/a"


def test_alert_is_absolute_and_strict() -> None:
    assert is_alert(-0.0009, 0.0008) and not is_alert(0.0008, 0.0008) and not is_alert(0.5, None)


def test_arbitrage_pairs_fees_and_timing() -> None:
    rows = [fr("binance", 0.0001, 8), fr("hyperliquid", 0.0000125, 1), fr("okx", 0.0003, 8)]
    fees = {"binance": 0.0005, "hyperliquid": 0.00045, "okx": 0.0005}
    opps = arbitrage(rows, fees, holding_days=30)
    assert len(opps) == 3
    best = opps[0]
    # hyperliquid 0.0000125/h = 0.0001/8h; okx 0.0003/8h: spread equals binance-vs-okx, hyperliquid fees lower
    assert (best.long.instrument.venue, best.short.instrument.venue) == ("hyperliquid", "okx")
    assert best.spread_8h == pytest.approx(0.0002, rel=1e-12)
    assert best.fees == pytest.approx(2 * (0.00045 + 0.0005), rel=1e-12)
    assert best.gross_apr == pytest.approx(0.0002 * 1095, rel=1e-12)
    assert best.net_apr == pytest.approx(0.0002 * 1095 - 0.0019 * 365 / 30, rel=1e-12)
    assert best.breakeven_days == pytest.approx(0.0019 / 0.0006, rel=1e-12)
    assert not best.simultaneous and "1 h" in best.timing_note and "8 h" in best.timing_note
    assert [o.net_apr for o in opps] == sorted((o.net_apr for o in opps), reverse=True)
    assert arbitrage(rows, fees, 30, min_spread_8h=0.00015) == [o for o in opps if o.spread_8h >= 0.00015]


def test_arbitrage_ignores_same_venue_pairs() -> None:
    rows = [fr("binance", 0.0001, 8), FundingRate(instrument=inst("binance", "BTCUSDC"), rate=0.0005, interval_hours=8,
                                                  interval_source="t", time=T0, received_at=T0)]
    assert arbitrage(rows, {}, 30) == []


def test_position_payment_sign() -> None:
    # longs pay a positive rate: a 10,000 USD long at 0.01 %/8 h pays 1 USD per interval, 3 a day
    p = position_payment(0.0001, 8, 10_000, "long")
    assert (p.per_interval, p.per_day, p.per_30d) == pytest.approx((-1.0, -3.0, -90.0))
    q = position_payment(-0.00002, 1, 50_000, "long")
    assert q.per_interval == pytest.approx(1.0) and q.per_day == pytest.approx(24.0)


def test_coverage_note_says_when_history_is_short() -> None:
    asked = T0 - timedelta(days=30)
    short = FundingHistory(venue="okx", symbol="X", start=asked, end=T0, points=tuple(points([0.0001] * 9, 8)))
    assert "later than asked" in coverage_note(short, asked)
    full = FundingHistory(venue="okx", symbol="X", start=asked, end=T0, points=tuple(points([0.0001] * 91, 8)))
    assert coverage_note(full, asked) == ""
    noted = FundingHistory(venue="okx", symbol="X", start=asked, end=T0, points=(), note="venue keeps 3 months")
    assert coverage_note(noted, asked) == "venue keeps 3 months"


def test_build_report_rows_summary_and_payment() -> None:
    rows = [fr("binance", 0.0001, 8, oi=2e9), fr("hyperliquid", 0.00002, 1, oi=1e9), fr("okx", -0.0001, 8, oi=1e9,
                                                                                       asset="ETH")]
    hist = {("binance", "BTCUSDT"): (points([0.0001] * 21, 8, venue="binance", symbol="BTCUSDT"), "")}
    opts = ReportOptions(timedelta(days=7), BANDS, alert_threshold=0.00015, arb=True, fees={}, holding_days=30,
                         position=(1000.0, "short"))
    rep = build_report(T0, ["BTC", "ETH"], rows, hist, opts)
    assert [r.rate.instrument.venue for r in rep.rows] == ["binance", "hyperliquid", "okx"]
    assert rep.rows[0].avg_7d_8h == pytest.approx(0.0001) and rep.rows[1].avg_7d_8h is None
    assert rep.rows[1].alert and not rep.rows[0].alert  # 0.00002/h = 0.00016/8h
    assert rep.rows[0].payment is not None and rep.rows[0].payment.per_interval == pytest.approx(0.1)
    btc = rep.summary[0]
    assert btc.weighted is not None and btc.weighted.rate_8h == pytest.approx((0.0001 * 2 + 0.00016) / 3)
    assert btc.sentiment == "moderately bullish"
    assert rep.summary[1].sentiment == "moderately bearish"
    assert rep.arbitrage is not None and len(rep.arbitrage) == 1


@given(rate=st.floats(-0.05, 0.05), hours=st.sampled_from([1, 2, 4, 8]))
def test_rate_8h_and_apr_follow_the_interval(rate: float, hours: int) -> None:
    f = fr("binance", rate, hours)
    assert f.rate_8h * hours == pytest.approx(rate * 8, rel=1e-12, abs=1e-18)  # same money per 8 h
    assert f.apr * hours == pytest.approx(rate * 8760, rel=1e-12, abs=1e-18)
    assert f.apr == pytest.approx(f.rate_8h * 1095, rel=1e-9, abs=1e-15)
    assert rate_8h(rate, hours) == f.rate_8h


def test_payment_timing() -> None:
    from dtrack.analytics.funding import payment_timing

    a, b = fr("binance", 0.0001, 8), fr("okx", 0.0002, 8)
    assert payment_timing(a, b) == ""
    deribit = fr("deribit", 0.0001, 8, next_time=None)
    assert payment_timing(deribit, b) == "payments not simultaneous: deribit accrues continuously"
    shifted = fr("bybit", 0.0002, 8, next_time=T0 + timedelta(hours=4))
    assert "next settlements 16:00 and 12:00 UTC" in payment_timing(a, shifted)
    assert "every 8 h" in payment_timing(a, fr("hyperliquid", 0.00001, 1))


@given(st.lists(st.tuples(st.floats(-0.01, 0.01), st.floats(1, 1e10)), min_size=1, max_size=20))
def test_weighted_rate_lies_between_min_and_max(rows: list[tuple[float, float]]) -> None:
    w = weighted_rate([fr(f"v{i}", r, 8, oi=oi) for i, (r, oi) in enumerate(rows)])
    assert w is not None
    lo, hi = min(r for r, _ in rows), max(r for r, _ in rows)
    assert lo - 1e-15 <= w.rate_8h <= hi + 1e-15
