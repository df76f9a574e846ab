"""Pure helpers every venue parser uses to read fields: numbers sent as strings, empty strings,
epoch-ms timestamps, and a ``ParseError`` naming venue and endpoint when a field is missing or
not what the endpoint documents. Also: ``Stamp`` (an answer's own time, None when it has none, and its
receive time: records keep both), funding points from a settlement series, ``Listing``,
a venue's instrument list as parsed (with the rows that did not parse, by asset), ``OptionSpec``, a
listed option's terms, ``parse_each``, which parses an option list row by row, ``Kline`` with the
PricePoints of a kline series (``price_point``, ``candle_closes``: close, high and low per unit of the asset), and
``ohlcv_candles``, the ``Candle`` records of a venue's parsed bars.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol, TypeVar

from dtrack.errors import DtrackError, Implausible, ParseError
from dtrack.records import Candle, FundingPoint, Instrument, Kind, PricePoint

#: One row of a venue's instrument list (a JSON object).
Row = Mapping[str, Any]

#: Plausible epoch-millisecond range for venue timestamps (2010-01-01 .. 2100-01-01).
MIN_MS = 1_262_304_000_000
MAX_MS = 4_102_444_800_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class Reader:
    """Reads fields of one endpoint's payload; errors name the venue and endpoint."""

    venue: str
    endpoint: str

    def fail(self, detail: str) -> ParseError:
        """A ParseError for this endpoint."""
        return ParseError(self.venue, self.endpoint, detail)

    def about(self, name: str, exc: ParseError) -> ParseError:
        """The error of one row, named: ``"<name>: <detail>"`` for this endpoint. An ``Implausible`` already
        names its symbol, field and endpoint and is kept as it is (its kind must survive)."""
        return exc if isinstance(exc, Implausible) else self.fail(f"{name}: {exc.detail}")

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

    def answered(self, rows: Sequence[Any], asked: Collection[str]) -> Sequence[Any]:
        """The rows of a bulk answer about the ``asked`` listed contracts (or pairs): an EMPTY list while some
        are asked is a ParseError naming them. The venue lists them; an answer naming none of them is broken,
        and reading it as "none of them trades" would be silence where a failure belongs."""
        if asked and not rows:
            names = sorted(asked)
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            raise self.fail(f"an empty list, asked about {shown}")
        return rows

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

    def ms(self, row: Mapping[str, Any], key: str) -> int:
        """A required epoch-milliseconds timestamp as an int, range-checked: a value in seconds or
        microseconds (or garbage) is a ParseError, never a date in 1970 or 50000."""
        value = self.num(row, key)
        if not MIN_MS <= value <= MAX_MS:
            raise self.fail(f"field {key!r} is {row.get(key)!r}, expected epoch milliseconds (2010..2100)")
        return int(value)

    def time_ms(self, row: Mapping[str, Any], key: str) -> datetime:
        """A required epoch-milliseconds timestamp (number or string) as UTC."""
        return ms_to_utc(self.ms(row, key))

    def opt_time_ms(self, row: Mapping[str, Any], key: str) -> datetime | None:
        """An optional epoch-ms timestamp; absent, "", null and 0 are None."""
        return self.time_ms(row, key) if self.opt_num(row, key) else None

    def time_iso(self, row: Mapping[str, Any], key: str) -> datetime:
        """A required ISO-8601 timestamp with its offset (``2025-07-29T05:00:01.053Z``, as dYdX sends them) as
        UTC, range-checked like ``ms``: a time without an offset (naive) or outside 2010..2100 is a ParseError."""
        value = self.field(row, key)
        try:
            when = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is None or not MIN_MS <= utc_to_ms(when) <= MAX_MS:
            raise self.fail(f"field {key!r} is {value!r}, expected an ISO-8601 UTC time (2010..2100)")
        return when.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Stamp:
    """When an answer's data is from: the venue's own ``time`` (None when it sends none) and ``received_at``,
    when dtrack received it. Records take both as they are; ``observed_at`` (the venue's time, else the
    receive time) is only for as-of reckoning such as "has this option expired", never stored as ``time``."""

    time: datetime | None
    received_at: datetime

    @property
    def observed_at(self) -> datetime:
        """The venue's time, else the receive time."""
        return self.time if self.time is not None else self.received_at


