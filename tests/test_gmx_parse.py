"""GMX API parsers on documented samples, and what GMX's per-side terms do downstream (arbitrage, payments, carry).

No real GMX answer exists in the payload corpus, so the rows here are built from documentation and say where each
part comes from:
- field names and types: the GMX API's generated OpenAPI (``MarketInfoResponse``, ``MarketTickerResponse``, the GMX
  docs' "API v2 reference", mirrored at api-evangelist/gmx ``openapi/gmx-markets-api-openapi.yml``);
- the 30-decimal numbers: the documented example of ``../shared/exchange-api.md`` section 8.3 (open interest long
  ``4512345678900000000000000000000000000`` = 4.51e6 USD, short ``3987654321000000000000000000000000000``, a rate of
  ``35000000000000000000000000000`` = 0.035);
- the funding rule (the larger side pays ``fundingFactorPerSecond``, the smaller receives it times paying OI /
  receiving OI): the GMX SDK, gmx-io/gmx-interface ``sdk/src/utils/fees`` ``getFundingFactorPerPeriod``.
Expected values are computed here with Decimal arithmetic, independently of the parser.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dtrack.analytics.basis import carry_apr
from dtrack.analytics.funding import arbitrage, payment_of, payment_timing
from dtrack.errors import Implausible, ParseError
from dtrack.records import FundingRate, Instrument, Kind, Margin, SideRates, Unit
from dtrack.venues import plausible
from dtrack.venues.gmx import api, parse

EXACT = 1e-12
RECEIVED = datetime(2026, 11, 20, 13, 27, 45, tzinfo=UTC)
E30 = Decimal(10) ** 30
#: exchange-api.md 8.3, in the API's 30-decimal fixed point (USD)
LONG_OI = "4512345678900000000000000000000000000"
SHORT_OI = "3987654321000000000000000000000000000"
#: a funding factor of exactly 1e-9 per second, a borrow factor of 2e-9 per second
FACTOR = "1000000000000000000000"
BORROW = "2000000000000000000000"


def row(**changes: Any) -> dict[str, Any]:
    """A ``/v1/markets/info`` element with the fields dtrack reads (OpenAPI names and types)."""
    base = {"marketTokenAddress": "0x70d95587d40A2caf56bd97485aB3Eec10Bee6336", "name": "ETH/USD [WETH-USDC]",
            "isSpotOnly": False, "isDisabled": False, "fundingFactorPerSecond": FACTOR, "longsPayShorts": True,
            "borrowingFactorPerSecondForLongs": BORROW, "borrowingFactorPerSecondForShorts": "0",
            "longInterestUsd": LONG_OI, "shortInterestUsd": SHORT_OI,
            "maxFundingFactorPerSecond": "20000000000000000000000"}
    return {**base, **changes}


def _reader() -> Any:
    return parse.reader(api.MARKETS_INFO, "arbitrum")


ETH = parse.instrument("arbitrum", "ETH/USD [WETH-USDC]")


# --- fixed point ----------------------------------------------------------------------------------------


def test_fixed_point_is_exact_on_the_documented_sample() -> None:
    r = _reader()
    assert parse.fixed(r, {"x": LONG_OI}, "x") == Decimal("4512345.6789")
    assert parse.fixed(r, {"x": SHORT_OI}, "x") == Decimal("3987654.321")
    assert parse.fixed(r, {"x": "35000000000000000000000000000"}, "x") == Decimal("0.035")
    assert parse.fixed(r, {"x": "-41000000000000000000000000000"}, "x") == Decimal("-0.041")
    assert parse.fixed(r, {"x": 1000000000000000000000}, "x") == Decimal("1E-9")  # a JSON integer is read too
    # 31 significant digits survive (a float keeps 17): the parse is exact
    assert parse.fixed(r, {"x": "1234567890123456789012345678901"}, "x") == Decimal("1.234567890123456789012345678901")


@pytest.mark.parametrize("value", ["1.5", "1e30", "", "0x10", 1.5, True, None])
def test_fixed_point_refuses_anything_but_an_integer(value: Any) -> None:
    with pytest.raises(ParseError, match="30-decimal fixed point"):
        parse.fixed(_reader(), {"x": value}, "x")


# --- listing ---------------------------------------------------------------------------------------------


def test_listing_keeps_perpetual_pools_only() -> None:
    body = [row(), row(name="SWAP-ONLY [USDC-USDT]", isSpotOnly=True), row(name="DOGE/USD [WETH-USDC]",
                                                                           isDisabled=True),
            row(name="BTC/USD [WBTC.b-USDC]"), row(name="kSHIB/USD [WETH-USDC]")]
    listing = parse.parse_listing(body, "arbitrum")
    assert [(i.symbol, i.asset, i.market) for i in listing.instruments] == [
        ("arbitrum:ETH/USD [WETH-USDC]", "ETH", "arbitrum"), ("arbitrum:BTC/USD [WBTC.b-USDC]", "BTC", "arbitrum"),
        ("arbitrum:kSHIB/USD [WETH-USDC]", "SHIB", "arbitrum")]
    inst = listing.instruments[0]
    assert (inst.kind, inst.margin, inst.quote, inst.settle, inst.multiplier, inst.contract_unit) == (
        Kind.PERP, Margin.LINEAR, "USD", "USD", 1.0, Unit.USD)
    assert inst.normalized_id == "ETH-USD-PERP"


def test_a_broken_row_costs_only_its_asset() -> None:
    listing = parse.parse_listing([row(), row(name="SOL/USD [SOL-USDC]", isDisabled="no")], "avalanche")
    assert [i.symbol for i in listing.instruments] == ["avalanche:ETH/USD [WETH-USDC]"]
    assert "SOL" in listing.broken
    with pytest.raises(ParseError, match="no trading contract parsed"):
        parse.parse_listing([row(name="ETH USD")], "arbitrum")


# --- funding ----------------------------------------------------------------------------------------------


def _expected_receiving(paying: str, receiving: str) -> float:
    """The receiving side's funding per second (income), per getFundingFactorPerPeriod."""
    return float(Decimal(FACTOR) * Decimal(paying) / Decimal(receiving) / E30)


