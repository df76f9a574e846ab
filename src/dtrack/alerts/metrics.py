"""What an alert rule can watch, read from the client's answers (pure: no I/O, no clock).

Each metric reads ``Reading`` s from one query's result (``Inputs``): a value per contract (funding, basis, a
liquidation), per venue (30-day ATM IV), or per asset across venues (``venue`` ``all``: open-interest change,
liquidations per hour). ``venues`` narrows what is read: per-contract metrics keep those venues' contracts; the
per-asset totals become each named venue's own total; the funding spread is taken among those venues only.

Units: every rate, change and volatility is a fraction (0.001 = 0.1 %); money is USD.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dtrack.report.format import amount, hours, pct, price, usd

if TYPE_CHECKING:
    from dtrack.records import FundingRate
    from dtrack.results import BasisResult, FundingResult, OpenInterestResult, OptionsResult


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """One value a rule compares: of ``asset`` on ``venue`` (``all``: across venues; ``a/b``: between two),
    of ``symbol`` where one contract is meant, at ``time`` (the data's own time). ``key`` tells readings of one
    metric apart across runs (the cooldown is per key); ``event`` marks a one-off event (a liquidation), which is
    alerted once. ``detail``: the numbers behind the value, one line."""

    metric: str
    asset: str
    venue: str
    symbol: str | None
    value: float
    time: datetime | None
    key: str
    detail: str = ""
    event: bool = False


@dataclass(slots=True)
class Inputs:
    """The client's answers a check read (None: not asked, or the query failed); ``options`` per asset."""

    funding: FundingResult | None = None
    oi: OpenInterestResult | None = None
    basis: BasisResult | None = None
    options: list[OptionsResult] = field(default_factory=list)
    liquidations: Any = None  # a ``LiquidationsResult``


Reader = Callable[[Inputs, Sequence[str]], list[Reading]]


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric: its name, how it is shown (``label``, percent ``digits`` and ``signed``, or USD), the query it
    reads (``source``), what it measures (``about``) and its reader."""

    name: str
    label: str
    source: str
    unit: str  # "fraction" or "usd"
    about: str
    read: Reader
    digits: int = 2
    signed: bool = True

    def show(self, value: float, *, signed: bool | None = None) -> str:
        """A value as text: ``+0.1234%``, ``85.0%``, ``$1.20M`` (``signed``: a + before a positive percent;
        default: the metric's)."""
        if self.unit == "usd":
            return usd(value)
        return pct(value, self.digits, sign=self.signed if signed is None else signed)


def _wanted(venue: str, venues: Sequence[str]) -> bool:
    return not venues or venue in venues


def _when(rate: FundingRate) -> datetime:
    return rate.time if rate.time is not None else rate.received_at


def _funding(inputs: Inputs, venues: Sequence[str], apr: bool) -> list[Reading]:
    if inputs.funding is None:
        return []
    out = []
    for row in inputs.funding.report.rows:
        r, inst = row.rate, row.rate.instrument
        if not _wanted(inst.venue, venues):
            continue
        detail = (f"rate {pct(r.rate)} per {hours(r.interval_hours)}, "
                  + (f"{pct(r.rate_8h)} per 8 h" if apr else f"APR {pct(r.apr, 2)}"))
        out.append(Reading(metric="funding_apr" if apr else "funding_8h", asset=inst.asset, venue=inst.venue,
                           symbol=inst.symbol, value=r.apr if apr else r.rate_8h, time=_when(r),
                           key=f"{inst.venue}|{inst.symbol}", detail=detail))
    return out


def read_funding_8h(inputs: Inputs, venues: Sequence[str]) -> list[Reading]:
    """Every perpetual's current funding as an 8 h-equivalent (rate x 8 / its own interval)."""
    return _funding(inputs, venues, apr=False)


def read_funding_apr(inputs: Inputs, venues: Sequence[str]) -> list[Reading]:
    """Every perpetual's current funding annualized (rate x 8760 / its interval)."""
    return _funding(inputs, venues, apr=True)


def read_funding_spread(inputs: Inputs, venues: Sequence[str]) -> list[Reading]:
    """Per asset, the widest 8 h-equivalent funding spread between two venues: the highest rate of one venue
    minus the lowest of another (among ``venues`` when named)."""
    if inputs.funding is None:
        return []
    by_asset: dict[str, list[FundingRate]] = {}
    for row in inputs.funding.report.rows:
        inst = row.rate.instrument
        if _wanted(inst.venue, venues):
            by_asset.setdefault(inst.asset, []).append(row.rate)
    out = []
    for asset, rates in by_asset.items():
        best: tuple[float, FundingRate, FundingRate] | None = None
        for hi in rates:
            for lo in rates:
                if hi.instrument.venue == lo.instrument.venue:
                    continue
                spread = hi.rate_8h - lo.rate_8h
                if best is None or spread > best[0]:
                    best = (spread, hi, lo)
        if best is None:
            continue
        spread, hi, lo = best
        out.append(Reading(
            metric="funding_spread", asset=asset, venue=f"{hi.instrument.venue}/{lo.instrument.venue}",
            symbol=f"{hi.instrument.symbol}/{lo.instrument.symbol}", value=spread, time=max(_when(hi), _when(lo)),
            key="spread", detail=(f"{hi.instrument.venue} {hi.instrument.symbol} {pct(hi.rate_8h)} vs "
                                  f"{lo.instrument.venue} {lo.instrument.symbol} {pct(lo.rate_8h)} per 8 h")))
    return out


def _oi_change(window: str) -> Reader:
    def read(inputs: Inputs, venues: Sequence[str]) -> list[Reading]:
        if inputs.oi is None:
            return []
        report = inputs.oi.report
        out = []
        for a in report.summary:
            if not venues:
                change = a.changes.get(window)
                if change is not None and math.isfinite(change):
                    out.append(Reading(
                        metric=f"oi_change_{window}", asset=a.asset, venue="all", symbol=None, value=change,
                        time=report.time, key="all",
                        detail=(f"open interest {usd(a.total_oi_usd)} ({amount(a.total_oi_base)} {a.asset}) across "
                                f"{len(a.venues)} venues; change in coins over {window}")))
                continue
            for v in a.venues:
                change = v.changes.get(window)
                if v.venue in venues and change is not None and math.isfinite(change):
                    out.append(Reading(
                        metric=f"oi_change_{window}", asset=a.asset, venue=v.venue, symbol=None, value=change,
                        time=report.time, key=v.venue,
                        detail=f"open interest {usd(v.oi_usd)} on {v.venue}; change in coins over {window}"))
        return out

    read.__doc__ = (f"Per asset, the open interest's change over {window} in coins, across venues (each named "
                    "venue's own with ``venues``).")
    return read


def read_basis_apr(inputs: Inputs, venues: Sequence[str]) -> list[Reading]:
    """Every dated future's basis against spot, annualized to its expiry."""
    from dtrack.records import Kind

    if inputs.basis is None:
        return []
    out = []
    for r in inputs.basis.report.rows:
        if r.kind is not Kind.FUTURE or r.annualized is None or not _wanted(r.venue, venues):
            continue
        days = f", {r.days_to_expiry:.0f} d to expiry" if r.days_to_expiry is not None else ""
        out.append(Reading(metric="basis_apr", asset=r.asset, venue=r.venue, symbol=r.symbol, value=r.annualized,
                           time=inputs.basis.report.time, key=f"{r.venue}|{r.symbol}",
                           detail=f"basis {pct(r.basis, 3)} ({usd(r.basis_usd)}) over spot "
                                  f"{price(r.spot_price)}{days}"))
    return out


#: the constant maturity of the ``atm_iv`` metric (days)
ATM_IV_DAYS = 30


def read_atm_iv(inputs: Inputs, venues: Sequence[str]) -> list[Reading]:
    """Per asset and options venue, the at-the-money implied volatility at a constant 30-day maturity
    (interpolated in total variance between the listed expiries)."""
    out = []
    for result in inputs.options:
        for c in result.report.constant_maturity:
            if c.days != ATM_IV_DAYS or c.iv is None or not _wanted(c.venue, venues):
                continue
            note = f" ({c.note})" if c.note else ""
            out.append(Reading(metric="atm_iv", asset=c.asset, venue=c.venue, symbol=None, value=c.iv,
                               time=result.report.time, key=c.venue,
                               detail=f"{ATM_IV_DAYS}-day constant-maturity ATM IV{note}"))
    return out


def read_iv_rank(inputs: Inputs, venues: Sequence[str]) -> list[Reading]:
    """Per asset, where Deribit's volatility index (DVOL) stands in its range of the past year (0 = the low,
    1 = the high); BTC and ETH only."""
    out = []
    for result in inputs.options:
        for s in result.report.summary:
            if s.iv_rank is None or not _wanted("deribit", venues):
                continue
            out.append(Reading(metric="iv_rank", asset=s.asset, venue="deribit", symbol="DVOL", value=s.iv_rank,
                               time=result.report.time, key="deribit",
                               detail=f"DVOL {pct(s.dvol, 1, sign=False)}, percentile "
                                      f"{pct(s.iv_percentile, 0, sign=False)}"))
    return out


def read_liquidation_usd(inputs: Inputs, venues: Sequence[str]) -> list[Reading]:
    """Every single liquidation seen in the last hour, by its size in USD (each alerted once)."""
    result = inputs.liquidations
    if result is None or result.report.recent is None:
        return []
    out = []
    for e in result.report.recent:
        inst = e.instrument
        if not _wanted(inst.venue, venues):
            continue
        coverage = getattr(e.coverage, "value", e.coverage)
        out.append(Reading(
            metric="liquidation_usd", asset=inst.asset, venue=inst.venue, symbol=inst.symbol, value=e.usd,
            time=e.time, key=f"{inst.venue}|{inst.symbol}|{e.key}", event=True,
            detail=f"{e.side} liquidated: {amount(e.base)} {inst.asset} at {price(e.price)} (feed: {coverage})"))
    return out


def read_liquidations_1h(inputs: Inputs, venues: Sequence[str]) -> list[Reading]:
    """Per asset, the USD liquidated over the last hour across venues (each named venue's with ``venues``); a
    total over a sampled feed (Binance, OKX) is a lower bound, and says so."""
    result = inputs.liquidations
    if result is None:
        return []
    out = []
    for w in result.report.totals:
        if w.window != "1h":
            continue
        if not venues:
            if w.covered_seconds <= 0 and not w.totals.count:
                continue
            flags = (" (a lower bound: sampled feeds)" if w.lower_bound else "") + (
                f" (data covers {w.covered_seconds / 60:.0f} min of the hour)" if w.partial else "")
            out.append(Reading(
                metric="liquidations_1h_usd", asset=w.asset, venue="all", symbol=None, value=w.totals.total_usd,
                time=w.end, key="all",
                detail=(f"longs {usd(w.totals.long_usd)}, shorts {usd(w.totals.short_usd)}, "
                        f"{w.totals.count} events{flags}")))
            continue
        for v in w.venues:
            if v.venue in venues and (v.covered_seconds > 0 or v.totals.count):
                out.append(Reading(
                    metric="liquidations_1h_usd", asset=w.asset, venue=v.venue, symbol=None,
                    value=v.totals.total_usd, time=w.end, key=v.venue,
                    detail=(f"longs {usd(v.totals.long_usd)}, shorts {usd(v.totals.short_usd)}, {v.totals.count} "
                            f"events (feed: {v.coverage or 'unknown'})")))
    return out


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("funding_8h", "funding 8h", "funding", "fraction", "funding rate, 8 h-equivalent, per perpetual",
           read_funding_8h, digits=4),
    Metric("funding_apr", "funding APR", "funding", "fraction", "funding rate annualized, per perpetual",
           read_funding_apr),
    Metric("funding_spread", "funding spread 8h", "funding", "fraction",
           "widest 8 h-equivalent funding spread between two venues, per asset", read_funding_spread, digits=4,
           signed=False),
    Metric("oi_change_1h", "OI change 1h", "oi", "fraction", "open-interest change over 1 h (coins), per asset",
           _oi_change("1h")),
    Metric("oi_change_24h", "OI change 24h", "oi", "fraction", "open-interest change over 24 h (coins), per asset",
           _oi_change("24h")),
    Metric("liquidation_usd", "liquidation", "liquidations", "usd", "one liquidation's size in USD",
           read_liquidation_usd),
    Metric("liquidations_1h_usd", "liquidations 1h", "liquidations", "usd",
           "USD liquidated over the last hour, per asset", read_liquidations_1h),
    Metric("atm_iv", "ATM IV 30d", "options", "fraction", "30-day constant-maturity ATM implied volatility",
           read_atm_iv, digits=1, signed=False),
    Metric("iv_rank", "IV rank", "options", "fraction", "rank of Deribit's DVOL in its past year (0-100 %)",
           read_iv_rank, digits=0, signed=False),
    Metric("basis_apr", "basis APR", "basis", "fraction", "dated futures' basis annualized, per contract",
           read_basis_apr),
)}
