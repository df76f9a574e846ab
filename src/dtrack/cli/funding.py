"""``dtrack funding``: current funding, averages, history, arbitrage, alerts and payments across venues."""

from __future__ import annotations

import click

from dtrack.analytics.screens import FUNDING_SORTS
from dtrack.cli.common import common_options, options
from dtrack.cli.watch import run, watch_options

#: imported in the background while the venues answer
AFTER_FETCH = ("dtrack.analytics.funding", "dtrack.report.funding")


@click.command()
@click.argument("assets", nargs=-1, metavar="[ASSET...]")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: every active venue.")
@click.option("--history", "history", default=None, metavar="DURATION",
              help="History window for the statistics, e.g. 24h, 7d, 30d (averages always use at least 7d).")
@click.option("--arb", is_flag=True, help="Cross-venue funding arbitrage: every pair, net of taker fees.")
@click.option("--min-spread", type=float, default=None, metavar="PCT",
              help="With --arb: only pairs whose spread is at least PCT percent per 8 h.")
@click.option("--alert-threshold", type=float, default=None, metavar="PCT",
              help="Mark rows whose 8h-equivalent rate exceeds PCT percent in absolute value.")
@click.option("--position", type=float, default=None, metavar="USD", help="Position notional in USD.")
@click.option("--side", type=click.Choice(["long", "short"]), default=None,
              help="With --position: the position's side.")
@click.option("--live", is_flag=True,
              help="Ask the venues even when the history store holds fresh snapshots (store.fresh_seconds).")
@click.option("--top", type=int, default=None, metavar="N",
              help="A screen: the N best perpetuals by --sort (without ASSET: every listed perpetual of every venue).")
@click.option("--sort", type=click.Choice(FUNDING_SORTS), default=None,
              help="Order rows (and --arb pairs): apr (highest first; the default of --top), rate (8h-equivalent, "
                   "largest either sign), oi (USD), spread (over the cheapest venue of the same asset).")
@click.option("--min-oi", type=float, default=None, metavar="USD", help="Only perpetuals with this much open interest.")
@click.option("--limit", type=int, default=None, metavar="N", help="With --arb: the first N pairs.")
@watch_options
@common_options
@click.pass_context
def funding(ctx: click.Context, assets: tuple[str, ...], venues: tuple[str, ...], history: str | None, arb: bool,
            min_spread: float | None, alert_threshold: float | None, position: float | None, side: str | None,
            live: bool, top: int | None, sort: str | None, min_oi: float | None, limit: int | None,
            watch: str | None, refreshes: int | None, config: str | None, sim: bool, fmt: str | None,
            timeout: float | None) -> int:
    """Funding rates of ASSET... across venues: an asset (BTC, eth), a ccxt symbol (BTC/USDT:USDT) or venue
    symbols (BTCUSDT, BTC-PERPETUAL, kPEPE) for just those contracts.

    Every rate keeps its own interval; 8h-equivalent = rate x 8 / interval hours and
    APR = rate x 8760 / interval hours. Averages are of 8h-equivalent rates over the
    settlements in the window; the weighted average uses open interest in USD.

    When the history store holds snapshots younger than store.fresh_seconds (60 s) of everything
    shown, the answer comes from it without the network, and says so (--live: the venues). With
    --history, stored settlements older than a venue keeps complete its history.

    \b
    Examples:
      dtrack funding BTC ETH SOL --sim
      dtrack funding BTC --history 30d --venue binance --venue okx
      dtrack funding BTC --arb --min-spread 0.01
      dtrack funding PEPE --alert-threshold 0.05 --format json
      dtrack funding ETH --position 50000 --side short
      dtrack funding --top 20 --sort apr --min-oi 10000000
      dtrack funding BTC ETH --watch 30s
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return run(opts, venues, lambda dt: dt.funding(
        assets, history=history, arb=arb, min_spread=min_spread, alert_threshold=alert_threshold,
        position=position, side=side, live=live, top=top, sort=sort, min_oi=min_oi, limit=limit), watch, refreshes,
        preload=AFTER_FETCH)
