"""The simulated venues' HTTP server: routing, latency, fault injection, request log.

Every venue host is mounted under ``/<venue>/<host>`` on one loopback port, so the sim's base
URL for Binance USDⓈ-M is ``http://127.0.0.1:PORT/binance/usdm`` and a real path follows it
(``/fapi/v1/premiumIndex``). Venue modules in ``dtrack.sim.venues`` register pure handlers:
``handler(SimRequest) -> JSON-able`` (or raise ``SimHttpError``); this module does the rest.

Faults (``dtrack.sim.faults.Faults``) are handed to ``start_sim``/``build_app`` and kept on the routes
(``SimRoutes.faults``; each request's ``SimRequest.faults``). Kinds, per venue or per endpoint: down, 429,
418, 451, 500, timeout, malformed, or an endpoint's HTTP status. The answered kinds are sent in the venue's
own error format: each venue module registers its formatter (``SimRoutes.on_error``); a venue without one
gets a plain-text answer of the status.

WebSocket channels (``dtrack.sim.streams``) are served on the same port at each venue's real path under
``/<venue>/<ws host>`` (``ws://127.0.0.1:PORT/bybit/stream/v5/public/linear``; ``SimServer.venue_ws_urls()``), with
the stream faults of the same ``Faults`` (``Faults.streams``) and the timing of ``StreamOptions``. The request log
(``log_requests``) also gets one line per WebSocket frame sent or received (format: ``dtrack.sim.streams``).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dtrack.sim.faults import ANSWERED_KINDS, Faults
from dtrack.sim.faults import FAULT_KINDS as FAULT_KINDS  # re-exported (dtrack sim serve, tests)
from dtrack.sim.model import MarketModel

if TYPE_CHECKING:
    from aiohttp import web

    from dtrack.sim.streams import StreamHub, StreamOptions

log = logging.getLogger(__name__)

SIM_VENUES = ("binance", "bybit", "okx", "deribit", "hyperliquid", "dydx", "gmx")
#: the simulated venues with WebSocket channels (a ``dtrack.sim.streams.<venue>`` module); dYdX and GMX have none yet
STREAMED_VENUES = ("binance", "bybit", "okx", "deribit", "hyperliquid", "dydx")
#: Retry-After (seconds) sent with a 429 and with a 418 ban, by the venues that send one (Binance)
RETRY_AFTER_429 = 1
RETRY_AFTER_418 = 120


@dataclass(frozen=True, slots=True)
class SimRequest:
    """What a handler sees: query (single values), JSON body, the market clock and the server's faults."""

    venue: str
    host: str
    path: str
    query: Mapping[str, str]
    body: Any
    now_ms: int
    faults: Faults = field(default_factory=Faults)


class SimHttpError(Exception):
    """A handler's error answer (a venue's real error envelope and status): ``body`` is sent as JSON, or as
    plain text when ``text`` (a venue answering in text, e.g. Hyperliquid's 422)."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None, *,
                 text: bool = False) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.text = text


@dataclass(frozen=True, slots=True)
class SimReply:
    """A handler's answer when it needs response headers (e.g. Binance ``X-MBX-USED-WEIGHT-1M``)."""

    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[SimRequest], Any]
#: A venue's answer to a fault meaning HTTP ``status`` (429, 418, 451, 500, or an endpoint's status) at a market
#: time: its real status (which may differ: Bybit answers a 429 in HTTP 200), envelope and headers.
ErrorAnswer = Callable[[int, int], SimHttpError]


