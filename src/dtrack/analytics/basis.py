"""Basis and term-structure analytics (pure): premium of perpetuals, basis of dated futures, market
structure, constant-maturity basis and carry opportunities net of fees.

Conventions:
- Prices are USD per one unit of the asset. Spot quoted in USDT/USDC is taken as USD (said in the output).
- ``basis`` = (price − spot) / spot and ``basis_usd`` = price − spot, for perpetuals and futures; the
  premium over the venue's own index is given beside it (``premium_index``).
- A future's annualized basis is simple: basis × 365 / days to expiry. A perpetual's annualized figure is its
  funding carry (funding APR, from the funding rate and its own interval; where the venue charges a borrow fee and
  the sides pay differently, GMX, what a short earns net of its funding and borrow), since a perpetual has no expiry.
- Structure (per venue, and for the asset): contango when every future trades above spot, backwardation
  when every one trades below, mixed otherwise.
- Constant maturity: annualized basis at 30 / 90 / 180 days interpolated linearly in days between the
  neighbouring listed expiries (expiries listed on several venues are averaged first); never extrapolated.
- Opportunities: yield net of taker fees, annualized. Cash-and-carry (long spot, short future) when the
  basis is positive, reverse (short spot, long future: borrow cost not included) when negative; the fees
  are a round trip on both legs (4 fills) spread over the days to expiry. Perpetual funding carry (long
  spot, short perp) when funding is positive: a round trip on both legs spread over an assumed holding period.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from dtrack.records import HOURS_PER_YEAR, FundingRate, Kind, PriceQuote, SpotPrice

DAY_S = 86_400.0
CONSTANT_MATURITIES = (30, 90, 180)


@dataclass(frozen=True, slots=True, kw_only=True)
class BasisRow:
    """One perpetual or dated future against spot and its index."""

    venue: str
    asset: str
    symbol: str
    kind: Kind
    expiry: datetime | None
    days_to_expiry: float | None
    price: float
    spot_price: float
    spot_source: str
    index_price: float | None
    basis: float
    basis_usd: float
    premium_index: float | None
    premium_index_usd: float | None
    annualized: float | None
    annualized_source: str  # "basis" (futures) or "funding" (perpetuals)
    funding_interval_hours: float | None = None


@dataclass(frozen=True, slots=True)
class ConstantMaturity:
    """Annualized basis at a fixed maturity (None with the reason outside the listed expiries)."""

    days: int
    annualized: float | None
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Opportunity:
    """A carry trade whose yield, net of fees, clears the asked minimum."""

    asset: str
    venue: str
    symbol: str
    strategy: str
    description: str
    days: float | None
    gross_yield: float
    fees: float
    net_yield: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetBasis:
    """Per-asset summary."""

    asset: str
    spot_price: float | None
    spot_source: str
    structure: str
    venue_structure: Mapping[str, str]
    term_structure: tuple[BasisRow, ...]
    constant_maturity: tuple[ConstantMaturity, ...]


@dataclass(frozen=True, slots=True)
class BasisReport:
    """What ``dtrack basis`` shows."""

    time: datetime
    rows: tuple[BasisRow, ...]
    summary: tuple[AssetBasis, ...]
    opportunities: tuple[Opportunity, ...] | None = None


@dataclass(frozen=True, slots=True)
class BasisOptions:
    """Fees (fractions per fill) and the opportunity filter."""

    taker_fees: Mapping[str, float]
    spot_fee: float = 0.001
    perp_holding_days: float = 30.0
    min_yield: float | None = None  # fraction per year; None: no opportunities section


def structure(bases: Sequence[float]) -> str:
    """contango / backwardation / mixed from the futures' bases (``n/a`` without futures)."""
    if not bases:
        return "n/a"
    if all(b > 0 for b in bases):
        return "contango"
    if all(b < 0 for b in bases):
        return "backwardation"
    return "mixed"


def annualize(basis: float, days: float) -> float:
    """Simple annualized basis: basis x 365 / days."""
    return basis * 365.0 / days


def constant_maturity(days: Sequence[float], annualized: Sequence[float],
                      targets: Sequence[int] = CONSTANT_MATURITIES) -> tuple[ConstantMaturity, ...]:
    """Annualized basis at each target maturity, linear in days between neighbouring expiries."""
    if not days:
        return tuple(ConstantMaturity(t, None, "no dated futures") for t in targets)
    by_day: dict[float, list[float]] = {}
    for d, a in zip(days, annualized, strict=True):
        by_day.setdefault(round(d, 6), []).append(a)
    xs = np.array(sorted(by_day), dtype=float)
    ys = np.array([float(np.mean(by_day[x])) for x in xs])
    out: list[ConstantMaturity] = []
    for t in targets:
        if t > xs[-1]:
            out.append(ConstantMaturity(t, None, f"beyond the longest expiry ({xs[-1]:.0f} d): not extrapolated"))
        elif t < xs[0]:
            out.append(ConstantMaturity(t, None, f"before the shortest expiry ({xs[0]:.0f} d): not extrapolated"))
        else:
            out.append(ConstantMaturity(t, float(np.interp(t, xs, ys))))
    return tuple(out)


def reference_spot(spots: Sequence[SpotPrice], asset: str) -> tuple[float | None, str]:
    """The asset's spot: the median of the venues' spot tickers (and which ones), or None."""
    mine = [s for s in spots if s.asset == asset]
    if not mine:
        return None, ""
    venues = ", ".join(f"{s.venue} {s.symbol}" for s in mine)
    return float(statistics.median(s.price for s in mine)), f"median of spot tickers ({venues})"


