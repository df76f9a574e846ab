"""Number and time formatting for tables, and JSON-safe conversion. The only place that formats."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def iso(t: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z (``2026-11-20T08:00:00Z``), or None."""
    if t is None:
        return None
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def pct(x: float | None, digits: int = 4, *, sign: bool = True) -> str:
    """A fraction as percent text: 0.000158 -> ``+0.0158%``; None -> ``n/a``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x * 100:+.{digits}f}%" if sign else f"{x * 100:.{digits}f}%"


def usd(x: float | None) -> str:
    """Compact USD: ``$8.2B``, ``$45.2M``, ``$12.3K``, ``$950``."""
    if x is None:
        return "n/a"
    size = abs(x)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= div:
            return f"{'-' if x < 0 else ''}${size / div:.2f}{suffix}"
    return f"{'-' if x < 0 else ''}${size:,.2f}"


def money(x: float | None) -> str:
    """Signed USD with cents: ``+$12.34``."""
    if x is None:
        return "n/a"
    return f"{'+' if x >= 0 else '-'}${abs(x):,.2f}"


def countdown(until: datetime | None, now: datetime) -> str:
    """Time until ``until`` as ``2h 15m`` (``due`` when past, ``continuous`` when None)."""
    if until is None:
        return "continuous"
    seconds = int((until - now).total_seconds())
    if seconds <= 0:
        return "due"
    hours, rem = divmod(seconds, 3600)
    minutes = rem // 60
    if hours >= 24:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {rem % 60:02d}s"


def ago(seconds: float) -> str:
    """An age: ``12 s``, ``4 min``, ``3 h``, ``2 d`` (rounded down past a minute)."""
    s = max(int(seconds), 0)
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{s // 60} min"
    if s < 48 * 3600:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def as_of(t: datetime, age_seconds: float) -> str:
    """When a view's data is from: ``as of 2026-12-05 05:40:12 UTC (12 s ago)``."""
    return f"as of {t.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({ago(age_seconds)} ago)"


def hours(h: float) -> str:
    """An interval: ``8h``, ``1h``, ``0.5h``."""
    return f"{h:g}h"


def num(x: float | None) -> float | None:
    """A number for JSON: NaN and infinities become null (JSON has no NaN)."""
    if x is None or not math.isfinite(x):
        return None
    return x


def amount(x: float | None) -> str:
    """A quantity with thousands separators and sensible precision: ``12,345.6``, ``0.00123``."""
    if x is None or not math.isfinite(x):
        return "n/a"
    size = abs(x)
    if size >= 1000:
        return f"{x:,.0f}"
    if size >= 1:
        return f"{x:,.2f}"
    return f"{x:.6g}"


def price(x: float | None) -> str:
    """A price with precision fit for its size: ``91,234.5``, ``3,150.25``, ``0.0000092``."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.1f}"
    if abs(x) >= 1:
        return f"{x:,.4f}"
    return f"{x:.6g}"


def token(label: str | None) -> str | None:
    """A human label as a stable lowercase JSON token: ``moderately bullish`` -> ``moderately_bullish``,
    ``cash-and-carry`` -> ``cash_and_carry``; unknown (``n/a``, None, "") is None, never a string."""
    if label is None or label.strip().lower() in ("", "n/a"):
        return None
    return "_".join(label.lower().replace("-", " ").replace("/", " ").split())


#: the OI/price divergence signals: JSON token -> the table's label
DIVERGENCE_TOKENS = {
    "bullish (new longs)": "bullish",
    "bearish (new shorts)": "bearish",
    "short squeeze / short covering": "short_squeeze",
    "long liquidation / capitulation": "long_liquidation",
    "neutral": "neutral",
}

#: where a forward comes from: label -> JSON token (no forward: None)
FORWARD_TOKENS = {"venue underlying price": "venue", "put-call parity (r = 0)": "put_call_parity",
                  "per venue": "per_venue"}

#: the IV-rank reading: label -> JSON token
INTERPRETATION_TOKENS = {"high: options expensive": "expensive", "low: options cheap": "cheap", "neutral": "neutral"}


def weighting_token(text: str | None) -> str | None:
    """``open_interest`` (OI-weighted) or ``mean`` (no OI: a plain mean), from the analytics' description."""
    if not text:
        return None
    return "open_interest" if text.startswith("open-interest") else "mean"
