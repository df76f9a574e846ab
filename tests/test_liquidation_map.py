"""The ESTIMATED liquidation map and its scoring (``dtrack.analytics.liquidation_map``, ``AsyncClient.liquidation_map``,
``AsyncClient.liquidation_score``, the collector's ``collect.levels``).

- the method on small hand-computed cases (exact USD per bin), cohorts traded through removed, open-interest
  decreases removing cohorts pro rata, leverages a venue cannot carry dropped;
- kline highs and lows (wicks): a level only a wick reached consumed (kept from the closes alone), the typical price
  of the kline's range, a bar's range over (high, low, close, previous close), the closes-only method keeping the ids
  of the estimates made before, and a map from a store holding highs and lows (and rows without) equal to the
  analytics on the same klines, on SQLite and PostgreSQL;
- density labels, the cascade bands (scaled) and the cascade ratio at and around their edges;
- Spearman and the top-k share against hand computations (ties included), and the scoring on a synthetic market
  where the estimate is right (it beats the distance-only baseline) and shuffled (it does not);
- the query from a filled store (no network, the same map as the analytics on the same inputs), its fallback to the
  venues (saying why), against the simulated venues (both sides filled), its JSON Schema, CSV and table;
- the collector's job writing ``LiquidationLevel`` rows into SQLite and PostgreSQL, and ``--score`` read back from
  a store.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

import dtrack
from conftest import SimThread
from dtrack.analytics.liquidation_map import (
    Bars,
    Frozen,
    MapParams,
    PricePath,
    Realized,
    cascade_bands,
    cascade_ratio,
    density_labels,
    estimate_map,
    rankdata,
    score_estimates,
    spearman,
    top_k_share,
)
from dtrack.config import Settings, parse_settings
from dtrack.errors import ConfigError, UsageError
from dtrack.records import (
    Coverage,
    Instrument,
    Kind,
    Liquidation,
    LiquidationLevel,
    Margin,
    OIPoint,
    PriceKind,
    PricePoint,
    Unit,
)
from dtrack.schemas import load_schema
from dtrack.store import open_store
from storefix import NOW, model, pinned, sim_settings, store_url

__all__ = ["store_url"]  # the fixture, imported: a fresh, private store on each engine

H = 3_600_000
T0 = int(NOW.timestamp() * 1000)


def bars(closes: list[float], oi: list[float], share: float = 0.5, venue: str = "v") -> Bars:
    return Bars.from_closes(venue, "S", [T0 + i * H for i in range(len(closes))], oi, closes, share)


def params(lev: dict[float, float], mmr: float = 0.01, range_: float = 0.25, bins: int = 10) -> MapParams:
    return MapParams(leverage=lev, maintenance={"v": mmr}, range=range_, bins=bins)


def at(n: int) -> datetime:
    return datetime.fromtimestamp((T0 + n * H) / 1000, UTC)


def usd_of(m: Any, side: str) -> dict[tuple[float, float], float]:
    return {(round(b.low, 6), round(b.high, 6)): b.usd for b in m.bins if b.side == side}


# --- the method on hand-computed cases ---------------------------------------------------------------------------

def test_bins_follow_the_method_on_a_hand_computed_case() -> None:
    """Closes 100, 104, 102; OI 10, 16, 16; long share 0.75; 5x only; maintenance 1 %.

    Bar 1 opened 6 coins at its typical price (104 + 100 + 104) / 3 = 102.667 (high/low: the path between the
    closes 100 and 104): 4.5 coins long, liquidated at E x 0.8 / 0.99 = 82.963; 1.5 coins short at
    E x 1.2 / 1.01 = 121.980. Bar 2 (range 102..104) trades through neither. Price 102, ±25 %, 10 bins (5.1 wide):
    the long lands in [81.6, 86.7), the short in [117.3, 122.4)."""
    entry = (104 + 100 + 104) / 3
    long_lp, short_lp = entry * 0.8 / 0.99, entry * 1.2 / 1.01
    m = estimate_map("BTC", at(2), [bars([100, 104, 102], [10, 16, 16], 0.75)], params({5: 1.0}), 102.0)
    longs, shorts = usd_of(m, "long"), usd_of(m, "short")
    assert len(longs) == len(shorts) == 5
    expected_long = {(81.6, 86.7): 4.5 * long_lp}
    expected_short = {(117.3, 122.4): 1.5 * short_lp}
    for (lo, hi), got in longs.items():
        assert got == pytest.approx(expected_long.get((round(lo, 1), round(hi, 1)), 0.0), rel=1e-12)
    for (lo, hi), got in shorts.items():
        assert got == pytest.approx(expected_short.get((round(lo, 1), round(hi, 1)), 0.0), rel=1e-12)
    assert m.long_usd == pytest.approx(4.5 * long_lp) and m.short_usd == pytest.approx(1.5 * short_lp)
    assert m.long_beyond_usd == pytest.approx(0.0, abs=1e-9) and m.estimate is True
    # bins: shorts highest first, then longs nearest first; the boundary is the price
    assert [b.side for b in m.bins] == ["short"] * 5 + ["long"] * 5
    assert m.bins[4].low == pytest.approx(102.0) and m.bins[5].high == pytest.approx(102.0)
    assert m.bins[0].distance == pytest.approx((124.95 / 102) - 1.0)
    (s,) = m.series
    assert (s.opened, s.closed, s.consumed, s.alive) == pytest.approx((6.0, 0.0, 0.0, 6.0))
    assert s.alive_usd == pytest.approx(4.5 * long_lp + 1.5 * short_lp)


def test_two_leverages_split_by_their_weights() -> None:
    """One bar opening 10 coins at 100 (flat closes), 50/50, 10x 60 % and 20x 40 %, maintenance 0.5 %."""
    m = estimate_map("BTC", at(1), [bars([100, 100], [0, 10])], params({10: 0.6, 20: 0.4}, mmr=0.005, bins=50,
                                                                         range_=0.12), 100.0)
    got = sorted((b.side, round(b.usd, 9)) for b in m.bins if b.usd > 0)
    want = sorted([("long", round(5 * 0.6 * 100 * 0.9 / 0.995, 9)), ("long", round(5 * 0.4 * 100 * 0.95 / 0.995, 9)),
                   ("short", round(5 * 0.6 * 100 * 1.1 / 1.005, 9)), ("short", round(5 * 0.4 * 100 * 1.05 / 1.005, 9))])
    assert got == want


def test_cohorts_traded_through_are_removed() -> None:
    """Bar 1 opens 10 coins at 100 (10x, 1 %): longs at 90.909, shorts at 108.911. Bar 2 closes at 88: its low
    trades through the longs' level, which are gone; the shorts (never reached) stay. Price 95."""
    m = estimate_map("BTC", at(3), [bars([100, 100, 88, 95], [10, 20, 20, 20])], params({10: 1.0}), 95.0)
    assert m.long_usd == 0.0 and m.long_beyond_usd == 0.0
    assert m.short_usd == pytest.approx(5 * 100 * 1.1 / 1.01)
    (s,) = m.series
    assert s.consumed == pytest.approx(5.0) and s.alive == pytest.approx(5.0)
    # the same bars without the dip: both sides stay
    kept = estimate_map("BTC", at(3), [bars([100, 100, 96, 95], [10, 20, 20, 20])], params({10: 1.0}), 95.0)
    assert kept.long_usd == pytest.approx(5 * 100 * 0.9 / 0.99)


def test_the_bar_a_cohort_opened_in_does_not_consume_it_but_the_current_price_does() -> None:
    """A long opened in the last bar is checked against the price now, not against its own bar's low."""
    # bar 1: 100 -> 80 opens 10 coins at (100 + 80 + 80) / 3 = 86.667; 10x longs at 78.788 (above the bar's low 80
    # would not matter: it is the cohort's own bar), price now 79 > 78.788: kept
    m = estimate_map("BTC", at(1), [bars([100, 80], [10, 20])], params({10: 1.0}, range_=0.3), 79.0)
    assert m.long_usd == pytest.approx(5 * (260 / 3) * 0.9 / 0.99)
    # a price now at or below the level: gone
    gone = estimate_map("BTC", at(1), [bars([100, 80], [10, 20])], params({10: 1.0}, range_=0.3), 78.0)
    assert gone.long_usd == 0.0 and gone.short_usd > 0


