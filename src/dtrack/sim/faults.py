"""What goes wrong on the simulated venues: one ``Faults`` object handed to the server.

``start_sim(faults=Faults(...))`` (or ``build_app``) keeps the object; every request reads it (the server,
and each venue's routes through ``SimRequest.faults`` or ``SimRoutes.faults``), so a test may also change
it while the server runs. Nothing here is module-level state: two servers never share their faults.

Whole-venue and one-endpoint faults are answered by the server in THAT venue's own error format (each
venue module registers its formatter with ``SimRoutes.on_error``); the other fields are venue quirks the
venues' routes play (page caps, odd rows, funding-interval switches, listing times).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Fault kinds: ``down`` (connection closed), ``429`` (rate limited), ``418`` (IP ban), ``451`` (blocked
#: location), ``500`` (server error), ``timeout`` (no answer), ``malformed`` (truncated body).
FAULT_KINDS = ("down", "429", "418", "451", "500", "timeout", "malformed")
#: The kinds answered with an error body (in the venue's format); the others act on the connection or body.
ANSWERED_KINDS = ("429", "418", "451", "500")
#: Keys a row names its instrument by, in the venues' formats (Binance/Bybit, OKX, Deribit, Bybit books,
#: Hyperliquid).
NAME_KEYS = ("symbol", "instId", "instrument_name", "s", "coin", "name")

Endpoint = tuple[str, str]


@dataclass(slots=True)
class Faults:
    """The faults and quirks of the simulated venues (empty: every venue healthy).

    ``venues``: venue -> fault kind (``FAULT_KINDS``) of every request to it, as ``--fault VENUE=KIND``.
    ``endpoints``: (venue, path) -> a fault kind or an HTTP status (e.g. ``500``, ``400``) of that endpoint
    only, on every host of the venue serving it. Hyperliquid's info types are named ``"/info <type>"``
    (``("hyperliquid", "/info candleSnapshot")``), as dtrack's endpoint names.
    ``page_caps``: (venue, path) -> the most rows one answer holds whatever ``limit`` asked (a venue serving
    shorter pages than documented). ``newest_past_cap``: endpoints whose capped answers keep the newest rows
    rather than the oldest (where the venue's choice is undocumented, e.g. Deribit's funding history).
    ``odd_rows``: (venue, path, instrument) -> field values replacing those of that instrument's rows in the
    endpoint's answers (empty or broken fields a client must survive; rows found by ``NAME_KEYS``).
    ``interval_switches``: (venue, symbol) -> funding interval (hours) the venue moved a perpetual to at
    runtime: every endpoint follows it. ``stale_intervals``: (venue, symbol) -> the interval the venue's
    interval listing still reports whatever the schedule is (Binance ``fundingInfo`` lagging). Binance plays
    both.
    ``listed_at``: (venue, symbol) -> listing time (epoch ms) replacing the sim's; history starts there
    (Bybit's ``launchTime``).
    """

    venues: dict[str, str] = field(default_factory=dict)
    endpoints: dict[Endpoint, str | int] = field(default_factory=dict)
    page_caps: dict[Endpoint, int] = field(default_factory=dict)
    newest_past_cap: set[Endpoint] = field(default_factory=set)
    odd_rows: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    interval_switches: dict[Endpoint, int] = field(default_factory=dict)
    stale_intervals: dict[Endpoint, int] = field(default_factory=dict)
    listed_at: dict[Endpoint, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for venue, kind in self.venues.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"fault of {venue}: {kind!r} is not one of {', '.join(FAULT_KINDS)}")
        for key, what in self.endpoints.items():
            if not (isinstance(what, int) and 400 <= what <= 599) and what not in FAULT_KINDS:
                raise ValueError(f"fault of {key}: {what!r} is neither an HTTP error status nor one of "
                                 f"{', '.join(FAULT_KINDS)}")

    @classmethod
    def of(cls, faults: Faults | Mapping[str, str] | None) -> Faults:
        """A ``Faults`` (kept as is), or one from a ``{venue: kind}`` mapping (``parse_faults``)."""
        if isinstance(faults, Faults):
            return faults
        return cls(venues=dict(faults or {}))

    @classmethod
    def from_specs(cls, specs: Iterable[str], venues: Iterable[str]) -> Faults:
        """``["binance=429"]`` -> whole-venue faults; raises ValueError with a clear message."""
        known = tuple(venues)
        out: dict[str, str] = {}
        for spec in specs:
            venue, sep, kind = spec.partition("=")
            venue, kind = venue.strip().lower(), kind.strip().lower()
            if not sep or venue not in known or kind not in FAULT_KINDS:
                raise ValueError(f"bad --fault {spec!r}: expected VENUE=KIND with VENUE one of "
                                 f"{', '.join(known)} and KIND one of {', '.join(FAULT_KINDS)}")
            if venue in out:
                raise ValueError(f"--fault names {venue} twice ({venue}={out[venue]}, {spec}): one fault per venue")
            out[venue] = kind
        return cls(venues=out)

    def of_request(self, venue: str, path: str, body: Any = None) -> str | None:
        """The fault of one request: the venue's, else its endpoint's (an HTTP status as text, e.g. "400")."""
        kind = self.venues.get(venue)
        if kind is not None:
            return kind
        what = self.endpoints.get((venue, path))
        if what is None and isinstance(body, Mapping) and isinstance(body.get("type"), str):
            what = self.endpoints.get((venue, f"{path} {body['type']}"))
        return None if what is None else str(what)

    def page_cap(self, venue: str, path: str, default: int) -> int:
        """Rows one answer of the endpoint may hold: ``default``, or less when capped."""
        cap = self.page_caps.get((venue, path))
        return default if cap is None else min(cap, default)

    def keeps_newest(self, venue: str, path: str, default: bool = False) -> bool:
        """Whether a capped answer of the endpoint keeps its newest rows."""
        return default or (venue, path) in self.newest_past_cap

    def interval(self, venue: str, symbol: str, default: int) -> int:
        """A perpetual's funding interval (hours) now: the sim's, or the one it was switched to."""
        return self.interval_switches.get((venue, symbol), default)

    def listed_interval(self, venue: str, symbol: str, default: int) -> int:
        """The interval the venue's interval listing reports for a perpetual (a stale one, if set)."""
        return self.stale_intervals.get((venue, symbol), default)

    def listing_ms(self, venue: str, symbol: str, default: int) -> int:
        """When a contract was listed: the sim's time, or the one set here."""
        return self.listed_at.get((venue, symbol), default)

    def dress(self, venue: str, path: str, payload: Any) -> Any:
        """``payload`` with the odd rows of this endpoint applied (in place; returned for convenience)."""
        odd = {name: fields for (v, p, name), fields in self.odd_rows.items() if v == venue and p == path}
        if odd:
            _apply(payload, odd)
        return payload


def _apply(node: Any, odd: Mapping[str, Mapping[str, Any]]) -> None:
    if isinstance(node, dict):
        for key in NAME_KEYS:
            name = node.get(key)
            if isinstance(name, str) and name in odd:
                node.update(odd[name])
                break
        for value in node.values():
            _apply(value, odd)
    elif isinstance(node, list):
        for item in node:
            _apply(item, odd)
