"""The history query: what the history store holds, read from the store only (no network, no aiohttp).

Kinds: ``funding`` (settled funding: ``funding_points``), ``oi`` (open-interest history: ``oi_points``),
``klines`` (kline closes, highs, lows: ``price_points``), ``snapshots`` (the stored current funding, open interest and
prices: ``funding_rates``, ``open_interest``, ``price_quotes``), ``options`` (the stored per-expiry option
metrics: ``option_expiries``), ``liquidations`` (the liquidation events collectors recorded: ``liquidations``)
and ``gaps`` (what collectors did not see, with the collector run that had each gap). Assets are resolved to the
venues' symbols through the store's ``instruments`` table (assets, ccxt symbols, venue symbols and normalized ids,
as everywhere), and the snapshot and event tables' own ``asset`` column;
options are kept per asset (a contract symbol stands for its asset). Rows come oldest first, each with a
``time`` column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dtrack.client.inputs import as_list, check_readable, parse_duration, resolve, shown
from dtrack.errors import DtrackError, UsageError, clip
from dtrack.records import Instrument, Kind
from dtrack.results import HistoryResult

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.client.inputs import Wanted
    from dtrack.store import Row, Store

KINDS = ("funding", "oi", "klines", "snapshots", "options", "liquidations", "gaps")
#: kind -> the tables it reads
TABLES: dict[str, tuple[str, ...]] = {"funding": ("funding_points",), "oi": ("oi_points",),
                                      "klines": ("price_points",),
                                      "snapshots": ("funding_rates", "open_interest", "price_quotes"),
                                      "options": ("option_expiries",), "liquidations": ("liquidations",),
                                      "gaps": ("gaps",)}
LONGEST = timedelta(days=3650)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def parse_when(value: str | datetime | timedelta, option: str, now: datetime,
               longest: timedelta = LONGEST) -> datetime:
    """A point in time as users give it: a duration ago (``24h``, ``7d``, ``2w``), an ISO-8601 date
    (``2026-11-01``: midnight UTC) or time (``2026-11-01T08:00Z``; UTC when it names no zone), or an aware
    datetime. Anything else is a usage error naming the option."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise UsageError(f"{option}: a datetime without a timezone is ambiguous; give an aware UTC datetime")
        return value.astimezone(UTC)
    if isinstance(value, timedelta):
        return now - parse_duration(value, option, longest)
    text = value.strip()
    if _ISO_DAY.match(text):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise UsageError(f"bad {option} {shown(text)}: expected a duration like 24h or 7d, or an ISO-8601 "
                             "time like 2026-11-01 or 2026-11-01T08:00Z") from None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return now - parse_duration(text, option, longest)


def history_kind(kind: str) -> str:
    """The kind, checked (a usage error naming the known ones)."""
    if kind not in KINDS:
        raise UsageError(f"unknown history kind {clip(kind)!r}; expected one of {', '.join(KINDS)}")
    return kind


async def run(client: AsyncClient, kind: str, assets: str | Sequence[str] | None, *,
              since: str | datetime | timedelta, until: str | datetime | timedelta | None,
              venues: Sequence[str] | None) -> HistoryResult:
    """See ``AsyncClient.history``."""
    from dtrack.symbols import parse_asset
    from dtrack.venues import venue_info

    history_kind(kind)
    texts = as_list(assets)
    if not texts and kind != "gaps":
        raise UsageError(f"name at least one asset, e.g. dtrack history {kind} BTC")
    check_readable(texts)
    now = client.now()
    start = parse_when(since, "--since", now)
    end = parse_when(until, "--until", now) if until is not None else None
    if end is not None and end <= start:
        raise UsageError(f"--until ({end:%Y-%m-%d %H:%M} UTC) must be after --since ({start:%Y-%m-%d %H:%M} UTC)")
    chosen = list(venues) if venues is not None else client.chosen_venues
    names = list(dict.fromkeys(venue_info(v).name for v in chosen))
    result = HistoryResult(as_of=now, kind=kind, since=start, until=end, store=client.store_location(),
                           assets=[t.strip().upper() for t in texts], venues=names, rows=[])
    store = client.store(create=False)
    if store is None:
        result.note = f"no history store at {result.store} yet: {_fill_hint(kind, result.assets)}"
        result.all_failed = True
        return result
    result.store = store.location
    if kind == "options":
        result.assets = list(dict.fromkeys(parse_asset(t).asset for t in texts))
        result.rows = _options(store, names, result.assets, start, end)
        if not result.rows:
            result.all_failed = True
            result.note = _empty_note(store, kind, result, {}, [])
        return result
    instruments = _instruments(store, names)
    wanted = resolve(texts, instruments, (Kind.PERP, Kind.FUTURE), complete=False) if texts else []
    result.assets = list(dict.fromkeys(w.asset for w in wanted))
    if kind == "gaps":
        result.rows = _gaps(store, names, wanted, instruments, start, end)
    elif kind == "snapshots":
        result.rows = _snapshots(store, names, wanted, start, end)
    elif kind == "liquidations":
        result.rows = _liquidations(store, names, wanted, start, end)
    else:
        result.rows = _points(store, kind, names, wanted, instruments, start, end)
    if not result.rows:
        result.all_failed = True
        result.note = _empty_note(store, kind, result, instruments, wanted)
    return result


