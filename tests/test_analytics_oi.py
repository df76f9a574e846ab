"""Open-interest analytics: unit conversion on real contract specs, shares, changes, divergence.

References are hand computations written out in each test (independent of the code under test).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtrack.analytics.open_interest import (
    BEARISH,
    BULLISH,
    CAPITULATION,
    NEUTRAL,
    SHORT_SQUEEZE,
    OIInputs,
    build_oi_report,
    classify,
    price_change,
    strength,
)
from dtrack.records import (
    Instrument,
    Kind,
    LongShortRatio,
    Margin,
    OIHistory,
    OIPoint,
    OpenInterest,
    PricePoint,
    Unit,
    oi_base_and_usd,
)

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


def inst(venue: str, symbol: str, *, margin: Margin = Margin.LINEAR, cs: float = 1.0, unit: Unit = Unit.BASE,
         mult: float = 1.0, kind: Kind = Kind.PERP, asset: str = "BTC") -> Instrument:
    return Instrument(venue=venue, symbol=symbol, asset=asset, quote="USDT", settle="USDT", kind=kind, margin=margin,
                      multiplier=mult, contract_size=cs, contract_unit=unit)


def history(venue: str, symbol: str, *points: tuple[datetime, float]) -> OIHistory:
    """An hourly history of (time, base) points."""
    return OIHistory(venue=venue, symbol=symbol, period_hours=1, points=tuple(
        OIPoint(venue=venue, symbol=symbol, time=t, base=base, received_at=NOW) for t, base in points))


def close(t: datetime, price: float) -> PricePoint:
    """A close of a price series."""
    return PricePoint(venue="a", symbol="BTCUSDT", time=t, price=price, received_at=NOW)


# --- unit conversion on real contract specs ---------------------------------------------------------


@pytest.mark.parametrize(("instrument", "amount", "unit", "price", "base", "usd"), [
    # Binance COIN-M BTCUSD_PERP: contractSize 100 USD; 1,000 contracts = 100,000 USD = 1 BTC at 100,000
    (inst("binance", "BTCUSD_PERP", margin=Margin.INVERSE, cs=100, unit=Unit.USD), 1000, Unit.CONTRACTS, 100_000.0,
     1.0, 100_000.0),
    # OKX BTC-USDT-SWAP: ctVal 0.01 BTC; 250 contracts = 2.5 BTC
    (inst("okx", "BTC-USDT-SWAP", cs=0.01), 250, Unit.CONTRACTS, 90_000.0, 2.5, 225_000.0),
    # Bybit inverse BTCUSD reports USD directly
    (inst("bybit", "BTCUSD", margin=Margin.INVERSE, unit=Unit.USD), 4_500_000, Unit.USD, 90_000.0, 50.0, 4_500_000),
    # Binance 1000PEPEUSDT: quantity in 1000PEPE units, price per one PEPE
    (inst("binance", "1000PEPEUSDT", mult=1000, asset="PEPE"), 2_000_000, Unit.BASE, 0.00001, 2e9, 20_000.0),
    # Hyperliquid: coins x mark (the 4,500x trap: coins are not dollars)
    (inst("hyperliquid", "BTC", asset="BTC"), 4500, Unit.BASE, 90_000.0, 4500.0, 405_000_000.0),
])
def test_oi_conversion(instrument: Instrument, amount: float, unit: Unit, price: float, base: float,
                       usd: float) -> None:
    got_base, got_usd = oi_base_and_usd(instrument, amount, unit, price)
    assert got_base == pytest.approx(base, rel=1e-12)
    assert got_usd == pytest.approx(usd, rel=1e-12)


@given(st.floats(1, 1e9), st.floats(1e-6, 1e6), st.sampled_from([1.0, 10.0, 100.0]))
def test_usd_follows_from_base_and_price(amount: float, price: float, cs: float) -> None:
    oi = OpenInterest.of(instrument=inst("x", "Y", cs=cs), amount=amount, unit=Unit.CONTRACTS, price=price,
                         price_source="mark", time=NOW,
                         received_at=NOW)
    assert oi.usd == pytest.approx(oi.base * oi.price_used, rel=1e-12)
    assert oi.base == pytest.approx(amount * cs, rel=1e-12)


# --- report: shares, changes ---------------------------------------------------------------------------


def test_shares_changes_and_total() -> None:
    a = OpenInterest.of(instrument=inst("binance", "BTCUSDT"), amount=300.0, unit=Unit.BASE, price=100_000.0,
                        price_source="mark", time=NOW,
                        received_at=NOW)
    b = OpenInterest.of(instrument=inst("bybit", "BTCUSDT"), amount=100.0, unit=Unit.BASE, price=100_000.0,
                        price_source="mark", time=NOW,
                        received_at=NOW)
    c = OpenInterest.of(instrument=inst("deribit", "BTC-PERPETUAL", margin=Margin.INVERSE, cs=10, unit=Unit.USD),
                        amount=1_000_000, unit=Unit.CONTRACTS, price=100_000.0, price_source="mark", time=NOW,
                        received_at=NOW)  # 10,000,000 USD = 100 BTC
    flat_then = {
        ("binance", "BTCUSDT"): history("binance", "BTCUSDT", (NOW - timedelta(days=8), 200.0),
                                        (NOW - timedelta(minutes=1), 300.0)),
        ("bybit", "BTCUSDT"): history("bybit", "BTCUSDT", (NOW - timedelta(days=8), 100.0), (NOW, 100.0)),
    }
    ls = LongShortRatio(venue="binance", asset="BTC", symbol="BTCUSDT", definition="global accounts", ratio=1.5,
                        long_share=0.6, time=NOW,
                        received_at=NOW)
    report = build_oi_report(NOW, ["BTC"], OIInputs([a, b, c], flat_then, {"deribit": "no history"}, [ls]),
                             ("24h", "7d"), None, 0.02, 0.01)
    shares = {r.oi.instrument.venue: r.share for r in report.rows}
    assert shares == pytest.approx({"binance": 0.6, "bybit": 0.2, "deribit": 0.2})
    assert sum(shares.values()) == pytest.approx(1.0)
    s = report.summary[0]
    assert s.total_oi_usd == pytest.approx(50_000_000.0)
    # binance at now-7d: linear from 200 (8 d ago) to 300 (1 min ago), 1 d along: 200 + 100 * 1 d / (8 d - 1 min)
    then = 200.0 + 100.0 * timedelta(days=1) / (timedelta(days=8) - timedelta(minutes=1))
    row = next(r for r in report.rows if r.oi.instrument.venue == "binance")
    assert row.changes["7d"] == pytest.approx(300.0 / then - 1.0, rel=1e-9)
    assert row.long_short is ls
    # total over the venues with history only: (300 + 100) / (then + 100) - 1
    assert s.changes["7d"] == pytest.approx(400.0 / (then + 100.0) - 1.0, rel=1e-9)
    assert s.venues_with_history == ("binance", "bybit")
    deribit = next(r for r in report.rows if r.oi.instrument.venue == "deribit")
    assert deribit.changes["7d"] is None and deribit.change_note == "no history"


def test_history_too_short_gives_no_change() -> None:
    a = OpenInterest.of(instrument=inst("binance", "BTCUSDT"), amount=300.0, unit=Unit.BASE, price=1.0,
                        price_source="mark", time=NOW,
                        received_at=NOW)
    short = {("binance", "BTCUSDT"): history("binance", "BTCUSDT", (NOW - timedelta(days=2), 250.0), (NOW, 300.0))}
    report = build_oi_report(NOW, ["BTC"], OIInputs([a], short), ("24h", "7d"), None, 0.02, 0.01)
    assert report.rows[0].changes["7d"] is None  # never extrapolated
    assert report.rows[0].changes["24h"] == pytest.approx(300 / 275 - 1)


# --- divergence ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("oi", "px", "signal"), [
    (0.05, 0.03, BULLISH), (0.05, -0.03, BEARISH), (-0.05, 0.03, SHORT_SQUEEZE), (-0.05, -0.03, CAPITULATION),
    (0.019, 0.5, NEUTRAL), (0.5, 0.0099, NEUTRAL), (0.021, -0.011, BEARISH),
])
def test_classify(oi: float, px: float, signal: str) -> None:
    assert classify(oi, px, 0.02, 0.01) == signal


def test_strength_grows_with_both_moves() -> None:
    assert strength(0.02, 0.01, 0.02, 0.01) == pytest.approx(1 / 3)
    assert strength(0.04, 0.05, 0.02, 0.01) == pytest.approx(2 / 3)  # the weaker move (2x) decides
    assert strength(0.5, 0.5, 0.02, 0.01) == 1.0


def test_price_change_from_closes() -> None:
    pts = [close(NOW - timedelta(hours=h), 100.0 + (24 - h)) for h in range(24, -1, -1)]
    assert price_change(pts, NOW, timedelta(hours=24)) == pytest.approx(124 / 100 - 1)
    assert price_change(pts, NOW, timedelta(hours=48)) is None


def test_divergence_aggregate_and_agreement() -> None:
    rows = [OpenInterest.of(instrument=inst(v, "BTCUSDT"), amount=100.0, unit=Unit.BASE, price=100.0,
                            price_source="mark", time=NOW,
                            received_at=NOW) for v in ("a", "b")]
    hist = {("a", "BTCUSDT"): history("a", "BTCUSDT", (NOW - timedelta(days=2), 90.0), (NOW - timedelta(days=1), 90.0),
                                      (NOW, 100.0)),
            ("b", "BTCUSDT"): history("b", "BTCUSDT", (NOW - timedelta(days=2), 110.0),
                                      (NOW - timedelta(days=1), 110.0),
                                      (NOW, 100.0))}
    up = [close(NOW - timedelta(hours=24), 100.0), close(NOW, 105.0)]
    report = build_oi_report(NOW, ["BTC"], OIInputs(rows, hist, prices={("a", "BTC"): up, ("b", "BTC"): up}), (),
                             timedelta(hours=24), 0.02, 0.01)
    by = {d.venue: d for d in report.divergence}
    assert by["a"].signal == BULLISH and by["a"].oi_change == pytest.approx(100 / 90 - 1)
    assert by["b"].signal == SHORT_SQUEEZE
    # aggregate: 200 coins now vs 200 a day ago -> OI flat -> neutral, no confidence
    assert by["all"].oi_change == pytest.approx(0.0) and by["all"].signal == NEUTRAL and by["all"].confidence == 0.0


def test_divergence_without_history_is_na_with_reason() -> None:
    rows = [OpenInterest.of(instrument=inst("deribit", "BTC-PERPETUAL"), amount=100.0, unit=Unit.BASE, price=100.0,
                            price_source="mark", time=NOW,
                            received_at=NOW)]
    report = build_oi_report(NOW, ["BTC"], OIInputs(rows, missing_history={"deribit": "Deribit publishes none"}), (),
                             timedelta(hours=24), 0.02, 0.01)
    assert report.divergence[0].signal == "n/a" and "Deribit publishes none" in report.divergence[0].note
    assert report.divergence[-1].venue == "all" and report.divergence[-1].signal == "n/a"
