"""Open-interest analytics (pure): shares of the asset's total, 1 h .. 7 d changes, OI/price divergence.

Conventions:
- Everything is one-sided open interest. Totals and shares are in USD (each venue's figure converted
  with its own ``price_used``).
- Changes are in COIN terms (units of the asset), so a price move alone is not read as positioning:
  change over ``h`` = OI now / OI ``h`` ago − 1, where "now" is the current snapshot and the past value
  is interpolated linearly in time between the two history points around it (never extrapolated: a
  history that does not reach back far enough gives no change, with the reason).
- A venue's change is over its contracts that have history; the asset's total change is over the
  venues that have history, and says which.
- Divergence over a window: OI change against price change (price from the venue's klines), with
  thresholds; see ``classify`` and ``confidence``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from dtrack.records import Kind, LongShortRatio, OIHistory, OpenInterest, PricePoint

#: the change windows of ``--changes``
CHANGE_WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(hours=24), "7d": timedelta(days=7),
}

BULLISH = "bullish (new longs)"
BEARISH = "bearish (new shorts)"
SHORT_SQUEEZE = "short squeeze / short covering"
CAPITULATION = "long liquidation / capitulation"
NEUTRAL = "neutral"


def value_at(times_s: np.ndarray, values: np.ndarray, t_s: float) -> float | None:
    """The series' value at ``t_s`` (epoch seconds), linear between neighbours; None outside the series."""
    if times_s.size == 0 or t_s < times_s[0] or t_s > times_s[-1]:
        return None
    return float(np.interp(t_s, times_s, values))


def _series(points: Sequence[tuple[datetime, float]]) -> tuple[np.ndarray, np.ndarray]:
    ordered = sorted(points)
    return (np.array([t.timestamp() for t, _ in ordered], dtype=float),
            np.array([v for _, v in ordered], dtype=float))


def past_base(history: OIHistory, when: datetime) -> float | None:
    """One-sided OI (units of the asset) of a contract at ``when`` from its history (None if not covered)."""
    times, values = _series([(p.time, p.base) for p in history.points])
    return value_at(times, values, when.timestamp())


def price_change(points: Sequence[PricePoint], now: datetime, window: timedelta) -> float | None:
    """Price change over ``window`` ending at the series' latest point (at most ``now``), from closes."""
    if not points:
        return None
    times, values = _series([(p.time, p.price) for p in points if p.time <= now])
    if times.size == 0:
        return None
    past = value_at(times, values, times[-1] - window.total_seconds())
    return None if past is None or past <= 0 else float(values[-1] / past - 1.0)


def classify(oi_change: float, px_change: float, oi_threshold: float, price_threshold: float) -> str:
    """The seeds' four quadrants; ``neutral`` unless both moves clear their thresholds."""
    if abs(oi_change) <= oi_threshold or abs(px_change) <= price_threshold:
        return NEUTRAL
    if oi_change > 0:
        return BULLISH if px_change > 0 else BEARISH
    return SHORT_SQUEEZE if px_change > 0 else CAPITULATION


