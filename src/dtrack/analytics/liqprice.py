"""Liquidation price of one position with the venue's real maintenance-margin tiers. Pure.

Each venue's documented formula (isolated margin, one-way mode; cross margin with the whole wallet backing this one
position: other positions are not modelled), research notes ``2026-12-liquidations-tiers-dex-storage.md`` §2.2.
``s`` = +1 long / -1 short, ``Q`` the size in coins, ``EP`` the entry price (USD per coin), ``V = Q·EP`` the face
value in USD (what inverse contracts count), ``M`` the margin (USD for linear contracts, coins for inverse ones:
the USD given converted at the entry price), ``mmr`` / ``d`` the tier's maintenance rate and deduction
(``MarginTier``: Binance ``cum``, Bybit ``mmDeduction``, Hyperliquid's deduction; coins for inverse contracts):

- Binance USDⓈ-M (FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts", 2020-08-14; isolated:
  TMM = UPNL = 0): ``LP = (M + cum − s·Q·EP) / (Q·MMR − s·Q)``; COIN-M (FAQ of 2021-02-05, its inverse form):
  ``LP = (V·MMR + s·V) / (M + cum + s·V/EP)``. The bracket is the one the position falls in AT the liquidation
  price (notional ``Q·LP`` USD, or ``V/LP`` coins for COIN-M): computed with the entry bracket, re-selected at the
  result, repeated until stable (the FAQ's rule).
- Bybit, CLASSIC account (help "Liquidation Price (USDT Contract)"; not the Unified Trading Account, whose isolated
  formula folds an estimated close fee into IM and MM and gives slightly different prices): USDT
  ``LP = EP − s·(IM − MM + ExtraMargin)/Q`` with ``IM = Q·EP/leverage``, ``MM = Q·EP·MMR − mmDeduction``; inverse
  (the same definitions in coins: ``IM = V/EP/leverage``, ``MM = V/EP·MMR − mmDeduction``)
  ``LP = V / (V/EP + s·(IM − MM + ExtraMargin))``. MM is on the position value AT ENTRY, so the risk-limit tier is
  the one of the entry value.
- OKX (derived from the margin ratio ``(margin + UPL) / (maintenance margin + liquidation fee)`` reaching 100 %,
  "Tiered maintenance margin ratio rules"): linear ``LP = (Q·EP − s·M) / (Q·(1 − s·(mmr + fee)))``, inverse
  ``LP = (s + mmr + fee) / (M/V + s/EP)``; ``fee`` the taker fee rate (the liquidation fee the ratio includes).
  Tiers count CONTRACTS: the same at every price.
- Hyperliquid (gitbook "Liquidations"): ``LP = EP − s·margin_available / Q / (1 − l·s)``, ``l = 1/maintenance
  leverage = mmr`` (half the initial margin at the tier's max leverage), ``margin_available = M − (Q·EP·mmr − d)``;
  the tier at the liquidation notional.
- dYdX v4 (derived: liquidatable when net collateral < maintenance requirement): ``LP = −cash / (Q·(s − MMF))``,
  ``cash = M − s·Q·EP``.
- Deribit (no tier table: its published standard-margin rule, support article "Linear Perpetual",
  https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual): linear BTC
  ``MM = 1 % + 0.005 % × size in BTC``, ``IM = 2 % + 0.005 % × size``; SOL ``MM = 2 % + 0.0005 % × size``,
  ``IM = 4 % + 0.0005 % × size``; liquidation where equity meets MM: the Binance linear form with ``cum = 0``.
  Its inverse contracts' rule is not confirmed in a source dtrack has: not modelled.

The output: the price, its distance from the entry and the move that reaches it, the tier used (with its source,
``official`` False for an undocumented endpoint), each iteration, the seed-004 risk level (distance >= 30 % low,
>= 15 % moderate, >= 10 % elevated, else high); ``safe_leverage`` searches the highest leverage that keeps the
liquidation at least a distance away (bisection over leverage, with the tiers); ``size_for_risk`` is seed 004's
``position_size_for_risk``. ``tier_rule`` turns tiers into the liquidation map's ``MaintenanceRule``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from dtrack.records import MarginTier, Unit

if TYPE_CHECKING:
    from dtrack.analytics.liquidation_map import FloatArray, MaintenanceRule

#: seed 004 §26.P.2 risk bands: (level, smallest distance from the entry, a fraction); below the last: "high"
RISK_BANDS: tuple[tuple[str, float], ...] = (("low", 0.30), ("moderate", 0.15), ("elevated", 0.10))
RISK_LEVELS = ("low", "moderate", "elevated", "high")
#: tier re-selections before giving up (a stable answer takes one or two)
MAX_ITERATIONS = 50
#: a leverage this much above a tier's maximum is still that maximum (venues round the leverage they show)
LEVERAGE_SLACK = 1e-9

DERIBIT_LINEAR = "https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual"


class LiqError(ValueError):
    """A position no formula can answer (the query turns it into a usage error naming the option)."""


# --- the position -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """One position, in the units the formulas use: ``side`` +1 long / -1 short, ``entry`` USD per coin, ``size``
    coins, ``margin`` in the margin currency (USD for linear contracts, coins for inverse ones): the isolated
    margin, or in cross mode the wallet; ``contract_value`` coins per contract (linear) or USD per contract
    (inverse), to count contracts."""

    side: int
    entry: float
    size: float
    margin: float
    inverse: bool = False
    contract_value: float = 1.0

    @property
    def face(self) -> float:
        """The face value ``V = Q·EP`` in USD."""
        return self.size * self.entry

    def measure(self, unit: Unit, price: float) -> float:
        """The position's size at ``price`` in a tier table's ``unit`` (USD notional, coins or contracts)."""
        if unit is Unit.CONTRACTS:
            return (self.face if self.inverse else self.size) / self.contract_value
        if unit is Unit.BASE:
            return self.face / price if self.inverse else self.size
        return self.face if self.inverse else self.size * price  # USD (and a quote in USD terms)


# --- the formulas -------------------------------------------------------------------------------------------------

#: (position, mmr, deduction, fee rate, leverage) -> the liquidation price (None: none above zero / finite)
Solve = Callable[[Position, float, float, float, float], float | None]


def _positive(x: float) -> float | None:
    return x if math.isfinite(x) and x > 0 else None


def _div(a: float, b: float) -> float | None:
    return _positive(a / b) if b != 0 else None


def binance_usdm(p: Position, mmr: float, d: float, fee: float, lev: float) -> float | None:
    """Binance USDⓈ-M one-way isolated: ``(M + cum − s·Q·EP) / (Q·MMR − s·Q)``."""
    return _div(p.margin + d - p.side * p.size * p.entry, p.size * mmr - p.side * p.size)


def binance_coinm(p: Position, mmr: float, d: float, fee: float, lev: float) -> float | None:
    """Binance COIN-M one-way isolated: ``(V·MMR + s·V) / (M + cum + s·V/EP)`` (``V`` contracts × contract size)."""
    v = p.face
    return _div(v * mmr + p.side * v, p.margin + d + p.side * v / p.entry)


def bybit_linear(p: Position, mmr: float, d: float, fee: float, lev: float) -> float | None:
    """Bybit classic USDT: ``EP − s·(IM − MM + ExtraMargin)/Q``, IM and MM at the entry value."""
    im = p.size * p.entry / lev
    mm = p.size * p.entry * mmr - d
    extra = p.margin - im
    return _positive(p.entry - p.side * (im - mm + extra) / p.size)


def bybit_inverse(p: Position, mmr: float, d: float, fee: float, lev: float) -> float | None:
    """Bybit classic inverse: ``V / (V/EP + s·(IM − MM + ExtraMargin))``, all in coins at the entry value."""
    v = p.face
    im = v / p.entry / lev
    mm = v / p.entry * mmr - d
    extra = p.margin - im
    return _div(v, v / p.entry + p.side * (im - mm + extra))


def okx_linear(p: Position, mmr: float, d: float, fee: float, lev: float) -> float | None:
    """OKX USDT-margined: ``(Q·EP − s·M) / (Q·(1 − s·(mmr + fee)))`` (the maintenance deduction, if any, added
    to the margin)."""
    return _div(p.size * p.entry - p.side * (p.margin + d), p.size * (1.0 - p.side * (mmr + fee)))


def okx_inverse(p: Position, mmr: float, d: float, fee: float, lev: float) -> float | None:
    """OKX coin-margined: ``(s + mmr + fee) / ((M + d)/V + s/EP)``."""
    return _div(p.side + mmr + fee, (p.margin + d) / p.face + p.side / p.entry)


def hyperliquid(p: Position, mmr: float, d: float, fee: float, lev: float) -> float | None:
    """Hyperliquid: ``EP − s·margin_available / Q / (1 − l·s)``, ``l = mmr``, margin_available = M − MM(EP)."""
    available = p.margin - (p.size * p.entry * mmr - d)
    return _positive(p.entry - p.side * available / p.size / (1.0 - mmr * p.side))


def dydx(p: Position, mmr: float, d: float, fee: float, lev: float) -> float | None:
    """dYdX v4: ``−cash / (Q·(s − MMF))`` with ``cash = M − s·Q·EP``."""
    cash = p.margin + d - p.side * p.size * p.entry
    return _div(-cash, p.size * (p.side - mmr))


@dataclass(frozen=True, slots=True)
class Formula:
    """A venue's liquidation formula: its ``solve``, the text and source shown, where the tier is taken
    (``tier_at``: ``liquidation`` = at the liquidation price, iterated; ``entry`` = at the entry value; ``size``:
    the table counts contracts or coins, the same at any price), whether a fee rate is in it."""

    name: str
    solve: Solve
    text: str
    source: str
    tier_at: str = "liquidation"
    fee: bool = False
    note: str = ""


BINANCE_USDM = Formula(
    "binance-usdm", binance_usdm, "LP = (M + cum - s*Q*EP) / (Q*MMR - s*Q)",
    "https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93 (one-way isolated: TMM = UPNL = 0)",
    note="the liquidation clearance fee is charged on liquidation and is not in the price")
BINANCE_COINM = Formula(
    "binance-coinm", binance_coinm, "LP = (V*MMR + s*V) / (M + cum + s*V/EP), V = contracts x contract size (USD)",
    "https://www.binance.com/en/support/faq/ceccfcfb4e3a45e3b48b0b1bb1a8ae46 (one-way isolated: TMM = UPNL = 0)",
    note="the liquidation clearance fee is charged on liquidation and is not in the price")
BYBIT_LINEAR = Formula(
    "bybit-classic-linear", bybit_linear,
    "LP = EP - s*(IM - MM + ExtraMargin)/Q, IM = Q*EP/leverage, MM = Q*EP*MMR - mmDeduction",
    "https://testnet.bybit.com/en-US/help-center/s/article/Liquidation-Price-USDT-Contract", tier_at="entry",
    note="Bybit classic account; the Unified Trading Account's formula adds an estimated close fee (slightly "
         "different prices)")
BYBIT_INVERSE = Formula(
    "bybit-classic-inverse", bybit_inverse,
    "LP = V / (V/EP + s*(IM - MM + ExtraMargin)), IM = V/EP/leverage, MM = V/EP*MMR - mmDeduction (coins)",
    "Bybit help 'Liquidation Price (Inverse Contract)', classic account (the USDT page's definitions in coins)",
    tier_at="entry", note="Bybit classic account; the Unified Trading Account's formula adds an estimated close fee")
OKX_LINEAR = Formula(
    "okx-linear", okx_linear, "LP = (Q*EP - s*M) / (Q*(1 - s*(mmr + fee)))",
    "derived from OKX's margin ratio (margin + UPL) / (maintenance margin + liquidation fee) = 100 % "
    "(https://okx.huicker.com/fr-fr/help/v-tiered-maintenance-margin-ratio-rules, a mirror of OKX help)",
    tier_at="size", fee=True, note="positions in tier 3 and above are partially liquidated down a tier first")
OKX_INVERSE = Formula(
    "okx-inverse", okx_inverse, "LP = (s + mmr + fee) / (M/V + s/EP)",
    "derived from OKX's coin-margined margin ratio (margin + UPL) / (V/mark x (mmr + fee)) = 100 %",
    tier_at="size", fee=True, note="positions in tier 3 and above are partially liquidated down a tier first")
HYPERLIQUID = Formula(
    "hyperliquid", hyperliquid,
    "LP = EP - s*margin_available/Q/(1 - l*s), l = 1/maintenance leverage, margin_available = M - MM",
    "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations")
DYDX = Formula(
    "dydx-v4", dydx, "LP = -cash / (Q*(s - MMF)), cash = M - s*Q*EP",
    "derived: a subaccount is liquidatable when net collateral < maintenance margin (dYdX v4 docs)",
    tier_at="size")
DERIBIT_LINEAR_FORMULA = Formula(
    "deribit-linear", binance_usdm, "LP = (M - s*Q*EP) / (Q*MM - s*Q), MM = base + slope x size (standard margin)",
    DERIBIT_LINEAR, tier_at="size",
    note="Deribit liquidates in small steps once equity is below maintenance: the price where it starts")


#: the venues with a formula here
FORMULA_VENUES = ("binance", "bybit", "okx", "hyperliquid", "dydx", "deribit")
#: the venues whose maintenance margin is a published rule, not a tier table (``rule_tiers``)
RULE_VENUES = ("deribit",)


def formula_for(venue: str, inverse: bool) -> Formula:
    """The venue's formula for a linear or inverse contract; ``LiqError`` where dtrack has none."""
    table: Mapping[tuple[str, bool], Formula] = {
        ("binance", False): BINANCE_USDM, ("binance", True): BINANCE_COINM,
        ("bybit", False): BYBIT_LINEAR, ("bybit", True): BYBIT_INVERSE,
        ("okx", False): OKX_LINEAR, ("okx", True): OKX_INVERSE,
        ("hyperliquid", False): HYPERLIQUID, ("dydx", False): DYDX, ("deribit", False): DERIBIT_LINEAR_FORMULA,
    }
    got = table.get((venue, inverse))
    if got is None:
        kind = "inverse" if inverse else "linear"
        known = ", ".join(f"{v} {'inverse' if i else 'linear'}" for v, i in table)
        raise LiqError(f"dtrack has no documented liquidation formula for {venue} {kind} contracts (it has: {known})")
    return got


