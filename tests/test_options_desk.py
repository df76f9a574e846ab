"""The options desk (pure assembly): IVs solved where the venue sends none, forward, per-expiry metrics in
coins, the cross-venue aggregate, GEX, rank and RV, expiry selection and --min-size parsing. References:
an independent scalar Black-76 (math.erf) and brute-force loops written here."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from dtrack.analytics.options_desk import DeskInputs, DeskOptions, build_options_report
from dtrack.analytics.selection import select_expiries
from dtrack.client.inputs import parse_min_size
from dtrack.errors import UsageError
from dtrack.records import OptionQuote, PricePoint, VolPoint

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
E1 = datetime(2026, 11, 27, 8, tzinfo=UTC)
E2 = datetime(2026, 12, 25, 8, tzinfo=UTC)


def n_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def b76(f: float, k: float, t: float, s: float, call: bool) -> float:
    d1 = (math.log(f / k) + 0.5 * s * s * t) / (s * math.sqrt(t))
    d2 = d1 - s * math.sqrt(t)
    return f * n_cdf(d1) - k * n_cdf(d2) if call else k * n_cdf(-d2) - f * n_cdf(-d1)


def smile_iv(k: float, f: float) -> float:
    return 0.5 - 0.2 * math.log(k / f) + 0.3 * math.log(k / f) ** 2


def chain(venue: str, expiry: datetime, f: float, *, venue_iv: bool, size: float, oi_scale: float) -> list[OptionQuote]:
    t = (expiry - NOW).total_seconds() / 31_536_000
    out = []
    for k in range(70_000, 112_000, 2_000):
        for call in (True, False):
            iv = smile_iv(k, f)
            usd = b76(f, k, t, iv, call)
            oi = oi_scale * (30 if call else 20) * math.exp(-abs(math.log(k / f)) * 8)
            out.append(OptionQuote(venue=venue, symbol=f"{venue}-{k}-{'C' if call else 'P'}", asset="BTC",
                                   expiry=expiry,
                                   strike=float(k), is_call=call, time=NOW, received_at=NOW, underlying_price=f,
                                   index_price=90_000.0, mark_price_usd=usd,
                                   mark_price_coin=usd / f, mark_iv=iv if venue_iv else None,
                                   open_interest=oi / size, volume=oi / 10 / size, contract_size=size))
    return out


@pytest.fixture(scope="module")
def quotes() -> list[OptionQuote]:
    return (chain("deribit", E1, 90_500.0, venue_iv=True, size=1.0, oi_scale=1.0)
            + chain("deribit", E2, 91_000.0, venue_iv=True, size=1.0, oi_scale=2.0)
            + chain("okx", E1, 90_400.0, venue_iv=False, size=0.1, oi_scale=0.5))


def test_solved_iv_inverts_prices_and_greeks(quotes: list[OptionQuote]) -> None:
    dvol = [VolPoint(venue="deribit", symbol="BTC-DVOL", time=NOW - timedelta(days=d), value=0.40 + 0.2 * (d % 10) / 10,
                     received_at=NOW) for d in range(365, -1, -1)]
    closes = [PricePoint(venue="deribit", symbol="BTC-PERPETUAL", time=NOW - timedelta(days=d),
                         price=90_000.0 * math.exp(0.01 * (-1) ** d), received_at=NOW) for d in range(40, -1, -1)]
    report = build_options_report(NOW, ["BTC"], DeskInputs(quotes, {"BTC": dvol}, {"BTC": ("test closes", closes)}),
                                  DeskOptions(selected={"BTC": (E1, E2)}))
    okx = [r for r in report.chain if r.quote.venue == "okx"]
    assert okx and all(r.iv_source == "solved" for r in okx)
    for r in okx:
        assert r.mark_iv == pytest.approx(smile_iv(r.quote.strike, 90_400.0), abs=1e-6)
    deribit = [r for r in report.chain if r.quote.venue == "deribit"]
    assert all(r.iv_source == "venue" for r in deribit)
    # delta by hand: N(d1) for a call
    r = next(r for r in deribit if r.quote.strike == 90_000 and r.quote.is_call and r.quote.expiry == E1)
    t = (E1 - NOW).total_seconds() / 31_536_000
    s = smile_iv(90_000, 90_500)
    d1 = (math.log(90_500 / 90_000) + 0.5 * s * s * t) / (s * math.sqrt(t))
    assert r.delta == pytest.approx(n_cdf(d1), abs=1e-9)

    # per expiry: PCR is the ratio of put to call OI in coins; max pain by brute force over strikes
    e = next(x for x in report.expiries if x.venue == "okx" and x.expiry == E1)
    rows = [q for q in quotes if q.venue == "okx"]
    put = sum(q.open_interest * q.contract_size for q in rows if not q.is_call)
    call = sum(q.open_interest * q.contract_size for q in rows if q.is_call)
    assert e.pcr_oi == pytest.approx(put / call, rel=1e-12)
    assert e.oi_contracts == pytest.approx(sum(q.open_interest for q in rows))
    assert e.forward == 90_400.0 and e.forward_source == "venue underlying price"

    def pain(s: float, qs: list[OptionQuote]) -> float:
        return sum(q.open_interest * q.contract_size * (max(s - q.strike, 0) if q.is_call else max(q.strike - s, 0))
                   for q in qs)

    strikes = sorted({q.strike for q in rows})
    assert e.max_pain == min(strikes, key=lambda s: (pain(s, rows), s))
    both = [q for q in quotes if q.expiry == E1]
    agg = next(x for x in report.aggregate if x.expiry == E1)
    assert agg.venue == "all" and agg.max_pain == min(strikes, key=lambda s: (pain(s, both), s))
    assert agg.oi_coins == pytest.approx(sum(q.open_interest * q.contract_size for q in both))

    # ATM IV at the forward of a smooth smile, term structure and constant maturity
    assert e.atm_iv == pytest.approx(smile_iv(90_400, 90_400), abs=2e-3)
    cm = {c.days: c for c in report.constant_maturity if c.venue == "deribit"}
    assert cm[7].iv is not None and cm[180].iv is None and "no extrapolation" in cm[180].note

    # regime: rank/percentile of the last DVOL close over the series; RV from 30 daily returns
    s_ = report.summary[0]
    values = [p.value for p in dvol]
    assert s_.dvol == values[-1]
    assert s_.iv_rank == pytest.approx((values[-1] - min(values)) / (max(values) - min(values)))
    assert s_.iv_percentile == pytest.approx(sum(v < values[-1] for v in values) / len(values))
    rets = [math.log(b.price / a.price) for a, b in zip(closes[-31:-1], closes[-30:], strict=True)]
    mean = sum(rets) / len(rets)
    rv = math.sqrt(sum((x - mean) ** 2 for x in rets) / (len(rets) - 1)) * math.sqrt(365)
    assert s_.rv_30d == pytest.approx(rv, rel=1e-12)
    assert s_.iv_rv_spread == pytest.approx(values[-1] - rv)

    # GEX: dealers short calls, long puts: sum of sign x gamma x coins x spot^2 x 1 % per strike
    total = 0.0
    for r in report.chain:
        assert r.gamma is not None
        sign = -1.0 if r.quote.is_call else 1.0
        total += sign * r.gamma * r.quote.open_interest * r.quote.contract_size * 90_000.0 ** 2 * 0.01
    assert s_.gex_total_usd == pytest.approx(total, rel=1e-9)
    assert sum(g.gex_usd for g in report.gex) == pytest.approx(total, rel=1e-9)


def test_rank_and_percentile_use_365_points_ending_with_today(quotes: list[OptionQuote]) -> None:
    """400 daily DVOL points rising 0.01 a day into the past, and today 0.355: only the close 365 days ago (0.35)
    and older are below it. Rank and percentile are over today and the 364 closes before it (365 points, as the
    README says): both 0. Over 366 points they would count the 0.35 (percentile 1/366, rank > 0)."""
    dvol = [VolPoint(venue="deribit", symbol="BTC-DVOL", time=NOW - timedelta(days=d), value=0.01 * (400 - d),
                     received_at=NOW) for d in range(399, 0, -1)]
    dvol.append(VolPoint(venue="deribit", symbol="BTC-DVOL", time=NOW, value=0.355, received_at=NOW))
    report = build_options_report(NOW, ["BTC"], DeskInputs(quotes, {"BTC": dvol}),
                                  DeskOptions(selected={"BTC": (E1,)}))
    window = [0.01 * (400 - d) for d in range(364, 0, -1)] + [0.355]  # days 364 .. 1 before today, and today
    assert len(window) == 365
    s = report.summary[0]
    assert s.dvol == 0.355
    assert sum(v < 0.355 for v in window) == 0
    assert s.iv_percentile == 0.0 and s.iv_rank == pytest.approx(0.0, abs=1e-12)


def test_no_dvol_is_said() -> None:
    qs = chain("bybit", E1, 140.0 * 650, venue_iv=True, size=1.0, oi_scale=1.0)
    report = build_options_report(NOW, ["BTC"], DeskInputs(qs), DeskOptions(selected={"BTC": (E1,)}))
    assert report.summary[0].iv_rank is None and "DVOL" in report.summary[0].note
    assert report.summary[0].interpretation == "n/a"


def test_select_expiries() -> None:
    days = [datetime(2026, 11, d, 8, tzinfo=UTC) for d in (21, 22, 27)] + [datetime(2026, 12, 25, 8, tzinfo=UTC),
                                                                          datetime(2027, 3, 26, 8, tzinfo=UTC)]
    assert select_expiries(days, None, "BTC") == tuple(days[:4])
    assert select_expiries(days, "next", "BTC") == (days[0],)
    assert select_expiries(days, "friday", "BTC") == (days[2],)  # 2026-11-27 is the coming Friday
    assert select_expiries(days, "month", "BTC") == (days[2],)  # the last Friday of November
    assert select_expiries(days, "all", "BTC") == tuple(days)
    assert select_expiries(days, "2026-12-25", "BTC") == (days[3],)
    with pytest.raises(UsageError, match="nearest: 2026-11-21, 2026-11-22, 2026-11-27"):
        select_expiries(days, "2026-11-23", "BTC")


def test_friday_or_month_end_missing_is_a_usage_error_naming_the_nearest() -> None:
    """A choice that matches no listed expiry is never an empty view: exit 2 with the nearest expiries."""
    days = [datetime(2026, 11, 21, 8, tzinfo=UTC), datetime(2026, 11, 22, 8, tzinfo=UTC),
            datetime(2026, 11, 23, 8, tzinfo=UTC), datetime(2026, 11, 24, 8, tzinfo=UTC)]
    with pytest.raises(UsageError, match=r"no Friday expiry listed for BTC; nearest: 2026-11-21, 2026-11-22, "
                                         r"2026-11-23"):
        select_expiries(days, "friday", "BTC")
    fridays = [datetime(2026, 11, 20, 8, tzinfo=UTC), datetime(2026, 12, 4, 8, tzinfo=UTC)]
    with pytest.raises(UsageError, match=r"no month-end \(last Friday\) expiry listed for ETH"):
        select_expiries(fridays, "month", "ETH")


@pytest.mark.parametrize(("text", "expected"), [("25", (25.0, None)), ("$100000", (None, 100000.0)),
                                                ("250000usd", (None, 250000.0)), (None, (None, None))])
def test_min_size(text: str | None, expected: tuple[float | None, float | None]) -> None:
    assert parse_min_size(text) == expected


def test_bad_min_size() -> None:
    with pytest.raises(UsageError, match="--min-size"):
        parse_min_size("lots")
