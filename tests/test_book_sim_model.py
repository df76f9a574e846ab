"""The simulated market's order books (``MarketModel.book``): the touch around the mark as before, levels spaced
further apart the further they lie (20 levels reach about 0.1-0.5 %, 500 to 1,000 several percent), sizes growing
with distance and with the contract's open interest, varying by venue, asset and second, deterministic."""

from __future__ import annotations

import itertools
import math

import pytest

from dtrack.sim.model import PERPS, MarketModel, SimPerp

NOW_MS = 1_796_380_800_000  # 2026-12-04T08:00:00Z
BOOK_VENUES = ("binance", "bybit", "okx", "deribit", "hyperliquid", "dydx")
CONTRACTS = [p for p in PERPS if p.venue in BOOK_VENUES]


def tick_of(mark: float) -> float:
    """A tick of five significant figures (what most of the sim's venues use)."""
    return 10.0 ** (math.floor(math.log10(mark)) - 4)


def reach(levels: list[tuple[float, float]], mid: float, n: int) -> float:
    return abs(levels[n - 1][0] / mid - 1)


@pytest.mark.parametrize("perp", CONTRACTS, ids=[f"{p.venue}:{p.symbol}" for p in CONTRACTS])
def test_book_shape(perp: SimPerp) -> None:
    model = MarketModel(7, now_ms=NOW_MS)
    mark = model.mark_price(perp, NOW_MS)
    tick = tick_of(mark)
    bids, asks = model.book(perp, NOW_MS, 1000, tick)
    # the touch: the last tick below the mark and the next one
    below = math.ceil(round(mark / tick, 9)) - 1
    assert bids[0][0] == pytest.approx(below * tick, rel=1e-12)
    assert asks[0][0] == pytest.approx((below + 1) * tick, rel=1e-12)
    assert bids[0][0] < mark <= asks[0][0]
    mid = (bids[0][0] + asks[0][0]) / 2
    # strictly away from the touch, each level on the tick
    assert all(a[0] > b[0] for a, b in itertools.pairwise(bids))
    assert all(b[0] > a[0] for a, b in itertools.pairwise(asks))
    assert all(abs(p / tick - round(p / tick)) < 1e-6 for p, _ in asks[:50])
    # the gaps grow with the distance (in ticks: averaged over ten levels, the far ones are wider)
    gap = [(asks[i + 10][0] - asks[i][0]) / tick for i in (1, 100, 900)]
    assert gap[0] < gap[1] < gap[2]
    # 20 levels reach about 0.05-0.6 %; 500 levels at least 2 %, 1000 levels more
    assert 0.0005 < reach(asks, mid, 20) < 0.006
    assert 0.02 < reach(asks, mid, 500) < reach(asks, mid, 1000) < 0.5
    assert reach(bids, mid, 500) > 0.02
    # sizes grow with the distance (averaged over 50 levels: the noise is ±50 % a level)
    near = sum(s for _, s in asks[:50]) / 50
    far = sum(s for _, s in asks[-50:]) / 50
    assert far > 2 * near > 0
    assert all(s > 0 for _, s in bids + asks)


def test_depth_follows_the_contracts_open_interest() -> None:
    """A contract with ten times the open interest has about ten times the resting size (within the ±30 % per
    contract): Binance BTCUSDT (22 % of BTC's OI) against BTCUSDC (3 %)."""
    model = MarketModel(7, now_ms=NOW_MS)
    big, small = model.perp("binance", "BTCUSDT"), model.perp("binance", "BTCUSDC")
    assert big is not None and small is not None
    tick = tick_of(model.mark_price(big, NOW_MS))
    sizes = [sum(s for _, s in model.book(p, NOW_MS, 200, tick)[0]) for p in (big, small)]
    ratio = (sizes[0] / sizes[1]) / (model.open_interest_base(big, NOW_MS) / model.open_interest_base(small, NOW_MS))
    assert 0.5 < ratio < 2.0


def test_books_vary_by_venue_asset_and_second_and_repeat_for_the_same_key() -> None:
    model = MarketModel(7, now_ms=NOW_MS)
    btc = [p for p in CONTRACTS if p.asset == "BTC"]
    reaches = set()
    for p in btc:
        mark = model.mark_price(p, NOW_MS)
        bids, asks = model.book(p, NOW_MS, 20, tick_of(mark))
        reaches.add(round(reach(asks, (bids[0][0] + asks[0][0]) / 2, 20), 12))
    assert len(reaches) == len(btc)  # each venue's book its own
    sol, pepe = model.perp("bybit", "SOLUSDT"), model.perp("bybit", "1000PEPEUSDT")
    assert sol is not None and pepe is not None

    def reach20(p: SimPerp, t: int, m: MarketModel = model) -> float:
        mark = m.mark_price(p, t)
        bids, asks = m.book(p, t, 20, tick_of(mark))
        return reach(asks, (bids[0][0] + asks[0][0]) / 2, 20)

    assert reach20(pepe, NOW_MS) > reach20(sol, NOW_MS)  # the more volatile asset's book is thinner near the mid
    assert reach20(sol, NOW_MS) != reach20(sol, NOW_MS + 1000)  # the next second moves it
    again = MarketModel(7, now_ms=NOW_MS)
    assert model.book(sol, NOW_MS, 300, 0.001) == again.book(sol, NOW_MS, 300, 0.001)
    assert MarketModel(8, now_ms=NOW_MS).book(sol, NOW_MS, 300, 0.001) != model.book(sol, NOW_MS, 300, 0.001)
