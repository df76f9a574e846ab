"""GMX funding history (``/v1/rates``): the parser on a sample in the API's format, the ``period`` dtrack asks and the
history's note.

No real ``/v1/rates`` answer was found (not in ``../shared/exchange-payloads``, the code corpus or the pages corpus),
so the sample below is BUILT from the GMX code that reads the answer, and says where each part comes from:
- shape and field types: ``sdk/src/utils/rates/types.ts`` (``MarketRates``, ``RatesSnapshot``) of gmx-io/gmx-interface
  and the API's OpenAPI ``RatesResponse`` (api-evangelist/gmx ``openapi/gmx-rates-api-openapi.yml``): rates strings,
  ``timestamp`` a number (epoch seconds: the chart's ``new Date(snapshot.timestamp * 1000)``), newest first (the
  interface's ``useRateSnapshots`` reverses them);
- units: per-second factors x 10^30 (``NetRateChart.tsx`` ``rateToProjectedPercent``: x 3,600 / 28,800 /
  31,536,000 / 10^30 for 1 h / 8 h / 1 y);
- signs: funding in the income frame (the paying side negative, as ``getFundingFactorPerPeriod``, which the chart
  draws in one line with the snapshots), borrowing a positive cost; the receiving side's rate is the paid amount
  over its own open interest (here 1.25 x the paying factor, truncated as the SDK's integer ``mulDiv``).
The numbers are chosen here; expected values are computed with Decimal arithmetic, independently of the parser.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dtrack.errors import Implausible, ParseError
from dtrack.records import FundingPoint, rate_apr
from dtrack.venues.gmx import api, parse
from dtrack.venues.gmx.adapter import history_note, rates_period

E30 = Decimal(10) ** 30
RECEIVED = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
ADDRESS = "0x70d95587d40a2caf56bd97485ab3eec10bee6336"
#: the checksummed form the API may answer with (compared without case, as the GMX interface does)
CHECKSUMMED = "0x70d95587d40A2caf56bd97485aB3Eec10Bee6336"
INST = parse.instrument("arbitrum", "ETH/USD [WETH-USDC]")

#: (epoch seconds, fundingRateLong, fundingRateShort, borrowingRateLong, borrowingRateShort), newest first
SNAPSHOTS = [
    (1_763_645_400, "-3472222222222222222222", "4340277777777777777777", "1585489599188229325215", "0"),  # longs pay
    (1_763_643_600, "0", "0", "1585489599188229325215", "0"),  # balanced: nobody pays
    (1_763_641_800, "2170138888888888888888", "-1736111111111111111111", "0", "951293759512937595129"),  # shorts pay
]


def snapshot(ts: float, f_long: str, f_short: str, b_long: str, b_short: str) -> dict[str, Any]:
    net_long, net_short = int(f_long) - int(b_long), int(f_short) - int(b_short)
    return {"timestamp": ts, "fundingRateLong": f_long, "fundingRateShort": f_short, "borrowingRateLong": b_long,
            "borrowingRateShort": b_short, "netRateLong": str(net_long), "netRateShort": str(net_short)}


def answer(*rows: dict[str, Any], address: str = CHECKSUMMED) -> list[dict[str, Any]]:
    """A ``/v1/rates`` answer holding the market ``address`` and, first, another market whose snapshots are broken
    (an answer filtered by ``address`` holds one market; one that is not must not cost ours)."""
    other = {"marketAddress": "0x47c031236e19d024b42f8ae6da7a02cae28c4445", "ratesSnapshots": [{"timestamp": "x"}]}
    return [other, {"marketAddress": address, "ratesSnapshots": list(rows)}]


SAMPLE = answer(*(snapshot(*s) for s in SNAPSHOTS))


def points(body: Any) -> tuple[FundingPoint, ...]:
    return parse.history_points(body, INST, ADDRESS, RECEIVED)


def test_snapshots_are_the_paying_sides_rate_per_8h() -> None:
    got = points(SAMPLE)
    # ascending, one point per snapshot, each the 8 h-equivalent of a continuous rate
    assert [p.time for p in got] == [datetime.fromtimestamp(s[0], UTC) for s in reversed(SNAPSHOTS)]
    assert {(p.venue, p.symbol, p.interval_hours, p.received_at) for p in got} == {
        ("gmx", "arbitrum:ETH/USD [WETH-USDC]", 8.0, RECEIVED)}
    shorts_pay, balanced, longs_pay = got
    # longs pay: their income-frame rate is negative; dtrack's rate is the factor, positive = longs pay
    assert longs_pay.rate == float(Decimal("3472222222222222222222") / E30 * 28_800)
    assert longs_pay.rate == pytest.approx(1e-4, rel=1e-12)  # 0.01 % per 8 h
    # shorts pay: dtrack's rate is negative (the receiving longs' 2170...e-30 is not the rate)
    assert shorts_pay.rate == float(-Decimal("1736111111111111111111") / E30 * 28_800)
    assert shorts_pay.rate == pytest.approx(-5e-5, rel=1e-12)
    assert balanced.rate == 0.0
    # the borrow fees (1585... per second for longs: 5 % a year) are in no point
    assert longs_pay.rate_8h == longs_pay.rate
    assert rate_apr(longs_pay.rate, longs_pay.interval_hours) == pytest.approx(
        float(Decimal("3472222222222222222222") / E30 * 31_536_000), rel=1e-12)


def test_the_market_is_found_without_case_and_only_its_snapshots_are_read() -> None:
    assert points(SAMPLE) == points(answer(*(snapshot(*s) for s in SNAPSHOTS), address=ADDRESS))


def test_an_answer_lacking_the_market_is_not_a_market_without_snapshots() -> None:
    """None when the answer has no entry for the market (another market's only, or none): the history then says the
    market is missing from the answer, not that the window holds no snapshot; an entry without snapshots: ()."""
    assert points(answer(snapshot(*SNAPSHOTS[0]), address="0x" + "1" * 40)) is None
    assert points([]) is None
    assert points(answer()) == ()


def test_duplicate_snapshots_count_once() -> None:
    assert len(points(answer(snapshot(*SNAPSHOTS[0]), snapshot(*SNAPSHOTS[0])))) == 1


@pytest.mark.parametrize(("change", "match"), [
    ({"timestamp": 1_763_645_400_000}, "expected epoch seconds"),  # milliseconds are not seconds
    ({"timestamp": True}, "boolean"),
    ({"fundingRateLong": "-3.47e-9"}, "30-decimal fixed point"),  # a decimal would be another unit
    ({"fundingRateShort": None}, "fundingRateShort"),
])
def test_a_snapshot_that_does_not_parse_fails_the_answer(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ParseError, match=match):
        points(answer({**snapshot(*SNAPSHOTS[0]), **change}))


@pytest.mark.parametrize(("f_long", "f_short", "match"), [
    ("-3472222222222222222222", "-1", "both sides pay funding"),
    ("3472222222222222222222", "0", "receives funding that no side pays"),
    ("-2000000000000000000000000", "1", "outside"),  # 2e-6 a second = 5.76 % per 8 h: beyond the backstop
])
def test_a_snapshot_no_market_can_have_is_refused(f_long: str, f_short: str, match: str) -> None:
    with pytest.raises(Implausible, match=match):
        points(answer(snapshot(1_763_645_400, f_long, f_short, "0", "0")))


def test_a_snapshot_from_the_future_is_refused() -> None:
    ahead = (RECEIVED + timedelta(days=2)).timestamp()
    with pytest.raises(Implausible, match="more than a day after"):
        points(answer(snapshot(ahead, *SNAPSHOTS[0][1:])))


def test_the_market_address_comes_from_markets_info() -> None:
    assert parse.market_address("arbitrum", {"marketTokenAddress": CHECKSUMMED, "name": "x"}) == CHECKSUMMED
    with pytest.raises(ParseError, match="marketTokenAddress"):
        parse.market_address("arbitrum", {"name": "x"})


# --- the period asked and the note ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 20, 13, 27, 45, tzinfo=UTC)


@pytest.mark.parametrize(("back", "period"), [
    (timedelta(hours=1), "1d"), (timedelta(days=1), "1d"), (timedelta(days=7), "7d"),
    (timedelta(days=7, minutes=1), "7d"),  # the clock moved on since the window was set
    (timedelta(days=8), "30d"), (timedelta(days=90), "90d"), (timedelta(days=181), "1y"),
    (timedelta(days=365), "1y"), (timedelta(days=400), "total"),
])
def test_the_shortest_period_reaching_the_start_is_asked(back: timedelta, period: str) -> None:
    assert rates_period(NOW - back, NOW) == period
    assert period == "total" or period in dict(api.RATE_PERIODS)


def _hourly(first: datetime, last: datetime) -> list[FundingPoint]:
    out, t = [], first
    while t <= last:
        out.append(FundingPoint(venue="gmx", symbol=INST.symbol, time=t, rate=1e-4, interval_hours=8.0,
                                received_at=NOW))
        t += timedelta(hours=1)
    return out


def test_the_note_says_what_a_point_is_and_what_is_missing() -> None:
    start, end = NOW - timedelta(days=7), NOW
    full = _hourly(start + timedelta(minutes=30), end - timedelta(minutes=30))
    assert history_note(full, start, end) == api.HISTORY_NOTE
    assert "per-second factor x 10^30" in api.HISTORY_NOTE and "borrow not included" in api.HISTORY_NOTE
    late = _hourly(start + timedelta(days=2), end)
    assert history_note(late, start, end) == (f"{api.HISTORY_NOTE}; GMX has snapshots only from "
                                              f"{late[0].time:%Y-%m-%d %H:%M} UTC (asked from 2026-11-13 13:27 UTC)")
    early = _hourly(start, end - timedelta(hours=5))
    assert "GMX has snapshots only until" in history_note(early, start, end)
    assert history_note([], start, end) == f"{api.HISTORY_NOTE}; GMX returned no snapshot in the window"
