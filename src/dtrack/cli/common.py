"""What every command shares: global options, settings, ``--sim``, the event loop, output, exit codes.

Exit codes: 0 ok, 1 error, 2 usage error (bad input), 3 partial (some venues failed; results
printed, failures on stderr). Heavy libraries are imported inside functions (fast ``--help``).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dtrack.errors import UsageError

if TYPE_CHECKING:
    from dtrack.config import Settings
    from dtrack.venues.gather import VenueFailure
    from dtrack.venues.pool import VenuePool

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
FORMATS = ("table", "json", "csv")


@dataclass(frozen=True, slots=True)
class Options:
    """Options every command understands (set on the group or on the command)."""

    config: str | None = None
    sim: bool = False
    fmt: str = "table"
    seed: int = 7


def common_options(f: F) -> F:
    """Add ``--format``, ``--sim`` and ``--config`` to a command."""
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                     help="Output: table (default), json (one object) or csv (rows).")(f)
    f = click.option("--sim", is_flag=True, default=False,
                     help="Run against dtrack's built-in simulated venues (offline demo).")(f)
    f = click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                     help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")(f)
    return f


def options(ctx: click.Context, config: str | None, sim: bool, fmt: str | None) -> Options:
    """Command-level options over the group's."""
    base: Options = ctx.find_object(Options) or Options()
    return replace(base, config=config or base.config, sim=sim or base.sim, fmt=fmt or base.fmt)


_DURATION = re.compile(r"^\s*(\d{1,9}(?:\.\d{1,6})?)\s*([hdw])\s*$", re.IGNORECASE)
MAX_DURATION = timedelta(days=365)


def parse_duration(text: str, option: str, longest: timedelta = MAX_DURATION) -> timedelta:
    """``24h``, ``7d``, ``2w`` -> timedelta (1 h .. ``longest``); anything else is a usage error naming the option."""
    m = _DURATION.match(text)
    if not m:
        raise UsageError(f"bad {option} {text!r}: expected a duration like 24h, 7d or 2w")
    hours = float(m.group(1)) * {"h": 1, "d": 24, "w": 168}[m.group(2).lower()]
    if not 1 <= hours <= longest.total_seconds() / 3600:
        raise UsageError(f"bad {option} {text!r}: expected between 1h and {longest.days}d")
    return timedelta(hours=hours)


def load(opts: Options) -> Settings:
    """Settings from --config / $DTRACK_CONFIG / the user config dir."""
    from dtrack.config import load_settings
    from dtrack.errors import ConfigError
    from dtrack.venues import VENUES

    settings = load_settings(opts.config)
    for name in settings.venues:
        if name not in VENUES:
            raise ConfigError(f"settings key 'venues.{name}' is not a venue dtrack knows; known: {', '.join(VENUES)}")
    return settings


@asynccontextmanager
async def venue_pool(opts: Options, settings: Settings) -> AsyncIterator[VenuePool]:
    """The venue pool; with ``--sim`` the simulated venues run in this process for the command's life."""
    from dtrack.venues.pool import open_pool

    if not opts.sim:
        async with open_pool(settings) as pool:
            yield pool
        return
    from dtrack.sim.server import start_sim

    server = await start_sim(seed=opts.seed)
    try:
        with tempfile.TemporaryDirectory(prefix="dtrack-sim-") as tmp:
            sim_settings = replace(settings.with_venue_urls(server.venue_urls()),
                                   cache_dir=Path(tmp) / "cache", state_dir=Path(tmp) / "state")
            async with open_pool(sim_settings) as pool:
                yield pool
    finally:
        await server.stop()


def run(coro: Coroutine[Any, Any, T], preload: Sequence[str] = ()) -> T:
    """Run a coroutine to completion (the CLI's only event loop).

    ``preload`` names modules needed after the network part (numpy, rich ...): they are imported in a
    background thread while the requests are in flight, so their import time hides behind the latency.
    """
    if preload:
        threading.Thread(target=_import_all, args=(tuple(preload),), daemon=True).start()
    return asyncio.run(coro)


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:  # the main thread will import it again and report properly
            return


def resolve_venues(requested: Sequence[str], settings: Settings, capability: str) -> list[str]:
    """The venues to ask: the requested ones, else every active venue enabled in settings.

    Closed, planned and unknown venues are usage errors with one clear line.
    """
    from dtrack.venues import ACTIVE, VENUES, venue_info

    if not requested:
        enabled = [v for v in ACTIVE if settings.venue(v).enabled and capability in VENUES[v].capabilities]
        if not enabled:
            raise UsageError(f"every venue offering {capability} is disabled in settings ({settings.source}): "
                             "set venues.<name>.enabled: true, or name one with --venue")
        return enabled
    chosen: list[str] = []
    for name in requested:
        info = venue_info(name)
        if info.status == "closed":
            raise UsageError(f"{info.title} closed on {info.closed_on}: no live data exists; "
                             f"active venues: {', '.join(ACTIVE)}")
        if capability not in info.capabilities:
            raise UsageError(f"{info.title} ({info.status}) does not offer {capability} in dtrack yet: {info.note}")
        if info.name not in chosen:
            chosen.append(info.name)
    return chosen


def report_failures(failures: Sequence[VenueFailure]) -> None:
    """One line per failure on stderr."""
    for f in failures:
        click.echo(f"dtrack: {f.venue} [{f.kind}]: {_strip_venue(f.venue, f.message)}", err=True)


def _strip_venue(venue: str, message: str) -> str:
    prefix = f"{venue}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def emit(text: str) -> None:
    """Write data to stdout (with a final newline)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def render(fmt: str, *, json_doc: Callable[[], Any], csv_text: Callable[[], str], table: Callable[[], Any],
           csv_note: str = "") -> None:
    """Write a report in the asked format: one JSON object (no NaN), CSV rows (``csv_note`` on stderr says
    what only JSON holds), or a rich table. Only the asked rendering is built."""
    if fmt == "json":
        emit(json.dumps(json_doc(), indent=2, allow_nan=False))
    elif fmt == "csv":
        emit(csv_text())
        if csv_note:
            click.echo(f"dtrack: note: {csv_note}", err=True)
    else:
        print_renderable(table())


def print_renderable(renderable: Any) -> None:
    """Print a rich renderable to stdout (plain text when not a terminal)."""
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False)
    console.print(renderable)
