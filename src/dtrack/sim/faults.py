"""What goes wrong on the simulated venues: one ``Faults`` object handed to the server.

``start_sim(faults=Faults(...))`` (or ``build_app``) keeps the object; every request reads it (the server,
and each venue's routes through ``SimRequest.faults`` or ``SimRoutes.faults``), so a test may also change
it while the server runs. Nothing here is module-level state: two servers never share their faults.

Whole-venue and one-endpoint faults are answered by the server in THAT venue's own error format (each
venue module registers its formatter with ``SimRoutes.on_error``); the other fields are venue quirks the
venues' routes play (page caps, odd rows, funding-interval switches, listing times). Stream faults act on the
simulated WebSocket channels (``dtrack.sim.streams``): on each connection of a venue, once, after
``stream_after`` data frames.
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
#: Stream fault kinds, applied once per WebSocket connection after ``Faults.stream_after`` data frames:
#: ``disconnect`` (the server closes the connection), ``stall`` (the server sends nothing more on it: no data, no
#: pongs, no heartbeats, until the client goes away), ``malformed`` (one truncated data frame, then normal ones).
STREAM_FAULT_KINDS = ("disconnect", "stall", "malformed")
#: Data frames a connection receives before its stream fault strikes, unless ``Faults.stream_after`` says otherwise.
STREAM_AFTER_DEFAULT = 20
#: Keys a row names its instrument by, in the venues' formats (Binance/Bybit, OKX, Deribit, Bybit books,
#: Hyperliquid, GMX, dYdX).
NAME_KEYS = ("symbol", "instId", "instrument_name", "s", "coin", "name", "ticker")

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
    ``streams``: venue -> stream fault kind (``STREAM_FAULT_KINDS``) of every WebSocket connection to it, applied
    once per connection after ``stream_after`` data frames (``--fault VENUE=disconnect|stall|malformed``).
    """

    venues: dict[str, str] = field(default_factory=dict)
    endpoints: dict[Endpoint, str | int] = field(default_factory=dict)
    page_caps: dict[Endpoint, int] = field(default_factory=dict)
    newest_past_cap: set[Endpoint] = field(default_factory=set)
    odd_rows: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    interval_switches: dict[Endpoint, int] = field(default_factory=dict)
    stale_intervals: dict[Endpoint, int] = field(default_factory=dict)
    listed_at: dict[Endpoint, int] = field(default_factory=dict)
    streams: dict[str, str] = field(default_factory=dict)
    stream_after: int = STREAM_AFTER_DEFAULT

    def __post_init__(self) -> None:
        for venue, kind in self.venues.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"fault of {venue}: {kind!r} is not one of {', '.join(FAULT_KINDS)}")
        for venue, kind in self.streams.items():
            if kind not in STREAM_FAULT_KINDS:
                raise ValueError(f"stream fault of {venue}: {kind!r} is not one of {', '.join(STREAM_FAULT_KINDS)}")
        after = self.stream_after
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise ValueError(f"stream_after: {after!r} is not a count of data frames (a whole number >= 0)")
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
        """``["binance=429", "bybit=stall"]`` -> whole-venue faults (REST kinds) and stream faults (stream kinds);
        raises ValueError with a clear message.

        A venue may be named twice: once with a REST kind and once with a stream kind. ``malformed`` is both: alone
        it truncates the venue's REST bodies and one frame per WebSocket connection; beside another kind it takes
        the side that one leaves (``okx=429 okx=malformed``: REST 429, one malformed frame per connection)."""
        known = tuple(venues)
        named: dict[str, list[tuple[str, str]]] = {}
        for spec in specs:
            venue, sep, kind = spec.partition("=")
            venue, kind = venue.strip().lower(), kind.strip().lower()
            if not sep or venue not in known or kind not in (*FAULT_KINDS, *STREAM_FAULT_KINDS):
                raise ValueError(f"bad --fault {spec!r}: expected VENUE=KIND with VENUE one of {', '.join(known)} "
                                 f"and KIND one of {', '.join(FAULT_KINDS)} (REST) or "
                                 f"{', '.join(STREAM_FAULT_KINDS)} (WebSocket streams)")
            earlier = named.setdefault(venue, [])
            if earlier and (len(earlier) == 2 or not _pairable(earlier[0][0], kind)):
                times = "twice" if len(earlier) == 1 else f"{len(earlier) + 1} times"
                given = ", ".join([*(s for _k, s in earlier), spec])
                raise ValueError(f"--fault names {venue} {times} ({given}): one REST fault and one stream fault "
                                 f"per venue")
            earlier.append((kind, spec))
        sides = {venue: _assign([kind for kind, _spec in kinds]) for venue, kinds in named.items()}
        rest = {venue: side["rest"] for venue, side in sides.items() if "rest" in side}
        streams = {venue: side["stream"] for venue, side in sides.items() if "stream" in side}
        return cls(venues=rest, streams=streams)

    def labels(self) -> list[str]:
        """The faults as ``VENUE=KIND`` labels, REST then streams (a kind on both sides shown once)."""
        shown = [f"{venue}={kind}" for venue, kind in self.venues.items()]
        return shown + [label for venue, kind in self.streams.items() if (label := f"{venue}={kind}") not in shown]

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


def _sides(kind: str) -> set[str]:
    """Where a fault kind acts: ``rest``, ``stream`` or both (``malformed``)."""
    return {side for side, kinds in (("rest", FAULT_KINDS), ("stream", STREAM_FAULT_KINDS)) if kind in kinds}


def _pairable(first: str, second: str) -> bool:
    """Whether two kinds can both be given for one venue: together they cover REST and streams, one each."""
    return first != second and _sides(first) | _sides(second) == {"rest", "stream"}


def _assign(kinds: list[str]) -> dict[str, str]:
    """The side (``rest``/``stream``) -> kind of one venue's one or two (pairable) kinds: a one-sided kind takes its
    side, a two-sided one (``malformed``) every side the other kind leaves."""
    taken = {side for kind in kinds if len(_sides(kind)) == 1 for side in _sides(kind)}
    out: dict[str, str] = {}
    for kind in kinds:
        sides = _sides(kind)
        for side in sides if len(sides) == 1 else sides - taken:
            out[side] = kind
    return out


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
