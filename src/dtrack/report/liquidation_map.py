"""Renders the ESTIMATED liquidation map and its score: JSON (one object), CSV (the bins; the scores) and terminal
tables (``report.table``). Every view says it is an estimate and names the method."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dtrack.report.format import iso, num, pct, price, usd
from dtrack.report.table import Column, Table, Text, View

if TYPE_CHECKING:
    from dtrack.analytics.liquidation_map import LiquidationMap, MapParams, Score, SeriesStats
    from dtrack.results import LiquidationMapResult, LiquidationScoreResult

DENSITY_LABELS = {"critical": "CRITICAL", "high_density": "HIGH DENSITY"}
BAND_NAMES = ("critical", "high", "medium")
METHOD_TEXT = ("open interest added per hourly bar (OI history x klines), split long/short by the venue's "
               "published share (else 50/50), spread over a leverage mix, liquidation prices from each contract's "
               "margin tiers (else a flat maintenance rate per venue), cohorts removed when price traded through "
               "them (the klines' high and low where held, else the path between closes) and pro rata when OI fell")
UNITS = {
    "usd": "estimated USD that would be liquidated in the bin (coins x liquidation price): an ESTIMATE",
    "distance": "the bin's middle against the current price, a fraction (negative below)",
    "range": "fraction of the price either side", "low/high/price": "USD per one unit of the asset",
    "alive_base": "coins of the window's positions still open in the estimate", "long_share": "fraction",
}
BAR_WIDTH = 24
_EIGHTHS = " ▏▎▍▌▋▊▉"


def _ms_iso(ms: int | None) -> str | None:
    return None if ms is None else iso(datetime.fromtimestamp(ms / 1000, UTC))


def method_dict(params: MapParams) -> dict[str, Any]:
    """The method object: name, version, id (the stored ``method``), description and parameters."""
    from dtrack.analytics.liquidation_map import METHOD_NAME, METHOD_VERSION

    return {"name": METHOD_NAME, "version": METHOD_VERSION, "id": params.method_id, "description": METHOD_TEXT,
            "parameters": params.parameters()}


def _series(s: SeriesStats) -> dict[str, Any]:
    return {"venue": s.venue, "symbol": s.symbol, "bars": s.bars, "first": _ms_iso(s.first_ms),
            "last": _ms_iso(s.last_ms), "opened_base": s.opened, "closed_base": s.closed,
            "consumed_base": s.consumed, "alive_base": s.alive, "alive_usd": s.alive_usd,
            "long_share": num(s.long_share), "split": s.split, "maintenance_rate": s.maintenance_rate,
            "dropped_leverage": list(s.dropped_leverage), "last_close": num(s.last_close),
            "ranged_bars": s.ranged_bars}


def map_dict(m: LiquidationMap) -> dict[str, Any]:
    """One asset's map as JSON."""
    bands, ratio = m.bands, m.ratio
    return {
        "asset": m.asset, "estimate": True, "time": iso(m.time), "price": m.price, "range": m.params.range,
        "bins": [{"asset": m.asset, "side": b.side, "low": b.low, "high": b.high, "price": b.price, "usd": b.usd,
                  "distance": b.distance, "density": b.density,
                  "density_label": DENSITY_LABELS.get(b.density or "")} for b in m.bins],
        "totals": {"long_usd": m.long_usd, "short_usd": m.short_usd, "long_beyond_range_usd": m.long_beyond_usd,
                   "short_beyond_range_usd": m.short_beyond_usd},
        "density": {"reference": "median USD of the map's non-empty bins", "median_usd": num(m.density_median_usd),
                    "high_density_multiple": m.params.density_high, "critical_multiple": m.params.density_critical},
        "cascade": {
            "bands": {"level": bands.level, "within": bands.near, "within_usd": bands.within_usd,
                      "within_long_usd": bands.within_long_usd, "within_short_usd": bands.within_short_usd,
                      "total_oi_usd": num(bands.total_oi_usd), "reference_oi_usd": bands.reference_oi_usd,
                      "scale": num(bands.scale), "thresholds_usd": {k: bands.thresholds.get(k) for k in BAND_NAMES},
                      "rule": "seed 000: critical > $500M, high $200-500M, medium $100-200M, else low; x scale = "
                              "total_oi_usd / reference_oi_usd"},
            "ratio": {"level": ratio.level, "ratio": num(ratio.ratio), "near": ratio.near,
                      "near_usd": ratio.near_usd, "volume_24h_usd": num(ratio.volume_24h_usd),
                      "volume_venues": {v: usd_ for v, usd_ in ratio.venues.items()},
                      "volumes": [{"venue": v, "symbol": sym, "volume_24h_usd": x} for v, sym, x in ratio.volumes],
                      "volume_missing": [{"venue": v, "symbol": sym} for v, sym in ratio.missing],
                      "volume_source": ratio.source, "thresholds": ratio.thresholds,
                      "rule": "seed 004: estimated USD within 10 % / 24 h volume: extreme > 0.5, high > 0.25, "
                              "elevated > 0.10, else normal; the volume is the rolling 24 h traded volume (USD, one "
                              "side) of the map's contracts, as their venues publish it", "note": ratio.note},
        },
        "venues": m.venues,
        "series": [_series(s) for s in m.series],
    }


