"""Renders what the history store holds (``dtrack history``) and what a backfill wrote (``dtrack backfill``):
JSON (one object), CSV (rows with ``time`` first: ``pandas.read_csv(..., parse_dates=["time"])``) and terminal
tables (``report.table``: a line per series; every row is in JSON and CSV)."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dtrack.report.format import iso, pct, price, usd
from dtrack.report.table import Column, Table, Text, View
from dtrack.store.schema import TABLES

if TYPE_CHECKING:
    from dtrack.results import BackfillResult, HistoryResult

#: what the rows of each kind hold, in JSON units
UNITS: dict[str, dict[str, str]] = {
    "funding": {"rate": "fraction per interval_hours (settled)", "rate_8h": "fraction per 8 h", "apr": "fraction per "
                "year, simple", "times": "ISO-8601 UTC, milliseconds"},
    "oi": {"oi_base": "units of the asset, one side", "oi_usd": "USD", "times": "ISO-8601 UTC, milliseconds"},
    "klines": {"close": "USD per one unit of the asset (the kline's close, timed at its close)",
               "high/low": "the kline's high and low, USD per one unit of the asset (null in rows stored before "
                           "store schema 8)",
               "times": "ISO-8601 UTC, milliseconds"},
    "snapshots": {"rate": "fraction per interval_hours", "prices": "USD per one unit of the asset",
                  "oi_amount": "oi_unit (the venue's figure)", "oi_base": "units of the asset", "money": "USD",
                  "times": "ISO-8601 UTC, milliseconds; time is the venue's (null when it sends none), "
                                "received_at dtrack's"},
    "options": {"iv": "atm_iv, rr25, bf25: fraction per year (0.55 = 55 %)", "forward": "USD",
                "max_pain": "strike, USD", "oi": "oi_contracts: the venue's contracts (null across venues); "
                "oi_coins, call_oi, put_oi, call_volume, put_volume: units of the asset", "money": "USD",
                "venue": "'all': the cross-venue aggregate of the expiry",
                "times": "ISO-8601 UTC, milliseconds; time is the venue's (the latest quote of the expiry), "
                         "received_at dtrack's (when it computed the metrics; time when the venue sends none); "
                         "days to expiry at received_at"},
    "liquidations": {"side": "the side of the POSITION liquidated (long / short)", "price": "USD per one unit of "
                     "the asset, of price_kind (order, average, bankruptcy, trade)", "amount": "the venue's quantity, "
                     "in unit", "base": "units of the asset", "usd": "USD", "coverage": "complete, sampled (a lower "
                     "bound) or trade-flag", "times": "ISO-8601 UTC, milliseconds; time is the venue's"},
    "gaps": {"time": "start of the gap", "end_time": "end (null: still open)", "duration_seconds": "seconds",
             "times": "ISO-8601 UTC, milliseconds"},
}
#: the columns of each kind's rows, in order (``time`` first)
HISTORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "funding": ("time", "venue", "symbol", "asset", "rate", "interval_hours", "rate_8h", "apr", "received_at"),
    "oi": ("time", "venue", "symbol", "asset", "oi_base", "oi_usd", "received_at"),
    "klines": ("time", "venue", "symbol", "asset", "close", "high", "low", "received_at"),
    "snapshots": ("time", "received_at", "table", "venue", "symbol", "asset", "kind", "rate", "interval_hours",
                  "rate_8h", "apr", "predicted_rate", "next_funding_time", "mark_price", "index_price", "last_price",
                  "open_interest_usd", "oi_amount", "oi_unit", "oi_base", "oi_usd", "oi_price_used"),
    # the stored per-expiry metrics: the table's columns, ``time`` first
    "options": ("time", *(c for c in TABLES["option_expiries"].names if c != "time")),
    "liquidations": ("time", "venue", "symbol", "asset", "side", "price", "price_kind", "amount", "unit", "base",
                     "usd", "coverage", "key", "received_at", "note"),
    "gaps": ("time", "end_time", "duration_seconds", "venue", "stream", "reason", "collector", "received_at"),
}
#: the columns that name one series of each kind
SERIES_KEYS: dict[str, tuple[str, ...]] = {"funding": ("venue", "symbol"), "oi": ("venue", "symbol"),
                                           "klines": ("venue", "symbol"), "snapshots": ("table", "venue", "symbol"),
                                           "options": ("venue", "asset", "expiry"), "gaps": ("venue", "stream"),
                                           "liquidations": ("venue", "symbol")}
#: the value column a table shows per series
VALUE: dict[str, str] = {"funding": "rate_8h", "oi": "oi_usd", "klines": "close", "options": "atm_iv",
                         "liquidations": "usd"}
GAP_ROWS = 50


def iso_ms(t: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and a Z (``2026-12-04T08:00:00.000Z``): stored times are whole
    milliseconds (Hyperliquid settles at .098), and one width keeps the strings in time order."""
    if t is None:
        return None
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_value(value: Any) -> Any:
    return iso_ms(value) if isinstance(value, datetime) else value


