"""The options desk (pure): from venue option quotes, DVOL, prices and trades to what ``dtrack options`` shows.

Built on ``dtrack.analytics.options`` (Black-76, IV solver, metrics). Choices, stated once:
- IV: the venue's mark IV where it sends one (``iv_source`` "venue"); otherwise solved from the USD mark
  price on the venue's underlying price (``"solved"``). Bid/ask IVs likewise (solved from bid/ask prices).
- Greeks shown and used for GEX are dtrack's Black-76 greeks at the mark IV on the venue's underlying price
  (one definition across venues; venue greeks, where published, are reported beside them).
- Forward of an expiry: the venue's underlying price for that expiry (the median over its options); when
  a venue sends none, put-call parity at the strike nearest the money (F = K + C − P, r = 0).
- Open interest and volume are summed in COINS (contracts x contract size) so venues with different
  contract sizes add up; ``oi_contracts`` keeps the venue's own count.
- Aggregate per expiry date across venues: OI, volume PCR, and max pain over the combined OI by strike.
- RV (30 d) = close-to-close realized volatility of 30 daily returns of a perpetual of the asset, x sqrt(365).
- IV rank / percentile over the last 365 days of daily DVOL closes (Deribit, BTC and ETH); the IV-RV spread
  uses DVOL where it exists, else the 30-day constant-maturity ATM IV.
- From per-expiry metrics computed earlier (the history store's ``option_expiries``: ``report_from_expiries``), the
  views that need no chain are rebuilt with the same code: each expiry's metrics as computed then (``days`` too: as
  of when the chain was read, so the term structure and constant maturity interpolate IVs and maturities of one
  moment), the cross-venue aggregate as stored, the summary without GEX (that needs the chain).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from dtrack.analytics import options as opt
from dtrack.records import OptionExpiry, OptionQuote, OptionTrade, PricePoint, VolPoint

CM_DAYS = (7, 30, 60, 90, 180)
RANK_DAYS = 365
#: where an expiry's forward comes from (``ExpiryRow.forward_source``), by the token JSON and the store use
FORWARD_LABELS = {"venue": "venue underlying price", "put_call_parity": "put-call parity (r = 0)",
                  "per_venue": "per venue"}
NO_FORWARD = "no forward: no underlying price and no call/put pair"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainRow:
    """One option with its IVs and dtrack's greeks."""

    quote: OptionQuote
    mark_iv: float | None
    iv_source: str
    bid_iv: float | None
    ask_iv: float | None
    delta: float | None
    gamma: float | None
    vega: float | None
    theta: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpiryRow:
    """Metrics of one expiry on one venue (``venue`` "all" for the cross-venue aggregate)."""

    venue: str
    asset: str
    expiry: datetime
    days: float
    forward: float | None
    forward_source: str
    atm_iv: float | None
    rr25: float | None
    bf25: float | None
    pcr_oi: float | None
    pcr_volume: float | None
    pcr_premium: float | None
    max_pain: float | None
    oi_contracts: float | None
    oi_coins: float
    oi_usd: float
    volume_usd: float
    options: int
    call_oi: float = 0.0
    put_oi: float = 0.0
    call_volume: float = 0.0
    put_volume: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CMPoint:
    """ATM IV at a constant maturity on one venue."""

    venue: str
    asset: str
    days: int
    iv: float | None
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetSummary:
    """The volatility regime and positioning of one asset."""

    asset: str
    spot: float | None
    dvol: float | None
    iv_rank: float | None
    iv_percentile: float | None
    rv_30d: float | None
    rv_source: str
    iv_rv_spread: float | None
    interpretation: str
    pcr_oi: float | None
    pcr_volume: float | None
    total_oi_usd: float
    gex_total_usd: float | None = None
    gex_flip: float | None = None
    note: str = ""
    #: the venues' own published realized volatility (the latest point of each), beside dtrack's rv_30d
    venue_rv: tuple[VolPoint, ...] = ()


@dataclass(frozen=True, slots=True)
class GexPoint:
    """Dealer gamma exposure at one strike (USD per 1 % move of the underlying)."""

    asset: str
    strike: float
    gex_usd: float


