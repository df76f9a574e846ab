"""Backfill: fill the history store from the venues' own history, fetching only what is missing.

``backfill(client, store, kinds, assets, since=...)`` is the library function (the collector calls it on start;
``AsyncClient.backfill`` and ``dtrack backfill`` wrap it). Kinds:

- ``funding``: settled funding of every perpetual -> ``funding_points``;
- ``oi``: open-interest history of every perpetual, hourly -> ``oi_points`` (dated futures are left out: their
  series end at expiry and the venues keep them unevenly; their snapshots are the collector's);
- ``klines``: hourly closes of every perpetual and live dated future -> ``price_points`` (closed klines only,
  timed at their close: a kline still open would be stored at a time that never comes again).

For each venue offering the kind (the registry's capability table) and each contract of the assets, it fetches
from ``since`` or from the last stored point, whichever is later (and the part before the first stored point,
when ``since`` reaches further back than an earlier run did), through the adapters' own history fetchers (they
page), never further back than the venue keeps (its declared ``history`` depth). The report says per venue and
kind what was asked, from when the store now holds it, how many points came and how many were new, and the
venue's depth and notes. Points are written in batches as each series arrives, with the contracts' rows in the
``instruments`` table. A venue that fails never stops the others: it is a failure row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dtrack.client.fetch import gather_instruments
from dtrack.client.inputs import as_list, check_readable, resolve
from dtrack.client.stored import depth_of
from dtrack.errors import UsageError, clip
from dtrack.records import DataKind, Instrument, Kind, Record
from dtrack.results import BackfillResult, Failure, unique

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.client.inputs import Wanted
    from dtrack.store import Store
    from dtrack.venues.base import Adapter

#: a progress callback: one human line per step
Progress = Callable[[str], None]

#: backfill kind -> (the data kind a venue must offer, the store table, a label)
KINDS: dict[str, tuple[DataKind, str, str]] = {
    "funding": (DataKind.FUNDING_HISTORY, "funding_points", "settled funding"),
    "oi": (DataKind.OI_HISTORY, "oi_points", "open-interest history"),
    "klines": (DataKind.KLINES, "price_points", "kline closes"),
}
#: the period of the open-interest and kline series kept (hours)
PERIOD_HOURS = 1
#: rows per store write
BATCH = 5_000
#: series fetched at once per venue (each adapter pages and rate-limits itself)
CONCURRENCY = 4
#: a hole before the first stored point smaller than this is not asked again (settlements are up to 8 h apart)
HEAD_GAP = {"funding": timedelta(hours=8), "oi": timedelta(hours=PERIOD_HOURS), "klines": timedelta(hours=PERIOD_HOURS)}
MS = timedelta(milliseconds=1)
LONGEST = timedelta(days=3650)


@dataclass(slots=True)
class SeriesFill:
    """One contract's series: the windows asked, what came, what was new, the venue's note."""

    symbol: str
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)
    points: int = 0
    written: int = 0
    first: datetime | None = None
    last: datetime | None = None
    note: str = ""
    failed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        from dtrack.report.history import iso_ms

        return {"symbol": self.symbol, "fetched_from": iso_ms(self.windows[0][0]) if self.windows else None,
                "points": self.points, "written": self.written, "first": iso_ms(self.first),
                "last": iso_ms(self.last), "note": self.note, "failed": self.failed}


@dataclass(slots=True)
class BackfillRow:
    """One venue and kind: ``status`` is ``ok``, ``partial`` (some series failed), ``failed``,
    ``unsupported`` (the venue does not publish it) or ``none`` (the venue lists no contract of the assets).
    ``got_from`` / ``got_to``: what the store holds from ``asked_from`` on, after the run."""

    venue: str
    kind: str
    asked_from: datetime
    depth: str | None
    status: str = "ok"
    series: list[SeriesFill] = field(default_factory=list)
    got_from: datetime | None = None
    got_to: datetime | None = None
    note: str = ""

    @property
    def table(self) -> str:
        """The store table the kind goes to."""
        return KINDS[self.kind][1]

    @property
    def points(self) -> int:
        """Points the venue returned."""
        return sum(s.points for s in self.series)

    @property
    def written(self) -> int:
        """Rows that were new to the store."""
        return sum(s.written for s in self.series)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (a row of ``dtrack backfill --format json``)."""
        from dtrack.report.history import iso_ms

        starts = [s.windows[0][0] for s in self.series if s.windows]
        return {"venue": self.venue, "kind": self.kind, "table": self.table, "status": self.status,
                "depth": self.depth, "contracts": len(self.series), "asked_from": iso_ms(self.asked_from),
                "fetched_from": iso_ms(min(starts)) if starts else None, "got_from": iso_ms(self.got_from),
                "got_to": iso_ms(self.got_to), "points": self.points, "written": self.written, "note": self.note,
                "symbols": [s.to_dict() for s in self.series]}


