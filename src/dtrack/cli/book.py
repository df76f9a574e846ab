"""``dtrack book``: L2 order-book depth per contract and per asset across venues (mid, spread, depth within bands
of the mid in coins and USD, imbalance, truncation)."""

from __future__ import annotations

import click

from dtrack.cli.common import answer, common_options, options

#: imported in the background while the venues answer
AFTER_FETCH = ("numpy", "dtrack.analytics.book", "dtrack.report.book")


@click.command()
@click.argument("assets", nargs=-1, required=True, metavar="ASSET...")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: every active venue that publishes order books.")
@click.option("--bands", default="0.1,0.5,1,5", show_default=True, metavar="PCTS",
              help="Bands around the mid, percent, comma-separated (up to 10, each at most 50).")
@click.option("--depth", type=int, default=None, metavar="N",
              help="Levels a side to ask (default 1000): each venue gets its nearest allowed limit, capped at its "
                   "maximum (Bybit 500, OKX 400, dYdX 100, Hyperliquid 20); a band past the last level is flagged.")
@click.option("--kind", type=click.Choice(("perp", "future", "all")), default="perp", show_default=True,
              help="Which contracts: perpetuals, dated futures or both.")
@common_options
@click.pass_context
def book(ctx: click.Context, assets: tuple[str, ...], venues: tuple[str, ...], bands: str, depth: int | None,
         kind: str, config: str | None, sim: bool, fmt: str | None, timeout: float | None) -> int:
    """Order-book depth of ASSET... on every venue, asked all at once.

    Per contract: mid, spread (bp), and per band the USD (and, in JSON/CSV, coins) resting
    within that distance of the mid on each side, with the imbalance (bids - asks) / (bids +
    asks). Where a venue's answer ends inside a band (it sent as many levels as may be asked:
    Hyperliquid sends 20 a side) the figure is a lower bound, shown as >= and flagged
    "truncated" in JSON and CSV. Per asset: the sum across venues.

    \b
    Examples:
      dtrack book BTC ETH SOL --sim
      dtrack book BTC --venue binance --venue okx --bands 0.05,0.25,1
      dtrack book ETH --kind all --format json
      dtrack book SOL --depth 100 --format csv
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, venues, lambda dt: dt.book(assets, bands=bands, depth=depth, kind=kind),
                  preload=AFTER_FETCH)
