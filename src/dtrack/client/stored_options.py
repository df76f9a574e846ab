"""``options`` answered from the history store, without the network.

The collector's options snapshot (``client.queries.snapshot``, every ``collect.snapshots.options`` s) keeps the
per-expiry metrics of every listed expiry (``option_expiries``: per venue, and across venues as venue ``"all"``)
and what the options summary reads besides the chains: a year of daily closes of the volatility index
(``vol_points``), the venues' published realized volatility (``vol_points``) and the daily closes of each venue's
price perpetual (``price_points``), closed days only. ``stored_options`` reads them back:

- per asked asset and chosen venue, the latest batch of ``option_expiries`` rows (one ``received_at``: one
  snapshot round) received within ``options.fresh_seconds``. A venue with no such batch of an asset is not taken
  as "lists no options there" (the store cannot tell that from "nobody collected it"): then the venues are asked.
  An expiry the latest round wrote no row of is served from its latest earlier row within the window when that
  row has a venue time (its venue time had not changed, so the natural key kept the first row; or the latest round
  did not list it: the store cannot tell which). Such a row is as old as its own round: the answer's age is that of
  the oldest row served, and the source names the expiries served from an earlier round;
- the aggregate rows (``"all"``) of the same round, when that round covered exactly the chosen venues (with
  ``--venue`` picking fewer, the stored aggregate is over others: it is left out and the source says so);
- the daily closes of the last year of the volatility index of the first chosen venue publishing one; the
  venues' realized volatility over the last 6 hours (the latest point per venue is shown); the daily closes (33
  days) of the price perpetual of the first chosen venue. A series the store has kept but not up to the round's
  day makes the venues be asked; one it does not keep at all is left out and the source says so;
- spot: the median index price of the chosen venues' price perpetuals in the store's ``price_quotes`` (basis
  snapshots and the live streams) within the window, not a forward; None, with a note, when there is none.

Differences from the venues' answer at the same moment, by construction: the summary has no GEX (that needs the
chain); its DVOL is the last daily close (the rank and percentile are of that close among the year's), and its
30-day RV is over 30 closed days: the venues' answer uses the day still open for both, which the store does not
keep (as the backfill keeps closed klines only: a point of a day still open would stay at a time that never comes
again, a new row every round). The summary's note says so.

Volatility series are named by the venues' parsers ``ASSET-…``: realized volatility ``ASSET-HV…`` (Deribit
``BTC-HV``, Bybit ``BTC-HV30D``), the index any other (Deribit ``BTC-DVOL``); only venues whose capability table
offers the kind are read for it.

Nothing here imports aiohttp: a store answer never opens the network.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from dtrack.client.queries.options import DAY_MS, DVOL_SPAN, RV_SPAN, VENUE_RV_SPAN
from dtrack.client.stored import CLOCK_SKEW, NotServed, StoreView, record_of
from dtrack.errors import StoreError
from dtrack.records import DataKind, Kind, OptionExpiry, PricePoint, PriceQuote, VolPoint
from dtrack.results import Source

if TYPE_CHECKING:
    from dtrack.analytics.options_desk import DeskInputs, ExpiryRow
    from dtrack.config import Settings
    from dtrack.store import Row, Store

DAY = timedelta(days=1)
#: a round that crossed midnight read the closes just before it
CLOSES_SLACK = timedelta(minutes=5)
#: the span of stored quotes read first for spot
SPOT_FIRST = timedelta(minutes=1)


@dataclass(slots=True)
class StoredOptions:
    """What the store holds for an options answer: the per-expiry ``rows`` (every expiry of each chosen venue in
    venue order, then the aggregate rows), the summary's ``inputs``, ``spot`` and ``notes`` per asset, and the
    ``source`` (the store, the age of the oldest row served, what is left out or from an earlier round)."""

    rows: list[ExpiryRow]
    inputs: DeskInputs
    spot: dict[str, float | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    source: Source = field(default_factory=Source)


def stored_options(store: Store, settings: Settings, now: datetime, venues: Sequence[str],
                   assets: Sequence[str]) -> tuple[StoredOptions | None, str]:
    """The store's answer for ``options`` of ``assets`` on ``venues`` (None when it cannot answer), and why not."""
    try:
        return _read(store, settings, now, venues, assets), ""
    except NotServed as exc:
        return None, str(exc)
    except StoreError as exc:
        return None, f"the store could not be read ({exc})"