@dataclass(slots=True)
class BackfillReport:
    """What one backfill did: a row per venue and kind, and the failures (venue, kind, endpoint, message)."""

    as_of: datetime
    since: datetime
    kinds: list[str]
    assets: list[str]
    store: str
    rows: list[BackfillRow] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def written(self) -> dict[str, int]:
        """New rows per table."""
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.table] = out.get(row.table, 0) + row.written
        return out

    def result(self) -> BackfillResult:
        """The typed result (``to_dict()`` is ``dtrack backfill --format json``)."""
        tried = [r for r in self.rows if r.status not in ("unsupported", "none")]
        return BackfillResult(as_of=self.as_of, failures=unique(self.failures),
                              all_failed=bool(tried) and all(r.status == "failed" for r in tried),
                              since=self.since, kinds=self.kinds, assets=self.assets, store=self.store,
                              rows=[r.to_dict() for r in self.rows])


def backfill_kinds(kinds: str | Sequence[str]) -> list[str]:
    """The asked kinds, checked (a usage error naming the known ones)."""
    names = list(dict.fromkeys(as_list(kinds)))
    if not names:
        raise UsageError(f"name what to backfill: {', '.join(KINDS)}")
    for name in names:
        if name not in KINDS:
            raise UsageError(f"cannot backfill {clip(name)!r}: expected {', '.join(KINDS)}")
    return names