# --- Deribit's rule (no table) ------------------------------------------------------------------------------------

#: asset -> (IM base, MM base, slope per coin of size): Deribit standard margin, linear perpetuals
DERIBIT_RULES: Mapping[str, tuple[float, float, float]] = {"BTC": (0.02, 0.01, 0.00005),
                                                            "SOL": (0.04, 0.02, 0.000005)}


def deribit_tiers(symbol: str, asset: str, size: float, inverse: bool,
                  received_at: datetime) -> tuple[MarginTier, ...]:
    """Deribit's published standard-margin rule for a position of ``size`` coins as one tier (the rule is a
    formula of the size, not a table); ``LiqError`` for contracts whose rule is not confirmed."""
    rule = DERIBIT_RULES.get(asset)
    if inverse or rule is None:
        what = f"inverse {symbol}" if inverse else f"{asset} linear"
        raise LiqError(f"Deribit's margin rule for {what} contracts is not in a source dtrack has (it has the "
                       f"linear perpetuals of {', '.join(DERIBIT_RULES)}: {DERIBIT_LINEAR})")
    im0, mm0, slope = rule
    im, mm = im0 + slope * size, mm0 + slope * size
    return (MarginTier(venue="deribit", symbol=symbol, tier=1, floor=0.0, cap=None, unit=Unit.BASE, mmr=mm,
                       deduction=0.0, max_leverage=1.0 / im, imr=im, time=None, received_at=received_at,
                       source=DERIBIT_LINEAR,
                       note=f"Deribit standard margin rule for {asset}: MM = {mm0:.2%} + {slope:.4%} x size, "
                            f"IM = {im0:.2%} + {slope:.4%} x size, at {size:g} {asset}"),)


