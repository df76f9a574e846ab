"""``dtrack liquidations``: liquidations by the side of the position liquidated, per venue and in total, with each
venue's coverage, from the history store and/or a live listen; ``--recent``: the latest large ones."""

from __future__ import annotations

import click

from dtrack.cli.common import common_options, options
from dtrack.cli.watch import run, watch_options
from dtrack.errors import UsageError

#: imported in the background while the venues answer (a listen)
AFTER_FETCH = ("numpy", "dtrack.analytics.liquidations", "dtrack.report.liquidations")
MAP_AFTER_FETCH = ("numpy", "dtrack.analytics.liquidation_map", "dtrack.report.liquidation_map")


@click.command()
@click.argument("assets", nargs=-1, required=True, metavar="ASSET...")
@click.option("--recent", is_flag=True, help="The latest events of at least --min-size, newest first.")
@click.option("--min-size", "min_size", default=None, metavar="USD",
              help="Smallest event --recent lists, in USD: 1000000, $1M, 250k (implies --recent; default: settings "
                   "liquidations.min_size_usd, 1000000).")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --recent: at most N events (default: settings liquidations.recent_limit, 20).")
@click.option("--since", default="24h", show_default=True, metavar="DURATION",
              help="The longest window (1h..365d): the totals cover 1h, 4h, 12h and 24h up to it, and it.")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: every active venue.")
@click.option("--listen", "listen", default=None, metavar="DURATION",
              help="Also listen to the venues' liquidation streams for this long (20s, 2m, 1h; no store needed); "
                   "merged with the store's events by key.")
@click.option("--map", "show_map", is_flag=True,
              help="Show the ESTIMATED liquidation map (heatmap) instead: where positions opened in the last 30 days "
                   "would be liquidated, in price bins around the current price (longs below, shorts above), with "
                   "estimated USD, distance, density labels and cascade risk. An estimate from open-interest history "
                   "and klines, not observed liquidations; from the store when it holds 30 days, else the venues.")
@click.option("--range", "range_pct", type=click.FloatRange(min=0.5, max=90), default=None, metavar="PCT",
              help="With --map: the bins span +/-PCT % of the current price (default: settings "
                   "liquidation_map.range_pct, 10).")
@click.option("--bins", type=click.IntRange(min=2, max=1000), default=None, metavar="N",
              help="With --map: the number of price bins, even: half below the price, half above (default 50).")
@click.option("--score", "score", default=None, metavar="DURATION",
              help="Score the estimated maps the collector stored over the last DURATION (7d, or an ISO time) "
                   "against the liquidations recorded in the 24 h after each, over the bins price reached: rank "
                   "correlation and top-5 share of realized USD, beside a naive baseline (a leverage ladder "
                   "opened at the price of each map: distance only). Store only.")
@watch_options
@common_options
@click.pass_context
def liquidations(ctx: click.Context, assets: tuple[str, ...], recent: bool, min_size: str | None, limit: int | None,
                 since: str, venues: tuple[str, ...], listen: str | None, show_map: bool, range_pct: float | None,
                 bins: int | None, score: str | None, watch: str | None, refreshes: int | None,
                 config: str | None, sim: bool, fmt: str | None, timeout: float | None) -> int:
    """Liquidations of ASSET... (BTC, ETH, or a ccxt / venue symbol for just those contracts), by the side of
    the POSITION liquidated: longs and shorts per venue and in total over 1h, 4h, 12h and 24h, the long/short
    ratio and event counts.

    Events come from the history store (`dtrack collect` records them) and, with --listen, from the venues'
    streams heard live; both are merged by event key, never counted twice. With --sim and nothing stored, the
    simulated venues are listened to for a short while (settings liquidations.listen_seconds; said on stderr).

    \b
    Every figure says how complete it is:
      complete    every liquidation (Bybit allLiquidation)
      sampled     at most one per symbol / contract per second (Binance forceOrder, OKX
                  liquidation-orders): the total is a LOWER BOUND (marked >=)
      trade-flag  liquidation fills flagged on the public trade feed (Deribit M/T/MT)
      not covered no public feed (Hyperliquid), with the reason
    and how much of each window the data covers (a 24h total from 2h of data says 2h).

    \b
    Examples:
      dtrack liquidations BTC --sim
      dtrack liquidations BTC ETH --since 12h --format json
      dtrack liquidations BTC --recent --min-size 250k --limit 50
      dtrack liquidations SOL --listen 60s --venue bybit --venue okx
      dtrack liquidations BTC --map --range 15 --bins 60 --sim
      dtrack liquidations BTC --score 7d
    """
    opts = options(ctx, config, sim, fmt, timeout)
    if (range_pct is not None or bins is not None) and not show_map:
        raise UsageError("--range and --bins go with --map")
    if show_map and score is not None:
        raise UsageError("choose one of --map and --score")
    if (show_map or score is not None) and (recent or min_size is not None or listen is not None):
        raise UsageError("--recent, --min-size and --listen read events; --map and --score do not take them")
    if show_map:
        return run(opts, venues, lambda dt: dt.liquidation_map(assets, range_pct=range_pct, bins=bins), watch,
                   refreshes, preload=MAP_AFTER_FETCH)
    if score is not None:
        return run(opts, venues, lambda dt: dt.liquidation_score(assets, since=score), watch, refreshes)
    quiet = bool(ctx.find_root().params.get("quiet"))

    def say(line: str) -> None:
        if not quiet:
            click.echo(f"dtrack: {line}", err=True)

    return run(opts, venues, lambda dt: dt.liquidations(assets, since=since, recent=recent, min_size=min_size,
                                                        listen=listen, limit=limit, progress=say),
               watch, refreshes, preload=AFTER_FETCH)
