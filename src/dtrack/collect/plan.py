"""What a collector collects: the ``collect:`` settings with the command line's overrides, checked once.

A ``Plan`` is plain data: the assets, the venues (named, or every active venue enabled in settings), each
snapshot kind's interval (and whether options snapshots keep the whole chains), the order-book snapshots' interval,
the stream kinds, the writer's knobs, the backfill window. ``what()`` is the JSON kept in the run's
``collector_runs`` row, so that a later run can tell which streams a dead run had.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from dtrack.errors import UsageError, clip

if TYPE_CHECKING:
    from dtrack.config import Settings

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}

#: a stream kind of the settings -> the record type (class name) it keeps
STREAM_RECORDS = {"funding": "FundingRate", "open_interest": "OpenInterest", "quotes": "PriceQuote",
                  "liquidations": "Liquidation"}
#: the stream kinds of the tickers (one ``stream.tickers`` per venue); liquidations are a stream of their own
TICKER_STREAMS = ("funding", "open_interest", "quotes")
LIQUIDATIONS = "liquidations"


def parse_span(text: str, option: str, *, low: float = 1.0, high: float = 366 * 86400.0) -> float:
    """``90s``, ``10m``, ``2h``, ``1d`` (a bare number: seconds) -> seconds between ``low`` and ``high``; anything
    else is a usage error naming the option."""
    m = _SPAN.match(text or "")
    seconds = float(m.group(1)) * _UNIT_S[(m.group(2) or "s").lower()] if m else math.nan
    if not (math.isfinite(seconds) and low <= seconds <= high):
        raise UsageError(f"bad {option} {clip(text)!r}: expected a duration like 90s, 10m, 2h or 1d "
                         f"(from {low:g} s to {high / 86400:g} d)")
    return seconds


@dataclass(frozen=True, slots=True)
class Plan:
    """What one collector run collects and how it writes (see ``make_plan``)."""

    assets: tuple[str, ...]
    venues: tuple[str, ...]
    snapshots: dict[str, float]  # kind -> seconds between two rounds
    stream_kinds: tuple[str, ...]  # empty: no streams
    conflation: float
    flush_interval: float
    max_buffered_rows: int
    heartbeat: float
    backfill: timedelta | None
    duration: float | None = None  # seconds; None: until stopped
    once: bool = False
    store_url: str | None = None
    option_chains: bool = False  # options snapshots keep the whole chains too (option_quotes)
    liquidation_map_interval: float = 0.0  # seconds between two estimated liquidation maps; 0: none
    book_interval: float = 0.0  # seconds between two order-book snapshots (``book_snapshots``); 0: none

    @property
    def stream_records(self) -> frozenset[str]:
        """The record types (class names) kept from the streams."""
        return frozenset(STREAM_RECORDS[k] for k in self.stream_kinds)

    def stream_venues(self) -> tuple[str, ...]:
        """The venues that stream at least one of the stream kinds (the others are polled only)."""
        from dtrack.records import DataKind
        from dtrack.venues import VENUES

        kinds = [DataKind(k) for k in self.stream_kinds]  # the settings' stream kinds are data kinds' values
        return tuple(v for v in self.venues if any(VENUES[v].capability(k).stream for k in kinds))

    def gap_streams(self) -> list[tuple[str, str]]:
        """(venue, stream) of everything this run watches: ``snapshot.<kind>`` per venue offering the kind (and
        ``snapshot.book`` per venue publishing order books when they are collected), ``stream.tickers`` per venue
        streaming a ticker kind and ``stream.liquidations`` per venue streaming liquidations. A run that dies
        leaves one gap row per entry (and ``dtrack liquidations`` reads from them which venues' liquidations the run
        watched)."""
        from dtrack.client.queries.snapshot import NEEDS
        from dtrack.records import DataKind
        from dtrack.venues import VENUES

        out: list[tuple[str, str]] = []
        streaming = self.stream_venues() if not self.once else ()
        tickers = [DataKind(k) for k in self.stream_kinds if k in TICKER_STREAMS]
        for venue in self.venues:
            info = VENUES[venue]
            out += [(venue, f"snapshot.{k}") for k in self.snapshots if info.offers(NEEDS[k])]
            if self.book_interval > 0 and info.offers(DataKind.ORDER_BOOK):
                out.append((venue, "snapshot.book"))
            if venue in streaming and any(info.capability(k).stream for k in tickers):
                out.append((venue, "stream.tickers"))
            if venue in streaming and LIQUIDATIONS in self.stream_kinds \
                    and info.capability(DataKind.LIQUIDATIONS).stream:
                out.append((venue, "stream.liquidations"))
        return out

    def what(self) -> str:
        """The run's ``what`` column: JSON of the assets, venues, snapshot intervals, streams, heartbeat and
        the (venue, stream) pairs it watches."""
        doc = {"assets": list(self.assets), "venues": list(self.venues), "snapshots": self.snapshots,
               "option_chains": self.option_chains, "book_interval": self.book_interval,
               "streams": [] if self.once else list(self.stream_kinds), "heartbeat": self.heartbeat,
               "flush_interval": self.flush_interval, "once": self.once,
               "gap_streams": [list(p) for p in self.gap_streams()]}
        return json.dumps(doc, separators=(",", ":"))


def _assets(texts: Sequence[str]) -> tuple[str, ...]:
    from dtrack.symbols import parse_asset

    names = [parse_asset(t).asset for part in texts for t in part.split(",") if t.strip()]
    if not names:
        raise UsageError("name at least one asset, e.g. --assets BTC,ETH")
    return tuple(dict.fromkeys(names))


def _venues(names: Sequence[str], settings: Settings) -> tuple[str, ...]:
    """The named venues (checked: known, not closed), else every active venue enabled in settings."""
    from dtrack.venues import ACTIVE, venue_info

    if not names:
        enabled = tuple(v for v in ACTIVE if settings.venue(v).enabled)
        if not enabled:
            raise UsageError(f"every venue is disabled in settings ({settings.source}): enable one, or name one "
                             f"with --venue")
        return enabled
    out: list[str] = []
    for name in names:
        info = venue_info(name)
        if info.status != "active":
            raise UsageError(f"{info.title} is {info.status}"
                             f"{f' (closed on {info.closed_on})' if info.closed_on else ''}: nothing to collect; "
                             f"active venues: {', '.join(ACTIVE)}")
        if info.name not in out:
            out.append(info.name)
    return tuple(out)


def _streamed(kinds: Sequence[str], venues: Sequence[str]) -> tuple[str, ...]:
    """The stream kinds at least one of ``venues`` streams (a kind none of them streams is left out, so that
    the run's ``what`` says what it really watched); all of them when none is streamed at all (the run then
    says so: snapshots only)."""
    from dtrack.records import DataKind
    from dtrack.venues import VENUES

    streamed = tuple(k for k in kinds if any(VENUES[v].capability(DataKind(k)).stream for v in venues))
    return streamed or tuple(kinds)


def make_plan(settings: Settings, *, assets: Sequence[str] = (), venues: Sequence[str] = (),
              duration: str | None = None, once: bool = False, streams: bool | None = None,
              backfill: bool | None = None, store_url: str | None = None) -> Plan:
    """The plan of one run: ``settings.collect`` with these overrides (empty / None: the settings'). Bad input
    is a ``UsageError`` naming the option."""
    c = settings.collect
    seconds = parse_span(duration, "--duration") if duration is not None else None
    if once and seconds is not None:
        raise UsageError("--once runs one round of snapshots and exits: drop --duration")
    snapshots = c.snapshots.intervals()
    with_streams = c.streams.enabled if streams is None else streams
    if not snapshots and not c.snapshots.book and not with_streams:
        raise UsageError("nothing to collect: every snapshot interval is 0 in settings (collect.snapshots) and "
                         "streams are off")
    if once and not snapshots and not c.snapshots.book:
        raise UsageError("--once runs one round of snapshots, and every snapshot interval is 0 in settings "
                         "(collect.snapshots)")
    with_backfill = (c.backfill_days > 0) if backfill is None else (backfill and c.backfill_days > 0)
    chosen = _venues(venues or c.venues, settings)
    return Plan(
        assets=_assets(assets or c.assets), venues=chosen, snapshots=snapshots,
        stream_kinds=_streamed(c.streams.kinds, chosen) if with_streams and not once else (),
        conflation=c.streams.conflation,
        flush_interval=c.flush_interval, max_buffered_rows=c.max_buffered_rows, heartbeat=c.heartbeat,
        backfill=timedelta(days=c.backfill_days) if with_backfill else None, duration=seconds, once=once,
        store_url=store_url, option_chains=c.option_chains,
        liquidation_map_interval=0.0 if once else c.liquidation_map_interval, book_interval=c.snapshots.book)
