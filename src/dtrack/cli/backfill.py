"""``dtrack backfill``: fill the history store from the venues' own history (progress on stderr)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from dtrack.cli.common import FORMATS, answer, options, wide_option

if TYPE_CHECKING:
    from dtrack.client import Client
    from dtrack.results import BackfillResult

#: the kinds of ``dtrack.client.backfill`` (spelled out here: ``--help`` imports no client code)
KINDS = ("funding", "oi", "klines")


class ProgressLine:
    """The progress of a backfill on stderr: one line rewritten in place on a terminal, else a line per step."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = False

    def __call__(self, message: str) -> None:
        if self.tty:
            click.echo(f"\r\x1b[K{message}", err=True, nl=False)
            self.shown = True
        else:
            click.echo(f"dtrack: {message}", err=True)

    def close(self) -> None:
        """End the line rewritten in place."""
        if self.shown:
            click.echo("", err=True)


def _kinds(text: str) -> list[str]:
    names = [k.strip().lower() for k in text.split(",") if k.strip()]
    for name in names or [text]:
        if name not in KINDS:
            raise click.BadParameter(f"{name!r} is not one of {', '.join(KINDS)} (several: funding,oi)",
                                     param_hint="KIND")
    return names


@click.command()
@click.argument("kind", metavar="funding|oi|klines")
@click.argument("assets", nargs=-1, required=True, metavar="ASSET...")
@click.option("--since", default="90d", show_default=True, metavar="WHEN",
              help="From: a duration ago (90d, 26w) or an ISO-8601 time; a venue keeping less gives less, and "
                   "the summary says so.")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: every active venue that keeps the kind.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Summary: table (default), json (one object, per symbol too) or csv (a row per venue and kind).")
@click.option("--sim", is_flag=True, default=False,
              help="Backfill from dtrack's simulated venues (needs --store: a sim must not mix with real history).")
@click.option("--config", "config", type=click.Path(dir_okay=False, readable=False), default=None,
              help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")
@wide_option
@click.pass_context
def backfill(ctx: click.Context, kind: str, assets: tuple[str, ...], since: str, venues: tuple[str, ...],
             quiet: bool, fmt: str | None, sim: bool, config: str | None) -> int:
    """Fill the history store with the venues' history of ASSET...: funding (settled funding), oi
    (open-interest history, hourly) or klines (hourly closes, highs and lows); several as funding,oi,klines.

    Fetches only what is missing (from --since, or from the last stored point), pages through each venue's
    history as deep as it goes (Binance keeps 30 days of open interest, OKX about 3 months of funding), and
    writes in batches, idempotently. The summary says per venue and kind from when the store now holds the
    series, what came and what was new. Progress on stderr (-q silences it).

    \b
    Examples:
      dtrack backfill funding BTC ETH --since 90d
      dtrack backfill oi,klines SOL --since 30d --venue binance --venue bybit
      dtrack --store postgresql://dtrack@db/dtrack backfill funding BTC --since 2025-01-01 --format json
    """
    names = _kinds(kind)
    opts = options(ctx, config, sim, fmt)
    quiet = quiet or bool(ctx.find_root().params.get("quiet"))
    progress = None if quiet else ProgressLine()

    def run(dt: Client) -> BackfillResult:
        try:
            return dt.backfill(names, assets, since=since, progress=progress)
        finally:
            if progress is not None:
                progress.close()  # before the summary goes to stdout

    return answer(opts, venues, run)