def _instruments(store: Store, venues: Sequence[str]) -> dict[str, list[Instrument]]:
    from dtrack.client.stored import instrument_of

    out: dict[str, list[Instrument]] = {}
    for row in store.read("instruments", venue=list(venues) or None):
        inst = instrument_of(row)
        out.setdefault(inst.venue, []).append(inst)
    return out


def _contracts(wanted: Sequence[Wanted], instruments: dict[str, list[Instrument]]) -> dict[str, list[Instrument]]:
    """Per venue, the stored contracts the inputs name (expired futures too: history outlives them)."""
    out: dict[str, list[Instrument]] = {}
    for venue, insts in instruments.items():
        picked = [i for i in insts if any(w.matches(i) for w in wanted)]
        if picked:
            out[venue] = picked
    return out


def _points(store: Store, kind: str, venues: Sequence[str], wanted: Sequence[Wanted],
            instruments: dict[str, list[Instrument]], start: datetime, end: datetime | None) -> list[dict[str, Any]]:
    (table,) = TABLES[kind]
    rows: list[dict[str, Any]] = []
    for venue, contracts in _contracts(wanted, instruments).items():
        if venues and venue not in venues:
            continue
        assets = {i.symbol: i.asset for i in contracts}
        for r in store.read(table, venue=venue, symbol=list(assets), since=start, until=end):
            rows.append(_point_row(kind, r, assets[str(r["symbol"])]))
    rows.sort(key=lambda r: (r["time"], r["venue"], r["symbol"]))
    return rows


def _point_row(kind: str, r: Row, asset: str) -> dict[str, Any]:
    head = {"time": r["time"], "venue": r["venue"], "symbol": r["symbol"], "asset": asset}
    if kind == "funding":
        rate, hours = float(r["rate"]), float(r["interval_hours"])  # type: ignore[arg-type]
        return {**head, "rate": rate, "interval_hours": hours, "rate_8h": r["rate_8h"],
                "apr": rate * 8760.0 / hours, "received_at": r["received_at"]}
    if kind == "oi":
        return {**head, "oi_base": r["base"], "oi_usd": r["usd"], "received_at": r["received_at"]}
    return {**head, "close": r["price"], "high": r.get("high"), "low": r.get("low"), "received_at": r["received_at"]}


def _snapshots(store: Store, venues: Sequence[str], wanted: Sequence[Wanted], start: datetime,
               end: datetime | None) -> list[dict[str, Any]]:
    from dtrack.client.stored import instrument_of

    assets = list(dict.fromkeys(w.asset for w in wanted))
    rows: list[dict[str, Any]] = []
    for table in TABLES["snapshots"]:
        for r in store.read(table, venue=list(venues) or None, asset=assets, since=start, until=end):
            inst = instrument_of(r)
            if any(w.matches(inst) for w in wanted):
                rows.append(_snapshot_row(table, r))
    rows.sort(key=lambda r: (r["received_at"], r["table"], r["venue"], r["symbol"]))
    return rows


def _snapshot_row(table: str, r: Row) -> dict[str, Any]:
    row: dict[str, Any] = {"time": r["time"], "received_at": r["received_at"], "table": table, "venue": r["venue"],
                           "symbol": r["symbol"], "asset": r["asset"], "kind": r["kind"], "rate": None,
                           "interval_hours": None, "rate_8h": None, "apr": None, "predicted_rate": None,
                           "next_funding_time": None, "mark_price": None, "index_price": None, "last_price": None,
                           "open_interest_usd": None, "oi_amount": None, "oi_unit": None, "oi_base": None,
                           "oi_usd": None, "oi_price_used": None}
    if table == "funding_rates":
        for k in ("rate", "interval_hours", "rate_8h", "apr", "predicted_rate", "next_funding_time", "mark_price",
                  "index_price", "open_interest_usd"):
            row[k] = r[k]
    elif table == "open_interest":
        row.update(oi_amount=r["amount"], oi_unit=r["unit"], oi_base=r["base"], oi_usd=r["usd"],
                   oi_price_used=r["price_used"])
    else:
        row.update(mark_price=r["mark_price"], index_price=r["index_price"], last_price=r["last_price"])
    return row


