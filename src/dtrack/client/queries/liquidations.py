"""The liquidations query: the liquidation events of assets from the history store (what collectors recorded) and
what a live listen heard, merged and de-duplicated by event key, totalled by the side of the position liquidated
and by venue over trailing windows (``dtrack.analytics.liquidations``), with each venue's coverage and the time the
data covers.

The venues asked: the chosen ones, else every active venue enabled in settings. A venue dtrack reads no
liquidation feed of (the capability table: Hyperliquid publishes none) is listed as not covered, with the reason.

The time covered, per asset and venue, within ``--since``:
- from the store: the collector runs that streamed the venue's liquidations (``collector_runs``: their ``what``
  lists ``stream.liquidations`` for the venue), from their start to their last heartbeat, and the first to the last
  stored event; minus the gaps of its liquidation stream (``gaps``: a stream named by the venue's liquidation
  channel in the capability table, a whole venue's stream ``*``, a collector restart, a killed run's
  ``stream.liquidations``, rows a collector had to drop ``store.liquidations``; a gap naming another asset's
  contract only is not this asset's);
- from a listen: exactly the listened span, minus the gaps heard.
A 24 h total from 2 h of data says it covers 2 h.

With ``sim=True`` and no liquidation stored in the window, the query listens to the simulated venues for settings
``liquidations.listen_seconds`` (said through ``progress`` and in the result's ``source``), so that a new user sees
data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dtrack.analytics.liquidations import VenueSpan, VenueStatus, build_report, covered, dedupe, label
from dtrack.client.inputs import as_list, check_readable, parse_duration, parsed_assets, resolve, shown, unique_assets
from dtrack.errors import UsageError
from dtrack.records import Coverage, DataKind, Gap, Instrument, Kind, Liquidation, PriceKind, Unit
from dtrack.results import Failure, LiquidationSource, LiquidationsResult

if TYPE_CHECKING:
    from dtrack.analytics.liquidations import Interval
    from dtrack.client.core import AsyncClient
    from dtrack.store import Row, Store
    from dtrack.venues import VenueInfo

log = logging.getLogger(__name__)

#: the longest --since and --listen
LONGEST = timedelta(days=365)
MAX_LISTEN_SECONDS = 3600.0
#: gap streams that stop every liquidation channel of a venue: a venue's whole stream (the client's ``*``), the
#: collector's restart of its streams, a killed run's liquidation stream, liquidation rows a collector dropped
WHOLE_STREAMS = frozenset({"*", "stream.restart", "stream.liquidations", "store.liquidations", "collector"})
#: the ``gaps`` venue of a killed run that did not say what it watched: every venue
ALL_VENUES = "all"
#: how long before the window a gap may have begun and still reach into it (gaps are read from then on)
LONGEST_GAP = timedelta(days=30)

_LISTEN = re.compile(r"^\s*(\d{1,7}(?:\.\d{1,3})?)\s*(s|sec|m|min|h)?\s*$", re.IGNORECASE)
_LISTEN_UNIT = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_USD = re.compile(r"^\s*\$?\s*(\d{1,15}(?:\.\d{1,8})?)\s*([kmb])?\s*(?:usd)?\s*$", re.IGNORECASE)
_USD_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9}

#: progress lines (the CLI prints them on stderr)
Progress = Callable[[str], None]


# --- inputs ----------------------------------------------------------------------------------------------------


def parse_listen(value: str | float | timedelta) -> float:
    """``--listen``: ``60s``, ``2m``, ``1h`` (a bare number: seconds) or a timedelta -> seconds, 1 s to 1 h;
    anything else is a usage error."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        text = f"{seconds:g}s"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds, text = float(value), f"{value!r}"
    else:
        m = _LISTEN.match(str(value))
        seconds = float(m.group(1)) * _LISTEN_UNIT[(m.group(2) or "s").lower()] if m else math.nan
        text = str(value)
    if not (math.isfinite(seconds) and 1.0 <= seconds <= MAX_LISTEN_SECONDS):
        raise UsageError(f"bad --listen {shown(text)}: expected a duration like 20s, 2m or 1h (1 s to 1 h)")
    return seconds


