"""The options query: chains, DVOL, daily closes for realized volatility and (with flow) trades of every
asset on every options venue, concurrently; then the options desk.

Without ``chain``, ``gex`` or ``flow`` (they need every option's quote or the trades), and unless ``live``, the
history store answers instead when the collector's options snapshots in it are fresh (``options.fresh_seconds``;
``dtrack.client.stored_options``): then nothing is asked of the venues, and the result's ``source`` says so (or
why the store could not answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dtrack.analytics.selection import EXPIRY_WORDS, parse_expiry_date, price_perp, select_expiries
from dtrack.client.fetch import on_venues
from dtrack.client.inputs import as_list, check_readable, parse_min_size
from dtrack.errors import DtrackError, UsageError
from dtrack.records import Kind, Record
from dtrack.results import Answer, Failure, Fold, OptionsResult, Source, settle, unique
from dtrack.symbols import close_matches

if TYPE_CHECKING:
    from dtrack.analytics.options_desk import ChainRow, DeskOptions
    from dtrack.client.core import AsyncClient
    from dtrack.client.stored_options import StoredOptions
    from dtrack.config import Settings
    from dtrack.records import Instrument, OptionExpiry, OptionQuote, OptionTrade, PricePoint, VolPoint
    from dtrack.venues.base import Adapter
    from dtrack.venues.pool import VenuePool

DVOL_SPAN = timedelta(days=366)
RV_SPAN = timedelta(days=33)
FLOW_SPAN = timedelta(hours=24)
#: the venues' published realized volatility: the latest point within this span is shown
VENUE_RV_SPAN = timedelta(hours=6)
DAY_MS = 86_400_000


@dataclass(slots=True)
class VenueOptions:
    """One venue's answers for the options query."""

    venue: str
    quotes: list[OptionQuote] = field(default_factory=list)
    dvol: dict[str, tuple[VolPoint, ...]] = field(default_factory=dict)
    closes: dict[str, tuple[str, tuple[PricePoint, ...]]] = field(default_factory=dict)
    trades: list[OptionTrade] = field(default_factory=list)
    realized: dict[str, tuple[VolPoint, ...]] = field(default_factory=dict)
    errors: list[DtrackError] = field(default_factory=list)
    #: the venue's perpetuals and dated futures of the assets (read for the price perpetual)
    listed: list[Instrument] = field(default_factory=list)


async def summary_job(adapter: Adapter, assets: Sequence[str], end: datetime) -> VenueOptions:
    """What the options summary reads besides the chains, concurrently: the volatility index (DVOL), the venue's
    published realized volatility and the daily closes of the price perpetual of every asset (RV). A venue that
    publishes no index or realized volatility is not an error; other problems are in ``errors``."""

    async def daily_closes() -> tuple[list[Instrument], list[tuple[str, Instrument]],
                                      list[tuple[PricePoint, ...] | DtrackError]]:
        """Daily closes of a perpetual per asset (for RV): the only part that needs the futures listing,
        so it runs beside the chains, not before them."""
        try:
            listed = await adapter.contracts(assets)
        except DtrackError as exc:
            return [], [], [exc]
        perps = [i for i in listed if i.kind is Kind.PERP]
        refs = [(a, p) for a in assets if (p := price_perp([i for i in perps if i.asset == a])) is not None]
        return listed, refs, await settle([adapter.fetch_price_history(p, end - RV_SPAN, end, 24) for _, p in refs])

    dvols, realized, (listed, refs, closes) = await asyncio.gather(
        settle([adapter.fetch_vol_index(a, end - DVOL_SPAN, end) for a in assets]),
        settle([adapter.fetch_realized_vol(a, end - VENUE_RV_SPAN, end) for a in assets]),
        daily_closes(),
    )
    fold = Fold()
    out = VenueOptions(adapter.name, listed=listed)
    for asset, dvol in zip(assets, dvols, strict=True):
        if series := fold.value(dvol, optional=True):
            out.dvol[asset] = series
    for asset, rv in zip(assets, realized, strict=True):
        if series := fold.value(rv, optional=True):
            out.realized[asset] = series
    if not refs:  # the listing failed (or no perpetual to read closes from)
        for c in closes:
            fold.value(c)
        closes = []
    for (asset, perp), points in zip(refs, closes, strict=True):
        if (got := fold.value(points)) is not None:
            out.closes[asset] = (f"{adapter.name} {perp.symbol} daily closes", got)
    out.errors = fold.errors
    return out


async def venue_job(adapter: Adapter, assets: Sequence[str], flow: bool, end: datetime) -> VenueOptions:
    """Chains, DVOL, daily closes for RV and (with flow) trades of every asset, concurrently."""
    chains, out, trades = await asyncio.gather(
        settle([adapter.fetch_option_chain(a) for a in assets]),
        summary_job(adapter, assets, end),
        settle([adapter.fetch_option_trades(a, end - FLOW_SPAN, end) for a in assets] if flow else []),
    )
    failed = [c for c in chains if isinstance(c, DtrackError)]
    if len(failed) == len(chains):
        raise failed[0]  # no chain at all: the venue failed
    fold = Fold()
    out.quotes = fold.all_items(chains)
    fold.errors += out.errors
    out.trades = fold.all_items(trades, optional=True)
    out.errors = fold.errors
    return out


