"""Order-book depth metrics (``dtrack.analytics.book``) against a reference written here with plain loops (the
levels filtered by price, min/max for the farthest level: not the code's sorted cumulative sums), on hand-made
books with hand-computed figures, on REAL Binance depth answers parsed by the Binance parser, and on random books.
"""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import load_payload
from dtrack.analytics.book import (
    DEFAULT_BANDS,
    aggregate,
    book_metrics,
    book_snapshot,
    build_book_report,
)
from dtrack.records import BookSnapshot, Instrument, Kind, Margin, OrderBook, Unit
from dtrack.venues.binance import parse as binance

RECEIVED = datetime(2026, 12, 4, 8, tzinfo=UTC)


def perp(symbol: str = "BTCUSDT", asset: str = "BTC", venue: str = "binance") -> Instrument:
    return Instrument(venue=venue, symbol=symbol, asset=asset, quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR, market="usdm")


def book(bids: list[tuple[float, float]], asks: list[tuple[float, float]], limit: int,
         inst: Instrument | None = None) -> OrderBook:
    return OrderBook(instrument=inst or perp(), bids=tuple(bids), asks=tuple(asks), unit=Unit.BASE, limit=limit,
                     time=None, received_at=RECEIVED)


def reference(b: OrderBook, band: float) -> dict[str, Any]:
    """The figures of one band, by plain loops over the levels in whatever order they come."""
    best_bid = max(p for p, _ in b.bids)
    best_ask = min(p for p, _ in b.asks)
    mid = (best_bid + best_ask) / 2
    low, high = mid - mid * band, mid + mid * band
    tol = 1e-9 * mid
    out = {"mid": mid, "spread": (best_ask - best_bid) / mid, "bid_base": 0.0, "ask_base": 0.0, "bid_usd": 0.0,
           "ask_usd": 0.0}
    for p, s in b.bids:
        if p >= low - tol:
            out["bid_base"] += s
            out["bid_usd"] += p * s
    for p, s in b.asks:
        if p <= high + tol:
            out["ask_base"] += s
            out["ask_usd"] += p * s
    total = out["bid_base"] + out["ask_base"]
    out["imbalance"] = (out["bid_base"] - out["ask_base"]) / total if total else None
    # the side may go on (it holds `limit` levels) and its farthest level is still inside the band
    out["bid_truncated"] = len(b.bids) >= b.limit and min(p for p, _ in b.bids) > low + tol
    out["ask_truncated"] = len(b.asks) >= b.limit and max(p for p, _ in b.asks) < high - tol
    return out


def assert_matches(b: OrderBook, bands: tuple[float, ...]) -> None:
    got = book_metrics(b, bands)
    assert not isinstance(got, str), got
    for band, fig in zip(bands, got.bands, strict=True):
        want = reference(b, band)
        assert got.mid == pytest.approx(want["mid"], rel=1e-12)
        assert got.spread == pytest.approx(want["spread"], rel=1e-9, abs=1e-15)
        assert fig.band == band
        for key in ("bid_base", "ask_base", "bid_usd", "ask_usd"):
            assert getattr(fig, key) == pytest.approx(want[key], rel=1e-9, abs=1e-12), (band, key)
        if want["imbalance"] is None:
            assert fig.imbalance is None
        else:
            assert fig.imbalance == pytest.approx(want["imbalance"], rel=1e-9, abs=1e-12), band
        assert (fig.bid_truncated, fig.ask_truncated) == (want["bid_truncated"], want["ask_truncated"]), band


# --- hand-made books, hand-computed figures -------------------------------------------------------------------

SMALL = book([(99.0, 1.0), (98.0, 2.0), (90.0, 5.0)], [(101.0, 1.0), (102.0, 3.0), (120.0, 1.0)], limit=3)


def test_a_small_book_by_hand() -> None:
    got = book_metrics(SMALL, (0.01, 0.05, 0.15))
    assert not isinstance(got, str)
    assert (got.mid, got.best_bid, got.best_ask, got.levels_bid, got.levels_ask) == (100.0, 99.0, 101.0, 3, 3)
    assert got.spread == pytest.approx(0.02, rel=1e-12)
    assert (got.bid_reach, got.ask_reach) == (pytest.approx(0.10), pytest.approx(0.20))
    one, five, fifteen = got.bands
    # 1 %: 99 and 101, on the band's edges, are in
    assert (one.bid_base, one.ask_base, one.bid_usd, one.ask_usd, one.imbalance) == (1.0, 1.0, 99.0, 101.0, 0.0)
    assert not one.truncated
    # 5 %: bids >= 95 (99, 98), asks <= 105 (101, 102)
    assert (five.bid_base, five.ask_base, five.bid_usd, five.ask_usd) == (3.0, 4.0, 99.0 + 196.0, 101.0 + 306.0)
    assert five.imbalance == pytest.approx(-1 / 7, rel=1e-12)
    # 15 %: every bid (the last, 90, inside 85: the 3-level side may go on: a lower bound); asks to 115
    assert (fifteen.bid_base, fifteen.ask_base, fifteen.bid_usd) == (8.0, 4.0, 99.0 + 196.0 + 450.0)
    assert (fifteen.bid_truncated, fifteen.ask_truncated, fifteen.truncated) == (True, False, True)
    assert got.truncated


