"""``dtrack collect``: the collector daemon (``dtrack.collect``) from the command line.

Arguments and settings -> a ``Plan``; signals -> a clean stop; the status line and messages on stderr;
``-v`` logs as logfmt lines with UTC times. Exit codes: 0 (stopped, or a complete ``--once`` round),
1 (rows could not be written, or nothing answered), 2 (bad input), 3 (a ``--once`` round with failures).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from dtrack.cli.common import Options, options

if TYPE_CHECKING:
    from dtrack.collect.plan import Plan
    from dtrack.collect.status import StatusLine
    from dtrack.config import Settings


@click.command()
@click.option("--assets", "assets", multiple=True, metavar="BTC,ETH,...",
              help="Assets to collect, comma-separated or repeated (default: settings collect.assets: BTC,ETH,SOL).")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: settings collect.venues, else every active venue.")
@click.option("--duration", default=None, metavar="DURATION",
              help="Stop after this long: 90s, 10m, 2h, 1d (default: until SIGTERM or Ctrl-C).")
@click.option("--once", is_flag=True, help="One round of every snapshot kind, then exit (for cron).")
@click.option("--no-streams", is_flag=True, help="Snapshots only: no live WebSocket streams.")
@click.option("--no-backfill", is_flag=True, help="Do not backfill missing history on start.")
@click.option("--quiet", is_flag=True, help="No status line and no progress on stderr (problems are still said).")
@click.option("-v", "--verbose", count=True, help="Logs on stderr as logfmt lines (-vv: debug).")
@click.option("--sim", is_flag=True, default=False, help="Collect from dtrack's built-in simulated venues.")
@click.option("--config", "config", type=click.Path(dir_okay=False, readable=False), default=None,
              help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")
@click.pass_context
def collect(ctx: click.Context, assets: tuple[str, ...], venues: tuple[str, ...], duration: str | None, once: bool,
            no_streams: bool, no_backfill: bool, quiet: bool, verbose: int, sim: bool, config: str | None) -> int:
    """Collect funding, open interest, quotes and basis, and option chains into the history store: scheduled
    snapshots (funding every 60 s, open interest and basis every 300 s, options every 900 s by default), live
    ticker streams, and on start the history missing since the last run.

    Writes every second (--store / $DTRACK_STORE / settings store.url; SQLite by default, PostgreSQL for
    several collectors). SIGTERM or Ctrl-C: flush, mark the run stopped, exit 0. A collector killed outright
    is found by the next one, marked killed, and its hole recorded as gaps.

    \b
    Examples:
      dtrack collect --sim --duration 10m
      dtrack collect --assets BTC,ETH --venue binance --venue okx
      dtrack --store postgresql://dtrack@db/dtrack collect
      dtrack collect --once --quiet             # from cron
    """
    from dtrack.collect.plan import make_plan
    from dtrack.config import load_settings
    from dtrack.store import parse_store_url

    opts = options(ctx, config, sim, None)
    root = ctx.find_root().params
    quiet = quiet or bool(root.get("quiet"))
    verbose = max(verbose, int(root.get("verbose") or 0))
    settings = load_settings(opts.config)
    store_url = opts.store or settings.store.url
    parse_store_url(store_url)  # a bad URL: one line now, not a retry loop
    plan = make_plan(settings, assets=assets, venues=venues, duration=duration, once=once,
                     streams=False if no_streams else None, backfill=False if no_backfill else None,
                     store_url=store_url)
    if verbose:
        _logfmt(logging.DEBUG if verbose > 1 else logging.INFO)
    return asyncio.run(_collect(opts, settings, plan, quiet=quiet, plain=bool(verbose)))


async def _collect(opts: Options, settings: Settings, plan: Plan, *, quiet: bool, plain: bool) -> int:
    from dtrack.client import AsyncClient
    from dtrack.collect import Collector
    from dtrack.collect.status import StatusLine
    from dtrack.store import open_store

    stop = asyncio.Event()
    tty = sys.stderr.isatty() and not plain
    status = StatusLine(None if quiet else sys.stderr, messages=sys.stderr, tty=tty)
    _on_signals(stop, status)
    async with AsyncClient(sim=opts.sim, seed=opts.seed, config=settings, venues=plan.venues) as client:
        collector = Collector(client, plan, open_store=lambda: open_store(plan.store_url), status=status, stop=stop,
                              progress=None if quiet else _progress(status))
        return await collector.run()


def _on_signals(stop: asyncio.Event, status: StatusLine) -> None:
    """SIGTERM / SIGINT: stop cleanly (flush, mark the run stopped); a second Ctrl-C quits at once."""
    loop = asyncio.get_running_loop()

    def handle(sig: signal.Signals) -> None:
        if not stop.is_set():
            stop.set()
            status.message(f"{sig.name}: stopping (writing what is kept)"
                           + ("; Ctrl-C again to quit at once" if sig is signal.SIGINT else ""))
        elif sig is signal.SIGINT:
            status.message("quit at once: rows not yet written are lost")
            os._exit(130)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handle, sig)


def _progress(status: StatusLine) -> Any:
    """The backfill's progress callback (one line per step): the first line at once, then one at most every
    few seconds (every line at -vv); the collector says what was written when it is done."""
    return _Throttled(status)


class _Throttled:
    EVERY = 5.0

    def __init__(self, status: StatusLine) -> None:
        self.status = status
        self.shown = -1e18
        self.latest: str | None = None

    def __call__(self, line: str) -> None:
        logging.getLogger("dtrack.collect.backfill").debug("%s", line)
        now = time.monotonic()
        if now - self.shown >= self.EVERY:
            self.status.message(f"backfill: {line}")
            self.shown, self.latest = now, None
        else:
            self.latest = line


class _LogfmtFormatter(logging.Formatter):
    """``time=… level=… logger=… msg="…" key=value…``: one parseable line per record, times in UTC; a record's
    ``fields`` (``log.info("…", extra={"fields": {...}})``) become more key=value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage().replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = f'time={when} level={record.levelname.lower()} logger={record.name} msg="{msg}"'
        for key, value in (getattr(record, "fields", None) or {}).items():  # ``extra={"fields": {...}}``
            text = str(value)
            line += f" {key}=" + (f'"{text}"' if not text or any(c in text for c in ' "=') else text)
        if record.exc_info:
            line += ' exc="' + self.formatException(record.exc_info).replace('"', "'").replace("\n", " | ") + '"'
        return line


def _logfmt(level: int) -> None:
    root = logging.getLogger()
    root.setLevel(min(root.level, level))
    for handler in root.handlers:
        handler.setFormatter(_LogfmtFormatter())
