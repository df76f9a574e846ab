"""``dtrack schema COMMAND``: the JSON Schema of a command's ``--format json`` document."""

from __future__ import annotations

import click

from dtrack.cli.common import emit


@click.command()
@click.argument("command", type=click.Choice(["funding", "oi", "basis", "options", "venues", "instruments", "history",
                                              "backfill", "liquidations", "dashboard", "alerts"]))
def schema(command: str) -> int:
    """Print the JSON Schema (draft 2020-12) of COMMAND's JSON document, as shipped in the package.

    \b
    Example:
      dtrack schema funding > funding.schema.json
    """
    from dtrack.schemas import schema_text

    emit(schema_text(command))
    return 0
