"""Renders the order-book report: JSON (one object), CSV (one row per contract and band) and terminal tables.

A figure that is a lower bound (the venue's answer ended inside the band, ``truncated``) is shown with ``≥`` in
the tables and flagged ``bid_truncated`` / ``ask_truncated`` in JSON and CSV: never a silently smaller number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from dtrack.analytics.book import AssetDepth, BandDepth, BookMetrics, BookReport
from dtrack.report.format import iso, num, price
from dtrack.report.table import Column, Table, Text, View
from dtrack.results import Failure

UNITS = {
    "prices": "mid, best_bid, best_ask: USD (the quote currency) per ONE unit of the asset",
    "spread": "(best_ask - best_bid) / mid, a fraction (0.0001 = 1 bp)",
    "band": "a fraction of the mid: the levels priced within mid x (1 - band) .. mid x (1 + band)",
    "depth": "bid_base / ask_base: coins of the asset resting within the band; bid_usd / ask_usd: each level's "
             "size x its price, summed",
    "imbalance": "(bid_base - ask_base) / (bid_base + ask_base) within the band; null when both are 0",
    "truncated": "the side held as many levels as could be asked (limit) and its last level lies inside the band: "
                 "the venue may rest more there, so the figure is a lower bound",
    "reach": "bid_reach / ask_reach: how far the levels received go from the mid, a fraction",
    "aggregates": "per asset, each contract's depth within the band of its own mid, summed across venues; "
                  "truncated when any part is",
}


def _band(b: BandDepth) -> dict[str, Any]:
    return {"band": b.band, "bid_base": b.bid_base, "ask_base": b.ask_base, "bid_usd": b.bid_usd,
            "ask_usd": b.ask_usd, "imbalance": num(b.imbalance), "bid_truncated": b.bid_truncated,
            "ask_truncated": b.ask_truncated}


def row_dict(m: BookMetrics) -> dict[str, Any]:
    """One contract's book metrics as a JSON-able dict (its bands nested)."""
    inst = m.instrument
    return {"venue": inst.venue, "asset": inst.asset, "symbol": inst.symbol, "id": inst.normalized_id,
            "kind": inst.kind.value, "expiry": iso(inst.expiry), "mid": m.mid, "best_bid": m.best_bid,
            "best_ask": m.best_ask, "spread": m.spread, "levels_bid": m.levels_bid, "levels_ask": m.levels_ask,
            "limit": m.limit, "bid_reach": m.bid_reach, "ask_reach": m.ask_reach, "truncated": m.truncated,
            "bands": [_band(b) for b in m.bands], "note": m.note, "time": iso(m.time),
            "received_at": iso(m.received_at)}


def _aggregate(a: AssetDepth) -> dict[str, Any]:
    return {"asset": a.asset, "contracts": a.contracts, "venues": list(a.venues), "truncated": a.truncated,
            "bands": [_band(b) for b in a.bands]}


def to_json(report: BookReport, failures: Sequence[Failure]) -> dict[str, Any]:
    """The order-book report as one JSON object."""
    return {"as_of": iso(report.time), "kind": report.kind, "depth": report.depth, "bands": list(report.bands),
            "units": UNITS, "rows": [row_dict(m) for m in report.rows],
            "aggregates": [_aggregate(a) for a in report.aggregates],
            "skipped": [{"venue": i.venue, "symbol": i.symbol, "reason": why} for i, why in report.skipped],
            "errors": [f.to_row() for f in failures]}


CSV_FIELDS = ("venue", "asset", "symbol", "kind", "expiry", "mid", "best_bid", "best_ask", "spread", "band",
              "bid_base", "ask_base", "bid_usd", "ask_usd", "imbalance", "bid_truncated", "ask_truncated",
              "levels_bid", "levels_ask", "limit", "time", "received_at")


