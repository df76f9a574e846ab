"""``dtrack options``: per-expiry metrics, IV term structure and regime, chain, put/call, GEX and flow."""

from __future__ import annotations

import click

from dtrack.analytics.screens import CHAIN_SORTS
from dtrack.analytics.selection import DEFAULT_EXPIRIES
from dtrack.cli.common import answer, common_options, options

#: imported in the background while the venues answer
AFTER_FETCH = ("numpy", "dtrack.analytics.options", "dtrack.analytics.options_desk", "dtrack.report.options")


@click.command(name="options")
@click.argument("assets", nargs=-1, required=True, metavar="ASSET...")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: Deribit, OKX, Bybit and Binance.")
@click.option("--expiry", default=None, metavar="DATE|next|friday|month|all",
              help="Which expiries: an ISO date, next, friday (coming Friday), month (month-end), all. "
                   f"Default: the next {DEFAULT_EXPIRIES}.")
@click.option("--pcr", is_flag=True, help="Focus on put/call ratios (OI, volume, premium) and max pain.")
@click.option("--chain", is_flag=True, help="The chain: per strike marks (USD and coin), IVs, greeks, OI, volume.")
@click.option("--flow", is_flag=True, help="Large trades of the last 24 h, grouped by strike and expiry.")
@click.option("--min-size", default=None, metavar="N",
              help="With --flow: minimum size in coins (e.g. 25; = contracts on Deribit, Bybit, Binance; OKX "
                   "contracts are 0.1 BTC) or premium in USD (e.g. $100000 or 100000usd).")
@click.option("--gex", is_flag=True, help="Dealer gamma exposure by strike, total and flip level.")
@click.option("--sort", type=click.Choice(CHAIN_SORTS), default=None,
              help="With --chain: order each asset's chain by strike or expiry (ascending), oi, volume or iv "
                   "(descending).")
@click.option("--limit", type=int, default=None, metavar="N", help="With --chain: the first N options per asset.")
@click.option("--live", is_flag=True,
              help="Ask the venues even when the history store holds fresh options snapshots (options.fresh_seconds).")
@common_options
@click.pass_context
def options_cmd(ctx: click.Context, assets: tuple[str, ...], venues: tuple[str, ...], expiry: str | None, pcr: bool,
                chain: bool, flow: bool, min_size: str | None, gex: bool, sort: str | None, limit: int | None,
                live: bool, config: str | None, sim: bool, fmt: str | None, timeout: float | None) -> int:
    """Options analytics of ASSET... (BTC, ETH, SOL): Deribit, OKX, Bybit and Binance.

    Default view per expiry: days, forward, ATM IV, 25-delta risk reversal and butterfly,
    put/call ratios (OI, volume), max pain, OI in USD; then DVOL, IV rank and percentile
    (365 days), 30-day realized volatility, the IV-RV spread and what it suggests (rank above
    options.rank_high_pct: expensive; below options.rank_low_pct: cheap). IVs are fractions in
    JSON (0.55 = 55 %); Deribit's percent IVs and coin prices are converted (the chain shows both).
    GEX assumes dealers short calls and long puts (options.dealer_calls / dealer_puts).

    When the history store holds the collector's options snapshots of every asset and venue
    asked, younger than options.fresh_seconds (1800 s), the answer comes from it without the
    network, and says so (--live: the venues); not with --chain, --gex or --flow. From the
    store the regime has no GEX and its RV is over 30 closed days.

    \b
    Examples:
      dtrack options BTC --sim
      dtrack options BTC ETH --expiry friday --chain
      dtrack options BTC --gex --expiry month --format json
      dtrack options ETH --flow --min-size '$250000'
      dtrack options BTC --chain --sort oi --limit 20
      dtrack options BTC ETH --live
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, venues, lambda dt: dt.options(assets, expiry=expiry, chain=chain, pcr=pcr, flow=flow,
                                                      min_size=min_size, gex=gex, sort=sort, limit=limit,
                                                      live=live),
                  preload=AFTER_FETCH)
