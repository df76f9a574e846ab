"""Order-book depth metrics (pure, numpy): what one L2 book says about liquidity, and the sum across venues.

Per book (``records.OrderBook``, prices per ONE unit of the asset, sizes in coins):

- ``mid`` = (best bid + best ask) / 2, ``spread`` = (ask − bid) / mid (a fraction; the table shows basis points);
- per band ``b`` (a fraction of the mid: 0.01 = 1 %): the resting size of the levels priced within ``b`` of the mid,
  bids at or above ``mid × (1 − b)`` and asks at or below ``mid × (1 + b)`` (the edges included), in coins and in
  USD (each level's size × its own price), and the imbalance ``(bids − asks) / (bids + asks)`` on the coins (None
  when both are 0);
- ``truncated`` per side and band: the side holds ``limit`` levels (the answer's cap: it may go on past its last
  level) and its last level is still inside the band, so levels the venue did not send may lie inside it too. The
  figure is then a LOWER BOUND, never a silently smaller number. A side with fewer levels than ``limit`` is the
  whole side: its figures are exact;
- ``reach``: how far the levels received go from the mid, per side (a fraction).

The aggregate of an asset sums each band over its contracts (each against its own mid), truncated when any part
is. ``book_snapshot`` turns a book's metrics into the stored ``records.BookSnapshot``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from dtrack.records import BookSide, BookSnapshot, Instrument, OrderBook

#: the default bands, fractions of the mid (seed 003: 0.1 %, 0.5 %, 1 %, 5 %)
DEFAULT_BANDS = (0.001, 0.005, 0.01, 0.05)
#: a level within this relative distance of a band's edge is on the edge (counted in, never truncating): a price
#: on the tick at exactly 1 % from the mid is not lost to floating-point rounding of ``mid x 0.99``
EDGE = 1e-12
#: the band the stored snapshot's headline figures are taken at (``BookSnapshot.*_1pct``)
SNAPSHOT_BAND = 0.01


@dataclass(frozen=True, slots=True)
class BandDepth:
    """The depth within ``band`` (a fraction of the mid) on each side: coins, USD, imbalance on the coins, and
    whether a side's figure is a lower bound (``*_truncated``)."""

    band: float
    bid_base: float
    ask_base: float
    bid_usd: float
    ask_usd: float
    imbalance: float | None
    bid_truncated: bool
    ask_truncated: bool

    @property
    def truncated(self) -> bool:
        """Either side is a lower bound."""
        return self.bid_truncated or self.ask_truncated


@dataclass(frozen=True, slots=True)
class BookMetrics:
    """The metrics of one contract's book (see the module doc). ``limit``: the most levels a side the answer could
    hold; ``bid_reach`` / ``ask_reach``: how far the received levels go from the mid (fractions)."""

    instrument: Instrument
    time: datetime | None
    received_at: datetime
    mid: float
    best_bid: float
    best_ask: float
    spread: float
    levels_bid: int
    levels_ask: int
    limit: int
    bid_reach: float
    ask_reach: float
    bands: tuple[BandDepth, ...]
    note: str = ""

    @property
    def truncated(self) -> bool:
        """Any band's figure on either side is a lower bound."""
        return any(b.truncated for b in self.bands)

    def band(self, band: float) -> BandDepth | None:
        """The figures of ``band`` (None when it was not computed)."""
        return next((b for b in self.bands if abs(b.band - band) < 1e-12), None)


@dataclass(frozen=True, slots=True)
class AssetDepth:
    """One asset's depth summed over its contracts: ``bands`` (each contract's depth within the band of its own
    mid, summed; truncated when any contract's is), the contracts and venues counted."""

    asset: str
    bands: tuple[BandDepth, ...]
    contracts: int
    venues: tuple[str, ...]

    @property
    def truncated(self) -> bool:
        """Any band's sum is a lower bound."""
        return any(b.truncated for b in self.bands)


@dataclass(frozen=True, slots=True)
class BookReport:
    """The ``book`` query's answer: one ``BookMetrics`` per contract (by asset, then venue), the aggregate per
    asset, and ``skipped``: books that had nothing to measure (an empty side), with why."""

    time: datetime
    assets: tuple[str, ...]
    bands: tuple[float, ...]
    kind: str
    depth: int
    rows: tuple[BookMetrics, ...]
    aggregates: tuple[AssetDepth, ...]
    skipped: tuple[tuple[Instrument, str], ...] = field(default=())