def parse_usd(value: str | float, option: str = "--min-size") -> float:
    """A USD amount as users write it: ``1000000``, ``$1M``, ``250k``, ``2.5b``, ``100000usd`` -> dollars (>= 0);
    anything else is a usage error naming the option."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        amount = float(value)
        text = repr(value)
    else:
        m = _USD.match(str(value))
        amount = float(m.group(1)) * _USD_SUFFIX.get((m.group(2) or "").lower(), 1.0) if m else math.nan
        text = str(value)
    if not (math.isfinite(amount) and amount >= 0):
        raise UsageError(f"bad {option} {shown(text)}: expected USD like 1000000, $1M or 250k (>= 0)")
    return amount


def parse_limit(value: int | None, default: int) -> int:
    """``--limit``: a whole number >= 1 (None: ``default``)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"bad --limit {value!r}: expected a whole number >= 1")
    return value


# --- the venues ------------------------------------------------------------------------------------------------


def chosen_venues(client: AsyncClient, venues: Sequence[str] | None) -> list[VenueInfo]:
    """The venues to answer for: ``venues`` (else the client's chosen ones; a closed or unknown one is a usage
    error), else every active venue enabled in settings."""
    from dtrack.venues import ACTIVE, VENUES, venue_info

    names = [v for v in (venues if venues is not None else client.chosen_venues) if v]
    if not names:
        enabled = [VENUES[v] for v in ACTIVE if client.settings.venue(v).enabled]
        if not enabled:
            raise UsageError(f"every venue is disabled in settings ({client.settings.source}): set "
                             "venues.<name>.enabled: true, or name one with --venue")
        return enabled
    out: list[VenueInfo] = []
    for name in names:
        info = venue_info(name)
        if info.status == "closed":
            raise UsageError(f"{info.title} closed on {info.closed_on}: no live data exists; active venues: "
                             f"{', '.join(ACTIVE)}")
        if info not in out:
            out.append(info)
    return out


def feed_coverage(info: VenueInfo) -> str | None:
    """What a venue's liquidation feed is known to cover before any event says it: the capability table's
    ``coverage`` (else ``sampled`` when it says the feed is sampled; else unknown: the events carry theirs)."""
    cap = info.capability(DataKind.LIQUIDATIONS)
    if cap.coverage:
        return cap.coverage
    return Coverage.SAMPLED.value if cap.sampled else None


def channel_prefix(info: VenueInfo) -> str:
    """The name the venue's liquidation channel starts with, from the capability table (``!forceOrder@arr``,
    ``allLiquidation.``, ``liquidation-orders``): the text before its first placeholder, space or parenthesis
    ("" when dtrack streams none)."""
    stream = info.capability(DataKind.LIQUIDATIONS).stream or ""
    return re.split(r"[\s{(]", stream.strip(), maxsplit=1)[0]


def liquidation_gap(stream: str, prefix: str) -> bool:
    """Whether a gap of ``stream`` stopped a venue's liquidation channel (``prefix``: see ``channel_prefix``; a
    gap may name its connection's host first: Binance's ``dstream !forceOrder@arr``)."""
    return stream in WHOLE_STREAMS or (bool(prefix) and stream.split(" ")[-1].startswith(prefix))


def names_other_asset(stream: str, asset: str, mine: Sequence[str], known: Sequence[str]) -> bool:
    """Whether a gap's stream names some other asset's contract and none of ``asset``'s (``allLiquidation.ETHUSDT``
    is not a gap of BTC); a stream naming no contract (a connection, a whole channel) is every asset's."""
    text = stream.lower()
    if stream in WHOLE_STREAMS or asset.lower() in text or any(s in text for s in mine):
        return False
    return any(k in text for k in known if len(k) >= 3)


# --- the store -------------------------------------------------------------------------------------------------


def event_of(row: Row) -> Liquidation:
    """The ``Liquidation`` a ``liquidations`` row was written from."""
    from dtrack.client.stored import instrument_of

    return Liquidation(instrument=instrument_of(row), side=str(row["side"]), price=float(row["price"]),  # type: ignore[arg-type]
                       price_kind=PriceKind(str(row["price_kind"])), amount=float(row["amount"]),  # type: ignore[arg-type]
                       unit=Unit(str(row["unit"])), base=float(row["base"]), usd=float(row["usd"]),  # type: ignore[arg-type]
                       time=row["time"], received_at=row["received_at"],  # type: ignore[arg-type]
                       coverage=Coverage(str(row["coverage"])), key=str(row["key"]), note=str(row["note"] or ""))


