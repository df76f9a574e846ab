"""``dtrack carry``: the basis-trade tracker: record a cash-and-carry position (long spot, short the perpetual), its
P&L with the funding the perpetual venue actually settled, its close; seed 004's Monte Carlo and a backtest over a
venue's real funding history."""

from __future__ import annotations

import click

from dtrack.cli.common import answer, common_options, options

#: imported in the background while the venues answer
AFTER_FETCH = ("numpy", "dtrack.analytics.carry", "dtrack.report.carry")

_FEE_HELP = "Taker fee per leg per trade, percent (default: settings carry.fee_pct, 0.05), at entry and exit."
_LEVERAGE_HELP = ("Perp leverage in the capital definition: capital = spot notional + perp notional / LEVERAGE "
                  "(default: settings carry.perp_leverage, 1).")


@click.group()
def carry() -> None:
    """The basis-trade tracker: long spot on one venue, short the perpetual on another, collecting its funding.

    Positions are kept in the history store (--store, $DTRACK_STORE or settings store.url; with --sim only a store
    named with --store), so `status` after a restart reads them back. Funding is what the perpetual venue SETTLED
    since opening, each payment at its own interval (hourly venues pay eight times as often as 8 h ones).

    \b
    Examples:
      dtrack carry open --asset BTC --spot-venue binance --perp-venue bybit --size 10
      dtrack carry status
      dtrack carry close btc-bybit-202612040800-1a2b
      dtrack carry list
      dtrack carry simulate --avg-funding 0.03 --days 90 --paths 1000 --seed 7
      dtrack carry backtest --asset BTC --perp-venue bybit --days 180
    """


@carry.command("open")
@click.option("--asset", required=True, metavar="ASSET", help="The asset: BTC, ETH, SOL ...")
@click.option("--spot-venue", "spot_venue", required=True, metavar="V", help="Where the spot leg is bought.")
@click.option("--perp-venue", "perp_venue", required=True, metavar="V", help="Where the perpetual is shorted.")
@click.option("--size", type=float, required=True, metavar="COINS", help="Position size in coins of the asset.")
@click.option("--perp", "perp", default=None, metavar="SYMBOL",
              help="The perpetual's venue symbol (default: the venue's main USD-stablecoin linear perpetual).")
@click.option("--spot-price", "spot_price", type=float, default=None, metavar="USD",
              help="Spot entry price per coin (default: the spot venue's ticker now).")
@click.option("--perp-price", "perp_price", type=float, default=None, metavar="USD",
              help="Perp entry price per coin (default: the perpetual's mark now).")
@click.option("--fee-pct", "fee_pct", type=float, default=None, metavar="PCT", help=_FEE_HELP)
@click.option("--note", default="", metavar="TEXT", help="A note kept with the position.")
@common_options
@click.pass_context
def open_cmd(ctx: click.Context, asset: str, spot_venue: str, perp_venue: str, size: float, perp: str | None,
             spot_price: float | None, perp_price: float | None, fee_pct: float | None, note: str,
             config: str | None, sim: bool, fmt: str | None, timeout: float | None) -> int:
    """Record a new basis position: SIZE coins long spot on the spot venue and short the perpetual; prints its id.

    \b
    Examples:
      dtrack carry open --asset BTC --spot-venue binance --perp-venue bybit --size 10
      dtrack carry open --asset ETH --spot-venue okx --perp-venue hyperliquid --size 50 --fee-pct 0.04
      dtrack carry open --asset BTC --spot-venue binance --perp-venue okx --size 1 \\
          --spot-price 91500 --perp-price 91540
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, (), lambda dt: dt.carry_open(asset, spot_venue=spot_venue, perp_venue=perp_venue, size=size,
                                                      perp=perp, spot_price=spot_price, perp_price=perp_price,
                                                      fee_pct=fee_pct, note=note), preload=AFTER_FETCH)


@carry.command("status")
@click.argument("position_id", required=False, metavar="[ID]")
@click.option("--leverage", type=float, default=None, metavar="L", help=_LEVERAGE_HELP)
@common_options
@click.pass_context
def status_cmd(ctx: click.Context, position_id: str | None, leverage: float | None, config: str | None, sim: bool,
               fmt: str | None, timeout: float | None) -> int:
    """P&L of every open position (or of ID, open or closed): spot and perp P&L, each funding payment the perp
    venue settled since opening (time, rate, interval, price, amount), fees, net, return on capital, annualized.

    \b
    Examples:
      dtrack carry status
      dtrack carry status btc-bybit-202612040800-1a2b --format json
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, (), lambda dt: dt.carry_status(position_id, leverage=leverage), preload=AFTER_FETCH)


@carry.command("close")
@click.argument("position_id", metavar="ID")
@click.option("--spot-price", "spot_price", type=float, default=None, metavar="USD",
              help="Spot exit price per coin (default: the spot venue's ticker now).")
@click.option("--perp-price", "perp_price", type=float, default=None, metavar="USD",
              help="Perp exit price per coin (default: the perpetual's mark now).")
