"""Renders the dashboard: JSON (one object), CSV (one headline row per asset) and the terminal view
(``report.table`` parts, every line within the width).

Level 1: one line per asset, as seed 001 writes it (``BTC Funding: +0.0150% (binance BTCUSDT) | OI: $18.50B
(+2.30% 24h) | ...``). Level 2: per asset the funding table (each venue's largest perpetual), open interest by venue
with its changes and the long/short reading, 24 h liquidations, the basis term structure by expiry and the options
summary by expiry, with sparklines of stored history. Level 3: the same, then the signals (each with its numbers)
and the risk assessment.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dtrack.report.format import countdown, iso, pct, price, usd
from dtrack.report.table import Column, Table, Text, View
from dtrack.results import Failure

UNITS = {
    "rates": "fractions: rate per interval_hours, rate_8h per 8 h, apr per year (simple)",
    "money": "USD", "changes": "fractions, open interest in coin terms (as dtrack oi)",
    "basis": "fractions; annualized: futures basis x 365 / days, perpetuals the funding APR",
    "iv": "fractions per year (0.55 = 55 %)", "times": "ISO-8601 UTC",
    "sparklines": "values: at most 48 points of the stored series (each the last value of its slice of the span)",
}
SPARKS = "▁▂▃▄▅▆▇█"


def jsonable(value: Any) -> Any:
    """The document with every datetime as ISO-8601 UTC text."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def to_json(document: Mapping[str, Any], failures: Sequence[Failure]) -> dict[str, Any]:
    """The dashboard as one JSON object."""
    return {"as_of": iso(document["as_of"]), "level": document["level"], "units": UNITS,
            "assets": jsonable(document["assets"]), "panels": jsonable(document["panels"]),
            "sources": jsonable(document["sources"]), "errors": [f.to_row() for f in failures]}


CSV_FIELDS = ("time", "asset", "funding_venue", "funding_symbol", "funding_rate_8h", "weighted_rate_8h",
              "weighted_apr", "sentiment", "oi_usd", "oi_change_24h", "liquidations_long_usd_24h",
              "liquidations_short_usd_24h", "liquidations_lower_bound", "basis_3m_annualized", "atm_iv", "iv_rank")


def to_csv(document: Mapping[str, Any]) -> str:
    """One row per asset: the headline figures, with the time they are from (the dashboard's ``as_of``)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for a in document["assets"]:
        row = {"time": iso(document["as_of"]), "asset": a["asset"], **a["headline"]}
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    return buf.getvalue()


# --- the terminal view -------------------------------------------------------------------------------------------


def spark(values: Sequence[float]) -> str:
    """A Unicode sparkline of ``values`` (min to max over ▁..█; a flat series is all ▄)."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi <= lo:
        return SPARKS[3] * len(values)
    return "".join(SPARKS[min(int((v - lo) / (hi - lo) * len(SPARKS)), len(SPARKS) - 1)] for v in values)


def render(document: Mapping[str, Any]) -> View:
    """The dashboard at its level."""
    view = View()
    level = document["level"]
    if level == 1:
        for a in document["assets"]:
            view.add(Text(headline(a), nobreak=(f"{a['asset']} Funding:",)))
    else:
        shared = {p["message"] for p in document["panels"] if p["status"] != "ok"}
        for a in document["assets"]:
            view.add(_asset(a, document["as_of"], level, shared))
    missing = [p for p in document["panels"] if p["status"] != "ok"]
    if missing:
        view.add(Text("Panels: " + "; ".join(f"{p['panel']} {p['status']}" + (f" ({p['message']})" if p["message"]
                                                                                else "") for p in missing),
                      style="dim"))
    return view


def _sentiment(label: str | None) -> str:
    return label.capitalize() if label else "n/a"


def headline(a: Mapping[str, Any]) -> str:
    """Level 1: one line (seed 001's first line, then the rest of the strip)."""
    h = a["headline"]
    funding = (f"{pct(h['funding_rate_8h'])} ({h['funding_venue']} {h['funding_symbol']})"
               if h["funding_venue"] else "n/a")
    oi = f"{usd(h['oi_usd'])} ({pct(h['oi_change_24h'], 1)} 24h)" if h["oi_usd"] is not None else "n/a"
    liq = (f"Longs {usd(h['liquidations_long_usd_24h'])} | Shorts {usd(h['liquidations_short_usd_24h'])}"
           + (" (lower bound)" if h["liquidations_lower_bound"] else "")
           if h["liquidations_long_usd_24h"] is not None else "n/a")
    return (f"{a['asset']} Funding: {funding} | OI: {oi} | Weighted: {pct(h['weighted_rate_8h'])} "
            f"{_sentiment(h['sentiment_label'])} | Liq 24h: {liq} | Basis 3M: {pct(h['basis_3m_annualized'], 2)} | "
            f"ATM IV: {pct(h['atm_iv'], 1, sign=False)} | IV rank: {pct(h['iv_rank'], 0, sign=False)}")


