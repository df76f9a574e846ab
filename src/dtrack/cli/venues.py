"""``dtrack venues``: every venue dtrack knows, its status and its capability table."""

from __future__ import annotations

import click

from dtrack.cli.common import FORMATS, Options, render, wide_option


@click.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="table, json or csv.")
@click.option("--markdown", is_flag=True, help="The README venue table (Markdown), rendered from the registry.")
@wide_option
@click.pass_context
def venues(ctx: click.Context, fmt: str | None, markdown: bool) -> int:
    """List venues with their status (active, planned, degraded, halted, closed) and what dtrack reads from each:
    per data kind the REST endpoint, the stream, the history depth, whether it is sampled, and a note
    (JSON: the "data" table)."""
    from dtrack.client.queries.catalog import venue_rows

    if markdown:
        from dtrack.cli.common import emit
        from dtrack.report.venues import markdown_table

        emit(markdown_table(venue_rows()))
        return 0
    from dtrack.client.core import AsyncClient
    from dtrack.client.queries.catalog import venues as venues_query

    base: Options = ctx.find_object(Options) or Options()
    result = venues_query(AsyncClient(config=base.config))  # no I/O: the registry and the client's clock
    render(result, fmt or base.fmt)
    return result.exit_code