@dataclass(slots=True)
class SimRoutes:
    """The routes of every simulated venue host, each venue's error format, and the server's faults."""

    table: dict[tuple[str, str, str, str], Handler] = field(default_factory=dict)
    hosts: dict[str, list[str]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    errors: dict[str, ErrorAnswer] = field(default_factory=dict)

    def add(self, venue: str, host: str, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` on ``venue``'s ``host``."""
        self.table[(venue, host, method.upper(), path)] = handler
        known = self.hosts.setdefault(venue, [])
        if host not in known:
            known.append(host)

    def on_error(self, venue: str, answer: ErrorAnswer) -> None:
        """Answer ``venue``'s faults with ``answer`` (the venue's own error format)."""
        self.errors[venue] = answer

    def error_answer(self, venue: str, status: int, now_ms: int) -> SimHttpError:
        """``venue``'s answer to a fault meaning HTTP ``status`` (plain text when it has no formatter)."""
        answer = self.errors.get(venue)
        return answer(status, now_ms) if answer is not None else SimHttpError(status, f"HTTP {status}", text=True)


def load_routes(model: MarketModel, venues: tuple[str, ...] = SIM_VENUES, *,
                faults: Faults | None = None) -> SimRoutes:
    """Import each ``dtrack.sim.venues.<venue>`` module and let it register its routes (over ``faults``)."""
    routes = SimRoutes(faults=faults if faults is not None else Faults())
    for venue in venues:
        module = importlib.import_module(f"dtrack.sim.venues.{venue}")
        module.register(routes, model)
    return routes


def parse_faults(specs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["binance=429"]`` -> ``{"binance": "429"}`` (the REST faults); raises ValueError with a clear message
    (``Faults.from_specs(specs, SIM_VENUES)`` gives the ``Faults`` object itself, stream faults included)."""
    return Faults.from_specs(specs, SIM_VENUES).venues


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request as the server saw it arrive (``path`` with its query, as in the request log)."""

    venue: str
    host: str
    method: str
    path: str


@dataclass(slots=True)
class Flight:
    """Requests in flight, in rounds, so that tests check concurrency without a clock.

    A round is the requests that arrived while none of them had been answered: it opens with the first
    request after an answer and closes with the first answer to one of its own requests (a late answer to an
    older round's request does not close it). ``hold`` makes rounds independent of machine load: the k-th
    round's answers wait until ``hold[k]`` requests have arrived in it (at most ``hold_timeout`` seconds, so a
    client that does not send them together fails its test instead of hanging it).
    """

    hold: tuple[int, ...] = ()
    hold_timeout: float = 8.0
    rounds: list[list[Arrival]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    timed_out: int = 0  # rounds released by hold_timeout, not by their count
    _full: asyncio.Event | None = None

    async def arrive(self, arrival: Arrival) -> int:
        """Count ``arrival`` in the open round (opening one if needed), wait for the round's hold; its round."""
        if self._full is None:
            self.rounds.append([])
            self._full = asyncio.Event()
        full, index = self._full, len(self.rounds) - 1
        self.rounds[index].append(arrival)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        want = self.hold[index] if index < len(self.hold) else 0
        if len(self.rounds[index]) >= want:
            full.set()
        elif not full.is_set():
            try:
                await asyncio.wait_for(full.wait(), self.hold_timeout)
            except TimeoutError:
                if not full.is_set():
                    self.timed_out += 1
                    full.set()
        return index

    def answered(self, index: int) -> None:
        """A request of round ``index`` answered (or dropped): that round, if still open, is closed."""
        self.in_flight -= 1
        if index == len(self.rounds) - 1:
            self._full = None

    def sizes(self) -> list[int]:
        """How many requests each round had."""
        return [len(r) for r in self.rounds]

    def track(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
              ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """``handler`` with its requests counted here (before the sim's latency, answered when it returns)."""

        async def tracked(request: web.Request) -> web.StreamResponse:
            venue, host = request.match_info["venue"], request.match_info["host"]
            index = await self.arrive(Arrival(venue, host, request.method, request.path_qs[len(f"/{venue}/{host}"):]))
            try:
                return await handler(request)
            finally:
                self.answered(index)

        return tracked


@dataclass(slots=True)
class SimServer:
    """A running simulated-venue server."""

    runner: web.AppRunner
    base_url: str
    routes: SimRoutes
    model: MarketModel
    flight: Flight | None = None  # requests in flight and rounds, when started with one
    streams: StreamHub | None = None  # the WebSocket channels

    def venue_urls(self) -> dict[str, dict[str, str]]:
        """``{venue: {host: base URL}}`` for every simulated venue host."""
        return {v: {h: f"{self.base_url}/{v}/{h}" for h in hosts} for v, hosts in self.routes.hosts.items()}

    def venue_ws_urls(self) -> dict[str, dict[str, str]]:
        """``{venue: {WebSocket host: base URL}}`` (``ws://127.0.0.1:PORT/bybit/stream``; the channel path of the
        venue's protocol follows it, as after ``wss://stream.bybit.com``)."""
        base = "ws" + self.base_url.removeprefix("http")
        hosts = self.streams.hosts() if self.streams is not None else {}
        return {v: {h: f"{base}/{v}/{h}" for h in names} for v, names in hosts.items()}

    @property
    def faults(self) -> Faults:
        """The server's faults (read on every request: changing them changes the next answers)."""
        return self.routes.faults

    async def stop(self) -> None:
        """Shut the server down."""
        await self.runner.cleanup()


def settings_document(urls: Mapping[str, Mapping[str, str]],
                      ws_urls: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    """A settings.yaml document pointing every venue at the simulated hosts: ``rest_urls`` from ``urls``
    (``SimServer.venue_urls()``) and ``ws_urls`` from ``ws_urls`` (``SimServer.venue_ws_urls()``)."""
    ws = ws_urls or {}
    doc: dict[str, dict[str, Any]] = {v: {"rest_urls": dict(hosts)} for v, hosts in urls.items()}
    for venue, hosts in ws.items():
        doc.setdefault(venue, {})["ws_urls"] = dict(hosts)
    return {"venues": doc}


class _Log:
    def __init__(self, path: str | None) -> None:
        self._file: TextIO | None = Path(path).open("a", encoding="utf-8") if path else None  # noqa: SIM115

    def write(self, arrived: datetime, **row: Any) -> None:
        """One line per request or WebSocket frame; a request's ``time`` is when it ARRIVED (before latency and
        handling), so that requests sent together show together however long the sim takes to answer them; a
        frame's is when it was sent or received."""
        if self._file is not None:
            row = {"time": arrived.isoformat(timespec="milliseconds").replace("+00:00", "Z"), **row}
            self._file.write(json.dumps(row) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def build_app(
    model: MarketModel,
    *,
    latency_ms: float = 0.0,
    faults: Faults | Mapping[str, str] | None = None,
    log_requests: str | None = None,
    routes: SimRoutes | None = None,
    flight: Flight | None = None,
    stream_options: StreamOptions | None = None,
) -> tuple[web.Application, SimRoutes]:
    """The aiohttp application serving every simulated venue, REST and WebSocket.

    ``faults``: a ``Faults`` (or ``{venue: kind}``) the routes are loaded over; prebuilt ``routes`` bring their
    own (``routes.faults``), so both together are refused. ``stream_options``: the WebSocket channels' timing
    (``dtrack.sim.streams.StreamOptions``: cadence scale, Binance ping interval, Hyperliquid idle close, Deribit
    heartbeat scale). The application's ``StreamHub`` is ``app[dtrack.sim.streams.HUB_KEY]``; WebSocket connections
    are not counted by ``flight`` (a connection lasts: it would hold its round open).
    """
    from aiohttp import web

    from dtrack.sim.streams import HUB_KEY, StreamHub

    if routes is None:
        routes = load_routes(model, faults=Faults.of(faults))
    elif faults is not None:
        raise ValueError("build_app: give the faults to load_routes(..., faults=) when passing routes")
    reqlog = _Log(log_requests)

    def error_response(exc: SimHttpError) -> web.Response:
        if exc.text:
            return web.Response(text=str(exc.body), status=exc.status, headers=exc.headers)
        return web.json_response(exc.body, status=exc.status, headers=exc.headers)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        arrived = datetime.now(UTC)
        venue, host, path = request.match_info["venue"], request.match_info["host"], "/" + request.match_info["path"]
        target = request.path_qs[len(f"/{venue}/{host}"):]
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000.0)
        fault = routes.faults.venues.get(venue)

        def log(status: int | None) -> None:
            reqlog.write(arrived, venue=venue, host=host, method=request.method, path=target, status=status,
                         fault=fault)

        def logged(status: int | None, resp: web.StreamResponse) -> web.StreamResponse:
            log(status)
            return resp

        async def faulted() -> web.StreamResponse | None:
            """The answer of the request's fault, or None to serve it (``malformed`` is applied to the body)."""
            if fault == "down":
                log(None)
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=503)
            if fault == "timeout":
                log(None)
                await asyncio.sleep(3600)
            if fault in ANSWERED_KINDS or (fault is not None and fault.isdigit()):
                exc = routes.error_answer(venue, int(fault), model.now_ms())
                return logged(exc.status, error_response(exc))
            return None

        if fault is not None and (early := await faulted()) is not None:
            return early
        handler = routes.table.get((venue, host, request.method, path))
        if handler is None:
            return logged(404, web.json_response({"error": f"no simulated route {request.method} {path}"},
                                                 status=404))
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return logged(400, web.json_response({"error": "body is not JSON"}, status=400))
        if fault is None:
            fault = routes.faults.of_request(venue, path, body)
            if fault is not None and (answer := await faulted()) is not None:
                return answer
        sim_req = SimRequest(venue, host, path, {k: v for k, v in request.query.items()}, body, model.now_ms(),
                             routes.faults)
        try:
            payload = handler(sim_req)
        except SimHttpError as exc:
            return logged(exc.status, error_response(exc))
        headers = {}
        if isinstance(payload, SimReply):
            payload, headers = payload.body, dict(payload.headers)
        text = json.dumps(routes.faults.dress(venue, path, payload))
        if fault == "malformed":
            text = text[: max(1, len(text) // 2)]
        return logged(200, web.Response(text=text, content_type="application/json", headers=headers))

    app = web.Application()
    hub = StreamHub(model, routes, stream_options, reqlog.write,
                    venues=[v for v in routes.hosts if v in STREAMED_VENUES])
    app[HUB_KEY] = hub
    for venue, host, path in hub.endpoints():  # before the REST catch-all, which would take them
        app.router.add_get(f"/{venue}/{host}{path}", hub.handler(venue, host, path))
    app.router.add_route("*", "/{venue}/{host}/{path:.*}", flight.track(dispatch) if flight else dispatch)

    async def on_cleanup(_app: web.Application) -> None:
        reqlog.close()

    app.on_shutdown.append(hub.shutdown)
    app.on_cleanup.append(on_cleanup)
    return app, routes


async def start_sim(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 7,
    latency_ms: float = 0.0,
    faults: Faults | Mapping[str, str] | None = None,
    log_requests: str | None = None,
    model: MarketModel | None = None,
    flight: Flight | None = None,
    stream_options: StreamOptions | None = None,
) -> SimServer:
    """Start the simulated venues on ``host:port`` (0 = any free port) in the running loop; ``faults`` is a
    ``Faults`` (kept: ``SimServer.faults``; its ``streams`` and ``stream_after`` act on the WebSocket channels) or
    ``{venue: kind}`` as ``parse_faults`` gives; ``stream_options`` sets the channels' timing (``build_app``)."""
    from aiohttp import web

    from dtrack.sim.streams import HUB_KEY

    model = model or MarketModel(seed)
    app, routes = build_app(model, latency_ms=latency_ms, faults=faults, log_requests=log_requests, flight=flight,
                            stream_options=stream_options)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    return SimServer(runner, f"http://{host}:{bound}", routes, model, flight, app[HUB_KEY])
