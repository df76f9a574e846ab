"""Kline highs and lows through every venue's price history (``fetch_price_history``), against the simulated venues.

The sim's bars (``MarketModel.candle``) are the contract's mark sampled at seven points of the bar: the high and low
are the largest and smallest samples, so they bracket the open and the close by construction, and every venue's
route writes all four prices with the same full-precision formatter. Each adapter's PricePoints must carry the
model's high and low of each bar per unit of the asset (÷ the multiplier: 1000PEPE, kPEPE), the bar still open at
the pinned clock its high and low so far. Floats are written at full precision: compared at rel 1e-12.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import SimThread
from dtrack.records import Kind, PricePoint
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.venues.fields import utc_to_ms
from dtrack.venues.pool import open_pool
from storefix import NOW, sim_settings

#: the market clock: 25 minutes into an hour, so the last bar is still open
AT = NOW + timedelta(minutes=25)
AT_MS = utc_to_ms(AT)
REL = 1e-12


def test_sim_bars_bracket_their_open_and_close() -> None:
    model = MarketModel(seed=7, now_ms=AT_MS)
    bars = 0
    for perp in MarketModel.perps("binance") + MarketModel.perps("okx") + MarketModel.perps("dydx"):
        for k in range(-48, 1):  # two days of hourly bars and the one still open
            o, h, lo, c = model.candle(perp, AT_MS // HOUR_MS * HOUR_MS + k * HOUR_MS, HOUR_MS)
            assert 0 < lo <= min(o, c) <= max(o, c) <= h, (perp.symbol, k)
            bars += 1
    assert bars > 49 * 10


@pytest.mark.parametrize(("venue", "symbols"), [
    ("binance", ("BTCUSDT", "1000PEPEUSDT", "BTCUSD_PERP")), ("bybit", ("BTCUSDT", "1000PEPEUSDT", "BTCUSD")),
    ("okx", ("BTC-USDT-SWAP", "BTC-USD-SWAP")), ("deribit", ("BTC-PERPETUAL",)),
    ("hyperliquid", ("BTC", "kPEPE")), ("dydx", ("BTC-USD", "PEPE-USD")),
])
def test_price_history_carries_the_models_highs_and_lows(sim_factory: Callable[..., SimThread], tmp_path: Path,
                                                         venue: str, symbols: tuple[str, ...]) -> None:
    sim = sim_factory(model=MarketModel(seed=7, now_ms=AT_MS))
    start = AT - timedelta(days=1)

    async def go() -> dict[str, tuple[float, tuple[PricePoint, ...]]]:
        async with open_pool(sim_settings(sim.venue_urls(), tmp_path), now=lambda: AT, trust_env=False) as pool:
            adapter = pool.adapter(venue)
            listed = {i.symbol: i for i in await adapter.contracts(["BTC", "PEPE"]) if i.kind is Kind.PERP}
            got = await asyncio.gather(*(adapter.fetch_price_history(listed[s], start, AT, 1) for s in symbols))
            return {s: (listed[s].multiplier, points) for s, points in zip(symbols, got, strict=True)}

    for symbol, (multiplier, points) in asyncio.run(go()).items():
        perp = MarketModel.perp(venue, symbol)
        assert perp is not None
        assert len(points) == 25 and points[-1].time == AT  # 24 closed hours, then the open one at the clock
        for p in points:
            opened = (utc_to_ms(p.time) - 1) // HOUR_MS * HOUR_MS  # the bar that closed at p.time (or is open)
            _o, high, low, close = (x / multiplier for x in sim.model.candle(perp, opened, HOUR_MS))
            assert p.high is not None and p.low is not None
            assert (p.price, p.high, p.low) == pytest.approx((close, high, low), rel=REL), (symbol, p.time)
            assert p.low <= p.price <= p.high
        # the sim's bars are not flat: the highs and lows are more than the closes' path
        assert any((p.high or 0.0) > max(p.price, q.price) * (1 + 1e-9) for q, p in itertools.pairwise(points))