def _asset(a: Mapping[str, Any], now: datetime, level: int, shared: set[str]) -> View:
    view = View(Text(f"━━ {a['asset']} ━━", style="bold"))
    spark_of = _sparks(a.get("history"))
    view.add(_funding(a, now, spark_of))
    view.add(_oi(a, spark_of))
    view.add(_liquidations(a, shared))
    view.add(_basis(a))
    view.add(_options(a))
    history = a.get("history")
    if history is not None and history["status"] != "ok" and history["note"] and history["note"] not in shared:
        view.add(Text(history["note"], style="dim"))
    if level >= 3:
        view.add(_signals(a))
    view.add(Text(""))
    return view


def _sparks(history: Mapping[str, Any] | None) -> dict[str, str]:
    if not history or history["status"] != "ok":
        return {}
    out = {f"{s['venue']} {s['symbol']}": spark(s["values"]) for s in history["funding"]}
    if history["oi"]:
        out["oi"] = spark(history["oi"]["values"])
    return out


def _funding(a: Mapping[str, Any], now: datetime, sparks: Mapping[str, str]) -> View:
    f = a["funding"]
    if f is None:
        return View(Text("Funding: n/a (the funding query did not answer)", style="dim"))
    with_spark = any(k != "oi" for k in sparks)
    table = Table("FUNDING (each venue's largest perpetual by OI)", [
        Column("Venue"), Column("Symbol"), Column("8h-eq", "right"), Column("24h avg", "right", 4),
        Column("7d avg", "right", 5), Column("APR", "right", 1), Column("Next", "right", 6),
        Column("OI (USD)", "right", 3), *([Column("7d history", priority=7)] if with_spark else [])])
    primary = [r for r in f["rates"] if r["primary"]]
    for r in primary:
        cells = [r["venue"], r["symbol"], pct(r["rate_8h"]), pct(r["avg_24h_8h"]), pct(r["avg_7d_8h"]),
                 pct(r["apr"], 2), countdown(_when(r["next_funding_time"]), now), usd(r["open_interest_usd"])]
        if with_spark:
            cells.append(sparks.get(f"{r['venue']} {r['symbol']}", ""))
        table.add_row(*cells, mark="!" if r["alert"] else "", style="bold red" if r["alert"] else "")
    more = len(f["rates"]) - len(primary)
    table.note(f"OI-weighted {pct(f['weighted_rate_8h'])} per 8h | APR {pct(f['apr'], 2)} | "
               f"{_sentiment(f['sentiment_label'])}" + (f" | {more} more perpetuals in `dtrack funding "
                                                        f"{a['asset']}`" if more > 0 else ""))
    return View(table)


def _when(text: Any) -> datetime | None:
    if text is None or isinstance(text, datetime):
        return text
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _oi(a: Mapping[str, Any], sparks: Mapping[str, str]) -> View:
    o = a["open_interest"]
    if o is None:
        return View(Text("Open interest: n/a (the oi query did not answer)", style="dim"))
    table = Table(f"OPEN INTEREST {usd(o['total_oi_usd'])} (1h {pct(o['change_1h'], 2)}, 4h {pct(o['change_4h'], 2)}, "
                  f"24h {pct(o['change_24h'], 2)}, 7d {pct(o['change_7d'], 2)}; coin terms)", [
                      Column("Venue"), Column("OI (USD)", "right"), Column("Share", "right", 1),
                      Column("24h", "right", 2), Column("7d", "right", 3),
                      Column("Note", priority=6, wrap=True, min_width=20)])
    for v in o["venues"]:
        table.add_row(v["venue"], usd(v["oi_usd"]), pct(v["share"], 1, sign=False), pct(v["change_24h"], 2),
                      pct(v["change_7d"], 2), v["change_note"])
    ls = o["long_short"]
    if ls is not None:
        table.note(f"Long/short {ls['ratio']:.2f} ({pct(ls['long_share'], 1, sign=False)} long; {ls['venue']} "
                   f"{ls['definition']})")
    if sparks.get("oi"):
        h = a["history"]["oi"]
        table.note(f"Total OI, stored {a['history']['span']}: {sparks['oi']} {usd(h['min'])}..{usd(h['max'])}")
    return View(table)