def rule_tiers(venue: str, symbol: str, asset: str, size: float, inverse: bool,
               received_at: datetime) -> tuple[MarginTier, ...]:
    """The tier a venue's published rule gives a position of ``size`` coins (``RULE_VENUES``); ``LiqError`` for a
    venue or contract without one."""
    if venue == "deribit":
        return deribit_tiers(symbol, asset, size, inverse, received_at)
    raise LiqError(f"{venue} publishes tiers, not a rule")


# --- tiers --------------------------------------------------------------------------------------------------------


def pick_tier(tiers: Sequence[MarginTier], amount: float) -> MarginTier | None:
    """The tier whose ``[floor, cap)`` holds ``amount`` (below the first floor: the first tier); None beyond the
    last cap."""
    if not tiers:
        return None
    for t in tiers:
        if amount < t.floor:
            return t if t is tiers[0] else None
        if t.cap is None or amount < t.cap:
            return t
    return None


def continuity(tiers: Sequence[MarginTier], rel: float = 1e-6) -> list[str]:
    """Where the maintenance margin ``amount × mmr − deduction`` jumps at a tier floor (Binance's ``cum`` is
    built so it does not: ``floor_n·MMR_{n−1} − cum_{n−1} = floor_n·MMR_n − cum_n``)."""
    out: list[str] = []
    for prev, cur in itertools.pairwise(tiers):
        below = cur.floor * prev.mmr - prev.deduction
        above = cur.floor * cur.mmr - cur.deduction
        if abs(below - above) > rel * max(1.0, abs(below), abs(above)):
            out.append(f"maintenance margin jumps from {below:g} to {above:g} at tier {cur.tier}'s floor "
                       f"{cur.floor:g} {cur.unit.value}")
    return out