@dataclass(slots=True)
class Found:
    """What was read for the answer: events, and per (asset, venue) what was watched and what was missed."""

    events: list[Liquidation] = field(default_factory=list)
    watched: dict[tuple[str, str], list[Interval]] = field(default_factory=dict)
    missed: dict[tuple[str, str], list[Interval]] = field(default_factory=dict)
    symbols: dict[str, set[str]] = field(default_factory=dict)  # asset -> its contracts' symbols (lowercase)

    def watch(self, asset: str, venue: str, span: Interval) -> None:
        self.watched.setdefault((asset, venue), []).append(span)

    def miss(self, asset: str, venue: str, span: Interval) -> None:
        self.missed.setdefault((asset, venue), []).append(span)

    def know(self, instruments: Sequence[Instrument]) -> None:
        for inst in instruments:
            self.symbols.setdefault(inst.asset, set()).add(inst.symbol.lower())


def _stored_instruments(store: Store, venues: Sequence[str]) -> dict[str, list[Instrument]]:
    from dtrack.client.stored import instrument_of

    out: dict[str, list[Instrument]] = {}
    for row in store.read("instruments", venue=list(venues)):
        inst = instrument_of(row)
        out.setdefault(inst.venue, []).append(inst)
    return out


def read_store(store: Store, infos: Sequence[VenueInfo], texts: Sequence[str], start: datetime,
               now: datetime, found: Found) -> list[str]:
    """The stored events of ``texts`` on the venues since ``start``, what the collectors watched and the gaps of
    their liquidation streams, into ``found``; the assets asked (resolved through the store's instruments)."""
    names = [i.name for i in infos]
    instruments = _stored_instruments(store, names)
    wanted = resolve(texts, instruments, (Kind.PERP, Kind.FUTURE), complete=False)
    assets = unique_assets(wanted)
    found.know([i for insts in instruments.values() for i in insts])
    events = [e for e in map(event_of, store.read("liquidations", venue=names, asset=assets, since=start))
              if any(w.matches(e.instrument) for w in wanted)]
    found.events += events
    found.know([e.instrument for e in events])
    first_last: dict[tuple[str, str], Interval] = {}
    for e in events:
        key = (e.instrument.asset, e.instrument.venue)
        a, b = first_last.get(key, (e.time, e.time))
        first_last[key] = (min(a, e.time), max(b, e.time))
    for (asset, venue), span in first_last.items():
        found.watch(asset, venue, span)
    for venue, span in _collector_spans(store, names, now):
        for asset in assets:
            found.watch(asset, venue, span)
    _store_gaps(store, infos, assets, start, now, found)
    return assets


def _collector_spans(store: Store, venues: Sequence[str], now: datetime) -> list[tuple[str, Interval]]:
    """(venue, from start to last heartbeat) of every collector run that streamed the venue's liquidations."""
    out: list[tuple[str, Interval]] = []
    for run in store.read("collector_runs", until=now):
        try:
            what = json.loads(str(run.get("what") or "{}"))
            watched = {str(v) for v, s in what.get("gap_streams", []) if s == "stream.liquidations"}
        except (ValueError, TypeError, AttributeError):
            continue
        began = run.get("started_at")
        ended = run.get("ended_at") or run.get("last_seen") or began
        if not isinstance(began, datetime) or not isinstance(ended, datetime):
            continue
        out += [(v, (began, min(ended, now))) for v in venues if v in watched]
    return out


def _store_gaps(store: Store, infos: Sequence[VenueInfo], assets: Sequence[str], start: datetime, now: datetime,
                found: Found) -> None:
    prefixes = {i.name: channel_prefix(i) for i in infos}
    known = sorted({s for symbols in found.symbols.values() for s in symbols} | {a.lower() for a in found.symbols})
    for gap in store.read("gaps", venue=[*prefixes, ALL_VENUES], since=start - LONGEST_GAP, until=now):
        began, ended = gap["start"], gap["end"] or now
        if not isinstance(began, datetime) or not isinstance(ended, datetime) or ended <= start:
            continue
        stream = str(gap["stream"])
        venues = list(prefixes) if gap["venue"] == ALL_VENUES else [str(gap["venue"])]
        for venue in venues:
            if not liquidation_gap(stream, prefixes[venue]):
                continue
            for asset in assets:
                if not names_other_asset(stream, asset, sorted(found.symbols.get(asset, ())), known):
                    found.miss(asset, venue, (began, ended))