def test_longs_pay_funding_continuously() -> None:
    rate = parse.funding_rate(ETH, row(), Decimal("3150.25"), RECEIVED)
    assert (rate.interval_hours, rate.interval_source, rate.next_funding_time) == (8.0, api.INTERVAL_SOURCE, None)
    assert rate.continuous
    # 8 h-equivalent = per-second x 28,800; APR = per-second x 31,536,000
    assert rate.rate == rate.rate_8h == pytest.approx(1e-9 * 28_800, rel=EXACT)
    assert rate.apr == pytest.approx(1e-9 * 31_536_000, rel=EXACT)
    s = rate.sides
    assert s is not None
    assert s.funding_long == pytest.approx(1e-9 * 28_800, rel=EXACT)  # longs pay
    assert s.funding_short == pytest.approx(-_expected_receiving(LONG_OI, SHORT_OI) * 28_800, rel=EXACT)
    assert s.funding_short < -s.funding_long  # the smaller side receives more per USD than the larger pays
    assert (s.borrow_long, s.borrow_short) == (pytest.approx(2e-9 * 28_800, rel=EXACT), 0.0)
    # the cost of holding each side: funding + borrow, never merged into ``rate``
    assert rate.long_cost_8h == pytest.approx((1e-9 + 2e-9) * 28_800, rel=EXACT)
    assert rate.short_cost_8h == pytest.approx(s.funding_short, rel=EXACT)
    assert rate.open_interest_usd == pytest.approx(4512345.6789 + 3987654.321, rel=EXACT)
    assert (rate.mark_price, rate.index_price, rate.predicted_rate) == (3150.25, None, None)
    assert "longs pay funding" in rate.note


def test_shorts_pay_funding() -> None:
    rate = parse.funding_rate(ETH, row(longsPayShorts=False), None, RECEIVED)
    assert rate.rate == pytest.approx(-1e-9 * 28_800, rel=EXACT)  # negative: shorts pay longs
    assert rate.sides is not None
    assert rate.sides.funding_short == pytest.approx(1e-9 * 28_800, rel=EXACT)
    assert rate.sides.funding_long == pytest.approx(-_expected_receiving(SHORT_OI, LONG_OI) * 28_800, rel=EXACT)
    assert rate.mark_price is None


