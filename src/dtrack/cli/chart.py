"""``dtrack chart``: one client call, its result drawn to PNG or SVG (``dtrack.charts``; matplotlib is the optional
extra ``dtrack[charts]``, imported only here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dtrack.cli.common import options, report_failures

if TYPE_CHECKING:
    from dtrack.charts import Chart
    from dtrack.results import Result

KINDS = ("funding", "oi", "basis", "term", "smile", "liquidations")


@click.command()
@click.argument("kind", type=click.Choice(KINDS), metavar="funding|oi|basis|term|smile|liquidations")
@click.argument("assets", nargs=-1, required=True, metavar="ASSET...")
@click.option("-o", "--output", "output", required=True, metavar="FILE.png|FILE.svg",
              help="Where to write the chart; the suffix picks the format (.png or .svg).")
@click.option("--history", default="7d", show_default=True, metavar="DURATION",
              help="funding and oi: how far back (24h, 7d, 30d; oi at most 30d).")
@click.option("--expiry", default=None, metavar="WHEN",
              help="smile: the expiries drawn: an ISO date, next, friday, month or all (default: next).")
@click.option("--venue", "venues", multiple=True, metavar="V", help="Only these venues (repeatable).")
@click.option("--sim", is_flag=True, default=False, help="Run against dtrack's built-in simulated venues.")
@click.option("--config", "config", type=click.Path(dir_okay=False, readable=False), default=None,
              help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")
@click.option("--timeout", "timeout", type=click.FloatRange(min=0.001), default=None, metavar="SECONDS",
              help="Overall deadline of the query (default: settings http.deadline).")
@click.pass_context
def chart(ctx: click.Context, kind: str, assets: tuple[str, ...], output: str, history: str, expiry: str | None,
          venues: tuple[str, ...], sim: bool, config: str | None, timeout: float | None) -> int:
    """Draw KIND for ASSET... into FILE.png or FILE.svg: funding (settled funding per venue, 8h-equivalent,
    over --history), oi (open interest per venue in coins, and price), basis (annualized basis by days to
    expiry), term (ATM IV by days to expiry), smile (IV by strike per expiry) or liquidations (the ESTIMATED
    liquidation map, labelled as an estimate). One panel per asset.

    Needs matplotlib: pip install 'dtrack[charts]' (without it: one line, exit 2).

    \b
    Examples:
      dtrack chart funding BTC ETH --sim --history 7d -o funding.png
      dtrack chart term BTC --sim -o term.svg
      dtrack chart smile ETH --expiry month -o smile.png
    """
    from dtrack import charts
    from dtrack.client import Client

    if expiry is not None and kind != "smile":
        from dtrack.errors import UsageError

        raise UsageError(f"--expiry picks the expiries of a smile chart, not of {kind}: drop it")
    charts.output_format(output)  # a bad file name, or no matplotlib: one line now, before any request
    charts.require_matplotlib()
    opts = options(ctx, config, sim, None, timeout)
    result: Result
    drawn: Chart
    with Client(sim=opts.sim, seed=opts.seed, config=opts.config, venues=venues, timeout=opts.timeout,
                store=opts.store) as dt:
        if kind == "funding":
            funding = dt.funding(assets, history=history)
            result, drawn = funding, charts.funding_chart(funding, funding.report.history_window)
        elif kind == "oi":
            oi = dt.open_interest(assets, divergence=True, window=history)
            result, drawn = oi, charts.oi_chart(oi)
        elif kind == "basis":
            basis = dt.basis(assets)
            result, drawn = basis, charts.basis_chart(basis)
        elif kind == "term":
            term = dt.options(assets, expiry="all")
            result, drawn = term, charts.term_chart(term)
        elif kind == "smile":
            smile = dt.options(assets, expiry=expiry or "next", chain=True)
            result, drawn = smile, charts.smile_chart(smile)
        else:
            liq_map = dt.liquidation_map(assets)
            result, drawn = liq_map, charts.liquidation_map_chart(liq_map)
    report_failures(result.failures)
    if result.all_failed:
        click.echo(f"dtrack: error: {result.empty_line()}; no chart written", err=True)
        return result.exit_code
    written = charts.render(drawn, output)
    click.echo(f"dtrack: chart written to {written}", err=True)
    return result.exit_code