def _read(store: Store, settings: Settings, now: datetime, venues: Sequence[str],
          assets: Sequence[str]) -> StoredOptions:
    from dtrack.analytics.options_desk import DeskInputs, expiry_row_of

    fresh = timedelta(seconds=settings.options.fresh_seconds)
    window = f"in the last {fresh.total_seconds():g} s (options.fresh_seconds)"
    rows = store.read("option_expiries", asset=list(assets), since=now - fresh, until=now + CLOCK_SKEW)
    batches = _batches(rows, now)
    omitted: list[str] = []
    rounds: dict[tuple[str, str], datetime] = {}
    for asset in assets:
        for v in venues:
            got = batches.get((v, asset))
            if got is None:
                raise NotServed(f"no option_expiries of {v} {asset} {window}")
            rounds[(v, asset)] = got[0]
    served: list[OptionExpiry] = []
    for asset in assets:
        for v in venues:
            served += _earlier(batches[(v, asset)], omitted)
        if len(venues) > 1:
            aggregate = _aggregate(batches, rows, venues, asset)
            if aggregate is None:
                omitted.append(f"the cross-venue aggregate of {asset} over {', '.join(venues)} is not in the store "
                               "(--live computes it)")
            else:
                rounds[("all", asset)] = aggregate[0]
                served += _earlier(aggregate, omitted)
    out = [expiry_row_of(r) for r in served]
    view = StoreView(store, settings, now, fresh)
    view.load_instruments(venues)
    dvol, realized, closes = {}, {}, {}
    notes: dict[str, list[str]] = {a: [] for a in assets}
    for asset in assets:
        at = min(rounds[(v, asset)] for v in venues)
        if (series := _index(store, venues, asset, at, omitted)) is not None:
            dvol[asset] = series
            notes[asset].append(f"DVOL: the daily close of {series[-1].time:%Y-%m-%d %H:%M} UTC (the store keeps "
                                "closed days; --live: its value now)")
        realized[asset] = _realized(store, venues, asset, now, omitted)
        if (got_closes := _closes(store, view, venues, asset, at, omitted)) is not None:
            closes[asset] = got_closes
    spot = _spot(store, view, venues, assets, now, fresh, notes)
    oldest = min(r.received_at for r in served)  # a row of an earlier round is as old as that round
    source = Source(kind="store", store=store.location, age_seconds=round(max(0.0, (now - oldest).total_seconds()), 3),
                    snapshot_time=oldest, note="; ".join(omitted))
    return StoredOptions(rows=out, inputs=DeskInputs((), dvol, closes, None, venue_rv=realized), spot=spot,
                         notes={a: "; ".join(n) for a, n in notes.items() if n}, source=source)


def _batches(rows: Sequence[Row], now: datetime) -> dict[tuple[str, str], tuple[datetime, list[OptionExpiry]]]:
    """Per (venue, asset): the latest round's time and its rows of expiries after ``now``, with the rows of earlier
    rounds (in the window, each the latest of its expiry) of expiries the latest round did not write, when they have a
    venue time (it had not changed, or the latest round did not list them: the store cannot tell which)."""
    latest: dict[tuple[str, str], datetime] = {}
    by_expiry: dict[tuple[str, str], dict[datetime, Row]] = {}
    for row in rows:  # ordered by received_at: the last one wins
        key = (str(row["venue"]), str(row["asset"]))
        latest[key] = cast(datetime, row["received_at"])
        by_expiry.setdefault(key, {})[cast(datetime, row["expiry"])] = row
    out: dict[tuple[str, str], tuple[datetime, list[OptionExpiry]]] = {}
    for key, at in latest.items():
        kept = [r for e, r in sorted(by_expiry[key].items())
                if e > now and (r["received_at"] == at or r["time"] is not None)]
        if kept:
            out[key] = (at, [record_of(OptionExpiry, r) for r in kept])
    return out


