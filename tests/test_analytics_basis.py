"""Basis analytics: annualization, structure, constant maturity, spot choice and carry opportunities.

Expected values are computed by hand in each test.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtrack.analytics.basis import (
    BasisOptions,
    annualize,
    build_basis_report,
    constant_maturity,
    structure,
)
from dtrack.records import FundingRate, Instrument, Kind, Margin, PriceQuote, SpotPrice

NOW = datetime(2026, 11, 20, 8, tzinfo=UTC)


def fut(venue: str, symbol: str, days: float, asset: str = "BTC") -> Instrument:
    return Instrument(venue=venue, symbol=symbol, asset=asset, quote="USD", settle=asset, kind=Kind.FUTURE,
                      margin=Margin.INVERSE,
                      expiry=NOW + timedelta(days=days))


def perp(venue: str, symbol: str, asset: str = "BTC") -> Instrument:
    return Instrument(venue=venue, symbol=symbol, asset=asset, quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR)


def test_annualize_simple() -> None:
    assert annualize(0.01, 36.5) == pytest.approx(0.1)


@pytest.mark.parametrize(("bases", "expected"), [
    ([0.01, 0.02], "contango"), ([-0.01, -0.001], "backwardation"), ([0.01, -0.01], "mixed"), ([], "n/a"),
])
def test_structure(bases: list[float], expected: str) -> None:
    assert structure(bases) == expected


def test_constant_maturity_interpolates_and_never_extrapolates() -> None:
    cm = {c.days: c for c in constant_maturity([10.0, 60.0, 120.0], [0.05, 0.08, 0.10])}
    assert cm[30].annualized == pytest.approx(0.05 + (0.08 - 0.05) * 20 / 50)
    assert cm[90].annualized == pytest.approx(0.08 + (0.10 - 0.08) * 30 / 60)
    assert cm[180].annualized is None and "not extrapolated" in cm[180].note


def same_day_means(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The reference's expiries: points whose days agree to 6 decimals are ONE expiry at the mean of their
    values, as ``constant_maturity`` documents (two venues' contracts of one expiry differ in the last bits of
    their day counts). Without it, 1.0 d at 0.5 and 1.0000000000000002 d at 0.0 would be two neighbours and
    the 0.25 the implementation interpolates from looks outside [0.0, 0.0]."""
    by_day: dict[float, list[float]] = {}
    for d, a in points:
        by_day.setdefault(round(d, 6), []).append(a)
    return sorted((d, statistics.fmean(values)) for d, values in by_day.items())


@given(st.lists(st.tuples(st.floats(1, 400), st.floats(-0.5, 0.5)), min_size=2, max_size=8, unique_by=lambda x: x[0]))
def test_constant_maturity_lies_between_neighbours(points: list[tuple[float, float]]) -> None:
    expiries = same_day_means(points)
    for c in constant_maturity([d for d, _ in points], [a for _, a in points]):
        if c.annualized is None:
            assert c.days > expiries[-1][0] or c.days < expiries[0][0]
            continue
        below = max((p for p in expiries if p[0] <= c.days), key=lambda p: p[0])
        above = min((p for p in expiries if p[0] >= c.days), key=lambda p: p[0])
        lo, hi = sorted((below[1], above[1]))
        assert lo - 1e-12 <= c.annualized <= hi + 1e-12


def test_constant_maturity_averages_one_expiry_listed_twice() -> None:
    """The hypothesis example that found the grouping: 1.0 d and 1.0000000000000002 d are one expiry at 0.25."""
    (cm30,) = constant_maturity([1.0, 31.0, 1.0000000000000002], [0.5, 0.0, 0.0], targets=[30])
    assert cm30.annualized == pytest.approx(0.25 + (0.0 - 0.25) * 29 / 30, rel=1e-12)


