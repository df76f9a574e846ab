"""``dtrack store info`` and ``dtrack store prune``: what the history store holds, and retention.

The store is ``--store URL`` (a global option), else ``$DTRACK_STORE``, else settings ``store.url``, else the
SQLite file in the user data dir. A bad URL or an unreachable server is one line on stderr and exit 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from dtrack.cli.common import Options, emit, print_view, wide_option

if TYPE_CHECKING:
    from dtrack.config import Settings
    from dtrack.store import Store

STORE_FORMATS = ("table", "json")


def _open(ctx: click.Context, config: str | None) -> tuple[Store, Settings]:
    from dtrack.config import load_settings
    from dtrack.store import open_store

    base: Options = ctx.find_object(Options) or Options()
    settings = load_settings(config or base.config)
    return open_store(base.store or settings.store.url), settings


@click.group()
def store() -> None:
    """The local history store (SQLite by default; PostgreSQL with --store postgresql://…)."""


@store.command("info")
@click.option("--format", "fmt", type=click.Choice(STORE_FORMATS), default=None, help="table (default) or json.")
@wide_option
@click.option("--config", "config", type=click.Path(dir_okay=False, readable=False), default=None,
              help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")
@click.pass_context
def info(ctx: click.Context, fmt: str | None, config: str | None) -> int:
    """Per table: rows, time range, size (where the engine can say) and retention; and the gaps recorded."""
    opened, settings = _open(ctx, config)
    with opened as st:
        summary = st.info(settings.store.retention.days())
    base: Options = ctx.find_object(Options) or Options()
    if (fmt or base.fmt) == "json":
        emit(json.dumps(summary.to_dict(), indent=2))
        return 0
    from dtrack.report.format import as_of
    from dtrack.report.table import Column, Table, Text, View

    table = Table(f"dtrack store: {summary.engine} {summary.location} (schema v{summary.schema_version}, "
                  f"{_size(summary.size_bytes)})", [
                      Column("table"), Column("rows", "right"), Column("first", priority=2), Column("last", priority=1),
                      Column("size", "right", 3), Column("kept", "right", 4)])
    for t in summary.tables:
        kept = "forever" if t.retention_days is None else f"{t.retention_days:g} d"
        table.add_row(t.name, f"{t.rows:,}", _time(t.first), _time(t.last), _size(t.size_bytes), kept)
    table.note(f"gaps: {summary.gaps} recorded, {summary.open_gaps} still open")
    for g in summary.gap_streams:
        table.note(f"  {g['venue']} {g['stream']}: {g['gaps']} (last from {g['last_start']})")
    print_view(View(Text(as_of(datetime.now(UTC), 0.0), style="dim"), table))
    return 0


@store.command("prune")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--format", "fmt", type=click.Choice(STORE_FORMATS), default=None, help="table (default) or json.")
@click.option("--config", "config", type=click.Path(dir_okay=False, readable=False), default=None,
              help="settings.yaml to use (else $DTRACK_CONFIG, else the user config dir).")
@click.pass_context
def prune(ctx: click.Context, dry_run: bool, fmt: str | None, config: str | None) -> int:
    """Delete rows older than each table's retention (settings store.retention; snapshots 90 days,
    history forever by default)."""
    opened, settings = _open(ctx, config)
    retention = settings.store.retention.days()
    now = datetime.now(UTC)
    with opened as st:
        removed = st.prune(now, retention, dry_run=dry_run)
    base: Options = ctx.find_object(Options) or Options()
    if (fmt or base.fmt) == "json":
        doc: dict[str, Any] = {"schema_version": 1, "now": now.isoformat().replace("+00:00", "Z"),
                               "dry_run": dry_run, "retention_days": retention, "removed": removed}
        emit(json.dumps(doc, indent=2))
        return 0
    verb = "would delete" if dry_run else "deleted"
    for name, days in retention.items():
        if days is not None:
            emit(f"{name}: {verb} {removed.get(name, 0):,} rows older than {days:g} days")
    kept = [name for name, days in retention.items() if days is None]
    if kept:
        emit(f"kept forever: {', '.join(kept)}")
    return 0


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _size(value: int | None) -> str:
    if value is None:
        return "?"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover
