"""``dtrack dashboard``: funding, open interest, liquidations, basis and options of several assets at once."""

from __future__ import annotations

import click

from dtrack.cli.common import FORMATS, common_options, options
from dtrack.cli.watch import run, watch_options
from dtrack.errors import UsageError

#: imported in the background while the venues answer (the analytics are imported by the query before its requests
#: go out, so that they leave together)
AFTER_FETCH = ("dtrack.report.dashboard", "dtrack.report.table")


@click.command()
@click.argument("assets", nargs=-1, required=True, metavar="ASSET...")
@click.option("--level", type=click.IntRange(1, 3), default=2, show_default=True,
              help="1: one line per asset; 2: the panels of each asset; 3: the panels, signals and a risk assessment.")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: every active venue.")
@click.option("--output", "output", type=click.Choice(FORMATS), default=None, help="The same as --format.")
@click.option("--live", is_flag=True,
              help="Ask the venues even when the history store holds fresh snapshots (store.fresh_seconds).")
@watch_options
@common_options
@click.pass_context
def dashboard(ctx: click.Context, assets: tuple[str, ...], level: int, venues: tuple[str, ...], output: str | None,
              live: bool, watch: str | None, refreshes: int | None, config: str | None, sim: bool, fmt: str | None,
              timeout: float | None) -> int:
    """The derivatives dashboard of ASSET... (BTC ETH SOL): every panel of every asset fetched at once.

    \b
    Level 1: one line per asset: the largest perpetual's funding, the OI-weighted funding and its
             sentiment, open interest and its 24h change, 24h liquidations long/short, the 3-month
             (90-day constant maturity) basis, ATM IV and IV rank.
    Level 2 (default): per asset the funding table (each venue's largest perpetual), open interest
             by venue with 24h/7d changes and shares, 24h liquidations, the basis term structure,
             the options summary by expiry; sparklines of the stored history (7d) when the store
             holds it.
    Level 3: level 2 plus signals (funding sentiment and extremes, OI/price divergence, cascade
             risk, IV rank, IV-RV, the best carry trade and funding arbitrage), each with its
             numbers, and a risk assessment.

    Every number is the one `dtrack funding`, `oi`, `basis`, `options` and `liquidations` print
    for the same moment. A panel that fails leaves the others (exit 3); a panel this build or
    these venues cannot fill says why.

    \b
    Examples:
      dtrack dashboard BTC ETH SOL --sim
      dtrack dashboard BTC --level 3 --sim
      dtrack dashboard BTC ETH --level 1 --watch 30s
      dtrack dashboard BTC --output json
    """
    if fmt is not None and output is not None and fmt != output:
        raise UsageError(f"--format {fmt} and --output {output} disagree: give one (--output is --format)")
    opts = options(ctx, config, sim, fmt or output, timeout)
    return run(opts, venues, lambda dt: dt.dashboard(assets, level=level, live=live), watch, refreshes,
               preload=AFTER_FETCH, title=f"dtrack dashboard {' '.join(assets)} --level {level}")
