"""Screens and orderings (pure): which rows of a report to show, in which order, when there are many.

- Funding screen (``funding --top N``): every listed perpetual ranked by ``apr`` (the funding APR, highest
  first), ``rate`` (the 8 h-equivalent rate by size, either sign: the most extreme funding first), ``oi``
  (open interest in USD, largest first) or ``spread`` (the row's 8 h-equivalent rate minus the lowest one of the
  same asset on another venue: the gross spread of shorting this perpetual against the cheapest one elsewhere,
  largest first). Never the raw per-interval rate: intervals differ (1 h .. 8 h), so raw rates do not compare.
- Open-interest screen (``oi --top N``): contracts ranked by ``oi`` (USD) or ``change_24h`` (coin terms, largest
  increase first; contracts without history are left out of that ranking).
- Basis ordering (``basis --sort``): ``annualized`` (highest first), ``basis`` (highest first) or ``days`` (to
  expiry, nearest first; perpetuals have none and come last).
- Arbitrage pairs (``funding --arb --sort``): ``apr`` (net APR, the default), ``spread``/``rate`` (spread per 8 h),
  ``oi`` (the smaller leg's open interest: a pair is as large as its thinner leg).
- Option chain (``options --chain --sort``): ``strike`` (the default order: expiry, strike), ``oi``, ``volume``
  (in coins, largest first), ``iv`` (mark IV, highest first), ``expiry`` (nearest first).

Ties keep the report's own order (stable sorts), so a screen is deterministic. Rows whose sort key is unknown
are left out of the ranking (a screen ranks what it can measure) except where said.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from dtrack.errors import UsageError, clip
from dtrack.records import FundingRate

if TYPE_CHECKING:
    from dtrack.analytics.basis import BasisRow
    from dtrack.analytics.funding import ArbOpportunity
    from dtrack.analytics.open_interest import OIRow
    from dtrack.analytics.options_desk import ChainRow

T = TypeVar("T")

FUNDING_SORTS = ("apr", "rate", "oi", "spread")
OI_SORTS = ("oi", "change_24h")
BASIS_SORTS = ("annualized", "basis", "days")
CHAIN_SORTS = ("strike", "oi", "volume", "iv", "expiry")
#: the largest --top / --limit accepted (a screen is for reading, the JSON of a full listing is elsewhere)
MAX_TOP = 10_000


def check_sort(sort: str | None, choices: Sequence[str], option: str = "--sort") -> str | None:
    """``sort`` checked against ``choices`` (a usage error naming them)."""
    if sort is None:
        return None
    key = sort.strip().lower()
    if key not in choices:
        raise UsageError(f"bad {option} {clip(sort)!r}: expected one of {', '.join(choices)}")
    return key


def check_count(value: int | None, option: str) -> int | None:
    """A ``--top`` / ``--limit`` count: a whole number from 1 to ``MAX_TOP``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP:
        raise UsageError(f"bad {option} {value!r}: expected a whole number from 1 to {MAX_TOP}")
    return value


def check_min_oi(value: float | None) -> float | None:
    """``--min-oi``: USD, >= 0."""
    if value is None:
        return None
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise UsageError(f"bad --min-oi {value!r}: expected a USD amount >= 0, e.g. 50000000")
    return float(value)


@dataclass(frozen=True, slots=True)
class Spread:
    """A perpetual's 8 h-equivalent rate against the lowest of the same asset on another venue."""

    spread_8h: float
    against_venue: str
    against_symbol: str


def funding_spreads(rates: Sequence[FundingRate]) -> dict[tuple[str, str], Spread]:
    """Per (venue, symbol): its ``rate_8h`` minus the lowest ``rate_8h`` of the same asset on ANOTHER venue (no
    entry when the asset is listed on one venue only)."""
    by_asset: dict[str, list[FundingRate]] = {}
    for r in rates:
        by_asset.setdefault(r.instrument.asset, []).append(r)
    out: dict[tuple[str, str], Spread] = {}
    for rows in by_asset.values():
        for r in rows:
            others = [o for o in rows if o.instrument.venue != r.instrument.venue]
            if not others:
                continue
            low = min(others, key=lambda o: (o.rate_8h, o.instrument.venue, o.instrument.symbol))
            out[(r.instrument.venue, r.instrument.symbol)] = Spread(r.rate_8h - low.rate_8h, low.instrument.venue,
                                                                    low.instrument.symbol)
    return out


def funding_key(sort: str, spreads: dict[tuple[str, str], Spread]) -> Callable[[FundingRate], float | None]:
    """The ranking value of a rate under ``sort`` (higher ranks first; None: not ranked)."""
    if sort == "apr":
        return lambda r: r.apr
    if sort == "rate":
        return lambda r: abs(r.rate_8h)
    if sort == "oi":
        return lambda r: r.open_interest_usd
    if sort == "spread":
        return lambda r: s.spread_8h if (s := spreads.get((r.instrument.venue, r.instrument.symbol))) else None
    raise UsageError(f"bad --sort {sort!r}: expected one of {', '.join(FUNDING_SORTS)}")