# --- solving ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One pass of the tier iteration: the tier tried and the price it gave (None: none above zero)."""

    tier: int
    price: float | None


@dataclass(frozen=True, slots=True)
class Solution:
    """The liquidation price (None: the position cannot be liquidated at a price above zero), the tier it was
    computed with, each step, whether the tier iteration settled (``oscillation``: the tiers it went round)."""

    price: float | None
    tier: MarginTier
    steps: tuple[Step, ...]
    converged: bool
    oscillation: tuple[int, ...] = ()
    note: str = ""


def solve(position: Position, formula: Formula, tiers: Sequence[MarginTier], leverage: float,
          fee: float = 0.0) -> Solution:
    """The liquidation price with the tier it falls in (see the module doc): start from the entry's tier, compute,
    re-select the tier at the result (``formula.tier_at == "liquidation"``), until the tier is stable. Where it
    goes round (a table whose deductions are not continuous), the tier whose price lands in itself is used if one
    does, else the price nearest the entry (the conservative one), and ``oscillation`` names the tiers."""
    if not tiers:
        raise LiqError("no maintenance-margin tiers to compute with")
    first = pick_tier(tiers, position.measure(tiers[0].unit, position.entry))
    if first is None:
        raise LiqError(f"the position ({position.measure(tiers[0].unit, position.entry):g} {tiers[0].unit.value}) "
                       f"is beyond the venue's last tier (cap {tiers[-1].cap:g})")
    rate = fee if formula.fee else 0.0
    tier = first
    steps: list[Step] = []
    for _ in range(MAX_ITERATIONS):
        price = formula.solve(position, tier.mmr, tier.deduction, rate, leverage)
        steps.append(Step(tier.tier, price))
        if formula.tier_at != "liquidation" or price is None:
            return Solution(price, tier, tuple(steps), True)
        nxt = pick_tier(tiers, position.measure(tier.unit, price)) or tiers[-1]
        if nxt.tier == tier.tier:
            return Solution(price, tier, tuple(steps), True)
        if any(s.tier == nxt.tier for s in steps):
            break
        tier = nxt
    loop = tuple(dict.fromkeys(s.tier for s in steps))
    for t in tiers:  # a tier whose own price lands in it
        price = formula.solve(position, t.mmr, t.deduction, rate, leverage)
        if price is not None and (pick_tier(tiers, position.measure(t.unit, price)) or tiers[-1]).tier == t.tier:
            return Solution(price, t, tuple(steps), False, loop,
                            f"the tier iteration went round tiers {', '.join(map(str, loop))}; tier {t.tier} is "
                            "the one whose liquidation price falls in it")
    priced = [(s, next(t for t in tiers if t.tier == s.tier)) for s in steps if s.price is not None]
    best, best_tier = min(priced, key=lambda x: abs((x[0].price or 0.0) - position.entry))
    return Solution(best.price, best_tier, tuple(steps), False, loop,
                    f"the tier iteration went round tiers {', '.join(map(str, loop))} with no tier consistent with "
                    "its own price (the table's deductions are not continuous); the price nearest the entry is "
                    "shown")


