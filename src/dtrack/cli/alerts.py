"""``dtrack alerts``: check the alert rules once (for cron), send a sink a test message, list rules and sinks.

Exit codes of ``alerts check``: 0 nothing fired, 10 something fired (and every sink took it), 11 something fired
and a sink could not be reached (one line each on stderr, secrets masked); 1 error, 2 bad input, 3 nothing fired
and some venues failed.
"""

from __future__ import annotations

import click

from dtrack.cli.common import FORMATS, common_options, emit, options, print_view, render, report_failures

#: imported in the background while the venues answer
AFTER_FETCH = ("dtrack.analytics.funding", "dtrack.analytics.open_interest", "dtrack.alerts.render")


@click.group()
def alerts() -> None:
    """Alert rules (settings alerts:) checked on the venues' data and sent to sinks: console, a JSON-lines
    file, a webhook, Discord, Slack, Telegram. `dtrack collect` checks them continuously; `alerts check`
    once, for cron."""


def _console(line: str) -> None:
    click.echo(line, err=True)


@alerts.command()
@click.argument("assets", nargs=-1, metavar="[ASSET...]")
@click.option("--rule", "rules", multiple=True, metavar="NAME",
              help="Only this rule (repeatable; a disabled rule too). Default: every enabled rule.")
@click.option("--dry-run", is_flag=True, help="Evaluate and show what would fire: nothing sent, no cooldown started.")
@common_options
@click.pass_context
def check(ctx: click.Context, assets: tuple[str, ...], rules: tuple[str, ...], dry_run: bool, config: str | None,
          sim: bool, fmt: str | None, timeout: float | None) -> int:
    """Check the alert rules once on ASSET... (default: settings alerts.assets, else collect.assets) and send
    what fires to the rules' sinks; an alert its cooldown holds (same rule, asset and contract sent within
    the cooldown, kept in the state dir across runs) is listed, not sent. Prints what fired.

    \b
    Exit codes (for cron):
      0   nothing fired
      10  something fired, and every sink took it
      11  something fired, and a sink could not be reached (stderr says which; secrets masked)
      1   error (no data at all, a bad settings file)   2  bad input
      3   nothing fired, and some venues failed (stderr)

    \b
    Examples:
      dtrack alerts check --sim
      dtrack alerts check BTC ETH --rule funding_extreme --dry-run
      */15 * * * *  dtrack -q alerts check --format json >> /var/log/dtrack-alerts.json
    """
    from dtrack.client import Client

    opts = options(ctx, config, sim, fmt, timeout)
    with Client(sim=opts.sim, seed=opts.seed, config=opts.config, timeout=opts.timeout, store=opts.store) as dt:
        result = dt.alerts_check(list(assets) or None, rules=list(rules) or None, send=not dry_run,
                                 console=_console)
    if result.all_failed and opts.fmt == "table":
        report_failures(result.failures)
        click.echo(f"dtrack: error: {result.empty_line()}", err=True)
        return result.exit_code
    render(result, opts.fmt)
    report_failures(result.failures)
    for d in result.deliveries:
        if not d.ok:
            click.echo(f"dtrack: alert sink {d.sink} ({d.type}, {d.target}) failed: {d.error}", err=True)
    if opts.fmt != "table":
        for note in result.notes:
            click.echo(f"dtrack: note: {note}", err=True)
    return result.exit_code


@alerts.command()
@click.argument("sink", metavar="SINK")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default=None,
              help="Output: table (one line, default) or json.")
@click.option("--config", "config", type=click.Path(dir_okay=False, readable=False), default=None,
              help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")
@click.pass_context
def test(ctx: click.Context, sink: str, fmt: str | None, config: str | None) -> int:
    """Send the alert sink SINK (a name under settings alerts.sinks, or console) a test message. Exit 0 when
    it went, 1 when it did not (the reason on stderr, secrets masked).

    \b
    Examples:
      dtrack alerts test discord
      DTRACK_SLACK_WEBHOOK=https://hooks.slack.com/services/... dtrack alerts test slack
    """
    from dtrack.client import Client

    opts = options(ctx, config, False, fmt)
    with Client(config=opts.config) as dt:
        result = dt.alerts_test(sink, console=_console)
    if opts.fmt == "json":
        emit(result.to_json())
    else:
        from dtrack.alerts.render import render_table

        print_view(render_table(result))
    for d in result.deliveries:
        if not d.ok:
            click.echo(f"dtrack: alert sink {d.sink} ({d.type}, {d.target}) failed: {d.error}", err=True)
    return result.exit_code


@alerts.command(name="list")
@click.option("--format", "fmt", type=click.Choice(FORMATS[:2]), default=None,
              help="Output: table (default) or json.")
@click.option("--config", "config", type=click.Path(dir_okay=False, readable=False), default=None,
              help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")
@click.pass_context
def list_rules(ctx: click.Context, fmt: str | None, config: str | None) -> int:
    """The alert rules in force (the seeds' defaults and settings alerts.rules, enabled or not) and the sinks
    (targets masked: a secret from the environment shows as its variable's name). No network."""
    import json

    from dtrack.alerts.render import listing, listing_view
    from dtrack.client import Client

    opts = options(ctx, config, False, fmt)
    with Client(config=opts.config) as dt:
        doc = listing(dt.settings.alerts, dt.settings.state_dir)
    if opts.fmt == "json":
        emit(json.dumps({"schema_version": 1, "command": "alerts list", **doc}, indent=2))
    else:
        print_view(listing_view(doc))
    return 0