def _liquidations(a: Mapping[str, Any], shared: set[str]) -> Text:
    liq = a["liquidations"]
    if liq["status"] != "ok":
        why = "see Panels below" if liq["note"] in shared else liq["note"]
        return Text(f"Liquidations {liq['window']}: n/a" + (f" ({why})" if why else ""), style="dim")
    ratio = liq["long_short_ratio"]
    text = (f"Liquidations {liq['window']}: Longs {usd(liq['long_usd'])} | Shorts {usd(liq['short_usd'])}"
            + (f" | ratio {ratio:.2f}" if ratio is not None else ""))
    if liq["note"]:
        text += f" ({liq['note']})"
    if liq["venues_not_covered"]:
        text += f"; not covered: {', '.join(liq['venues_not_covered'])}"
    return Text(text)


def _basis(a: Mapping[str, Any]) -> View:
    b = a["basis"]
    if b is None:
        return View(Text("Basis: n/a (the basis query did not answer)", style="dim"))
    if not b["term_structure"]:
        return View(Text(f"Basis: spot {price(b['spot_price'])}; no dated future listed on the venues asked "
                         f"(perpetual basis {pct(b['perp_basis_min'], 3)}..{pct(b['perp_basis_max'], 3)})"))
    by_expiry: dict[str, list[Mapping[str, Any]]] = {}
    for r in b["term_structure"]:
        by_expiry.setdefault(str(r["expiry"])[:10], []).append(r)
    cm = "  ".join(f"{c['days']}d {pct(c['annualized'], 2)}" for c in b["constant_maturity"])
    table = Table(f"BASIS spot {price(b['spot_price'])}, {b['structure'] or 'n/a'}; constant maturity {cm}", [
        Column("Expiry"), Column("Days", "right", 3), Column("Annualized", "right"), Column("Range", "right", 2),
        Column("Venues", priority=4)])
    for expiry, rows in by_expiry.items():
        ann = [r["annualized"] for r in rows if r["annualized"] is not None]
        days = rows[0]["days_to_expiry"]
        table.add_row(expiry, f"{days:.0f}" if days is not None else "", pct(sum(ann) / len(ann), 2) if ann else "n/a",
                      f"{pct(min(ann), 2)}..{pct(max(ann), 2)}" if len(ann) > 1 else "",
                      ", ".join(dict.fromkeys(r["venue"] for r in rows)))
    table.note("Annualized: the mean over the venues listing the expiry; Range: their lowest..highest.")
    return View(table)


def _options(a: Mapping[str, Any]) -> View:
    o = a["options"]
    if o is None:
        return View(Text("Options: n/a (no options listed, or the options query did not answer)", style="dim"))
    main = o["atm_iv_venue"]
    agg = {str(e["expiry"]): e for e in o["aggregate"]}
    table = Table(f"OPTIONS DVOL {pct(o['dvol'], 1, sign=False)} | IV rank {pct(o['iv_rank'], 0, sign=False)} "
                  f"({o['interpretation'] or 'n/a'}) | RV 30d {pct(o['rv_30d'], 1, sign=False)} | IV-RV "
                  f"{pct(o['iv_rv_spread'], 1)} | PCR {_ratio(o['pcr_oi'])} | OI {usd(o['total_oi_usd'])}", [
                      Column("Expiry"), Column("Days", "right", 4), Column(f"ATM IV ({main})", "right"),
                      Column("25d RR", "right", 2), Column("25d BF", "right", 5), Column("PCR", "right", 3),
                      Column("Max pain", "right", 1)])
    for e in (e for e in o["expiries"] if e["venue"] == main):
        all_venues = agg.get(str(e["expiry"]), e)
        table.add_row(str(e["expiry"])[:10], f"{e['days']:.1f}", pct(e["atm_iv"], 1, sign=False), pct(e["rr25"], 2),
                      pct(e["bf25"], 2), _ratio(all_venues["pcr_oi"]), price(all_venues["max_pain"]))
    table.note("PCR and max pain over every venue listing the expiry (where more than one does).")
    if o["note"]:
        table.note(f"note: {o['note']}")
    return View(table)


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


LEVEL_MARKS = {"warning": "!", "watch": "~", "info": ""}