def test_report_rows_spot_choice_and_opportunities() -> None:
    quotes = [
        PriceQuote(instrument=perp("binance", "BTCUSDT"), time=NOW, mark_price=100_050.0, index_price=100_010.0,
                   received_at=NOW),
        PriceQuote(instrument=fut("binance", "BTCUSD_261225", 36.5), time=NOW, mark_price=101_000.0,
                   index_price=100_010.0,
                   received_at=NOW),
        PriceQuote(instrument=fut("deribit", "BTC-26JUN27", 219.0), time=NOW, mark_price=104_000.0,
                   index_price=99_990.0,
                   received_at=NOW),
        PriceQuote(instrument=fut("deribit", "BTC-27NOV26", 7.0), time=NOW, mark_price=99_900.0, index_price=99_990.0,
                   received_at=NOW),
    ]
    spots = [SpotPrice(venue="binance", asset="BTC", quote="USDT", symbol="BTCUSDT", price=100_000.0, time=NOW,
                       received_at=NOW),
             SpotPrice(venue="okx", asset="BTC", quote="USDT", symbol="BTC-USDT", price=100_020.0, time=NOW,
                       received_at=NOW),
             SpotPrice(venue="bybit", asset="BTC", quote="USDT", symbol="BTCUSDT", price=99_990.0, time=NOW,
                       received_at=NOW)]
    funding = [FundingRate(instrument=perp("binance", "BTCUSDT"), rate=0.0001, interval_hours=8.0,
                           interval_source="test", time=NOW,
                           received_at=NOW)]
    opts = BasisOptions(taker_fees={"binance": 0.0005, "deribit": 0.0005}, spot_fee=0.001, perp_holding_days=30,
                        min_yield=0.05)
    report = build_basis_report(NOW, ["BTC"], quotes, spots, funding, opts)
    rows = {r.symbol: r for r in report.rows}
    q = rows["BTCUSD_261225"]
    assert q.spot_price == 100_000.0 and "binance spot" in q.spot_source  # the venue's own spot
    assert q.basis == pytest.approx(0.01) and q.basis_usd == pytest.approx(1000.0)
    assert q.annualized == pytest.approx(0.01 * 365 / 36.5)
    d = rows["BTC-26JUN27"]
    assert d.spot_price == 100_000.0 and "median" in d.spot_source  # deribit has no spot: median of three
    assert d.annualized == pytest.approx(0.04 * 365 / 219)
    p = rows["BTCUSDT"]
    assert p.premium_index == pytest.approx(40 / 100_010) and p.annualized == pytest.approx(0.0001 * 8760 / 8)
    s = report.summary[0]
    assert s.structure == "mixed" and s.venue_structure == {"binance": "contango", "deribit": "mixed"}
    assert [r.symbol for r in s.term_structure] == ["BTC-27NOV26", "BTCUSD_261225", "BTC-26JUN27"]
    assert report.opportunities is not None
    opps = {o.symbol: o for o in report.opportunities}
    # cash-and-carry on the binance quarterly: 10 % gross, fees 2 x (0.05 % + 0.1 %) = 0.3 % over 36.5 d = 3 %/yr
    assert opps["BTCUSD_261225"].strategy == "cash-and-carry"
    assert opps["BTCUSD_261225"].net_yield == pytest.approx(0.10 - 0.003 * 10)
    # the perp carry: 10.95 % APR - 0.3 % x 365 / 30 = 7.3 %
    assert opps["BTCUSDT"].net_yield == pytest.approx(0.1095 - 0.003 * 365 / 30)
    # the 7-day backwardated future: |annualized| 5.2 % minus 0.3 % x 365/7 = 15.6 % -> negative, not listed
    assert "BTC-27NOV26" not in opps


def test_index_is_the_fallback_without_any_spot() -> None:
    quotes = [PriceQuote(instrument=fut("deribit", "BTC-26DEC26", 36.0), time=NOW, mark_price=100_500.0,
                         index_price=100_000.0,
                         received_at=NOW)]
    report = build_basis_report(NOW, ["BTC"], quotes, [], [], BasisOptions(taker_fees={}))
    row = report.rows[0]
    assert row.spot_price == 100_000.0 and "index" in row.spot_source
    assert report.summary[0].spot_price is None