def _liquidations(store: Store, venues: Sequence[str], wanted: Sequence[Wanted], start: datetime,
                  end: datetime | None) -> list[dict[str, Any]]:
    """The stored liquidation events of the inputs' contracts: ``side`` the position liquidated, the price the
    venue sent (``price_kind``), the quantity in the venue's ``unit``, coins and USD, ``coverage`` and ``key``."""
    from dtrack.client.stored import instrument_of

    assets = list(dict.fromkeys(w.asset for w in wanted))
    rows = []
    for r in store.read("liquidations", venue=list(venues) or None, asset=assets, since=start, until=end):
        if any(w.matches(instrument_of(r)) for w in wanted):
            rows.append({k: r[k] for k in ("time", "venue", "symbol", "asset", "side", "price", "price_kind",
                                           "amount", "unit", "base", "usd", "coverage", "key", "received_at",
                                           "note")})
    rows.sort(key=lambda r: (r["time"], r["venue"], r["symbol"], r["key"]))
    return rows


def _options(store: Store, venues: Sequence[str], assets: Sequence[str], start: datetime,
             end: datetime | None) -> list[dict[str, Any]]:
    """The stored per-expiry option metrics of ``assets``: every column of ``option_expiries``, with ``time``
    first (the venue's time of the metrics, else when dtrack computed them: never null)."""
    rows = []
    for r in store.read("option_expiries", venue=list(venues) or None, asset=list(assets), since=start, until=end):
        rows.append({"time": r["time"] if r["time"] is not None else r["received_at"],
                     **{k: v for k, v in r.items() if k != "time"}})
    rows.sort(key=lambda r: (r["time"], r["asset"], r["expiry"], r["venue"]))
    return rows


def _gaps(store: Store, venues: Sequence[str], wanted: Sequence[Wanted], instruments: dict[str, list[Instrument]],
          start: datetime, end: datetime | None) -> list[dict[str, Any]]:
    """The gaps that began in the window. With assets: those whose stream names one of the assets or their
    symbols, and those naming no contract at all (a whole connection: every asset missed it)."""
    names = {w.asset.lower() for w in wanted}
    names |= {i.symbol.lower() for insts in _contracts(wanted, instruments).values() for i in insts}
    known = {i.symbol.lower() for insts in instruments.values() for i in insts} | \
            {i.asset.lower() for insts in instruments.values() for i in insts}
    rows = []
    for r in store.read("gaps", venue=list(venues) or None, since=start, until=end):
        stream = str(r["stream"]).lower()
        if wanted and not any(n in stream for n in names) and any(k in stream for k in known):
            continue
        began, ended = r["start"], r["end"]
        seconds = (ended - began).total_seconds() if isinstance(ended, datetime) and isinstance(began, datetime) \
            else None
        rows.append({"time": began, "end_time": ended, "duration_seconds": seconds, "venue": r["venue"],
                     "stream": r["stream"], "reason": r["reason"], "collector": r["collector"],
                     "received_at": r["received_at"]})
    return rows


def _fill_hint(kind: str, assets: Sequence[str]) -> str:
    what = " ".join(assets) or "BTC"
    if kind in ("funding", "oi", "klines"):
        return f"fill it with `dtrack backfill {kind} {what} --since 90d`, or keep it filled with `dtrack collect`"
    if kind == "options":
        return "`dtrack collect` keeps the per-expiry option metrics in it (every collect.snapshots.options s)"
    if kind == "liquidations":
        return "`dtrack collect` keeps liquidation events in it (collect.streams.kinds: liquidations)"
    return f"`dtrack collect` keeps {'snapshots' if kind == 'snapshots' else 'gaps'} in it"


def _empty_note(store: Store, kind: str, result: HistoryResult, instruments: dict[str, list[Instrument]],
                wanted: Sequence[Wanted]) -> str:
    """What the store holds instead, and what to run."""
    hint = _fill_hint(kind, result.assets)
    what = ", ".join(result.assets) or "any asset"
    window = f"since {result.since:%Y-%m-%d %H:%M} UTC" + (f" until {result.until:%Y-%m-%d %H:%M} UTC"
                                                           if result.until else "")
    if kind in ("funding", "oi", "klines"):
        contracts = _contracts(wanted, instruments)
        if not contracts:
            return f"the store {store.location} knows no contract of {what}: {hint}"
        held = {}
        try:
            held = store.series_range(TABLES[kind][0], venue=list(contracts),
                                      symbol=[i.symbol for insts in contracts.values() for i in insts])
        except DtrackError:  # pragma: no cover - the read above worked
            held = {}
        if held:
            first = min(a for a, _, _ in held.values())
            last = max(b for _, b, _ in held.values())
            return (f"the store {store.location} holds {kind} of {what} from {first:%Y-%m-%d %H:%M} to "
                    f"{last:%Y-%m-%d %H:%M} UTC, none {window}: {hint}")
    return f"the store {store.location} holds no {kind} of {what} {window}: {hint}"
