"""The open-interest query: every perpetual's and dated future's open interest, its history (changes),
long/short ratios and kline closes (divergence), one round per venue after the instrument list."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from dtrack.analytics.selection import period_for, price_perp
from dtrack.client.fetch import known_assets, on_venues, scope
from dtrack.client.inputs import as_list, check_readable, parse_duration
from dtrack.client.stored import Needs
from dtrack.errors import DtrackError, UsageError
from dtrack.records import DataKind, Instrument, Kind
from dtrack.results import Failure, Fold, OpenInterestResult, settle, unique

if TYPE_CHECKING:
    from datetime import datetime

    from dtrack.analytics.open_interest import OIReport
    from dtrack.analytics.screens import ScreenInfo
    from dtrack.client.core import AsyncClient
    from dtrack.records import LongShortRatio, OIHistory, OpenInterest, PricePoint
    from dtrack.venues.base import Adapter

CHANGES_SPAN = timedelta(days=7)
MAX_WINDOW = timedelta(days=30)


@dataclass(slots=True)
class VenueOI:
    """One venue's answers to the OI query."""

    venue: str
    oi: list[OpenInterest]
    histories: dict[str, OIHistory] = field(default_factory=dict)
    missing_history: dict[str, str] = field(default_factory=dict)
    long_short: list[LongShortRatio] = field(default_factory=list)
    prices: dict[str, tuple[PricePoint, ...]] = field(default_factory=dict)
    errors: list[DtrackError] = field(default_factory=list)


async def venue_job(adapter: Adapter, assets: Sequence[str], wanted: Callable[[Instrument], bool],
                    history_span: timedelta, with_prices: bool, end: datetime, long_short: bool = True) -> VenueOI:
    """Everything one venue is asked, in one round after the (cached) instrument list (``long_short``: the
    long/short ratios of every asset too; a screen of every listed contract leaves them out)."""
    from dtrack.venues import VENUES

    contracts = [i for i in await adapter.contracts(assets) if wanted(i)]
    perps = [i for i in contracts if i.kind is Kind.PERP]
    period = period_for(history_span)
    start = end - history_span - timedelta(hours=2 * period)
    history_cap = VENUES[adapter.name].capability(DataKind.OI_HISTORY)
    history_of = perps if history_span and history_cap.supported else []
    # klines only from venues that publish them (the registry says which): a venue without is no failure
    with_klines = with_prices and VENUES[adapter.name].capability(DataKind.KLINES).supported
    price_of = [p for a in assets if (p := price_perp([i for i in perps if i.asset == a])) is not None] \
        if with_klines else []
    oi_done, histories, ratios, prices = await asyncio.gather(
        settle([adapter.fetch_open_interest(contracts)]),
        settle([adapter.fetch_oi_history(i, start, end, period) for i in history_of]),
        settle([adapter.fetch_long_short(a, [i for i in perps if i.asset == a]) for a in assets] if long_short else []),
        settle([adapter.fetch_price_history(i, start, end, period) for i in price_of]),
    )
    if isinstance(oi_done[0], DtrackError):
        raise oi_done[0]
    fold = Fold()
    out = VenueOI(adapter.name, fold.items(oi_done[0]))
    if history_span and not history_cap.supported:
        out.missing_history[adapter.name] = history_cap.note
    for inst, history in zip(history_of, histories, strict=True):
        got = fold.value(history)
        if got is None:
            out.missing_history[f"{adapter.name}:{inst.symbol}"] = f"history failed ({fold.errors[-1].kind})"
        else:
            out.histories[inst.symbol] = got
    out.long_short = fold.all_items(ratios, optional=True)
    for inst, points in zip(price_of, prices, strict=True):
        if (closes := fold.value(points)) is not None:
            out.prices[inst.asset] = closes
    out.errors = fold.errors
    return out


def store_needs(changes: bool, divergence: bool) -> Needs | None:
    """What a store answer needs: every contract's open interest and the long/short ratios the store keeps;
    with ``changes``, every perpetual's open-interest history up to now. ``divergence`` compares with the
    price up to now (the open kline), which the store does not keep: the venues answer it."""
    if divergence:
        return None
    return Needs(snapshots=("open_interest",), per_asset=("long_short",), series=("oi_points",) if changes else (),
                 span=CHANGES_SPAN if changes else timedelta(0))