def test_a_side_with_fewer_levels_than_the_limit_is_the_whole_side() -> None:
    whole = book(list(SMALL.bids), list(SMALL.asks), limit=4)
    got = book_metrics(whole, (0.15, 0.5))
    assert not isinstance(got, str)
    assert [b.truncated for b in got.bands] == [False, False]
    assert got.bands[1].bid_base == 8.0 and got.bands[1].ask_base == 5.0


def test_a_last_level_on_the_band_edge_does_not_truncate() -> None:
    edge = book([(99.0, 1.0), (90.0, 2.0)], [(101.0, 1.0), (110.0, 2.0)], limit=2)
    got = book_metrics(edge, (0.10,))
    assert not isinstance(got, str)
    (ten,) = got.bands
    assert (ten.bid_base, ten.ask_base, ten.truncated) == (3.0, 3.0, False)


def test_an_empty_side_has_no_mid() -> None:
    assert book_metrics(book([], [(101.0, 1.0)], limit=5), DEFAULT_BANDS) == \
        "the bid side is empty: no mid to measure depth from"
    report = build_book_report(RECEIVED, ["BTC"], [book([(99.0, 1.0)], [], limit=5)], DEFAULT_BANDS, "perp", 5)
    assert report.rows == () and report.aggregates == ()
    assert [(i.symbol, why) for i, why in report.skipped] == [
        ("BTCUSDT", "the ask side is empty: no mid to measure depth from")]


def test_levels_out_of_order_are_measured_as_ordered() -> None:
    shuffled = book([(90.0, 5.0), (99.0, 1.0), (98.0, 2.0)], [(120.0, 1.0), (101.0, 1.0), (102.0, 3.0)], limit=3)
    assert_matches(shuffled, (0.01, 0.05, 0.15))
    got = book_metrics(shuffled, (0.15,))
    assert not isinstance(got, str)
    assert (got.best_bid, got.best_ask, got.bands[0].bid_truncated) == (99.0, 101.0, True)


def test_the_aggregate_sums_each_band_and_is_truncated_if_any_part_is() -> None:
    other = book([(99.5, 4.0), (99.2, 6.0)], [(100.5, 2.0), (100.8, 2.0)], limit=2,
                 inst=perp("BTC-USDT-SWAP", venue="okx"))
    report = build_book_report(RECEIVED, ["BTC"], [SMALL, other], (0.01, 0.15), "perp", 3)
    (agg,) = report.aggregates
    assert (agg.asset, agg.contracts, agg.venues) == ("BTC", 2, ("binance", "okx"))
    one, fifteen = agg.bands
    # 1 %: SMALL 1 / 1 coins; other (mid 100): 10 / 4 coins
    assert (one.bid_base, one.ask_base) == (11.0, 5.0)
    assert one.bid_usd == pytest.approx(99.0 + 99.5 * 4 + 99.2 * 6, rel=1e-12)
    assert one.imbalance == pytest.approx(6 / 16, rel=1e-12)
    # other's 2-level sides end inside 1 %: a lower bound; so is the sum
    assert (one.bid_truncated, one.ask_truncated) == (True, True)
    assert (fifteen.bid_truncated, fifteen.ask_truncated) == (True, True)
    assert aggregate("ETH", report.rows, report.bands).contracts == 0


# --- real Binance depth answers, parsed by the Binance parser ------------------------------------------------

def real_books(limit: int = 1000) -> dict[str, OrderBook]:
    doc = load_payload("binance-usdm__rest_depth__capture.json")
    out = {}
    for case in doc["cases"]:
        symbol = case["input"]["url"].split("symbol=")[1].split("&")[0]
        inst = perp(symbol, symbol.removesuffix("USDT"))
        out[symbol] = binance.parse_depth(case["raw"], inst, limit, RECEIVED)
    return out


@pytest.mark.parametrize("symbol", ["SUSHIUSDT", "AKROUSDT"])
def test_real_books_match_the_reference(symbol: str) -> None:
    assert_matches(real_books()[symbol], (0.001, 0.005, 0.01, 0.05, 0.2, 0.5))


