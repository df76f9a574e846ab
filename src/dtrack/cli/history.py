"""``dtrack history``: what the history store holds, read from the store only (no network)."""

from __future__ import annotations

import click

from dtrack.cli.common import FORMATS, answer, options, wide_option

#: the kinds of ``dtrack.client.history`` (spelled out here: ``--help`` imports no client code)
KINDS = ("funding", "oi", "klines", "snapshots", "options", "liquidations", "gaps")


@click.command()
@click.argument("kind", type=click.Choice(KINDS), metavar="funding|oi|klines|snapshots|options|liquidations|gaps")
@click.argument("assets", nargs=-1, metavar="ASSET...")
@click.option("--since", default="24h", show_default=True, metavar="WHEN",
              help="From: a duration ago (24h, 7d, 2w) or an ISO-8601 time (2026-11-01, 2026-11-01T08:00Z).")
@click.option("--until", default=None, metavar="WHEN", help="Until (exclusive), the same way; default: now.")
@click.option("--venue", "venues", multiple=True, metavar="V", help="Only these venues (repeatable).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output: table (a line per series, default), json (one object) or csv (every row, time first).")
@click.option("--config", "config", type=click.Path(dir_okay=False, readable=False), default=None,
              help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")
@wide_option
@click.pass_context
def history(ctx: click.Context, kind: str, assets: tuple[str, ...], since: str, until: str | None,
            venues: tuple[str, ...], fmt: str | None, config: str | None) -> int:
    """The stored series of ASSET... from the history store (--store / $DTRACK_STORE / store.url), without
    the network: funding (settled funding), oi (open-interest history), klines (kline closes, highs and lows), snapshots
    (the stored funding, open-interest and price snapshots), options (the stored per-expiry option metrics:
    forward, ATM IV, 25-delta RR and fly, put/call ratios, max pain, OI; venue "all": across venues),
    liquidations (the liquidation events collectors recorded) or gaps (what collectors did not see, with the
    collector run that had each; ASSET... optional).

    Assets are read as everywhere (BTC, BTC/USDT:USDT, BTCUSDT) and resolved through the store's
    instruments table. Rows are oldest first; CSV has the time first, for pandas:
    pd.read_csv(f, parse_dates=["time"]). Nothing stored yet: one line saying what to run, exit 1.

    \b
    Examples:
      dtrack history funding BTC --since 30d
      dtrack history oi ETH --since 2026-11-01 --until 2026-11-08 --format csv > eth_oi.csv
      dtrack history snapshots BTCUSDT --venue binance --format json
      dtrack history options BTC --since 7d --venue deribit --format csv
      dtrack history gaps --since 7d
    """
    opts = options(ctx, config, False, fmt)
    return answer(opts, venues, lambda dt: dt.history(kind, assets, since=since, until=until))