def _earlier(batch: tuple[datetime, list[OptionExpiry]], notes: list[str]) -> list[OptionExpiry]:
    """The rows of ``batch``, with a note naming those of rounds before the latest (per round)."""
    at, got = batch
    before: dict[datetime, list[OptionExpiry]] = {}
    for r in got:
        if r.received_at != at:
            before.setdefault(r.received_at, []).append(r)
    for then, old in sorted(before.items()):
        days = ", ".join(f"{r.expiry:%Y-%m-%d}" for r in old)
        notes.append(f"{old[0].venue} {old[0].asset} {days}: from the round of {then:%Y-%m-%d %H:%M:%S} UTC (the "
                     f"latest, {at:%Y-%m-%d %H:%M:%S} UTC, wrote no row of {'it' if len(old) == 1 else 'them'})")
    return got


def _aggregate(batches: dict[tuple[str, str], tuple[datetime, list[OptionExpiry]]], rows: Sequence[Row],
               venues: Sequence[str], asset: str) -> tuple[datetime, list[OptionExpiry]] | None:
    """The aggregate rows of ``asset`` when their round covered exactly ``venues`` (each chosen venue's latest
    batch from that round, and no other venue in it), else None."""
    got = batches.get(("all", asset))
    if got is None:
        return None
    at = got[0]
    covered = {str(r["venue"]) for r in rows if r["asset"] == asset and r["received_at"] == at} - {"all"}
    if covered != set(venues) or any(batches[(v, asset)][0] != at for v in venues):
        return None
    return got


def _offering(venues: Sequence[str], kind: DataKind) -> list[str]:
    from dtrack.venues import VENUES

    return [v for v in venues if VENUES[v].offers(kind)]


def _vol_series(store: Store, venue: str, asset: str, since: datetime, until: datetime,
                realized: bool) -> list[VolPoint]:
    """The stored points of ``venue``'s volatility index (``realized``: its realized volatility) of ``asset``
    (the series found first with one grouped query, then only theirs read)."""
    prefix = f"{asset}-"
    held = store.series_range("vol_points", venue=venue, since=since, until=until)
    symbols = sorted(s for _, s in held if s.startswith(prefix) and s[len(prefix):].startswith("HV") == realized)
    if not symbols:
        return []
    return [record_of(VolPoint, r) for r in store.read("vol_points", venue=venue, symbol=symbols, since=since,
                                                       until=until)]


def _on_day(t: datetime) -> bool:
    from dtrack.store import to_ms

    return to_ms(t) % DAY_MS == 0


def _index(store: Store, venues: Sequence[str], asset: str, at: datetime,
           omitted: list[str]) -> tuple[VolPoint, ...] | None:
    """The daily closes of the last year (up to the round at ``at``) of the volatility index of the first venue
    publishing one."""
    offering = _offering(venues, DataKind.VOL_INDEX)
    for v in offering:
        points = [p for p in _vol_series(store, v, asset, at - DVOL_SPAN, at + CLOCK_SKEW, realized=False)
                  if _on_day(p.time)]
        if not points:
            continue
        if points[-1].time < _due(at):
            raise NotServed(f"the store's volatility index of {v} {asset} ends {points[-1].time:%Y-%m-%d %H:%M} UTC")
        return tuple(points)
    if offering:
        omitted.append(f"the volatility index of {', '.join(offering)} for {asset} is not in the store")
    return None


