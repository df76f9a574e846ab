"""``dtrack execsim``: an order simulated on a venue's real order book — a market order walked level by level, and
TWAP / VWAP / iceberg over time on seeded price paths — with the saving against the market order."""

from __future__ import annotations

import click

from dtrack.cli.common import answer, common_options, options

#: imported in the background while the venues answer
AFTER_FETCH = ("numpy", "dtrack.analytics.execution", "dtrack.report.execsim")


@click.command()
@click.argument("asset", metavar="ASSET")
@click.option("--side", type=click.Choice(("buy", "sell")), required=True,
              help="buy (takes the asks) or sell (the bids).")
@click.option("--size", required=True, metavar="N",
              help="Order size: coins of the asset (10, 2.5, 1k) or USD with a $ or 'usd' ($250k, 250000usd, $1.5M; "
                   "converted at the arrival mid).")
@click.option("--venue", default=None, metavar="V",
              help="Simulate on this venue's book. Default: the venue whose book of the asset's main perpetual holds "
                   "the most USD within 1 % of the mid on the order's side (the output says which and why).")
@click.option("--algo", "algos", default="market,twap,vwap,iceberg", show_default=True, metavar="LIST",
              help="Algorithms, comma-separated: market, twap, vwap, iceberg (the market order always runs: it is "
                   "the reference of the saving).")
@click.option("--over", default=None, metavar="DURATION",
              help="Execution window of twap/vwap/iceberg: 6h, 90m, 1d (default: settings execsim.over_hours, 6h).")
@click.option("--slices", type=int, default=None, metavar="N",
              help="Child orders (twap/vwap) or iceberg clips of size/N (default: settings execsim.slices, 24).")
@click.option("--paths", type=int, default=None, metavar="N",
              help="Simulated price paths (default: settings execsim.paths, 1000).")
@click.option("--seed", "path_seed", type=int, default=1, show_default=True, metavar="S",
              help="Seed of the price paths (same seed, same statistics). Not the simulated market's seed, which "
                   "goes before the command: dtrack --sim --seed 7 execsim ...")
@common_options
@click.pass_context
def execsim(ctx: click.Context, asset: str, side: str, size: str, venue: str | None, algos: str, over: str | None,
            slices: int | None, paths: int | None, path_seed: int, config: str | None, sim: bool, fmt: str | None,
            timeout: float | None) -> int:
    """Simulate an order of ASSET (BTC, or a venue symbol like BTCUSDT) on a venue's real order book.

    The market order walks the book level by level: average and worst price, slippage against the mid (= the
    arrival mid), levels consumed, cost in USD, and whether the book was deep enough ("book truncated": the
    venue's answer ended before the order did, the rest is unknown; "side exhausted": the venue's whole side was
    smaller). TWAP, VWAP and an iceberg run over --over in --slices children: each child walks the current book,
    which refills at the pace of the venue's 24 h volume; the mid follows the asset's realized volatility (the
    venue's hourly candles) and moves by the square-root impact law, its coefficient fitted on the book; VWAP
    follows the venue's real volume by hour of day. The table compares them (seed 004): average price, slippage,
    cost, time, fills, each with its 5-95 % range over the paths, and the saving against the market order. Every
    parameter, its unit and source, is printed (all of them in --format json). Fees are not included.

    \b
    Examples:
      dtrack execsim BTC --side buy --size 100 --sim
      dtrack execsim ETH --side sell --size '$2.5M' --over 4h --slices 16 --sim
      dtrack execsim BTC --side buy --size 50 --venue bybit --algo market,twap --paths 5000 --seed 7
      dtrack execsim SOL --side buy --size 20000 --format json
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, (), lambda dt: dt.execsim(asset, side=side, size=size, venue=venue, algos=algos, over=over,
                                                  slices=slices, paths=paths, seed=path_seed), preload=AFTER_FETCH)