def _signals(a: Mapping[str, Any]) -> View:
    table = Table(f"SIGNALS {a['asset']}", [Column("Signal"), Column("Level", priority=2),
                                            Column("Reading", wrap=True, min_width=30)])
    for s in a["signals"] or []:
        table.add_row(s["signal"].replace("_", " "), s["level"], reading(s), mark=LEVEL_MARKS.get(s["level"], ""),
                      style="red" if s["level"] == "warning" else "")
    risk = a["risk"]
    view = View(table)
    if risk is not None:
        flagged = [f["factor"].replace("_", " ") for f in risk["factors"] if f["flagged"]]
        unknown = [f["factor"].replace("_", " ") for f in risk["factors"] if not f["known"]]
        view.add(Text(f"RISK {risk['level'].upper()} ({risk['score']} of {len(risk['factors'])} factors flagged"
                      + (f": {', '.join(flagged)}" if flagged else "") + ")"
                      + (f"; not assessed: {', '.join(unknown)}" if unknown else ""), style="bold"))
    return view


def reading(s: Mapping[str, Any]) -> str:
    """A signal's numbers as one line."""
    n, key = s["numbers"], s["signal"]
    if key == "funding_sentiment":
        return (f"OI-weighted {pct(n['weighted_rate_8h'])}/8h (APR {pct(n['apr'], 2)}): {s['label'] or 'n/a'}; "
                f"bands strong {pct(n['strong_8h'], 3, sign=False)}, extreme {pct(n['extreme_8h'], 3, sign=False)}")
    if key == "funding_extremes":
        return (f"high {n['high_venue']} {n['high_symbol']} {pct(n['high_rate_8h'])}, low {n['low_venue']} "
                f"{n['low_symbol']} {pct(n['low_rate_8h'])}, spread {pct(n['spread_8h'])}/8h; {s['label']}")
    if key == "oi_change":
        return (f"24h {pct(n['change_24h'], 2)}, 7d {pct(n['change_7d'], 2)} (large beyond "
                f"{pct(n['threshold'], 0, sign=False)})")
    if key == "oi_price_divergence":
        conf = n["confidence"]
        return (f"{n['window']}: OI {pct(n['oi_change'], 2)} vs price {pct(n['price_change'], 2)}: {s['label']}"
                + (f", confidence {conf:.2f}" if conf is not None else ""))
    if key == "positioning":
        return (f"{n['venue']} {n['definition']}: ratio {n['ratio']:.2f}, {pct(n['long_share'], 1, sign=False)} long: "
                f"{s['label']}")
    if key == "cascade_risk":
        if "level" not in n:
            return f"n/a ({n.get('note') or 'not available'})"
        within = n.get("within")
        near = pct(within, 0, sign=False) if isinstance(within, int | float) else str(within or "n/a")
        return (f"{n.get('level')} (an estimate): {usd(n.get('within_usd'))} within {near} of the price, of OI "
                f"{usd(n.get('total_oi_usd'))}; near-price / 24h volume {_ratio(n.get('ratio'))} "
                f"({n.get('ratio_level') or 'n/a'})")
    if key == "iv_rank":
        return (f"rank {pct(n['iv_rank'], 0, sign=False)}, percentile {pct(n['iv_percentile'], 0, sign=False)}, DVOL "
                f"{pct(n['dvol'], 1, sign=False)}: {s['label'] or 'n/a'}")
    if key == "iv_rv":
        return (f"IV {pct(n['iv'], 1, sign=False)} - RV 30d {pct(n['rv_30d'], 1, sign=False)} = "
                f"{pct(n['iv_rv_spread'], 1)}: {s['label'] or 'n/a'}")
    if key == "best_carry":
        if "venue" not in n:
            return str(s["label"])
        days = f", {n['days']:.0f} d" if n["days"] is not None else ""
        return (f"{s['label']} {n['venue']} {n['instrument']}: net {pct(n['net_yield'], 2)}/yr (gross "
                f"{pct(n['gross_yield'], 2)}, fees {pct(n['fees'], 2, sign=False)}{days})")
    if key == "funding_arbitrage":
        if "long_venue" not in n:
            return str(s["label"])
        be = n["breakeven_days"]
        return (f"long {n['long_venue']} {n['long_symbol']}, short {n['short_venue']} {n['short_symbol']}: "
                f"{pct(n['spread_8h'])}/8h, net APR {pct(n['net_apr'], 2)}"
                + (f", breakeven {be:.1f} d" if be is not None else "") + f" ({s['label']})")
    return ", ".join(f"{k} {v}" for k, v in n.items())