@dataclass(frozen=True, slots=True)
class Listing:
    """A venue's instrument list as parsed (one page or host of it, or several merged).

    Bulk instrument lists hold rows of every asset; one that does not parse must not fail a query
    about another. Such a row is left out of ``instruments`` and noted in ``broken`` under its asset
    (the venue's best guess, read leniently from the malformed row), so that it fails only a query
    that asks for that asset (``for_assets``).
    """

    instruments: tuple[Instrument, ...] = ()
    #: normalized asset -> what was wrong with a row of it: "<symbol>: <detail>" (the asset instead of
    #: the symbol when the row has no readable one)
    broken: Mapping[str, str] = field(default_factory=dict)
    #: parts of the list (a host, a category) that could not be fetched: the rest still serves
    missing: tuple[DtrackError, ...] = ()

    @classmethod
    def read(cls, rows: Iterable[Row], instrument: Callable[[Row], Instrument | None],
             identify: Callable[[Row], tuple[str, str]], *, whole: Reader | None = None) -> Listing:
        """The listing of ``rows`` (already narrowed to the kinds and states the venue lists).

        ``instrument`` parses a row (None: a kind dtrack does not know, skipped). A row it raises
        ParseError for goes to ``broken`` under the asset that ``identify`` guesses from the row,
        leniently, as ``(asset, symbol)`` ("" where unreadable; a row without an asset is only
        skipped: nobody can ask for it). With ``whole``, rows that failed with none parsing mean the
        format changed: a ParseError of ``whole`` for the answer (so it is not cached).
        """
        instruments: list[Instrument] = []
        broken: dict[str, str] = {}
        failed: list[str] = []
        for row in rows:
            try:
                inst = instrument(row)
            except ParseError as exc:
                asset, symbol = identify(row)
                failed.append(f"{symbol or asset or 'a row'}: {exc.detail}")
                if asset:
                    broken.setdefault(asset, failed[-1])
                continue
            if inst is not None:
                instruments.append(inst)
        if whole is not None and failed and not instruments:
            raise whole.fail(f"no trading contract parsed ({len(failed)} malformed; first: {failed[0]})")
        return cls(tuple(instruments), broken)

    @classmethod
    def merge(cls, listings: Iterable[Listing]) -> Listing:
        """One listing from several (pages, hosts), in order; an asset broken twice keeps its first reason."""
        instruments: dict[tuple[str, str], Instrument] = {}
        broken: dict[str, str] = {}
        missing: list[DtrackError] = []
        for listing in listings:
            for inst in listing.instruments:  # the same contract listed twice (overlapping pages) once
                instruments.setdefault((inst.market, inst.symbol), inst)
            for asset, reason in listing.broken.items():
                broken.setdefault(asset, reason)
            missing += listing.missing
        return cls(tuple(instruments.values()), broken, tuple(missing))

    @classmethod
    def of_parts(cls, parts: Iterable[Listing | DtrackError]) -> Listing:
        """Merge the parts of a venue's list fetched separately (hosts, categories; as ``settle`` gives them).
        A part that failed is kept in ``missing`` and the others still serve; when every part failed, the
        first failure is raised (the venue has no list at all)."""
        listings: list[Listing] = []
        failed: list[DtrackError] = []
        for part in parts:
            if isinstance(part, Listing):
                listings.append(part)
            else:
                failed.append(part)
        if not listings and failed:
            raise failed[0]
        merged = cls.merge(listings)
        return cls(merged.instruments, merged.broken, merged.missing + tuple(failed))

    def for_assets(self, venue: str, endpoint: str, assets: Collection[str],
                   kinds: Collection[Kind] = (Kind.PERP,)) -> list[Instrument]:
        """The instruments of ``kinds`` (perpetuals by default) on ``assets``; a ``ParseError`` (naming
        ``endpoint``) when a row of one of them did not parse: a query must not silently lose an
        instrument it asked for."""
        for asset in assets:
            if asset in self.broken:
                raise ParseError(venue, endpoint, self.broken[asset])
        wanted = set(assets)
        return [i for i in self.instruments if i.kind in kinds and i.asset in wanted]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """The terms of a listed option as read from an instrument row or from its name.

    ``expiry``: aware UTC. ``strike``: USD. ``contract_size``: coins of the underlying per contract.
    ``settle``: the settlement currency.
    """

    symbol: str
    asset: str
    expiry: datetime
    strike: float
    is_call: bool
    contract_size: float
    settle: str