# --- a live listen ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Heard:
    """What a listen heard: from ``start`` to ``end``, the events and the gaps (by venue, stream, start)."""

    start: datetime
    end: datetime
    events: list[Liquidation] = field(default_factory=list)
    gaps: dict[tuple[str, str, datetime], Gap] = field(default_factory=dict)


async def listen(client: AsyncClient, texts: Sequence[str], venues: Sequence[str], seconds: float) -> Heard:
    """Listen to the venues' liquidation streams of ``texts`` for ``seconds``."""
    heard = Heard(start=client.now(), end=client.now())

    async def consume() -> None:
        records = client.stream([DataKind.LIQUIDATIONS], list(texts), venues=list(venues))
        try:
            async for record in records:
                if isinstance(record, Liquidation):
                    heard.events.append(record)
                elif isinstance(record, Gap):
                    heard.gaps[(record.venue, record.stream, record.start)] = record
        finally:
            close = getattr(records, "aclose", None)  # its connections close now, not at garbage collection
            if close is not None:
                await close()

    with suppress(TimeoutError):
        await asyncio.wait_for(consume(), timeout=seconds)
    heard.end = client.now()
    return heard


def _heard_spans(heard: Heard, infos: Sequence[VenueInfo], listened: Sequence[str], assets: Sequence[str],
                 found: Found) -> None:
    found.events += heard.events
    found.know([e.instrument for e in heard.events])
    known = sorted({s for symbols in found.symbols.values() for s in symbols} | {a.lower() for a in found.symbols})
    prefixes = {i.name: channel_prefix(i) for i in infos}
    for venue in listened:
        for asset in assets:
            found.watch(asset, venue, (heard.start, heard.end))
    for gap in heard.gaps.values():
        if gap.venue not in listened or not liquidation_gap(gap.stream, prefixes.get(gap.venue, "")):
            continue
        for asset in assets:
            if not names_other_asset(gap.stream, asset, sorted(found.symbols.get(asset, ())), known):
                found.miss(asset, gap.venue, (gap.start, gap.end or heard.end))


# --- the query -------------------------------------------------------------------------------------------------


async def run(client: AsyncClient, assets: str | Sequence[str], *, since: str | timedelta = "24h",
              venues: Sequence[str] | None = None, recent: bool = False, min_size: str | float | None = None,
              listen_for: str | float | timedelta | None = None, limit: int | None = None,
              progress: Progress | None = None) -> LiquidationsResult:
    """See ``AsyncClient.liquidations``."""
    texts = as_list(assets)
    if not texts:
        raise UsageError("name at least one asset, e.g. BTC")
    check_readable(texts)
    span = parse_duration(since, "--since", LONGEST)
    settings = client.settings.liquidations
    min_usd = parse_usd(min_size) if min_size is not None else settings.min_size_usd
    top = parse_limit(limit, settings.recent_limit)
    seconds = parse_listen(listen_for) if listen_for is not None else None
    infos = chosen_venues(client, venues)
    streaming = [i.name for i in infos if i.capability(DataKind.LIQUIDATIONS).stream is not None]
    if (venues is not None or client.explicit_venues) \
            and not any(i.capability(DataKind.LIQUIDATIONS).supported for i in infos):
        why = "; ".join(f"{i.title}: {i.capability(DataKind.LIQUIDATIONS).note or i.note}" for i in infos)
        raise UsageError(f"no liquidation feed in dtrack for the venues asked ({why})")
    found = Found()
    asked = parsed_assets(texts)
    store = client.consult_store()
    if store is not None:
        asked = read_store(store, infos, texts, client.now() - span, client.now(), found) or asked
    auto = seconds is None and client.simulated and not found.events
    if auto:
        seconds = settings.listen_seconds
    heard: Heard | None = None
    notes: list[str] = []
    if seconds is not None and not streaming:
        notes.append("none of the venues asked streams liquidations in this dtrack: nothing to listen to")
    elif seconds is not None:
        what = ", ".join(asked or texts)
        say = (f"the store holds no liquidation of {what} in the last {label(span)}: listening to the simulated "
               f"venues' liquidation streams for {seconds:g} s" if auto and store is not None else
               f"listening to the simulated venues' liquidation streams of {what} for {seconds:g} s" if auto else
               f"listening to the liquidation streams of {', '.join(streaming)} for {seconds:g} s")
        log.info("%s", say)
        if progress is not None:
            progress(say)
        heard = await listen(client, texts, streaming, seconds)
        asked = list(dict.fromkeys([*asked, *(e.instrument.asset for e in heard.events)]))
    # a venue symbol the store did not know (BTCUSDT) stands for the asset of the events carrying it
    named = {e.instrument.symbol.upper(): e.instrument.asset for e in found.events} | \
            {e.instrument.symbol.upper(): e.instrument.asset for e in (heard.events if heard is not None else ())}
    asked = list(dict.fromkeys(named.get(a, a) for a in asked))
    if heard is not None:
        _heard_spans(heard, infos, streaming, asked, found)
    now = client.now()
    events = dedupe(found.events)
    statuses = _statuses(infos, {e.instrument.venue for e in events})
    begin = now - span
    spans: list[VenueSpan] = []
    for asset in asked:
        for status in statuses:
            if status.covered:
                key = (asset, status.venue)
                missed = tuple(covered(found.missed.get(key, ()), (), begin, now))
                spans.append(VenueSpan(asset, status.venue, tuple(covered(found.watched.get(key, ()), missed, begin,
                                                                          now)), missed))
    report = build_report(now, span, asked, events, statuses, spans, show_recent=recent or min_size is not None,
                          min_usd=min_usd, limit=top)
    report.notes += notes
    source = LiquidationSource(
        kind=("store+listen" if heard is not None else "store") if store is not None else
        ("listen" if heard is not None else "none"),
        store=store.location if store is not None else None,
        listen_seconds=(heard.end - heard.start).total_seconds() if heard is not None else None,
        listen_start=heard.start if heard is not None else None, listen_end=heard.end if heard is not None else None,
        auto_listen=auto and heard is not None, note=_source_note(client, store))
    watched = any(s.covered for s in spans) or bool(report.events)
    failures = _listen_failures(heard, spans, streaming) if heard is not None else []
    result = LiquidationsResult(as_of=now, failures=failures, all_failed=not watched, report=report, source=source)
    if not watched:
        result.note = _empty_note(source.store, asked or texts, label(span), heard is not None, bool(streaming))
    return result


