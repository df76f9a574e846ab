"""Hyperliquid keeps only the latest 5,000 candles of an interval: an older window answers less, and the venue's
capability table says how much it keeps (``klines.history`` "5,000 candles", read by ``client.stored.depth_of``), the
convention for a series whose return type carries no note (a tuple of ``Candle`` / ``PricePoint``). The real adapter
over a real socket against the simulation (``sim.venues.hyperliquid.CANDLES_KEPT``), the clock pinned.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import test_hyperliquid_sim as hl
from dtrack.client.stored import depth_of
from dtrack.config import Settings
from dtrack.records import DataKind
from dtrack.sim.model import HOUR_MS
from dtrack.sim.venues import hyperliquid as sim_hl
from dtrack.venues import VENUES
from dtrack.venues.base import Adapter
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.hyperliquid import parse

NOW, NOW_MS = hl.NOW, hl.NOW_MS
pinned = hl.pinned


def test_the_declared_depth_is_what_the_venue_serves(pinned: tuple[Any, Settings, Any]) -> None:
    """300 days of hourly candles asked (7,200): the venue serves its latest 5,000, the first 4,999 hours before the
    open one; the capability table's depth at 1 h names exactly that span, so a caller can say the venue keeps less
    than it asked (as ``backfill`` does: "hyperliquid keeps 5,000 candles")."""
    _server, settings, _log = pinned
    start = NOW - timedelta(days=300)

    async def go(a: Adapter) -> Any:
        inst = parse.instrument("BTC")
        return (await a.fetch_candles(inst, start, NOW, 3600),
                await a.fetch_price_history(inst, start, NOW, 1))

    candles, closes = hl._run(settings, go)
    open_now = NOW_MS // HOUR_MS * HOUR_MS
    kept_from = ms_to_utc(open_now - (sim_hl.CANDLES_KEPT - 1) * HOUR_MS)
    assert len(candles) == sim_hl.CANDLES_KEPT == 5000 < 300 * 24
    assert candles[0].time == kept_from and utc_to_ms(candles[-1].time) == open_now and not candles[-1].closed
    # the closes: one per candle, timed at its close (the open one: now)
    assert len(closes) == 5000 and closes[0].time == kept_from + timedelta(hours=1) and closes[-1].time == NOW
    depth = depth_of(VENUES["hyperliquid"].capability(DataKind.KLINES).history, 1)
    assert depth == timedelta(hours=5000)
    assert ms_to_utc(open_now) - depth + timedelta(hours=1) == kept_from


def test_a_window_older_than_the_kept_candles_answers_nothing(pinned: tuple[Any, Settings, Any]) -> None:
    """A window wholly before the kept candles: no candle, no error (the coin is listed), as the venue answers."""
    _server, settings, _log = pinned
    end = NOW - timedelta(hours=5001)
    got = hl._run(settings, lambda a: a.fetch_candles(parse.instrument("BTC"), end - timedelta(days=10), end, 3600))
    assert got == ()
