"""Shared field readers and settlement-interval inference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dtrack.errors import ParseError
from dtrack.records import Instrument, Kind, Margin
from dtrack.venues.fields import Listing, Reader, Row, latest_spacing, parse_each, points_from_settlements, within

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def intervals(spacings: list[int], current: float) -> list[float]:
    times = [T0]
    for h in spacings:
        times.append(times[-1] + timedelta(hours=h, milliseconds=7))  # venues settle a few ms late
    return [p.interval_hours for p in points_from_settlements([(t, 0.0001) for t in times], current, venue="okx",
                                                              symbol="BTC-USDT-SWAP", received_at=T0)]


@pytest.mark.parametrize(("spacings", "current", "expected"), [
    ([8, 8, 8], 8, [8, 8, 8, 8]),
    ([8, 8, 16, 8, 8], 8, [8] * 6),            # a missed settlement is not a 16 h interval
    ([16, 8, 8], 8, [8] * 4),                  # ... nor at the start
    ([8, 8, 16], 8, [8] * 4),                  # ... nor at the end (the current interval agrees)
    ([1, 1, 1, 4, 4, 4], 4, [1, 1, 1, 1, 4, 4, 4]),  # a real 1 h -> 4 h switch keeps the new spacing
    ([4, 4, 8, 8], 8, [4, 4, 4, 8, 8]),
    ([1, 1, 1, 4], 4, [1, 1, 1, 1, 4]),
    ([], 4, [4]),                              # a lone settlement takes the current interval
])
def test_interval_from_spacing(spacings: list[int], current: float, expected: list[float]) -> None:
    assert intervals(spacings, current) == expected


def test_points_are_sorted_deduplicated_and_clipped() -> None:
    received = T0 + timedelta(hours=9)
    pts = points_from_settlements([(T0 + timedelta(hours=8), 2.0), (T0, 1.0), (T0, 1.0)], 8, venue="okx",
                                  symbol="BTC-USDT-SWAP", received_at=received)
    assert [p.rate for p in pts] == [1.0, 2.0]
    assert {(p.venue, p.symbol, p.received_at) for p in pts} == {("okx", "BTC-USDT-SWAP", received)}
    assert within(pts, T0 + timedelta(hours=1), T0 + timedelta(hours=9)) == (pts[1],)


def test_latest_spacing() -> None:
    assert latest_spacing([T0, T0 + timedelta(hours=4), T0 + timedelta(hours=8)]) == 4
    assert latest_spacing([T0]) is None


def test_reader_numbers_and_times() -> None:
    r = Reader("okx", "/x")
    assert r.num({"a": "0.0001"}, "a") == 0.0001 and r.opt_num({"a": ""}, "a") is None
    assert r.time_ms({"t": "1795219200000"}, "t") == datetime(2026, 11, 21, tzinfo=UTC)
    assert r.opt_time_ms({"t": 0}, "t") is None and r.opt_time_ms({}, "t") is None
    for bad in ({"t": 1795219200}, {"t": "1795219200000000"}, {"t": "soon"}, {"t": True}, {"t": "nan"}):
        with pytest.raises(ParseError, match="okx /x"):
            r.time_ms(bad, "t")
    with pytest.raises(ParseError, match="field 'a' missing"):
        r.field({}, "a")


def test_listing_merges_in_order_and_fails_only_a_query_for_a_broken_asset() -> None:
    perp = Instrument(venue="v", symbol="BTC-P", asset="BTC", quote="USD", settle="BTC", kind=Kind.PERP,
                      margin=Margin.INVERSE)
    dated = Instrument(venue="v", symbol="BTC-F", asset="BTC", quote="USD", settle="BTC", kind=Kind.FUTURE,
                       margin=Margin.INVERSE)
    eth = Instrument(venue="v", symbol="ETH-P", asset="ETH", quote="USD", settle="ETH", kind=Kind.PERP,
                     margin=Margin.INVERSE)
    merged = Listing.merge([Listing((perp, dated), {"XRP": "XRP-P: first"}),
                            Listing((eth,), {"XRP": "XRP-Q: second", "SOL": "SOL-P: odd"})])
    assert merged == Listing((perp, dated, eth), {"XRP": "XRP-P: first", "SOL": "SOL-P: odd"})
    assert merged.for_assets("v", "/list", ["BTC", "ETH", "DOGE"]) == [perp, eth]  # perpetuals only
    with pytest.raises(ParseError) as err:
        merged.for_assets("v", "/list", ["BTC", "SOL"])
    assert (err.value.venue, err.value.endpoint, err.value.detail) == ("v", "/list", "SOL-P: odd")


def test_listing_of_parts_keeps_what_answered() -> None:
    from dtrack.errors import VenueUnavailable
    from dtrack.records import Instrument, Kind, Margin
    from dtrack.venues.fields import Listing

    btc = Instrument(venue="binance", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                     margin=Margin.LINEAR, market="usdm")
    down = VenueUnavailable("binance", "/dapi/v1/exchangeInfo: connection failed")
    merged = Listing.of_parts([Listing((btc,)), down, Listing((btc,))])
    assert merged.instruments == (btc,) and merged.missing == (down,)  # the same contract listed once
    with pytest.raises(VenueUnavailable):
        Listing.of_parts([down, down])


def test_a_bug_is_not_a_missing_part() -> None:
    """Parts are gathered with ``settle``: a DtrackError is a missing part, anything else is raised."""
    import asyncio

    from dtrack.errors import VenueUnavailable
    from dtrack.results import settle
    from dtrack.venues.fields import Listing

    async def part(exc: Exception) -> Listing:
        raise exc

    down = VenueUnavailable("bybit", "/v5/market/instruments-info: connection failed")
    parts = asyncio.run(settle([part(down), asyncio.sleep(0, Listing())]))
    assert parts == [down, Listing()]
    with pytest.raises(ZeroDivisionError):
        asyncio.run(settle([part(ZeroDivisionError()), asyncio.sleep(0, Listing())]))


def test_parse_each_keys_rows_by_name_and_notes_the_broken_ones() -> None:
    r = Reader("v", "list")

    def strike(row: Row) -> float:
        return r.num(row, "strike")

    def name(row: Row) -> str:
        return str(row.get("name", "?"))

    parsed, broken = parse_each(r, [{"name": "A", "strike": "100.5"}, {"name": "B"}, {"strike": "x"}], strike, name,
                                "option")
    assert parsed == {"A": 100.5}
    assert broken == ["B: field 'strike' is None, expected a number", "?: field 'strike' is 'x', expected a number"]
    assert parse_each(r, [], strike, name, "option") == ({}, [])  # nothing to parse is no error
    failed = r"v list: unexpected payload: no option parsed \(2 malformed; first: B: field 'strike'"
    with pytest.raises(ParseError, match=failed):
        parse_each(r, [{"name": "B"}, {"name": "C", "strike": ""}], strike, name, "option")
