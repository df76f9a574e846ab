"""Liquidation totals (pure): de-duplication, sums by side and venue over trailing windows, the long/short
liquidation ratio, event counts, the lower-bound flag, and the span of time each figure's data covers.

Conventions:
- An event is a ``records.Liquidation``: ``side`` is the side of the POSITION liquidated (``long`` / ``short``),
  ``usd`` its size in USD at the price the venue sent. Events are unique by ``(venue, symbol, key)``: the first
  one seen of a key is kept (a backlog push, a reconnect, the store and a live listen never count one twice).
- A window ``w`` ending at ``now`` holds the events with ``time >= now - w`` (one stamped a little after ``now``
  by a venue clock ahead of ours counts in every window, as it does in the event count).
- ratio = long USD / short USD (None when no short was liquidated).
- A total is a lower bound where any venue in it publishes a sample (``coverage`` ``sampled``: Binance, OKX):
  those feeds leave most events out. It is also partial where the data does not cover the whole window:
  ``covered_seconds`` says how much of it was watched (per venue, and for the total: at least one venue
  watched, every venue watched).
- Covered spans are time intervals ``[start, end)``: what was watched (collector runs, the stored events, a live
  listen) minus what was missed (gaps), clipped to the window.

No I/O, no clock: ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from dtrack.records import Coverage, Liquidation

#: the standard windows of the totals (those longer than ``--since`` are left out)
WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("1h", timedelta(hours=1)), ("4h", timedelta(hours=4)), ("12h", timedelta(hours=12)),
    ("24h", timedelta(hours=24)))

#: a span of time, start inclusive, end exclusive
Interval = tuple[datetime, datetime]


def label(span: timedelta) -> str:
    """A window's label: ``1h``, ``36h``, ``7d`` (whole days as days beyond 24 h)."""
    hours = span.total_seconds() / 3600
    if hours > 24 and hours % 24 == 0:
        return f"{hours / 24:g}d"
    return f"{hours:g}h"


def windows_for(since: timedelta) -> list[tuple[str, timedelta]]:
    """The windows shown for ``--since``: the standard ones up to it, and ``since`` itself when it is none of
    them (``2h`` -> 1h, 2h; ``7d`` -> 1h, 4h, 12h, 24h, 7d)."""
    out = [(name, span) for name, span in WINDOWS if span <= since]
    if not any(span == since for _, span in out):
        out.append((label(since), since))
    return out


def dedupe(events: Iterable[Liquidation]) -> list[Liquidation]:
    """The events, each ``(venue, symbol, key)`` once (the first seen wins), in their order."""
    seen: dict[tuple[str, str, str], Liquidation] = {}
    for e in events:
        seen.setdefault((e.instrument.venue, e.instrument.symbol, e.key), e)
    return list(seen.values())


def ratio(long_usd: float, short_usd: float) -> float | None:
    """The long/short liquidation ratio: long USD / short USD (None when no short was liquidated)."""
    return long_usd / short_usd if short_usd > 0 else None