def map_json(result: LiquidationMapResult) -> dict[str, Any]:
    """The ``liquidation_map`` document."""
    return {"as_of": iso(result.as_of), "estimate": True, "method": method_dict(result.params), "units": UNITS,
            "maps": [map_dict(m) for m in result.maps],
            "bins": [b for m in result.maps for b in map_dict(m)["bins"]],
            "not_covered": result.not_covered, "notes": result.notes, "source": result.source.to_dict(),
            "errors": [f.to_row() for f in result.failures]}


MAP_CSV = ("asset", "side", "low", "high", "price", "usd", "distance", "density")


def map_csv(result: LiquidationMapResult) -> str:
    """The bins of every map as CSV (USD, fractions)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MAP_CSV, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for m in result.maps:
        for row in map_dict(m)["bins"]:
            writer.writerow({k: ("" if row[k] is None else row[k]) for k in MAP_CSV})
    return buf.getvalue()


def bar(value: float, top: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``value`` against ``top`` (eighths of a cell)."""
    if top <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / top * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def _map_table(m: LiquidationMap) -> View:
    title = (f"{m.asset} ESTIMATED LIQUIDATION LEVELS (an estimate, not observed liquidations) "
             f"as of {m.time:%Y-%m-%d %H:%M} UTC")
    table = Table(title, [Column("Price range"), Column("Side", priority=4), Column("Est. USD", "right"),
                          Column("Dist.", "right", 2), Column("Estimated", priority=3), Column("Density", priority=1)])
    top = max((b.usd for b in m.bins), default=0.0)
    shorts = [b for b in m.bins if b.side == "short"]
    longs = [b for b in m.bins if b.side == "long"]
    for b in shorts:
        table.add_row(f"{price(b.low)} – {price(b.high)}", "short", usd(b.usd) if b.usd > 0 else "",
                      pct(b.distance, 1), bar(b.usd, top), DENSITY_LABELS.get(b.density or "", ""),
                      style="red" if b.density == "critical" else "")
    table.add_row(f"{price(m.price)} now", "", "", "", "", "", mark="▶", style="bold")
    for b in longs:
        table.add_row(f"{price(b.low)} – {price(b.high)}", "long", usd(b.usd) if b.usd > 0 else "",
                      pct(b.distance, 1), bar(b.usd, top), DENSITY_LABELS.get(b.density or "", ""),
                      style="red" if b.density == "critical" else "")
    bands, ratio = m.bands, m.ratio
    lines = [
        f"Shorts above (liquidated if price rises): {usd(m.short_usd)} within ±{m.params.range * 100:g} %, "
        f"{usd(m.short_beyond_usd)} beyond; longs below: {usd(m.long_usd)} within, {usd(m.long_beyond_usd)} beyond.",
        f"Density: against the median non-empty bin ({usd(m.density_median_usd)}): HIGH DENSITY at "
        f"{m.params.density_high:g}x, CRITICAL at {m.params.density_critical:g}x.",
    ]
    if bands.level is not None:
        lines.append(
            f"Cascade risk (seed bands): {bands.level.upper()} — {usd(bands.within_usd)} estimated within "
            f"{bands.near * 100:g} % (longs {usd(bands.within_long_usd)}, shorts {usd(bands.within_short_usd)}); "
            f"bands scaled x{bands.scale:.3g} to {usd(bands.total_oi_usd)} of open interest (the seed's "
            f"$500M / $200M / $100M are for {usd(bands.reference_oi_usd)}): critical > "
            f"{usd(bands.thresholds['critical'])}, high >= {usd(bands.thresholds['high'])}, medium >= "
            f"{usd(bands.thresholds['medium'])}.")
    else:
        lines.append(f"Cascade risk (seed bands): unknown — {usd(bands.within_usd)} estimated within "
                     f"{bands.near * 100:g} %, but no open interest to scale the bands to.")
    if ratio.level is not None:
        by_venue = ", ".join(f"{v} {usd(x)}" for v, x in ratio.venues.items())
        lines.append(f"Cascade ratio (seed): {ratio.level.upper()} — {usd(ratio.near_usd)} estimated within "
                     f"{ratio.near * 100:g} % / {usd(ratio.volume_24h_usd)} 24 h volume ({by_venue}) = "
                     f"{ratio.ratio:.3f} (extreme > 0.5, high > 0.25, elevated > 0.10)"
                     + (f"; {ratio.note}" if ratio.note else "")
                     + (f"; volumes: {ratio.source}" if ratio.source else "") + ".")
    else:
        lines.append(f"Cascade ratio (seed): n/a — {usd(ratio.near_usd)} estimated within {ratio.near * 100:g} %; "
                     f"{ratio.note}.")
    contributed = ", ".join(f"{s.venue} {s.symbol} {usd(s.alive_usd)}" for s in m.series if s.alive_usd > 0)
    lines.append(f"Contracts: {contributed or 'none'}.")
    view = View(table)
    for line in lines:
        view.add(Text(line))
    return view


