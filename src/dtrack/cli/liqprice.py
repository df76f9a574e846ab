"""``dtrack liqprice``: the liquidation price of one position with the venue's real maintenance-margin tiers."""

from __future__ import annotations

import click

from dtrack.cli.common import answer, common_options, options

#: imported in the background while the venue answers
AFTER_FETCH = ("dtrack.analytics.liqprice", "dtrack.report.liqprice")


@click.command()
@click.option("--venue", required=True, metavar="V",
              help="The venue: binance, bybit, okx, hyperliquid, dydx or deribit.")
@click.option("--symbol", required=True, metavar="S",
              help="The contract: a venue symbol (BTCUSDT, BTC-USDT-SWAP, BTCUSD_PERP), a normalized id "
                   "(BTC-USDT-PERP) or an asset (BTC: its perpetual, linear USDT first).")
@click.option("--side", required=True, type=click.Choice(["long", "short"], case_sensitive=False),
              help="The position's side.")
@click.option("--entry", type=float, default=None, metavar="P",
              help="Entry price, USD per coin (default: the contract's current mark price).")
@click.option("--size", type=float, default=None, metavar="Q",
              help="Position size in coins of the asset (not contracts). May be left out with --risk/--stop/"
                   "--capital: the risk-based size is used.")
@click.option("--leverage", type=float, default=None, metavar="L",
              help="Leverage (10 = 10x): the isolated margin is the position's value / L. At most the tier's "
                   "maximum.")
@click.option("--margin", type=float, default=None, metavar="USD",
              help="Isolated margin in USD instead of --leverage (converted to coins at the entry for inverse "
                   "contracts).")
@click.option("--mode", default="isolated", show_default=True,
              type=click.Choice(["isolated", "cross"], case_sensitive=False),
              help="Margin mode; cross needs --wallet (the whole wallet backs this one position).")
@click.option("--wallet", type=float, default=None, metavar="USD", help="With --mode cross: the wallet balance.")
@click.option("--target-distance", "target_distance", type=float, default=None, metavar="PCT",
              help="Also the highest leverage keeping the liquidation at least PCT % from the entry (searched "
                   "with the tiers); without --leverage/--margin the position is computed at it.")
@click.option("--risk", type=float, default=None, metavar="PCT", help="Sizing: percent of --capital to risk.")
@click.option("--stop", type=float, default=None, metavar="PCT", help="Sizing: the stop's distance, percent.")
@click.option("--capital", type=float, default=None, metavar="USD", help="Sizing: the capital, USD.")
@common_options
@click.pass_context
def liqprice(ctx: click.Context, venue: str, symbol: str, side: str, entry: float | None, size: float | None,
             leverage: float | None, margin: float | None, mode: str, wallet: float | None,
             target_distance: float | None, risk: float | None, stop: float | None, capital: float | None,
             config: str | None, sim: bool, fmt: str | None, timeout: float | None) -> int:
    """Liquidation price of a position with the venue's REAL maintenance-margin tiers and its documented formula:
    Binance USDⓈ-M / COIN-M (brackets from Binance's public web table: unofficial), Bybit classic (risk-limit),
    OKX (position-tiers, by contracts, taker fee in the margin ratio), Hyperliquid (meta margin tables), dYdX v4
    (IMF/MMF) and Deribit's linear USDC perpetuals (its published margin rule; not its inverse contracts).

    Shows the liquidation price, its distance from the entry and the move that reaches it, the tier used (the one
    the position falls in AT the liquidation price, iterated; said when it does not settle) with its floor, cap,
    rate, deduction and source, and the risk level (seed 004: >= 30 % low, >= 15 % moderate, >= 10 % elevated,
    else high). --target-distance adds the highest safe leverage; --risk/--stop/--capital a risk-based size.

    \b
    Examples:
      dtrack liqprice --venue bybit --symbol BTCUSDT --side long --entry 20000 --size 1 --leverage 50 --sim
      dtrack liqprice --venue binance --symbol BTC --side short --size 2 --margin 5000
      dtrack liqprice --venue okx --symbol BTC-USDT-SWAP --side long --size 0.5 --leverage 20 --target-distance 30
      dtrack liqprice --venue hyperliquid --symbol ETH --side long --size 10 --mode cross --wallet 8000 --leverage 10
      dtrack liqprice --venue binance --symbol BTCUSDT --side long --risk 2 --stop 5 --capital 100000 --leverage 5
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, (), lambda dt: dt.liqprice(
        venue=venue, symbol=symbol, side=side.lower(), size=size, entry=entry, leverage=leverage, margin=margin,
        mode=mode.lower(), wallet=wallet, target_distance=target_distance, risk=risk, stop=stop, capital=capital),
        preload=AFTER_FETCH)
