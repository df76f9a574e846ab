"""``dtrack sim serve``: run every simulated venue on loopback until stopped."""

from __future__ import annotations

import asyncio
import errno
import math
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dtrack.cli.common import EXIT_OK
from dtrack.errors import UsageError, clip

if TYPE_CHECKING:
    from dtrack.sim.faults import Faults


@click.group()
def sim() -> None:
    """Simulated venues (offline, seeded, in the real wire formats)."""


@sim.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0 = any free port.")
@click.option("--seed", type=int, default=7, show_default=True, help="Market model seed: same seed, same market.")
@click.option("--latency-ms", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Delay added to every answer.")
@click.option("--fault", "faults", multiple=True, metavar="VENUE=KIND",
              help="Inject a fault on a venue (repeatable): KIND is down, 429, 418, 451, 500, timeout or malformed "
                   "for its REST answers, or disconnect, stall or malformed for its WebSocket streams (once per "
                   "connection, after 20 data frames). One REST and one stream kind per venue; malformed given "
                   "alone hits both.")
@click.option("--log-requests", type=click.Path(dir_okay=False), default=None,
              help="Append one JSON line per request (time, venue, method, path with query, status) and per "
                   "WebSocket frame sent or received (time, venue, host, dir, channel, frame: the exact text).")
@click.option("--write-config", type=click.Path(dir_okay=False), default=None,
              help="Write a settings.yaml pointing every venue at this server (use with dtrack --config FILE).")
def serve(host: str, port: int, seed: int, latency_ms: float, faults: tuple[str, ...], log_requests: str | None,
          write_config: str | None) -> int:
    """Serve Binance, Bybit, OKX, Deribit and Hyperliquid simulations until Ctrl-C.

    \b
    Example:
      dtrack sim serve --port 8765 --latency-ms 100 --fault okx=429 --write-config /tmp/sim.yaml
      dtrack --config /tmp/sim.yaml funding BTC
    """
    from dtrack.sim.faults import Faults
    from dtrack.sim.server import SIM_VENUES

    try:
        fault_map = Faults.from_specs(faults, SIM_VENUES)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not host.strip():
        raise UsageError("--host is empty: give an address of this machine to listen on, like 127.0.0.1")
    if not math.isfinite(latency_ms) or latency_ms > 60_000:
        raise UsageError(f"--latency-ms must be between 0 and 60000, got {latency_ms:g}")
    for option, path in (("--log-requests", log_requests), ("--write-config", write_config)):
        if path is not None and not Path(path).resolve().parent.is_dir():
            raise UsageError(f"{option} {path!r}: directory {str(Path(path).resolve().parent)!r} does not exist")
    asyncio.run(_serve(host, port, seed, latency_ms, fault_map, log_requests, write_config))
    return EXIT_OK


async def _serve(host: str, port: int, seed: int, latency_ms: float, faults: Faults,
                 log_requests: str | None, write_config: str | None) -> None:
    import yaml

    from dtrack.sim.server import settings_document, start_sim

    try:
        server = await start_sim(host=host, port=port, seed=seed, latency_ms=latency_ms, faults=faults,
                                 log_requests=log_requests)
    except PermissionError as exc:
        raise UsageError(f"cannot open or listen: {exc.filename or f'{host}:{port}'} ({exc.strerror})") from None
    except socket.gaierror as exc:  # not an address, nor a name that resolves (256.1.1.1, exa mple)
        raise UsageError(f"--host {clip(host)!r} is not a valid address ({exc.strerror}); give an address of "
                         f"this machine, like 127.0.0.1") from None
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:  # a real address, but another machine's
            raise UsageError(f"--host {clip(host)!r} is not an address of this machine; give a local one, "
                             f"like 127.0.0.1") from None
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {clip(host)} is in use; pick another --port (0: any free one)") from None
        raise UsageError(f"cannot listen on {clip(host)}:{port} ({exc.strerror}); check --host and --port") from None
    if write_config:
        try:
            with open(write_config, "w", encoding="utf-8") as fh:
                yaml.safe_dump(settings_document(server.venue_urls(), server.venue_ws_urls()), fh, sort_keys=False)
        except OSError as exc:
            await server.stop()
            raise UsageError(f"--write-config {write_config!r}: {exc.strerror}") from None
    labels = faults.labels()
    click.echo(f"dtrack sim: serving on {server.base_url} (seed {seed}, latency {latency_ms:g} ms"
               f"{', faults ' + ', '.join(labels) if labels else ''})", err=True)
    if write_config:
        click.echo(f"dtrack sim: settings written to {write_config}", err=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
        click.echo("dtrack sim: stopped", err=True)