def _side(levels: BookSide, bids: bool) -> tuple[np.ndarray, np.ndarray]:
    """Prices and sizes of one side as arrays, best first (bids descending, asks ascending; a side that is not
    is ordered); an empty side: two empty arrays."""
    if not levels:
        return np.empty(0), np.empty(0)
    arr = np.asarray(levels, dtype=float)
    steps = np.diff(arr[:, 0])
    if len(steps) and not (np.all(steps < 0) if bids else np.all(steps > 0)):  # not best first: ordered here
        arr = arr[np.argsort(-arr[:, 0] if bids else arr[:, 0], kind="stable")]
    return arr[:, 0], arr[:, 1]


def _within(prices: np.ndarray, sizes: np.ndarray, edges: np.ndarray, bids: bool) -> tuple[np.ndarray, np.ndarray]:
    """Coins and USD of the levels inside each edge (bids: price >= edge, best first, so descending: counted on
    the ascending negatives; asks: price <= edge, ascending)."""
    count = np.searchsorted(-prices, -edges, side="right") if bids else np.searchsorted(prices, edges, side="right")
    coins = np.concatenate(([0.0], np.cumsum(sizes)))
    usd = np.concatenate(([0.0], np.cumsum(sizes * prices)))
    return coins[count], usd[count]


def book_metrics(book: OrderBook, bands: Sequence[float]) -> BookMetrics | str:
    """The metrics of ``book`` within each of ``bands`` (fractions of the mid), or why there are none (a side is
    empty: no mid)."""
    bid_px, bid_sz = _side(book.bids, bids=True)
    ask_px, ask_sz = _side(book.asks, bids=False)
    if not len(bid_px) or not len(ask_px):
        side = "bid" if not len(bid_px) else "ask"
        return f"the {side} side is empty: no mid to measure depth from"
    best_bid, best_ask = float(bid_px[0]), float(ask_px[0])
    mid = (best_bid + best_ask) / 2.0
    widths = np.asarray(bands, dtype=float)
    low, high = mid * (1.0 - widths), mid * (1.0 + widths)
    bid_coins, bid_usd = _within(bid_px, bid_sz, low * (1.0 - EDGE), bids=True)
    ask_coins, ask_usd = _within(ask_px, ask_sz, high * (1.0 + EDGE), bids=False)
    # a side that filled its limit may go on: a band reaching past its last level is a lower bound (a last level
    # on the band's edge is not: what lies beyond it lies beyond the band)
    bid_cut = (len(bid_px) >= book.limit) & (bid_px[-1] > low * (1.0 + EDGE))
    ask_cut = (len(ask_px) >= book.limit) & (ask_px[-1] < high * (1.0 - EDGE))
    total = bid_coins + ask_coins
    rows = tuple(
        BandDepth(band=float(widths[k]), bid_base=float(bid_coins[k]), ask_base=float(ask_coins[k]),
                  bid_usd=float(bid_usd[k]), ask_usd=float(ask_usd[k]),
                  imbalance=float((bid_coins[k] - ask_coins[k]) / total[k]) if total[k] > 0 else None,
                  bid_truncated=bool(bid_cut[k]), ask_truncated=bool(ask_cut[k]))
        for k in range(len(widths)))
    note = book.note
    if best_bid >= best_ask:
        note = "; ".join(x for x in (note, "crossed book (best bid >= best ask)") if x)
    return BookMetrics(instrument=book.instrument, time=book.time, received_at=book.received_at, mid=mid,
                       best_bid=best_bid, best_ask=best_ask, spread=(best_ask - best_bid) / mid,
                       levels_bid=len(bid_px), levels_ask=len(ask_px), limit=book.limit,
                       bid_reach=1.0 - float(bid_px[-1]) / mid, ask_reach=float(ask_px[-1]) / mid - 1.0,
                       bands=rows, note=note)