def risk_level(distance: float | None) -> str:
    """Seed 004's level of a distance to liquidation (a fraction of the entry): low >= 30 %, moderate >= 15 %,
    elevated >= 10 %, else high; no liquidation price at all is low."""
    if distance is None:
        return "low"
    return next((name for name, edge in RISK_BANDS if distance >= edge), "high")


# --- the whole answer ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """What the user asked, in USD and coins: ``margin_usd`` / ``leverage`` (one of them; the other derived),
    ``wallet_usd`` for cross mode, ``fee_rate`` the venue's taker fee (a fraction), ``target_distance`` a
    fraction, ``sizing`` (risk %, stop %, capital USD)."""

    venue: str
    symbol: str
    asset: str
    inverse: bool
    contract_value: float
    side: int
    entry: float
    size: float
    leverage: float | None = None
    margin_usd: float | None = None
    mode: str = "isolated"
    wallet_usd: float | None = None
    fee_rate: float = 0.0
    target_distance: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A liquidation price at one leverage: the price, its distance from the entry (a fraction, >= 0), the move
    that reaches it (signed fraction and USD per coin), the seed-004 risk level, the solution behind it."""

    leverage: float
    margin_usd: float
    price: float | None
    distance: float | None
    move: float | None
    move_usd: float | None
    risk_level: str
    solution: Solution