def build_basis_report(now: datetime, assets: Sequence[str], quotes: Sequence[PriceQuote],
                       spots: Sequence[SpotPrice], funding: Sequence[FundingRate],
                       opts: BasisOptions) -> BasisReport:
    """Rows, per-asset structure, term structure, constant maturity and (with a minimum) opportunities."""
    rates = {(f.instrument.venue, f.instrument.symbol): f for f in funding}
    rows: list[BasisRow] = []
    summary: list[AssetBasis] = []
    for asset in assets:
        ref, ref_source = reference_spot(spots, asset)
        own = {s.venue: s for s in spots if s.asset == asset}
        asset_rows: list[BasisRow] = []
        for q in quotes:
            inst = q.instrument
            price = q.mark_price if q.mark_price is not None else q.last_price
            if inst.asset != asset or price is None:
                continue
            if inst.kind is Kind.FUTURE and (inst.expiry is None or inst.expiry <= now):
                continue
            if inst.venue in own:
                spot, source = own[inst.venue].price, f"{inst.venue} spot {own[inst.venue].symbol}"
            elif ref is not None:
                spot, source = ref, ref_source
            elif q.index_price is not None:
                spot, source = q.index_price, f"{inst.venue} index (no spot ticker answered)"
            else:
                continue
            asset_rows.append(_row(now, q, price, spot, source, rates.get((inst.venue, inst.symbol))))
        asset_rows.sort(key=lambda r: (r.kind is not Kind.PERP, r.expiry or now, r.venue, r.symbol))
        futures = sorted((r for r in asset_rows if r.kind is Kind.FUTURE),
                         key=lambda r: (r.expiry or now, r.venue, r.symbol))
        venue_structure = {v: structure([r.basis for r in futures if r.venue == v])
                           for v in dict.fromkeys(r.venue for r in futures)}
        cm = constant_maturity([r.days_to_expiry or 0.0 for r in futures], [r.annualized or 0.0 for r in futures])
        summary.append(AssetBasis(asset=asset, spot_price=ref,
                                  spot_source=ref_source or "no spot ticker answered: venue indexes used",
                                  structure=structure([r.basis for r in futures]), venue_structure=venue_structure,
                                  term_structure=tuple(futures), constant_maturity=cm))
        rows += asset_rows
    opportunities = None
    if opts.min_yield is not None:
        opportunities = tuple(sorted((o for o in (_opportunity(r, opts) for r in rows)
                                      if o is not None and o.net_yield >= opts.min_yield),
                                     key=lambda o: -o.net_yield))
    return BasisReport(now, tuple(rows), tuple(summary), opportunities)


def carry_apr(rate: FundingRate) -> float:
    """What a short perpetual earns a year at the current terms: the funding APR, or, where the venue charges a
    borrow fee and the sides pay differently (GMX), minus the short side's funding and borrow (``short_cost_8h``)."""
    return rate.apr if rate.sides is None else -rate.short_cost_8h * HOURS_PER_YEAR / 8.0


def _row(now: datetime, q: PriceQuote, price: float, spot: float, source: str,
         rate: FundingRate | None) -> BasisRow:
    inst = q.instrument
    premium = (price - q.index_price) / q.index_price if q.index_price else None
    premium_usd = price - q.index_price if q.index_price else None
    basis = (price - spot) / spot
    if inst.kind is Kind.FUTURE and inst.expiry is not None:
        days = (inst.expiry - now).total_seconds() / DAY_S
        return BasisRow(venue=inst.venue, asset=inst.asset, symbol=inst.symbol, kind=inst.kind, expiry=inst.expiry,
                        days_to_expiry=days, price=price, spot_price=spot, spot_source=source,
                        index_price=q.index_price, basis=basis, basis_usd=price - spot, premium_index=premium,
                        premium_index_usd=premium_usd, annualized=annualize(basis, days), annualized_source="basis")
    return BasisRow(venue=inst.venue, asset=inst.asset, symbol=inst.symbol, kind=inst.kind, expiry=None,
                    days_to_expiry=None, price=price, spot_price=spot, spot_source=source, index_price=q.index_price,
                    basis=basis, basis_usd=price - spot, premium_index=premium, premium_index_usd=premium_usd,
                    annualized=carry_apr(rate) if rate else None, annualized_source="funding",
                    funding_interval_hours=rate.interval_hours if rate else None)


def _opportunity(row: BasisRow, opts: BasisOptions) -> Opportunity | None:
    fee = opts.taker_fees.get(row.venue, 0.0)
    round_trip = 2 * (fee + opts.spot_fee)
    if row.kind is Kind.FUTURE and row.days_to_expiry and row.annualized is not None:
        fees = round_trip * 365.0 / row.days_to_expiry
        if row.basis > 0:
            strategy, words = "cash-and-carry", (f"buy spot, sell {row.symbol} on {row.venue}; hold "
                                                 f"{row.days_to_expiry:.0f} d to expiry")
        else:
            strategy, words = "reverse cash-and-carry", (f"sell (borrowed) spot, buy {row.symbol} on {row.venue}; "
                                                         f"hold {row.days_to_expiry:.0f} d (borrow cost not included)")
        gross = abs(row.annualized)
        return Opportunity(asset=row.asset, venue=row.venue, symbol=row.symbol, strategy=strategy, description=words,
                           days=row.days_to_expiry, gross_yield=gross, fees=fees, net_yield=gross - fees)
    if row.kind is Kind.PERP and row.annualized is not None and row.annualized > 0:
        fees = round_trip * 365.0 / opts.perp_holding_days
        words = (f"buy spot, short {row.symbol} on {row.venue}; collect funding (assumed held "
                 f"{opts.perp_holding_days:g} d for the fees)")
        return Opportunity(asset=row.asset, venue=row.venue, symbol=row.symbol, strategy="perp funding carry",
                           description=words, days=None, gross_yield=row.annualized, fees=fees,
                           net_yield=row.annualized - fees)
    return None
