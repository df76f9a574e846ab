"""What every command shares: global options, ``--sim``, ``--timeout``, the one client call, output and
exit codes.

Exit codes: 0 ok, 1 error, 2 usage error (bad input), 3 partial (some venues failed; results
printed, failures on stderr). Heavy libraries are imported inside functions (fast ``--help``).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dtrack.results import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

if TYPE_CHECKING:
    from dtrack.client import Client
    from dtrack.results import Failure, Result

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "FORMATS", "Options", "answer", "as_of_line",
           "color_enabled", "common_options", "emit", "options", "print_renderable", "print_view", "render",
           "report_failures", "table_width", "wide_option"]

FORMATS = ("table", "json", "csv")
#: the width of a table printed to a pipe or a file when $COLUMNS does not say
PIPE_WIDTH = 200
#: ``ctx.meta`` key set by ``--wide`` (on the group or on a command)
WIDE = "dtrack.wide"


def _set_wide(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[WIDE] = True


def wide_option(f: F) -> F:
    """Add ``--wide`` (every column of every table, the terminal wrapping the lines) to a command or group."""
    return click.option("--wide", is_flag=True, default=False, expose_value=False, is_eager=True,
                        callback=_set_wide,
                        help="Tables: every column, none dropped to fit the width (the terminal wraps).")(f)


@dataclass(frozen=True, slots=True)
class Options:
    """Options every command understands (set on the group or on the command)."""

    config: str | None = None
    sim: bool = False
    fmt: str = "table"
    seed: int = 7
    timeout: float | None = None
    store: str | None = None  # --store URL (else $DTRACK_STORE, else settings store.url, else the default file)


def common_options(f: F) -> F:
    """Add ``--format``, ``--sim``, ``--config``, ``--timeout`` and ``--wide`` to a command."""
    f = wide_option(f)
    f = click.option("--timeout", "timeout", type=click.FloatRange(min=0.001), default=None, metavar="SECONDS",
                     help="Overall deadline: after it, print what the venues answered and list the rest "
                          "(default: settings http.deadline).")(f)
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                     help="Output: table (default), json (one object) or csv (rows).")(f)
    f = click.option("--sim", is_flag=True, default=False,
                     help="Run against dtrack's built-in simulated venues (offline demo).")(f)
    f = click.option("--config", "config", type=click.Path(dir_okay=False, readable=False), default=None,
                     help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")(f)
    return f


def options(ctx: click.Context, config: str | None, sim: bool, fmt: str | None,
            timeout: float | None = None) -> Options:
    """Command-level options over the group's."""
    base: Options = ctx.find_object(Options) or Options()
    return replace(base, config=config or base.config, sim=sim or base.sim, fmt=fmt or base.fmt,
                   timeout=timeout if timeout is not None else base.timeout)


def answer(opts: Options, venues: Sequence[str], query: Callable[[Client], Result],
           preload: Sequence[str] = ()) -> int:
    """One command's whole life after its arguments are parsed: one client call, the rendering in the
    asked format, the failures on stderr, and the exit code.

    ``preload`` names modules needed after the network part (numpy, rich ...): they are imported in a
    background thread while the requests are in flight, so their import time hides behind the latency (an
    answer from the history store asks no venue: it imports them in turn, without a second thread).
    """
    from dtrack.client import Client

    with Client(sim=opts.sim, seed=opts.seed, config=opts.config, venues=venues, timeout=opts.timeout,
                store=opts.store) as dt:
        if preload:  # only when the venues are asked: an answer from the store has no latency to hide behind
            dt.on_network(lambda: threading.Thread(target=_import_all, args=(tuple(preload),), daemon=True).start())
        result = query(dt)
    if result.all_failed and opts.fmt == "table":
        report_failures(result.failures)
        click.echo(f"dtrack: error: {result.empty_line()}", err=True)
        return result.exit_code
    render(result, opts.fmt)
    report_failures(result.failures)
    if result.all_failed and not result.failures:  # nothing to show, and no venue to blame: say why
        click.echo(f"dtrack: error: {result.empty_line()}", err=True)
    return result.exit_code


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:  # the main thread will import it again and report properly
            return


def report_failures(failures: Sequence[Failure]) -> None:
    """One line per failure on stderr."""
    for f in failures:
        click.echo(f"dtrack: {f.venue} [{f.kind}]: {_strip_venue(f.venue, f.message)}", err=True)


def _strip_venue(venue: str, message: str) -> str:
    prefix = f"{venue}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def emit(text: str) -> None:
    """Write data to stdout (with a final newline)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def render(result: Result, fmt: str) -> None:
    """Write a result in the asked format: one JSON object (no NaN), CSV rows (a note on stderr says what
    only JSON holds), or tables fit to the width (``print_view``) under a line saying when the data is from.
    Only the asked rendering is built."""
    if fmt == "json":
        emit(result.to_json())
    elif fmt == "csv":
        emit(result.to_csv())
        if note := result.csv_note():
            click.echo(f"dtrack: note: {note}", err=True)
    else:
        from dtrack.report.table import Text, View

        print_view(View(Text(as_of_line(result), style="dim"), result.table()))


def as_of_line(result: Result) -> str:
    """``as of 2026-12-04 08:00:00 UTC (20 s ago)``: when the data shown is from (a store answer: its oldest
    snapshot), and how old it was when the result was made."""
    from dtrack.report.format import as_of

    source: Any = getattr(result, "source", None)  # the results that have one (funding, oi, basis ...)
    if getattr(source, "kind", None) == "store" and getattr(source, "snapshot_time", None) is not None:
        return as_of(source.snapshot_time, getattr(source, "age_seconds", None) or 0.0)
    return as_of(result.as_of, 0.0)


def table_width() -> int | None:
    """The width tables are fit to: None with ``--wide`` (every column); else $COLUMNS when set; else the
    terminal's width, or 200 when stdout is not a terminal (a pipe, a file)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(WIDE):
        return None
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if sys.stdout.isatty():
            return os.get_terminal_size(sys.stdout.fileno()).columns or PIPE_WIDTH
    except (OSError, ValueError):  # no real file behind stdout
        pass
    return PIPE_WIDTH


def color_enabled() -> bool:
    """ANSI colour only on a terminal, and not when $NO_COLOR is set (https://no-color.org)."""
    try:
        return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    except ValueError:  # stdout closed
        return False


def print_view(view: Any) -> None:
    """Print a ``dtrack.report.table`` part (a ``View``, ``Table`` or ``Text``) to stdout, fit to
    ``table_width()``, coloured only on a terminal."""
    text = view.render(table_width(), color=color_enabled())
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:  # a stdout that cannot say "─" (PYTHONIOENCODING=ascii ...): ASCII rules, "?"s
        encoding = sys.stdout.encoding or "ascii"
        sys.stdout.write(text.replace("─", "-").encode(encoding, "replace").decode(encoding))


def print_renderable(renderable: Any) -> None:
    """Print a table part (``print_view``); anything else is handed to rich (not imported otherwise)."""
    from dtrack.report.table import Part

    if isinstance(renderable, Part):
        print_view(renderable)
        return
    from rich.console import Console

    Console(width=table_width() or 10_000, soft_wrap=False).print(renderable)
