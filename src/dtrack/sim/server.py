"""The simulated venues' HTTP server: routing, latency, fault injection, request log.

Every venue host is mounted under ``/<venue>/<host>`` on one loopback port, so the sim's base
URL for Binance USDⓈ-M is ``http://127.0.0.1:PORT/binance/usdm`` and a real path follows it
(``/fapi/v1/premiumIndex``). Venue modules in ``dtrack.sim.venues`` register pure handlers:
``handler(SimRequest) -> JSON-able`` (or raise ``SimHttpError``); this module does the rest.

Fault kinds (per venue): down, 429, 418, 451, 500, timeout, malformed.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dtrack.sim.model import MarketModel

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

SIM_VENUES = ("binance", "bybit", "okx", "deribit", "hyperliquid")
FAULT_KINDS = ("down", "429", "418", "451", "500", "timeout", "malformed")
RETRY_AFTER_429 = 1
RETRY_AFTER_418 = 120


@dataclass(frozen=True, slots=True)
class SimRequest:
    """What a handler sees: query (single values), JSON body, and the market clock."""

    venue: str
    host: str
    path: str
    query: Mapping[str, str]
    body: Any
    now_ms: int


class SimHttpError(Exception):
    """A handler's error answer (a venue's real error envelope and status)."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class SimReply:
    """A handler's answer when it needs response headers (e.g. Binance ``X-MBX-USED-WEIGHT-1M``)."""

    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[SimRequest], Any]


@dataclass(slots=True)
class SimRoutes:
    """The routes of every simulated venue host."""

    table: dict[tuple[str, str, str, str], Handler] = field(default_factory=dict)
    hosts: dict[str, list[str]] = field(default_factory=dict)

    def add(self, venue: str, host: str, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` on ``venue``'s ``host``."""
        self.table[(venue, host, method.upper(), path)] = handler
        known = self.hosts.setdefault(venue, [])
        if host not in known:
            known.append(host)


def load_routes(model: MarketModel, venues: tuple[str, ...] = SIM_VENUES) -> SimRoutes:
    """Import each ``dtrack.sim.venues.<venue>`` module and let it register its routes."""
    routes = SimRoutes()
    for venue in venues:
        module = importlib.import_module(f"dtrack.sim.venues.{venue}")
        module.register(routes, model)
    return routes


def parse_faults(specs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["binance=429"]`` -> ``{"binance": "429"}``; raises ValueError with a clear message."""
    faults: dict[str, str] = {}
    for spec in specs:
        venue, sep, kind = spec.partition("=")
        venue, kind = venue.strip().lower(), kind.strip().lower()
        if not sep or venue not in SIM_VENUES or kind not in FAULT_KINDS:
            raise ValueError(f"bad --fault {spec!r}: expected VENUE=KIND with VENUE one of "
                             f"{', '.join(SIM_VENUES)} and KIND one of {', '.join(FAULT_KINDS)}")
        if venue in faults:
            raise ValueError(f"--fault names {venue} twice ({venue}={faults[venue]}, {spec}): one fault per venue")
        faults[venue] = kind
    return faults


@dataclass(slots=True)
class SimServer:
    """A running simulated-venue server."""

    runner: web.AppRunner
    base_url: str
    routes: SimRoutes
    model: MarketModel

    def venue_urls(self) -> dict[str, dict[str, str]]:
        """``{venue: {host: base URL}}`` for every simulated venue host."""
        return {v: {h: f"{self.base_url}/{v}/{h}" for h in hosts} for v, hosts in self.routes.hosts.items()}

    async def stop(self) -> None:
        """Shut the server down."""
        await self.runner.cleanup()


def settings_document(urls: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """A settings.yaml document pointing every venue at the simulated hosts."""
    return {"venues": {v: {"rest_urls": dict(hosts)} for v, hosts in urls.items()}}


class _Log:
    def __init__(self, path: str | None) -> None:
        self._file: TextIO | None = Path(path).open("a", encoding="utf-8") if path else None  # noqa: SIM115

    def write(self, arrived: datetime, **row: Any) -> None:
        """One line per request; ``time`` is when the request ARRIVED (before latency and handling), so that
        requests sent together show together however long the sim takes to answer them."""
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
    faults: Mapping[str, str] | None = None,
    log_requests: str | None = None,
    routes: SimRoutes | None = None,
) -> tuple[web.Application, SimRoutes]:
    """The aiohttp application serving every simulated venue."""
    from aiohttp import web

    routes = routes or load_routes(model)
    faults = dict(faults or {})
    reqlog = _Log(log_requests)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        arrived = datetime.now(UTC)
        venue, host, path = request.match_info["venue"], request.match_info["host"], "/" + request.match_info["path"]
        target = request.path_qs[len(f"/{venue}/{host}"):]
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000.0)
        fault = faults.get(venue)

        def log(status: int | None) -> None:
            reqlog.write(arrived, venue=venue, host=host, method=request.method, path=target, status=status,
                         fault=fault)

        def logged(status: int | None, resp: web.StreamResponse) -> web.StreamResponse:
            log(status)
            return resp

        if fault == "down":
            log(None)
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=503)
        if fault == "timeout":
            log(None)
            await asyncio.sleep(3600)
        if fault in ("429", "418", "451", "500"):
            status = int(fault)
            headers = {}
            if status == 429:
                headers["Retry-After"] = str(RETRY_AFTER_429)
            if status == 418:
                headers["Retry-After"] = str(RETRY_AFTER_418)
            text = {429: "Too many requests", 418: "IP banned", 451: "Service unavailable from a restricted "
                    "location", 500: "Internal error"}[status]
            return logged(status, web.json_response({"code": -status, "msg": text}, status=status,
                                                    headers=headers))
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
        sim_req = SimRequest(venue, host, path, {k: v for k, v in request.query.items()}, body, model.now_ms())
        try:
            payload = handler(sim_req)
        except SimHttpError as exc:
            return logged(exc.status, web.json_response(exc.body, status=exc.status, headers=exc.headers))
        headers = {}
        if isinstance(payload, SimReply):
            payload, headers = payload.body, dict(payload.headers)
        text = json.dumps(payload)
        if fault == "malformed":
            text = text[: max(1, len(text) // 2)]
        return logged(200, web.Response(text=text, content_type="application/json", headers=headers))

    app = web.Application()
    app.router.add_route("*", "/{venue}/{host}/{path:.*}", dispatch)

    async def on_cleanup(_app: web.Application) -> None:
        reqlog.close()

    app.on_cleanup.append(on_cleanup)
    return app, routes


async def start_sim(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 7,
    latency_ms: float = 0.0,
    faults: Mapping[str, str] | None = None,
    log_requests: str | None = None,
    model: MarketModel | None = None,
) -> SimServer:
    """Start the simulated venues on ``host:port`` (0 = any free port) in the running loop."""
    from aiohttp import web

    model = model or MarketModel(seed)
    app, routes = build_app(model, latency_ms=latency_ms, faults=faults, log_requests=log_requests)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    return SimServer(runner, f"http://{host}:{bound}", routes, model)