def test_open_interest_decreases_remove_cohorts_pro_rata() -> None:
    """Flat at 100, 10x, 1 %. OI 10 -> 20 opens 10 (5 a side); 20 -> 15 closes a quarter of every open cohort
    (3.75 a side left); 15 -> 19 opens 4 more (2 a side), untouched by the earlier decrease. Longs: 5.75 coins at
    90.909."""
    m = estimate_map("BTC", at(3), [bars([100, 100, 100, 100], [10, 20, 15, 19])], params({10: 1.0}), 100.0)
    assert m.long_usd == pytest.approx(5.75 * 100 * 0.9 / 0.99, rel=1e-12)
    assert m.short_usd == pytest.approx(5.75 * 100 * 1.1 / 1.01, rel=1e-12)
    (s,) = m.series
    assert (s.opened, s.closed) == pytest.approx((14.0, 2.5))
    # two decreases compound: 20 -> 15 -> 12 leaves 5 x 0.75 x 0.8 = 3 a side
    m2 = estimate_map("BTC", at(3), [bars([100] * 4, [10, 20, 15, 12])], params({10: 1.0}), 100.0)
    assert m2.long_usd == pytest.approx(3.0 * 100 * 0.9 / 0.99)


def test_a_leverage_the_venue_cannot_carry_is_dropped_and_the_rest_rescaled() -> None:
    """At a 3 % maintenance rate, 50x (1/50 = 2 %) cannot be held: its weight goes to the others pro rata."""
    m = estimate_map("BTC", at(1), [bars([100, 100], [0, 10])], params({10: 0.5, 50: 0.5}, mmr=0.03, bins=50,
                                                                         range_=0.2), 100.0)
    (s,) = m.series
    assert s.dropped_leverage == (50.0,) and s.maintenance_rate == 0.03
    assert m.long_usd == pytest.approx(5 * 100 * 0.9 / 0.97)


def test_more_contracts_add_up_and_the_window_start_is_not_a_position() -> None:
    one = bars([100, 100, 100], [50, 60, 70])
    m = estimate_map("BTC", at(2), [one, bars([100, 100, 100], [5, 6, 7], venue="w")], params({10: 1.0}), 100.0)
    # 20 + 2 coins opened; the 55 coins open at the window's start (unknown entries) are not in the map; venue w
    # is named nowhere: the default rate, 0.5 %
    assert m.long_usd == pytest.approx(10 * 100 * 0.9 / 0.99 + 1 * 100 * 0.9 / 0.995)
    assert [s.maintenance_rate for s in m.series] == [0.01, 0.005]
    assert m.venues == ["v", "w"]


# --- kline highs and lows (wicks) ---------------------------------------------------------------------------------

NAN = math.nan


def wick_bars(closes: list[float], oi: list[float], highs: list[float], lows: list[float]) -> Bars:
    return Bars.from_klines("v", "S", [T0 + i * H for i in range(len(closes))], oi, closes, highs, lows, 0.5)


def test_a_wick_through_a_level_consumes_it_where_the_closes_alone_keep_it() -> None:
    """Flat closes at 100; OI 0, 10, 10, 10; 10x only, maintenance 1 %. Bar 1 opens 10 coins at 100: 5 long
    liquidated at 100 x 0.9 / 0.99 = 90.909, 5 short at 100 x 1.1 / 1.01 = 108.911. Bar 2's kline wicked down to
    90.5 and up to 108.0: between its closes (100) and the long level, the low consumes the longs; the high stays
    below the shorts' level. From the closes alone (the path 100 .. 100) both stay."""
    long_lp, short_lp = 100 * 0.9 / 0.99, 100 * 1.1 / 1.01
    p = params({10: 1.0})
    closes, oi = [100.0] * 4, [0.0, 10.0, 10.0, 10.0]
    plain = estimate_map("BTC", at(3), [bars(closes, oi)], p, 100.0)
    assert plain.long_usd == pytest.approx(5 * long_lp, rel=1e-12)
    assert plain.short_usd == pytest.approx(5 * short_lp, rel=1e-12)
    wick = estimate_map("BTC", at(3), [wick_bars(closes, oi, [NAN, NAN, 108.0, NAN], [NAN, NAN, 90.5, NAN])], p, 100.0)
    assert wick.long_usd == 0.0 and wick.long_beyond_usd == 0.0
    assert wick.short_usd == pytest.approx(5 * short_lp, rel=1e-12)
    (s,) = wick.series
    assert (s.consumed, s.alive, s.ranged_bars) == pytest.approx((5.0, 5.0, 1))
    assert usd_of(wick, "short") == pytest.approx(usd_of(plain, "short"), rel=1e-12)  # [105, 110): 544.55 both
    # a wick that stops above the level (91 > 90.909) consumes nothing; one up to 109 (>= 108.911) the shorts too
    above = estimate_map("BTC", at(3), [wick_bars(closes, oi, [NAN, NAN, 101.0, NAN], [NAN, NAN, 91.0, NAN])], p,
                         100.0)
    assert [b.usd for b in above.bins] == pytest.approx([b.usd for b in plain.bins], rel=1e-12)
    both = estimate_map("BTC", at(3), [wick_bars(closes, oi, [NAN, NAN, 109.0, NAN], [NAN, NAN, 90.5, NAN])], p, 100.0)
    assert both.long_usd == both.short_usd == 0.0 and both.series[0].consumed == pytest.approx(10.0)
    # the same bars under the method before (bar_range "closes"): the wicks are not read
    closed = estimate_map("BTC", at(3), [wick_bars(closes, oi, [NAN, NAN, 109.0, NAN], [NAN, NAN, 90.5, NAN])],
                          MapParams(leverage={10: 1.0}, maintenance={"v": 0.01}, range=0.25, bins=10,
                                    bar_range="closes"), 100.0)
    assert [b.usd for b in closed.bins] == pytest.approx([b.usd for b in plain.bins], rel=1e-12)
    assert closed.series[0].ranged_bars == 0


def test_the_entry_is_the_typical_price_of_the_klines_range() -> None:
    """Bar 1 closes at 100 (as the bar before) with a kline high of 106 and low of 97: the 10 coins it opened entered
    at (106 + 97 + 100) / 3 = 101, so 5 long at 101 x 0.9 / 0.99 = 91.818 and 5 short at 101 x 1.1 / 1.01 = 110.
    From the closes alone they entered at 100."""
    m = estimate_map("BTC", at(2), [wick_bars([100.0] * 3, [0.0, 10.0, 10.0], [NAN, 106.0, NAN], [NAN, 97.0, NAN])],
                     params({10: 1.0}), 100.0)
    assert m.long_usd == pytest.approx(5 * 101 * 0.9 / 0.99, rel=1e-12)
    assert m.short_usd == pytest.approx(5 * 110.0, rel=1e-12)


def test_a_bar_ranges_over_its_high_low_close_and_the_previous_close() -> None:
    """Closes 100, 95, 96, 97 with klines (high, low) unknown, (96, 94), unknown, (96.5, 96.2): bar 1 gapped down
    from 100 (its kline never traded 100: the previous close still bounds its path), so it ranges 94 .. 100; bar 2
    has no kline range: 95 .. 96 (its closes' path); bar 3's kline lies inside the closes' path: 96 .. 97."""
    b = wick_bars([100.0, 95.0, 96.0, 97.0], [1.0] * 4, [NAN, 96.0, NAN, 96.5], [NAN, 94.0, NAN, 96.2])
    assert b.high.tolist() == [100.0, 100.0, 96.0, 97.0] and b.low.tolist() == [100.0, 94.0, 95.0, 96.0]
    assert b.ranged is not None and b.ranged.tolist() == [False, True, False, True] and b.ranged_bars == 2
    plain = bars([100.0, 95.0, 96.0, 97.0], [1.0] * 4)
    assert plain.high.tolist() == [100.0, 100.0, 96.0, 97.0] and plain.low.tolist() == [100.0, 95.0, 95.0, 96.0]
    assert plain.ranged_bars == 0
    only = b.path_only()
    assert (only.high.tolist(), only.low.tolist(), only.ranged_bars) == (plain.high.tolist(), plain.low.tolist(), 0)
    cut = b.until(T0 + 1 * H)
    assert cut.ranged is not None and cut.ranged.tolist() == [False, True] and cut.low.tolist() == [100.0, 94.0]
    with pytest.raises(ValueError, match="4 closes but 3 highs"):
        wick_bars([100.0, 95.0, 96.0, 97.0], [1.0] * 4, [NAN, 1.0, 2.0], [NAN] * 4)


