"""``dtrack.analytics.volatility`` against independent references: each estimator written out from its paper as
plain Python loops (``math`` only), on real klines (tests/payloads: Binance, Bybit and OKX answers captured by
ccxt) and on synthetic geometric Brownian motion whose true volatility is known; the regimes, transitions,
adaptive leverage (seed 004's formula) and the ``vol`` settings."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import load_payload

from dtrack.analytics import volatility as v
from dtrack.config import parse_settings
from dtrack.errors import ConfigError

# --- the references: the papers' formulas, one bar at a time ---------------------------------------------------

OHLC = tuple[list[float], list[float], list[float], list[float]]


def ref_variance(o: list[float], h: list[float], lo: list[float], c: list[float], method: str) -> float:
    """Per-period variance over bars 1..n (bar 0 lends its close), from the papers:

    - close-to-close: s² = Σ (r_i − r̄)² / (n − 1), r_i = ln(C_i / C_{i−1});
    - Parkinson (1980), eq. for the extreme-value estimator: σ² = (1 / (4 n ln 2)) Σ (ln(H_i / L_i))²;
    - Garman & Klass (1980) σ̂₅ ("best analytic scale-invariant"): (1/n) Σ ½ (ln H/L)² − (2 ln 2 − 1)(ln C/O)²;
    - Rogers & Satchell (1991): (1/n) Σ ln(H/C) ln(H/O) + ln(L/C) ln(L/O);
    - Yang & Zhang (2000), eq. (9)-(10): V = V_O + k V_C + (1 − k) V_RS, V_O and V_C the sample variances of
      ln(O_i / C_{i−1}) and ln(C_i / O_i), k = 0.34 / (1.34 + (n + 1) / (n − 1)).
    """
    n = len(c) - 1
    if method == "cc":
        r = [math.log(c[i] / c[i - 1]) for i in range(1, n + 1)]
        mean = sum(r) / n
        return sum((x - mean) ** 2 for x in r) / (n - 1)
    if method == "parkinson":
        return sum(math.log(h[i] / lo[i]) ** 2 for i in range(1, n + 1)) / (4 * n * math.log(2))
    if method == "gk":
        total = 0.0
        for i in range(1, n + 1):
            total += 0.5 * math.log(h[i] / lo[i]) ** 2 - (2 * math.log(2) - 1) * math.log(c[i] / o[i]) ** 2
        return total / n

    def rs() -> float:
        total = 0.0
        for i in range(1, n + 1):
            total += (math.log(h[i] / c[i]) * math.log(h[i] / o[i]) + math.log(lo[i] / c[i]) * math.log(lo[i] / o[i]))
        return total / n

    if method == "rs":
        return rs()
    assert method == "yz"
    jumps = [math.log(o[i] / c[i - 1]) for i in range(1, n + 1)]
    bodies = [math.log(c[i] / o[i]) for i in range(1, n + 1)]
    mj, mb = sum(jumps) / n, sum(bodies) / n
    v_o = sum((x - mj) ** 2 for x in jumps) / (n - 1)
    v_c = sum((x - mb) ** 2 for x in bodies) / (n - 1)
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    return v_o + k * v_c + (1 - k) * rs()


def ref_vol(bars: OHLC, method: str, per_year: float) -> float:
    return math.sqrt(ref_variance(*bars, method) * per_year)


def bars_of(rows: list[list[Any]]) -> tuple[v.Bars, OHLC]:
    """(the analytics' bars, the same as plain lists) from ``[time, o, h, l, c]`` rows, oldest first."""
    rows = sorted(rows, key=lambda r: int(r[0]))
    o, h, lo, c = ([float(r[k]) for r in rows] for k in (1, 2, 3, 4))
    return v.Bars.of([int(r[0]) for r in rows], o, h, lo, c), (o, h, lo, c)


# --- real klines ---------------------------------------------------------------------------------------------------

def real_series() -> list[tuple[str, int, list[list[Any]]]]:
    """(label, bar seconds, [time, o, h, l, c] rows) of every real kline answer with 3 bars: Binance spot 1 h,
    COIN-M index 1 d, USDⓈ-M 1 m (arrays ``[openTime, o, h, l, c, ...]``); Bybit linear 1 h (``result.list``,
    newest first); OKX 1 h (``data``, newest first)."""
    seconds = {"1m": 60, "1h": 3600, "1d": 86400}
    out = []
    for case in load_payload("binance__ccxt_fetchOHLCV.json")["cases"]:
        out.append((f"binance {case['endpoint']}", seconds[case["input"][1]], [r[:5] for r in case["raw"]]))
    bybit = load_payload("bybit__ccxt_fetchOHLCV.json")["cases"][0]
    out.append(("bybit /v5/market/kline", 3600, [r[:5] for r in bybit["raw"]["result"]["list"]]))
    okx = load_payload("okx__ccxt_fetchOHLCV.json")["cases"][0]
    out.append(("okx history-candles", 3600, [r[:5] for r in okx["raw"]["data"]]))
    return out


def test_the_real_payloads_hold_five_three_bar_series() -> None:
    series = real_series()
    assert [len(rows) for _, _, rows in series] == [3, 3, 3, 3, 3]
    # the Binance 1 h spot answer as captured: first bar's open, high, low, close
    assert series[0][2][0] == [1706630400000, "43519.34000000", "43936.00000000", "43171.00000000", "43488.71000000"]


@pytest.mark.parametrize("method", v.METHODS)
def test_every_estimator_equals_the_reference_on_real_klines(method: str) -> None:
    for label, seconds, rows in real_series():
        bars, plain = bars_of(rows)
        per_year = v.periods_per_year(seconds)
        got = v.realized_vol(bars, method, per_year)
        assert got == pytest.approx(ref_vol(plain, method, per_year), rel=1e-12), label
        # the rolling form over the same two periods is the same number
        assert v.rolling_vol(bars, method, 2, per_year).tolist() == pytest.approx([got], rel=1e-12)


def test_one_real_value_written_out() -> None:
    """Binance BTCUSDT 1 h, 2024-01-30 16:00-18:00 UTC: Parkinson from the two bars after the first, by hand."""
    _, _, rows = real_series()[0]
    bars, _ = bars_of(rows)
    hl = [math.log(43832.08 / 43084.0), math.log(44048.0 / 43062.0)]
    expected = math.sqrt((hl[0] ** 2 + hl[1] ** 2) / (4 * 2 * math.log(2)) * 8760)
    assert v.realized_vol(bars, "parkinson", 8760.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(1.1304, rel=1e-4)  # hourly ranges of 1.7 % and 2.3 %: 113 % a year


def test_annualization_uses_365_days() -> None:
    assert v.periods_per_year(86_400) == 365.0
    assert v.periods_per_year(3_600) == 365.0 * 24


# --- synthetic GBM: the true volatility is known ------------------------------------------------------------------

def gbm_bars(sigma: float, bars: int, steps: int, per_year: float, *, mu: float = 0.0, jump_sigma: float = 0.0,
             seed: int = 11) -> tuple[v.Bars, OHLC]:
    """Bars of a GBM with annual volatility ``sigma`` and drift ``mu`` (``steps`` log-normal steps a bar; open,
    high, low and close taken from them) and, with ``jump_sigma``, a normal jump of that per-bar standard deviation
    at each open (an exchange closed overnight)."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / (per_year * steps)
    incr = (mu - 0.5 * sigma**2) * dt + sigma * math.sqrt(dt) * rng.standard_normal((bars, steps))
    jumps = jump_sigma * rng.standard_normal(bars) if jump_sigma else np.zeros(bars)
    moves = incr.sum(axis=1)
    starts = math.log(40_000.0) + np.cumsum(jumps) + np.concatenate(([0.0], np.cumsum(moves)[:-1]))
    paths = starts[:, None] + np.concatenate((np.zeros((bars, 1)), np.cumsum(incr, axis=1)), axis=1)
    o, h, lo, c = (np.exp(x).tolist() for x in (starts, paths.max(axis=1), paths.min(axis=1), paths[:, -1]))
    return v.Bars.of(np.arange(bars) * 3_600_000, o, h, lo, c), (o, h, lo, c)


#: the estimate is within this of the true volatility: the sampling error of 1,500 periods (cc: 1/sqrt(2n) = 1.8 %,
#: the range estimators less) plus the range estimators' bias from a high and low sampled at 2,000 points a bar
#: (the path's true extremes lie beyond them: about -2 %)
GBM_TOLERANCE = 0.05
GBM_STEPS = 2000


@pytest.mark.parametrize("method", v.METHODS)
def test_every_estimator_finds_the_volatility_of_a_gbm(method: str) -> None:
    sigma, per_year = 0.80, 8760.0
    bars, plain = gbm_bars(sigma, 1501, GBM_STEPS, per_year)
    got = v.realized_vol(bars, method, per_year)
    assert got == pytest.approx(sigma, rel=GBM_TOLERANCE)
    assert got == pytest.approx(ref_vol(plain, method, per_year), rel=1e-10)


def test_yang_zhang_and_close_to_close_see_opening_jumps_that_range_estimators_miss() -> None:
    """A series that gaps at each open (per-bar jump σ_o) has total variance σ² + σ_o² per bar: close-to-close and
    Yang-Zhang measure it; Rogers-Satchell and Parkinson see the intrabar part only."""
    sigma, per_year = 0.60, 365.0
    jump = sigma / math.sqrt(per_year)  # as much variance in the jumps as inside the bars
    bars, _ = gbm_bars(sigma, 1501, GBM_STEPS, per_year, jump_sigma=jump, seed=5)
    total = math.sqrt(2) * sigma
    assert v.realized_vol(bars, "yz", per_year) == pytest.approx(total, rel=0.05)
    assert v.realized_vol(bars, "cc", per_year) == pytest.approx(total, rel=0.05)
    assert v.realized_vol(bars, "rs", per_year) == pytest.approx(sigma, rel=0.05)
    assert v.realized_vol(bars, "parkinson", per_year) == pytest.approx(sigma, rel=0.05)


def test_rogers_satchell_is_unaffected_by_drift_where_parkinson_is_not() -> None:
    """Daily bars with a drift as large as the volatility: Parkinson and Garman-Klass read the trend as range,
    Rogers-Satchell (drift-independent by construction) does not."""
    sigma, per_year = 0.50, 365.0
    bars, _ = gbm_bars(sigma, 1501, GBM_STEPS, per_year, mu=sigma * math.sqrt(per_year) * 2, seed=3)
    assert v.realized_vol(bars, "rs", per_year) == pytest.approx(sigma, rel=0.05)
    assert v.realized_vol(bars, "parkinson", per_year) > sigma * 1.15


@pytest.mark.parametrize("method", v.METHODS)
def test_rolling_series_equals_the_reference_at_every_window(method: str) -> None:
    per_year = 8760.0
    bars, (o, h, lo, c) = gbm_bars(0.7, 120, 50, per_year, jump_sigma=0.001, seed=2)
    window = 24
    got = v.rolling_vol(bars, method, window, per_year)
    assert got.shape == (120 - window,)
    for j in range(0, len(got)):
        part = (o[j:j + window + 1], h[j:j + window + 1], lo[j:j + window + 1], c[j:j + window + 1])
        assert got[j] == pytest.approx(ref_vol(part, method, per_year), rel=1e-9), j


@given(st.lists(st.tuples(st.floats(-0.05, 0.05), st.floats(0, 0.03), st.floats(0, 0.03), st.floats(0, 1)),
                min_size=4, max_size=40))
def test_any_valid_bars_match_the_reference(moves: list[tuple[float, float, float, float]]) -> None:
    """Random valid bars (open at the last close moved by a jump; high and low around open and close)."""
    o, h, lo, c = [], [], [], []
    last = 100.0
    for jump, up, down, where in moves:
        op = last * math.exp(jump * 0.1)
        cl = op * math.exp(jump)
        o.append(op)
        c.append(cl)
        h.append(max(op, cl) * math.exp(up))
        lo.append(min(op, cl) * math.exp(-down))
        last = cl * (1 + 0.0 * where)
    bars = v.Bars.of(range(len(o)), o, h, lo, c)
    for method in v.METHODS:
        assert v.realized_vol(bars, method, 365.0) == pytest.approx(ref_vol((o, h, lo, c), method, 365.0),
                                                                    rel=1e-7, abs=1e-9)


def test_invalid_bars_and_methods_are_refused() -> None:
    with pytest.raises(ValueError, match="not a valid OHLC bar"):
        v.Bars.of([0, 1], [10, 10], [11, 9.5], [9, 9], [10, 10])  # the second high below its open
    with pytest.raises(ValueError, match="ascending"):
        v.Bars.of([1, 0], [10, 10], [11, 11], [9, 9], [10, 10])
    bars, _ = gbm_bars(0.5, 10, 10, 365.0)
    with pytest.raises(ValueError, match="unknown method"):
        v.rolling_vol(bars, "ewma", 3, 365.0)
    assert math.isnan(v.realized_vol(v.Bars.of([0, 1], [10, 10], [11, 11], [9, 9], [10, 10]), "cc", 365.0))


# --- regimes, transitions, leverage -----------------------------------------------------------------------------

BANDS = v.Bands()  # seed 004: 40 / 80 / 150 %
CAPS = {"low": 10.0, "medium": 5.0, "high": 2.0, "extreme": 1.0}


@pytest.mark.parametrize(("vol", "regime"), [(0.10, "low"), (0.40, "low"), (0.4000001, "medium"), (0.80, "medium"),
                                             (0.81, "high"), (1.50, "high"), (1.51, "extreme"), (4.0, "extreme")])
def test_regimes_follow_the_seed_bands(vol: float, regime: str) -> None:
    assert v.classify(vol, BANDS) == regime


def seed_adaptive_leverage(volatility: float, target_risk: float = 0.40) -> float:
    """Seed 004 ``calculate_adaptive_leverage`` as written there (its regime caps inlined)."""
    cap = 10 if volatility <= 0.40 else 5 if volatility <= 0.80 else 2 if volatility <= 1.50 else 1
    return min(target_risk / volatility, cap)


@pytest.mark.parametrize("vol", [0.02, 0.03, 0.30, 0.50, 0.80, 1.20, 2.00])
def test_adaptive_leverage_is_the_seeds(vol: float) -> None:
    lev = v.adaptive_leverage(vol, 0.40, BANDS, CAPS)
    assert lev.leverage == pytest.approx(seed_adaptive_leverage(vol), rel=1e-12)
    assert lev.capped == (0.40 / vol > lev.cap)


def test_seed_demo_leverage_figures() -> None:
    """The seed's demo prints 1.3x, 0.8x, 0.5x, 0.3x and 0.2x for 30, 50, 80, 120 and 200 %."""
    shown = [round(v.adaptive_leverage(x, 0.40, BANDS, CAPS).leverage, 1) for x in (0.30, 0.50, 0.80, 1.20, 2.00)]
    assert shown == [1.3, 0.8, 0.5, 0.3, 0.2]
    low_vol = v.adaptive_leverage(0.03, 0.40, BANDS, CAPS)
    assert (low_vol.leverage, low_vol.cap, low_vol.capped) == (10.0, 10.0, True)


def test_transitions_are_every_change_of_regime() -> None:
    times = [10, 20, 30, 40, 50, 60, 70]
    vols = [0.35, 0.39, 0.41, 0.85, 0.79, 0.79, 1.6]
    got = v.transitions(times, vols, BANDS)
    assert [(t.time_ms, t.from_regime, t.to_regime, t.vol) for t in got] == [
        (30, "low", "medium", 0.41), (40, "medium", "high", 0.85), (50, "high", "medium", 0.79),
        (70, "medium", "extreme", 1.6)]
    assert v.transitions(times[:2], vols[:2], BANDS) == []


def test_regime_table_is_seed_004_with_the_caps_from_settings() -> None:
    table = v.regime_table(BANDS, {**CAPS, "low": 8.0})
    assert [(r.regime, r.vol_from, r.vol_to, r.max_leverage) for r in table] == [
        ("low", 0.0, 0.40, 8.0), ("medium", 0.40, 0.80, 5.0), ("high", 0.80, 1.50, 2.0), ("extreme", 1.50, None, 1.0)]
    assert [(r.position_size_pct, r.stop_loss_pct, r.take_profit_pct, r.cash_pct) for r in table] == [
        (50, 3, 6, 20), (30, 7, 15, 30), (15, 12, 25, 50), (5, 15, 30, 80)]


def test_analyze_puts_it_together() -> None:
    per_year = 365.0
    bars, plain = gbm_bars(0.5, 200, 100, per_year, seed=9)
    a = v.analyze(bars, ("yz", "cc"), 30, per_year, BANDS, 0.40, CAPS)
    last = tuple(x[-31:] for x in plain)
    assert a.primary == "yz"
    assert a.current["yz"] == pytest.approx(ref_vol(last, "yz", per_year), rel=1e-10)  # type: ignore[arg-type]
    assert a.current["cc"] == pytest.approx(ref_vol(last, "cc", per_year), rel=1e-10)  # type: ignore[arg-type]
    assert a.regime == v.classify(a.current["yz"], BANDS)
    assert a.leverage.leverage == pytest.approx(seed_adaptive_leverage(a.current["yz"]), rel=1e-12)
    assert len(a.rolling["yz"]) == 170 and a.rolling_time_ms[0] == bars.time_ms[30]
    expected = [i for i in range(1, 170) if v.classify(a.rolling["yz"][i], BANDS)
                != v.classify(a.rolling["yz"][i - 1], BANDS)]
    assert [t.time_ms for t in a.transitions] == [int(a.rolling_time_ms[i]) for i in expected]
    with pytest.raises(ValueError, match="needs 31"):
        v.analyze(v.Bars.of(bars.time_ms[:30], bars.open[:30], bars.high[:30], bars.low[:30], bars.close[:30]),
                  ("cc",), 30, per_year, BANDS, 0.4, CAPS)


# --- settings ------------------------------------------------------------------------------------------------------

def test_vol_settings_read_percent_and_refuse_crossed_bands() -> None:
    s = parse_settings({"vol": {"low_max_pct": 30, "medium_max_pct": 60, "high_max_pct": 120, "target_pct": 25,
                                "max_leverage_low": 8, "rolling_days": 30}}).vol
    assert (s.low_max, s.medium_max, s.high_max, s.target) == pytest.approx((0.30, 0.60, 1.20, 0.25))
    assert s.caps == {"low": 8.0, "medium": 5.0, "high": 2.0, "extreme": 1.0}
    assert s.rolling_days == 30
    with pytest.raises(ConfigError) as err:
        parse_settings({"vol": {"medium_max_pct": 30}})
    assert str(err.value) == ("settings key vol: expected low_max_pct < medium_max_pct < high_max_pct, got 40 / 30 / "
                              "150")
    with pytest.raises(ConfigError, match=r"vol\.max_leverage_high"):
        parse_settings({"vol": {"max_leverage_high": 0}})


def test_a_window_of_flat_bars_has_no_regime_or_leverage() -> None:
    """A halted contract (every bar open = high = low = close) has a volatility of 0: no regime, no leverage (the
    target / 0 would be infinite), said in one ValueError, not an answer."""
    t = np.arange(6, dtype=np.int64) * 86_400_000
    flat = np.full(6, 100.0)
    with pytest.raises(ValueError, match="every bar of the window is flat"):
        v.analyze(v.Bars.of(t, flat, flat, flat, flat), ("yz", "cc"), 5, 365.0, BANDS, 0.4, CAPS)