def _venues(client: AsyncClient, kind: DataKind, venues: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(venues to ask, chosen venues that do not offer the kind)."""
    from dtrack.venues import ACTIVE, VENUES, venue_info

    chosen = list(venues) if venues is not None else client.chosen_venues
    if not chosen:
        return [v for v in ACTIVE if client.settings.venue(v).enabled and VENUES[v].offers(kind)], []
    asked: list[str] = []
    unable: list[str] = []
    for name in chosen:
        info = venue_info(name)
        if info.status == "closed":
            raise UsageError(f"{info.title} closed on {info.closed_on}: no history to backfill; "
                             f"active venues: {', '.join(ACTIVE)}")
        if info.adapter is None:
            raise UsageError(f"{info.title} is {info.status} in dtrack: {info.note}")
        target = asked if info.offers(kind) else unable
        if info.name not in target:
            target.append(info.name)
    return asked, unable


def _contracts(kind: str, listed: Sequence[Instrument], wanted: Sequence[Wanted], now: datetime) -> list[Instrument]:
    """The contracts a kind is backfilled for: the asked perpetuals (and live dated futures, for klines)."""
    kinds = (Kind.PERP, Kind.FUTURE) if kind == "klines" else (Kind.PERP,)
    return [i for i in listed if i.kind in kinds and (i.expiry is None or i.expiry > now)
            and any(w.matches(i) for w in wanted)]


def _windows(stored: tuple[datetime, datetime, int] | None, start: datetime, end: datetime,
             head_gap: timedelta) -> list[tuple[datetime, datetime]]:
    """What is missing of ``[start, end]``: all of it; or after the last stored point, and before the first
    one when ``start`` is earlier than what is stored."""
    if stored is None:
        return [(start, end)] if start < end else []
    first, last, _ = stored
    out = []
    if first - start > head_gap:
        out.append((start, first - MS))
    tail = max(start, last + MS)
    if tail < end:
        out.append((tail, end))
    return out


async def _fetch(adapter: Adapter, kind: str, inst: Instrument, start: datetime, end: datetime,
                 now: datetime) -> tuple[tuple[Record, ...], str]:
    """One window of one series from the venue, and the venue's note on it."""
    if kind == "funding":
        funding = await adapter.fetch_funding_history(inst, start, end)
        return funding.points, funding.note
    if kind == "oi":
        oi = await adapter.fetch_oi_history(inst, start, end, PERIOD_HOURS)
        return tuple(p for p in oi.points if p.time <= now), oi.note
    closes = await adapter.fetch_price_history(inst, start, end, PERIOD_HOURS)
    step = PERIOD_HOURS * 3_600_000
    # closed klines only: a close on the period grid, not after now (the open kline is timed "now")
    return tuple(p for p in closes if p.time <= now and _ms(p.time) % step == 0), ""


def _ms(t: datetime) -> int:
    from dtrack.store import to_ms

    return to_ms(t)


def _write(store: Store, points: Sequence[Record]) -> int:
    written = 0
    for i in range(0, len(points), BATCH):
        written += sum(store.write(points[i:i + BATCH]).values())
    return written


class _Run:
    """One backfill's state shared by its venue jobs."""

    def __init__(self, store: Store, now: datetime, since: datetime, progress: Progress | None) -> None:
        self.store = store
        self.now = now
        self.since = since
        self.progress = progress
        self.done = 0
        self.total = 0
        self.failures: list[Failure] = []

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    async def venue(self, adapter: Adapter, rows: Sequence[BackfillRow], contracts: dict[str, list[Instrument]],
                    ) -> None:
        """Every series of one venue, a few at a time."""
        limit = asyncio.Semaphore(CONCURRENCY)
        jobs = []
        for row in rows:
            table = row.table
            stored = self.store.series_range(table, venue=adapter.name, symbol=[i.symbol for i in contracts[row.kind]])
            depth = depth_of(row.depth)
            start = max(self.since, self.now - depth) if depth is not None else self.since
            for inst in contracts[row.kind]:
                fill = SeriesFill(inst.symbol, _windows(stored.get((adapter.name, inst.symbol)), start, self.now,
                                                        HEAD_GAP[row.kind]))
                row.series.append(fill)
                jobs.append(self._series(limit, adapter, row, inst, fill))
        await asyncio.gather(*jobs)

    async def _series(self, limit: asyncio.Semaphore, adapter: Adapter, row: BackfillRow, inst: Instrument,
                      fill: SeriesFill) -> None:
        async with limit:
            notes: list[str] = []
            try:
                for start, end in fill.windows:
                    points, note = await _fetch(adapter, row.kind, inst, start, end, self.now)
                    if note:
                        notes.append(note)
                    fill.points += len(points)
                    fill.written += _write(self.store, points)
                    if points:
                        first, last = points[0].time, points[-1].time  # type: ignore[attr-defined]
                        fill.first = first if fill.first is None else min(fill.first, first)
                        fill.last = last if fill.last is None else max(fill.last, last)
            except Exception as exc:  # one series failing never stops the others (a bug is labelled internal)
                fill.failed = True
                failure = Failure.of(adapter.name, exc)
                self.failures.append(failure)
                notes.append(f"failed: {failure.message}")
            fill.note = "; ".join(dict.fromkeys(notes))
            self.done += 1
            self.say(f"{adapter.name} {row.kind} {inst.symbol}: {fill.points:,} points, {fill.written:,} new"
                     f"{' (failed)' if fill.failed else ''} [{self.done}/{self.total}]")


async def backfill(client: AsyncClient, store: Store, kinds: str | Sequence[str], assets: str | Sequence[str], *,
                   since: str | datetime | timedelta, venues: Sequence[str] | None = None,
                   progress: Progress | None = None) -> BackfillReport:
    """Fill ``store`` with the venues' history of ``kinds`` (``funding``, ``oi``, ``klines``) for ``assets``
    (assets, ccxt or venue symbols), from ``since`` (``90d``, an ISO-8601 time or an aware datetime) or from
    the last stored point, whichever is later; see the module doc. ``venues``: only these (default: the
    client's, else every active venue enabled in settings that offers the kind). ``progress`` is called with
    one line per series. A venue that fails is a failure in the report, never an exception; bad input is a
    ``UsageError``; a store that cannot be written raises ``StoreError``."""
    from dtrack.client.history import parse_when
    from dtrack.venues import VENUES

    names = backfill_kinds(kinds)
    texts = as_list(assets)
    if not texts:
        raise UsageError("name at least one asset to backfill, e.g. BTC")
    check_readable(texts)
    now = client.now()
    start = parse_when(since, "--since", now, LONGEST)
    if start >= now:
        raise UsageError(f"--since must be in the past, got {start:%Y-%m-%d %H:%M} UTC")
    plan = {k: _venues(client, KINDS[k][0], venues) for k in names}
    order = list(dict.fromkeys(v for k in names for v in plan[k][0]))
    report = BackfillReport(as_of=now, since=start, kinds=names, assets=[], store=store.location)
    pool = await client.pool()
    listings, report.failures = await gather_instruments(pool, order)
    wanted = resolve(texts, listings, (Kind.PERP, Kind.FUTURE), complete=not report.failures) if listings else []
    report.assets = list(dict.fromkeys(w.asset for w in wanted)) or texts
    run = _Run(store, now, start, progress)
    jobs = []
    by_venue: dict[str, list[BackfillRow]] = {}
    for kind in names:
        asked, unable = plan[kind]
        for v in unable:
            cap = VENUES[v].capability(KINDS[kind][0])
            report.rows.append(BackfillRow(v, kind, start, cap.history, status="unsupported",
                                           note=cap.note or f"{VENUES[v].title} publishes no {KINDS[kind][2]}"))
        for v in asked:
            row = BackfillRow(v, kind, start, VENUES[v].capability(KINDS[kind][0]).history)
            report.rows.append(row)
            if v not in listings:
                row.status, row.note = "failed", "its instrument list could not be read"
                continue
            by_venue.setdefault(v, []).append(row)
    contracts: dict[str, dict[str, list[Instrument]]] = {}
    for v, rows in by_venue.items():
        contracts[v] = {row.kind: _contracts(row.kind, listings[v], wanted, now) for row in rows}
        listed = list(dict.fromkeys(i for insts in contracts[v].values() for i in insts))
        every = [i for i in listings[v] if i.kind in (Kind.PERP, Kind.FUTURE) and any(w.matches(i) for w in wanted)]
        if every:
            store.write_rows("instruments", [i.to_row() | {"seen_at": now} for i in every])
        run.total += sum(len(c) for c in contracts[v].values())
        for row in rows:
            if not contracts[v][row.kind]:
                row.status, row.note = "none", f"lists no contract of {', '.join(report.assets)}"
        if listed:
            jobs.append(run.venue(pool.adapter(v), [r for r in rows if contracts[v][r.kind]], contracts[v]))
    run.say(f"backfill {', '.join(names)} of {', '.join(report.assets)} since {start:%Y-%m-%d %H:%M} UTC: "
            f"{run.total} series on {', '.join(by_venue) or 'no venue'} into {store.location}")
    await asyncio.gather(*jobs)
    report.failures += run.failures
    _conclude(store, report)
    rank = {v: i for i, v in enumerate(VENUES)}
    report.rows.sort(key=lambda r: (names.index(r.kind), rank[r.venue]))
    return report


def _conclude(store: Store, report: BackfillReport) -> None:
    """Each row's status, what the store now holds from ``since`` on, and the notes on the venue's depth."""
    for row in report.rows:
        if row.status in ("unsupported", "none", "failed") or not row.series:
            continue
        failed = [s for s in row.series if s.failed]
        row.status = "failed" if len(failed) == len(row.series) else "partial" if failed else "ok"
        held = store.series_range(row.table, venue=row.venue, symbol=[s.symbol for s in row.series],
                                  since=report.since)
        if held:
            row.got_from = min(first for first, _, _ in held.values())
            row.got_to = max(last for _, last, _ in held.values())
        notes = []
        depth = depth_of(row.depth)
        if row.got_from is not None and row.got_from - report.since > HEAD_GAP[row.kind] + timedelta(hours=1):
            keeps = f"keeps {row.depth}" if depth is not None else "had nothing older"
            notes.append(f"{row.venue} {keeps}: the store holds {KINDS[row.kind][2]} from "
                         f"{row.got_from:%Y-%m-%d %H:%M} UTC (asked from {report.since:%Y-%m-%d %H:%M} UTC)")
        elif row.got_from is None and not failed:
            notes.append(f"{row.venue} returned no {KINDS[row.kind][2]} for the window")
        if not notes:  # the venue's own notes (units, sampling); each symbol's are in its JSON detail too
            by_note: dict[str, list[str]] = {}
            for s in row.series:
                if s.note:
                    by_note.setdefault(s.note, []).append(s.symbol)
            notes += [f"{', '.join(symbols)}: {note}" for note, symbols in by_note.items()]
        row.note = "; ".join(dict.fromkeys(notes))