@dataclass(frozen=True, slots=True)
class Target:
    """The highest leverage whose liquidation stays at least ``distance`` from the entry (None: not even 1x),
    and the outcome there; ``cap``: the entry tier's maximum leverage bounding the search."""

    distance: float
    leverage: float | None
    outcome: Outcome | None
    cap: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class Sizing:
    """Seed 004's ``position_size_for_risk``: risking ``risk_pct`` % of ``capital`` with a stop ``stop_pct`` %
    away: the position in USD and coins, the implied leverage on the capital; the stop's price."""

    capital: float
    risk_pct: float
    stop_pct: float
    max_loss_usd: float
    size_usd: float
    size_base: float
    implied_leverage: float
    stop_price: float


@dataclass(frozen=True, slots=True)
class Report:
    """Everything ``liqprice`` shows: the request, the formula, the tiers read, the outcome, the optional target
    search and sizing, the close fee at the liquidation price (taker, an estimate), notes."""

    request: Request
    formula: Formula
    tiers: tuple[MarginTier, ...]
    outcome: Outcome
    target: Target | None = None
    sizing: Sizing | None = None
    close_fee_usd: float | None = None
    stop_before_liquidation: bool | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _margin_ccy(req: Request, usd: float) -> float:
    return usd / req.entry if req.inverse else usd


def position_of(req: Request, margin_usd: float) -> Position:
    """The formulas' position for a margin in USD (the wallet in cross mode)."""
    backing = req.wallet_usd if req.mode == "cross" and req.wallet_usd is not None else margin_usd
    return Position(side=req.side, entry=req.entry, size=req.size, margin=_margin_ccy(req, backing),
                    inverse=req.inverse, contract_value=req.contract_value)


def entry_tier(req: Request, tiers: Sequence[MarginTier]) -> MarginTier:
    """The tier of the position at its entry (what the leverage is checked against)."""
    pos = Position(side=req.side, entry=req.entry, size=req.size, margin=0.0, inverse=req.inverse,
                   contract_value=req.contract_value)
    amount = pos.measure(tiers[0].unit, req.entry)
    tier = pick_tier(tiers, amount)
    if tier is None:
        raise LiqError(f"a position of {req.size:g} {req.asset} ({amount:g} {tiers[0].unit.value}) is beyond "
                       f"{req.venue} {req.symbol}'s last tier (cap {tiers[-1].cap:g} {tiers[-1].unit.value})")
    return tier