# --- spans of time ---------------------------------------------------------------------------------------------


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """The intervals merged: sorted, non-overlapping, empty ones dropped."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def subtract(intervals: Iterable[Interval], holes: Iterable[Interval]) -> list[Interval]:
    """``intervals`` without ``holes`` (both merged first)."""
    out: list[Interval] = []
    cuts = union(holes)
    for start, end in union(intervals):
        cursor = start
        for h_start, h_end in cuts:
            if h_end <= cursor or h_start >= end:
                continue
            if h_start > cursor:
                out.append((cursor, h_start))
            cursor = max(cursor, h_end)
            if cursor >= end:
                break
        if cursor < end:
            out.append((cursor, end))
    return out


def clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    """The parts of ``intervals`` (merged) between ``start`` and ``end``."""
    return [(max(a, start), min(b, end)) for a, b in union(intervals) if b > start and a < end]


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Where both ``a`` and ``b`` hold."""
    left, right = union(a), union(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start, end = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if start < end:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def seconds(intervals: Iterable[Interval]) -> float:
    """Total length of the intervals (merged first), seconds."""
    return sum((b - a).total_seconds() for a, b in union(intervals))


def covered(watched: Iterable[Interval], missed: Iterable[Interval], start: datetime,
            end: datetime) -> list[Interval]:
    """What was watched and not missed, between ``start`` and ``end``."""
    return clip(subtract(watched, missed), start, end)


# --- totals ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Totals:
    """Liquidations of one window (of one venue, or of all): USD, coins and counts by the side liquidated."""

    long_usd: float = 0.0
    short_usd: float = 0.0
    long_count: int = 0
    short_count: int = 0

    @property
    def total_usd(self) -> float:
        """Longs + shorts, USD."""
        return self.long_usd + self.short_usd

    @property
    def count(self) -> int:
        """Events, both sides."""
        return self.long_count + self.short_count

    @property
    def ratio(self) -> float | None:
        """Long USD / short USD (None without shorts)."""
        return ratio(self.long_usd, self.short_usd)


@dataclass(frozen=True, slots=True)
class VenueStatus:
    """Whether and how a venue's liquidations are covered: ``covered`` (dtrack reads a feed of it, or holds its
    events), ``coverage`` (complete / sampled / trade-flag; None when not known), ``note`` (why it is not
    covered, or what its feed counts)."""

    venue: str
    covered: bool
    coverage: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class VenueSpan:
    """One venue's covered time for one asset within ``--since``: what was watched and not missed, and the gaps
    that fell in it (each clipped to the window)."""

    asset: str
    venue: str
    covered: tuple[Interval, ...]
    gaps: tuple[Interval, ...]

    @property
    def covered_seconds(self) -> float:
        """How long the venue was watched, seconds."""
        return seconds(self.covered)

    @property
    def gap_seconds(self) -> float:
        """How long its feed was missed, seconds."""
        return seconds(self.gaps)


@dataclass(frozen=True, slots=True)
class VenueWindow:
    """One venue's figure for one window: its totals, its coverage, and how much of the window it covers."""

    venue: str
    coverage: str | None
    totals: Totals
    covered_seconds: float


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """One asset's liquidations over one window ``[start, end]``: per venue and overall.

    ``covered_seconds``: time at least one venue was watched; ``every_venue_seconds``: time every covered venue
    was; ``lower_bound``: a venue in it publishes a sample (``sampled_venues``), so the total undercounts."""

    asset: str
    window: str
    span: timedelta
    start: datetime
    end: datetime
    totals: Totals
    venues: tuple[VenueWindow, ...]
    covered_seconds: float
    every_venue_seconds: float
    sampled_venues: tuple[str, ...]

    @property
    def lower_bound(self) -> bool:
        """The total undercounts: part of it comes from a sampled feed."""
        return bool(self.sampled_venues)

    @property
    def partial(self) -> bool:
        """The data does not cover the whole window (1 s of slack)."""
        return self.covered_seconds < self.span.total_seconds() - 1.0


@dataclass(slots=True)
class LiquidationsReport:
    """Everything ``dtrack liquidations`` shows: per asset and window the totals (``totals``), the venues'
    coverage (``venues``: every venue asked, covered or not; ``spans``: covered time per asset and venue), and
    with ``--recent`` the latest events of at least ``min_usd`` (``recent``, newest first; ``recent_matched``:
    how many matched before ``limit``)."""

    time: datetime
    since: timedelta
    start: datetime
    assets: list[str]
    windows: list[str]
    venues: list[VenueStatus]
    spans: list[VenueSpan]
    totals: list[WindowTotals]
    events: int
    recent: list[Liquidation] | None = None
    recent_matched: int = 0
    min_usd: float | None = None
    limit: int | None = None
    notes: list[str] = field(default_factory=list)


def venue_coverage(events: Sequence[Liquidation], default: str | None) -> str | None:
    """A venue's coverage label: ``sampled`` when any of its events is sampled, else the one its events carry,
    else ``default`` (what the venue's feed is known to be)."""
    labels = {str(e.coverage.value) for e in events}
    if Coverage.SAMPLED.value in labels:
        return Coverage.SAMPLED.value
    if len(labels) == 1:
        return labels.pop()
    if labels:  # a venue with several feeds (trade flags and a complete feed): complete as a whole
        return sorted(labels)[0]
    return default


def window_totals(asset: str, events: Sequence[Liquidation], now: datetime,
                  windows: Sequence[tuple[str, timedelta]], venues: Sequence[VenueStatus],
                  spans: Mapping[str, Sequence[Interval]]) -> list[WindowTotals]:
    """The totals of ``asset``'s ``events`` (already de-duplicated) over each window ending at ``now``, per
    covered venue (in ``venues``' order) and overall; ``spans`` maps a venue to its covered intervals."""
    covered = [v for v in venues if v.covered]
    index = {v.venue: i for i, v in enumerate(covered)}
    mine = [e for e in events if e.instrument.asset == asset and e.instrument.venue in index]
    n = len(covered)
    t_ms = np.fromiter((e.time.timestamp() * 1000.0 for e in mine), dtype=float, count=len(mine))
    usd = np.fromiter((e.usd for e in mine), dtype=float, count=len(mine))
    is_long = np.fromiter((e.side == "long" for e in mine), dtype=bool, count=len(mine))
    where = np.fromiter((index[e.instrument.venue] for e in mine), dtype=np.int64, count=len(mine))
    labels = {v.venue: venue_coverage([e for e in mine if e.instrument.venue == v.venue], v.coverage)
              for v in covered}
    out: list[WindowTotals] = []
    for name, span in windows:
        start = now - span
        inside = t_ms >= start.timestamp() * 1000.0
        longs, shorts = inside & is_long, inside & ~is_long
        long_usd = np.bincount(where[longs], weights=usd[longs], minlength=n)
        short_usd = np.bincount(where[shorts], weights=usd[shorts], minlength=n)
        long_n = np.bincount(where[longs], minlength=n)
        short_n = np.bincount(where[shorts], minlength=n)
        rows: list[VenueWindow] = []
        watched: list[list[Interval]] = []
        for i, v in enumerate(covered):
            part = clip(spans.get(v.venue, ()), start, now)
            totals = Totals(float(long_usd[i]), float(short_usd[i]), int(long_n[i]), int(short_n[i]))
            if part or totals.count:
                watched.append(part)
            rows.append(VenueWindow(v.venue, labels[v.venue], totals, seconds(part)))
        every: list[Interval] = [(start, now)]
        for part in watched:
            every = intersect(every, part)
        sampled = tuple(r.venue for r in rows if r.coverage == Coverage.SAMPLED.value
                        and (r.covered_seconds > 0 or r.totals.count))
        out.append(WindowTotals(
            asset=asset, window=name, span=span, start=start, end=now,
            totals=Totals(float(long_usd.sum()), float(short_usd.sum()), int(long_n.sum()), int(short_n.sum())),
            venues=tuple(rows), covered_seconds=seconds(p for part in watched for p in part),
            every_venue_seconds=seconds(every) if watched else 0.0, sampled_venues=sampled))
    return out


def recent(events: Sequence[Liquidation], start: datetime, min_usd: float,
           limit: int | None) -> tuple[list[Liquidation], int]:
    """The events since ``start`` of at least ``min_usd``, newest first (ties: venue, symbol, key), at most
    ``limit``; and how many matched in all."""
    picked = [e for e in events if e.time >= start and e.usd >= min_usd]
    picked.sort(key=lambda e: (e.instrument.venue, e.instrument.symbol, e.key))
    picked.sort(key=lambda e: e.time, reverse=True)
    return (picked[:limit] if limit is not None else picked), len(picked)


def build_report(now: datetime, since: timedelta, assets: Sequence[str], events: Iterable[Liquidation],
                 venues: Sequence[VenueStatus], spans: Sequence[VenueSpan], *, show_recent: bool = False,
                 min_usd: float = 0.0, limit: int | None = None) -> LiquidationsReport:
    """The report of ``events`` (de-duplicated here) of ``assets`` over ``--since`` ending at ``now``: the
    windows' totals per venue and overall, and with ``show_recent`` the latest events of at least ``min_usd``."""
    unique = [e for e in dedupe(events) if e.time >= now - since]
    windows = windows_for(since)
    by_asset: dict[str, dict[str, list[Interval]]] = {}
    for s in spans:
        by_asset.setdefault(s.asset, {})[s.venue] = list(s.covered)
    totals = [t for a in assets for t in window_totals(a, unique, now, windows, venues, by_asset.get(a, {}))]
    report = LiquidationsReport(time=now, since=since, start=now - since, assets=list(assets),
                                windows=[w for w, _ in windows], venues=list(venues), spans=list(spans),
                                totals=totals, events=len(unique))
    if show_recent:
        report.recent, report.recent_matched = recent(unique, now - since, min_usd, limit)
        report.min_usd, report.limit = min_usd, limit
    return report
