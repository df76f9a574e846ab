"""``dtrack oi``: open interest per venue and contract, its changes, long/short positioning and OI/price divergence."""

from __future__ import annotations

import click

from dtrack.analytics.screens import OI_SORTS
from dtrack.cli.common import common_options, options
from dtrack.cli.watch import run, watch_options
from dtrack.errors import UsageError

#: imported in the background while the venues answer
AFTER_FETCH = ("numpy", "dtrack.analytics.open_interest", "dtrack.report.oi")


@click.command()
@click.argument("assets", nargs=-1, metavar="[ASSET...]")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: every active venue.")
@click.option("--changes", is_flag=True, help="1h, 4h, 24h and 7d change per contract, venue and total.")
@click.option("--divergence", is_flag=True, help="OI change against price change over --window, classified.")
@click.option("--window", default="24h", show_default=True, metavar="DURATION",
              help="With --divergence: the window (1h..30d), e.g. 4h, 24h, 7d.")
@click.option("--live", is_flag=True,
              help="Ask the venues even when the history store holds fresh snapshots (store.fresh_seconds).")
@click.option("--top", type=int, default=None, metavar="N",
              help="A screen: the N largest contracts by --sort (without ASSET: every listed contract of every venue).")
@click.option("--sort", type=click.Choice(OI_SORTS), default=None,
              help="Order rows: oi (USD, largest first; the default of --top) or change_24h (largest 24h increase, "
                   "coin terms; contracts without history are not ranked).")
@click.option("--min-oi", type=float, default=None, metavar="USD", help="Only contracts with this much open interest.")
@watch_options
@common_options
@click.pass_context
def oi(ctx: click.Context, assets: tuple[str, ...], venues: tuple[str, ...], changes: bool, divergence: bool,
       window: str, live: bool, top: int | None, sort: str | None, min_oi: float | None, watch: str | None,
       refreshes: int | None, config: str | None, sim: bool, fmt: str | None, timeout: float | None) -> int:
    """Open interest of ASSET... across venues, one side, in coins and USD (an asset, or a ccxt / venue
    symbol such as BTC/USDT:USDT or BTCUSDT for just those contracts).

    Every figure keeps the venue's own amount and unit (contracts, coin or USD), the contract
    size used and the price used to convert it. Bybit's two-sided openInterest is replaced by its
    one-sided figure. Changes are in coin terms (a price move alone is not positioning).

    \b
    Divergence (OI change vs price change over the window; thresholds in settings.yaml, oi.*):
      OI up + price up      bullish (new longs)
      OI up + price down    bearish (new shorts)
      OI down + price up    short squeeze / short covering
      OI down + price down  long liquidation / capitulation
      otherwise             neutral

    \b
    Examples:
      dtrack oi BTC ETH --sim
      dtrack oi BTC --changes --divergence --window 4h
      dtrack oi SOL --venue binance --venue bybit --format json
      dtrack oi --top 20 --sort change_24h --min-oi 50000000
    """
    opts = options(ctx, config, sim, fmt, timeout)
    if ctx.get_parameter_source("window") is click.core.ParameterSource.COMMANDLINE and not divergence:
        raise UsageError("--window sets the divergence window: add --divergence")
    return run(opts, venues, lambda dt: dt.open_interest(assets, changes=changes, divergence=divergence, window=window,
                                                         live=live, top=top, sort=sort, min_oi=min_oi),
               watch, refreshes, preload=AFTER_FETCH)