def test_bar_range_names_the_method_and_closes_keeps_the_id_of_the_estimates_made_before() -> None:
    """The ids of the defaults, flat and tiered, as the method computed them before kline highs and lows were kept
    (``oi-delta-v1/c9c74944c5`` and ``/434da6b2d3``, the estimates a store holds from then): ``closes`` reproduces
    them; ``high-low`` (the default now) is another method, never pooled with them."""
    assert MapParams(bar_range="closes").method_id == "oi-delta-v1/c9c74944c5"
    assert MapParams(bar_range="closes", tiered=True).method_id == "oi-delta-v1/434da6b2d3"
    assert MapParams().bar_range == "high-low"
    assert MapParams().method_id not in (MapParams(bar_range="closes").method_id,
                                         MapParams(tiered=True).method_id)
    assert MapParams().parameters()["bar_range"] == ("kline high/low where the klines carry them, else the path "
                                                     "between closes")
    assert "bar_range" not in MapParams(bar_range="closes").parameters()
    with pytest.raises(ValueError, match="bar_range must be one of high-low, closes"):
        MapParams(bar_range="wicks")


def test_the_score_finds_the_parameters_of_estimates_made_from_closes() -> None:
    from dtrack.client.queries.liquidation_map import method_params

    rows = [{"price": 100.0, "low": lo, "high": lo + 1.0} for lo in range(90, 110)]
    for old in (MapParams(bins=20, bar_range="closes"), MapParams(bins=20, bar_range="closes", tiered=True),
                MapParams(bins=20)):
        used, origin = method_params(old.method_id, rows, MapParams())
        assert origin == "method" and used.method_id == old.method_id and used.bar_range == old.bar_range


def test_align_merges_an_hour_the_open_interest_lacks_into_the_next_bar() -> None:
    """Klines at hours 0 .. 4 (highs 11 .. 15, lows 9 .. 5; hour 3 without a range), open interest at 0, 1, 2, 4:
    bar 2 is hour 2's kline; bar 4 spans hours 3 and 4 and hour 3's range is unknown, so its range is unknown (the
    hour missing may hold the extreme); with hour 3's range known it would span both: 15 / 5."""
    from dtrack.analytics.liquidation_map import align

    kt = [T0 + h * H for h in range(5)]
    closes = [10.0, 10.5, 10.2, 9.9, 10.1]
    highs, lows = [11.0, 12.0, 13.0, NAN, 15.0], [9.0, 8.0, 7.0, NAN, 5.0]
    t, oi, close, high, low = align([kt[i] for i in (4, 0, 2, 1)], [4.0, 0.0, 2.0, 1.0], kt[::-1], closes[::-1],
                                    highs[::-1], lows[::-1])
    assert t.tolist() == [kt[0], kt[1], kt[2], kt[4]] and oi.tolist() == [0.0, 1.0, 2.0, 4.0]
    assert close.tolist() == [10.0, 10.5, 10.2, 10.1]
    assert high[:3].tolist() == [11.0, 12.0, 13.0] and low[:3].tolist() == [9.0, 8.0, 7.0]
    assert math.isnan(high[3]) and math.isnan(low[3])
    highs[3], lows[3] = 14.0, 6.0
    _t, _oi, _c, high, low = align(kt[:3] + kt[4:], [0.0, 1.0, 2.0, 4.0], kt, closes, highs, lows)
    assert (high.tolist(), low.tolist()) == ([11.0, 12.0, 13.0, 15.0], [9.0, 8.0, 7.0, 5.0])
    # no highs or lows given: all unknown; nothing in common: empty
    assert np.isnan(align(kt, [1.0] * 5, kt, closes)[3]).all()
    assert [len(x) for x in align(kt[:2], [1.0, 2.0], kt[2:], closes[2:])] == [0] * 5


def test_density_labels_are_relative_to_the_maps_own_median() -> None:
    labels, median = density_labels(np.array([0, 10, 10, 10, 25, 45, 0]), 2.0, 4.0)
    assert median == 10.0
    assert labels == [None, None, None, None, "high_density", "critical", None]
    flat, _ = density_labels(np.array([5.0, 5.0, 5.0]), 2.0, 4.0)
    assert flat == [None, None, None]
    assert density_labels(np.zeros(4), 2.0, 4.0) == ([None] * 4, None)


# --- cascade risk --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("within", "oi", "level"), [
    (150e6, 37e9, "low"),          # x2: medium from $200M
    (200e6, 37e9, "medium"),
    (150e6, 9.25e9, "high"),       # x0.5: high from $100M, critical above $250M
    (250e6, 9.25e9, "high"),       # exactly the critical edge: the seed's "> $500M" is strict
    (250.1e6, 9.25e9, "critical"),
    (99e6, 18.5e9, "low"), (100e6, 18.5e9, "medium"), (200e6, 18.5e9, "high"), (501e6, 18.5e9, "critical"),
])
def test_cascade_bands_scale_with_open_interest(within: float, oi: float, level: str) -> None:
    b = cascade_bands(within * 0.4, within * 0.6, oi)
    assert b.level == level and b.within_usd == pytest.approx(within)
    assert b.scale == pytest.approx(oi / 18.5e9)
    assert b.thresholds["critical"] == pytest.approx(500e6 * oi / 18.5e9)


def test_cascade_bands_without_open_interest_are_unknown() -> None:
    assert cascade_bands(1e9, 0.0, None).level is None and cascade_bands(1e9, 0.0, 0.0).level is None


@pytest.mark.parametrize(("near", "volume", "level"), [
    (30, 100, "high"), (50, 100, "high"), (51, 100, "extreme"), (10, 100, "normal"), (11, 100, "elevated"),
    (26, 100, "high"), (0, 100, "normal")])
def test_cascade_ratio_follows_the_seed(near: float, volume: float, level: str) -> None:
    r = cascade_ratio(near, volume)
    assert r.level == level and r.ratio == pytest.approx(near / volume)


def test_cascade_ratio_without_volume_says_so() -> None:
    r = cascade_ratio(5e8, None)
    assert r.level is None and r.ratio is None and "24 h volume" in r.note


def test_the_maps_ratio_sums_its_contracts_volumes() -> None:
    """Flat at 100, 10x, maintenance 0.5 % on both venues. Contract v opens 10 coins, w 4 coins, 50/50: 7 coins long
    at 100 x 0.9 / 0.995 = 90.452 and 7 short at 100 x 1.1 / 1.005 = 109.453, all within 10 % of 100:
    near = 7 x (90.452 + 109.453) = 1399.34 USD. 24 h volumes 5000 (v) + 2000 (w) = 7000: ratio 0.1999, elevated.
    Without w's volume: 1399.34 / 5000 = 0.2799, high, and an upper bound (w's liquidations count, its volume
    does not). Without any volume: no ratio, and why."""
    from dtrack.report.liquidation_map import map_dict

    series = [bars([100, 100], [0, 10]), bars([100, 100], [0, 4], venue="w")]
    p = params({10: 1.0}, mmr=0.005, range_=0.12, bins=50)
    near = 7 * (100 * 0.9 / 0.995 + 100 * 1.1 / 1.005)
    m = estimate_map("BTC", at(1), series, p, 100.0, volumes={("v", "S"): 5000.0, ("w", "S"): 2000.0, ("x", "S"): 1e9},
                     volume_source="given")
    r = m.ratio
    assert r.near_usd == pytest.approx(near, rel=1e-12) and r.volume_24h_usd == 7000.0
    assert r.ratio == pytest.approx(near / 7000.0, rel=1e-12) and r.ratio == pytest.approx(0.19990, abs=1e-5)
    assert (r.level, r.volumes, r.missing, r.note, r.source) == (
        "elevated", (("v", "S", 5000.0), ("w", "S", 2000.0)), (), "", "given")  # x is no contract of the map
    assert r.venues == {"v": 5000.0, "w": 2000.0}
    doc = map_dict(m)["cascade"]["ratio"]
    assert (doc["volume_24h_usd"], doc["volume_venues"], doc["volume_missing"], doc["volume_source"]) == (
        7000.0, {"v": 5000.0, "w": 2000.0}, [], "given")
    assert doc["volumes"] == [{"venue": "v", "symbol": "S", "volume_24h_usd": 5000.0},
                              {"venue": "w", "symbol": "S", "volume_24h_usd": 2000.0}]
    partial = estimate_map("BTC", at(1), series, p, 100.0, volumes={("v", "S"): 5000.0}).ratio
    assert partial.ratio == pytest.approx(near / 5000.0, rel=1e-12) and partial.level == "high"
    assert partial.missing == (("w", "S"),) and "upper bound" in partial.note and "w S" in partial.note
    none = estimate_map("BTC", at(1), series, p, 100.0, volumes={}, volume_why="the venues were not asked").ratio
    assert (none.level, none.ratio, none.volume_24h_usd) == (None, None, None)
    assert none.note == "no 24 h volume: the venues were not asked" and none.missing == (("v", "S"), ("w", "S"))