def _due(at: datetime) -> datetime:
    """The last daily close a round at ``at`` read (the midnight before it)."""
    from dtrack.store import from_ms, to_ms

    return from_ms(to_ms(at - CLOSES_SLACK) // DAY_MS * DAY_MS)


def _realized(store: Store, venues: Sequence[str], asset: str, now: datetime, omitted: list[str]) -> list[VolPoint]:
    """The venues' published realized volatility of the last 6 hours (the summary shows each venue's latest)."""
    out: list[VolPoint] = []
    missing: list[str] = []
    for v in _offering(venues, DataKind.REALIZED_VOL):
        points = _vol_series(store, v, asset, now - VENUE_RV_SPAN, now + CLOCK_SKEW, realized=True)
        if not points and not _vol_series(store, v, asset, now - DAY, now + CLOCK_SKEW, realized=True):
            missing.append(v)
        out += points
    if missing:
        omitted.append(f"the realized volatility of {', '.join(missing)} for {asset} is not in the store")
    return out


def _price_perp(view: StoreView, venue: str, asset: str) -> str | None:
    from dtrack.analytics.selection import price_perp

    perp = price_perp([i for i in view.instruments.get(venue, []) if i.kind is Kind.PERP and i.asset == asset])
    return None if perp is None else perp.symbol


def _closes(store: Store, view: StoreView, venues: Sequence[str], asset: str, at: datetime,
            omitted: list[str]) -> tuple[str, tuple[PricePoint, ...]] | None:
    """The closed daily closes (33 days up to the round at ``at``) of the price perpetual of the first venue whose
    stored closes reach the round's day."""
    due = _due(at)
    behind: list[str] = []
    for v in venues:
        symbol = _price_perp(view, v, asset)
        if symbol is None:
            continue
        rows = store.read("price_points", venue=v, symbol=symbol, since=at - RV_SPAN, until=at + CLOCK_SKEW)
        points = tuple(p for p in (record_of(PricePoint, r) for r in rows) if _on_day(p.time))
        if points and points[-1].time >= due:
            return f"{v} {symbol} closed daily closes (the store)", points
        if points:
            behind.append(f"{v} {symbol} ends {points[-1].time:%Y-%m-%d %H:%M} UTC")
    if behind:
        raise NotServed(f"the store's daily closes of {asset} are behind ({'; '.join(behind)})")
    omitted.append(f"daily closes of a {asset} perpetual are not in the store (no 30-day RV)")
    return None


def _spot(store: Store, view: StoreView, venues: Sequence[str], assets: Sequence[str], now: datetime,
          fresh: timedelta, notes: dict[str, list[str]]) -> dict[str, float | None]:
    """Per asset: the median index price of the chosen venues' price perpetuals (the latest stored quote of each
    within the window), or None with a note. The last minute is read first: with the live streams the store holds
    a quote a second of each contract."""
    spot: dict[str, float | None] = {}
    for asset in assets:
        perps = {(v, s) for v in venues if (s := _price_perp(view, v, asset)) is not None}
        latest: dict[tuple[str, str], float] = {}
        for span in sorted({min(SPOT_FIRST, fresh), fresh}) if perps else ():
            rows = store.read("price_quotes", venue=list(venues), symbol=sorted({s for _, s in perps}), asset=asset,
                              since=now - span, until=now + CLOCK_SKEW)
            for row in rows:  # ordered by received_at: the last one wins
                quote = record_of(PriceQuote, row)
                key = (quote.instrument.venue, quote.instrument.symbol)
                if key in perps and quote.index_price is not None:
                    latest[key] = quote.index_price
            if len(latest) == len(perps):
                break
        spot[asset] = float(statistics.median(latest.values())) if latest else None
        if not latest:
            notes[asset].append(f"spot: no index price of a {asset} perpetual in the store in the last "
                                f"{fresh.total_seconds():g} s")
    return spot
