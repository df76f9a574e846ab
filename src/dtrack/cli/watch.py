"""``--watch DURATION``: one refresh loop for every command that offers it (``dashboard``, ``funding``, ``oi``,
``liquidations``). A command adds ``@watch_options`` and ends with ``return run(opts, venues, query, watch,
refreshes)``: without ``--watch`` that is the plain one-shot ``answer``.

The loop keeps one ``AsyncClient`` open (its HTTP session, cache and in-flight sharing) and asks the same query
again and again: the next refresh starts only after the previous one has finished and been drawn, ``DURATION``
after the previous one started (at once if it took longer). Queries answer from the history store when the
collector keeps it fresh (``store.fresh_seconds``), as they always do. On a terminal each refresh redraws the
screen in place (plain ANSI: cursor home, lines overwritten, the rest cleared); in a pipe, frames follow one another
separated by a blank line; ``--format json`` writes one document per line (JSON lines). Failures are drawn into the
frame (a scrolling stderr line would break the redraw). Ctrl-C stops it with exit code 0; ``--refreshes N`` stops
after N refreshes with the last refresh's exit code.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from dtrack.cli.common import EXIT_OK, Options, answer, as_of_line, color_enabled, table_width
from dtrack.errors import UsageError, clip

F = TypeVar("F", bound=Callable[..., Any])

#: the shortest and longest refresh interval, seconds
MIN_SECONDS, MAX_SECONDS = 1.0, 86_400.0
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$", re.IGNORECASE)
_UNIT = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
HOME, CLEAR_LINE, CLEAR_BELOW, CLEAR_ALL = "\x1b[H", "\x1b[K", "\x1b[J", "\x1b[2J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


def parse_interval(text: str) -> float:
    """``30s``, ``5m``, ``1h`` or plain seconds (``45``) -> seconds, 1 s to 24 h; else a usage error."""
    m = _INTERVAL.match(text)
    seconds = float(m.group(1)) * _UNIT[(m.group(2) or "s").lower()] if m else -1.0
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise UsageError(f"bad --watch {clip(text)!r}: expected a refresh interval like 30s, 5m or 1h (1 s to 24 h)")
    return seconds


def watch_options(f: F) -> F:
    """Add ``--watch DURATION`` and ``--refreshes N`` to a command."""
    f = click.option("--refreshes", type=click.IntRange(min=1), default=None, metavar="N",
                     help="With --watch: stop after N refreshes (default: until Ctrl-C).")(f)
    f = click.option("--watch", "watch", default=None, metavar="DURATION",
                     help="Refresh every DURATION (30s, 5m, 1h) in place until Ctrl-C; from the history store when "
                          "the collector keeps it fresh.")(f)
    return f


def run(opts: Options, venues: Sequence[str], query: Callable[[Any], Any], watch: str | None,
        refreshes: int | None, *, preload: Sequence[str] = (), title: str = "") -> int:
    """The command's answer: once (``answer``), or every ``watch`` until Ctrl-C (or ``refreshes`` times).
    ``query`` is the command's one client call, ``lambda dt: dt.funding(...)``: it serves the blocking client
    once and the async one in the loop (the same method names and arguments)."""
    if watch is None:
        if refreshes is not None:
            raise UsageError("--refreshes counts the refreshes of --watch: add --watch DURATION")
        return answer(opts, venues, query, preload=preload)
    seconds = parse_interval(watch)
    if opts.fmt == "csv":
        raise UsageError("--watch draws tables or writes JSON lines (--format json); CSV has no place for refreshes")
    frames = Frames(title or " ".join(sys.argv[1:]) or "dtrack", seconds, sys.stdout.isatty())
    try:
        code: int = asyncio.run(_loop(opts, venues, query, seconds, refreshes, frames))
        return code
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        frames.close()


async def _loop(opts: Options, venues: Sequence[str], query: Callable[[Any], Any], seconds: float,
                refreshes: int | None, frames: Frames) -> int:
    from dtrack.client import AsyncClient

    code = EXIT_OK
    async with AsyncClient(sim=opts.sim, seed=opts.seed, config=opts.config, venues=venues, timeout=opts.timeout,
                           store=opts.store) as dt:
        count = 0
        while True:
            started = time.monotonic()
            result = await query(dt)
            count += 1
            code = int(result.exit_code)
            frames.show(result, opts.fmt, count)
            if refreshes is not None and count >= refreshes:
                return code
            await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))


def _rows() -> int | None:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).lines or None
    except (OSError, ValueError):
        return None


def fit_height(lines: list[str], rows: int | None) -> list[str]:
    """A frame cut to the terminal's height (a redraw in place cannot scroll), its last line saying what was cut."""
    if rows is None or len(lines) < rows:
        return lines
    keep = max(rows - 2, 1)
    return [*lines[:keep], f"… {len(lines) - keep} more lines: a taller window, fewer assets or --level 1"]


class Frames:
    """Draws refreshes: in place on a terminal, one after another elsewhere, JSON lines for ``--format json``."""

    def __init__(self, title: str, seconds: float, tty: bool) -> None:
        self.title = title
        self.seconds = seconds
        self.tty = tty
        self.drawn = False

    def text(self, result: Any, count: int) -> str:
        """One refresh as text: a header line, when the data is from, the tables fit to the width, the failures."""
        from dtrack.report.table import Text, View

        every = f"{self.seconds:g}s" if self.seconds < 60 else f"{self.seconds / 60:g}m"
        view = View(Text(f"{self.title} | every {every} | refresh {count} | Ctrl-C to stop", style="dim"))
        if result.all_failed:
            view.add(Text(f"dtrack: error: {result.empty_line()}", style="red"))
        else:
            view.add(Text(as_of_line(result), style="dim"), result.table())
        for f in result.failures:
            message = f.message[len(f.venue) + 2:] if f.message.startswith(f"{f.venue}: ") else f.message
            view.add(Text(f"dtrack: {f.venue} [{f.kind}]: {message}", style="yellow"))
        out: str = view.render(table_width(), color=color_enabled())
        return out

    def show(self, result: Any, fmt: str, count: int) -> None:
        """Write one refresh."""
        if fmt == "json":
            sys.stdout.write(result.to_json(indent=None) + "\n")
        elif self.tty:
            lines = fit_height(self.text(result, count).rstrip("\n").split("\n"), _rows())
            lead = (HIDE_CURSOR + CLEAR_ALL + HOME) if not self.drawn else HOME
            sys.stdout.write(lead + "".join(line + CLEAR_LINE + "\n" for line in lines) + CLEAR_BELOW)
        else:
            sys.stdout.write(("\n" if self.drawn else "") + self.text(result, count))
        sys.stdout.flush()
        self.drawn = True

    def close(self) -> None:
        """Give the cursor back (on a terminal)."""
        if self.tty and self.drawn:
            sys.stdout.write(SHOW_CURSOR)
            sys.stdout.flush()