def test_a_real_full_answer_is_a_lower_bound_past_its_last_level() -> None:
    """SUSHIUSDT: 1,000 levels a side asked and sent, bids reaching down to 6.347 (-16.6 %) and asks up to 9.122
    (+19.8 %): within 5 % the figures are exact, within 20 % both sides are lower bounds."""
    sushi = real_books()["SUSHIUSDT"]
    got = book_metrics(sushi, (0.05, 0.2))
    assert not isinstance(got, str)
    assert (got.best_bid, got.best_ask, got.levels_bid, got.levels_ask) == (7.611, 7.612, 1000, 1000)
    assert got.mid == pytest.approx(7.6115, rel=1e-12)
    assert got.spread == pytest.approx(0.001 / 7.6115, rel=1e-9)
    assert got.bid_reach == pytest.approx(1 - 6.347 / 7.6115, rel=1e-9)
    assert got.ask_reach == pytest.approx(9.122 / 7.6115 - 1, rel=1e-9)
    five, twenty = got.bands
    assert (five.bid_truncated, five.ask_truncated) == (False, False)
    assert (twenty.bid_truncated, twenty.ask_truncated) == (True, True)
    # asked for 5,000 (more than were sent): the sides are whole, nothing is a lower bound
    whole = book_metrics(real_books(limit=5000)["SUSHIUSDT"], (0.2,))
    assert not isinstance(whole, str) and not whole.truncated


def test_a_real_short_side_is_whole() -> None:
    """AKROUSDT: 609 bids and 763 asks of 1,000 asked: the whole book, never a lower bound."""
    akro = real_books()["AKROUSDT"]
    got = book_metrics(akro, (0.01, 0.5))
    assert not isinstance(got, str)
    assert (got.levels_bid, got.levels_ask, got.truncated) == (609, 763, False)
    assert got.mid == pytest.approx((0.01731 + 0.01732) / 2, rel=1e-12)


def test_the_stored_snapshot_of_a_real_book() -> None:
    sushi = real_books()["SUSHIUSDT"]
    snap = book_snapshot(sushi, (0.001, 0.2))
    assert isinstance(snap, BookSnapshot)
    one = reference(sushi, 0.01)
    assert (snap.mid, snap.best_bid, snap.best_ask) == (pytest.approx(7.6115), 7.611, 7.612)
    assert snap.spread_bps == pytest.approx(0.001 / 7.6115 * 10_000, rel=1e-9)
    assert snap.bid_base_1pct == pytest.approx(one["bid_base"], rel=1e-12)
    assert snap.ask_usd_1pct == pytest.approx(one["ask_usd"], rel=1e-12)
    assert snap.imbalance_1pct == pytest.approx(one["imbalance"], rel=1e-12)
    assert snap.truncated_1pct is False and (snap.levels_bid, snap.levels_ask) == (1000, 1000)
    bands = json.loads(snap.bands)
    assert [b["band_pct"] for b in bands] == [0.1, 1.0, 20.0]  # 1 % added for the headline figures
    assert bands[2]["bid_truncated"] is True and bands[2]["ask_truncated"] is True
    assert bands[0]["bid_base"] == pytest.approx(reference(sushi, 0.001)["bid_base"], rel=1e-12)
    row = snap.to_row()
    assert row["symbol"] == "SUSHIUSDT" and row["bands"] == snap.bands


# --- random books ---------------------------------------------------------------------------------------------

@st.composite
def books(draw: st.DrawFn) -> OrderBook:
    mid = draw(st.floats(1e-6, 1e6))
    tick = mid * draw(st.floats(1e-6, 1e-2))
    n_bid = draw(st.integers(1, 60))
    n_ask = draw(st.integers(1, 60))
    gaps = st.integers(1, 50)
    bids, asks, k = [], [], 0
    for _ in range(n_bid):
        k += draw(gaps)
        if mid - k * tick <= 0:
            break
        bids.append((mid - k * tick, draw(st.floats(1e-6, 1e6))))
    k = 0
    for _ in range(n_ask):
        k += draw(gaps)
        asks.append((mid + k * tick, draw(st.floats(1e-6, 1e6))))
    if not bids:
        bids.append((mid - tick / 2, 1.0))
    limit = draw(st.integers(1, 70))
    return book(bids, asks, limit)


@given(books(), st.lists(st.floats(1e-5, 0.5), min_size=1, max_size=6, unique=True))
def test_random_books_match_the_reference(b: OrderBook, bands: list[float]) -> None:
    assert_matches(b, tuple(sorted(bands)))
    got = book_metrics(b, tuple(sorted(bands)))
    assert not isinstance(got, str)
    coins = [f.bid_base for f in got.bands]
    assert all(x <= y for x, y in itertools.pairwise(coins))  # a wider band holds at least as much
    assert all(f.imbalance is None or -1 <= f.imbalance <= 1 for f in got.bands)
    assert all(math.isfinite(f.bid_usd) and math.isfinite(f.ask_usd) for f in got.bands)