async def summary_snapshot(adapter: Adapter, assets: Sequence[str]) -> tuple[Answer[Record], list[Instrument]]:
    """What the options summary reads besides the chains (``summary_job``), as records for the store, and the
    contracts listed: the CLOSED daily closes of the volatility index and of the price perpetual, and the venue's
    realized-volatility points. A day still open (stamped when read) is left out, as the backfill leaves out a
    kline still open: stored, it would stay at a time that never comes again, a new row every round (a year of
    rounds would be 35,000 rows per index to read past), among the closes other readers align on the grid."""
    got = await summary_job(adapter, assets, adapter.ctx.now())
    records: list[Record] = [p for series in got.realized.values() for p in series]
    records += [p for series in got.dvol.values() for p in series if _on_day(p.time)]
    records += [p for _, closes in got.closes.values() for p in closes if _on_day(p.time)]
    return Answer(adapter.name, records, got.errors), got.listed


def _on_day(t: datetime) -> bool:
    return round(t.timestamp() * 1000) % DAY_MS == 0


async def _no_options(asset: str, venues: Sequence[str], pool: VenuePool) -> str:
    """The message for an asset no venue lists options on, naming the assets that have them where the venues'
    option lists say (and the closest one)."""
    lists = await settle([pool.adapter(v).option_assets() for v in venues])
    listed = {v: found for v, found in zip(venues, lists, strict=True) if not isinstance(found, DtrackError)}
    everywhere = sorted(set().union(*listed.values())) if listed else []
    close = close_matches(asset, everywhere)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    where = "; ".join(f"{v}: {', '.join(sorted(a))}" for v, a in listed.items() if a)
    return (f"no options on {asset} at {', '.join(venues)}" + (f"; options are listed on {where}" if where else "")
            + hint)


def _assets(texts: Sequence[str]) -> list[str]:
    """Options take assets; a contract symbol stands for its asset."""
    from dtrack.symbols import parse_asset

    names: list[str] = []
    for text in texts:
        names.append(parse_asset(text).asset)
    return list(dict.fromkeys(names))


async def run(client: AsyncClient, assets: str | Sequence[str], *, expiry: str | None, chain: bool, pcr: bool,
              flow: bool, min_size: str | float | None, gex: bool, sort: str | None = None,
              limit: int | None = None, live: bool = False) -> OptionsResult:
    """See ``AsyncClient.options``."""
    from dtrack.analytics.options_desk import DeskInputs, build_options_report
    from dtrack.analytics.screens import CHAIN_SORTS, check_count, check_sort

    texts = as_list(assets)
    if not texts:
        raise UsageError("name at least one asset, e.g. BTC")
    check_readable(texts)
    sort, limit = check_sort(sort, CHAIN_SORTS), check_count(limit, "--limit")
    if (sort is not None or limit is not None) and not chain:
        raise UsageError("--sort and --limit order the option chain: add --chain")
    if min_size is not None and not flow:
        raise UsageError("--min-size filters the trade flow: add --flow")
    min_coins, min_usd = parse_min_size(min_size)
    if expiry is not None and expiry.lower() not in EXPIRY_WORDS:
        parse_expiry_date(expiry)
    names = _assets(texts)
    settings = client.settings
    venues = client.venues_for("options")
    source = Source()
    if not (live or chain or gex or flow) and settings.options.fresh_seconds > 0 \
            and (store := client.consult_store()) is not None:
        from dtrack.client.stored_options import stored_options

        now = client.now()
        held, why = stored_options(store, settings, now, venues, names)
        if held is not None:
            return _from_store(now, names, held, expiry, pcr, settings)
        source = Source(store=store.location, note=why)
    deadline = client.deadline()
    pool = await client.pool()
    end = client.now()
    answers, failures = await on_venues(pool, venues, lambda ad: venue_job(ad, names, flow, end), deadline.left())
    results = [answers[v] for v in venues if v in answers]
    failures += [Failure.of(r.venue, e) for r in results for e in r.errors]
    now = client.now()
    quotes = [q for r in results for q in r.quotes if q.expiry > now]
    if results and not failures:
        missing = [a for a in names if not any(q.asset == a for q in quotes)]
        if missing:
            raise UsageError(await _no_options(missing[0], [r.venue for r in results], pool))
    selected = {a: select_expiries([q.expiry for q in quotes if q.asset == a], expiry, a) for a in names}
    dvol: dict[str, tuple[VolPoint, ...]] = {}
    closes: dict[str, tuple[str, tuple[PricePoint, ...]]] = {}
    for r in results:  # the first venue (in registry order) that answered wins
        for a, series in r.dvol.items():
            dvol.setdefault(a, series)
        for a, c in r.closes.items():
            closes.setdefault(a, c)
    desk = _desk(settings, selected, min_coins, min_usd)
    inputs = DeskInputs(quotes, dvol, closes, [t for r in results for t in r.trades] if flow else None,
                        venue_rv={a: [p for r in results for p in r.realized.get(a, ())] for a in names})
    report = build_options_report(now, names, inputs, desk)
    if sort is not None or limit is not None:
        report = replace(report, chain=_ordered_chain(report.chain, names, sort, limit))
    return OptionsResult(as_of=now, failures=unique(failures), all_failed=not results, report=report, chain=chain,
                         pcr=pcr, gex=gex, flow=flow, source=source)