def ranked(items: Sequence[T], key: Callable[[T], float | None], *, top: int | None = None,
           descending: bool = True) -> list[T]:
    """``items`` whose key is known (and finite), ordered by it (ties keep their order), at most ``top``."""
    known = [(k, i, item) for i, item in enumerate(items) if (k := key(item)) is not None and math.isfinite(k)]
    known.sort(key=lambda x: (-x[0] if descending else x[0], x[1]))
    out = [item for _, _, item in known]
    return out[:top] if top is not None else out


def screen_funding(rates: Sequence[FundingRate], *, sort: str, top: int | None,
                   min_oi: float | None = None) -> list[FundingRate]:
    """The perpetuals of a funding screen, best first: ``rates`` with at least ``min_oi`` USD of open interest
    (rows without OI are left out when a minimum is set), ranked by ``sort`` (``FUNDING_SORTS``), at most
    ``top``. Spreads are measured against every rate given (before the OI filter)."""
    key = funding_key(sort, funding_spreads(rates))
    pool = [r for r in rates if min_oi is None or (r.open_interest_usd is not None and r.open_interest_usd >= min_oi)]
    return ranked(pool, key, top=top)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenInfo:
    """What a screen (``--top``) or an ordering (``--sort``, ``--limit``) did: the ``sort`` key, the ``top`` and
    ``limit`` counts, the ``min_oi`` filter (USD), how many rows were ``screened`` (before the filter and the cut)
    and, for a funding screen, each shown row's spread (``spreads``)."""

    sort: str | None
    top: int | None = None
    limit: int | None = None
    min_oi: float | None = None
    screened: int = 0
    spreads: dict[tuple[str, str], Spread] | None = None


def pair_key(sort: str | None) -> Callable[[ArbOpportunity], float | None]:
    """The ranking value of an arbitrage pair under a funding ``sort`` (``apr`` or None: net APR)."""
    if sort in (None, "apr"):
        return lambda o: o.net_apr
    if sort in ("spread", "rate"):
        return lambda o: o.spread_8h
    if sort == "oi":
        return lambda o: (min(o.long.open_interest_usd, o.short.open_interest_usd)
                          if o.long.open_interest_usd is not None and o.short.open_interest_usd is not None else None)
    raise UsageError(f"bad --sort {sort!r}: expected one of {', '.join(FUNDING_SORTS)}")


def order_pairs(pairs: Sequence[ArbOpportunity], sort: str | None, limit: int | None) -> list[ArbOpportunity]:
    """Arbitrage pairs ordered by ``sort`` (``pair_key``), at most ``limit``. Under ``oi`` a pair whose leg has no
    open interest is left out; every other key is known for every pair."""
    return ranked(pairs, pair_key(sort), top=limit)


def order_rows(items: Sequence[T], key: Callable[[T], float | None], *, top: int | None,
               descending: bool = True) -> list[T]:
    """A screen (``top`` set): the ranked rows whose key is known, at most ``top``. An ordering (``top`` None): every
    row, the ranked ones first, those without the key after them in their own order."""
    picked = ranked(items, key, top=top, descending=descending)
    if top is not None:
        return picked
    seen = set(map(id, picked))
    return picked + [x for x in items if id(x) not in seen]


def oi_key(sort: str) -> Callable[[OIRow], float | None]:
    """The ranking value of an open-interest row under ``sort`` (``OI_SORTS``)."""
    if sort == "oi":
        return lambda r: r.oi.usd
    if sort == "change_24h":
        return lambda r: r.changes.get("24h")
    raise UsageError(f"bad --sort {sort!r}: expected one of {', '.join(OI_SORTS)}")


def basis_key(sort: str) -> tuple[Callable[[BasisRow], float | None], bool]:
    """The ranking value of a basis row under ``sort`` (``BASIS_SORTS``) and whether higher ranks first."""
    if sort == "annualized":
        return (lambda r: r.annualized), True
    if sort == "basis":
        return (lambda r: r.basis), True
    if sort == "days":
        return (lambda r: r.days_to_expiry), False
    raise UsageError(f"bad --sort {sort!r}: expected one of {', '.join(BASIS_SORTS)}")


def chain_key(sort: str) -> tuple[Callable[[ChainRow], float | None], bool]:
    """The ranking value of an option under ``sort`` (``CHAIN_SORTS``; sizes in coins) and whether higher ranks
    first."""
    if sort == "strike":
        return (lambda r: r.quote.strike), False
    if sort == "expiry":
        return (lambda r: r.quote.expiry.timestamp()), False
    if sort == "oi":
        return (lambda r: r.quote.open_interest * r.quote.contract_size), True
    if sort == "volume":
        return (lambda r: r.quote.volume * r.quote.contract_size), True
    if sort == "iv":
        return (lambda r: r.mark_iv), True
    raise UsageError(f"bad --sort {sort!r}: expected one of {', '.join(CHAIN_SORTS)}")
