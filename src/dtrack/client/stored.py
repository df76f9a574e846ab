"""Answers from the history store, without the network.

``store_scope`` decides whether a query (``funding``, ``open_interest``, ``basis``) can be answered from the
store. It can when, for every asked asset on every chosen venue, the store's ``instruments`` table lists the
asset's contracts and each of them has a snapshot of every kind the query reads, received within
``store.fresh_seconds`` (settings; 60 s by default), and the settled series the query reads (funding history,
open-interest history) reach to within one step of now. Then it returns a ``Scope`` whose pool hands out
``StoredVenue`` adapters: the adapter contract, served from the rows already read and rebuilt into the same
records, so the queries' code is one. Otherwise it says why, and the query asks the venues.

A venue whose contracts of an asset the store does not list at all is not taken as "the venue lists none":
the store cannot tell that from "nobody collected it", so the venues are asked.

``extend_funding``: stored settlements older than what a venue returned (``funding --history 180d`` beyond the
venue's depth), and which part came from where.

Nothing here imports aiohttp: a store answer never opens the network.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from dtrack.client.inputs import resolve, unique_assets
from dtrack.errors import DtrackError, StoreError
from dtrack.records import (
    DataKind,
    FundingHistory,
    FundingPoint,
    FundingRate,
    Instrument,
    Kind,
    LongShortRatio,
    Margin,
    OIHistory,
    OIPoint,
    OpenInterest,
    PricePoint,
    PriceQuote,
    SpotPrice,
    Unit,
)
from dtrack.results import Answer, Source, StoredSpan
from dtrack.venues.base import Adapter, VenueContext
from dtrack.venues.fields import Listing

if TYPE_CHECKING:
    from dtrack.client.fetch import Scope
    from dtrack.client.inputs import Wanted
    from dtrack.config import Settings
    from dtrack.store import Row, Store

#: a snapshot stamped up to this far after "now" still counts (clocks of two machines disagree a little)
CLOCK_SKEW = timedelta(seconds=5)
#: a settled series is caught up when its last point is at most one step (plus this) before now
SERIES_SLACK = timedelta(minutes=2)
#: the step of the open-interest and kline series a backfill keeps (``backfill`` period_hours default)
SERIES_STEP = timedelta(hours=1)
#: a stored contract not seen within this of its venue-and-asset's latest listing is taken as delisted
LISTING_SLACK = timedelta(days=1)
HOUR_MS = 3_600_000

#: per-contract snapshot tables and the contracts they hold
SNAPSHOT_KINDS: Mapping[str, tuple[Kind, ...]] = {
    "funding_rates": (Kind.PERP,), "open_interest": (Kind.PERP, Kind.FUTURE), "price_quotes": (Kind.PERP, Kind.FUTURE)}
#: per-(venue, asset) snapshot tables a query reads when the venue offers them and the store keeps them
PER_ASSET: Mapping[str, tuple[DataKind, str]] = {
    "spot_prices": (DataKind.SPOT, "spot prices"), "long_short": (DataKind.LONG_SHORT, "long/short ratios")}
#: settled series (of every perpetual of a venue offering them) that must reach now
SERIES: Mapping[str, tuple[DataKind, str]] = {
    "funding_points": (DataKind.FUNDING_HISTORY, "funding history"),
    "oi_points": (DataKind.OI_HISTORY, "open-interest history")}


@dataclass(frozen=True, slots=True)
class Needs:
    """What a query reads, in the store's terms: per-contract ``snapshots``, per-asset snapshots
    (``per_asset``: kept by the store or not), and settled ``series`` that must reach now and go back ``span``."""

    snapshots: tuple[str, ...] = ()
    per_asset: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    #: how far back the series must go (as far as the venue itself keeps them); zero: not checked
    span: timedelta = timedelta(0)


class NotServed(Exception):
    """Why the store cannot answer a query (the query then asks the venues)."""


# --- rows -> records (exactly the records whose ``to_row()`` was stored) -------------------------------------


_ENUMS: Mapping[str, Callable[[Any], Any]] = {"kind": Kind, "margin": Margin, "contract_unit": Unit, "unit": Unit}
_INSTRUMENT_COLUMNS = tuple(f.name for f in fields(Instrument))


@functools.lru_cache(maxsize=4096)
def _instrument(values: tuple[Any, ...]) -> Instrument:
    row = dict(zip(_INSTRUMENT_COLUMNS, values, strict=True))
    return Instrument(**{k: _ENUMS[k](v) if k in _ENUMS else v for k, v in row.items()})


def instrument_of(row: Mapping[str, Any]) -> Instrument:
    """The contract whose columns a stored row carries (an ``instruments`` row or a snapshot's)."""
    return _instrument(tuple(row[c] for c in _INSTRUMENT_COLUMNS))


_FIELDS: dict[type[Any], tuple[tuple[str, ...], tuple[str, ...], bool]] = {}


def _fields_of(cls: type[Any]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(plain fields, enum fields, has an instrument) of a record class, computed once; the fields its row
    leaves out (``ROW_SKIP``) keep their defaults."""
    known = _FIELDS.get(cls)
    if known is None:
        skip = set(getattr(cls, "ROW_SKIP", ()))
        names = [f.name for f in fields(cls) if f.name != "instrument" and f.name not in skip]
        known = _FIELDS[cls] = (tuple(n for n in names if n not in _ENUMS), tuple(n for n in names if n in _ENUMS),
                                any(f.name == "instrument" for f in fields(cls)))
    return known


def record_of(cls: type[Any], row: Mapping[str, Any]) -> Any:
    """The record of type ``cls`` that a stored row was written from: its fields from the row's columns (an
    embedded instrument from its own columns, enums from their tokens); derived columns are left out."""
    plain, enums, embeds = _fields_of(cls)
    kwargs = {n: row[n] for n in plain}
    for n in enums:
        kwargs[n] = None if row[n] is None else _ENUMS[n](row[n])
    if embeds:
        kwargs["instrument"] = instrument_of(row)
    if cls is FundingRate:
        kwargs["sides"] = FundingRate.sides_of_row(row)
    return cls(**kwargs)


# --- the check ----------------------------------------------------------------------------------------------


class StoreView:
    """What the store holds for one query at one moment: the venues' current contracts and the fresh
    snapshots, read once (a few grouped queries); ``StoredVenue`` adapters serve from it."""

    def __init__(self, store: Store, settings: Settings, now: datetime, fresh: timedelta) -> None:
        self.store = store
        self.settings = settings
        self.now = now
        self.fresh = fresh
        self.instruments: dict[str, list[Instrument]] = {}
        #: table -> venue -> key -> the latest fresh row
        self.latest: dict[str, dict[str, dict[tuple[str, ...], Row]]] = {}
        self.oldest: datetime | None = None
        self.omitted: list[str] = []

    def load_instruments(self, venues: Sequence[str]) -> None:
        """The venues' current contracts (perpetuals, unexpired dated futures) from the instruments table."""
        seen: dict[tuple[str, str], datetime] = {}
        rows = self.store.read("instruments", venue=list(venues))
        for row in rows:
            key = (str(row["venue"]), str(row["asset"]))
            at = cast(datetime, row["seen_at"])
            seen[key] = max(at, seen.get(key, at))
        out: dict[str, list[Instrument]] = {v: [] for v in venues}
        for row in rows:
            inst = instrument_of(row)
            if inst.kind not in (Kind.PERP, Kind.FUTURE) or (inst.expiry is not None and inst.expiry <= self.now):
                continue
            if cast(datetime, row["seen_at"]) < seen[(inst.venue, inst.asset)] - LISTING_SLACK:
                continue
            out[inst.venue].append(inst)
        self.instruments = out

    def read_fresh(self, table: str, venue: str, assets: Collection[str],
                   key: Callable[[Row], tuple[str, ...]]) -> None:
        """The latest row per ``key`` of ``table`` received within the freshness window."""
        rows = self.store.read(table, venue=venue, asset=list(assets), since=self.now - self.fresh,
                               until=self.now + CLOCK_SKEW)
        latest = self.latest.setdefault(table, {}).setdefault(venue, {})
        for row in rows:  # ordered by received_at: the last one wins
            latest[key(row)] = row

    def served(self, table: str, venue: str, keyval: tuple[str, ...]) -> Row | None:
        """The fresh row of ``keyval`` (its age counted in ``oldest``), or None."""
        row = self.latest.get(table, {}).get(venue, {}).get(keyval)
        if row is not None:
            at = cast(datetime, row["received_at"])
            self.oldest = at if self.oldest is None else min(self.oldest, at)
        return row

    @property
    def age_seconds(self) -> float:
        """How old the oldest snapshot served is (0 for one stamped a little after now)."""
        return 0.0 if self.oldest is None else max(0.0, (self.now - self.oldest).total_seconds())


def _by_symbol(row: Row) -> tuple[str, ...]:
    return (str(row["symbol"]),)


def _by_ratio(row: Row) -> tuple[str, ...]:
    return (str(row["symbol"]), str(row["definition"]), str(row["period"]))


def check(view: StoreView, venues: Sequence[str], texts: Sequence[str], kinds: Sequence[Kind],
          needs: Needs) -> tuple[list[Wanted], dict[str, list[Instrument]]]:
    """The asked inputs resolved against the store, and each venue's current contracts; raises ``NotServed``
    (saying why) unless the store holds everything ``needs`` names, fresh, for every asked asset on every
    venue."""
    from dtrack.venues import VENUES

    view.load_instruments(venues)
    for v in venues:
        if not view.instruments[v]:
            raise NotServed(f"the store lists no contract of {v}")
    try:
        wanted = resolve(texts, view.instruments, kinds, complete=True)
    except DtrackError as exc:
        raise NotServed(f"the store does not know every input ({exc})") from None
    assets = unique_assets(wanted)

    def matches(inst: Instrument) -> bool:
        return any(w.matches(inst) for w in wanted)

    for v in venues:
        for table in needs.snapshots:
            view.read_fresh(table, v, assets, _by_symbol)
        for table in needs.per_asset:
            if VENUES[v].offers(PER_ASSET[table][0]):
                view.read_fresh(table, v, assets, _by_ratio if table == "long_short" else _by_symbol)
    for asset in assets:
        for v in venues:
            listed = [i for i in view.instruments[v] if i.asset == asset]
            if not listed:
                raise NotServed(f"the store lists no {asset} contract of {v}")
            for table in needs.snapshots:
                for inst in listed:
                    if inst.kind in SNAPSHOT_KINDS[table] and inst.kind in kinds and matches(inst) \
                            and view.served(table, v, (inst.symbol,)) is None:
                        raise NotServed(f"no {table} snapshot of {v} {inst.symbol} in the last "
                                        f"{view.fresh.total_seconds():g} s (store.fresh_seconds)")
    _check_per_asset(view, venues, assets, needs)
    _check_series(view, venues, assets, needs, matches)
    return wanted, view.instruments


def _check_per_asset(view: StoreView, venues: Sequence[str], assets: Sequence[str], needs: Needs) -> None:
    """A per-asset kind (spot, long/short) the store has kept for a venue and asset in the last day must be
    fresh; one it has not kept is left out of the answer, and the source says so."""
    from dtrack.venues import VENUES

    for table in needs.per_asset:
        kind, label = PER_ASSET[table]
        offering = [v for v in venues if VENUES[v].offers(kind)]
        if not offering:
            continue
        fresh = view.latest.get(table, {})
        kept = {(v, str(r["asset"])) for v, rows in fresh.items() for r in rows.values()}
        served = {(v, str(r["symbol"])) for v, rows in fresh.items() for r in rows.values()}
        recent = view.store.series_range(table, venue=offering, since=view.now - timedelta(days=1),
                                         until=view.now + CLOCK_SKEW)
        for v, symbol in recent:
            if (v, symbol) in served:
                continue
            stale = view.store.read(table, venue=v, symbol=symbol, since=view.now - timedelta(days=1), limit=1)
            if stale and stale[0]["asset"] in assets:
                raise NotServed(f"no {table} snapshot of {v} {symbol} in the last "
                                f"{view.fresh.total_seconds():g} s (store.fresh_seconds)")
        for v in offering:
            for row in fresh.get(v, {}).values():
                if row["asset"] in assets:
                    view.served(table, v, _by_ratio(row) if table == "long_short" else _by_symbol(row))
        missing = sorted({v for v in offering for a in assets if (v, a) not in kept})
        if missing:
            view.omitted.append(f"{label} of {', '.join(missing)} are not kept in the store (--live asks the venues)")


def _check_series(view: StoreView, venues: Sequence[str], assets: Sequence[str], needs: Needs,
                  matches: Callable[[Instrument], bool]) -> None:
    """Every perpetual's settled series must reach to within one step of now."""
    from dtrack.venues import VENUES

    for table in needs.series:
        kind, label = SERIES[table]
        for v in venues:
            if not VENUES[v].offers(kind):
                continue
            perps = [i for i in view.instruments[v] if i.kind is Kind.PERP and i.asset in assets and matches(i)]
            if not perps:
                continue
            symbols = [i.symbol for i in perps]
            recent = view.store.series_range(table, venue=v, symbol=symbols, since=view.now - timedelta(days=1),
                                             until=view.now + CLOCK_SKEW)
            whole = view.store.series_range(table, venue=v, symbol=symbols) if needs.span else {}
            # the window the venue would serve: the asked span, or less where the venue keeps less
            depth = depth_of(VENUES[v].capability(kind).history)
            start = view.now - min(needs.span, depth) if depth is not None else view.now - needs.span
            for inst in perps:
                got = recent.get((v, inst.symbol))
                if got is None:
                    raise NotServed(f"the store's {label} of {v} {inst.symbol} has nothing in the last day")
                first, last, count = got
                step = _step(view, table, v, inst, first, last, count)
                if last + step + SERIES_SLACK < view.now:
                    raise NotServed(f"the store's {label} of {v} {inst.symbol} ends {last:%Y-%m-%d %H:%M} UTC "
                                    f"(run dtrack backfill, or let dtrack collect refresh it)")
                held_from = whole[(v, inst.symbol)][0] if needs.span else first
                if needs.span and held_from > start + max(step, SERIES_STEP) + SERIES_SLACK:
                    raise NotServed(f"the store's {label} of {v} {inst.symbol} starts {held_from:%Y-%m-%d %H:%M} "
                                    f"UTC, later than the {_days(needs.span)} asked")


def _days(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g}d" if hours % 24 == 0 else f"{hours:g}h"


def depth_of(history: str | None, period_hours: int = 1) -> timedelta | None:
    """How far back a venue keeps a series, from its capability's ``history`` (``30d``, ``92d``, ``1,440
    points per period``, ``5,000 candles``, at ``period_hours``); None when it keeps everything (``since
    listing``) or says nothing measurable."""
    if not history:
        return None
    text = history.replace(",", "").strip().lower()
    if m := re.fullmatch(r"(\d+)\s*d", text):
        return timedelta(days=int(m.group(1)))
    if m := re.fullmatch(r"(\d+)\s*(points per period|candles)", text):
        return timedelta(hours=int(m.group(1)) * period_hours)
    return None


def _step(view: StoreView, table: str, venue: str, inst: Instrument, first: datetime, last: datetime,
          count: int) -> timedelta:
    """The spacing of a series: the funding interval (or the spacing of the last day's points, when the
    venue samples more often than it settles); one hour for the open-interest and kline series."""
    if table != "funding_points":
        return SERIES_STEP
    rate = view.latest.get("funding_rates", {}).get(venue, {}).get((inst.symbol,))
    step = timedelta(hours=float(cast(float, rate["interval_hours"]))) if rate is not None else timedelta(hours=8)
    if count >= 2:
        step = min(step, (last - first) / (count - 1))
    return step


# --- the store-backed adapters --------------------------------------------------------------------------------


class StorePool:
    """Hands out ``StoredVenue`` adapters over one ``StoreView`` (the pool of a store answer)."""

    def __init__(self, view: StoreView) -> None:
        self.view = view
        self._adapters: dict[str, Adapter] = {}

    def adapter(self, name: str) -> Adapter:
        """The store-backed adapter of venue ``name``."""
        if name not in self._adapters:
            ctx = VenueContext(http=cast(Any, None), settings=self.view.settings, cache=cast(Any, None),
                               now=lambda: self.view.now)
            self._adapters[name] = _stored_class(name)(ctx, self.view)
        return self._adapters[name]


class StoredVenue(Adapter):
    """A venue as the store saw it: ``listing()`` from the instruments table, the fetch methods from the fresh
    snapshots and the stored series, the records rebuilt exactly. It sends no request."""

    instruments_endpoint = "the store's instruments table"
    main_host = ""

    def __init__(self, ctx: VenueContext, view: StoreView) -> None:
        super().__init__(ctx)
        self.view = view
        #: (table, start, end) -> symbol -> rows: one read serves every contract of the venue
        self._series: dict[tuple[str, datetime, datetime], dict[str, list[Row]]] = {}

    def _series_rows(self, table: str, symbol: str, start: datetime, end: datetime) -> list[Row]:
        """The stored points of ``symbol`` in ``[start, end]``, read for all the venue's current contracts at
        once (the queries ask every contract over the same window)."""
        key = (table, start, end)
        by_symbol = self._series.get(key)
        if by_symbol is None or symbol not in by_symbol:
            symbols = {symbol} if by_symbol is not None else \
                {i.symbol for i in self.view.instruments.get(self.name, ())} | {symbol}
            by_symbol = self._series.setdefault(key, {})
            for s in symbols:
                by_symbol[s] = []
            for row in self.view.store.read(table, venue=self.name, symbol=sorted(symbols), since=start,
                                            until=end + timedelta(milliseconds=1)):
                by_symbol[str(row["symbol"])].append(row)
        return by_symbol[symbol]

    async def get(self, host: str, path: str, params: Mapping[str, Any] | None = None, *, weight: int = 1,
                  endpoint: str | None = None) -> Any:
        raise StoreError(f"{self.name}: a store answer sends no request ({path})")

    async def post(self, host: str, path: str, body: Any, *, weight: int = 1, endpoint: str | None = None) -> Any:
        raise StoreError(f"{self.name}: a store answer sends no request ({path})")

    async def listing(self) -> Listing:
        return Listing(tuple(self.view.instruments.get(self.name, ())))

    def _snapshots(self, table: str, cls: type[Any], instruments: Iterable[Instrument]) -> Answer[Any]:
        answer: Answer[Any] = Answer(self.name)
        for inst in instruments:
            if inst.kind not in SNAPSHOT_KINDS[table]:
                continue
            row = self.view.served(table, self.name, (inst.symbol,))
            if row is not None:
                answer.items.append(record_of(cls, row))
        return answer

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> Answer[FundingRate]:
        return self._snapshots("funding_rates", FundingRate, instruments)

    async def fetch_open_interest(self, instruments: Sequence[Instrument]) -> Answer[OpenInterest]:
        return self._snapshots("open_interest", OpenInterest, instruments)

    async def fetch_quotes(self, instruments: Sequence[Instrument]) -> Answer[PriceQuote]:
        return self._snapshots("price_quotes", PriceQuote, instruments)

    async def fetch_spot(self, assets: Sequence[str]) -> Answer[SpotPrice]:
        if not self.capability(DataKind.SPOT).supported:
            return await super().fetch_spot(assets)
        rows = self.view.latest.get("spot_prices", {}).get(self.name, {}).values()
        return Answer(self.name, [record_of(SpotPrice, r) for r in rows if r["asset"] in assets])

    async def fetch_long_short(self, asset: str, perps: Sequence[Instrument]) -> Answer[LongShortRatio]:
        if not self.capability(DataKind.LONG_SHORT).supported:
            return await super().fetch_long_short(asset, perps)
        rows = self.view.latest.get("long_short", {}).get(self.name, {}).values()
        return Answer(self.name, [record_of(LongShortRatio, r) for r in rows if r["asset"] == asset])

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        rows = self._series_rows("funding_points", instrument.symbol, start, end)
        points = tuple(record_of(FundingPoint, r) for r in rows)
        return FundingHistory(venue=self.name, symbol=instrument.symbol, start=start, end=end, points=points,
                              note=_held_from(points, start, "funding history",
                                              timedelta(hours=points[0].interval_hours) if points else SERIES_STEP))

    async def fetch_oi_history(self, instrument: Instrument, start: datetime, end: datetime,
                               period_hours: int) -> OIHistory:
        if not self.capability(DataKind.OI_HISTORY).supported:
            return await super().fetch_oi_history(instrument, start, end, period_hours)
        rows = self._series_rows("oi_points", instrument.symbol, start, end)
        points = tuple(p for p in (record_of(OIPoint, r) for r in rows) if _on_grid(p.time, period_hours))
        return OIHistory(venue=self.name, symbol=instrument.symbol, period_hours=float(period_hours), points=points,
                         note=_held_from(points, start, "open-interest history", timedelta(hours=period_hours)))

    async def fetch_price_history(self, instrument: Instrument, start: datetime, end: datetime,
                                  period_hours: int) -> tuple[PricePoint, ...]:
        rows = self._series_rows("price_points", instrument.symbol, start, end)
        return tuple(p for p in (record_of(PricePoint, r) for r in rows) if _on_grid(p.time, period_hours))


def _on_grid(t: datetime, period_hours: int) -> bool:
    from dtrack.store import to_ms

    return to_ms(t) % (period_hours * HOUR_MS) == 0


def _held_from(points: Sequence[Any], start: datetime, label: str, step: timedelta) -> str:
    if not points:
        return f"the store holds no {label} in the window"
    first: datetime = points[0].time
    if first > start + step + timedelta(hours=1):
        return f"the store holds {label} from {first:%Y-%m-%d %H:%M} UTC (asked from {start:%Y-%m-%d %H:%M} UTC)"
    return ""


@functools.cache
def _stored_class(venue: str) -> type[StoredVenue]:
    """A ``StoredVenue`` class named for ``venue`` (an adapter's ``name`` and hosts are class attributes)."""
    from dtrack.venues import VENUES

    info = VENUES[venue]
    return cast(type[StoredVenue], type(f"Stored_{venue}", (StoredVenue,),
                                        {"name": venue, "hosts": dict.fromkeys(info.hosts, "")}))


# --- the decision ---------------------------------------------------------------------------------------------


def store_scope(store: Store, settings: Settings, now: datetime, venues: Sequence[str], texts: Sequence[str],
                kinds: Sequence[Kind], needs: Needs) -> tuple[Scope | None, str]:
    """A ``Scope`` served by the store (None when it cannot answer), and why not."""
    from dtrack.client.fetch import Scope

    view = StoreView(store, settings, now, timedelta(seconds=settings.store.fresh_seconds))
    try:
        wanted, instruments = check(view, venues, texts, kinds, needs)
    except NotServed as exc:
        return None, str(exc)
    except StoreError as exc:
        return None, f"the store could not be read ({exc})"
    source = Source(kind="store", store=store.location, age_seconds=round(view.age_seconds, 3),
                    snapshot_time=view.oldest, note="; ".join(view.omitted))
    return Scope(StorePool(view), list(venues), instruments, [], wanted, source), ""


def extend_funding(store: Store, histories: Mapping[tuple[str, str], FundingHistory],
                   ) -> tuple[dict[tuple[str, str], FundingHistory], tuple[StoredSpan, ...]]:
    """Each venue history completed with the stored settlements older than its first point (from the start
    it was asked from): what ``funding --history`` adds beyond a venue's depth. Returns the histories
    (extended ones with a note saying which part came from where) and the stored spans used."""
    out = dict(histories)
    spans: list[StoredSpan] = []
    for (venue, symbol), history in histories.items():
        first = history.points[0].time if history.points else None
        if first is None or first <= history.start + timedelta(hours=history.points[0].interval_hours):
            continue
        rows = store.read("funding_points", venue=venue, symbol=symbol, since=history.start, until=first)
        if not rows:
            continue
        older = tuple(record_of(FundingPoint, r) for r in rows)
        span = StoredSpan(venue=venue, symbol=symbol, points=len(older), first=older[0].time, last=older[-1].time)
        spans.append(span)
        said = (f"{span.points} settlements {span.first:%Y-%m-%d %H:%M} - {span.last:%Y-%m-%d %H:%M} UTC from the "
                f"store, from {first:%Y-%m-%d %H:%M} UTC from {venue}")
        out[(venue, symbol)] = FundingHistory(
            venue=venue, symbol=symbol, start=history.start, end=history.end, points=older + history.points,
            note="; ".join(n for n in (history.note, said) if n))
    return out, tuple(spans)