def json_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with times as ISO-8601 strings."""
    return [{k: _json_value(v) for k, v in row.items()} for row in rows]


def series(result: HistoryResult) -> list[dict[str, Any]]:
    """One summary per series (venue and symbol; table too for snapshots; venue and stream for gaps): points, and
    the first and last observation (a snapshot without a venue time counts from when it was received)."""
    keys = SERIES_KEYS[result.kind]
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in result.rows:
        key = tuple(row[k] for k in keys)
        when = row["time"] if row["time"] is not None else row.get("received_at")
        item = out.get(key)
        if item is None:
            item = out[key] = {**{k: row[k] for k in keys}, "asset": row.get("asset"), "points": 0,
                               "first": when, "last": when}
        item["points"] += 1
        if when is not None:
            item["first"] = when if item["first"] is None else min(item["first"], when)
            item["last"] = when if item["last"] is None else max(item["last"], when)
    return list(out.values())


def history_json(result: HistoryResult) -> dict[str, Any]:
    """The ``dtrack history --format json`` document (without ``schema_version`` and ``command``)."""
    return {"as_of": iso(result.as_of), "kind": result.kind, "store": result.store, "since": iso_ms(result.since),
            "until": iso_ms(result.until), "assets": result.assets, "venues": result.venues,
            "units": UNITS[result.kind], "series": json_rows(series(result)), "rows": json_rows(result.rows),
            "note": result.note, "errors": [f.to_row() for f in result.failures]}


def history_csv(result: HistoryResult) -> str:
    """The rows as CSV, ``time`` first; an empty result is the header of its kind's columns only."""
    return _csv(json_rows(result.rows), HISTORY_COLUMNS[result.kind])


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    return buf.getvalue()


def _when(t: datetime | None) -> str:
    return "-" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _value(kind: str, x: float | None) -> str:
    if kind == "funding":
        return pct(x)
    if kind == "options":
        return pct(x, 1, sign=False)
    if kind in ("oi", "liquidations"):
        return usd(x)
    return price(x)


def history_table(result: HistoryResult) -> View:
    """One line per series (points, first, last and the latest value), or the gaps."""
    what = ", ".join(result.assets) or "every asset"
    span = f"since {_when(result.since)} UTC" + (f" until {_when(result.until)} UTC" if result.until else "")
    title = f"STORED {result.kind.upper()} of {what}, {span}"
    view = View()
    if result.kind == "gaps":
        table = Table(title, [
            Column("Venue"), Column("Stream"), Column("From"), Column("To", priority=2), Column("Duration", "right", 1),
            Column("Reason", priority=3, wrap=True, min_width=16), Column("Collector", priority=4)])
        for row in result.rows[-GAP_ROWS:]:
            secs = row["duration_seconds"]
            ended = _when(row["end_time"]) if row["end_time"] else "open"
            table.add_row(row["venue"], row["stream"], _when(row["time"]), ended,
                          "-" if secs is None else f"{secs:,.0f} s", row["reason"], row["collector"] or "-")
        view.add(table)
        if len(result.rows) > GAP_ROWS:
            view.add(Text(f"(the latest {GAP_ROWS} of {len(result.rows)} gaps; all in --format json or csv)"))
    else:
        options = result.kind == "options"
        columns = [Column("Venue"), Column("Asset"), Column("Expiry")] if options else [Column("Venue"),
                                                                                        Column("Symbol")]
        columns += [Column("Points", "right", 3), Column("First", priority=2), Column("Last", priority=1)]
        if result.kind == "snapshots":
            columns.insert(0, Column("Table"))
        else:
            columns += [Column("Latest ATM IV" if options else "Latest", "right"), Column("Min", "right", 4),
                        Column("Max", "right", 4), Column("Mean", "right", 5)]
        table = Table(title, columns)
        value = VALUE.get(result.kind)
        keys = SERIES_KEYS[result.kind]
        for item in series(result):
            cells = ([item["venue"], item["asset"], f"{item['expiry']:%Y-%m-%d %H:%M}"] if options
                     else [item["venue"], item["symbol"]])
            cells += [f"{item['points']:,}", _when(item["first"]), _when(item["last"])]
            if result.kind == "snapshots":
                cells.insert(0, item["table"])
            elif value is not None:
                values = [r[value] for r in result.rows if all(r[k] == item[k] for k in keys) and r[value] is not None]
                stats = (values[-1], min(values), max(values), statistics.fmean(values)) if values else (None,) * 4
                cells += [_value(result.kind, x) for x in stats]
            table.add_row(*cells)
        view.add(table, Text(f"{len(result.rows):,} rows from the store {result.store}; every row in --format json "
                             "or csv"))
    if result.note:
        view.add(Text(result.note))
    return view


BACKFILL_COLUMNS = ("venue", "kind", "table", "status", "depth", "contracts", "asked_from", "fetched_from",
                    "got_from", "got_to", "points", "written", "note")


def backfill_csv(result: BackfillResult) -> str:
    """One row per venue and kind (the per-symbol detail is in JSON)."""
    return _csv(result.rows, BACKFILL_COLUMNS)


def backfill_table(result: BackfillResult) -> Table:
    """Per venue and kind: what was asked, what the venue keeps, what was written."""
    table = Table(f"BACKFILL of {', '.join(result.assets)} since {_when(result.since)} UTC into {result.store}", [
        Column("Venue"), Column("Kind"), Column("Contracts", "right", 4), Column("Venue keeps", priority=3),
        Column("Store holds from", priority=1), Column("Points", "right", 5), Column("New", "right"),
        Column("Note", priority=2, wrap=True, min_width=20)])
    for row in result.rows:
        got = row["got_from"]
        table.add_row(row["venue"], row["kind"], str(row["contracts"]), row["depth"] or "-",
                      got[:16].replace("T", " ") if got else "-", f"{row['points']:,}", f"{row['written']:,}",
                      row["note"] or row["status"])
    total = sum(r["written"] for r in result.rows)
    table.note(f"{total:,} new rows written; a second run writes only what is new.")
    return table