# --- scoring: the measures ------------------------------------------------------------------------------------------

def test_ranks_average_ties() -> None:
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert rankdata([3, 3, 3]).tolist() == [2.0, 2.0, 2.0]


def test_spearman_against_hand_computations() -> None:
    # no ties: 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6 x 4 / 120 = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8, abs=1e-15)
    # ties: ranks of y = 1, 2, 3.5, 5, 3.5; Pearson of the ranks = 8 / sqrt(10 x 9.5)
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95), abs=1e-15)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def test_top_k_share_against_hand_computations() -> None:
    est, real = [5, 3, 3, 1], [10, 20, 30, 40]
    assert top_k_share(est, real, 1) == pytest.approx(0.10)
    # the second place is a tie of two bins: each counts half
    assert top_k_share(est, real, 2) == pytest.approx((10 + 25) / 100)
    assert top_k_share(est, real, 3) == pytest.approx(0.60)
    assert top_k_share(est, real, 9) == pytest.approx(1.0)
    assert top_k_share(est, [0, 0, 0, 0], 2) is None


# --- scoring: the leverage-ladder baseline -------------------------------------------------------------------------

#: the seed's mix and the built-in first-tier rates, written out here (not read from the code under test)
SEED_MIX = {2: 0.05, 3: 0.13, 5: 0.25, 10: 0.25, 20: 0.15, 25: 0.10, 50: 0.05, 100: 0.02}
RATES = {"binance": 0.004, "bybit": 0.005, "okx": 0.004, "dydx": 0.03}


def ladder_reference(sides: list[bool], lows: list[float], highs: list[float], price: float,
                     venues: list[str], mix: dict[float, float] = SEED_MIX,
                     rates: dict[str, float] = RATES) -> list[float]:
    """Plain loops: every (venue, leverage) rung the venue can carry (1/L > m), its weight the mix's share among
    those (a venue's rungs sum to 1 / len(venues)), placed in the bin of its side holding its liquidation price
    (long P(1 - 1/L)/(1 - m), short P(1 + 1/L)/(1 + m)), bins [low, high)."""
    out = [0.0] * len(lows)
    for venue in venues:
        m = rates[venue]
        kept = {lev: w for lev, w in mix.items() if 1 / lev > m}
        total = sum(kept.values())
        for lev, w in kept.items():
            for is_long in (True, False):
                lp = price * (1 - 1 / lev) / (1 - m) if is_long else price * (1 + 1 / lev) / (1 + m)
                for i in range(len(lows)):
                    if sides[i] == is_long and lows[i] <= lp < highs[i]:
                        out[i] += w / total / len(venues)
    return out


def test_the_ladder_baseline_against_plain_loops() -> None:
    from dtrack.analytics.liquidation_map import ladder_baseline

    # ±10 % around 100 in 0.4 % bins (the default grid), longs below, shorts above
    edges_below, edges_above = np.linspace(90, 100, 26), np.linspace(100, 110, 26)
    lows = [*edges_above[:-1], *edges_below[:-1]]
    highs = [*edges_above[1:], *edges_below[1:]]
    sides = [False] * 25 + [True] * 25
    for venues in (["binance"], ["binance", "bybit", "okx", "dydx"], ["dydx"]):
        got = ladder_baseline(np.array(sides), np.array(lows), np.array(highs), 100.0, venues, MapParams())
        want = ladder_reference(sides, lows, highs, 100.0, venues)
        assert got.tolist() == pytest.approx(want, abs=1e-15)
    # by hand, Binance at 0.4 %: 100x long at 99 / 0.996 = 99.398 (the bin [99.2, 99.6)), weight 0.02; 50x at
    # 98.394 ([98.0, 98.4)), 0.05; 10x at 90.361 ([90.0, 90.4)), 0.25; 5x at 80.3 is off the grid
    one = ladder_baseline(np.array(sides), np.array(lows), np.array(highs), 100.0, ["binance"], MapParams())
    by_low = {(round(lo, 1), sd): w for lo, sd, w in zip(lows, sides, one.tolist(), strict=True) if w}
    assert by_low[(99.2, True)] == pytest.approx(0.02) and by_low[(98.0, True)] == pytest.approx(0.05)
    assert by_low[(90.0, True)] == pytest.approx(0.25)
    # shorts: 100x at 101 / 1.004 = 100.598 ([100.4, 100.8)); 10x at 109.562 ([109.2, 109.6))
    assert by_low[(100.4, False)] == pytest.approx(0.02) and by_low[(109.2, False)] == pytest.approx(0.25)
    assert sum(one) == pytest.approx(0.02 + 0.05 + 0.10 + 0.15 + 0.25 + 0.02 + 0.05 + 0.10 + 0.15 + 0.25)
    # dYdX's 3 % drops 50x and 100x (1/L <= m), the rest rescaled by 1 / 0.93: its nearest long rung is 25x at
    # 96 / 0.97 = 98.969 ([98.8, 99.2)), nothing nearer; 2x, 3x and 5x are off the grid
    dydx = ladder_baseline(np.array(sides), np.array(lows), np.array(highs), 100.0, ["dydx"], MapParams())
    by_low = {(round(lo, 1), sd): w for lo, sd, w in zip(lows, sides, dydx.tolist(), strict=True) if w}
    assert max(lo for lo, sd in by_low if sd) == 98.8 and by_low[(98.8, True)] == pytest.approx(0.10 / 0.93)
    assert sum(dydx) == pytest.approx(2 * (0.25 + 0.15 + 0.10) / 0.93)
    # no venue named: one ladder at the default rate (0.5 %)
    none = ladder_baseline(np.array(sides), np.array(lows), np.array(highs), 100.0, [], MapParams())
    assert none.tolist() == pytest.approx(ladder_reference(sides, lows, highs, 100.0, ["x"], rates={"x": 0.005}))


# --- scoring: a synthetic market ----------------------------------------------------------------------------------

#: what a bin the ladder misses still realizes, against the ladder's weights (0.02 to 0.25)
FLOOR = 0.05


def synthetic(seed: int = 11, snapshots: int = 40) -> tuple[list[Frozen], Realized, PricePath, np.random.Generator]:
    """Estimates of Binance every day at price 100 over ±10 % in 1 % bins, each with a structure of its own (no
    relation to distance); price then swings to 94.5 and 105.5 within the day (6 bins a side reached); realized
    USD per traversed bin = the estimate x (the leverage ladder's weight + FLOOR) x noise, each as one liquidation
    at the bin's middle: the ladder knows part of the structure, the estimate more."""
    rng = np.random.default_rng(seed)
    lows = np.concatenate([np.arange(109, 99, -1.0), np.arange(99, 89, -1.0)])
    is_long = np.array([False] * 10 + [True] * 10)
    ladder = np.array(ladder_reference(is_long.tolist(), lows.tolist(), (lows + 1).tolist(), 100.0, ["binance"]))
    frozen, times, prices, usds, sides, path_t, path_p = [], [], [], [], [], [], []
    for n in range(snapshots):
        t0 = T0 + n * 24 * H
        est = rng.lognormal(0.0, 1.0, 20) * 1e6
        frozen.append(Frozen(time_ms=t0, price=100.0, is_long=is_long, low=lows, high=lows + 1, usd=est,
                             venues=("binance",)))
        path_t += [t0 + 6 * H, t0 + 12 * H, t0 + 18 * H]
        path_p += [94.5, 105.5, 100.0]
        mid = lows + 0.5
        reached = np.where(is_long, lows + 1 >= 94.5, lows <= 105.5)
        real = est * (ladder + FLOOR) * rng.uniform(0.5, 1.5, 20)
        for i in np.nonzero(reached)[0]:
            times.append(t0 + 3 * H)
            prices.append(float(mid[i]))
            usds.append(float(real[i]))
            sides.append(bool(is_long[i]))
    return frozen, Realized.of(times, prices, usds, sides), PricePath.of(path_t, path_p), rng


