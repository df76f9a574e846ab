"""The dashboard query: every panel of every asset at once, built FROM the results of the other queries.

One concurrent round: ``funding`` (with its arbitrage at level 3), ``open_interest`` (with changes, and the
OI/price divergence at level 3), ``basis`` (with its carry trades at level 3), ``options`` (one call per asset, so
an asset without listed options leaves only its own panel empty), ``liquidations`` and, at level 3, the estimated
``liquidation_map`` where this build has them, and the stored history behind the sparklines (levels 2 and 3).
The venues' requests of those queries go out together (identical requests in flight are shared by the adapters,
the instrument lists come from the disk cache), so a warm dashboard costs one round of requests.

Each panel is the other query's JSON document (``to_dict()``), cut to the asset and to the fields the dashboard
shows: its numbers are those of ``dtrack funding``, ``oi``, ``basis`` and ``options`` for the same moment, never
recomputed differently. A panel whose query failed says so (``panels``); its venues' failures are the result's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dtrack.client.inputs import as_list, check_readable, parsed_assets
from dtrack.errors import DtrackError, SymbolNotFound, UsageError
from dtrack.results import DashboardResult, Failure, Result, unique

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient

log = logging.getLogger(__name__)

LEVELS = (1, 2, 3)
#: the window of the liquidation totals and the stored history behind the sparklines
LIQUIDATION_WINDOW = "24h"
HISTORY_SPAN = "7d"
#: points of a sparkline
SPARK_POINTS = 48
#: the panels, in the order the dashboard shows them
PANELS = ("funding", "open_interest", "liquidations", "basis", "options", "history", "liquidation_map")


@dataclass(slots=True)
class Outcome:
    """What one panel's query gave: its result, or why there is none (``status`` ``unavailable``: nothing to
    ask, e.g. a method this build lacks or a venue that does not offer the data; ``failed``: an error)."""

    result: Any = None
    status: str = "ok"
    message: str = ""
    failures: list[Failure] = field(default_factory=list)


async def _outcome(panel: str, make: Callable[[], Awaitable[Any]]) -> Outcome:
    try:
        return Outcome(await make())
    except (UsageError, SymbolNotFound) as exc:
        return Outcome(status="unavailable", message=str(exc))
    except DtrackError as exc:
        return Outcome(status="failed", message=f"{panel}: {exc}", failures=[Failure.of("dashboard", exc)])


def _check(texts: Sequence[str], level: int) -> None:
    if not texts:
        raise UsageError("name at least one asset, e.g. dtrack dashboard BTC ETH SOL")
    check_readable(texts)
    if isinstance(level, bool) or level not in LEVELS:
        raise UsageError(f"bad --level {level!r}: expected 1 (one line per asset), 2 (panels) or 3 (panels, signals "
                         "and risk)")


async def run(client: AsyncClient, assets: str | Sequence[str], *, level: int = 2,
              live: bool = False) -> DashboardResult:
    """See ``AsyncClient.dashboard``."""
    import dtrack.analytics.basis
    import dtrack.analytics.open_interest
    import dtrack.analytics.options_desk  # noqa: F401 - imported before the queries start, not between their requests
    from dtrack.analytics import signals

    texts = as_list(assets)
    _check(texts, level)
    names = parsed_assets(texts) or [t.upper() for t in texts]
    deep = level >= 3
    jobs: dict[str, Callable[[], Awaitable[Any]]] = {
        "funding": lambda: client.funding(texts, arb=deep, live=live),
        "open_interest": lambda: client.open_interest(texts, changes=True, divergence=deep, live=live),
        "basis": lambda: client.basis(texts, min_yield=0.0 if deep else None, live=live),
        "liquidations": lambda: _liquidations(client, names),
    }
    for name in names:
        jobs[f"options:{name}"] = lambda name=name: client.options(name, live=live)  # type: ignore[misc]
    if level >= 2:
        jobs["history"] = lambda: _history(client, names)
    if deep:
        jobs["liquidation_map"] = lambda: _liquidation_map(client, names)
    done = await asyncio.gather(*(_outcome(k.split(":")[0], make) for k, make in jobs.items()))
    got = dict(zip(jobs, done, strict=True))
    core = [got["funding"], got["open_interest"], got["basis"]]
    if all(o.status == "unavailable" for o in core):  # bad input (an unknown asset): said once, as a usage error
        raise UsageError(got["funding"].message)
    now = client.now()
    settings = client.settings
    docs = {k: o.result.to_dict() for k, o in got.items()
            if o.status == "ok" and isinstance(o.result, Result)}
    thresholds = signals.Thresholds(
        sentiment_extreme=settings.funding.sentiment.extreme, sentiment_strong=settings.funding.sentiment.strong,
        rank_high=settings.options.rank_high, rank_low=settings.options.rank_low)
    rows = []
    for name in names:
        rows.append(_asset(name, level, docs, got, thresholds))
    failures: list[Failure] = []
    for o in got.values():
        if isinstance(o.result, Result):
            failures += o.result.failures
        failures += o.failures
    venue_panels = [got[k] for k in jobs if k.split(":")[0] in ("funding", "open_interest", "basis", "options")]
    all_failed = all(o.status != "ok" or (isinstance(o.result, Result) and o.result.all_failed) for o in venue_panels)
    document = {
        "as_of": now, "level": level, "assets": rows, "panels": _panels(jobs, got),
        "sources": {k: docs[k].get("source") for k in docs
                    if k in ("funding", "open_interest", "basis") or k.startswith("options:")},
    }
    return DashboardResult(as_of=now, failures=unique(failures), all_failed=all_failed, level=level,
                           document=document)


# --- the panels ---------------------------------------------------------------------------------------------------


def _panels(jobs: Mapping[str, Any], got: Mapping[str, Outcome]) -> list[dict[str, Any]]:
    """Per panel: ``ok``, ``partial`` (some venues or some assets failed), ``failed``, ``unavailable`` (nothing to
    ask: a method this build lacks, a venue that does not offer the data) or ``none`` (asked, nothing held), with a
    message saying what is missing."""
    parts: dict[str, list[tuple[str, str, str]]] = {}
    for key in jobs:
        panel, _, asset = key.partition(":")
        o = got[key]
        status, message = o.status, o.message
        if status == "ok" and isinstance(o.result, Result):
            if o.result.all_failed:
                status, message = "failed", "no venue answered"
            elif o.result.failures:
                status = "partial"
                message = "failed: " + ", ".join(dict.fromkeys(f.venue for f in o.result.failures))
        elif status == "ok" and isinstance(o.result, dict):
            status, message = o.result.get("status", "ok"), o.result.get("note", "")
        parts.setdefault(panel, []).append((asset, status, message))
    out = []
    for panel in PANELS:
        if panel not in parts:
            continue
        states = {s for _, s, _ in parts[panel]}
        status = states.pop() if len(states) == 1 else "partial"
        message = "; ".join(f"{a}: {m}" if a and len(parts[panel]) > 1 else m for a, _, m in parts[panel] if m)
        out.append({"panel": panel, "status": status, "message": message})
    return out


def _asset(name: str, level: int, docs: Mapping[str, dict[str, Any]], got: Mapping[str, Outcome],
           thresholds: Any) -> dict[str, Any]:
    from dtrack.analytics import signals

    funding = _funding(docs.get("funding"), name)
    oi = _open_interest(docs.get("open_interest"), name)
    basis = _basis(docs.get("basis"), name)
    options = _options(docs.get(f"options:{name}"), name)
    liq = _liquidation_panel(got["liquidations"], name)
    row: dict[str, Any] = {"asset": name, "headline": _headline(funding, oi, basis, options, liq)}
    if level >= 2:
        row.update(funding=funding, open_interest=oi, liquidations=liq, basis=basis, options=options,
                   history=_history_panel(got.get("history"), name, funding))
    else:
        row.update(funding=None, open_interest=None, liquidations=None, basis=None, options=None, history=None)
    if level >= 3:
        extra = {
            "divergence": _divergence(docs.get("open_interest"), name),
            "arbitrage": [p for p in (docs.get("funding") or {}).get("arbitrage") or [] if p["asset"] == name][:3],
            "carry": [o for o in (docs.get("basis") or {}).get("opportunities") or [] if o["asset"] == name][:3],
            "cascade": _cascade(got.get("liquidation_map"), name),
        }
        row["signals"] = signals.signals(row, extra, thresholds)
        row["risk"] = signals.risk(row, extra, thresholds)
    else:
        row["signals"] = None
        row["risk"] = None
    return row


FUNDING_FIELDS = ("venue", "symbol", "rate", "interval_hours", "rate_8h", "apr", "avg_24h_8h", "avg_7d_8h",
                  "next_funding_time", "open_interest_usd", "alert", "time")


def _funding(doc: dict[str, Any] | None, asset: str) -> dict[str, Any] | None:
    """The asset's rates (each venue's largest perpetual by open interest marked ``primary``) and summary."""
    if doc is None:
        return None
    rates = [r for r in doc["rates"] if r["asset"] == asset]
    summary = next((s for s in doc["summary"] if s["asset"] == asset), None)
    if not rates and summary is None:
        return None
    primary: dict[str, dict[str, Any]] = {}
    for r in rates:
        best = primary.get(r["venue"])
        if best is None or (r["open_interest_usd"] or 0.0) > (best["open_interest_usd"] or 0.0):
            primary[r["venue"]] = r
    chosen = {id(r) for r in primary.values()}
    return {"rates": [{**{k: r[k] for k in FUNDING_FIELDS}, "primary": id(r) in chosen} for r in rates],
            "weighted_rate_8h": summary["weighted_rate_8h"] if summary else None,
            "apr": summary["apr"] if summary else None,
            "sentiment": summary["sentiment"] if summary else None,
            "sentiment_label": summary["sentiment_label"] if summary else None,
            "weighting": summary["weighting_note"] if summary else None}


CHANGES = ("change_1h", "change_4h", "change_24h", "change_7d")


def _open_interest(doc: dict[str, Any] | None, asset: str) -> dict[str, Any] | None:
    """The asset's total, its changes, the venues' figures and shares, and one long/short reading (the accounts
    ratio of the venue with the most open interest that publishes one)."""
    if doc is None:
        return None
    s = next((s for s in doc["summary"] if s["asset"] == asset), None)
    if s is None:
        return None
    order = [v["venue"] for v in sorted(s["venues"], key=lambda v: -(v["oi_usd"] or 0.0))]
    ls = sorted(s["long_short"], key=lambda r: (order.index(r["venue"]) if r["venue"] in order else len(order),
                                                 "top-trader" in r["definition"]))
    return {"total_oi_usd": s["total_oi_usd"], "total_oi_base": s["total_oi_base"], **{k: s[k] for k in CHANGES},
            "change_note": s["change_note"],
            "venues": [{"venue": v["venue"], "oi_usd": v["oi_usd"], "share": v["share"],
                        "change_24h": v["change_24h"], "change_7d": v["change_7d"], "change_note": v["change_note"]}
                       for v in sorted(s["venues"], key=lambda v: -(v["oi_usd"] or 0.0))],
            "long_short": ({k: ls[0][k] for k in ("venue", "symbol", "definition", "ratio", "long_share")}
                           if ls else None)}


def _divergence(doc: dict[str, Any] | None, asset: str) -> dict[str, Any] | None:
    if doc is None:
        return None
    return next((d for d in doc.get("divergence") or [] if d["asset"] == asset and d["venue"] == "all"), None)


def _basis(doc: dict[str, Any] | None, asset: str) -> dict[str, Any] | None:
    """Spot, the structure, the term structure of the dated futures and the constant-maturity basis."""
    if doc is None:
        return None
    s = next((s for s in doc["summary"] if s["asset"] == asset), None)
    if s is None:
        return None
    perps = [r for r in doc["rows"] if r["asset"] == asset and r["kind"] == "perp"]
    return {"spot_price": s["spot_price"], "spot_source": s["spot_source"], "structure": s["structure"],
            "perp_basis_min": min((r["basis"] for r in perps), default=None),
            "perp_basis_max": max((r["basis"] for r in perps), default=None),
            "term_structure": list(doc["term_structure"].get(asset, [])),
            "constant_maturity": list(doc["constant_maturity"].get(asset, []))}


EXPIRY_FIELDS = ("venue", "expiry", "days", "atm_iv", "rr25", "bf25", "pcr_oi", "max_pain", "oi_usd")


def _options(doc: dict[str, Any] | None, asset: str) -> dict[str, Any] | None:
    """The volatility regime, the ATM IV (30-day constant maturity of the venue with the most option open
    interest, else its nearest expiry), and the shown expiries per venue and across venues."""
    if doc is None:
        return None
    s = next((s for s in doc["summary"] if s["asset"] == asset), None)
    if s is None:
        return None
    expiries = [e for e in doc["expiries"] if e["asset"] == asset]
    oi_by_venue: dict[str, float] = {}
    for e in expiries:
        oi_by_venue[e["venue"]] = oi_by_venue.get(e["venue"], 0.0) + (e["oi_usd"] or 0.0)
    main = max(oi_by_venue, key=lambda v: oi_by_venue[v]) if oi_by_venue else None
    atm_iv, atm_days = None, None
    cm = next((c for c in doc["constant_maturity"] if c["asset"] == asset and c["venue"] == main and c["days"] == 30),
              None)
    if cm is not None and cm["iv"] is not None:
        atm_iv, atm_days = cm["iv"], 30.0
    else:
        near = next((e for e in sorted(expiries, key=lambda e: e["days"]) if e["venue"] == main
                     and e["atm_iv"] is not None), None)
        if near is not None:
            atm_iv, atm_days = near["atm_iv"], near["days"]
    return {**{k: s[k] for k in ("spot", "dvol", "iv_rank", "iv_percentile", "rv_30d", "iv_rv_spread",
                                 "interpretation", "pcr_oi", "total_oi_usd", "note")},
            "atm_iv": atm_iv, "atm_iv_venue": main, "atm_iv_days": atm_days,
            "expiries": [{k: e[k] for k in EXPIRY_FIELDS} for e in expiries],
            "aggregate": [{k: e[k] for k in EXPIRY_FIELDS} for e in doc["aggregate"] if e["asset"] == asset]}


def _headline(funding: dict[str, Any] | None, oi: dict[str, Any] | None, basis: dict[str, Any] | None,
              options: dict[str, Any] | None, liq: dict[str, Any]) -> dict[str, Any]:
    """Level 1: the largest perpetual's funding, the OI-weighted funding and its sentiment, total open interest and
    its 24 h change, 24 h liquidations long/short, the 3-month (90-day constant maturity) basis, ATM IV, IV rank."""
    top = max(funding["rates"], key=lambda r: r["open_interest_usd"] or 0.0) if funding and funding["rates"] else None
    cm90 = next((c for c in (basis or {}).get("constant_maturity", []) if c["days"] == 90), None)
    ok = liq.get("status") == "ok"
    return {
        "funding_venue": top["venue"] if top else None, "funding_symbol": top["symbol"] if top else None,
        "funding_rate_8h": top["rate_8h"] if top else None,
        "weighted_rate_8h": funding["weighted_rate_8h"] if funding else None,
        "weighted_apr": funding["apr"] if funding else None,
        "sentiment": funding["sentiment"] if funding else None,
        "sentiment_label": funding["sentiment_label"] if funding else None,
        "oi_usd": oi["total_oi_usd"] if oi else None, "oi_change_24h": oi["change_24h"] if oi else None,
        "liquidations_long_usd_24h": liq.get("long_usd") if ok else None,
        "liquidations_short_usd_24h": liq.get("short_usd") if ok else None,
        "liquidations_lower_bound": liq.get("lower_bound") if ok else None,
        "basis_3m_annualized": cm90["annualized"] if cm90 else None,
        "atm_iv": options["atm_iv"] if options else None, "iv_rank": options["iv_rank"] if options else None,
    }


# --- liquidations (another query; tolerant of a build without it) ----------------------------------------------------

NOT_IN_BUILD = "not available in this build"


async def _liquidations(client: AsyncClient, assets: Sequence[str]) -> Any:
    """The 24 h liquidation totals from ``AsyncClient.liquidations`` (the store, or what the collector recorded),
    never a live listen: a dashboard does not wait for one. A build without that query: a note, not a guess."""
    method = getattr(client, "liquidations", None)
    if method is None:
        return {"status": "unavailable", "note": f"liquidations: {NOT_IN_BUILD}"}
    if client.consult_store() is None:  # nothing recorded to read (and a simulated client would listen instead)
        return {"status": "none", "note": "liquidations: no history store was read (`dtrack collect` records them; "
                                          "`dtrack liquidations ASSET --listen 60s` listens live)"}
    return await method(list(assets), since=LIQUIDATION_WINDOW)


async def _liquidation_map(client: AsyncClient, assets: Sequence[str]) -> Any:
    """The estimated liquidation map and its cascade risk, where this build has it."""
    method = getattr(client, "liquidation_map", None)
    if method is None:
        return {"status": "unavailable", "note": f"liquidation map (cascade risk): {NOT_IN_BUILD}"}
    return await method(list(assets))


def _liquidation_panel(outcome: Outcome, asset: str) -> dict[str, Any]:
    """The asset's 24 h liquidations, long and short, from the liquidations result's own JSON totals; or what is
    missing (never a made-up figure)."""
    base: dict[str, Any] = {"status": "unavailable", "note": "", "window": LIQUIDATION_WINDOW, "long_usd": None,
                            "short_usd": None, "total_usd": None, "long_short_ratio": None, "lower_bound": None,
                            "partial": None, "venues_not_covered": []}
    if outcome.status != "ok":
        return {**base, "status": outcome.status, "note": outcome.message}
    if isinstance(outcome.result, dict):
        return {**base, "status": outcome.result.get("status", "unavailable"), "note": outcome.result.get("note", "")}
    doc = outcome.result.to_dict()
    total = next((t for t in doc.get("totals") or [] if t.get("asset") == asset
                  and t.get("window") == LIQUIDATION_WINDOW), None)
    if total is None:
        note = "; ".join(doc.get("notes") or []) or f"no {LIQUIDATION_WINDOW} liquidation totals for {asset}"
        return {**base, "status": "none", "note": note}
    if not total.get("count") and not total.get("covered_seconds"):
        note = f"no liquidation of {asset} recorded in the last {LIQUIDATION_WINDOW} (`dtrack collect` records them)"
        return {**base, "status": "none", "note": note}
    said: list[str] = []
    if total.get("lower_bound"):
        said.append(f"a lower bound: {', '.join(total.get('sampled_venues') or [])} publish a sample")
    if total.get("partial"):
        said.append(f"covers {float(total.get('covered_seconds') or 0) / 3600:.1f} h of the {LIQUIDATION_WINDOW}")
    return {**base, "status": "ok", "note": "; ".join(said), "long_usd": total.get("long_usd"),
            "short_usd": total.get("short_usd"), "total_usd": total.get("total_usd"),
            "long_short_ratio": total.get("long_short_ratio"), "lower_bound": total.get("lower_bound"),
            "partial": total.get("partial"), "venues_not_covered": list(total.get("venues_not_covered") or [])}


def _cascade(outcome: Outcome | None, asset: str) -> dict[str, Any]:
    """The cascade risk of the estimated liquidation map (an estimate): the seed-000 band level with the USD
    estimated near the price, and the seed-004 ratio to 24 h volume; or what is missing."""
    if outcome is None:
        return {"status": "unavailable", "note": ""}
    if outcome.status != "ok":
        return {"status": outcome.status, "note": outcome.message}
    if isinstance(outcome.result, dict):
        return {"status": outcome.result.get("status", "unavailable"), "note": outcome.result.get("note", "")}
    doc = outcome.result.to_dict()
    m = next((m for m in doc.get("maps") or [] if m.get("asset") == asset), None)
    cascade = (m or {}).get("cascade") or {}
    bands, ratio = cascade.get("bands") or {}, cascade.get("ratio") or {}
    if not bands:
        note = "; ".join(doc.get("notes") or []) or f"the liquidation map gave no cascade risk for {asset}"
        return {"status": "none", "note": note}
    return {"status": "ok", "note": "an estimate (dtrack liquidations --map)", "level": bands.get("level"),
            "within": bands.get("within"), "within_usd": bands.get("within_usd"),
            "total_oi_usd": bands.get("total_oi_usd"), "scale": bands.get("scale"),
            "ratio_level": ratio.get("level"), "ratio": ratio.get("ratio"),
            "volume_24h_usd": ratio.get("volume_24h_usd")}


# --- stored history (sparklines) -------------------------------------------------------------------------------------


async def _history(client: AsyncClient, assets: Sequence[str]) -> Any:
    """The stored funding settlements and open-interest history of the last ``HISTORY_SPAN`` (the store only; with
    ``sim=True`` only a store named to the client)."""
    if client.consult_store() is None:
        return {"status": "unavailable", "note": "sparklines: no history store was read (`dtrack collect` or "
                                                 "`dtrack backfill` fill one; with --sim, name it with --store)"}
    funding, oi = await asyncio.gather(_stored(client, "funding", assets), _stored(client, "oi", assets))
    return {"status": "ok", "note": "", "funding": funding, "oi": oi}


async def _stored(client: AsyncClient, kind: str, assets: Sequence[str]) -> list[dict[str, Any]]:
    try:
        result = await client.history(kind, list(assets), since=HISTORY_SPAN)
    except DtrackError as exc:
        log.info("dashboard: no stored %s history: %s", kind, exc)
        return []
    return list(result.rows)


def _history_panel(outcome: Outcome | None, asset: str, funding: dict[str, Any] | None) -> dict[str, Any] | None:
    """Sparkline series: per venue the 8 h-equivalent funding of its primary perpetual, and the asset's total open
    interest (USD), over the last ``HISTORY_SPAN`` of the store, each at most ``SPARK_POINTS`` points."""
    from dtrack.analytics.signals import downsample, total_series

    empty: dict[str, Any] = {"status": "unavailable", "note": "", "span": HISTORY_SPAN, "funding": [], "oi": None}
    if outcome is None:
        return None
    if outcome.status != "ok" or not isinstance(outcome.result, dict):
        return {**empty, "status": outcome.status, "note": outcome.message}
    got = outcome.result
    if got.get("status") != "ok":
        return {**empty, "status": got.get("status", "unavailable"), "note": got.get("note", "")}
    primary = {(r["venue"], r["symbol"]) for r in (funding or {}).get("rates", []) if r["primary"]}
    series: list[dict[str, Any]] = []
    for venue, symbol in sorted(primary):
        points = [(p["time"], p["rate_8h"]) for p in got["funding"]
                  if p["asset"] == asset and p["venue"] == venue and p["symbol"] == symbol and p["rate_8h"] is not None]
        if len(points) >= 2:
            series.append({"venue": venue, "symbol": symbol, **downsample(points, SPARK_POINTS)})
    oi_points = [(p["time"], p["venue"], p["symbol"], p["oi_usd"]) for p in got["oi"]
                 if p["asset"] == asset and p["oi_usd"] is not None]
    total = total_series(oi_points)
    oi = {**downsample(total, SPARK_POINTS)} if len(total) >= 2 else None
    note = "" if series or oi else f"the store holds no funding or open-interest history of {asset} in {HISTORY_SPAN}"
    return {"status": "ok" if series or oi else "none", "note": note, "span": HISTORY_SPAN, "funding": series,
            "oi": oi}
