"""``dtrack vol``: realized volatility (five estimators), regime, rolling series, transitions and adaptive leverage,
beside DVOL and the 30-day ATM implied volatility."""

from __future__ import annotations

import click

from dtrack.cli.common import answer, common_options, options

#: imported in the background while the venues answer
AFTER_FETCH = ("numpy", "dtrack.analytics.volatility", "dtrack.analytics.options_desk", "dtrack.report.vol")


@click.command()
@click.argument("assets", nargs=-1, required=True, metavar="ASSET...")
@click.option("--venue", default=None, metavar="V",
              help="Read the klines of this venue. Default: the first venue (registry order) serving candles of the "
                   "asset's main perpetual; the output says which.")
@click.option("--window", default="30d", show_default=True, metavar="DURATION",
              help="The estimate's window (30d, 2w; 72h with --bars 1h): a whole number of bars, at least 3.")
@click.option("--bars", default="1d", show_default=True, metavar="1d|1h", help="Bar length: 1d or 1h.")
@click.option("--method", "methods", default=None, metavar="LIST",
              help="Estimators, comma-separated, the first driving the regime: cc (close-to-close), parkinson, gk "
                   "(Garman-Klass), rs (Rogers-Satchell), yz (Yang-Zhang). Default: cc,parkinson,gk,rs,yz.")
@click.option("--no-iv", "no_iv", is_flag=True, help="Skip the implied volatility (DVOL, ATM IV) and the spread.")
@common_options
@click.pass_context
def vol(ctx: click.Context, assets: tuple[str, ...], venue: str | None, window: str, bars: str, methods: str | None,
        no_iv: bool, config: str | None, sim: bool, fmt: str | None, timeout: float | None) -> int:
    """Realized volatility of ASSET... and its regime.

    From one perpetual's klines: close-to-close, Parkinson, Garman-Klass, Rogers-Satchell and
    Yang-Zhang volatility over the window, annualized with 365 days (8,760 hourly bars); the
    regime (settings vol: low up to 40 %, medium up to 80 %, high up to 150 %, extreme above),
    the rolling series over vol.rolling_days and its regime transitions, the adaptive leverage
    (vol.target_pct / realized, capped at the regime's vol.max_leverage_*) and the regimes'
    parameters. Beside them Deribit DVOL (BTC, ETH) and the 30-day ATM IV from the options
    venues, and the IV - RV spread; "not available" with the reason where an asset has none.

    \b
    Examples:
      dtrack vol BTC ETH --sim
      dtrack vol BTC --bars 1h --window 7d --method yz,cc
      dtrack vol SOL --venue bybit --format json
      dtrack vol BTC --window 90d --no-iv --format csv
    """
    opts = options(ctx, config, sim, fmt, timeout)
    return answer(opts, (), lambda dt: dt.vol(assets, venue=venue, window=window, bars=bars, methods=methods,
                                              implied=not no_iv), preload=AFTER_FETCH)