def outcome_at(req: Request, formula: Formula, tiers: Sequence[MarginTier], leverage: float) -> Outcome:
    """The liquidation price of the request at ``leverage`` (isolated margin ``Q·EP/leverage``)."""
    margin_usd = req.size * req.entry / leverage
    sol = solve(position_of(req, margin_usd), formula, tiers, leverage, req.fee_rate)
    price = sol.price
    if price is not None and req.side * (price - req.entry) >= 0:
        raise LiqError(f"at {leverage:g}x the margin ({margin_usd:,.2f} USD) is below the maintenance margin at "
                       f"the entry: the position would be liquidated at once (lower the leverage)")
    if price is None:
        return Outcome(leverage, margin_usd, None, None, None, None, risk_level(None), sol)
    move = price / req.entry - 1.0
    return Outcome(leverage, margin_usd, price, abs(move), move, price - req.entry, risk_level(abs(move)), sol)


def check_leverage(req: Request, tiers: Sequence[MarginTier], leverage: float) -> MarginTier:
    """The entry tier, once ``leverage`` is known to be within its maximum (``LiqError`` otherwise)."""
    tier = entry_tier(req, tiers)
    if leverage > tier.max_leverage * (1 + LEVERAGE_SLACK):
        raise LiqError(f"leverage {leverage:g}x is above the {tier.max_leverage:g}x that tier {tier.tier} of "
                       f"{req.venue} {req.symbol} allows (a position of {req.size:g} {req.asset}); use at most "
                       f"{tier.max_leverage:g}x or a smaller size")
    if leverage < 1 - LEVERAGE_SLACK:
        raise LiqError(f"leverage {leverage:g}x is below 1x: the margin is more than the position's value")
    return tier


def safe_leverage(req: Request, formula: Formula, tiers: Sequence[MarginTier], distance: float) -> Target:
    """The highest leverage (to 0.01x, between 1x and the entry tier's maximum) whose liquidation is at least
    ``distance`` (a fraction) from the entry, with the tiers; the distance falls as the leverage rises."""
    cap = entry_tier(req, tiers).max_leverage

    def far(lev: float) -> bool:
        try:
            got = outcome_at(req, formula, tiers, lev)
        except LiqError:
            return False
        return got.distance is None or got.distance >= distance

    if far(cap):
        return Target(distance, cap, outcome_at(req, formula, tiers, cap), cap, "the tier's maximum leverage")
    if not far(1.0):
        return Target(distance, None, None, cap, f"even at 1x the liquidation is nearer than {distance * 100:g} %")
    lo, hi = 1.0, cap
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if far(mid) else (lo, mid)
        if hi - lo < 1e-7:
            break
    lev = math.floor(lo * 100) / 100  # shown to 0.01x, rounded down: still far enough
    lev = max(lev, 1.0)
    return Target(distance, lev, outcome_at(req, formula, tiers, lev), cap)


def size_for_risk(capital: float, entry: float, stop_pct: float, risk_pct: float, side: int) -> Sizing:
    """Seed 004 ``position_size_for_risk``: max loss = capital × risk %, position USD = max loss / stop %,
    coins = USD / entry, implied leverage = USD / capital; the stop ``stop_pct`` % against the side."""
    max_loss = capital * risk_pct / 100.0
    size_usd = max_loss / (stop_pct / 100.0)
    return Sizing(capital=capital, risk_pct=risk_pct, stop_pct=stop_pct, max_loss_usd=max_loss, size_usd=size_usd,
                  size_base=size_usd / entry, implied_leverage=size_usd / capital,
                  stop_price=entry * (1.0 - side * stop_pct / 100.0))


