"""The ``dtrack`` command: global options, sub-commands, and errors -> one line + exit code."""

from __future__ import annotations

import importlib
import logging
import re
import sys
from typing import Any

import click

from dtrack import __version__
from dtrack.cli.common import EXIT_ERROR, EXIT_USAGE, Options, wide_option
from dtrack.errors import ConfigError, DtrackError, SymbolNotFound, UsageError, clip

log = logging.getLogger("dtrack")

#: the sub-commands, in the order ``--help`` lists them: name -> "module:attribute" (imported when used, so that
#: one command does not pay for importing the others)
COMMANDS = {
    "funding": "dtrack.cli.funding:funding",
    "oi": "dtrack.cli.oi:oi",
    "basis": "dtrack.cli.basis:basis",
    "options": "dtrack.cli.options:options_cmd",
    "liquidations": "dtrack.cli.liquidations:liquidations",
    "dashboard": "dtrack.cli.dashboard:dashboard",
    "venues": "dtrack.cli.venues:venues",
    "sim": "dtrack.cli.sim:sim",
    "schema": "dtrack.cli.schema:schema",
    "store": "dtrack.cli.store:store",
    "collect": "dtrack.cli.collect:collect",
    "backfill": "dtrack.cli.backfill:backfill",
    "history": "dtrack.cli.history:history",
    "alerts": "dtrack.cli.alerts:alerts",
    "chart": "dtrack.cli.chart:chart",
    "book": "dtrack.cli.book:book",
    "execsim": "dtrack.cli.execsim:execsim",
    "liqprice": "dtrack.cli.liqprice:liqprice",
    "vol": "dtrack.cli.vol:vol",
    "carry": "dtrack.cli.carry:carry",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use (``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="dtrack")
@click.option("--config", type=click.Path(dir_okay=False, readable=False), default=None,
              help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")
@click.option("--sim", is_flag=True, help="Run every command against the built-in simulated venues.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulated market (with --sim).")
@click.option("--store", "store", metavar="URL", default=None,
              help="History store: a SQLite file, sqlite:///path or postgresql://user@host/db "
                   "(else $DTRACK_STORE, else settings store.url, else the user data dir).")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv: debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@wide_option
@click.pass_context
def cli(ctx: click.Context, config: str | None, sim: bool, seed: int, store: str | None, verbose: int,
        quiet: bool) -> None:
    """dtrack: free, self-hosted, keyless tracker of the crypto-derivatives market.

    Funding, open interest, basis and term structure across Binance, Bybit, OKX, Deribit,
    Hyperliquid, dYdX and GMX, and options analytics on Deribit, OKX, Bybit and Binance, correct to
    the unit; liquidations from Binance, Bybit, OKX and Deribit by the side of the position
    liquidated, with an ESTIMATED liquidation map; a dashboard, alerts and charts. `collect` keeps
    a history store filled (snapshots, live streams, backfill); `history` and `backfill` read and
    fill it.
    --sim (offline simulated venues) and --config FILE work here or after the data command;
    --format table|json|csv follows the command. Tables fit $COLUMNS (else the terminal; 200 in a
    pipe), dropping their least important columns first; --wide shows them all.
    Exit codes: 0 ok, 1 error, 2 bad input, 3 partial (some venues failed; see stderr);
    `alerts check`: 10 alerts fired, 11 fired and a sink failed.
    """
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="dtrack: %(levelname)s %(name)s: %(message)s")
    ctx.obj = Options(config=config, sim=sim, seed=seed, store=store)




#: a quoted run without spaces this long is echoed user input (an asset, an option value): clipped
_LONG_QUOTED = re.compile(r"'([^'\s]{100,})'|\"([^\"\s]{100,})\"")
MAX_LINE = 500


def _one_line(text: str) -> str:
    """An error message as one short line: newlines folded, long echoed input and the whole line clipped."""
    text = " ".join(text.split())
    text = _LONG_QUOTED.sub(lambda m: repr(clip(m.group(1) or m.group(2))), text)
    return clip(text, MAX_LINE)


def _usage_line(exc: click.UsageError) -> str:
    """click's usage error (three lines: Usage / Try / Error) as one: what was wrong, and where to look."""
    message = exc.format_message().strip().rstrip(".")
    if exc.ctx is None:  # raised by click's parser, which does not know the command
        return message
    return f"{message} (see '{exc.ctx.command_path} --help')"


def _echo_error(prefix: str, message: str) -> None:
    click.echo(f"dtrack: {prefix}: {_one_line(message)}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turn every failure into one line on stderr and an exit code."""
    verbose = any(a in ("-v", "-vv", "--verbose") for a in (argv or sys.argv[1:]))
    no_args_help = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2: `dtrack` alone
    try:
        code: Any = cli.main(args=argv, prog_name="dtrack", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except no_args_help as exc:  # the help itself, not an error line
        exc.show()
        code = exc.exit_code
    except click.UsageError as exc:  # unknown option or command, missing argument, bad choice ...
        _echo_error("error", _usage_line(exc))
        code = EXIT_USAGE
    except click.ClickException as exc:
        _echo_error("error", exc.format_message())
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("dtrack: aborted", err=True)
        code = 130
    except (UsageError, SymbolNotFound) as exc:
        _echo_error("error", str(exc))
        code = EXIT_USAGE
    except ConfigError as exc:
        _echo_error("config error", str(exc))
        code = EXIT_ERROR
    except DtrackError as exc:
        _echo_error("error", str(exc))
        code = EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("dtrack: interrupted", err=True)
        code = 130
    except Exception as exc:
        if verbose:
            log.exception("internal error")
        _echo_error("internal error", f"{type(exc).__name__}: {exc} (run with -v for the trace)")
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else 0)
