"""Pure helpers every venue parser uses to read fields: numbers sent as strings, empty strings,
epoch-ms timestamps, and a ``ParseError`` naming venue and endpoint when a field is missing or
not what the endpoint documents. Also: funding points from a settlement series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dtrack.errors import ParseError
from dtrack.records import FundingPoint


@dataclass(frozen=True, slots=True)
class Reader:
    """Reads fields of one endpoint's payload; errors name the venue and endpoint."""

    venue: str
    endpoint: str

    def fail(self, detail: str) -> ParseError:
        """A ParseError for this endpoint."""
        return ParseError(self.venue, self.endpoint, detail)

    def obj(self, value: Any, what: str = "payload") -> Mapping[str, Any]:
        """``value`` as a JSON object, or a ParseError."""
        if not isinstance(value, Mapping):
            raise self.fail(f"{what} is {type(value).__name__}, expected an object")
        return value

    def arr(self, value: Any, what: str = "payload") -> Sequence[Any]:
        """``value`` as a JSON array, or a ParseError."""
        if not isinstance(value, list):
            raise self.fail(f"{what} is {type(value).__name__}, expected an array")
        return value

    def field(self, row: Mapping[str, Any], key: str) -> Any:
        """A required field."""
        if key not in row:
            raise self.fail(f"field {key!r} missing")
        return row[key]

    def text(self, row: Mapping[str, Any], key: str) -> str:
        """A required non-empty string field."""
        value = self.field(row, key)
        if not isinstance(value, str) or not value:
            raise self.fail(f"field {key!r} is {value!r}, expected a non-empty string")
        return value

    def num(self, row: Mapping[str, Any], key: str) -> float:
        """A required number (venues send numbers as JSON numbers or strings)."""
        value = self.opt_num(row, key)
        if value is None:
            raise self.fail(f"field {key!r} is {row.get(key)!r}, expected a number")
        return value

    def opt_num(self, row: Mapping[str, Any], key: str) -> float | None:
        """An optional number: absent, null and "" are None; anything else must parse."""
        value = row.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise self.fail(f"field {key!r} is a boolean, expected a number")
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise self.fail(f"field {key!r} is {value!r}, expected a number") from None
        if not math.isfinite(out):
            raise self.fail(f"field {key!r} is {value!r}, expected a finite number")
        return out

    def time_ms(self, row: Mapping[str, Any], key: str) -> datetime:
        """A required epoch-milliseconds timestamp (number or string) as UTC."""
        return ms_to_utc(self.num(row, key))

    def opt_time_ms(self, row: Mapping[str, Any], key: str) -> datetime | None:
        """An optional epoch-ms timestamp; absent, "", null and 0 are None."""
        value = self.opt_num(row, key)
        return ms_to_utc(value) if value else None


def ms_to_utc(ms: float) -> datetime:
    """Epoch milliseconds -> aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000.0, UTC)


def utc_to_ms(t: datetime) -> int:
    """Aware datetime -> epoch milliseconds."""
    return round(t.timestamp() * 1000)


def points_from_settlements(
    series: Iterable[tuple[datetime, float]], current_interval_hours: float
) -> tuple[FundingPoint, ...]:
    """Funding points from (settlement time, rate) pairs, ascending, de-duplicated.

    Each settlement's interval is the spacing to the previous settlement (a rate settled at T
    accrued over the hours since the one before). The first point takes the spacing to the
    next one, or ``current_interval_hours`` when it is alone. Spacings are rounded to whole
    hours (venues settle a few ms late); a spacing under one hour falls back to the next one.
    """
    rows = sorted({t: r for t, r in series}.items())
    points: list[FundingPoint] = []
    for i, (t, rate) in enumerate(rows):
        if i > 0:
            gap = (t - rows[i - 1][0]).total_seconds() / 3600.0
        elif len(rows) > 1:
            gap = (rows[1][0] - t).total_seconds() / 3600.0
        else:
            gap = current_interval_hours
        hours = float(round(gap))
        if hours < 1:
            hours = points[-1].interval_hours if points else current_interval_hours
        points.append(FundingPoint(time=t, rate=rate, interval_hours=hours))
    return tuple(points)


def within(points: Iterable[FundingPoint], start: datetime, end: datetime) -> tuple[FundingPoint, ...]:
    """The points in ``[start, end]`` (a venue may answer rows outside the asked window)."""
    return tuple(p for p in points if start <= p.time <= end)
