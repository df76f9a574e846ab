"""Liquidation prices (``dtrack.analytics.liqprice``) against the venues' documented worked examples and against an
independent reference written here: the price where margin balance meets maintenance margin, found by bisection on
the price from each venue's own definitions (equity and maintenance margin), never from the closed forms."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from dtrack.analytics import liqprice as lp
from dtrack.client.queries.liqprice import check, pick_contract
from dtrack.errors import SymbolNotFound, UsageError
from dtrack.records import Instrument, Kind, Margin, MarginTier, Unit

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def tiers_from(rows: Sequence[tuple[float, float, float]], unit: Unit = Unit.USD, venue: str = "binance",
               deduction: Sequence[float] | None = None) -> tuple[MarginTier, ...]:
    """Tiers from (cap, mmr, max leverage) rows; the deduction by the continuity rule (computed here, in a plain
    loop) unless given."""
    out: list[MarginTier] = []
    floor, cum, prev = 0.0, 0.0, 0.0
    for n, (cap, mmr, lev) in enumerate(rows, 1):
        cum += floor * (mmr - prev)
        d = cum if deduction is None else deduction[n - 1]
        out.append(MarginTier(venue=venue, symbol="X", tier=n, floor=floor, cap=None if math.isinf(cap) else cap,
                              unit=unit, mmr=mmr, deduction=d, max_leverage=lev, time=None, received_at=NOW))
        floor, prev = cap, mmr
    return tuple(out)


def one_tier(mmr: float, max_lev: float = 125.0, unit: Unit = Unit.USD, venue: str = "x") -> tuple[MarginTier, ...]:
    return tiers_from([(math.inf, mmr, max_lev)], unit, venue)


# --- the independent reference: bisection on the price ------------------------------------------------------------


def bisect(f: Callable[[float], float], lo: float, hi: float) -> float:
    """The root of ``f`` in [lo, hi] (f changes sign), to a relative 1e-13."""
    flo = f(lo)
    for _ in range(200):
        mid = (lo + hi) / 2
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
        if hi - lo < 1e-13 * hi:
            break
    return (lo + hi) / 2


def table_mm(tiers: Sequence[MarginTier], amount: float) -> float:
    """Maintenance margin of a position of ``amount`` (the table's unit), by scanning the rows."""
    for t in tiers:
        if t.cap is None or amount < t.cap:
            return amount * t.mmr - t.deduction
    raise AssertionError("beyond the table")


def ref_linear(side: int, entry: float, q: float, margin: float, tiers: Sequence[MarginTier], fee: float = 0.0,
               mm_at_entry: bool = False) -> float:
    """Linear: margin + s·Q·(P − EP) = MM(P) (+ fee·Q·P); Bybit classic: MM at the entry value."""
    def gap(p: float) -> float:
        mm = table_mm(tiers, q * entry) if mm_at_entry else table_mm(tiers, q * p)
        return margin + side * q * (p - entry) - mm - fee * q * p

    return bisect(gap, entry * 1e-6, entry) if side > 0 else bisect(gap, entry, entry * 50)


def ref_inverse(side: int, entry: float, face_usd: float, margin_coin: float, tiers: Sequence[MarginTier],
                fee: float = 0.0, mm_at_entry: bool = False) -> float:
    """Inverse (coins): margin + s·V·(1/EP − 1/P) = MM(V/P coins) (+ fee·V/P)."""
    def gap(p: float) -> float:
        coins = face_usd / entry if mm_at_entry else face_usd / p
        return margin_coin + side * face_usd * (1 / entry - 1 / p) - table_mm(tiers, coins) - fee * face_usd / p

    return bisect(gap, entry * 1e-6, entry) if side > 0 else bisect(gap, entry, entry * 50)


def pos(side: int, entry: float, q: float, margin: float, inverse: bool = False, cv: float = 1.0) -> lp.Position:
    return lp.Position(side=side, entry=entry, size=q, margin=margin, inverse=inverse, contract_value=cv)


# --- documented worked examples -------------------------------------------------------------------------------------


def test_bybit_documented_example() -> None:
    """Bybit "Liquidation Price (USDT Contract)"
    (https://testnet.bybit.com/en-US/help-center/s/article/Liquidation-Price-USDT-Contract): long 1 BTC at 20,000
    USDT, 50x, MMR 0.5 % -> IM 400, MM 100, liquidation price 19,700."""
    req = lp.Request(venue="bybit", symbol="BTCUSDT", asset="BTC", inverse=False, contract_value=1.0, side=1,
                     entry=20_000.0, size=1.0, leverage=50.0)
    out = lp.liquidation_report(req, one_tier(0.005, 100.0, venue="bybit")).outcome
    assert out.price == pytest.approx(19_700.0, abs=1e-9)
    assert out.margin_usd == pytest.approx(400.0)
    assert out.distance == pytest.approx(0.015, abs=1e-12)
    assert out.risk_level == "high"


def test_binance_coinm_documented_maintenance_margin() -> None:
    """Binance "How to Calculate Liquidation Price of Coin-M Futures Contracts"
    (https://www.binance.com/es-MX/support/faq/how-to-calculate-liquidation-price-of-coin-m-futures-contracts-ceccfcfb4e3a45e3b48b0b1bb1a8ae46):
    100 BTCUSD perpetual contracts (100 USD each) at mark 25,000: notional 100 x 100 / 25,000 = 0.4 BTC, level 1,
    maintenance margin 0.4 x 0.4 % - 0 = 0.0016 BTC. And (the 2021 version of the page) the maintenance amount of
    level 5 = 50 BTC x (5 % - 2.5 %) + 0.56 BTC = 1.81 BTC: the continuity rule ``continuity`` checks."""
    coinm = tiers_from([(5, 0.004, 125), (10, 0.005, 100), (20, 0.01, 50), (50, 0.025, 20), (100, 0.05, 10)],
                       Unit.BASE)
    p = pos(1, 30_000.0, 100 * 100 / 30_000.0, 0.0, inverse=True, cv=100.0)
    assert p.measure(Unit.BASE, 25_000.0) == pytest.approx(0.4)
    assert p.measure(Unit.CONTRACTS, 25_000.0) == pytest.approx(100.0)
    tier = lp.pick_tier(coinm, p.measure(Unit.BASE, 25_000.0))
    assert tier is not None and tier.tier == 1
    assert p.measure(Unit.BASE, 25_000.0) * tier.mmr - tier.deduction == pytest.approx(0.0016, abs=1e-15)
    # level 5 in the old page: floor 50 BTC, 2.5 % -> 5 %, maintenance amount 0.56 -> 1.81 BTC
    level = (MarginTier(venue="binance", symbol="BTCUSD_PERP", tier=4, floor=20, cap=50, unit=Unit.BASE, mmr=0.025,
                        deduction=0.56, max_leverage=20, time=None, received_at=NOW),
             MarginTier(venue="binance", symbol="BTCUSD_PERP", tier=5, floor=50, cap=100, unit=Unit.BASE, mmr=0.05,
                        deduction=1.81, max_leverage=10, time=None, received_at=NOW))
    assert lp.continuity(level) == []
    broken = (level[0], MarginTier(**{**{f: getattr(level[1], f) for f in level[1].__slots__}, "deduction": 1.80}))
    assert len(lp.continuity(broken)) == 1


def test_deribit_documented_rule() -> None:
    """Deribit "Linear Perpetual" (https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual):
    BTC_USDC, 25 BTC: IM 2 % + 25 x 0.005 % = 2.125 %, MM 1 % + 25 x 0.005 % = 1.125 % (0.28125 BTC); 350 BTC: IM
    3.75 %; SOL 25: IM 4.0125 %, MM 2.0125 %; SOL 6000: IM 7 %."""
    t = lp.deribit_tiers("BTC_USDC-PERPETUAL", "BTC", 25.0, False, NOW)[0]
    assert t.mmr == pytest.approx(0.01125, abs=1e-15) and t.imr == pytest.approx(0.02125, abs=1e-15)
    assert 25 * t.mmr == pytest.approx(0.28125, abs=1e-12)
    assert lp.deribit_tiers("BTC_USDC-PERPETUAL", "BTC", 350.0, False, NOW)[0].imr == pytest.approx(0.0375)
    sol = lp.deribit_tiers("SOL_USDC-PERPETUAL", "SOL", 25.0, False, NOW)[0]
    assert sol.mmr == pytest.approx(0.020125) and sol.imr == pytest.approx(0.040125)
    assert lp.deribit_tiers("SOL_USDC-PERPETUAL", "SOL", 6000.0, False, NOW)[0].imr == pytest.approx(0.07)
    with pytest.raises(lp.LiqError, match="not in a source"):
        lp.deribit_tiers("BTC-PERPETUAL", "BTC", 1.0, True, NOW)


def test_okx_inverse_matches_the_published_okex_form() -> None:
    """The coin-margined isolated form OKEx published (third-party transcription, https://ukcamo.com/5262.html):
    long (1 + mmr) / (1/EP + M/(face x contracts)), short (1 - mmr) / (1/EP - M/(face x contracts)); no fee."""
    ep, contracts, face, lev, mmr = 40_000.0, 500, 100.0, 20.0, 0.005
    v = contracts * face
    m = v / ep / lev
    long_ = lp.okx_inverse(pos(1, ep, v / ep, m, True, face), mmr, 0.0, 0.0, lev)
    short = lp.okx_inverse(pos(-1, ep, v / ep, m, True, face), mmr, 0.0, 0.0, lev)
    assert long_ == pytest.approx((1 + mmr) / (1 / ep + m / v), rel=1e-13)
    assert short == pytest.approx((1 - mmr) / (1 / ep - m / v), rel=1e-13)


def test_seed_position_size_for_risk() -> None:
    """Seed 004 example 4: capital 100,000, entry 43,000, stop 5 %, risk 2 % -> max loss 2,000, position 40,000 USD
    = 0.930233 BTC, implied leverage 0.4 (figures by hand)."""
    s = lp.size_for_risk(100_000.0, 43_000.0, 5.0, 2.0, 1)
    assert s.max_loss_usd == pytest.approx(2_000.0)
    assert s.size_usd == pytest.approx(40_000.0)
    assert s.size_base == pytest.approx(0.930233, abs=5e-7)
    assert s.implied_leverage == pytest.approx(0.4)
    assert s.stop_price == pytest.approx(40_850.0)
    assert lp.size_for_risk(100_000.0, 43_000.0, 5.0, 2.0, -1).stop_price == pytest.approx(45_150.0)


# --- every closed form against the bisection reference ----------------------------------------------------------------

CASES = [(side, lev) for side in (1, -1) for lev in (2.0, 5.0, 10.0, 25.0, 60.0)]


@pytest.mark.parametrize(("side", "lev"), CASES)
@pytest.mark.parametrize("formula", [lp.binance_usdm, lp.hyperliquid, lp.dydx])
def test_linear_formulas_meet_maintenance(formula: lp.Solve, side: int, lev: float) -> None:
    ep, q, mmr, d = 3_150.0, 12.5, 0.0125, 40.0
    tiers = tiers_from([(math.inf, mmr, 125)], deduction=[d])
    margin = q * ep / lev
    got = formula(pos(side, ep, q, margin), mmr, d, 0.0, lev)
    assert got == pytest.approx(ref_linear(side, ep, q, margin, tiers), rel=1e-10)


@pytest.mark.parametrize(("side", "lev"), CASES)
def test_okx_linear_with_fee_meets_maintenance_plus_fee(side: int, lev: float) -> None:
    ep, q, mmr, fee = 91_000.0, 0.37, 0.004, 0.0005
    margin = q * ep / lev
    got = lp.okx_linear(pos(side, ep, q, margin), mmr, 0.0, fee, lev)
    assert got == pytest.approx(ref_linear(side, ep, q, margin, one_tier(mmr), fee=fee), rel=1e-10)


@pytest.mark.parametrize(("side", "lev"), CASES)
def test_bybit_linear_meets_maintenance_at_entry_value(side: int, lev: float) -> None:
    ep, q, mmr, d = 64_000.0, 3.0, 0.01, 10_000.0
    tiers = tiers_from([(math.inf, mmr, 100)], deduction=[d])
    margin = q * ep / lev + 250.0  # with extra margin
    got = lp.bybit_linear(pos(side, ep, q, margin), mmr, d, 0.0, lev)
    assert got == pytest.approx(ref_linear(side, ep, q, margin, tiers, mm_at_entry=True), rel=1e-10)


@pytest.mark.parametrize(("side", "lev"), CASES)
@pytest.mark.parametrize(("formula", "fee", "at_entry"), [(lp.binance_coinm, 0.0, False),
                                                          (lp.okx_inverse, 0.0005, False),
                                                          (lp.bybit_inverse, 0.0, True)])
def test_inverse_formulas_meet_maintenance(formula: lp.Solve, fee: float, at_entry: bool, side: int,
                                           lev: float) -> None:
    ep, contracts, face, mmr, d = 50_000.0, 3_000, 100.0, 0.005, 0.02
    v = contracts * face
    tiers = tiers_from([(math.inf, mmr, 125)], Unit.BASE, deduction=[d])
    margin = v / ep / lev
    got = formula(pos(side, ep, v / ep, margin, True, face), mmr, d, fee, lev)
    assert got == pytest.approx(ref_inverse(side, ep, v, margin, tiers, fee=fee, mm_at_entry=at_entry), rel=1e-10)


def test_no_liquidation_price_at_one_x_long_and_inverse_short() -> None:
    """A 1x long (margin = the whole value) has no liquidation price above zero; nor has a 1x inverse short."""
    req = lp.Request(venue="binance", symbol="BTCUSDT", asset="BTC", inverse=False, contract_value=1.0, side=1,
                     entry=100.0, size=1.0, leverage=1.0)
    rep = lp.liquidation_report(req, one_tier(0.004))
    assert rep.outcome.price is None and rep.outcome.risk_level == "low"
    assert lp.okx_inverse(pos(-1, 100.0, 1.0, 1.0, True, 100.0), 0.005, 0.0, 0.0, 1.0) is None


# --- tier iteration ---------------------------------------------------------------------------------------------------

#: BTCUSDT brackets as a third-party calculator transcribed them from Binance's web page in 2021
#: (https://gist.github.com/highfestiva/b71e76f51eed84d56c1be8ebbcc286b5): (cap USD, MMR, max leverage)
GIST_BTCUSDT = [(50_000, 0.004, 125), (250_000, 0.005, 100), (1_000_000, 0.01, 50), (10_000_000, 0.025, 20),
                (20_000_000, 0.05, 10), (50_000_000, 0.1, 5), (100_000_000, 0.125, 4), (200_000_000, 0.15, 3),
                (300_000_000, 0.25, 2), (500_000_000, 0.5, 1)]
#: and the maintenance amounts (cum) the same page shows
GIST_CUM = [0, 50, 1_300, 16_300, 266_300, 1_266_300, 2_516_300, 5_016_300, 25_016_300, 100_016_300]


def gist_loop(wallet: float, qty: float, entry: float) -> float:
    """The gist's own algorithm (a second, independent formulation): try the brackets from the lowest, keep the
    first whose cap holds the notional at its liquidation price."""
    for (cap, mmr, _), cum in zip(GIST_BTCUSDT, GIST_CUM, strict=True):
        liq = (wallet + cum - qty * entry) / (abs(qty) * (mmr - (1 if qty >= 0 else -1)))
        if liq * abs(qty) <= cap:
            return liq
    raise AssertionError("beyond the table")


def test_cum_of_the_transcribed_table_is_continuous() -> None:
    tiers = tiers_from(GIST_BTCUSDT)
    assert [t.deduction for t in tiers] == pytest.approx(GIST_CUM)
    assert lp.continuity(tiers) == []


@pytest.mark.parametrize(("side", "q", "entry", "lev", "entry_tier", "liq_tier"), [
    (1, 4.5, 60_000.0, 10.0, 3, 2),     # 270,000 USD at entry, ~245,000 at the liquidation price: down a tier
    (1, 40.0, 30_000.0, 5.0, 4, 3),     # 1.2M -> ~0.97M
    (-1, 3.9, 60_000.0, 10.0, 2, 3),    # a short: 234,000 -> ~257,000, up a tier
    (1, 0.5, 60_000.0, 100.0, 1, 1),    # inside tier 1 throughout
])
def test_binance_tier_iteration_across_a_boundary(side: int, q: float, entry: float, lev: float, entry_tier: int,
                                                  liq_tier: int) -> None:
    tiers = tiers_from(GIST_BTCUSDT, venue="binance")
    req = lp.Request(venue="binance", symbol="BTCUSDT", asset="BTC", inverse=False, contract_value=1.0, side=side,
                     entry=entry, size=q, leverage=lev)
    rep = lp.liquidation_report(req, tiers)
    sol = rep.outcome.solution
    assert sol.steps[0].tier == entry_tier and sol.tier.tier == liq_tier and sol.converged
    margin = q * entry / lev
    assert rep.outcome.price == pytest.approx(ref_linear(side, entry, q, margin, tiers), rel=1e-10)
    if side > 0:
        assert rep.outcome.price == pytest.approx(gist_loop(margin, q, entry), rel=1e-12)


def test_coinm_iterates_at_the_liquidation_notional_in_coins() -> None:
    """COIN-M brackets count coins at the price: a short's notional in coins falls as the price rises."""
    coinm = tiers_from([(5, 0.004, 125), (10, 0.005, 100), (20, 0.01, 50), (40, 0.025, 20)], Unit.BASE)
    contracts, face, entry, lev = 1_010, 100.0, 20_000.0, 20.0  # 5.05 BTC at entry (tier 2), ~4.8 at the price
    v = contracts * face
    req = lp.Request(venue="binance", symbol="BTCUSD_PERP", asset="BTC", inverse=True, contract_value=face,
                     side=-1, entry=entry, size=v / entry, leverage=lev)
    rep = lp.liquidation_report(req, coinm)
    assert rep.outcome.solution.steps[0].tier == 2 and rep.outcome.solution.tier.tier == 1
    assert rep.outcome.price == pytest.approx(ref_inverse(-1, entry, v, v / entry / lev, coinm), rel=1e-10)


def test_oscillation_is_detected_and_said() -> None:
    """A table whose deduction is not continuous can send the iteration round: tier 2's price lands in tier 1 and
    tier 1's in tier 2. No tier is consistent with its own price: the price nearest the entry is shown."""
    tiers = tiers_from([(100_000, 0.005, 125), (math.inf, 0.01, 100)], deduction=[0.0, 10_000.0])
    req = lp.Request(venue="binance", symbol="X", asset="BTC", inverse=False, contract_value=1.0, side=1,
                     entry=120_000.0, size=1.0, leverage=10.0)
    rep = lp.liquidation_report(req, tiers)
    sol = rep.outcome.solution
    assert not sol.converged and sol.oscillation == (2, 1)
    assert [s.tier for s in sol.steps] == [2, 1]
    assert rep.outcome.price == pytest.approx(108_000.0 / 0.995)  # tier 1's, the nearer to the entry
    assert any("went round" in n for n in rep.notes)
    assert any("jumps" in n for n in rep.notes)


def test_okx_tiers_count_contracts() -> None:
    """OKX tiers are in contracts: 0.01 BTC a contract, 1,500 contracts = 15 BTC falls in tier 2 at any price."""
    okx = tiers_from([(1000, 0.004, 100), (2000, 0.005, 75)], Unit.CONTRACTS, venue="okx", deduction=[0.0, 0.0])
    req = lp.Request(venue="okx", symbol="BTC-USDT-SWAP", asset="BTC", inverse=False, contract_value=0.01, side=1,
                     entry=90_000.0, size=15.0, leverage=20.0, fee_rate=0.0005)
    rep = lp.liquidation_report(req, okx)
    assert rep.outcome.solution.tier.tier == 2 and len(rep.outcome.solution.steps) == 1
    ref = ref_linear(1, 90_000.0, 15.0, 15 * 90_000 / 20, one_tier(0.005), fee=0.0005)  # tier 2's rate throughout
    assert rep.outcome.price == pytest.approx(ref, rel=1e-10)


# --- target distance, checks ----------------------------------------------------------------------------------------


def test_safe_leverage_single_tier_closed_form() -> None:
    """One tier, cum 0: long distance D at L satisfies 1 - D = (1 - 1/L)/(1 - m), so L = 1/(1 - (1 - D)(1 - m))."""
    m, target = 0.004, 0.30
    req = lp.Request(venue="binance", symbol="BTCUSDT", asset="BTC", inverse=False, contract_value=1.0, side=1,
                     entry=50_000.0, size=0.1, target_distance=target)
    rep = lp.liquidation_report(req, one_tier(m))
    best = 1 / (1 - (1 - target) * (1 - m))
    assert rep.target is not None and rep.target.leverage == pytest.approx(math.floor(best * 100) / 100)
    assert rep.request.leverage == rep.target.leverage  # no leverage given: computed at it
    assert rep.outcome.distance is not None and rep.outcome.distance >= target


def test_the_target_distance_is_said_as_given_not_rounded() -> None:
    """12.5 % is said as 12.5 %, not 12 % (nor 0.01 % as 0 %)."""
    for target, said in ((0.125, "at least 12.5 %"), (0.0001, "at least 0.01 %")):
        req = lp.Request(venue="binance", symbol="BTCUSDT", asset="BTC", inverse=False, contract_value=1.0, side=1,
                         entry=50_000.0, size=0.1, target_distance=target)
        assert any(said in n for n in lp.liquidation_report(req, one_tier(0.004)).notes)


def test_safe_leverage_with_tiers_is_the_highest_by_reference() -> None:
    tiers = tiers_from(GIST_BTCUSDT)
    q, entry, target = 30.0, 40_000.0, 0.15  # 1.2M: tier 4, max 20x
    req = lp.Request(venue="binance", symbol="BTCUSDT", asset="BTC", inverse=False, contract_value=1.0, side=-1,
                     entry=entry, size=q, leverage=3.0, target_distance=target)
    got = lp.liquidation_report(req, tiers).target
    assert got is not None and got.leverage is not None and got.cap == 20

    def dist(lev: float) -> float:
        return ref_linear(-1, entry, q, q * entry / lev, tiers) / entry - 1

    assert dist(got.leverage) >= target > dist(got.leverage + 0.01)


def test_leverage_above_the_tiers_maximum_is_refused() -> None:
    req = lp.Request(venue="binance", symbol="BTCUSDT", asset="BTC", inverse=False, contract_value=1.0, side=1,
                     entry=60_000.0, size=10.0, leverage=60.0)  # 600,000 USD: tier 3, max 50x
    with pytest.raises(lp.LiqError, match="above the 50x that tier 3"):
        lp.liquidation_report(req, tiers_from(GIST_BTCUSDT))


def test_cross_mode_uses_the_wallet() -> None:
    req = lp.Request(venue="binance", symbol="BTCUSDT", asset="BTC", inverse=False, contract_value=1.0, side=1,
                     entry=60_000.0, size=1.0, leverage=20.0, mode="cross", wallet_usd=10_000.0)
    rep = lp.liquidation_report(req, tiers_from(GIST_BTCUSDT))
    assert rep.outcome.price == pytest.approx(ref_linear(1, 60_000.0, 1.0, 10_000.0, tiers_from(GIST_BTCUSDT)))
    with pytest.raises(lp.LiqError, match="below the initial margin"):
        lp.liquidation_report(lp.Request(**{**{f: getattr(req, f) for f in req.__slots__}, "wallet_usd": 100.0}),
                              tiers_from(GIST_BTCUSDT))


def test_close_fee_is_the_taker_fee_on_the_notional_closed() -> None:
    """Linear: Q x LP x fee USD. Inverse: the fee is charged in coins on the face value, V / LP x fee coins, worth
    V x fee USD at LP whatever LP is (Bybit inverse, 50,000 USD of contracts at 50x, fee 0.055 %: 27.50 USD)."""
    fee = 0.00055
    inv = lp.Request(venue="bybit", symbol="BTCUSD", asset="BTC", inverse=True, contract_value=1.0, side=1,
                     entry=50_000.0, size=1.0, leverage=50.0)
    rep = lp.liquidation_report(inv, one_tier(0.005, 100.0, Unit.BASE, "bybit"), taker_fee=fee)
    price = rep.outcome.price
    assert price is not None and price < 50_000.0
    coins_fee = 50_000.0 / price * fee
    assert rep.close_fee_usd == pytest.approx(coins_fee * price, rel=1e-12)
    assert rep.close_fee_usd == pytest.approx(27.5, rel=1e-12)
    lin = lp.Request(venue="bybit", symbol="BTCUSDT", asset="BTC", inverse=False, contract_value=1.0, side=1,
                     entry=20_000.0, size=1.0, leverage=50.0)
    rep = lp.liquidation_report(lin, one_tier(0.005, 100.0, venue="bybit"), taker_fee=fee)
    assert rep.close_fee_usd == pytest.approx(19_700.0 * fee, rel=1e-12)  # at the documented 19,700


def test_cross_mode_refuses_a_target_distance_even_without_a_leverage() -> None:
    """In cross mode the wallet, not the leverage, sets the price: a leverage search would only return the tier's
    maximum. Refused up front (the library, as the command line does)."""
    req = lp.Request(venue="binance", symbol="BTCUSDT", asset="BTC", inverse=False, contract_value=1.0, side=1,
                     entry=100.0, size=1.0, mode="cross", wallet_usd=50.0, target_distance=0.3)
    with pytest.raises(lp.LiqError, match="cross mode"):
        lp.liquidation_report(req, one_tier(0.004))


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"size": -1.0, "leverage": 10.0}, "bad --size"),
    ({"size": 1.0, "leverage": 10.0, "margin": 100.0}, "not both"),
    ({"size": 1.0, "leverage": 0.5}, "bad --leverage"),
    ({"size": 1.0}, "give --leverage or --margin"),
    ({"size": 1.0, "leverage": 5.0, "mode": "cross"}, "needs --wallet"),
    ({"size": 1.0, "leverage": 5.0, "risk": 2.0}, "needs all of"),
    ({"size": 1.0, "leverage": 5.0, "venue": "nowhere"}, "unknown venue"),
    ({"size": 1.0, "leverage": 5.0, "side": "up"}, "bad --side"),
    ({"size": 1.0, "leverage": 5.0, "venue": "gmx"}, "no documented liquidation formula"),
])
def test_bad_input_is_one_usage_line(kwargs: dict[str, object], needle: str) -> None:
    args: dict[str, object] = {"venue": "binance", "symbol": "BTCUSDT", "side": "long", "size": None, "entry": None,
                               "leverage": None, "margin": None, "mode": "isolated", "wallet": None,
                               "target_distance": None, "risk": None, "stop": None, "capital": None, **kwargs}
    with pytest.raises(UsageError, match=needle) as exc:
        check(**args)  # type: ignore[arg-type]
    assert "\n" not in str(exc.value)