def test_a_right_estimate_beats_the_baseline_and_a_shuffled_one_does_not() -> None:
    frozen, realized, path, rng = synthetic()
    until = T0 + 60 * 24 * H
    right = score_estimates(frozen, realized, path, horizon_ms=24 * H, top_k=3, until_ms=until)
    assert right.scored == 40 and right.pairs == 40 * 12  # 6 bins a side reached each day
    assert right.realized_unbinned_usd == pytest.approx(0.0)
    assert right.spearman is not None and right.baseline_spearman is not None
    assert right.spearman > 0.6 and right.baseline_spearman > 0.3  # the ladder knows part of the structure
    assert right.spearman > right.baseline_spearman
    assert right.top_k_share is not None and right.baseline_top_k_share is not None
    assert right.top_k_share > right.baseline_top_k_share
    assert right.beats_baseline is True
    shuffled = [Frozen(f.time_ms, f.price, f.is_long, f.low, f.high, rng.permutation(f.usd), f.venues)
                for f in frozen]
    wrong = score_estimates(shuffled, realized, path, horizon_ms=24 * H, top_k=3, until_ms=until)
    assert wrong.baseline_spearman == pytest.approx(right.baseline_spearman)  # the same bins, the same baseline
    assert wrong.spearman is not None and wrong.spearman < wrong.baseline_spearman
    assert wrong.top_k_share is not None and wrong.top_k_share < wrong.baseline_top_k_share  # type: ignore[operator]
    assert wrong.beats_baseline is False
    # the baseline's figures by hand: the ladder's weight per reached bin against the realized USD, pooled
    lows = frozen[0].low
    reached = np.where(frozen[0].is_long, lows + 1 >= 94.5, lows <= 105.5)
    weights = ladder_reference(frozen[0].is_long.tolist(), lows.tolist(), (lows + 1).tolist(), 100.0, ["binance"])
    w_all, r_all = [], []
    for f in frozen:
        got = {(float(p), bool(lg)): float(u) for t, p, u, lg in zip(realized.time_ms, realized.price, realized.usd,
                                                                     realized.is_long, strict=True)
               if f.time_ms < t <= f.time_ms + 24 * H}
        for i in np.nonzero(reached)[0]:
            w_all.append(weights[i])
            r_all.append(got[(float(lows[i] + 0.5), bool(f.is_long[i]))])
    assert right.baseline_spearman == pytest.approx(spearman(w_all, r_all), abs=1e-12)
    per_day = [top_k_share(w_all[j:j + 12], r_all[j:j + 12], 3) * sum(r_all[j:j + 12])  # type: ignore[operator]
               for j in range(0, len(r_all), 12)]
    assert right.baseline_top_k_share == pytest.approx(sum(per_day) / sum(r_all), abs=1e-12)


def test_the_baseline_takes_the_methods_own_parameters_where_they_reproduce_its_id() -> None:
    from dtrack.client.queries.liquidation_map import method_params

    # a stored grid: price 100, ±10 % in 20 bins (what the store keeps: rows, and the method's id)
    rows = [{"price": 100.0, "low": lo, "high": lo + 1.0} for lo in range(90, 110)]
    changed = MapParams(leverage={10.0: 1.0}, maintenance={"binance": 0.02}, bins=50)  # the settings now
    # stored with the defaults, scored after the settings changed: the defaults are found back by the id
    used, origin = method_params(MapParams(bins=20).method_id, rows, changed)
    assert origin == "method" and used.method_id == MapParams(bins=20).method_id
    assert used.rule()("binance", "", np.ones(1)).tolist() == [0.004]
    # stored with the settings in force (their range and bins on the grid)
    mine = MapParams(leverage={10.0: 1.0}, maintenance={"binance": 0.02}, bins=20)
    used, origin = method_params(mine.method_id, rows, changed)
    assert origin == "method" and dict(used.leverage) == {10.0: 1.0}
    # an id nothing here reproduces (other settings then): the current settings', said so
    used, origin = method_params("oi-delta-v1/0123456789", rows, changed)
    assert origin == "settings" and used is changed


def test_only_traversed_bins_and_finished_horizons_are_scored() -> None:
    frozen, realized, path, _ = synthetic(snapshots=3)
    # the last estimate's day has not ended yet: not scored
    s = score_estimates(frozen, realized, path, horizon_ms=24 * H, top_k=3, until_ms=T0 + 2 * 24 * H + H)
    assert (s.snapshots, s.scored, s.pairs) == (3, 2, 24)
    # a liquidation in a bin price never reached (per the closes) is not scored, and said
    extra = Realized.of([*realized.time_ms.tolist(), T0 + 2 * H], [*realized.price.tolist(), 91.5],
                        [*realized.usd.tolist(), 7e6], [*realized.is_long.tolist(), True])
    s2 = score_estimates(frozen, extra, path, horizon_ms=24 * H, top_k=3, until_ms=T0 + 3 * 24 * H)
    assert s2.realized_unbinned_usd == pytest.approx(7e6)


# --- the query from a store ---------------------------------------------------------------------------------------

CONTRACTS = (
    Instrument(venue="binance", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
               margin=Margin.LINEAR, market="usdm"),
    Instrument(venue="okx", symbol="BTC-USDT-SWAP", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
               margin=Margin.LINEAR, contract_size=0.01, market="SWAP"),
)


def path_price(h: int) -> float:
    return 90_000.0 * math.exp(0.04 * math.sin(h / 40.0) + 0.008 * math.sin(h / 3.0))


def fill(url: str, days: int = 30, contracts: tuple[Instrument, ...] = CONTRACTS,
         ranges: Callable[[Instrument, int, int], tuple[float | None, float | None]] | None = None
         ) -> dict[tuple[str, str], Any]:
    """A store holding ``days`` of hourly OI and klines up to NOW: closes, and the highs and lows ``ranges`` gives
    ``(contract, its index, hour)`` (None: no high and low, as rows written before the store kept them); the series
    written, per contract."""
    hours = days * 24
    start = NOW - timedelta(hours=hours)
    written: dict[tuple[str, str], Any] = {}
    with open_store(url) as st:
        st.write_rows("instruments", [i.to_row() | {"seen_at": NOW} for i in contracts])
        for n, inst in enumerate(contracts):
            t = [start + timedelta(hours=h) for h in range(hours + 1)]
            oi = [40_000.0 * (1 + 0.08 * math.sin(h / 55.0 + n) + 0.01 * math.sin(h / 2.0)) for h in range(hours + 1)]
            px = [path_price(h) * (1 + 0.0003 * n) for h in range(hours + 1)]
            st.write([OIPoint(venue=inst.venue, symbol=inst.symbol, time=x, base=o, usd=o * p, received_at=x)
                      for x, o, p in zip(t, oi, px, strict=True)])
            wicks = [ranges(inst, n, h) if ranges else (None, None) for h in range(hours + 1)]
            st.write([PricePoint(venue=inst.venue, symbol=inst.symbol, time=x, price=p, high=hi, low=lo, received_at=x)
                      for x, p, (hi, lo) in zip(t, px, wicks, strict=True)])
            written[(inst.venue, inst.symbol)] = ([int(x.timestamp() * 1000) for x in t], oi, px)
    return written


def store_client(url: str, tmp: Path, **kw: Any) -> dtrack.AsyncClient:
    settings = Settings(cache_dir=tmp / "cache", state_dir=tmp / "state")
    return dtrack.AsyncClient(config=settings, store=url, clock=pinned(NOW), venues=["binance", "okx"], **kw)