def map_table(result: LiquidationMapResult) -> View:
    """Per asset: the ladder of bins (shorts above the price, longs below) with bars and density labels, the
    totals, the cascade risk with its inputs; then the method, venues left out and the source."""
    view = View()
    for m in result.maps:
        view.add(_map_table(m))
    p = result.params
    mix = ", ".join(f"{k:g}x {v * 100:g}%" for k, v in sorted(p.leverage.items()))
    view.add(Text(f"ESTIMATE, method {p.method_id}: {METHOD_TEXT}. Leverage mix {mix}; window "
                  f"{p.window_hours / 24:g} days.", style="dim"))
    if result.not_covered:
        view.add(Text("Not covered: " + "; ".join(f"{o['venue']} ({o['reason']})" for o in result.not_covered) + ".",
                      style="dim"))
    for note in result.notes:
        view.add(Text(note, style="dim"))
    src = result.source
    if src.kind == "store":
        view.add(Text(f"Source: the store {src.store} (open-interest history and klines; no network)", style="dim"))
    elif src.store and src.note:
        view.add(Text(f"Source: the venues (the store {src.store} could not answer: {src.note})", style="dim"))
    else:
        view.add(Text("Source: the venues", style="dim"))
    return view


# --- the score ----------------------------------------------------------------------------------------------------


def _hours(t: timedelta) -> float:
    return t.total_seconds() / 3600


def score_row(row: dict[str, Any]) -> dict[str, Any]:
    """One asset and method's score as JSON."""
    s: Score = row["score"]
    return {"asset": row["asset"], "method": row["method"], "estimates": s.snapshots, "scored": s.scored,
            "first": _ms_iso(row["first"]), "last": _ms_iso(row["last"]), "bins_scored": s.pairs,
            "liquidations": row["liquidations"], "realized_usd": s.realized_usd,
            "realized_unscored_usd": s.realized_unbinned_usd, "venues": row["venues"],
            "estimate_venues": row["estimate_venues"], "coverage": row["coverage"],
            "estimate": {"spearman": num(s.spearman), "top_k_share": num(s.top_k_share)},
            "baseline": {"spearman": num(s.baseline_spearman), "top_k_share": num(s.baseline_top_k_share),
                         **_ladder(row)},
            "beats_baseline": s.beats_baseline}


def _ladder(row: dict[str, Any]) -> dict[str, Any]:
    """The baseline's parameters: where they came from (``method``: the estimates' own, reproducing the method id;
    ``settings``: the current settings', which do not), the leverage mix and each estimate venue's rate."""
    got = row.get("baseline_params") or {"from": "settings", "leverage": {}, "maintenance_rate": {}}
    return {"parameters": got["from"], "leverage": got["leverage"], "maintenance_rate": got["maintenance_rate"]}