def _statuses(infos: Sequence[VenueInfo], with_events: set[str]) -> list[VenueStatus]:
    """Each venue's status: covered when dtrack reads a liquidation feed of it (or holds its events), with the
    coverage its feed is known to have and the capability table's note (why it is not covered)."""
    out = []
    for info in infos:
        cap = info.capability(DataKind.LIQUIDATIONS)
        is_covered = cap.supported or info.name in with_events
        out.append(VenueStatus(info.name, is_covered, feed_coverage(info) if is_covered else None,
                               cap.note or ("" if is_covered else info.note)))
    return out


def _listen_failures(heard: Heard, spans: Sequence[VenueSpan], listened: Sequence[str]) -> list[Failure]:
    """A venue whose liquidation stream never ran during the listen (every second of it a gap)."""
    out: list[Failure] = []
    for venue in listened:
        mine = [s for s in spans if s.venue == venue]
        if mine and all(s.covered_seconds == 0 for s in mine) and heard.end > heard.start:
            reasons = sorted({g.reason for g in heard.gaps.values() if g.venue == venue}) or ["no frame"]
            out.append(Failure(venue=venue, kind="unavailable", endpoint=None,
                               message=f"{venue}: its liquidation stream did not run during the listen "
                                       f"({', '.join(reasons)})"))
    return out


def _source_note(client: AsyncClient, store: Store | None) -> str:
    if store is not None:
        return ""
    if client.simulated:
        return "with --sim only a store named with --store is read (the simulated market must not mix with yours)"
    return f"no history store at {client.store_location()} (dtrack collect keeps liquidations in it)"


def _empty_note(location: str | None, assets: Sequence[str], window: str, listened: bool, streams: bool) -> str:
    what = ", ".join(assets)
    if not streams:
        return f"no venue asked publishes a liquidation feed dtrack reads; nothing to show for {what}"
    where = f"the store {location} holds no liquidation of {what} in the last {window} and no collector watched " \
            f"them" if location else "no history store is read"
    hint = "run `dtrack collect` (it keeps liquidation events), or listen live: --listen 60s"
    return f"{where}{'; the listen heard nothing' if listened else ''}: {hint}"