def _desk(settings: Settings, selected: dict[str, tuple[datetime, ...]], min_coins: float | None = None,
          min_usd: float | None = None) -> DeskOptions:
    """The desk's options: the expiries shown, and the conventions from settings."""
    from dtrack.analytics.options_desk import DeskOptions

    o = settings.options
    return DeskOptions(selected=selected, rank_high=o.rank_high, rank_low=o.rank_low,
                       call_sign=-1.0 if o.dealer_calls == "short" else 1.0,
                       put_sign=-1.0 if o.dealer_puts == "short" else 1.0, min_coins=min_coins, min_usd=min_usd)


def _from_store(now: datetime, names: Sequence[str], held: StoredOptions, expiry: str | None, pcr: bool,
                settings: Settings) -> OptionsResult:
    """The options result from what the store holds (``stored_options``): the expiries ``expiry`` picks among the
    stored ones, through the same desk."""
    from dtrack.analytics.options_desk import report_from_expiries

    selected = {a: select_expiries([r.expiry for r in held.rows if r.asset == a and r.venue != "all"
                                    and r.expiry > now], expiry, a) for a in names}
    report = report_from_expiries(now, names, held.rows, held.inputs, _desk(settings, selected), held.spot,
                                  held.notes)
    return OptionsResult(as_of=now, report=report, pcr=pcr, source=held.source)


def _ordered_chain(rows: Sequence[ChainRow], assets: Sequence[str], sort: str | None,
                   limit: int | None) -> tuple[ChainRow, ...]:
    """Each asset's chain ordered by ``sort`` (``analytics.screens.chain_key``; None: as built) and cut at ``limit``
    options per asset; options whose sort key is unknown (no IV) follow the others."""
    from dtrack.analytics.screens import chain_key, order_rows

    out: list[ChainRow] = []
    for asset in assets:
        mine = [r for r in rows if r.quote.asset == asset]
        if sort is not None:
            key, descending = chain_key(sort)
            mine = order_rows(mine, key, top=None, descending=descending)
        out += mine[:limit] if limit is not None else mine
    return tuple(out)


def expiry_records(now: datetime, quotes: Sequence[OptionQuote]) -> list[OptionExpiry]:
    """The per-expiry metrics of every expiry of ``quotes`` still to come, as ``options(expiry="all")`` computes
    them from the same chains (the options desk): one record per venue and expiry, and one per expiry listed on
    more than one venue (venue ``"all"``, the aggregate), for keeping in the store. ``received_at`` is ``now``,
    ``time`` the latest venue time among the expiry's quotes."""
    from dtrack.analytics.options_desk import DeskInputs, DeskOptions, build_options_report
    from dtrack.records import OptionExpiry
    from dtrack.report.format import FORWARD_TOKENS

    live = [q for q in quotes if q.expiry > now]
    names = list(dict.fromkeys(q.asset for q in live))
    selected = {a: select_expiries([q.expiry for q in live if q.asset == a], "all", a) for a in names}
    report = build_options_report(now, names, DeskInputs(live), DeskOptions(selected=selected))
    latest: dict[tuple[str, str, datetime], datetime] = {}
    for q in live:
        if q.time is None:
            continue
        for key in ((q.venue, q.asset, q.expiry), ("all", q.asset, q.expiry)):
            seen = latest.get(key)
            if seen is None or q.time > seen:
                latest[key] = q.time
    return [OptionExpiry(
        venue=e.venue, asset=e.asset, expiry=e.expiry, time=latest.get((e.venue, e.asset, e.expiry)),
        received_at=now, days=e.days, forward=e.forward, forward_source=FORWARD_TOKENS.get(e.forward_source),
        atm_iv=e.atm_iv, rr25=e.rr25, bf25=e.bf25, pcr_oi=e.pcr_oi, pcr_volume=e.pcr_volume,
        pcr_premium=e.pcr_premium, max_pain=e.max_pain, oi_contracts=e.oi_contracts, oi_coins=e.oi_coins,
        oi_usd=e.oi_usd, volume_usd=e.volume_usd, options=e.options, call_oi=e.call_oi, put_oi=e.put_oi,
        call_volume=e.call_volume, put_volume=e.put_volume) for e in (*report.expiries, *report.aggregate)]
