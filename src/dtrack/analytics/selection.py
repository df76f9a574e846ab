"""Domain rules that pick what a query looks at (pure, no numpy): the history period for a span, the
perpetual whose klines stand for a venue's price, the quarterly test, and which option expiries a
``--expiry`` choice selects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from dtrack.errors import UsageError, clip
from dtrack.records import Instrument

#: quote preference of the perpetual whose klines give a venue's price (divergence, realized volatility)
PRICE_QUOTES = ("USDT", "USDC", "USD")
#: how many expiries the options view shows when no ``expiry`` is chosen
DEFAULT_EXPIRIES = 4
EXPIRY_WORDS = ("next", "friday", "month", "all")


def period_for(span: timedelta) -> int:
    """History period (hours) for a span: hourly up to 8 days, 4-hourly up to a month, else daily."""
    if span <= timedelta(days=8):
        return 1
    return 4 if span <= timedelta(days=31) else 24


def price_perp(perps: Sequence[Instrument]) -> Instrument | None:
    """The perpetual whose klines stand for a venue's price (USDT, then USDC, then USD-quoted)."""
    ranked = sorted(perps, key=lambda i: (PRICE_QUOTES.index(i.quote) if i.quote in PRICE_QUOTES else 9, i.symbol))
    return ranked[0] if ranked else None


def is_quarterly(expiry: datetime) -> bool:
    """Whether an expiry is a quarterly: the last Friday of March, June, September or December."""
    return expiry.month in (3, 6, 9, 12) and is_month_end_friday(expiry)


def is_month_end_friday(expiry: datetime) -> bool:
    """Whether an expiry falls on the last Friday of its month."""
    return expiry.weekday() == 4 and (expiry + timedelta(days=7)).month != expiry.month


def parse_expiry_date(text: str) -> date:
    """An ISO date for an expiry choice, or a usage error naming what is accepted."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"bad --expiry {clip(text)!r}: expected an ISO date (2026-12-25) or one of "
                         f"{', '.join(EXPIRY_WORDS)}") from None


def _nearest(ordered: Sequence[datetime], day: date) -> str:
    nearest = sorted(ordered, key=lambda e: abs((e.date() - day).days))[:3]
    return ", ".join(f"{e:%Y-%m-%d}" for e in sorted(nearest))


def select_expiries(available: Sequence[datetime], choice: str | None, asset: str) -> tuple[datetime, ...]:
    """The expiries ``choice`` picks out of ``available`` (future expiries): None = the next
    ``DEFAULT_EXPIRIES``; ``all``; ``next``; ``friday`` = the first Friday expiry; ``month`` = the first
    last-Friday-of-a-month expiry; an ISO date = the expiries on that day. A choice that matches none of
    the listed expiries is a usage error naming the nearest ones (never an empty view)."""
    ordered = sorted(set(available))
    if not ordered:
        return ()
    word = (choice or "").lower()
    if choice is None:
        return tuple(ordered[:DEFAULT_EXPIRIES])
    if word == "all":
        return tuple(ordered)
    if word == "next":
        return (ordered[0],)
    if word in ("friday", "month"):
        picked = [e for e in ordered if e.weekday() == 4 and (word == "friday" or is_month_end_friday(e))]
        if not picked:
            what = "Friday" if word == "friday" else "month-end (last Friday)"
            raise UsageError(f"no {what} expiry listed for {asset}; nearest: {_nearest(ordered, ordered[0].date())}")
        return (picked[0],)
    day = parse_expiry_date(choice)
    picked = [e for e in ordered if e.date() == day]
    if not picked:
        raise UsageError(f"no {asset} expiry on {day}; nearest: {_nearest(ordered, day)}")
    return tuple(picked)