def test_the_map_from_a_store_is_the_analytics_on_the_stored_series(tmp_path: Path) -> None:
    url = str(tmp_path / "store.sqlite3")
    written = fill(url)

    async def go() -> Any:
        async with store_client(url, tmp_path) as dt:
            return await dt.liquidation_map("BTC", range_pct=8, bins=40)

    result = asyncio.run(go())
    assert result.source.kind == "store" and result.exit_code == 0 and not result.failures
    (m,) = result.maps
    series = [Bars.from_closes(v, s, t, oi, px, 0.5, "x") for (v, s), (t, oi, px) in written.items()]
    price = float(np.median([s.close[-1] for s in series]))  # no marks stored: the last closes
    want = estimate_map("BTC", NOW, series, MapParams(range=0.08, bins=40), price)
    assert m.price == pytest.approx(price)
    assert [b.usd for b in m.bins] == pytest.approx([b.usd for b in want.bins], rel=1e-12)
    assert m.long_usd > 0 and m.short_usd > 0
    doc = result.to_dict()
    jsonschema.validate(doc, load_schema("liquidation_map"))
    assert doc["estimate"] is True and doc["source"]["kind"] == "store"
    assert doc["method"]["id"] == MapParams(range=0.08, bins=40).method_id
    # no long/short ratio stored: 50/50, said
    assert {s["split"] for s in doc["maps"][0]["series"]} == {
        "50/50 (no long/short ratio of the venue's was read for that time)"}
    # closes without highs and lows (as a store written before it kept them): every bar on the closes' path, said
    assert ("BTC bar ranges: the klines' own high and low of no contract; the path between closes where the klines "
            "carry no high and low (a store's rows written before it kept them): binance BTCUSDT (all 721 bars), okx "
            "BTC-USDT-SWAP (all 721 bars)") in result.notes


def test_the_map_from_a_store_takes_the_latest_stored_24h_volume_within_a_day(tmp_path: Path) -> None:
    """Stored quotes: binance's volume 3 h and 30 h before the map (the later counts, the older is past the day),
    okx's 20 h before; a quote without a volume is skipped. Ratio = near / (2e9 + 5e8)."""
    from dtrack.records import PriceQuote

    url = str(tmp_path / "store.sqlite3")
    fill(url)
    binance, okx = CONTRACTS

    def quote(inst: Instrument, hours: float, usd: float | None) -> PriceQuote:
        t = NOW - timedelta(hours=hours)
        return PriceQuote(instrument=inst, time=t, received_at=t, mark_price=90_000.0, volume_24h_usd=usd)

    with open_store(url) as st:
        st.write([quote(binance, 30, 9e9), quote(binance, 3, 2e9), quote(binance, 1, None), quote(okx, 20, 5e8)])

    async def go() -> Any:
        async with store_client(url, tmp_path) as dt:
            return await dt.liquidation_map("BTC")

    result = asyncio.run(go())
    assert result.source.kind == "store"
    r = result.maps[0].ratio
    assert r.volumes == (("binance", "BTCUSDT", 2e9), ("okx", "BTC-USDT-SWAP", 5e8)) and r.volume_24h_usd == 2.5e9
    assert r.ratio == pytest.approx(r.near_usd / 2.5e9) and r.missing == () and r.level is not None
    assert "store's price_quotes" in r.source and (NOW - timedelta(hours=20)).strftime("%Y-%m-%d %H:%M") in r.source
    jsonschema.validate(result.to_dict(), load_schema("liquidation_map"))


def test_a_store_without_volumes_gives_no_ratio_and_says_why(tmp_path: Path) -> None:
    url = str(tmp_path / "store.sqlite3")
    fill(url)

    async def go() -> Any:
        async with store_client(url, tmp_path) as dt:
            return await dt.liquidation_map("BTC")

    result = asyncio.run(go())
    r = result.maps[0].ratio
    assert r.level is None and "the store holds no 24 h volume" in r.note
    assert "Cascade ratio (seed): n/a" in result.table().render(120)


def wick(h: int, n: int) -> tuple[float, float]:
    """A kline's high and low around the path's closes of hour ``h`` (contract ``n``): up to 1.2 % beyond the
    larger and smaller of its close and the previous one."""
    prev, now = (path_price(max(h - 1, 0)) * (1 + 0.0003 * n), path_price(h) * (1 + 0.0003 * n))
    return (max(prev, now) * (1 + 0.006 * (1 + math.sin(1.3 * h + n))),
            min(prev, now) * (1 - 0.006 * (1 + math.cos(0.7 * h + n))))


def test_the_map_from_a_store_reads_the_klines_highs_and_lows(store_url: str, tmp_path: Path) -> None:
    """Both engines: klines written with their highs and lows, except OKX's first 360 hours, written without (null
    high and low, as a store before schema step 8 kept them). The map read from the store is the analytics on the
    same klines in memory (those hours ranging over the closes' path), differs from the map of the closes alone (the
    wicks consume cohorts and move entries), and its notes name the bars without a range."""
    from dataclasses import replace

    def ranges(inst: Instrument, n: int, h: int) -> tuple[float | None, float | None]:
        return (None, None) if inst.venue == "okx" and h < 360 else wick(h, n)

    written = fill(store_url, ranges=ranges)
    with open_store(store_url) as st:  # what the store gives back
        stored = st.read("price_points", venue="okx", symbol="BTC-USDT-SWAP")
        assert (stored[359]["high"], stored[359]["low"]) == (None, None)
        assert (stored[360]["high"], stored[360]["low"]) == pytest.approx(wick(360, 1), rel=1e-15)

    async def go() -> Any:
        async with store_client(store_url, tmp_path) as dt:
            return await dt.liquidation_map("BTC", range_pct=8, bins=40)

    result = asyncio.run(go())
    assert result.source.kind == "store" and result.exit_code == 0
    (m,) = result.maps
    kept = {(i.venue, i.symbol): [ranges(i, n, h) for h in range(30 * 24 + 1)] for n, i in enumerate(CONTRACTS)}
    series = [Bars.from_klines(v, sym, t, oi, px, [NAN if hi is None else hi for hi, _ in kept[(v, sym)]],
                               [NAN if lo is None else lo for _, lo in kept[(v, sym)]], 0.5, "x")
              for (v, sym), (t, oi, px) in written.items()]
    price = float(np.median([b.close[-1] for b in series]))
    p = MapParams(range=0.08, bins=40)
    want = estimate_map("BTC", NOW, series, p, price)
    assert m.params.method_id == p.method_id
    assert [b.usd for b in m.bins] == pytest.approx([b.usd for b in want.bins], rel=1e-12)
    assert {(x.venue, x.bars, x.ranged_bars) for x in m.series} == {("binance", 721, 721), ("okx", 721, 361)}
    closes_only = estimate_map("BTC", NOW, [b.path_only() for b in series], p, price)
    assert sum(abs(a.usd - b.usd) for a, b in zip(m.bins, closes_only.bins, strict=True)) > 0.01 * (
        m.long_usd + m.short_usd)
    assert sum(x.consumed for x in m.series) > sum(x.consumed for x in closes_only.series)
    assert ("BTC bar ranges: the klines' own high and low of binance BTCUSDT, okx BTC-USDT-SWAP; the path between "
            "closes where the klines carry no high and low (a store's rows written before it kept them): okx "
            "BTC-USDT-SWAP (360 of 721 bars)") in result.notes
    # the method before (bar_range closes) on the same bars: the map of the closes alone
    closed = estimate_map("BTC", NOW, series, replace(p, bar_range="closes"), price)
    assert [b.usd for b in closed.bins] == pytest.approx([b.usd for b in closes_only.bins], rel=1e-12)


def test_a_store_without_the_whole_window_says_why_and_the_venues_answer(tmp_path: Path,
                                                                         market: SimThread) -> None:
    url = str(tmp_path / "store.sqlite3")
    fill(url, days=5)

    async def go() -> Any:
        settings = sim_settings(market.venue_urls(), tmp_path)
        async with dtrack.AsyncClient(config=settings, store=url, clock=pinned(NOW), venues=["okx"]) as dt:
            return await dt.liquidation_map("BTC")

    result = asyncio.run(go())
    assert result.source.kind == "venues" and "later than the 30-day window" in result.source.note
    assert result.maps and result.maps[0].venues == ["okx"]


# --- against the simulated venues ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def market() -> Iterator[SimThread]:
    server = SimThread(model=model())
    yield server
    server.close()