async def run(client: AsyncClient, assets: str | Sequence[str] | None, *, changes: bool, divergence: bool,
              window: str | timedelta, live: bool = False, top: int | None = None, sort: str | None = None,
              min_oi: float | None = None) -> OpenInterestResult:
    """See ``AsyncClient.open_interest``."""
    from dtrack.analytics.open_interest import CHANGE_WINDOWS, OIInputs, build_oi_report

    texts = as_list(assets) if assets is not None else []
    screen = _check_screen(texts, top, sort, min_oi, divergence)
    changes = changes or (screen is not None and screen.sort == "change_24h")
    check_readable(texts)
    span = parse_duration(window, "--window", MAX_WINDOW)
    settings = client.settings
    history_span = max(CHANGES_SPAN if changes else timedelta(0), span if divergence else timedelta(0))
    deadline = client.deadline()
    listed = await scope(client, "open_interest", texts, (Kind.PERP, Kind.FUTURE), deadline,
                         needs=store_needs(changes, divergence), live=live)
    # without assets (a screen): every asset with a listed perpetual or future
    names = listed.assets(texts) if texts else sorted(known_assets(listed.instruments, (Kind.PERP, Kind.FUTURE)))
    failures = listed.failures
    results: list[VenueOI] = []
    if listed.instruments:
        end = client.now()
        answers, more = await on_venues(listed.pool, list(listed.instruments), lambda ad: venue_job(
            ad, names, listed.matches, history_span, divergence, end, long_short=bool(texts)), deadline.left())
        results = [answers[v] for v in listed.venues if v in answers]
        failures += more + [Failure.of(r.venue, e) for r in results for e in r.errors]
    inputs = OIInputs(
        oi=[o for r in results for o in r.oi],
        histories={(r.venue, s): h for r in results for s, h in r.histories.items()},
        missing_history={k: v for r in results for k, v in r.missing_history.items()},
        long_short=[x for r in results for x in r.long_short],
        prices={(r.venue, a): p for r in results for a, p in r.prices.items()},
    )
    now = client.now()
    windows = tuple(CHANGE_WINDOWS) if changes else ()
    report = build_oi_report(now, names, inputs, windows, span if divergence else None,
                             settings.oi.divergence_oi, settings.oi.divergence_price)
    if screen is not None:
        report, screen = _screened(report, screen)
    return OpenInterestResult(as_of=now, failures=unique(failures), all_failed=not results, report=report,
                              source=listed.source, screen=screen, inputs=inputs)


def _check_screen(texts: Sequence[str], top: int | None, sort: str | None, min_oi: float | None,
                  divergence: bool) -> ScreenInfo | None:
    """The screen / ordering asked (None: neither), checked."""
    from dtrack.analytics.screens import OI_SORTS, ScreenInfo, check_count, check_min_oi, check_sort

    top = check_count(top, "--top")
    key = check_sort(sort, OI_SORTS)
    min_oi = check_min_oi(min_oi)
    if not texts and top is None:
        raise UsageError("name at least one asset, e.g. BTC, or screen every listed contract with --top N")
    if not texts and divergence:
        raise UsageError("--divergence compares named assets: name them (e.g. dtrack oi BTC ETH --divergence)")
    if top is None and key is None and min_oi is None:
        return None
    return ScreenInfo(sort=key or ("oi" if top is not None else None), top=top, min_oi=min_oi)


def _screened(report: OIReport, info: ScreenInfo) -> tuple[OIReport, ScreenInfo]:
    """The report's rows with at least ``--min-oi`` USD, ordered by ``--sort`` and cut at ``--top``; the per-asset
    summaries of the assets shown (computed over every contract of those assets)."""
    from dtrack.analytics.screens import oi_key, order_rows

    pool = [r for r in report.rows if info.min_oi is None or r.oi.usd >= info.min_oi]
    rows = order_rows(pool, oi_key(info.sort), top=info.top) if info.sort is not None else pool
    shown = {r.oi.instrument.asset for r in rows}
    summary = report.summary if info.top is None else tuple(s for s in report.summary if s.asset in shown)
    return replace(report, rows=tuple(rows), summary=summary), replace(info, screened=len(report.rows))
