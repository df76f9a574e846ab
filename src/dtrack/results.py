"""The answer shapes every layer shares: ``Answer`` (what one venue answered: items plus the problems that
did not stop it), ``Failure`` (why a venue, or part of its answer, is missing), the one way partial failures
are folded (``settle`` runs jobs concurrently, ``Fold`` keeps what they answered and what went wrong) and the
query results the client returns and every surface renders (``to_dict()`` is the command's ``--format json``
document, ``to_pandas()`` / ``frames()`` its tables as DataFrames).

Imports nothing heavy: the renderers, numpy and pandas are imported when a result is rendered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from dtrack.errors import DtrackError, ParseError, UnsupportedError
from dtrack.report.format import iso

if TYPE_CHECKING:
    from datetime import timedelta

    import pandas as pd

    from dtrack.analytics.basis import BasisReport
    from dtrack.analytics.book import BookReport
    from dtrack.analytics.execution import Calibration, Comparison, Ladder, Profile, Spec
    from dtrack.analytics.funding import FundingReport
    from dtrack.analytics.liqprice import Report as LiqReport
    from dtrack.analytics.liquidation_map import LiquidationMap, MapParams
    from dtrack.analytics.liquidations import LiquidationsReport
    from dtrack.analytics.open_interest import OIInputs, OIReport
    from dtrack.analytics.options_desk import OptionsReport
    from dtrack.analytics.screens import ScreenInfo
    from dtrack.analytics.volatility import AssetVol, VolParams
    from dtrack.client.queries.execsim import Candidate, Size
    from dtrack.records import FundingPoint, Instrument, OrderBook, PriceQuote

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Version of every JSON document's shape; bumped when a field changes meaning or disappears.
SCHEMA_VERSION = 1
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Why a venue (or part of its answer) is missing.

    ``kind`` is the error's stable token (``unavailable``, ``rate_limited``, ``parse``, ``implausible``,
    ``banned``, ``blocked``, ``unsupported``, ``internal`` ...); ``endpoint`` names the venue endpoint
    involved where it is known (None otherwise); ``message`` is one human line.
    """

    venue: str
    kind: str
    endpoint: str | None
    message: str

    @classmethod
    def of(cls, venue: str, exc: BaseException) -> Failure:
        """A failure row from an exception (anything not a ``DtrackError`` is a bug: labelled ``internal``)."""
        if isinstance(exc, DtrackError):
            return cls(venue=venue, kind=exc.kind, endpoint=getattr(exc, "endpoint", None), message=str(exc))
        log.debug("%s: unexpected error", venue, exc_info=exc)
        return cls(venue=venue, kind="internal", endpoint=None,
                   message=f"{venue}: internal error ({type(exc).__name__}: {exc})")

    def to_row(self) -> dict[str, Any]:
        """The failure as a flat dict (the ``errors`` rows of every JSON document)."""
        return {"venue": self.venue, "kind": self.kind, "endpoint": self.endpoint, "message": self.message}


def unique(failures: Iterable[Failure]) -> list[Failure]:
    """Failures in order, each once (a missing part of a listing is reported by several steps)."""
    return list(dict.fromkeys(failures))


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSpan:
    """Settlements of one series that came from the history store (the part beyond a venue's depth)."""

    venue: str
    symbol: str
    points: int
    first: datetime
    last: datetime

    def to_row(self) -> dict[str, Any]:
        """The span as a flat JSON-able dict."""
        return {"venue": self.venue, "symbol": self.symbol, "points": self.points, "first": iso(self.first),
                "last": iso(self.last)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where a result's data came from. ``kind``: ``venues`` (asked over the network) or ``store`` (the
    history store, without the network; ``age_seconds``: how old its oldest snapshot was, received at
    ``snapshot_time``). ``store`` names the store that was read (password hidden): for a store answer, or for
    stored settlements that extended the venues' histories (``history_from_store``). ``note``: why the store
    did not answer when it was consulted, or what a store answer leaves out."""

    kind: str = "venues"
    store: str | None = None
    age_seconds: float | None = None
    snapshot_time: datetime | None = None
    history_from_store: tuple[StoredSpan, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The ``source`` object of a JSON document."""
        return {"kind": self.kind, "store": self.store, "age_seconds": self.age_seconds,
                "snapshot_time": iso(self.snapshot_time),
                "history_from_store": [s.to_row() for s in self.history_from_store], "note": self.note}

    def line(self) -> str:
        """One line for under a table ("" when there is nothing to say: the venues, no store involved)."""
        if self.kind == "store":
            text = (f"Source: the store {self.store}, snapshots {self.age_seconds or 0:.0f} s old (no network; "
                    "--live asks the venues)")
        elif self.history_from_store:
            n = sum(s.points for s in self.history_from_store)
            text = (f"Source: the venues; {n} older settlements of {len(self.history_from_store)} series from the "
                    f"store {self.store}")
        elif self.store and self.note:
            text = f"Source: the venues (the store {self.store} could not answer: {self.note})"
        else:
            return ""
        return f"{text}; {self.note}" if self.note and self.kind == "store" else text


@dataclass(slots=True)
class Answer(Generic[T]):
    """One venue's answer to a query: the items it could read and the problems that did not stop it
    (an enrichment that failed, a part of the venue that could not be read, a row that was implausible)."""

    venue: str
    items: list[T] = field(default_factory=list)
    errors: list[DtrackError] = field(default_factory=list)

    def failures(self) -> list[Failure]:
        """``errors`` as failure rows."""
        return [Failure.of(self.venue, e) for e in self.errors]