def parse_each(reader: Reader, rows: Iterable[Row], parse: Callable[[Row], _T], name_of: Callable[[Row], str],
               what: str) -> tuple[dict[str, _T], list[str]]:
    """Each of ``rows`` parsed, by its name, and the rows ``parse`` raised ParseError for, as
    ``"<name>: <detail>"``, in order. ``name_of`` names a row leniently (it must not raise; a row that
    parses is keyed by it). Rows that failed with none parsing mean the format changed: a ParseError of
    ``reader``, ``"no <what> parsed (N malformed; first: ...)"``.
    """
    parsed: dict[str, _T] = {}
    broken: list[str] = []
    for row in rows:
        try:
            parsed[name_of(row)] = parse(row)
        except ParseError as exc:
            broken.append(f"{name_of(row)}: {exc.detail}")
    if broken and not parsed:
        raise reader.fail(f"no {what} parsed ({len(broken)} malformed; first: {broken[0]})")
    return parsed, broken


def page_windows(start_ms: int, end_ms: int, step_ms: int, per_page: int) -> list[tuple[int, int]]:
    """The ``(first, last)`` times of the pages covering every ``step_ms``-aligned time in
    ``[start_ms, end_ms]``, at most ``per_page`` times each, oldest first (none when none is aligned).

    A history window is known up front, so every page can be asked at once instead of followed.
    """
    first = -(-start_ms // step_ms) * step_ms
    last = end_ms // step_ms * step_ms
    span = per_page * step_ms
    return [(a, min(a + span - step_ms, last)) for a in range(first, last + 1, span)]


def ms_to_utc(ms: float) -> datetime:
    """Epoch milliseconds -> aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000.0, UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def utc_to_ms(t: datetime) -> int:
    """Aware datetime -> epoch milliseconds, floored, in exact integer arithmetic (as the store keeps times): a
    sub-millisecond part is dropped, never rounded up, so a point stamped at ``ms_to_utc(utc_to_ms(end))`` is never
    after ``end`` (rounded, half of all clock readings put "now" 1 ms past the query's end, and the filter on the
    window dropped the point of the period still open)."""
    return (t - _EPOCH) // _MS


def _hours(a: datetime, b: datetime) -> float:
    """Whole hours from ``a`` to ``b`` (venues settle a few ms late)."""
    return float(round((b - a).total_seconds() / 3600.0))


def latest_spacing(times: Iterable[datetime]) -> float | None:
    """Whole hours between the two latest distinct times (at least 1), or None with fewer than two."""
    ordered = sorted(set(times))
    if len(ordered) < 2:
        return None
    return max(1.0, _hours(ordered[-2], ordered[-1]))


def points_from_settlements(
    series: Iterable[tuple[datetime, float]], current_interval_hours: float, *, venue: str, symbol: str,
    received_at: datetime,
) -> tuple[FundingPoint, ...]:
    """Funding points of ``symbol`` on ``venue`` from (settlement time, rate) pairs, ascending, de-duplicated;
    ``received_at``: when the answer(s) holding them arrived.

    A settlement's interval is the spacing to the previous one (the rate accrued over those hours);
    the first point takes the spacing to the next, a lone point ``current_interval_hours``.
    A spacing that is longer than the cadence around it and a whole multiple of it is a missed
    settlement (a gap in the venue's answer), not a long interval: the point keeps the cadence.
    A real change of interval (1 h -> 4 h) keeps the new spacing, because the spacing after it agrees.
    """
    rows = sorted({t: r for t, r in series}.items())
    gaps = [_hours(a[0], b[0]) for a, b in itertools.pairwise(rows)]
    points: list[FundingPoint] = []
    for i, (t, rate) in enumerate(rows):
        if not gaps:
            hours = current_interval_hours
        else:
            k = max(0, i - 1)  # the spacing that ends at this point (the first point: the one after it)
            spacing = gaps[k]
            after = gaps[k + 1] if k + 1 < len(gaps) else current_interval_hours
            before = gaps[k - 1] if k >= 1 else None
            # longer than the spacing on both sides and a whole multiple of the one after it
            is_gap = after >= 1 and spacing > after and spacing % after == 0 and (before is None or spacing > before)
            hours = after if is_gap else spacing
        points.append(FundingPoint(venue=venue, symbol=symbol, time=t, rate=rate,
                                   interval_hours=max(1.0, float(hours)), received_at=received_at))
    return tuple(points)


def next_settlement_after(received: datetime, interval_hours: float) -> datetime:
    """The first settlement strictly after ``received`` on UTC multiples of the interval (hourly: the next whole
    hour), for venues whose settlements follow that grid and whose answer names none."""
    step = round(interval_hours * HOUR_MS)
    return ms_to_utc((utc_to_ms(received) // step + 1) * step)


class Kline(NamedTuple):
    """One kline as a price history reads it, in the venue's unit (per unit of its base): open time (epoch ms),
    close, and the bar's high and low (None where not read)."""

    open_ms: int
    close: float
    high: float | None = None
    low: float | None = None


def kline(candle: Kline | tuple[int, float]) -> Kline:
    """``candle`` as a ``Kline``: an ``(open time ms, close)`` pair has no high or low."""
    return candle if isinstance(candle, Kline) else Kline(candle[0], candle[1])


def price_point(candle: Kline, *, venue: str, symbol: str, time: datetime, multiplier: float,
                received_at: datetime) -> PricePoint:
    """A kline as a PricePoint at ``time``: its close, high and low per unit of the asset (each / ``multiplier``,
    the venue's base counting ``multiplier`` units of the asset: kPEPE, 1000SHIB)."""
    return PricePoint(venue=venue, symbol=symbol, time=time, price=candle.close / multiplier,
                      high=None if candle.high is None else candle.high / multiplier,
                      low=None if candle.low is None else candle.low / multiplier, received_at=received_at)


def candle_closes(candles: Iterable[Kline | tuple[int, float]], *, venue: str, symbol: str, multiplier: float,
                  period_ms: int, received_at: datetime) -> tuple[PricePoint, ...]:
    """Klines (``Kline``, or ``(open time ms, close)`` pairs: no high or low) in the venue's unit as PricePoints per
    unit of the asset (close, high and low / ``multiplier``), ascending and de-duplicated by open time. A point's
    time is the candle's close (open + period); the candle still open at ``received_at`` is stamped
    ``received_at`` (its close is the latest price, its high and low those so far)."""
    now_ms = utc_to_ms(received_at)
    by_open = {k.open_ms: k for k in map(kline, candles)}
    return tuple(price_point(by_open[t], venue=venue, symbol=symbol, time=ms_to_utc(min(t + period_ms, now_ms)),
                             multiplier=multiplier, received_at=received_at)
                 for t in sorted(by_open))


class Bar(Protocol):
    """A venue's candle as its parser reads it: open time (epoch ms) and prices in the venue's unit (per unit of its
    base: kPEPE, 1000PEPE)."""

    @property
    def open_ms(self) -> int: ...
    @property
    def open(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...


_Bar = TypeVar("_Bar", bound=Bar)


def ohlcv_candles(bars: Iterable[_Bar], inst: Instrument, period_ms: int, received: datetime,
                  volumes: Callable[[_Bar], tuple[float | None, float | None]]) -> tuple[Candle, ...]:
    """``Candle`` records of ``inst`` from a venue's bars of ``period_ms``, ascending and de-duplicated by open time
    (the last bar of a time kept): prices per ONE unit of the asset (÷ ``inst.multiplier``); ``volumes(bar)``: its
    (``volume_base`` in coins of the asset, ``volume_usd``), as the venue's fields give them. The bar still open at
    ``received`` (its open + ``period_ms`` after it) has ``closed`` False."""
    now_ms = utc_to_ms(received)
    mult = inst.multiplier
    out: list[Candle] = []
    for bar in sorted({b.open_ms: b for b in bars}.values(), key=lambda b: b.open_ms):
        base, usd = volumes(bar)
        out.append(Candle(venue=inst.venue, symbol=inst.symbol, time=ms_to_utc(bar.open_ms),
                          period_seconds=period_ms // 1000, open=bar.open / mult, high=bar.high / mult,
                          low=bar.low / mult, close=bar.close / mult, received_at=received, volume_base=base,
                          volume_usd=usd, closed=bar.open_ms + period_ms <= now_ms))
    return tuple(out)


def within(points: Iterable[FundingPoint], start: datetime, end: datetime) -> tuple[FundingPoint, ...]:
    """The points in ``[start, end]`` (a venue may answer rows outside the asked window)."""
    return tuple(p for p in points if start <= p.time <= end)


def each_instrument(instruments: Iterable[Instrument], row_of: Callable[[Instrument], _R | None],
                    read: Callable[[Instrument, _R], _T], errors: list[DtrackError] | None = None,
                    ) -> tuple[list[_T], list[str]]:
    """``read(instrument, its row)`` for each of ``instruments`` whose row a bulk answer has (``row_of``), and the
    symbols the answer lacks (delisted since the listing was cached). A row that does not parse fails the answer
    (its ParseError propagates); with ``errors``, an implausible row costs only its instrument (its
    ``Implausible`` is appended there and the others serve), else it is raised too."""
    out: list[_T] = []
    missing: list[str] = []
    for inst in instruments:
        row = row_of(inst)
        if row is None:
            missing.append(inst.symbol)
            continue
        try:
            out.append(read(inst, row))
        except Implausible as exc:
            if errors is None:
                raise
            errors.append(exc)
    return out, missing