def test_a_map_of_the_simulated_market_has_both_sides(market: SimThread, tmp_path: Path) -> None:
    async def go() -> Any:
        settings = sim_settings(market.venue_urls(), tmp_path)
        async with dtrack.AsyncClient(config=settings, clock=pinned(NOW)) as dt:
            return await dt.liquidation_map("BTC")

    result = asyncio.run(go())
    assert result.exit_code == 0, result.failures
    (m,) = result.maps
    assert any(b.usd > 0 for b in m.bins if b.side == "long") and any(b.usd > 0 for b in m.bins if b.side == "short")
    assert set(m.venues) == {"binance", "bybit", "okx", "dydx"}
    assert {o["venue"] for o in result.not_covered} >= {"deribit", "hyperliquid"}
    assert all(b.usd >= 0 for b in m.bins) and len(m.bins) == 50
    assert m.bands.level in ("low", "medium", "high", "critical")
    # the seed-004 ratio over the 24 h volume the venues' quote answers carry, of every contract in the map
    r = m.ratio
    assert r.level in ("normal", "elevated", "high", "extreme") and not r.missing and r.note == ""
    assert {(v, s) for v, s, _ in r.volumes} == {(s.venue, s.symbol) for s in m.series if s.bars >= 2}
    assert r.volume_24h_usd == pytest.approx(sum(x for *_, x in r.volumes)) and set(r.venues) == set(m.venues)
    assert r.ratio == pytest.approx(r.near_usd / r.volume_24h_usd) and "quote answers" in r.source
    splits = {s.venue: s.split for s in m.series}
    assert "long share" in splits["binance"] and splits["dydx"].startswith("50/50")
    # the venues' klines carry their highs and lows: every bar ranges over its kline's
    assert all(s.ranged_bars == s.bars > 2 for s in m.series)
    assert "BTC bar ranges: the klines' own high and low of every contract" in result.notes
    doc = result.to_dict()
    jsonschema.validate(doc, load_schema("liquidation_map"))
    assert doc["command"] == "liquidation_map" and doc["maps"][0]["estimate"] is True
    assert doc["bins"] == doc["maps"][0]["bins"]
    text = result.table().render(120)
    assert "BTC ESTIMATED LIQUIDATION LEVELS" in text and "an estimate" in text and "Cascade risk" in text
    assert f"Cascade ratio (seed): {r.level.upper()}" in text and f"= {r.ratio:.3f}" in text
    assert doc["maps"][0]["cascade"]["ratio"]["volume_venues"] == pytest.approx(r.venues)
    assert all(len(line) <= 120 for line in text.splitlines())
    assert result.to_csv().splitlines()[0] == "asset,side,low,high,price,usd,distance,density"
    assert len(result.to_csv().splitlines()) == 51


def test_a_map_from_the_venues_uses_each_contracts_margin_tiers(market: SimThread, tmp_path: Path) -> None:
    """From the venues: each perpetual's tiers (read in the same concurrent round), the rate of the lowest tier
    allowing each leverage; a contract whose first tier allows less than 100x drops the 100x cohorts."""
    from decimal import Decimal

    from dtrack.sim.venues import binance as sim_binance
    from dtrack.sim.venues import bybit as sim_bybit
    from dtrack.sim.venues import dydx as sim_dydx
    from dtrack.sim.venues import okx as sim_okx

    async def go() -> Any:
        settings = sim_settings(market.venue_urls(), tmp_path)
        async with dtrack.AsyncClient(config=settings, clock=pinned(NOW)) as dt:
            return await dt.liquidation_map(["BTC", "SOL"])

    result = asyncio.run(go())
    assert result.exit_code == 0, result.failures
    maps = {m.asset: m for m in result.maps}
    # the sim's tier-1 rates and max leverages, read from its tables (Bybit: max leverage 1 / (2 x mmr))
    bn = {a: sim_binance.BRACKETS[("usdm", a)][0] for a in ("BTC", "SOL")}
    bb = {a: float(sim_bybit.RISK_TABLES[(a, "linear")][0][1]) for a in ("BTC", "SOL")}
    ok = {a: sim_okx.TIER_TABLES[f"{a}-USDT"] for a in ("BTC", "SOL")}
    dy = {a: sim_dydx._SPECS[f"{a}-USD"] for a in ("BTC", "SOL")}
    for asset in ("BTC", "SOL"):
        m = maps[asset]
        assert m.params.tiered and m.params.method_id == MapParams(tiered=True).method_id != MapParams().method_id
        assert {lv.method for lv in result.levels(received_at=NOW)} == {MapParams(tiered=True).method_id}
        got = {(s.venue, s.symbol): (s.maintenance_rate, s.dropped_leverage) for s in m.series}
        _cap, rate, lever = bn[asset]
        assert got[("binance", f"{asset}USDT")] == (float(rate), () if lever >= 100 else (100.0,))
        assert got[("bybit", f"{asset}USDT")] == (bb[asset], () if 1 / (2 * bb[asset]) >= 100 else (100.0,))
        okx_rate, okx_lever = float(ok[asset][1][0]), float(ok[asset][2][0])
        assert got[("okx", f"{asset}-USDT-SWAP")] == (okx_rate, () if okx_lever >= 100 else (100.0,))
        imf, mmf = float(Decimal(dy[asset][3])), float(Decimal(dy[asset][4]))
        assert got[("dydx", f"{asset}-USD")][0] == mmf
        assert got[("dydx", f"{asset}-USD")][1] == tuple(x for x in (2.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0)
                                                          if x > 1 / imf * (1 + 1e-9) or 1 / x <= mmf)
        assert any(f"{asset} maintenance: margin tiers of binance {asset}USDT" in n for n in result.notes)
    # what the tables say, spelled out: BTC's first tiers allow 100x or more (Binance 150x at 0.4 %, Bybit 0.5 %,
    # OKX 100x at 0.4 %); SOL's allow 75x, 50x and 50x: its 100x cohorts are dropped
    assert maps["BTC"].series[0].dropped_leverage == () and bn["SOL"][2] == 75
    assert [s.dropped_leverage for s in maps["SOL"].series if s.venue != "dydx"] == [(100.0,)] * len(
        [s for s in maps["SOL"].series if s.venue != "dydx"])


def test_a_contract_without_tiers_uses_its_venues_flat_rate_and_is_named(tmp_path: Path) -> None:
    """A venue whose tiers endpoint fails (the sim's fault injection on OKX's position-tiers): its contracts keep
    the flat rate, and the map says which."""
    from dtrack.sim.faults import Faults

    server = SimThread(model=model(), faults=Faults(endpoints={("okx", "/api/v5/public/position-tiers"): 500}))
    try:
        async def go() -> Any:
            settings = sim_settings(server.venue_urls(), tmp_path)
            async with dtrack.AsyncClient(config=settings, clock=pinned(NOW), venues=["okx", "binance"]) as dt:
                return await dt.liquidation_map("BTC")

        result = asyncio.run(go())
    finally:
        server.close()
    (m,) = result.maps
    okx = [s for s in m.series if s.venue == "okx"]
    assert okx and all(s.maintenance_rate == 0.004 for s in okx)  # VENUE_MAINTENANCE["okx"]
    (note,) = [n for n in result.notes if n.startswith("BTC maintenance")]
    assert "the venue's flat rate for okx BTC-USDT-SWAP" in note and "binance BTCUSDT" in note


def test_a_past_map_from_the_venues_has_no_ratio_and_says_why(market: SimThread, tmp_path: Path) -> None:
    async def go() -> Any:
        settings = sim_settings(market.venue_urls(), tmp_path)
        async with dtrack.AsyncClient(config=settings, clock=pinned(NOW), venues=["okx"]) as dt:
            return await dt.liquidation_map("BTC", at=NOW - timedelta(hours=3))

    result = asyncio.run(go())
    r = result.maps[0].ratio
    assert result.source.kind == "venues" and r.level is None and r.volumes == ()
    assert "the venues publish only the current 24 h volume" in r.note


def test_the_sync_client_with_sim_true() -> None:
    with dtrack.Client(sim=True, venues=["okx"]) as dt:
        result = dt.liquidation_map("ETH", bins=20, range_pct=15)
    (m,) = result.maps
    assert len(m.bins) == 20 and m.venues == ["okx"] and m.long_usd + m.short_usd > 0


@pytest.mark.parametrize(("kw", "needle"), [
    ({"bins": 51}, "bad --bins 51: expected an even number"),
    ({"range_pct": 0}, "bad --range 0"),
    ({"range_pct": 95}, "bad --range 95"),
])
def test_bad_options_are_usage_errors(kw: dict[str, Any], needle: str) -> None:
    async def go() -> None:
        async with dtrack.AsyncClient(config=Settings()) as dt:
            await dt.liquidation_map("BTC", **kw)

    with pytest.raises(UsageError, match=needle):
        asyncio.run(go())