async def settle(jobs: Sequence[Awaitable[T]]) -> list[T | DtrackError]:
    """Run ``jobs`` concurrently; each gives its value or the ``DtrackError`` it failed with (anything else
    is a bug and is raised once every job has finished)."""
    done = await asyncio.gather(*jobs, return_exceptions=True)
    out: list[T | DtrackError] = []
    for item in done:
        if isinstance(item, DtrackError):
            out.append(item)
        elif isinstance(item, BaseException):
            raise item
        else:
            out.append(item)
    return out


def ok(outcome: T | BaseException) -> T:
    """A gathered outcome's value, or raise what it failed with."""
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def every(outcomes: Iterable[T | BaseException]) -> list[T]:
    """Every gathered value, or the first failure raised (once every job has finished)."""
    return [ok(o) for o in outcomes]


def parsed(outcome: Any, parse: Callable[[Any], T]) -> T | DtrackError:
    """``parse`` of a gathered answer, or the ``DtrackError`` of its request or of the parse (anything else
    is a bug and is raised)."""
    if isinstance(outcome, DtrackError):
        return outcome
    try:
        return parse(ok(outcome))
    except ParseError as exc:
        return exc


class Fold:
    """What one venue answered across its jobs, and the problems that did not stop it (kept in ``errors``,
    which may be a list the caller already collects into)."""

    def __init__(self, errors: list[DtrackError] | None = None) -> None:
        self.errors: list[DtrackError] = [] if errors is None else errors

    def value(self, outcome: T | BaseException, *, optional: bool = False) -> T | None:
        """The job's value, or None when it failed with a ``DtrackError`` (kept; with ``optional``, an
        ``UnsupportedError`` means the venue does not publish it and is not an error). Any other exception
        is a bug and is raised."""
        if isinstance(outcome, DtrackError):
            if not (optional and isinstance(outcome, UnsupportedError)):
                self.errors.append(outcome)
            return None
        return ok(outcome)

    def values(self, outcomes: Iterable[T | BaseException]) -> list[T | None]:
        """``value`` of each outcome, in order (None where one failed)."""
        return [self.value(o) for o in outcomes]

    def items(self, outcome: Answer[T] | DtrackError, *, optional: bool = False) -> list[T]:
        """The items of an ``Answer`` (its non-fatal errors kept), or [] when the job failed."""
        answer = self.value(outcome, optional=optional)
        if answer is None:
            return []
        self.errors += answer.errors
        return list(answer.items)

    def all_items(self, outcomes: Sequence[Answer[T] | DtrackError], *, optional: bool = False) -> list[T]:
        """The items of several answers, in order."""
        return [x for outcome in outcomes for x in self.items(outcome, optional=optional)]


# --------------------------------------------------------------------------------------------------
# Query results


@dataclass(slots=True, kw_only=True)
class Result:
    """What a query answered: the report the CLI renders, the failures, and when it was computed.

    ``to_dict()`` is exactly the command's ``--format json`` document (with ``schema_version``);
    ``to_pandas()`` is a DataFrame of the main rows, ``frames()`` every table of the document.
    """

    command: ClassVar[str]
    #: the document key holding the main rows
    main_table: ClassVar[str]

    as_of: datetime
    failures: list[Failure] = field(default_factory=list)
    #: no venue answered at all
    all_failed: bool = False

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for this result: 0 ok, 1 no venue answered, 3 partial."""
        if self.all_failed:
            return EXIT_ERROR
        return EXIT_PARTIAL if self.failures else EXIT_OK

    def _document(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The ``--format json`` document: plain JSON types, fractions not percent, ISO-8601 UTC times."""
        return {"schema_version": SCHEMA_VERSION, "command": self.command, **self._document()}

    def to_json(self, indent: int | None = 2) -> str:
        """``to_dict()`` as JSON text (no NaN: an unknown value is null)."""
        import json

        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_csv(self) -> str:
        """The main rows as CSV (what ``--format csv`` prints)."""
        raise NotImplementedError

    def csv_note(self) -> str:
        """What the CSV leaves out (said on stderr by the CLI), or ""."""
        return ""

    def table(self) -> Any:
        """The report as terminal tables (a ``dtrack.report.table`` part: ``.render(width)`` is the text the CLI
        prints, fit to ``width`` columns)."""
        raise NotImplementedError

    def empty_line(self) -> str:
        """What the table view says when there is nothing to show (``all_failed``)."""
        return "no venue answered (see the lines above); nothing to show"

    def main_key(self) -> str:
        """The key of the document's main rows (what ``to_pandas()`` returns)."""
        return self.main_table

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every table of the JSON document (each list of rows) as a DataFrame; times are tz-aware UTC
        timestamps. Needs pandas (``pip install 'dtrack[pandas]'``)."""
        doc = self.to_dict()
        return {key: _frame(rows) for key, rows in doc.items() if _is_table(rows)}

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame of the main rows: one row per row of the JSON document's main table, same values
        (times as tz-aware UTC timestamps, nested objects flattened as ``parent.child`` columns)."""
        return _frame(self.to_dict()[self.main_key()])