def score_json(result: LiquidationScoreResult) -> dict[str, Any]:
    """The ``liquidation_score`` document."""
    return {"as_of": iso(result.as_of), "estimate": True, "since": iso(result.since), "until": iso(result.until),
            "horizon_hours": _hours(result.horizon), "top_k": result.top_k, "assets": result.assets,
            "store": result.store,
            "method": ("each estimate frozen at t0 against the liquidations recorded in (t0, t0 + horizon], over "
                       "the bins price traversed then (kline closes); pooled over every (estimate, bin) pair: "
                       "Spearman rank correlation of estimated vs realized USD, and the share of realized USD in "
                       "each estimate's top_k traversed bins"),
            "baseline": ("leverage ladder: all open interest assumed opened at the price at t0, spread over the "
                         "map's leverage mix and maintenance rates (each estimate venue weighted equally); a bin's "
                         "weight is the share of that ladder whose liquidation price falls in it (longs below, "
                         "shorts above); no market history. Its parameters: the method's own where they reproduce "
                         "its id, else the current settings' (scores[].baseline.parameters)"),
            "scores": [score_row(r) for r in result.rows], "notes": result.notes, "note": result.note,
            "errors": [f.to_row() for f in result.failures]}


SCORE_CSV = ("asset", "method", "estimates", "scored", "bins_scored", "liquidations", "realized_usd",
             "estimate_spearman", "baseline_spearman", "estimate_top_k_share", "baseline_top_k_share",
             "beats_baseline")


def score_csv(result: LiquidationScoreResult) -> str:
    """One row per asset and method."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SCORE_CSV, lineterminator="\n")
    writer.writeheader()
    for r in result.rows:
        d = score_row(r)
        flat = {**{k: d[k] for k in SCORE_CSV if k in d},
                "estimate_spearman": d["estimate"]["spearman"], "baseline_spearman": d["baseline"]["spearman"],
                "estimate_top_k_share": d["estimate"]["top_k_share"],
                "baseline_top_k_share": d["baseline"]["top_k_share"]}
        writer.writerow({k: ("" if flat.get(k) is None else flat[k]) for k in SCORE_CSV})
    return buf.getvalue()


def _corr(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"


def _share(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f}%"


def _origin(row: dict[str, Any]) -> str:
    got = _ladder(row)
    return ("the method's own parameters" if got["parameters"] == "method" else
            "the current settings (they do not reproduce this method's id)")


def score_table(result: LiquidationScoreResult) -> View:
    """One row per asset and method: the estimate's figures beside the baseline's, and the verdict."""
    k = result.top_k
    table = Table(f"ESTIMATED LIQUIDATION MAP vs REALIZED LIQUIDATIONS since {result.since:%Y-%m-%d %H:%M} UTC "
                  f"(horizon {_hours(result.horizon):g} h)", [
                      Column("Asset"), Column("Method", priority=5), Column("Scored", "right", 3),
                      Column("Bins", "right", 6), Column("Realized", "right", 2), Column("Spearman", "right"),
                      Column("baseline", "right"), Column(f"Top-{k} share", "right"), Column("baseline ", "right"),
                      Column("Beats baseline")])
    for r in result.rows:
        s: Score = r["score"]
        verdict = {True: "yes", False: "no", None: "mixed" if s.spearman is not None and s.top_k_share is not None
                   else "n/a"}[s.beats_baseline]
        table.add_row(r["asset"], r["method"], f"{s.scored}/{s.snapshots}", str(s.pairs), usd(s.realized_usd),
                      _corr(s.spearman), _corr(s.baseline_spearman), _share(s.top_k_share),
                      _share(s.baseline_top_k_share), verdict)
    view = View(table)
    view.add(Text("Spearman: rank correlation of estimated and realized USD per traversed bin, pooled over every "
                  f"estimate; top-{k} share: realized USD in each estimate's {k} largest traversed bins. Baseline: "
                  "the leverage ladder: all open interest opened at the price then, over the map's leverage mix and "
                  "maintenance rates, no market history. Realized totals from sampled feeds "
                  "(Binance, OKX) are lower bounds.", style="dim"))
    for r in result.rows:
        cov = ", ".join(f"{v} {c}" for v, c in r["coverage"].items()) or "none recorded"
        view.add(Text(f"{r['asset']} {r['method']}: liquidations of {', '.join(r['venues']) or 'no venue'} "
                      f"({cov}); {usd(r['score'].realized_unbinned_usd)} realized outside the traversed bins; "
                      f"baseline ladder from {_origin(r)}.", style="dim"))
    for note in result.notes:
        view.add(Text(note, style="dim"))
    return view
