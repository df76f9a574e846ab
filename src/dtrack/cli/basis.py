"""``dtrack basis``: perpetual premium and funding carry, dated-futures basis, term structure and carry trades."""

from __future__ import annotations

import click

from dtrack.analytics.screens import BASIS_SORTS
from dtrack.cli.common import answer, common_options, options

#: imported in the background while the venues answer
AFTER_FETCH = ("numpy", "dtrack.analytics.basis", "dtrack.report.basis")


@click.command()
@click.argument("assets", nargs=-1, metavar="[ASSET...]")
@click.option("--venue", "venues", multiple=True, metavar="V",
              help="Only these venues (repeatable). Default: every active venue.")
@click.option("--quarterly", is_flag=True, help="Only quarterly futures (last Friday of Mar/Jun/Sep/Dec).")
@click.option("--all", "scan_all", is_flag=True, help="Every asset that has dated futures (the default without ASSET).")
@click.option("--min-yield", type=float, default=None, metavar="PCT",
              help="List carry trades whose annualized yield net of fees is at least PCT percent.")
@click.option("--live", is_flag=True,
              help="Ask the venues even when the history store holds fresh snapshots (store.fresh_seconds).")
@click.option("--sort", type=click.Choice(BASIS_SORTS), default=None,
              help="One table across assets, ordered: annualized or basis (highest first), days (nearest expiry).")
@click.option("--limit", type=int, default=None, metavar="N", help="With --sort: the first N rows.")
@common_options
@click.pass_context
def basis(ctx: click.Context, assets: tuple[str, ...], venues: tuple[str, ...], quarterly: bool, scan_all: bool,
          min_yield: float | None, live: bool, sort: str | None, limit: int | None, config: str | None, sim: bool,
          fmt: str | None, timeout: float | None) -> int:
    """Basis and term structure of ASSET... (default: every asset with dated futures).

    Perpetuals: mark - index and mark - spot premium, and the funding carry (APR from the
    rate and its own interval). Dated futures: days to expiry, basis against spot (fraction and
    USD), annualized basis = basis x 365 / days, contango / backwardation per venue and asset, and
    constant-maturity basis at 30, 90 and 180 days (interpolated, never extrapolated). Spot is each
    venue's own spot ticker where it has one, else the median of Binance, OKX and Bybit spot.

    \b
    Examples:
      dtrack basis BTC ETH --sim
      dtrack basis --all --min-yield 5
      dtrack basis BTC --quarterly --format json
      dtrack basis --all --sort annualized --limit 20
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, venues, lambda dt: dt.basis(assets, quarterly=quarterly, all=scan_all, min_yield=min_yield,
                                                    live=live, sort=sort, limit=limit), preload=AFTER_FETCH)