def _is_table(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


TIME_SUFFIXES = ("time", "_at", "as_of", "expiry")
INSTRUMENT_COLUMNS = ("venue", "symbol", "id", "kind", "margin", "quote", "settle", "contract_size", "contract_unit",
                      "multiplier", "expiry")


def _frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on the environment
        raise DtrackError("pandas is not installed: pip install 'dtrack[pandas]'") from None
    frame = pd.json_normalize(list(rows), sep=".") if rows else pd.DataFrame()
    for col in frame.columns:
        leaf = str(col).rsplit(".", 1)[-1]
        if leaf.endswith(TIME_SUFFIXES) and not pd.api.types.is_numeric_dtype(frame[col]) \
                and not pd.api.types.is_datetime64_any_dtype(frame[col]):
            frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    return frame


def _with_source(renderable: Any, source: Source) -> Any:
    """A table with the line saying where its data came from under it (when there is one to say)."""
    line = source.line()
    if not line:
        return renderable
    from dtrack.report.table import Text, View

    return View(renderable, Text(line, style="dim"))


def _failures(result: Result) -> list[dict[str, Any]]:
    return [f.to_row() for f in result.failures]


@dataclass(slots=True, kw_only=True)
class FundingResult(Result):
    """``dtrack funding``: every perpetual's current rate with its interval, history statistics,
    the OI-weighted summary per asset, and (when asked) arbitrage pairs and position payments."""

    command: ClassVar[str] = "funding"
    main_table: ClassVar[str] = "rates"
    report: FundingReport
    show_history: bool = False
    #: where the data came from (the venues, or the store without the network)
    source: Source = field(default_factory=Source)
    #: the screen (``top``) or ordering (``sort``, ``min_oi``, ``limit``) applied, if any
    screen: ScreenInfo | None = None
    #: the settled funding behind the statistics, per (venue, symbol), oldest first (charts; not in the JSON)
    series: dict[tuple[str, str], tuple[FundingPoint, ...]] = field(default_factory=dict)

    def _document(self) -> dict[str, Any]:
        from dtrack.report import funding as out

        doc = {**out.to_json(self.report, self.failures), "source": self.source.to_dict()}
        if self.screen is not None:
            from dtrack.report.screens import screen_dict

            doc["screen"] = screen_dict(self.screen)
        return doc

    def to_csv(self) -> str:
        if self.report.arbitrage is not None:  # the --arb view: its pairs
            from dtrack.report.screens import arbitrage_csv

            return arbitrage_csv(self.report)
        from dtrack.report import funding as out

        return out.to_csv(self.report, with_history=self.show_history)

    def csv_note(self) -> str:
        return ("CSV holds the arbitrage pairs; the rate rows and the per-asset summary are in --format json"
                if self.report.arbitrage is not None else "")

    def table(self) -> Any:
        if self.screen is not None and self.screen.top is not None:
            from dtrack.report.screens import funding_screen

            return _with_source(funding_screen(self.report, self.screen), self.source)
        from dtrack.report import funding as out

        return _with_source(out.render_table(self.report, self.show_history), self.source)


@dataclass(slots=True, kw_only=True)
class OpenInterestResult(Result):
    """``dtrack oi``: open interest per contract (venue unit, coins, USD, price used), shares, changes,
    long/short ratios and OI/price divergence."""

    command: ClassVar[str] = "oi"
    main_table: ClassVar[str] = "rows"
    report: OIReport
    #: where the data came from (the venues, or the store without the network)
    source: Source = field(default_factory=Source)
    #: the screen (``top``) or ordering (``sort``, ``min_oi``) applied, if any
    screen: ScreenInfo | None = None
    #: what the venues answered: open-interest histories and kline closes (charts; not in the JSON)
    inputs: OIInputs | None = None

    def _document(self) -> dict[str, Any]:
        from dtrack.report import oi as out

        doc = {**out.to_json(self.report, self.failures), "source": self.source.to_dict()}
        if self.screen is not None:
            from dtrack.report.screens import screen_dict

            doc["screen"] = screen_dict(self.screen)
        return doc

    def to_csv(self) -> str:
        if self.report.divergence:  # the --divergence view: its rows
            from dtrack.report.screens import divergence_csv

            return divergence_csv(self.report)
        from dtrack.report import oi as out

        return out.to_csv(self.report)

    def csv_note(self) -> str:
        if self.report.divergence:
            return "CSV holds the divergence rows; the contract rows, totals and long/short are in --format json"
        return "CSV holds the contract rows; totals and long/short are in --format json"

    def table(self) -> Any:
        if self.screen is not None and self.screen.top is not None:
            from dtrack.report.screens import oi_screen

            return _with_source(oi_screen(self.report, self.screen), self.source)
        from dtrack.report import oi as out

        return _with_source(out.render_table(self.report), self.source)


@dataclass(slots=True, kw_only=True)
class BasisResult(Result):
    """``dtrack basis``: perpetual premia and funding carry, dated-futures basis, term structure,
    constant maturity and carry trades."""

    command: ClassVar[str] = "basis"
    main_table: ClassVar[str] = "rows"
    report: BasisReport
    #: where the data came from (the venues, or the store without the network)
    source: Source = field(default_factory=Source)
    #: the ordering (``sort``, ``limit``) of the rows, if any
    screen: ScreenInfo | None = None

    def _document(self) -> dict[str, Any]:
        from dtrack.report import basis as out

        doc = {**out.to_json(self.report, self.failures), "source": self.source.to_dict()}
        if self.screen is not None:
            from dtrack.report.screens import screen_dict

            doc["screen"] = screen_dict(self.screen)
        return doc

    def to_csv(self) -> str:
        from dtrack.report import basis as out

        return out.to_csv(self.report)

    def csv_note(self) -> str:
        return ("CSV holds the contract rows; term structure, constant maturity and opportunities are in "
                "--format json")

    def table(self) -> Any:
        if self.screen is not None:
            from dtrack.report.screens import basis_screen

            return _with_source(basis_screen(self.report, self.screen), self.source)
        from dtrack.report import basis as out

        return _with_source(out.render_table(self.report), self.source)


@dataclass(slots=True, kw_only=True)
class OptionsResult(Result):
    """``dtrack options``: per-expiry metrics, the cross-venue aggregate, IV term structure and regime,
    and (when asked) the chain, GEX and the large-trade flow."""

    command: ClassVar[str] = "options"
    main_table: ClassVar[str] = "expiries"
    report: OptionsReport
    chain: bool = False
    pcr: bool = False
    gex: bool = False
    flow: bool = False
    #: where the data came from (the venues, or the store's per-expiry metrics without the network)
    source: Source = field(default_factory=Source)

    def main_key(self) -> str:
        """The chain when it was asked for, else the per-expiry rows."""
        return "chain" if self.chain else "expiries"

    def _document(self) -> dict[str, Any]:
        from dtrack.report import options as out

        return {**out.to_json(self.report, self.failures, chain=self.chain, gex=self.gex, flow=self.flow),
                "source": self.source.to_dict()}

    def csv_view(self) -> str:
        """Which table the CSV holds: the view asked for (``chain``, then ``gex``, then ``flow``), else ``expiries``."""
        return "chain" if self.chain else "gex" if self.gex else "flow" if self.flow else "expiries"

    def to_csv(self) -> str:
        from dtrack.report import screens

        view = self.csv_view()
        if view == "gex":
            return screens.gex_csv(self.report)
        if view == "flow":
            return screens.flow_csv(self.report)
        from dtrack.report import options as out

        return out.to_csv(self.report, self.chain)

    def csv_note(self) -> str:
        held = {"chain": "the chain", "gex": "dealer gamma by strike", "flow": "the large trades",
                "expiries": "the per-expiry rows"}[self.csv_view()]
        rest = [name for key, name in (("gex", "GEX"), ("flow", "flow")) if getattr(self, key)
                and key != self.csv_view()]
        return f"CSV holds {held}; term structure, regime{''.join(', ' + r for r in rest)} are in --format json"

    def table(self) -> Any:
        from dtrack.report import options as out

        return _with_source(out.render_table(self.report, chain=self.chain, pcr=self.pcr, gex=self.gex,
                                             flow=self.flow), self.source)


@dataclass(slots=True, kw_only=True)
class VenuesResult(Result):
    """``dtrack venues``: every venue dtrack knows, its status and its capability table."""

    command: ClassVar[str] = "venues"
    main_table: ClassVar[str] = "venues"
    rows: list[dict[str, Any]]

    def _document(self) -> dict[str, Any]:
        return {"as_of": iso(self.as_of), "venues": self.rows, "errors": _failures(self)}

    def to_csv(self) -> str:
        from dtrack.report.venues import to_csv

        return to_csv(self.rows)

    def table(self) -> Any:
        from dtrack.report.venues import render_table

        return render_table(self.rows)


@dataclass(slots=True, kw_only=True)
class InstrumentsResult(Result):
    """Every listed perpetual and dated future (options are not listed here): one row per venue-native
    contract with its normalized id, contract size and unit, multiplier and expiry."""

    command: ClassVar[str] = "instruments"
    main_table: ClassVar[str] = "instruments"
    rows: list[dict[str, Any]]

    def _document(self) -> dict[str, Any]:
        return {"as_of": iso(self.as_of), "instruments": self.rows, "errors": _failures(self)}

    def to_csv(self) -> str:
        from dtrack.report.rows import rows_to_csv

        return rows_to_csv(self.rows)

    def table(self) -> Any:
        from dtrack.report.rows import rows_table

        return rows_table("INSTRUMENTS", self.rows, INSTRUMENT_COLUMNS)


@dataclass(slots=True, kw_only=True)
class HistoryResult(Result):
    """``dtrack history``: a stored series read from the history store only (no network). ``kind`` is
    ``funding`` (settled funding), ``oi`` (open-interest history), ``klines`` (kline closes), ``snapshots``
    (the stored funding, open-interest and price snapshots), ``options`` (the stored per-expiry option metrics)
    or ``gaps`` (what collectors did not see).
    ``rows`` are the stored rows, oldest first, each with a ``time`` column (times as aware UTC datetimes);
    ``note`` says what to run when the store holds nothing for the question. ``to_pandas()`` gives a tz-aware
    ``time`` column, ``to_csv()`` the rows with ``time`` first."""

    command: ClassVar[str] = "history"
    main_table: ClassVar[str] = "rows"
    kind: str
    since: datetime
    until: datetime | None
    store: str
    assets: list[str]
    venues: list[str]
    rows: list[dict[str, Any]]
    note: str = ""

    def _document(self) -> dict[str, Any]:
        from dtrack.report import history as out

        return out.history_json(self)

    def to_csv(self) -> str:
        from dtrack.report import history as out

        return out.history_csv(self)

    def table(self) -> Any:
        from dtrack.report import history as out

        return out.history_table(self)

    def empty_line(self) -> str:
        return self.note or "the store holds nothing for this question"


@dataclass(slots=True, kw_only=True)
class BackfillResult(Result):
    """``dtrack backfill``: what a backfill fetched and wrote, one row per venue and kind: asked from, got
    from (what the venue keeps), points fetched and newly written, the venue's history depth and a note."""

    command: ClassVar[str] = "backfill"
    main_table: ClassVar[str] = "rows"
    since: datetime
    kinds: list[str]
    assets: list[str]
    store: str
    rows: list[dict[str, Any]]

    def _document(self) -> dict[str, Any]:
        from dtrack.report.history import iso_ms

        return {"as_of": iso(self.as_of), "store": self.store, "since": iso_ms(self.since), "kinds": self.kinds,
                "assets": self.assets, "rows": self.rows,
                "written": {t: sum(r["written"] for r in self.rows if r["table"] == t)
                            for t in dict.fromkeys(r["table"] for r in self.rows)},
                "errors": _failures(self)}

    def to_csv(self) -> str:
        from dtrack.report import history as out

        return out.backfill_csv(self)

    def csv_note(self) -> str:
        return "CSV holds one row per venue and kind; the per-symbol detail is in --format json"

    def table(self) -> Any:
        from dtrack.report import history as out

        return out.backfill_table(self)

    def empty_line(self) -> str:
        return "nothing was backfilled (see the lines above)"


@dataclass(frozen=True, slots=True, kw_only=True)
class LiquidationSource:
    """Where a liquidations answer's events came from. ``kind``: ``store`` (the history store: what collectors
    recorded), ``listen`` (heard live for ``listen_seconds``, from ``listen_start`` to ``listen_end``),
    ``store+listen`` (both, merged by event key) or ``none`` (nothing could be read). ``auto_listen``: the store
    held nothing in the window and ``--sim`` listened to the simulated venues for a short while (settings
    ``liquidations.listen_seconds``). ``store`` names the store read (password hidden); ``note`` says why it was
    not, or what it held."""

    kind: str
    store: str | None = None
    listen_seconds: float | None = None
    listen_start: datetime | None = None
    listen_end: datetime | None = None
    auto_listen: bool = False
    note: str = ""

    @property
    def snapshot_time(self) -> datetime | None:
        """None: events are as of the answer's time (``as_of``), not of a snapshot."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """The ``source`` object of the JSON document."""
        return {"kind": self.kind, "store": self.store, "listen_seconds": self.listen_seconds,
                "listen_start": iso(self.listen_start), "listen_end": iso(self.listen_end),
                "auto_listen": self.auto_listen, "note": self.note}

    def line(self) -> str:
        """One line for under the tables."""
        parts = []
        if self.kind in ("store", "store+listen") and self.store:
            parts.append(f"the store {self.store}")
        if self.listen_seconds is not None:
            parts.append(f"{self.listen_seconds:.0f} s listened live"
                         + (" (--sim with nothing stored: a short listen to the simulated venues)"
                            if self.auto_listen else ""))
        text = f"Source: {' + '.join(parts)}" if parts else "Source: none"
        return f"{text}; {self.note}" if self.note else text


@dataclass(slots=True, kw_only=True)
class LiquidationsResult(Result):
    """``dtrack liquidations``: liquidations by the side of the position liquidated, per venue and in total over
    1 h / 4 h / 12 h / 24 h (up to ``--since``), with each venue's coverage (complete / sampled / trade-flag), the
    time the data covers, the long/short ratio and counts; with ``--recent`` the latest large events. ``note``:
    what the answer lacks when nothing could be read (and what to run)."""

    command: ClassVar[str] = "liquidations"
    main_table: ClassVar[str] = "rows"
    report: LiquidationsReport
    source: LiquidationSource
    note: str = ""

    def main_key(self) -> str:
        """The recent events when they were asked for, else the per-venue window rows."""
        return "recent" if self.report.recent is not None else "rows"

    def _document(self) -> dict[str, Any]:
        from dtrack.report import liquidations as out

        return out.to_json(self.report, self.failures, self.source.to_dict())

    def to_csv(self) -> str:
        from dtrack.report import liquidations as out

        return out.to_csv(self.report)

    def csv_note(self) -> str:
        return ("CSV holds the recent events; the totals and coverage are in --format json"
                if self.report.recent is not None else
                "CSV holds one row per asset, window and venue (venue all: the total); coverage spans, gaps and "
                "the source are in --format json")

    def table(self) -> Any:
        from dtrack.report import liquidations as out

        return out.render_table(self.report, self.source.line())

    def empty_line(self) -> str:
        return self.note or "no liquidation data to show"


@dataclass(slots=True, kw_only=True)
class LiquidationMapResult(Result):
    """``dtrack liquidations --map``: the ESTIMATED liquidation map (heatmap) of each asset: price bins over
    ``±range`` around the current price (longs below, shorts above) with the estimated USD, distance and density
    label, the cascade risk (seed-000 bands scaled to the asset's open interest, seed-004 ratio) with their
    inputs, and what each venue's contracts contributed. An estimate of the method ``params.method_id``
    (``dtrack.analytics.liquidation_map``), never observed liquidations. ``source``: the store or the venues;
    ``not_covered``: venues left out (no open-interest history), with the reason. ``levels(received_at)``: the
    bins as ``LiquidationLevel`` records (what the collector stores)."""

    command: ClassVar[str] = "liquidation_map"
    main_table: ClassVar[str] = "bins"
    maps: list[LiquidationMap]
    params: MapParams
    source: Source = field(default_factory=Source)
    not_covered: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def _document(self) -> dict[str, Any]:
        from dtrack.report import liquidation_map as out

        return out.map_json(self)

    def to_csv(self) -> str:
        from dtrack.report import liquidation_map as out

        return out.map_csv(self)

    def csv_note(self) -> str:
        return "CSV holds the bins (an estimate); the method, cascade risk and per-contract detail are in --format json"

    def table(self) -> Any:
        from dtrack.report import liquidation_map as out

        return out.map_table(self)

    def empty_line(self) -> str:
        return "; ".join(self.notes) or "no venue answered (see the lines above); no liquidation map"

    def levels(self, received_at: datetime | None = None) -> list[Any]:
        """Every bin of every map as ``dtrack.records.LiquidationLevel`` (``received_at`` default: ``as_of``)."""
        from dtrack.client.queries.liquidation_map import levels_of

        return [lv for m in self.maps for lv in levels_of(m, received_at or self.as_of)]


@dataclass(slots=True, kw_only=True)
class LiquidationScoreResult(Result):
    """``dtrack liquidations --score 7d``: the estimated maps the collector froze since ``since`` against the
    liquidations recorded in the ``horizon`` after each, over the price bins price traversed: Spearman's rank
    correlation and the share of the realized USD in the ``top_k`` estimated bins, beside the same figures of a
    naive baseline (the leverage ladder: every position opened at the price of the estimate's time, over the same
    leverage mix and maintenance rates; distance only). One row per asset and method; read from the store only."""

    command: ClassVar[str] = "liquidation_score"
    main_table: ClassVar[str] = "scores"
    since: datetime
    until: datetime
    horizon: timedelta
    top_k: int
    assets: list[str]
    store: str
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    note: str = ""

    def _document(self) -> dict[str, Any]:
        from dtrack.report import liquidation_map as out

        return out.score_json(self)

    def to_csv(self) -> str:
        from dtrack.report import liquidation_map as out

        return out.score_csv(self)

    def table(self) -> Any:
        from dtrack.report import liquidation_map as out

        return out.score_table(self)

    def empty_line(self) -> str:
        return self.note or "nothing to score"


@dataclass(slots=True, kw_only=True)
class DashboardResult(Result):
    """``dtrack dashboard``: per asset the headline figures (level 1), the funding, open-interest, liquidation,
    basis and options panels with sparklines of stored history (level 2), and signals with a risk assessment
    (level 3); ``panels`` says per panel whether it is complete, partial, failed or unavailable (and why). Every
    number is taken from the ``funding``, ``open_interest``, ``basis``, ``options`` and ``liquidations`` results of
    the same moment (``dtrack.client.queries.dashboard``)."""

    command: ClassVar[str] = "dashboard"
    main_table: ClassVar[str] = "assets"
    level: int
    #: the document without ``schema_version``, ``command`` and ``errors`` (times may be datetimes)
    document: dict[str, Any]

    def _document(self) -> dict[str, Any]:
        from dtrack.report import dashboard as out

        return out.to_json(self.document, self.failures)

    def to_csv(self) -> str:
        from dtrack.report import dashboard as out

        return out.to_csv(self.document)

    def csv_note(self) -> str:
        return "CSV holds one headline row per asset; the panels, signals and risk are in --format json"

    def table(self) -> Any:
        from dtrack.report import dashboard as out

        return out.render(self.document)


@dataclass(slots=True, kw_only=True)
class AlertsResult(Result):
    """``dtrack alerts check`` (and ``test``): the alerts that fired (``alerts``: sent, or with ``sent`` False a dry
    run's), those their cooldown held (``held``), what each sink did (``deliveries``: masked targets and errors),
    each rule's check (``rules``: readings, matches, whether its data was there) and ``notes``. Exit codes: 0
    nothing fired, 10 something fired and every sink took it, 11 something fired and a sink failed; 1 no data at all
    (or a test message that did not go), 3 nothing fired and some venues failed."""

    command: ClassVar[str] = "alerts"
    main_table: ClassVar[str] = "alerts"
    assets: list[str]
    rules: list[Any]  # dtrack.alerts.check.RuleStatus
    alerts: list[Any]  # dtrack.alerts.rules.Alert
    held: list[Any]  # dtrack.alerts.check.Held
    deliveries: list[Any]  # dtrack.alerts.check.Delivery
    notes: list[str] = field(default_factory=list)
    sent: bool = True
    test: bool = False

    @property
    def exit_code(self) -> int:
        """0 nothing fired, 10 fired and delivered, 11 fired and a sink failed; 1, 3 as every command."""
        from dtrack.alerts import EXIT_FIRED, EXIT_UNDELIVERED

        undelivered = any(not d.ok for d in self.deliveries)
        if self.test:
            return EXIT_ERROR if undelivered or not self.deliveries else EXIT_OK
        if self.alerts:
            return EXIT_UNDELIVERED if undelivered else EXIT_FIRED
        if self.all_failed:
            return EXIT_ERROR
        return EXIT_PARTIAL if self.failures else EXIT_OK

    def _document(self) -> dict[str, Any]:
        from dtrack.alerts import render

        return render.to_json(self)

    def to_csv(self) -> str:
        from dtrack.alerts import render

        return render.to_csv(self)

    def csv_note(self) -> str:
        return "CSV holds the alerts that fired; held alerts, deliveries and rules are in --format json"

    def table(self) -> Any:
        from dtrack.alerts import render

        return render.render_table(self)

    def empty_line(self) -> str:
        why = f": {'; '.join(self.notes)}" if self.notes else " (see the lines above)"
        return f"no data to check the rules on{why}"


# --- the quant toolkit (issue 13) -------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class ExecSimResult(Result):
    """``dtrack execsim``: an order of ``size`` on ``side`` of ``asset`` simulated on ``venue``'s real book (chosen
    as ``choice`` says among ``candidates``: each venue's main perpetual, its book and that book's side as the order
    sees it): the market order walked through the book, and TWAP / VWAP / iceberg over ``over_hours`` in ``slices``
    children on ``paths`` seeded price paths (``comparison``), with the model's calibrated parameters
    (``calibration``; the fit of Y on ``fit_points`` levels, R² ``fit_r2``), the volume's source, the candles read
    and the VWAP ``profile``. ``not_covered``: venues without a book, with the reason. The model:
    ``dtrack.analytics.execution``."""

    command: ClassVar[str] = "execsim"
    main_table: ClassVar[str] = "algorithms"
    asset: str
    side: str
    size: Size
    algos: list[str]
    over_hours: float
    slices: int
    paths: int
    seed: int
    venue: str | None = None
    choice: str = ""
    candidates: list[tuple[Candidate, Ladder]] = field(default_factory=list)
    ladder: Ladder | None = None
    book: OrderBook | None = None
    quote: PriceQuote | None = None
    size_base: float | None = None
    candles: int = 0
    candles_first: datetime | None = None
    candles_last: datetime | None = None
    volume_source: str = ""
    profile: Profile | None = None
    spec: Spec | None = None
    calibration: Calibration | None = None
    comparison: Comparison | None = None
    fit_points: int = 0
    fit_r2: float | None = None
    not_covered: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def _document(self) -> dict[str, Any]:
        from dtrack.report import execsim as out

        return out.document(self)

    def to_csv(self) -> str:
        from dtrack.report import execsim as out

        return out.csv_text(self)

    def csv_note(self) -> str:
        return ("CSV holds the comparison table; the book, the market order's walk and every parameter are in "
                "--format json")

    def table(self) -> Any:
        from dtrack.report import execsim as out

        return out.view(self)

    def empty_line(self) -> str:
        why = "; ".join([*self.notes, *(f"{o['venue']}: {o['reason']}" for o in self.not_covered)])
        return f"no order book was read{': ' + why if why else ' (see the lines above)'}; nothing to simulate"



@dataclass(slots=True, kw_only=True)
class LiqPriceResult(Result):
    """``dtrack liqprice``: the liquidation price of one position on one venue's contract with the venue's real
    maintenance-margin tiers and documented formula (``dtrack.analytics.liqprice``): the price, its distance and the
    move that reaches it, the tier used (iterated to the one the position falls in at that price) with its source,
    the seed-004 risk level; optionally the highest leverage keeping a target distance and a risk-based size.
    ``report`` is None when the venue did not answer (``failures`` says why); ``entry_source`` says where the entry
    price came from; ``notes`` what the user should know (the contract chosen among several ...)."""

    command: ClassVar[str] = "liqprice"
    main_table: ClassVar[str] = "rows"
    venue: str
    symbol: str
    instrument: Instrument | None = None
    report: LiqReport | None = None
    entry_source: str = ""
    notes: list[str] = field(default_factory=list)

    def _document(self) -> dict[str, Any]:
        from dtrack.report import liqprice as out

        return out.liqprice_json(self)

    def to_csv(self) -> str:
        from dtrack.report import liqprice as out

        return out.liqprice_csv(self)

    def csv_note(self) -> str:
        return "CSV holds the outcome rows; the tiers, the formula, sizing and notes are in --format json"

    def table(self) -> Any:
        from dtrack.report import liqprice as out

        return out.liqprice_table(self)

    def empty_line(self) -> str:
        return f"no liquidation price for {self.venue} {self.symbol}: the venue did not answer (see above)"



@dataclass(slots=True, kw_only=True)
class VolResult(Result):
    """``dtrack vol``: realized volatility of each asset from one contract's klines (close-to-close, Parkinson,
    Garman-Klass, Rogers-Satchell, Yang-Zhang; annualized over 365 days), its regime (settings ``vol`` bands),
    rolling series and regime transitions, the adaptive leverage (target volatility / realized, capped per
    regime) and the regimes' parameters table, beside DVOL and the 30-day ATM implied volatility and the IV - RV
    spread (``dtrack.analytics.volatility`` documents the estimators). ``params``: what was asked; ``assets``:
    one ``AssetVol`` per asset (``analysis`` None where no venue served enough klines, with the reason in its
    notes)."""

    command: ClassVar[str] = "vol"
    main_table: ClassVar[str] = "assets"
    params: VolParams
    assets: list[AssetVol] = field(default_factory=list)

    def _document(self) -> dict[str, Any]:
        from dtrack.report import vol as out

        return out.to_json(self)

    def to_csv(self) -> str:
        from dtrack.report import vol as out

        return out.to_csv(self)

    def csv_note(self) -> str:
        return ("CSV holds one row per asset (current estimates, regime, leverage, implied); the rolling series, "
                "transitions and regime parameters are in --format json")

    def table(self) -> Any:
        from dtrack.report import vol as out

        return out.render_table(self)

    def empty_line(self) -> str:
        notes = [f"{a.asset}: {'; '.join(a.notes)}" for a in self.assets if a.notes]
        return "; ".join(notes) or "no venue served klines (see the lines above); no volatility to show"



@dataclass(slots=True, kw_only=True)
class BookResult(Result):
    """``dtrack book``: per contract of the assets (perpetuals by default) the L2 book's mid, spread, best bid and
    ask, and per band (a fraction of the mid) the bid and ask depth in coins and USD, the imbalance and whether a
    side's figure is a lower bound (``truncated``: the venue's answer ended inside the band); per asset the sum
    across venues (``dtrack.analytics.book``). ``snapshots()`` gives the rows as ``BookSnapshot`` records (what the
    collector stores)."""

    command: ClassVar[str] = "book"
    main_table: ClassVar[str] = "rows"
    report: BookReport

    def _document(self) -> dict[str, Any]:
        from dtrack.report import book as out

        return out.to_json(self.report, self.failures)

    def to_csv(self) -> str:
        from dtrack.report import book as out

        return out.to_csv(self.report)

    def csv_note(self) -> str:
        return "CSV holds one row per contract and band; the per-asset sums are in --format json"

    def table(self) -> Any:
        from dtrack.report import book as out

        return out.render_table(self.report)

    def empty_line(self) -> str:
        return "no venue answered with a book (see the lines above); nothing to show"

    def snapshots(self) -> list[Any]:
        """Every contract's metrics as ``dtrack.records.BookSnapshot`` (what the collector stores; the 1 % band
        must be among the bands asked: a row without it is left out)."""
        from dtrack.analytics.book import snapshot_of

        return [s for m in self.report.rows if (s := snapshot_of(m)) is not None]


@dataclass(slots=True, kw_only=True)
class CarryResult(Result):
    """``dtrack carry open|status|close|list``: recorded basis positions (long spot, short perpetual) and, for
    ``status`` and ``close``, each one's spot and perp P&L, the funding payments received since opening (each with
    its own interval and the price it was paid on), fees, net, return on capital and annualized return
    (``dtrack.analytics.carry``). ``action`` says which sub-command; ``store`` where the positions are kept;
    ``leverage`` the perp leverage of the capital definition."""

    command: ClassVar[str] = "carry"
    main_table: ClassVar[str] = "positions"
    action: str
    views: list[Any]  # dtrack.analytics.carry.PositionView
    store: str
    leverage: float = 1.0
    notes: list[str] = field(default_factory=list)

    def _document(self) -> dict[str, Any]:
        from dtrack.report import carry as out

        return out.positions_json(self)

    def to_csv(self) -> str:
        from dtrack.report import carry as out

        return out.positions_csv(self)

    def csv_note(self) -> str:
        return "CSV holds one row per position; each funding payment is in --format json"

    def table(self) -> Any:
        from dtrack.report import carry as out

        return out.positions_table(self)

    def empty_line(self) -> str:
        return "; ".join(self.notes) or "no venue answered (see the lines above); no P&L to show"


@dataclass(slots=True, kw_only=True)
class CarrySimulationResult(Result):
    """``dtrack carry simulate``: seed 004's Monte Carlo of a basis trade (``dtrack.analytics.carry.simulate``):
    the distribution of the net P&L (USD) and return on capital over seeded paths, the probability of a loss."""

    command: ClassVar[str] = "carry"
    main_table: ClassVar[str] = "distribution"
    report: Any  # dtrack.analytics.carry.SimReport

    def _document(self) -> dict[str, Any]:
        from dtrack.report import carry as out

        return out.simulation_json(self)

    def to_csv(self) -> str:
        from dtrack.report import carry as out

        return out.simulation_csv(self)

    def csv_note(self) -> str:
        return "CSV holds the distribution; the parameters and the probability of loss are in --format json"

    def table(self) -> Any:
        from dtrack.report import carry as out

        return out.simulation_table(self)


@dataclass(slots=True, kw_only=True)
class CarryBacktestResult(Result):
    """``dtrack carry backtest``: a basis trade held over a venue's REAL settled funding history
    (``dtrack.analytics.carry.backtest``): each settlement at its own interval and price, entry and exit fees, the
    net, return on capital and annualized return, and the funding by day. ``backtest`` is None when the venue did
    not answer (``failures``); ``history_note`` says when the venue kept less history than asked."""

    command: ClassVar[str] = "carry"
    main_table: ClassVar[str] = "daily"
    asset: str
    venue: str
    symbol: str
    start: datetime
    end: datetime
    notional: float
    backtest: Any  # dtrack.analytics.carry.Backtest | None
    history_note: str = ""
    notes: list[str] = field(default_factory=list)

    def _document(self) -> dict[str, Any]:
        from dtrack.report import carry as out

        return out.backtest_json(self)

    def to_csv(self) -> str:
        from dtrack.report import carry as out

        return out.backtest_csv(self)

    def csv_note(self) -> str:
        return "CSV holds the funding by day; the totals, fees and returns are in --format json"

    def table(self) -> Any:
        from dtrack.report import carry as out

        return out.backtest_table(self)

    def empty_line(self) -> str:
        return "; ".join(self.notes) or "the venue did not answer (see the lines above); nothing to backtest"


#: every query result type by command name
RESULTS: dict[str, type[Result]] = {r.command: r for r in (
    FundingResult, OpenInterestResult, BasisResult, OptionsResult, VenuesResult, InstrumentsResult, HistoryResult,
    BackfillResult, LiquidationsResult, LiquidationMapResult, LiquidationScoreResult, DashboardResult, AlertsResult,
    BookResult, ExecSimResult, LiqPriceResult, VolResult, CarryResult)}
#: the other result types of a command whose sub-commands answer differently (``carry simulate`` / ``backtest``)
MORE_RESULTS: dict[str, tuple[type[Result], ...]] = {"carry": (CarrySimulationResult, CarryBacktestResult)}