def to_csv(report: BookReport) -> str:
    """One row per contract and band (fractions, coins, USD, ISO times)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for m in report.rows:
        base = row_dict(m)
        for b in m.bands:
            row = {**base, **_band(b)}
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def _pct_label(band: float) -> str:
    return f"{band * 100:g}%"


def _money(x: float) -> str:
    """USD in three significant figures for a table cell: ``$96.3M``, ``$105M``, ``$894K``, ``$650``."""
    units = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"), (1.0, ""))
    for n, (div, suffix) in enumerate(units):
        if abs(x) >= div or div == 1.0:
            v = abs(x) / div
            places = 2 if v < 10 else 1 if v < 100 else 0
            if round(v, places) >= 1000 and n > 0:  # 999.6K shows as $1.00M
                div, suffix = units[n - 1]
                v, places = abs(x) / div, 2
            return f"{'-' if x < 0 else ''}${v:.{places}f}{suffix}"
    return f"${x:.2f}"  # pragma: no cover - the loop always returns


def _depth(b: BandDepth) -> str:
    """``bid/ask`` USD within the band, each a lower bound (``≥``) where its side is truncated."""
    bid = f"≥{_money(b.bid_usd)}" if b.bid_truncated else _money(b.bid_usd)
    ask = f"≥{_money(b.ask_usd)}" if b.ask_truncated else _money(b.ask_usd)
    return f"{bid}/{ask}"


def _bp(spread: float) -> str:
    """A spread in basis points, with the precision its size needs (0.011 for BTC's one tick)."""
    bp = spread * 10_000.0
    return f"{bp:.2f}" if abs(bp) >= 1 else f"{bp:.3f}"


def _imbalance(b: BandDepth) -> str:
    if b.imbalance is None:
        return "n/a"
    text = f"{b.imbalance:+.2f}"
    return f"{text}~" if b.truncated else text


def _band_ranks(bands: Sequence[float]) -> dict[float, int]:
    """Which band's columns stay longest when the width is short: 1 % (or the nearest), then the others by
    closeness to it."""
    ranked = sorted(bands, key=lambda b: (abs(b - 0.01), b))
    return {b: n for n, b in enumerate(ranked)}


def render_table(report: BookReport) -> View:
    """One table per asset: a row per contract (mid, spread in bp, USD depth bid/ask per band, imbalance) and the
    sum across venues; ``≥`` marks a lower bound. Narrow terminals keep the bands nearest 1 %."""
    view = View()
    rank = _band_ranks(report.bands)
    kind = {"perp": "perpetuals", "future": "dated futures", "all": "perpetuals and dated futures"}[report.kind]
    any_cut = False
    for agg in report.aggregates:
        rows = [m for m in report.rows if m.instrument.asset == agg.asset]
        columns = [Column("Venue"), Column("Symbol"), Column("Mid", "right", 7), Column("Spread bp", "right", 3)]
        for b in report.bands:
            columns += [Column(f"{_pct_label(b)} bid/ask", "right", 1 + 4 * rank[b] - (rank[b] > 1)),
                        Column(f"Imb {_pct_label(b)}", "right", 2 + 4 * rank[b])]
        columns.append(Column("Levels", "right", 20))
        table = Table(f"{agg.asset} ORDER BOOKS ({kind}): USD resting within each band of the mid (bids/asks), "
                      "imbalance (bids - asks) / (bids + asks) on coins", columns)
        for m in rows:
            cells = [c for b in m.bands for c in (_depth(b), _imbalance(b))]
            table.add_row(m.instrument.venue, m.instrument.symbol, price(m.mid), _bp(m.spread), *cells,
                          f"{m.levels_bid}/{m.levels_ask}", mark="!" if m.best_bid >= m.best_ask else "")
        total = [c for b in agg.bands for c in (_depth(b), _imbalance(b))]
        table.add_row("all", f"{agg.contracts} contracts", "", "", *total, "", style="bold")
        view.add(table)
        for m in rows:
            if m.note:
                view.add(Text(f"{'! ' if m.best_bid >= m.best_ask else 'note: '}{m.instrument.venue} "
                              f"{m.instrument.symbol}: {m.note}", style="dim", nobreak=(m.instrument.symbol,)))
        any_cut = any_cut or agg.truncated
    if any_cut:
        view.add(Text("≥: a lower bound: the venue's answer ended inside the band (it sent as many levels as may be "
                      "asked, e.g. Hyperliquid's 20 a side); the book may rest more there. ~: an imbalance over such a "
                      "band.", style="dim"))
    for inst, why in report.skipped:
        view.add(Text(f"{inst.venue} {inst.symbol}: not measured: {why}", style="dim", nobreak=(inst.symbol,)))
    return view