@dataclass(frozen=True, slots=True)
class FlowReport:
    """Large trades and their largest (expiry, strike, type) groups by premium."""

    trades: tuple[OptionTrade, ...]
    groups: tuple[opt.FlowGroup, ...]
    min_size: str


@dataclass(frozen=True, slots=True)
class DeskOptions:
    """What to show and the conventions from settings."""

    selected: Mapping[str, tuple[datetime, ...]] = field(default_factory=dict)  # asset -> expiries shown
    rank_high: float = 0.8
    rank_low: float = 0.2
    call_sign: float = -1.0
    put_sign: float = 1.0
    min_coins: float | None = None
    min_usd: float | None = None
    top_trades: int = 50


@dataclass(frozen=True, slots=True)
class DeskInputs:
    """What the venues answered: quotes, DVOL daily closes and perp daily closes by asset, trades."""

    quotes: Sequence[OptionQuote]
    dvol: Mapping[str, Sequence[VolPoint]] = field(default_factory=dict)
    closes: Mapping[str, tuple[str, Sequence[PricePoint]]] = field(default_factory=dict)  # asset -> (source, closes)
    trades: Sequence[OptionTrade] | None = None
    #: asset -> the venues' published realized volatility series (Deribit, Bybit)
    venue_rv: Mapping[str, Sequence[VolPoint]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionsReport:
    """What ``dtrack options`` shows."""

    time: datetime
    expiries: tuple[ExpiryRow, ...]
    aggregate: tuple[ExpiryRow, ...]
    term_structure: tuple[ExpiryRow, ...]
    constant_maturity: tuple[CMPoint, ...]
    summary: tuple[AssetSummary, ...]
    chain: tuple[ChainRow, ...]
    gex: tuple[GexPoint, ...]
    flow: FlowReport | None


def _opt(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _arr(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def chain_rows(now: datetime, quotes: Sequence[OptionQuote]) -> list[ChainRow]:
    """IVs (venue or solved) and dtrack greeks for a set of options, vectorized."""
    if not quotes:
        return []
    f = _arr([q.underlying_price for q in quotes])
    k = _arr([q.strike for q in quotes])
    t = np.array([opt.year_fraction(q.expiry, now) for q in quotes])
    call = np.array([q.is_call for q in quotes])
    venue_iv = _arr([q.mark_iv for q in quotes])
    solved, _ = opt.implied_vol(_arr([q.mark_price_usd for q in quotes]), f, k, t, call)
    iv = np.where(np.isfinite(venue_iv), venue_iv, solved)
    bid_solved, _ = opt.implied_vol(_arr([q.bid_price_usd for q in quotes]), f, k, t, call)
    ask_solved, _ = opt.implied_vol(_arr([q.ask_price_usd for q in quotes]), f, k, t, call)
    bid = np.where(np.isfinite(_arr([q.bid_iv for q in quotes])), _arr([q.bid_iv for q in quotes]), bid_solved)
    ask = np.where(np.isfinite(_arr([q.ask_iv for q in quotes])), _arr([q.ask_iv for q in quotes]), ask_solved)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = opt.greeks(f, k, t, np.where(np.isfinite(iv), iv, 0.0), call)
    ok = np.isfinite(iv) & (t > 0)
    rows = []
    for i, q in enumerate(quotes):
        source = "venue" if math.isfinite(venue_iv[i]) else ("solved" if math.isfinite(solved[i]) else "none")
        rows.append(ChainRow(quote=q, mark_iv=_opt(iv[i]), iv_source=source, bid_iv=_opt(bid[i]), ask_iv=_opt(ask[i]),
                             delta=_opt(g.delta[i]) if ok[i] else None, gamma=_opt(g.gamma[i]) if ok[i] else None,
                             vega=_opt(g.vega[i]) if ok[i] else None, theta=_opt(g.theta[i]) if ok[i] else None))
    return rows


def forward_of(rows: Sequence[ChainRow]) -> tuple[float | None, str]:
    """The forward of one expiry: the venue's underlying price, else put-call parity nearest the money."""
    unders = [r.quote.underlying_price for r in rows if r.quote.underlying_price and r.quote.underlying_price > 0]
    if unders:
        return float(statistics.median(unders)), FORWARD_LABELS["venue"]
    calls = {r.quote.strike: r.quote.mark_price_usd for r in rows if r.quote.is_call and r.quote.mark_price_usd}
    puts = {r.quote.strike: r.quote.mark_price_usd for r in rows if not r.quote.is_call and r.quote.mark_price_usd}
    both = [(abs(calls[k] - puts[k]), k) for k in calls.keys() & puts.keys()]
    if not both:
        return None, NO_FORWARD
    _, k = min(both)
    return k + calls[k] - puts[k], FORWARD_LABELS["put_call_parity"]


def expiry_row(venue: str, asset: str, now: datetime, expiry: datetime, rows: Sequence[ChainRow]) -> ExpiryRow:
    """Metrics of one expiry on one venue (OI and volume in coins)."""
    forward, source = forward_of(rows)
    days = (expiry - now).total_seconds() / 86_400
    coins = _arr([r.quote.open_interest * r.quote.contract_size for r in rows])
    volume = _arr([r.quote.volume * r.quote.contract_size for r in rows])
    if forward is None:
        return ExpiryRow(venue=venue, asset=asset, expiry=expiry, days=days, forward=None, forward_source=source,
                         atm_iv=None, rr25=None, bf25=None, pcr_oi=None, pcr_volume=None, pcr_premium=None,
                         max_pain=None,
                         oi_contracts=float(sum(r.quote.open_interest for r in rows)),
                         oi_coins=float(np.nansum(coins)), oi_usd=0.0, volume_usd=0.0, options=len(rows))
    m = opt.expiry_metrics(_arr([r.quote.strike for r in rows]), np.array([r.quote.is_call for r in rows]),
                           _arr([r.mark_iv for r in rows]), coins, volume, _arr([r.quote.mark_price_usd for r in rows]),
                           forward, opt.year_fraction(expiry, now), forward)
    return ExpiryRow(venue=venue, asset=asset, expiry=expiry, days=days, forward=forward, forward_source=source,
                     atm_iv=_opt(m.atm_iv), rr25=_opt(m.rr25), bf25=_opt(m.bf25), pcr_oi=_opt(m.pcr_oi),
                     pcr_volume=_opt(m.pcr_volume), pcr_premium=_opt(m.pcr_premium), max_pain=_opt(m.max_pain),
                     oi_contracts=float(sum(r.quote.open_interest for r in rows)), oi_coins=m.oi_contracts,
                     oi_usd=m.oi_usd, volume_usd=m.volume_usd, options=len(rows), call_oi=m.call_oi,
                     put_oi=m.put_oi, call_volume=m.call_volume, put_volume=m.put_volume)


def aggregate_row(asset: str, now: datetime, expiry: datetime, rows: Sequence[ChainRow],
                  per_venue: Sequence[ExpiryRow]) -> ExpiryRow:
    """One expiry across venues: OI and volume summed in coins, PCRs, max pain over the combined OI."""
    coins = _arr([r.quote.open_interest * r.quote.contract_size for r in rows])
    call = np.array([r.quote.is_call for r in rows])
    pain = opt.max_pain(_arr([r.quote.strike for r in rows]), call, coins)
    call_oi, put_oi = sum(v.call_oi for v in per_venue), sum(v.put_oi for v in per_venue)
    call_vol, put_vol = sum(v.call_volume for v in per_venue), sum(v.put_volume for v in per_venue)
    return ExpiryRow(venue="all", asset=asset, expiry=expiry, days=(expiry - now).total_seconds() / 86_400,
                     forward=None, forward_source=FORWARD_LABELS["per_venue"], atm_iv=None, rr25=None, bf25=None,
                     pcr_oi=_opt(opt.ratio(put_oi, call_oi)), pcr_volume=_opt(opt.ratio(put_vol, call_vol)),
                     pcr_premium=None, max_pain=_opt(pain), oi_contracts=None, oi_coins=float(np.nansum(coins)),
                     oi_usd=float(sum(v.oi_usd for v in per_venue)),
                     volume_usd=float(sum(v.volume_usd for v in per_venue)), options=len(rows), call_oi=call_oi,
                     put_oi=put_oi, call_volume=call_vol, put_volume=put_vol)


def build_options_report(now: datetime, assets: Sequence[str], inputs: DeskInputs,
                         opts: DeskOptions) -> OptionsReport:
    """Every view of ``dtrack options`` from what the venues answered."""
    expiries: list[ExpiryRow] = []
    aggregate: list[ExpiryRow] = []
    term: list[ExpiryRow] = []
    cm: list[CMPoint] = []
    chain: list[ChainRow] = []
    gex: list[GexPoint] = []
    summary: list[AssetSummary] = []
    for asset in assets:
        quotes = [q for q in inputs.quotes if q.asset == asset and q.expiry > now]
        rows = chain_rows(now, quotes)
        selected = set(opts.selected.get(asset, ()))
        shown: list[ChainRow] = []
        venue_rows: list[ExpiryRow] = []
        for venue in dict.fromkeys(q.venue for q in quotes):
            mine = [r for r in rows if r.quote.venue == venue]
            per_expiry = [expiry_row(venue, asset, now, e, [r for r in mine if r.quote.expiry == e])
                          for e in sorted({r.quote.expiry for r in mine})]
            term += _with_iv(per_expiry)
            cm += _constant_maturity(venue, asset, per_expiry)
            venue_rows += [e for e in per_expiry if e.expiry in selected]
            shown += [r for r in mine if r.quote.expiry in selected]
        expiries += venue_rows
        for e in sorted(selected):
            per_venue = [v for v in venue_rows if v.expiry == e]
            if len(per_venue) > 1:
                aggregate.append(aggregate_row(asset, now, e, [r for r in shown if r.quote.expiry == e], per_venue))
        chain += shown
        spot = _spot(quotes)
        gex_points, total, flip = _gex(asset, shown, spot, opts)
        gex += gex_points
        summary.append(_summary(asset, spot, inputs, venue_rows, cm, total, flip, opts))
    flow = _flow(now, assets, inputs.trades, opts) if inputs.trades is not None else None
    return OptionsReport(time=now, expiries=tuple(expiries), aggregate=tuple(aggregate), term_structure=tuple(term),
                         constant_maturity=tuple(cm), summary=tuple(summary), chain=tuple(chain),
                         gex=tuple(gex), flow=flow)


def _with_iv(rows: Sequence[ExpiryRow]) -> list[ExpiryRow]:
    """The expiries with an ATM IV: the term structure."""
    return [e for e in rows if e.atm_iv is not None]


def _constant_maturity(venue: str, asset: str, rows: Sequence[ExpiryRow]) -> list[CMPoint]:
    """ATM IV at the ``CM_DAYS`` maturities from one venue's expiries (total variance interpolated)."""
    with_iv = _with_iv(rows)
    return [CMPoint(venue=venue, asset=asset, days=int(point.days), iv=_opt(point.iv), note=point.reason)
            for point in opt.constant_maturity([e.days / 365 for e in with_iv], [e.atm_iv or 0.0 for e in with_iv],
                                               CM_DAYS)]


def expiry_row_of(record: OptionExpiry) -> ExpiryRow:
    """The ``ExpiryRow`` an ``OptionExpiry`` (a stored row of per-expiry metrics) was made from: the same
    figures, ``days`` as of its ``received_at``, the forward's source as its label."""
    token = record.forward_source
    return ExpiryRow(venue=record.venue, asset=record.asset, expiry=record.expiry, days=record.days,
                     forward=record.forward, forward_source=NO_FORWARD if token is None else FORWARD_LABELS.get(
                         token, token), atm_iv=record.atm_iv, rr25=record.rr25, bf25=record.bf25,
                     pcr_oi=record.pcr_oi, pcr_volume=record.pcr_volume, pcr_premium=record.pcr_premium,
                     max_pain=record.max_pain, oi_contracts=record.oi_contracts, oi_coins=record.oi_coins,
                     oi_usd=record.oi_usd, volume_usd=record.volume_usd, options=record.options,
                     call_oi=record.call_oi, put_oi=record.put_oi, call_volume=record.call_volume,
                     put_volume=record.put_volume)


def report_from_expiries(now: datetime, assets: Sequence[str], rows: Sequence[ExpiryRow], inputs: DeskInputs,
                         opts: DeskOptions, spot: Mapping[str, float | None] | None = None,
                         notes: Mapping[str, str] | None = None) -> OptionsReport:
    """The views of ``dtrack options`` that need no chain, from per-expiry metrics computed earlier from the
    chains (``expiry_row_of`` of the store's ``option_expiries``): ``rows`` holds every expiry of each venue (in
    the order the venues are shown) and the cross-venue aggregate rows (venue ``"all"``). As ``build_options_report``
    does: the expiries of ``opts.selected`` per venue, the aggregate of each selected expiry listed on more than one
    of them, every expiry with an ATM IV in the term structure, constant maturity per venue, and the summary
    (``inputs``: DVOL, daily closes, the venues' realized volatility; ``spot`` per asset) without GEX; ``notes``
    per asset are added to the summary's note. Expiries at or before ``now`` are left out; no chain, GEX or
    flow."""
    expiries: list[ExpiryRow] = []
    aggregate: list[ExpiryRow] = []
    term: list[ExpiryRow] = []
    cm: list[CMPoint] = []
    summary: list[AssetSummary] = []
    for asset in assets:
        mine = [e for e in rows if e.asset == asset and e.expiry > now]
        selected = set(opts.selected.get(asset, ()))
        venue_rows: list[ExpiryRow] = []
        for venue in dict.fromkeys(e.venue for e in mine if e.venue != "all"):
            per_expiry = sorted((e for e in mine if e.venue == venue), key=lambda e: e.expiry)
            term += _with_iv(per_expiry)
            cm += _constant_maturity(venue, asset, per_expiry)
            venue_rows += [e for e in per_expiry if e.expiry in selected]
        expiries += venue_rows
        listed = [e.expiry for e in venue_rows]
        aggregate += sorted((e for e in mine if e.venue == "all" and listed.count(e.expiry) > 1),
                            key=lambda e: e.expiry)
        row = _summary(asset, (spot or {}).get(asset), inputs, venue_rows, cm, None, None, opts)
        if notes and notes.get(asset):
            row = replace(row, note="; ".join(n for n in (row.note, notes[asset]) if n))
        summary.append(row)
    return OptionsReport(time=now, expiries=tuple(expiries), aggregate=tuple(aggregate), term_structure=tuple(term),
                         constant_maturity=tuple(cm), summary=tuple(summary), chain=(), gex=(), flow=None)


def _spot(quotes: Sequence[OptionQuote]) -> float | None:
    idx = [q.index_price for q in quotes if q.index_price]
    return float(statistics.median(idx)) if idx else None


def _gex(asset: str, rows: Sequence[ChainRow], spot: float | None,
         opts: DeskOptions) -> tuple[list[GexPoint], float | None, float | None]:
    usable = [r for r in rows if r.gamma is not None]
    if spot is None or not usable:
        return [], None, None
    strikes, gex = opt.gex_by_strike(_arr([r.quote.strike for r in usable]),
                                     np.array([r.quote.is_call for r in usable]), _arr([r.gamma for r in usable]),
                                     _arr([r.quote.open_interest * r.quote.contract_size for r in usable]), spot,
                                     opts.call_sign, opts.put_sign)
    flip = opt.gex_flip(strikes, gex, near=spot)
    return ([GexPoint(asset, float(k), float(g)) for k, g in zip(strikes, gex, strict=True)], float(gex.sum()),
            _opt(flip))


def _latest_per_venue(points: Sequence[VolPoint]) -> tuple[VolPoint, ...]:
    """The latest point of each venue's series, in venue order of first appearance."""
    latest: dict[str, VolPoint] = {}
    for p in points:
        if p.venue not in latest or p.time > latest[p.venue].time:
            latest[p.venue] = p
    return tuple(latest.values())


def _summary(asset: str, spot: float | None, inputs: DeskInputs, rows: Sequence[ExpiryRow], cm: Sequence[CMPoint],
             gex_total: float | None, flip: float | None, opts: DeskOptions) -> AssetSummary:
    notes: list[str] = []
    # The latest point (today's DVOL as of the query) and the closes of the RANK_DAYS - 1 days before it.
    series = [p for p in inputs.dvol.get(asset, ()) if p.time > max(p.time for p in inputs.dvol[asset])
              - timedelta(days=RANK_DAYS)] if inputs.dvol.get(asset) else []
    dvol = rank = pctl = None
    if series:
        values = np.array([p.value for p in sorted(series, key=lambda p: p.time)])
        dvol = float(values[-1])
        rank, pctl = _opt(opt.iv_rank(values, dvol)), _opt(opt.iv_percentile(values, dvol))
        if series[0].time > series[-1].time - timedelta(days=RANK_DAYS - 5):
            notes.append(f"DVOL history covers {len(series)} days only")
    else:
        notes.append(f"no volatility index for {asset}: rank and percentile need Deribit DVOL (BTC, ETH)")
    rv = None
    rv_source = "no daily closes"
    if asset in inputs.closes:
        source, closes = inputs.closes[asset]
        last = sorted(closes, key=lambda p: p.time)[-31:]
        rv = _opt(opt.realized_vol([p.price for p in last], 365.0)) if len(last) == 31 else None
        rv_source = f"30 daily returns of {source}" if rv is not None else f"{source}: fewer than 31 daily closes"
    iv_30 = next((c.iv for c in cm if c.asset == asset and c.days == 30 and c.iv is not None), None)
    iv_ref = dvol if dvol is not None else iv_30
    call_oi, put_oi = sum(r.call_oi for r in rows), sum(r.put_oi for r in rows)
    call_vol, put_vol = sum(r.call_volume for r in rows), sum(r.put_volume for r in rows)
    return AssetSummary(
        asset=asset, spot=spot, dvol=dvol, iv_rank=rank, iv_percentile=pctl, rv_30d=rv, rv_source=rv_source,
        iv_rv_spread=iv_ref - rv if iv_ref is not None and rv is not None else None,
        interpretation=opt.interpretation(rank if rank is not None else math.nan, opts.rank_high, opts.rank_low),
        pcr_oi=_opt(opt.ratio(put_oi, call_oi)), pcr_volume=_opt(opt.ratio(put_vol, call_vol)),
        total_oi_usd=float(sum(r.oi_usd for r in rows)),
        gex_total_usd=gex_total, gex_flip=flip, note="; ".join(notes), venue_rv=_latest_per_venue(
            inputs.venue_rv.get(asset, ())))


def _flow(now: datetime, assets: Sequence[str], trades: Sequence[OptionTrade], opts: DeskOptions) -> FlowReport:
    mine = [t for t in trades if t.asset in assets]
    label = (f">= {opts.min_coins:g} coins" if opts.min_coins is not None else "") + (
        f">= ${opts.min_usd:,.0f} premium" if opts.min_usd is not None else "")
    if not mine:
        return FlowReport((), (), label or "all")
    coins = _arr([t.amount * t.contract_size for t in mine])
    premium = _arr([t.premium_usd for t in mine])
    keep = opt.large_trades(coins, premium, opts.min_coins, opts.min_usd)
    chosen = [mine[i] for i in keep]
    groups = opt.flow_summary(_arr([t.expiry.timestamp() * 1000 for t in chosen]), _arr([t.strike for t in chosen]),
                              np.array([t.is_call for t in chosen]), _arr([t.amount * t.contract_size for t in chosen]),
                              _arr([t.premium_usd for t in chosen]), np.array([t.side == "buy" for t in chosen]),
                              np.array([t.block for t in chosen])) if chosen else ()
    return FlowReport(tuple(chosen[:opts.top_trades]), groups, label or "all")