def test_a_side_without_open_interest_receives_nothing() -> None:
    rate = parse.funding_rate(ETH, row(shortInterestUsd="0"), None, RECEIVED)
    assert rate.sides is not None and rate.sides.funding_short == 0.0


def test_funding_cap_is_the_markets_max_factor() -> None:
    # the paying side is held to maxFundingFactorPerSecond (2e-8); the receiving side may exceed it
    tiny_short = row(fundingFactorPerSecond="19000000000000000000000", shortInterestUsd="1" + "0" * 30)
    rate = parse.funding_rate(ETH, tiny_short, None, RECEIVED)
    assert rate.sides is not None and rate.sides.funding_short < -1.0  # the paid USD over 1 USD of shorts
    with pytest.raises(Implausible) as err:
        parse.funding_rate(ETH, row(fundingFactorPerSecond="21000000000000000000000"), None, RECEIVED)
    assert (err.value.venue, err.value.field) == ("gmx", "rate") and "maxFundingFactorPerSecond" in str(err.value)
    no_cap = {k: v for k, v in row().items() if k != "maxFundingFactorPerSecond"}
    assert parse.funding_cap(parse.market_state(_reader(), no_cap)) is plausible.BACKSTOP


@pytest.mark.parametrize(("field", "value", "match"), [
    ("borrowingFactorPerSecondForLongs", "-1", "borrow_long"),
    ("longsPayShorts", "true", "expected true or false"),
    ("fundingFactorPerSecond", "0.000000001", "30-decimal fixed point"),
])
def test_broken_terms_are_refused(field: str, value: Any, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse.funding_rate(ETH, row(**{field: value}), None, RECEIVED)


def test_both_sides_paying_is_implausible() -> None:
    rate = FundingRate(instrument=ETH, rate=1e-5, interval_hours=8.0, interval_source="x", time=None,
                       received_at=RECEIVED, sides=SideRates(funding_long=1e-5, funding_short=2e-5, borrow_long=0.0,
                                                        borrow_short=0.0))
    with pytest.raises(Implausible, match="both sides pay funding"):
        plausible.side_rates("GET /v1/markets/info", rate)


# --- open interest and prices ------------------------------------------------------------------------------


def test_open_interest_is_both_sides_in_usd() -> None:
    oi = parse.open_interest(ETH, row(), Decimal("3150.25"), RECEIVED)
    total = 4512345.6789 + 3987654.321
    assert (oi.amount, oi.unit, oi.usd) == (pytest.approx(total, rel=EXACT), Unit.USD, pytest.approx(total, rel=EXACT))
    assert (oi.long_usd, oi.short_usd) == (pytest.approx(4512345.6789, rel=EXACT), pytest.approx(3987654.321,
                                                                                                   rel=EXACT))
    assert oi.base == pytest.approx(total / 3150.25, rel=EXACT)
    assert (oi.price_used, oi.price_source) == (3150.25, parse.OI_PRICE_SOURCE)
    row_ = oi.to_row()  # the store keeps both sides (schema v3)
    assert (row_["long_usd"], row_["short_usd"]) == (oi.long_usd, oi.short_usd)
    with pytest.raises(Implausible, match="shortInterestUsd"):
        parse.open_interest(ETH, row(shortInterestUsd="-5"), Decimal("3150.25"), RECEIVED)


def test_mark_prices_per_whole_token() -> None:
    body = [{"symbol": "ETH/USD [WETH-USDC]", "markPrice": "3150250000000000000000000000000000"},
            {"symbol": "BTC/USD [WBTC.b-USDC]", "markPrice": "0"},
            {"symbol": "XRP/USD [WETH-USDC]", "markPrice": "not read: nobody asked"}]
    errors: list[Any] = []
    prices = parse.mark_prices(body, "arbitrum", ["arbitrum:ETH/USD [WETH-USDC]", "arbitrum:BTC/USD [WBTC.b-USDC]"],
                               errors)
    assert prices == {"arbitrum:ETH/USD [WETH-USDC]": Decimal("3150.25")}
    assert [(type(e), e.symbol) for e in errors] == [(Implausible, "arbitrum:BTC/USD [WBTC.b-USDC]")]
    quote = parse.price_quote(ETH, Decimal("3150.25"), RECEIVED)
    assert (quote.mark_price, quote.index_price, quote.last_price) == (3150.25, None, None)


# --- downstream: arbitrage, payments, carry ------------------------------------------------------------------


def _cex(rate_8h: float) -> FundingRate:
    inst = Instrument(venue="binance", symbol="ETHUSDT", asset="ETH", quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR)
    return FundingRate(instrument=inst, rate=rate_8h, interval_hours=8.0, interval_source="x", time=None,
                       received_at=RECEIVED, next_funding_time=RECEIVED + timedelta(hours=2))


def test_an_arbitrage_leg_on_gmx_counts_funding_and_borrow() -> None:
    gmx = parse.funding_rate(ETH, row(), None, RECEIVED)
    assert gmx.sides is not None
    # the CEX pays more than GMX's longs: long GMX, short the CEX. The long leg pays GMX funding AND borrow.
    (opp,) = arbitrage([gmx, _cex(0.0003)], {}, 30.0)
    assert (opp.long.instrument.venue, opp.short.instrument.venue) == ("gmx", "binance")
    long_cost = gmx.sides.funding_long + gmx.sides.borrow_long
    assert opp.long_cost_8h == pytest.approx(long_cost, rel=EXACT)
    assert opp.spread_8h == pytest.approx(0.0003 - long_cost, rel=EXACT)
    assert not opp.simultaneous and opp.timing_note == "payments not simultaneous: gmx accrues continuously"
    assert "long leg (gmx) pays borrow" in opp.costs_note
    # a negative CEX rate: long the CEX (its longs are paid), short GMX (its shorts are paid, and pay no borrow)
    (opp,) = arbitrage([gmx, _cex(-0.0002)], {}, 30.0)
    assert (opp.long.instrument.venue, opp.short.instrument.venue) == ("binance", "gmx")
    assert opp.short_cost_8h == pytest.approx(gmx.sides.funding_short, rel=EXACT)
    assert opp.spread_8h == pytest.approx(0.0002 - gmx.sides.funding_short, rel=EXACT)
    assert opp.costs_note == ""  # the GMX short leg pays no borrow here
    assert payment_timing(opp.long, opp.short).endswith("gmx accrues continuously")


def test_two_symmetric_venues_pair_as_before() -> None:
    low, high = _cex(0.0001), _cex(0.0004)
    other = FundingRate(instrument=Instrument(venue="okx", symbol="ETH-USDT-SWAP", asset="ETH", quote="USDT",
                                              settle="USDT", kind=Kind.PERP, margin=Margin.LINEAR),
                        rate=0.0004, interval_hours=8.0, interval_source="x", time=None, received_at=RECEIVED,
                        next_funding_time=high.next_funding_time)
    (opp,) = arbitrage([low, other], {}, 30.0)
    assert (opp.long, opp.short, opp.spread_8h, opp.costs_note) == (low, other, 0.0004 - 0.0001, "")
    assert (opp.long_cost_8h, opp.short_cost_8h) == (0.0001, -0.0004)


def test_position_payments_and_carry_count_the_borrow() -> None:
    gmx = parse.funding_rate(ETH, row(), None, RECEIVED)
    assert gmx.sides is not None
    long = payment_of(gmx, 10_000.0, "long")
    assert long.per_interval == pytest.approx(-(gmx.sides.funding_long + gmx.sides.borrow_long) * 10_000, rel=EXACT)
    assert long.per_day == pytest.approx(long.per_interval * 3, rel=EXACT)
    short = payment_of(gmx, 10_000.0, "short")
    assert short.per_interval == pytest.approx(-gmx.sides.funding_short * 10_000, rel=EXACT)  # received
    # carry of a short perpetual: what a short earns a year, net of its borrow (0 here)
    assert carry_apr(gmx) == pytest.approx(-gmx.sides.funding_short * 1095, rel=EXACT)
    assert carry_apr(_cex(0.0003)) == _cex(0.0003).apr