def aggregate(asset: str, rows: Sequence[BookMetrics], bands: Sequence[float]) -> AssetDepth:
    """``asset``'s depth per band summed over ``rows`` (its contracts' metrics, computed with ``bands``)."""
    mine = [r for r in rows if r.instrument.asset == asset]
    out = []
    for k, band in enumerate(bands):
        parts = [r.bands[k] for r in mine]
        bid, ask = sum(p.bid_base for p in parts), sum(p.ask_base for p in parts)
        out.append(BandDepth(band=band, bid_base=bid, ask_base=ask, bid_usd=sum(p.bid_usd for p in parts),
                             ask_usd=sum(p.ask_usd for p in parts),
                             imbalance=(bid - ask) / (bid + ask) if bid + ask > 0 else None,
                             bid_truncated=any(p.bid_truncated for p in parts),
                             ask_truncated=any(p.ask_truncated for p in parts)))
    return AssetDepth(asset=asset, bands=tuple(out), contracts=len(mine),
                      venues=tuple(dict.fromkeys(r.instrument.venue for r in mine)))


def build_book_report(now: datetime, assets: Sequence[str], books: Sequence[OrderBook], bands: Sequence[float],
                      kind: str, depth: int) -> BookReport:
    """Every book's metrics (ordered by asset as asked, then venue and symbol) and each asset's aggregate."""
    order = {a: i for i, a in enumerate(assets)}
    rows: list[BookMetrics] = []
    skipped: list[tuple[Instrument, str]] = []
    for book in sorted(books, key=lambda b: (order.get(b.instrument.asset, len(order)), b.instrument.asset,
                                             b.instrument.venue, b.instrument.expiry or now, b.instrument.symbol)):
        got = book_metrics(book, bands)
        if isinstance(got, str):
            skipped.append((book.instrument, got))
        else:
            rows.append(got)
    present = list(dict.fromkeys([*(a for a in assets), *(r.instrument.asset for r in rows)]))
    aggregates = tuple(aggregate(a, rows, bands) for a in present if any(r.instrument.asset == a for r in rows))
    return BookReport(time=now, assets=tuple(assets), bands=tuple(bands), kind=kind, depth=depth, rows=tuple(rows),
                      aggregates=aggregates, skipped=tuple(skipped))


def bands_json(bands: Sequence[BandDepth]) -> str:
    """The ``BookSnapshot.bands`` JSON text: every band with ``band_pct`` in percent (the record's documented
    form)."""
    return json.dumps([{"band_pct": round(b.band * 100.0, 10), "bid_base": b.bid_base, "ask_base": b.ask_base,
                        "bid_usd": b.bid_usd, "ask_usd": b.ask_usd, "imbalance": b.imbalance,
                        "bid_truncated": b.bid_truncated, "ask_truncated": b.ask_truncated} for b in bands],
                      separators=(",", ":"), allow_nan=False)


def snapshot_of(m: BookMetrics) -> BookSnapshot | None:
    """The stored form of one book's metrics (``records.BookSnapshot``): the 1 % figures as its headline columns,
    every band computed in its ``bands`` JSON; None when the 1 % band was not computed."""
    one = m.band(SNAPSHOT_BAND)
    if one is None:
        return None
    return BookSnapshot(instrument=m.instrument, time=m.time, received_at=m.received_at, mid=m.mid,
                        best_bid=m.best_bid, best_ask=m.best_ask, spread_bps=m.spread * 10_000.0,
                        bid_base_1pct=one.bid_base, ask_base_1pct=one.ask_base, bid_usd_1pct=one.bid_usd,
                        ask_usd_1pct=one.ask_usd, imbalance_1pct=one.imbalance, truncated_1pct=one.truncated,
                        levels_bid=m.levels_bid, levels_ask=m.levels_ask, bands=bands_json(m.bands))


def book_snapshot(book: OrderBook, bands: Sequence[float] = DEFAULT_BANDS) -> BookSnapshot | str:
    """The stored form of ``book``'s metrics within ``bands`` (1 % added when missing: the headline columns), or
    why there is none (an empty side)."""
    got = book_metrics(book, sorted({*bands, SNAPSHOT_BAND}))
    if isinstance(got, str):
        return got
    snap = snapshot_of(got)
    assert snap is not None
    return snap