def liquidation_report(req: Request, tiers: Sequence[MarginTier], *, sizing: Sizing | None = None,
                       taker_fee: float = 0.0) -> Report:
    """The whole answer for ``req`` on ``tiers`` (``LiqError`` for a position no formula answers: a leverage
    above the tier's maximum, a margin below maintenance at entry, a cross wallet below the initial margin)."""
    formula = formula_for(req.venue, req.inverse)
    if req.mode == "cross" and req.target_distance is not None:
        raise LiqError("the target distance searches the isolated margin per leverage; in cross mode the wallet "
                       "sets the liquidation price")
    tiers = tuple(sorted(tiers, key=lambda t: t.floor))
    notes: list[str] = []
    target: Target | None = None
    lev = req.leverage
    if lev is None and req.margin_usd is not None:
        lev = req.size * req.entry / req.margin_usd
    if lev is None:
        if req.target_distance is None:
            raise LiqError("give the leverage or the margin (or a target distance to search the leverage)")
        target = safe_leverage(req, formula, tiers, req.target_distance)
        if target.leverage is None:
            raise LiqError(f"no leverage keeps the liquidation {req.target_distance * 100:g} % away: {target.note}")
        lev = target.leverage
        notes.append(f"leverage {lev:g}x: the highest keeping the liquidation at least {req.target_distance * 100:g} % "
                     "away")
    check_leverage(req, tiers, lev)
    if req.mode == "cross":
        if req.wallet_usd is None:
            raise LiqError("cross mode needs the wallet balance (USD)")
        if req.wallet_usd < req.size * req.entry / lev * (1 - 1e-12):
            raise LiqError(f"the wallet ({req.wallet_usd:,.2f} USD) is below the initial margin "
                           f"({req.size * req.entry / lev:,.2f} USD at {lev:g}x)")
        notes.append("cross margin: the whole wallet backs this one position (other positions, their margin and "
                     "PnL, are not modelled)")
    out = outcome_at(req, formula, tiers, lev)
    if target is None and req.target_distance is not None:
        target = safe_leverage(req, formula, tiers, req.target_distance)
    if formula.tier_at == "liquidation":  # where the tier moves with the price, a jump matters
        notes += continuity(tiers)
    if out.solution.note:
        notes.append(out.solution.note)
    if out.price is None:
        notes.append("no liquidation price above zero: the margin covers the loss of the whole move")
    if formula.note:
        notes.append(formula.note)
    tier = out.solution.tier
    if not tier.official:
        notes.append(f"the tiers come from an unofficial source ({tier.source})")
    stop_first: bool | None = None
    if sizing is not None and out.price is not None:
        stop_first = req.side * (sizing.stop_price - out.price) > 0
        if not stop_first:
            notes.append(f"the stop at {sizing.stop_price:,.2f} is beyond the liquidation price: the position is "
                         "liquidated before the stop")
    # the taker fee on the notional closed at the liquidation price, in USD: ``Q·LP`` for a linear contract; an
    # inverse one's notional is its face ``V = Q·EP`` at any price (the fee, ``V/LP·fee`` coins, is worth ``V·fee``)
    close_fee = (req.size * (req.entry if req.inverse else out.price) * taker_fee if out.price is not None
                 else None)
    return Report(request=replace(req, leverage=lev), formula=formula, tiers=tiers, outcome=out, target=target,
                  sizing=sizing, close_fee_usd=close_fee, stop_before_liquidation=stop_first, notes=tuple(notes))


# --- the liquidation map's hook -------------------------------------------------------------------------------------


def tier_rule(tiers: Mapping[tuple[str, str], Sequence[MarginTier]],
              fallback: MaintenanceRule | None = None) -> MaintenanceRule:
    """A ``dtrack.analytics.liquidation_map.MaintenanceRule`` from tiers by (venue, symbol): for each leverage,
    the maintenance rate of the lowest tier that allows it (``max_leverage >= L``); a leverage no tier allows gets
    rate 1 (the map drops it: ``1/L <= mmr``). A contract without tiers: ``fallback`` (e.g. ``flat_maintenance()``),
    else a ``KeyError`` naming it."""
    import numpy as np

    sorted_tiers = {k: tuple(sorted(v, key=lambda t: t.floor)) for k, v in tiers.items() if v}

    def rule(venue: str, symbol: str, leverage: FloatArray) -> FloatArray:
        table = sorted_tiers.get((venue, symbol))
        if table is None:
            if fallback is None:
                raise KeyError(f"no margin tiers of {venue} {symbol}")
            return np.asarray(fallback(venue, symbol, leverage), dtype=np.float64)
        caps = np.array([t.max_leverage for t in table], dtype=np.float64)
        rates = np.array([t.mmr for t in table], dtype=np.float64)
        lev = np.asarray(leverage, dtype=np.float64)
        ok = caps[None, :] >= lev[:, None] * (1 - LEVERAGE_SLACK)
        first = np.argmax(ok, axis=1)
        return np.where(ok.any(axis=1), rates[first], 1.0)

    return rule