def strength(oi_change: float, px_change: float, oi_threshold: float, price_threshold: float) -> float:
    """How far both moves clear their thresholds, in [0, 1]: ``min(1, k / 3)`` where ``k`` is how many
    times the weaker move (relative to its threshold) exceeds it: 1/3 at the thresholds, 1 at three times them."""
    cleared = min(abs(oi_change) / oi_threshold, abs(px_change) / price_threshold)
    return float(min(1.0, cleared / 3.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class Divergence:
    """OI against price over a window, for one venue or the aggregate of an asset."""

    asset: str
    venue: str  # "all" for the aggregate
    window: timedelta
    oi_change: float | None
    price_change: float | None
    signal: str
    confidence: float
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OIRow:
    """One contract's open interest with its share of the asset's total and its changes."""

    oi: OpenInterest
    share: float
    changes: Mapping[str, float | None]
    change_note: str = ""
    long_short: LongShortRatio | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueOI:
    """One venue's open interest of one asset."""

    venue: str
    oi_usd: float
    share: float
    changes: Mapping[str, float | None]
    change_note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetOI:
    """Per-asset summary: the total, per-venue figures, changes, positioning."""

    asset: str
    total_oi_usd: float
    total_oi_base: float
    venues: tuple[VenueOI, ...]
    changes: Mapping[str, float | None]
    venues_with_history: tuple[str, ...]
    long_short: tuple[LongShortRatio, ...] = ()
    change_note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OIReport:
    """What ``dtrack oi`` shows."""

    time: datetime
    rows: tuple[OIRow, ...]
    summary: tuple[AssetOI, ...]
    divergence: tuple[Divergence, ...] = ()
    windows: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OIInputs:
    """What the venues answered, keyed for the analytics.

    ``histories``: (venue, symbol) -> history; ``missing_history``: venue -> why it has none (or why a
    contract has none: (venue, symbol) -> reason); ``prices``: (venue, asset) -> kline closes of the
    venue's reference perpetual.
    """

    oi: Sequence[OpenInterest]
    histories: Mapping[tuple[str, str], OIHistory] = field(default_factory=dict)
    missing_history: Mapping[str, str] = field(default_factory=dict)
    long_short: Sequence[LongShortRatio] = ()
    prices: Mapping[tuple[str, str], Sequence[PricePoint]] = field(default_factory=dict)


def _change(now_base: float, past: float | None) -> float | None:
    return None if past is None or past <= 0 else now_base / past - 1.0


def _group_change(rows: Sequence[OpenInterest], histories: Mapping[tuple[str, str], OIHistory],
                  when: datetime) -> float | None:
    """Change of the summed coin OI of ``rows`` (those with history) since ``when``."""
    now_sum = past_sum = 0.0
    for oi in rows:
        history = histories.get((oi.instrument.venue, oi.instrument.symbol))
        past = past_base(history, when) if history is not None else None
        if past is None:
            return None  # one contract not covered: the group's change would be biased
        now_sum += oi.base
        past_sum += past
    return _change(now_sum, past_sum) if rows else None


def _why_no_history(oi: OpenInterest, inputs: OIInputs) -> str:
    inst = oi.instrument
    if (inst.venue, inst.symbol) in inputs.histories:
        return ""
    return inputs.missing_history.get(f"{inst.venue}:{inst.symbol}") or inputs.missing_history.get(inst.venue) or (
        "history fetched for perpetuals only" if inst.kind is not Kind.PERP else "no history")


def build_oi_report(now: datetime, assets: Sequence[str], inputs: OIInputs, windows: Sequence[str],
                    divergence_window: timedelta | None, oi_threshold: float, price_threshold: float) -> OIReport:
    """Rows, per-asset summaries and (with ``divergence_window``) divergences from what the venues answered."""
    rows: list[OIRow] = []
    summary: list[AssetOI] = []
    divergence: list[Divergence] = []
    ls_by_symbol = {(r.venue, r.symbol): r for r in inputs.long_short}
    for asset in assets:
        ois = sorted((o for o in inputs.oi if o.instrument.asset == asset),
                     key=lambda o: (-o.usd, o.instrument.venue, o.instrument.symbol))
        total_usd = float(sum(o.usd for o in ois))
        with_history = [o for o in ois if (o.instrument.venue, o.instrument.symbol) in inputs.histories]
        for oi in ois:
            hist = inputs.histories.get((oi.instrument.venue, oi.instrument.symbol))
            changes = {w: (_change(oi.base, past_base(hist, now - CHANGE_WINDOWS[w])) if hist else None)
                       for w in windows}
            rows.append(OIRow(oi=oi, share=oi.usd / total_usd if total_usd > 0 else float("nan"), changes=changes,
                              change_note=_why_no_history(oi, inputs) if windows else "",
                              long_short=ls_by_symbol.get((oi.instrument.venue, oi.instrument.symbol))))
        venues = list(dict.fromkeys(o.instrument.venue for o in ois))
        per_venue: list[VenueOI] = []
        for venue in venues:
            mine = [o for o in ois if o.instrument.venue == venue]
            tracked = [o for o in mine if o in with_history]
            usd = float(sum(o.usd for o in mine))
            note = ""
            if windows and not tracked:
                note = inputs.missing_history.get(venue, "no history")
            elif windows and len(tracked) < len(mine):
                note = f"over {len(tracked)} of {len(mine)} contracts (those with history)"
            per_venue.append(VenueOI(venue=venue, oi_usd=usd, share=usd / total_usd if total_usd > 0 else float("nan"),
                                     changes={w: _group_change(tracked, inputs.histories, now - CHANGE_WINDOWS[w])
                                              for w in windows}, change_note=note))
        hist_venues = tuple(v for v in venues if any(o.instrument.venue == v for o in with_history))
        total_note = ""
        if windows:
            total_note = (f"over {', '.join(hist_venues)} (venues with history)" if hist_venues
                          else "no venue with open-interest history answered")
        summary.append(AssetOI(
            asset=asset, total_oi_usd=total_usd, total_oi_base=float(sum(o.base for o in ois)), venues=tuple(per_venue),
            changes={w: _group_change(with_history, inputs.histories, now - CHANGE_WINDOWS[w]) for w in windows},
            venues_with_history=hist_venues, long_short=tuple(r for r in inputs.long_short if r.asset == asset),
            change_note=total_note))
        if divergence_window is not None:
            divergence += asset_divergence(now, asset, ois, inputs, divergence_window, oi_threshold, price_threshold)
    return OIReport(time=now, rows=tuple(rows), summary=tuple(summary), divergence=tuple(divergence),
                    windows=tuple(windows))


def asset_divergence(now: datetime, asset: str, ois: Sequence[OpenInterest], inputs: OIInputs, window: timedelta,
                     oi_threshold: float, price_threshold: float) -> list[Divergence]:
    """Per-venue divergences of one asset and their aggregate.

    Aggregate: the OI change of the venues with both OI history and prices (summed coin OI), against
    their mean price change, classified the same way; its confidence is the strength of both moves
    (``strength``) times the agreement across venues: the USD-OI-weighted share of venues whose own
    signal equals the aggregate's.
    """
    out: list[Divergence] = []
    used: list[OpenInterest] = []
    moves: list[float] = []
    weights: dict[str, float] = {}
    for venue in dict.fromkeys(o.instrument.venue for o in ois):
        mine = [o for o in ois if o.instrument.venue == venue]
        tracked = [o for o in mine if (venue, o.instrument.symbol) in inputs.histories]
        oi_chg = _group_change(tracked, inputs.histories, now - window) if tracked else None
        px = inputs.prices.get((venue, asset))
        px_chg = price_change(px, now, window) if px else None
        if oi_chg is None or px_chg is None:
            why = ("no open-interest history: " + inputs.missing_history.get(venue, "none answered")
                   if oi_chg is None else "no price history")
            out.append(Divergence(asset=asset, venue=venue, window=window, oi_change=oi_chg, price_change=px_chg,
                                  signal="n/a", confidence=0.0, note=why))
            continue
        signal = classify(oi_chg, px_chg, oi_threshold, price_threshold)
        conf = strength(oi_chg, px_chg, oi_threshold, price_threshold) if signal != NEUTRAL else 0.0
        out.append(Divergence(asset=asset, venue=venue, window=window, oi_change=oi_chg, price_change=px_chg,
                              signal=signal, confidence=conf))
        used += tracked
        moves.append(px_chg)
        weights[venue] = float(sum(o.usd for o in mine))
    if not used:
        out.append(Divergence(asset=asset, venue="all", window=window, oi_change=None, price_change=None,
                              signal="n/a", confidence=0.0, note="no venue with both OI and price history"))
        return out
    oi_all = _group_change(used, inputs.histories, now - window)
    px_all = float(np.mean(moves))
    if oi_all is None:  # cannot happen: every used contract has history covering the window
        return out
    signal = classify(oi_all, px_all, oi_threshold, price_threshold)
    agree = sum(w for v, w in weights.items() if any(d.venue == v and d.signal == signal for d in out))
    agreement = agree / sum(weights.values()) if sum(weights.values()) > 0 else 0.0
    conf = strength(oi_all, px_all, oi_threshold, price_threshold) * agreement if signal != NEUTRAL else 0.0
    out.append(Divergence(asset=asset, venue="all", window=window, oi_change=oi_all, price_change=px_all,
                          signal=signal, confidence=conf,
                          note=f"over {', '.join(weights)}; agreement {agreement:.0%} of OI"))
    return out
