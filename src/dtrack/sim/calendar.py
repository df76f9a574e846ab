"""Expiry calendars of the simulated venues (pure): dailies, Friday weeklies, month-ends and quarterlies.

Derivatives venues expire dated contracts at 08:00 UTC: dailies every day, weeklies on Fridays,
monthlies on the last Friday of the month, quarterlies on the last Friday of March, June, September
and December. These functions list the coming expiries strictly after a time, in epoch ms, and
name them the way the venues do (``28MAR25`` for Deribit/Bybit, ``250328`` for Binance/OKX).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

EXPIRY_HOUR = 8
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def last_friday(year: int, month: int) -> datetime:
    """The last Friday of a month at 08:00 UTC."""
    day = datetime(year, month, calendar.monthrange(year, month)[1], EXPIRY_HOUR, tzinfo=UTC)
    return day - timedelta(days=(day.weekday() - calendar.FRIDAY) % 7)


def dailies(now_ms: int, count: int) -> list[int]:
    """The next ``count`` daily expiries (08:00 UTC) strictly after ``now_ms``."""
    t = _utc(now_ms).replace(hour=EXPIRY_HOUR, minute=0, second=0, microsecond=0)
    if _ms(t) <= now_ms:
        t += timedelta(days=1)
    return [_ms(t + timedelta(days=i)) for i in range(count)]


def fridays(now_ms: int, count: int) -> list[int]:
    """The next ``count`` Friday expiries (08:00 UTC) strictly after ``now_ms``."""
    t = _utc(now_ms).replace(hour=EXPIRY_HOUR, minute=0, second=0, microsecond=0)
    t += timedelta(days=(calendar.FRIDAY - t.weekday()) % 7)
    if _ms(t) <= now_ms:
        t += timedelta(days=7)
    return [_ms(t + timedelta(weeks=i)) for i in range(count)]


def month_ends(now_ms: int, count: int, months: tuple[int, ...] = tuple(range(1, 13))) -> list[int]:
    """The next ``count`` last-Friday expiries of the given months strictly after ``now_ms``."""
    t = _utc(now_ms)
    year, month = t.year, t.month
    out: list[int] = []
    while len(out) < count:
        if month in months and (ms := _ms(last_friday(year, month))) > now_ms:
            out.append(ms)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def quarterlies(now_ms: int, count: int) -> list[int]:
    """The next ``count`` quarterly expiries (last Friday of Mar/Jun/Sep/Dec, 08:00 UTC)."""
    return month_ends(now_ms, count, (3, 6, 9, 12))


def dmy(ms: int) -> str:
    """Deribit/Bybit expiry code: ``28MAR25`` (day without leading zero: ``5DEC25``)."""
    t = _utc(ms)
    return f"{t.day}{_MONTHS[t.month - 1]}{t:%y}"


def yymmdd(ms: int) -> str:
    """Binance/OKX expiry code: ``250328``."""
    return f"{_utc(ms):%y%m%d}"