def test_a_venue_without_open_interest_history_cannot_make_a_map() -> None:
    async def go() -> None:
        async with dtrack.AsyncClient(config=Settings(), venues=["deribit"]) as dt:
            await dt.liquidation_map("BTC")

    with pytest.raises(UsageError, match="no liquidation map from deribit"):
        asyncio.run(go())


@pytest.mark.parametrize(("doc", "needle"), [
    ({"bins": 49}, "bins: expected an even number"),
    ({"leverage": {"1": 1}}, "leverage: expected leverages > 1"),
    ({"leverage": {"10": 0}}, "sum to more than 0"),
    ({"density_high": 5, "density_critical": 3}, "density_high <= density_critical"),
    ({"maintenance_rate_pct": {"okz": 1}}, "did you mean liquidation_map.maintenance_rate_pct.okx"),
])
def test_bad_settings_are_one_clear_error(doc: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_settings({"liquidation_map": doc})


def test_settings_reach_the_method() -> None:
    from dtrack.client.queries.liquidation_map import map_params

    s = parse_settings({"liquidation_map": {"leverage": {10: 1}, "maintenance_rate_pct": {"okx": 1},
                                            "range_pct": 5, "bins": 20}})
    p = map_params(s)
    assert p.leverage == {10.0: 1.0} and p.range == 0.05 and p.bins == 20
    assert p.rule()("okx", "X", np.array([10.0])).tolist() == [0.01]
    assert p.rule()("binance", "X", np.array([10.0])).tolist() == [0.004]  # the built-in rate stays
    assert p.method_id != map_params(Settings()).method_id


# --- the collector's job and the score ----------------------------------------------------------------------------

def test_the_collector_job_writes_liquidation_levels(market: SimThread, tmp_path: Path, store_url: str) -> None:
    from dtrack.collect.levels import Levels
    from dtrack.collect.plan import make_plan
    from dtrack.collect.runs import RunBook
    from dtrack.collect.status import StatusLine, Tally
    from dtrack.collect.writer import BatchWriter

    settings = sim_settings(market.venue_urls(), tmp_path)
    plan = make_plan(settings, assets=["BTC", "SOL"], venues=["binance", "okx", "deribit"], store_url=store_url)
    assert plan.liquidation_map_interval == 3600.0

    async def go() -> list[LiquidationLevel]:
        messages = io.StringIO()
        status = StatusLine(None, messages=messages)
        writer = BatchWriter(lambda: open_store(store_url), RunBook.new("{}", NOW), tally=Tally(), status=status,
                             clock=pinned(NOW))
        async with dtrack.AsyncClient(config=settings, clock=pinned(NOW), venues=plan.venues) as dt:
            job = Levels(dt, plan, writer, Tally(), status, pinned(NOW), lambda: open_store(store_url))
            levels = await job.round()
        assert await writer.close(status="stopped") == 0
        assert messages.getvalue() == ""
        return levels

    levels = asyncio.run(go())
    with open_store(store_url) as st:
        rows = st.read("liquidation_levels")
    assert len(rows) == len(levels) == 2 * 50
    assert {r["asset"] for r in rows} == {"BTC", "SOL"} and {r["venues"] for r in rows} == {"binance,okx"}
    # a fresh store: the maps are made from the venues, with each contract's margin tiers (the tiered method)
    assert {r["method"] for r in rows} == {MapParams(tiered=True).method_id}
    assert all(r["time"] == NOW for r in rows) and sum(r["usd"] for r in rows) > 0
    def key(lv: LiquidationLevel) -> tuple[str, str, float]:
        return lv.asset, lv.side, lv.low

    assert sorted((LiquidationLevel(**r) for r in rows), key=key) == sorted(levels, key=key)


def test_score_from_a_store(tmp_path: Path, store_url: str) -> None:
    """Estimates, liquidations and closes written as the collector would: the score query reads them back."""
    frozen, realized, path, _ = synthetic(snapshots=6)
    inst = CONTRACTS[0]
    records: list[Any] = []
    # the id of the default parameters on the synthetic grid (±10 %, 20 bins): the score finds them back
    method = MapParams(bins=20).method_id
    start = NOW - timedelta(days=8)
    shift = int(start.timestamp() * 1000) - T0

    def when(ms: int) -> datetime:
        return datetime.fromtimestamp((ms + shift) / 1000, UTC)

    for f in frozen:
        for i in range(len(f.usd)):
            records.append(LiquidationLevel(asset="BTC", method=method, time=when(f.time_ms),
                                            received_at=when(f.time_ms), price=f.price,
                                            side="long" if f.is_long[i] else "short", low=float(f.low[i]),
                                            high=float(f.high[i]), usd=float(f.usd[i]), venues="binance"))
    for n, (t, p, u, lg) in enumerate(zip(realized.time_ms, realized.price, realized.usd, realized.is_long,
                                          strict=True)):
        records.append(Liquidation.of(instrument=inst, side="long" if lg else "short", price=float(p),
                                      price_kind=PriceKind.AVERAGE, amount=float(u) / float(p), unit=Unit.BASE,
                                      time=when(int(t)), received_at=when(int(t)), coverage=Coverage.SAMPLED,
                                      key=f"k{n}"))
    records += [PricePoint(venue=inst.venue, symbol=inst.symbol, time=when(int(t)), price=float(p),
                           received_at=when(int(t))) for t, p in zip(path.time_ms, path.price, strict=True)]
    with open_store(store_url) as st:
        st.write(records)
        st.write_rows("instruments", [inst.to_row() | {"seen_at": NOW}])

    async def go() -> Any:
        settings = Settings(cache_dir=tmp_path / "c", state_dir=tmp_path / "s")
        async with dtrack.AsyncClient(config=settings, store=store_url, clock=pinned(NOW)) as dt:
            return await dt.liquidation_score("BTC", since="9d", top_k=3)

    result = asyncio.run(go())
    doc = result.to_dict()
    jsonschema.validate(doc, load_schema("liquidation_score"))
    (row,) = doc["scores"]
    want = score_estimates(frozen, realized, path, horizon_ms=24 * H, top_k=3, until_ms=T0 + 100 * 24 * H)
    assert row["scored"] == 6 and row["bins_scored"] == want.pairs
    assert row["estimate"]["spearman"] == pytest.approx(want.spearman)
    assert row["baseline"]["top_k_share"] == pytest.approx(want.baseline_top_k_share)
    assert row["coverage"] == {"binance": "sampled"} and row["beats_baseline"] is True
    assert row["baseline"]["parameters"] == "method" and row["baseline"]["maintenance_rate"] == {"binance": 0.004}
    assert row["baseline"]["leverage"] == {f"{k:g}": v for k, v in SEED_MIX.items()}
    assert "leverage ladder" in doc["baseline"]
    assert result.exit_code == 0
    text = result.table().render(120)
    assert "Spearman" in text and "yes" in text
    assert result.to_csv().splitlines()[0].startswith("asset,method,estimates,scored")


def test_score_without_a_store_says_what_to_run(tmp_path: Path) -> None:
    async def go() -> Any:
        async with dtrack.AsyncClient(config=Settings(), store=str(tmp_path / "none.sqlite3")) as dt:
            return await dt.liquidation_score("BTC")

    result = asyncio.run(go())
    assert result.all_failed and result.exit_code == 1 and "dtrack collect" in result.empty_line()
    jsonschema.validate(result.to_dict(), load_schema("liquidation_score"))


def test_a_stored_long_short_ratio_splits_the_new_positions(tmp_path: Path) -> None:
    from dtrack.records import LongShortRatio

    url = str(tmp_path / "store.sqlite3")
    fill(url)
    with open_store(url) as st:
        st.write([LongShortRatio(venue="binance", asset="BTC", symbol="BTCUSDT", definition=d, ratio=s / (1 - s),
                                 long_share=s, time=NOW - timedelta(minutes=5), received_at=NOW - timedelta(minutes=5),
                                 period="5m")
                  for d, s in (("global accounts", 0.6), ("top-trader positions", 0.7))])

    async def go() -> Any:
        async with store_client(url, tmp_path) as dt:
            return await dt.liquidation_map("BTC")

    result = asyncio.run(go())
    assert result.source.kind == "store"
    splits = {s.venue: (s.long_share, s.split) for s in result.maps[0].series}
    assert splits["binance"] == (0.7, "top-trader positions: long share 0.700")  # positions before accounts
    assert splits["okx"][0] == 0.5