def _inst(symbol: str, quote: str, margin: Margin, kind: Kind = Kind.PERP) -> Instrument:
    return Instrument(venue="binance", symbol=symbol, asset="BTC", quote=quote, settle=quote, kind=kind,
                      margin=margin)


def test_symbol_resolution() -> None:
    listed = [_inst("BTCUSD_PERP", "USD", Margin.INVERSE), _inst("BTCUSDC", "USDC", Margin.LINEAR),
              _inst("BTCUSDT", "USDT", Margin.LINEAR), _inst("BTCUSDT_261225", "USDT", Margin.LINEAR, Kind.FUTURE)]
    assert pick_contract(listed, "btcusd_perp", "binance") == (listed[0], "")
    chosen, note = pick_contract(listed, "BTC", "binance")
    assert chosen.symbol == "BTCUSDT" and "BTCUSDC" in note
    assert pick_contract(listed, "BTC/USDC:USDC", "binance")[0].symbol == "BTCUSDC"
    with pytest.raises(SymbolNotFound):
        pick_contract(listed, "ETHUSDT", "binance")


def test_tier_rule_for_the_liquidation_map() -> None:
    """The lowest tier allowing each leverage gives its rate (the smallest positions: tier 1 wherever its maximum
    allows); a leverage no tier allows gets 1 (dropped by the map); a contract without tiers falls back."""
    tiers = tiers_from(GIST_BTCUSDT)
    rule = lp.tier_rule({("binance", "BTCUSDT"): tiers,
                         ("hyperliquid", "BTC"): tiers_from([(1e6, 0.02, 25), (math.inf, 0.0125, 40)])},
                        fallback=lambda v, s, lev: np.full(lev.shape, 0.007))
    rates = rule("binance", "BTCUSDT", np.array([2.0, 20.0, 125.0, 150.0]))
    assert rates.tolist() == [0.004, 0.004, 0.004, 1.0]
    assert rule("hyperliquid", "BTC", np.array([10.0, 30.0, 50.0])).tolist() == [0.02, 0.0125, 1.0]
    assert rule("okx", "BTC-USDT-SWAP", np.array([5.0])).tolist() == [0.007]
