"""The funding query: current rates of every perpetual of the asked assets, their histories, the
OI-weighted summary, arbitrage pairs, alerts and position payments."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from dtrack.client.fetch import known_assets, on_venues, scope
from dtrack.client.inputs import (
    Wanted,
    as_list,
    check_readable,
    parse_duration,
)
from dtrack.client.stored import Needs
from dtrack.errors import UsageError, clip
from dtrack.records import FundingRate, Instrument, Kind
from dtrack.results import Failure, FundingResult, unique

if TYPE_CHECKING:
    from dtrack.analytics.funding import FundingReport, ReportOptions
    from dtrack.analytics.screens import ScreenInfo
    from dtrack.client.core import AsyncClient
    from dtrack.config import Settings

#: averages always use at least this much history
MIN_HISTORY = timedelta(days=7)


def store_needs(span: timedelta) -> Needs:
    """What a store answer needs: every perpetual's current funding, and its settled funding from ``span`` ago
    (or as far back as the venue keeps it) up to now."""
    return Needs(snapshots=("funding_rates",), series=("funding_points",), span=span)


def _check(history: str | timedelta | None, arb: bool, min_spread: float | None, alert_threshold: float | None,
           position: float | None, side: str | None) -> timedelta:
    if isinstance(history, str) and not history.strip():
        raise UsageError("bad --history '': expected a duration like 24h, 7d or 30d")
    window = parse_duration(history, "--history") if history is not None else MIN_HISTORY
    if min_spread is not None and not arb:
        raise UsageError("--min-spread filters arbitrage pairs: add --arb")
    if (position is None) != (side is None):
        raise UsageError("--position and --side go together, e.g. --position 10000 --side long")
    if side is not None and side not in ("long", "short"):
        raise UsageError(f"--side is long or short, got {clip(side)!r}")
    if position is not None and not (math.isfinite(position) and position > 0):
        raise UsageError(f"--position must be a positive USD notional, got {position:g}")
    if alert_threshold is not None and not (math.isfinite(alert_threshold) and alert_threshold >= 0):
        raise UsageError(f"--alert-threshold is a percent per 8 h (e.g. 0.08), got {alert_threshold:g}")
    if min_spread is not None and not (math.isfinite(min_spread) and min_spread >= 0):
        raise UsageError(f"--min-spread is a percent per 8 h (e.g. 0.02), got {min_spread:g}")
    return window


async def run(client: AsyncClient, assets: str | Sequence[str] | None, *, history: str | timedelta | None,
              arb: bool, min_spread: float | None, alert_threshold: float | None, position: float | None,
              side: str | None, live: bool = False, top: int | None = None, sort: str | None = None,
              min_oi: float | None = None, limit: int | None = None) -> FundingResult:
    """See ``AsyncClient.funding``."""
    from dtrack.analytics.funding import build_report, coverage_note

    texts = as_list(assets) if assets is not None else []
    screen = _check_screen(texts, arb, top, sort, min_oi, limit)
    check_readable(texts)
    window = _check(history, arb, min_spread, alert_threshold, position, side)
    settings = client.settings
    deadline = client.deadline()
    listed = await scope(client, "funding", texts, (Kind.PERP,), deadline, needs=store_needs(max(window, MIN_HISTORY)),
                         live=live)
    now = client.now()
    opts = _report_options(settings, window, alert_threshold, arb, min_spread, position, side)
    if not listed.instruments:
        report = build_report(now, listed.assets(texts), [], {}, opts)
        return FundingResult(as_of=now, failures=unique(listed.failures), all_failed=True, report=report,
                             show_history=history is not None, source=listed.source, screen=screen)
    perps = [i for insts in listed.instruments.values() for i in insts if i.kind is Kind.PERP]
    if not listed.failures:
        _check_quotes(listed.wanted, perps)
    # without assets (a screen): every asset with a listed perpetual, current rates only unless --history asks
    names = listed.assets(texts) if texts else sorted(known_assets(listed.instruments, (Kind.PERP,)))
    span: timedelta | None = max(window, MIN_HISTORY) if texts or history is not None else None
    answers, more = await on_venues(listed.pool, list(listed.instruments), lambda a: a.fetch_funding(names, span),
                                    deadline.left())
    results = [answers[v] for v in listed.venues if v in answers]
    for res in results:
        more += [Failure.of(res.venue, e) for e in res.errors]
    failures = listed.failures
    rates = [r for res in results for r in res.rates if listed.matches(r.instrument)]
    now = client.now()
    got = {(res.venue, sym): h for res in results for sym, h in res.history.items()}
    source = listed.source
    if history is not None and source.kind == "venues" and (store := client.consult_store()) is not None:
        from dtrack.client.stored import extend_funding

        got, spans = extend_funding(store, got)
        source = replace(source, store=store.location, history_from_store=spans) if spans else source
    histories = {key: (h.points, coverage_note(h, now - window)) for key, h in got.items()}
    report = build_report(now, names, rates, histories, opts)
    if screen is not None:
        report, screen = _screened(report, rates, screen)
    return FundingResult(as_of=now, failures=unique(failures + more), all_failed=not results, report=report,
                         show_history=history is not None, source=source, screen=screen,
                         series={key: tuple(h.points) for key, h in got.items()})


def _check_screen(texts: Sequence[str], arb: bool, top: int | None, sort: str | None, min_oi: float | None,
                  limit: int | None) -> ScreenInfo | None:
    """The screen / ordering asked (None: neither), checked."""
    from dtrack.analytics.screens import FUNDING_SORTS, ScreenInfo, check_count, check_min_oi, check_sort

    top = check_count(top, "--top")
    limit = check_count(limit, "--limit")
    key = check_sort(sort, FUNDING_SORTS)
    min_oi = check_min_oi(min_oi)
    if not texts and top is None:
        raise UsageError("name at least one asset, e.g. BTC, or screen every listed perpetual with --top N")
    if limit is not None and not arb:
        raise UsageError("--limit keeps the first N arbitrage pairs: add --arb (--top N limits the rate rows)")
    if top is None and key is None and min_oi is None and limit is None:
        return None
    return ScreenInfo(sort=key or ("apr" if top is not None else None), top=top, limit=limit, min_oi=min_oi)


def _screened(report: FundingReport, rates: Sequence[FundingRate], info: ScreenInfo,
              ) -> tuple[FundingReport, ScreenInfo]:
    """The report's rows filtered by ``--min-oi``, ordered by ``--sort`` and cut at ``--top`` (the per-asset
    summaries of the assets shown, computed over every perpetual of those assets), and its arbitrage pairs
    ordered by ``--sort`` and cut at ``--limit``."""
    from dtrack.analytics.screens import funding_spreads, order_pairs, screen_funding

    spreads = funding_spreads(rates)
    pool = [r for r in rates if info.min_oi is None
            or (r.open_interest_usd is not None and r.open_interest_usd >= info.min_oi)]
    picked = pool
    if info.sort is not None:
        picked = screen_funding(rates, sort=info.sort, top=info.top, min_oi=info.min_oi)
        if info.top is None:  # an ordering, not a screen: rows without the sort key follow, none is dropped
            ranked = set(map(id, picked))
            picked += [r for r in pool if id(r) not in ranked]
    order = {(r.instrument.venue, r.instrument.symbol): n for n, r in enumerate(picked)}
    rows = sorted((row for row in report.rows if (row.rate.instrument.venue, row.rate.instrument.symbol) in order),
                  key=lambda row: order[(row.rate.instrument.venue, row.rate.instrument.symbol)])
    shown = {row.rate.instrument.asset for row in rows}
    summary = report.summary if info.top is None else tuple(s for s in report.summary if s.asset in shown)
    pairs = report.arbitrage
    if pairs is not None:
        pairs = tuple(order_pairs(pairs, info.sort, info.limit))
    kept = {(row.rate.instrument.venue, row.rate.instrument.symbol) for row in rows}
    info = replace(info, screened=len(rates), spreads={k: v for k, v in spreads.items() if k in kept})
    return replace(report, rows=tuple(rows), summary=summary, arbitrage=pairs), info


def _check_quotes(wanted: Sequence[Wanted], perps: Sequence[Instrument]) -> None:
    for w in wanted:
        if w.narrowed and not any(w.matches(i) for i in perps):
            quotes = sorted({f"{i.asset}/{i.quote}:{i.settle}" for i in perps if i.asset == w.asset})
            raise UsageError(f"no perpetual matches {w.text!r}; listed: {', '.join(quotes)}")


def _report_options(settings: Settings, window: timedelta, alert_pct: float | None, arb: bool,
                    min_spread_pct: float | None, position: float | None, side: str | None) -> ReportOptions:
    from dtrack.analytics.funding import ReportOptions
    from dtrack.venues import ACTIVE, VENUES

    bands = settings.funding.sentiment
    alert = alert_pct / 100.0 if alert_pct is not None else settings.funding.alert_threshold
    return ReportOptions(
        history_window=window,
        sentiment_bands=(bands.extreme, bands.strong, bands.moderate),
        alert_threshold=alert,
        arb=arb,
        min_spread_8h=min_spread_pct / 100.0 if min_spread_pct is not None else None,
        fees={v: settings.taker_fee(v, VENUES[v].taker_fee_pct / 100.0) for v in ACTIVE},
        holding_days=settings.funding.arb_holding_days,
        position=(position, side) if position is not None and side is not None else None,
    )