@click.option("--leverage", type=float, default=None, metavar="L", help=_LEVERAGE_HELP)
@common_options
@click.pass_context
def close_cmd(ctx: click.Context, position_id: str, spot_price: float | None, perp_price: float | None,
              leverage: float | None, config: str | None, sim: bool, fmt: str | None, timeout: float | None) -> int:
    """Book the close of position ID (exit prices, now) and print its final P&L, exit fees included.

    \b
    Examples:
      dtrack carry close btc-bybit-202612040800-1a2b
      dtrack carry close btc-bybit-202612040800-1a2b --spot-price 95000 --perp-price 95010
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, (), lambda dt: dt.carry_close(position_id, spot_price=spot_price, perp_price=perp_price,
                                                       leverage=leverage), preload=AFTER_FETCH)


@carry.command("list")
@click.option("--leverage", type=float, default=None, metavar="L", help=_LEVERAGE_HELP)
@common_options
@click.pass_context
def list_cmd(ctx: click.Context, leverage: float | None, config: str | None, sim: bool, fmt: str | None,
             timeout: float | None) -> int:
    """Every recorded position, open and closed, from the store (no network).

    \b
    Examples:
      dtrack carry list
      dtrack carry list --format csv
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, (), lambda dt: dt.carry_list(leverage=leverage))


@carry.command("simulate")
@click.option("--avg-funding", "avg_funding", type=float, required=True, metavar="PCT",
              help="Average funding per 8 h, percent (0.03 = 0.03 %).")
@click.option("--days", type=float, required=True, metavar="DAYS", help="Holding period in days.")
@click.option("--vol", type=float, default=None, metavar="PCT",
              help="Funding standard deviation per 8 h, percent (default: settings carry.funding_vol_pct, 0.01).")
@click.option("--half-life", "half_life", type=float, default=None, metavar="HOURS",
              help="Mean-reversion half-life of the funding, hours (0: independent draws, seed 004; default: "
                   "settings carry.half_life_hours, 24).")
@click.option("--interval", "interval_hours", type=click.Choice(("1", "2", "4", "8")), default="8",
              show_default=True, help="Settlement interval, hours (the 8 h rate is scaled by interval / 8).")
@click.option("--paths", type=click.IntRange(min=2, max=100_000), default=None, metavar="N",
              help="Monte Carlo paths (default: settings carry.paths, 1000).")
@click.option("--seed", type=click.IntRange(min=0), default=None, metavar="S",
              help="Random seed (default: settings carry.seed, 7); the same seed gives the same figures.")
@click.option("--notional", type=float, default=None, metavar="USD",
              help="Position notional, USD (default: settings carry.notional_usd, 100000).")
@click.option("--price-vol", "price_vol", type=float, default=None, metavar="PCT",
              help="Daily price volatility, percent (default: settings carry.price_vol_pct, 2).")
@click.option("--fee-pct", "fee_pct", type=float, default=None, metavar="PCT", help=_FEE_HELP)
@click.option("--leverage", type=float, default=None, metavar="L", help=_LEVERAGE_HELP)
@common_options
@click.pass_context
def simulate_cmd(ctx: click.Context, avg_funding: float, days: float, vol: float | None, half_life: float | None,
                 interval_hours: str, paths: int | None, seed: int | None, notional: float | None,
                 price_vol: float | None, fee_pct: float | None, leverage: float | None, config: str | None,
                 sim: bool, fmt: str | None, timeout: float | None) -> int:
    """Seed 004's Monte Carlo of a basis trade: the distribution of the net P&L (USD) and return on capital over
    seeded paths of mean-reverting funding, and the probability of a loss. No network.

    \b
    Examples:
      dtrack carry simulate --avg-funding 0.03 --days 90
      dtrack carry simulate --avg-funding 0.01 --days 30 --vol 0.02 --half-life 0 --interval 1 --seed 42
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, (), lambda dt: dt.carry_simulate(avg_funding, days, vol=vol, half_life=half_life,
                                                          interval_hours=float(interval_hours), paths=paths,
                                                          seed=seed, notional=notional, fee_pct=fee_pct,
                                                          price_vol=price_vol, leverage=leverage))


@carry.command("backtest")
@click.option("--asset", required=True, metavar="ASSET", help="The asset: BTC, ETH, SOL ...")
@click.option("--perp-venue", "perp_venue", required=True, metavar="V", help="The venue whose funding is collected.")
@click.option("--days", type=float, default=180.0, show_default=True, metavar="DAYS", help="Look-back, days.")
@click.option("--perp", "perp", default=None, metavar="SYMBOL",
              help="The perpetual's venue symbol (default: the venue's main USD-stablecoin linear perpetual).")
@click.option("--notional", type=float, default=None, metavar="USD",
              help="Position notional at the start, USD (default: settings carry.notional_usd, 100000).")
@click.option("--fee-pct", "fee_pct", type=float, default=None, metavar="PCT", help=_FEE_HELP)
@click.option("--leverage", type=float, default=None, metavar="L", help=_LEVERAGE_HELP)
@common_options
@click.pass_context
def backtest_cmd(ctx: click.Context, asset: str, perp_venue: str, days: float, perp: str | None,
                 notional: float | None, fee_pct: float | None, leverage: float | None, config: str | None,
                 sim: bool, fmt: str | None, timeout: float | None) -> int:
    """A basis trade held over the perp venue's REAL settled funding history of the last DAYS: each settlement at its
    own interval on the price at its time, entry and exit fees; net, return on capital, annualized, funding by day.

    \b
    Examples:
      dtrack carry backtest --asset BTC --perp-venue bybit --days 180
      dtrack carry backtest --asset ETH --perp-venue hyperliquid --days 30 --format json
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, (), lambda dt: dt.carry_backtest(asset, perp_venue=perp_venue, days=days, perp=perp,
                                                          notional=notional, fee_pct=fee_pct, leverage=leverage),
                  preload=AFTER_FETCH)
