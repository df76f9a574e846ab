"""Options analytics (pure, numpy-vectorized over a whole chain): Black-76 prices and greeks, the
implied-volatility solver, per-expiry metrics (ATM IV, 25-delta risk reversal and butterfly, put/call
ratios, max pain, open interest), constant-maturity IV, the smile, IV rank and percentile, realized
volatility, dealer gamma exposure and large-trade flow.

Conventions (every function here follows them):

- Black-76 on the forward ``F`` with strike ``K``; ``T`` in years, ACT/365 (seconds / 31,536,000,
  see :func:`year_fraction`); ``sigma`` a fraction (0.55 = 55 %); ``df`` the discount factor to expiry
  (default 1.0: crypto venues price with r ≈ 0, Deribit's ``interest_rate`` is 0). Prices are in the
  currency of ``F`` and ``K`` (USD). A coin-denominated price is the USD price divided by the
  underlying price; that conversion is the caller's (Deribit's ``mark_price`` is the USD price divided
  by the ticker's ``underlying_price``, not by the index).
- Greeks are per ONE option on ONE unit of the underlying, in Deribit's conventions so that venue
  greeks compare directly: ``delta`` the undiscounted forward delta N(d1) (calls in (0, 1)) or
  N(d1) - 1 (puts in (-1, 0)), whatever ``df``; ``gamma`` per 1 USD of the forward; ``vega`` USD per
  vol POINT (0.01 of sigma); ``theta`` USD per calendar DAY (-dPrice/dT / 365, negative for long
  options when r = 0). Theta is the analytic rate: within a day of expiry Deribit instead reports the
  time value left (it caps the decay at what can still be lost), so the two differ there.
- The solver returns a reason per option next to NaN where no volatility fits (see ``IV_REASONS``);
  "" means solved. It searches sigma in [``IV_MIN``, ``IV_MAX``].
- IVs in and out of the metrics are fractions; ratios are NaN (never inf) when the denominator is 0;
  NaN open interest, volume or price counts as 0 in sums.
- GEX: ``sign x gamma x oi x spot² x 0.01`` = the USD change of dealer delta for a 1 % move of the
  underlying. Dealers are assumed SHORT calls (sign -1) and LONG puts (+1) unless told otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

SECONDS_PER_YEAR = 31_536_000.0
IV_MIN = 1e-4
IV_MAX = 10.0
IV_REASONS = (
    "",
    "expired or T<=0",
    "non-positive price",
    "below intrinsic",
    "above max price (forward/strike bound)",
    f"no vol in [{IV_MIN:g}, {IV_MAX:g}] fits (at intrinsic or beyond the search range)",
    "no convergence",
    "invalid input (NaN, or non-positive forward/strike)",
)
_OK, _EXPIRED, _NONPOS, _BELOW, _ABOVE, _OUTSIDE, _NOCONV, _INVALID = range(len(IV_REASONS))
_MAX_ITER = 100
_REL_TOL = 1e-13

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969),
# coefficients as published in netlib SPECFUN (CALERF): |x| <= 0.46875, (0.46875, 4], > 4.
_A = (3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153)
_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_C = (0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131, 881.95222124176909,
      1712.04761263407058, 2051.07837782607147, 1230.33935479799725, 2.15311535474403846e-8)
_D = (15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019, 3290.79923573345963,
      4362.61909014324716, 3439.36767414372164, 1230.33935480374942)
_P = (0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766,
      6.58749161529837803e-4, 0.0163153871373020978)
_Q = (2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191,
      0.00233520497626869185)
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _f64(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _exp_neg_sq(y: FloatArray) -> FloatArray:
    """exp(-y²) without losing the low bits of y² (Cody's split at a multiple of 1/16)."""
    head = np.trunc(y * 16.0) / 16.0
    return np.exp(-head * head) * np.exp(-(y - head) * (y + head))


def erfc(x: npt.ArrayLike) -> FloatArray:
    """Complementary error function, vectorized (Cody's rational approximations; ~1e-16 relative)."""
    z = _f64(x)
    y = np.abs(z)
    out = np.full(z.shape, np.nan)
    small = y <= 0.46875
    mid = (y > 0.46875) & (y <= 4.0)
    big = (y > 4.0) & (y < 27.0)
    if small.any():
        ys = y[small]
        sq = ys * ys
        num, den = _A[4] * sq, sq
        for a, b in zip(_A[:3], _B[:3], strict=True):
            num, den = (num + a) * sq, (den + b) * sq
        out[small] = 1.0 - z[small] * (num + _A[3]) / (den + _B[3])
    if mid.any():
        ym = y[mid]
        num, den = _C[8] * ym, ym
        for c, d in zip(_C[:7], _D[:7], strict=True):
            num, den = (num + c) * ym, (den + d) * ym
        out[mid] = _exp_neg_sq(ym) * (num + _C[7]) / (den + _D[7])
    if big.any():
        yb = y[big]
        inv = 1.0 / (yb * yb)
        num, den = _P[5] * inv, inv
        for p, q in zip(_P[:4], _Q[:4], strict=True):
            num, den = (num + p) * inv, (den + q) * inv
        out[big] = _exp_neg_sq(yb) * (_INV_SQRT_PI - inv * (num + _P[4]) / (den + _Q[4])) / yb
    out[y >= 27.0] = 0.0
    flip = (z < 0) & ~small
    out[flip] = 2.0 - out[flip]
    return out


def norm_cdf(x: npt.ArrayLike) -> FloatArray:
    """Standard normal CDF, accurate in relative terms far into the lower tail."""
    return 0.5 * erfc(-_f64(x) / _SQRT2)


def norm_pdf(x: npt.ArrayLike) -> FloatArray:
    """Standard normal density."""
    z = _f64(x)
    return np.exp(-0.5 * z * z) * _INV_SQRT_2PI


def year_fraction(expiry: datetime, now: datetime) -> float:
    """Years from ``now`` to ``expiry`` on ACT/365 (both timezone-aware); negative once expired."""
    return (expiry - now).total_seconds() / SECONDS_PER_YEAR


# --- Black-76 ---------------------------------------------------------------------------------------

def _otm_normalized(y: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Normalized out-of-the-money price b and its derivative db/ds, for y = -|ln(F/K)| and s = sigma√T.

    The OTM option's undiscounted price is sqrt(F K) x b; calls and puts share b by symmetry.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d1 = y / s + 0.5 * s
        half = np.exp(0.5 * y)
        b = half * norm_cdf(d1) - norm_cdf(d1 - s) / half
        return np.maximum(b, 0.0), half * norm_pdf(d1)


def _broadcast(*args: npt.ArrayLike) -> list[FloatArray]:
    return [np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(*args)]


def _with_flag(values: Sequence[npt.ArrayLike], flag: npt.ArrayLike) -> tuple[list[FloatArray], BoolArray]:
    """Numbers as float arrays and a boolean flag (is_call …), all broadcast to one shape."""
    *numbers, flags = np.broadcast_arrays(*values, np.asarray(flag, dtype=bool))
    return [np.asarray(x, dtype=np.float64) for x in numbers], np.asarray(flags, dtype=bool)


def black76_price(F: npt.ArrayLike, K: npt.ArrayLike, T: npt.ArrayLike, sigma: npt.ArrayLike,
                  is_call: npt.ArrayLike, df: npt.ArrayLike = 1.0) -> FloatArray:
    """Black-76 price (USD when F, K are USD): the OTM value from the formula plus intrinsic by parity.

    Built that way, put-call parity C - P = df (F - K) holds to rounding. ``T <= 0`` or ``sigma <= 0``
    gives the discounted intrinsic value.
    """
    (f, k, t, sig, df_), call = _with_flag((F, K, T, sigma, df), is_call)
    intrinsic = np.maximum(np.where(call, f - k, k - f), 0.0)
    s = sig * np.sqrt(np.maximum(t, 0.0))
    live = s > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        b, _ = _otm_normalized(-np.abs(np.log(f / k)), s)
    return _f64(df_ * (intrinsic + np.where(live, np.sqrt(f * k) * b, 0.0)))


@dataclass(frozen=True, slots=True)
class Greeks:
    """Greeks per one option on one unit of the underlying (units in the module docstring)."""

    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


def _d1(f: FloatArray, k: FloatArray, t: FloatArray, sig: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(d1, √T) with NaN where T or sigma <= 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        root_t = np.sqrt(np.where((t > 0) & (sig > 0), t, np.nan))
        s = sig * root_t
        return np.log(f / k) / s + 0.5 * s, root_t


def _delta(d1: FloatArray, call: BoolArray) -> FloatArray:
    """Forward delta N(d1) for calls, -N(-d1) for puts (accurate for tiny put deltas)."""
    sign = np.where(call, 1.0, -1.0)
    return sign * norm_cdf(sign * d1)


def greeks(F: npt.ArrayLike, K: npt.ArrayLike, T: npt.ArrayLike, sigma: npt.ArrayLike, is_call: npt.ArrayLike,
           df: npt.ArrayLike = 1.0) -> Greeks:
    """Black-76 delta, gamma, vega (per vol point) and theta (per calendar day); NaN for T or sigma <= 0.

    Theta is -dPrice/dT / 365 with the rate r = -ln(df)/T held constant: ``(r x price - df F n(d1) sigma /
    (2√T)) / 365``.
    """
    (f, k, t, sig, df_), call = _with_flag((F, K, T, sigma, df), is_call)
    d1, root_t = _d1(f, k, t, sig)
    pdf = norm_pdf(d1)
    theta = -df_ * f * pdf * sig / (2.0 * root_t)
    if np.any(df_ != 1.0):
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = theta - np.log(df_) / t * black76_price(f, k, t, sig, call, df_)
    return Greeks(delta=_delta(d1, call), gamma=df_ * pdf / (f * sig * root_t), vega=df_ * f * pdf * root_t * 0.01,
                  theta=theta / 365.0)


# --- implied volatility -----------------------------------------------------------------------------

def _screen(p: FloatArray, f: FloatArray, k: FloatArray, t: FloatArray, call: npt.NDArray[np.bool_]
            ) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """Reason codes for inputs no volatility can fit, and the OTM time value q of the others."""
    code = np.zeros(p.shape, dtype=np.int8)
    intrinsic = np.maximum(np.where(call, f - k, k - f), 0.0)
    q = p - intrinsic
    with np.errstate(invalid="ignore"):
        checks = (
            (_INVALID, ~(np.isfinite(p) & np.isfinite(f) & np.isfinite(k) & np.isfinite(t)) | ~(f > 0) | ~(k > 0)),
            (_EXPIRED, ~(t > 0)),
            (_NONPOS, ~(p > 0)),
            (_BELOW, q < 0),
            (_ABOVE, q >= np.minimum(f, k)),
        )
    for reason, bad in reversed(checks):  # the first check that fails names the reason
        code[bad] = reason
    return code, q


def _solve_normalized(beta: FloatArray, y: FloatArray, lo: FloatArray, hi: FloatArray
                      ) -> tuple[FloatArray, BoolArray]:
    """s with b(y, s) = beta, by Newton's method safeguarded by a bracket [lo, hi].

    Starts at the inflection point s_c = sqrt(2|y|) of b. Below b(s_c) it iterates on ln b (concave
    there, so Newton overshoots at most once), above it on b itself (concave in s): few iterations
    from deep OTM to deep ITM. A step leaving the bracket is replaced by a geometric bisection.
    """
    s_c = np.clip(np.sqrt(-2.0 * y), lo, hi)
    b_c, _ = _otm_normalized(y, s_c)
    use_log = beta < b_c
    s = s_c.copy()
    done = np.zeros(beta.shape, dtype=bool)
    active = np.arange(beta.size)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_beta = np.log(beta)
        for _ in range(_MAX_ITER):
            if active.size == 0:
                break
            sa, ya = s[active], y[active]
            b, db = _otm_normalized(ya, sa)
            lg = use_log[active]
            f = np.where(lg, np.log(b) - log_beta[active], b - beta[active])
            fp = np.where(lg, db / b, db)
            lo[active] = np.where(f < 0, sa, lo[active])
            hi[active] = np.where(f > 0, sa, hi[active])
            la, ha = lo[active], hi[active]
            nxt = sa - f / fp
            nxt = np.where(np.isfinite(nxt) & (nxt > la) & (nxt < ha), nxt, np.sqrt(la * ha))
            fin = (f == 0) | (np.abs(nxt - sa) <= _REL_TOL * sa) | (ha - la <= _REL_TOL * sa)
            s[active] = np.where(f == 0, sa, nxt)
            done[active[fin]] = True
            active = active[~fin]
    return s, done


def implied_vol(price: npt.ArrayLike, F: npt.ArrayLike, K: npt.ArrayLike, T: npt.ArrayLike, is_call: npt.ArrayLike,
                df: npt.ArrayLike = 1.0) -> tuple[FloatArray, npt.NDArray[np.str_]]:
    """Black-76 implied volatility of each price, and why not where it is NaN ("" where solved).

    Works on the out-of-the-money side by parity (an ITM price less its intrinsic value is the OTM
    option's price), normalized by sqrt(F K): well conditioned from deep OTM to deep ITM and near expiry.
    Searches sigma in [IV_MIN, IV_MAX]; reasons are the texts of ``IV_REASONS``.
    """
    (p, f, k, t, df_), call = _with_flag((price, F, K, T, df), is_call)
    with np.errstate(divide="ignore", invalid="ignore"):
        code, q = _screen(p / df_, f, k, t, call)
    iv = np.full(p.shape, np.nan)
    idx = np.flatnonzero(code == _OK)
    if idx.size:
        fi, ki, ti = f.flat[idx], k.flat[idx], t.flat[idx]
        root_t = np.sqrt(ti)
        y = -np.abs(np.log(fi / ki))
        beta = q.flat[idx] / np.sqrt(fi * ki)
        lo, hi = IV_MIN * root_t, IV_MAX * root_t
        b_lo, _ = _otm_normalized(y, lo)
        b_hi, _ = _otm_normalized(y, hi)
        inside = (beta > b_lo) & (beta < b_hi)
        s, done = _solve_normalized(beta, y, lo.copy(), hi.copy())
        ok = inside & done
        iv.flat[idx[ok]] = s[ok] / root_t[ok]
        code.flat[idx[~inside]] = _OUTSIDE
        code.flat[idx[inside & ~done]] = _NOCONV
    return iv, np.asarray(IV_REASONS)[code]


# --- smile and per-expiry metrics -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Smile:
    """One expiry's smile, sorted by strike: moneyness K/F, its log, Black-76 delta at each own IV."""

    strike: FloatArray
    is_call: BoolArray
    moneyness: FloatArray
    log_moneyness: FloatArray
    delta: FloatArray
    iv: FloatArray


def smile(strike: npt.ArrayLike, is_call: npt.ArrayLike, iv: npt.ArrayLike, F: float, T: float,
          otm_only: bool = True) -> Smile:
    """The smile of one expiry from rows with a positive IV.

    ``otm_only`` keeps the out-of-the-money side: calls at K >= F, puts at K < F.
    """
    (k, sig), call = _with_flag((strike, iv), is_call)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(sig) & (sig > 0) & np.isfinite(k) & (k > 0)
    if otm_only:
        keep &= call == (k >= F)
    order = np.lexsort((call[keep], k[keep]))
    k, call, sig = k[keep][order], call[keep][order], sig[keep][order]
    d1, _ = _d1(_f64(F), k, _f64(T), sig)
    return Smile(k, call, k / F, np.log(k / F), _delta(d1, call), sig)


def _interp_inside(x: float, xp: FloatArray, fp: FloatArray) -> float:
    """Linear interpolation at x, NaN when x is not bracketed by xp (no extrapolation)."""
    if xp.size == 0 or not xp.min() <= x <= xp.max():
        return math.nan
    order = np.argsort(xp, kind="stable")
    return float(np.interp(x, xp[order], fp[order]))


def ratio(num: float, den: float) -> float:
    """num / den, NaN (not inf) when the denominator is 0 or not finite."""
    return num / den if den != 0 and math.isfinite(den) else math.nan


def max_pain(strikes: npt.ArrayLike, is_call: npt.ArrayLike, oi: npt.ArrayLike) -> float:
    """The listed strike S minimizing what holders are paid at expiry (NaN for an empty chain):
    sum over calls of oi x max(S - K, 0) plus over puts of oi x max(K - S, 0).

    Ties (within 1e-12 relative, so summation order cannot decide) go to the lowest strike.
    """
    (k, w), call = _with_flag((strikes, oi), is_call)
    listed = np.isfinite(k)
    k, call, w = k[listed], call[listed], np.nan_to_num(w[listed])
    if k.size == 0:
        return math.nan
    # OI per listed strike and side, then one matrix: P[i, j] = max(S_i - S_j, 0) is what a call struck at
    # S_j pays at expiry S_i, and P[j, i] what a put struck at S_j pays there.
    candidates, at = np.unique(k, return_inverse=True)
    call_oi = np.bincount(at, weights=np.where(call, w, 0.0), minlength=candidates.size)
    put_oi = np.bincount(at, weights=np.where(call, 0.0, w), minlength=candidates.size)
    payoff = np.maximum(candidates[:, None] - candidates[None, :], 0.0)
    pain = payoff @ call_oi + put_oi @ payoff
    least = pain.min()
    return float(candidates[np.flatnonzero(pain <= least + 1e-12 * abs(least))[0]])


@dataclass(frozen=True, slots=True)
class ExpiryMetrics:
    """Metrics of one expiry. IVs are fractions; OI and volume in contracts (base coin) and USD.

    ``rr25`` = IV(25-delta call) - IV(-25-delta put); ``bf25`` = their mean - ``atm_iv``;
    ``pcr_premium`` = put volume x price / call volume x price (USD). The call/put sums let callers
    aggregate ratios over expiries and venues.
    """

    forward: float
    atm_iv: float
    iv_25c: float
    iv_25p: float
    rr25: float
    bf25: float
    pcr_oi: float
    pcr_volume: float
    pcr_premium: float
    max_pain: float
    oi_contracts: float
    oi_usd: float
    volume_usd: float
    call_oi: float
    put_oi: float
    call_volume: float
    put_volume: float


def expiry_metrics(strike: npt.ArrayLike, is_call: npt.ArrayLike, mark_iv: npt.ArrayLike, oi: npt.ArrayLike,
                   volume: npt.ArrayLike, mark_price_usd: npt.ArrayLike, forward: float, T: float,
                   underlying_price: float) -> ExpiryMetrics:
    """Per-expiry metrics over one expiry's chain arrays (one row per option).

    ATM IV is interpolated at K = F linearly in ln(K/F) between the neighbouring OTM strikes (NaN when F
    is outside them); the 25-delta IVs linearly in delta among OTM calls / puts (NaN when ±0.25 is not
    bracketed). OI and volume in USD are contracts x ``underlying_price``.
    """
    (k, w_oi, w_vol, px), call = _with_flag((strike, oi, volume, mark_price_usd), is_call)
    w_oi, w_vol, premium = np.nan_to_num(w_oi), np.nan_to_num(w_vol), np.nan_to_num(w_vol * px)
    otm = smile(k, call, mark_iv, forward, T)
    atm = _interp_inside(0.0, otm.log_moneyness, otm.iv)
    c25 = _interp_inside(0.25, otm.delta[otm.is_call], otm.iv[otm.is_call])
    p25 = _interp_inside(-0.25, otm.delta[~otm.is_call], otm.iv[~otm.is_call])
    call_oi, put_oi = float(w_oi[call].sum()), float(w_oi[~call].sum())
    call_vol, put_vol = float(w_vol[call].sum()), float(w_vol[~call].sum())
    total_oi = call_oi + put_oi
    return ExpiryMetrics(
        forward=forward, atm_iv=atm, iv_25c=c25, iv_25p=p25, rr25=c25 - p25, bf25=(c25 + p25) / 2.0 - atm,
        pcr_oi=ratio(put_oi, call_oi), pcr_volume=ratio(put_vol, call_vol),
        pcr_premium=ratio(float(premium[~call].sum()), float(premium[call].sum())),
        max_pain=max_pain(k, call, w_oi), oi_contracts=total_oi, oi_usd=total_oi * underlying_price,
        volume_usd=(call_vol + put_vol) * underlying_price,
        call_oi=call_oi, put_oi=put_oi, call_volume=call_vol, put_volume=put_vol,
    )


# --- term structure ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ConstantMaturityIV:
    """IV at a constant maturity; NaN with ``reason`` when it cannot be interpolated ("" otherwise)."""

    days: float
    iv: float
    reason: str


def constant_maturity(T_years: npt.ArrayLike, atm_iv: npt.ArrayLike,
                      targets_days: Sequence[float] = (7, 30, 60, 90, 180)) -> tuple[ConstantMaturityIV, ...]:
    """ATM IV at fixed maturities, interpolating total variance w = iv² T linearly in T between the
    neighbouring expiries (iv = sqrt(w / T)); NaN outside [shortest, longest] expiry: no extrapolation."""
    t, iv = _broadcast(T_years, atm_iv)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(t) & np.isfinite(iv) & (t > 0) & (iv > 0)
    t, iv = t[keep], iv[keep]
    order = np.argsort(t, kind="stable")
    t, w = t[order], (iv * iv * t)[order]
    out = []
    for days in targets_days:
        target = days / 365.0
        if t.size == 0:
            out.append(ConstantMaturityIV(float(days), math.nan, "no expiry with an ATM IV"))
        elif not t[0] <= target <= t[-1]:
            out.append(ConstantMaturityIV(float(days), math.nan, f"outside the listed expiries "
                                          f"({t[0] * 365:.1f} to {t[-1] * 365:.1f} days): no extrapolation"))
        else:
            out.append(ConstantMaturityIV(float(days), math.sqrt(float(np.interp(target, t, w)) / target), ""))
    return tuple(out)


# --- volatility regime ------------------------------------------------------------------------------

def _finite(series: npt.ArrayLike) -> FloatArray:
    x = _f64(series).ravel()
    return x[np.isfinite(x)]


def iv_rank(series: npt.ArrayLike, now: float) -> float:
    """(now - min) / (max - min) over the series (e.g. 365 daily DVOL closes); NaN if max == min or empty.

    A ``now`` outside the series' range gives a rank outside [0, 1] (the formula, not clipped).
    """
    x = _finite(series)
    if x.size == 0:
        return math.nan
    low, high = float(x.min()), float(x.max())
    return (now - low) / (high - low) if high > low else math.nan


def iv_percentile(series: npt.ArrayLike, now: float) -> float:
    """Share of the series' observations strictly below ``now`` (NaN for an empty series)."""
    x = _finite(series)
    return float((x < now).mean()) if x.size else math.nan


def interpretation(rank: float, high: float = 0.8, low: float = 0.2) -> str:
    """Read an IV rank (fraction): above ``high`` options are expensive, below ``low`` cheap."""
    if math.isnan(rank):
        return "n/a"
    if rank > high:
        return "high: options expensive"
    if rank < low:
        return "low: options cheap"
    return "neutral"


def realized_vol(closes: npt.ArrayLike, periods_per_year: float) -> float:
    """Annualized realized volatility: sample stdev (ddof=1) of log returns x sqrt(periods_per_year).

    30-day RV from daily closes uses 365 (crypto trades every day). NaN with fewer than 3 closes or a
    non-positive one.
    """
    x = _finite(closes)
    if x.size < 3 or (x <= 0).any():
        return math.nan
    return float(np.std(np.diff(np.log(x)), ddof=1) * math.sqrt(periods_per_year))


# --- dealer gamma exposure --------------------------------------------------------------------------

def gex_by_strike(strikes: npt.ArrayLike, is_call: npt.ArrayLike, gamma: npt.ArrayLike, oi: npt.ArrayLike,
                  spot: float, call_sign: float = -1.0, put_sign: float = 1.0) -> tuple[FloatArray, FloatArray]:
    """(sorted unique strikes, GEX in USD per strike): sign x gamma x oi x spot² x 0.01 summed per strike.

    That is the USD change of dealer delta for a 1 % move of the underlying; by default dealers are
    short calls (sign -1) and long puts (+1). NaN gamma or OI counts as 0.
    """
    (k, g, w), call = _with_flag((strikes, gamma, oi), is_call)
    contrib = np.where(call, call_sign, put_sign) * np.nan_to_num(g) * np.nan_to_num(w) * spot * spot * 0.01
    unique, inverse = np.unique(k, return_inverse=True)
    return unique, _f64(np.bincount(inverse.ravel(), weights=contrib.ravel(), minlength=unique.size))


def gex_flip(strikes: npt.ArrayLike, gex: npt.ArrayLike, near: float | None = None) -> float:
    """The level where cumulative GEX (summed from the lowest strike up) changes sign, linearly
    interpolated between the two strikes around the change; NaN when it never changes sign.

    With several changes: the one nearest ``near`` (e.g. spot) if given, else the lowest.
    """
    k, g = _broadcast(strikes, gex)
    order = np.argsort(k, kind="stable")
    k, cum = k[order], np.cumsum(np.nan_to_num(g[order]))
    nz = np.flatnonzero(cum != 0)
    a, b = nz[:-1], nz[1:]
    change = np.sign(cum[a]) != np.sign(cum[b])
    a, b = a[change], b[change]
    if a.size == 0:
        return math.nan
    # a zero exactly at a strike between the two is the flip itself; otherwise interpolate.
    level = np.where(b - a > 1, k[np.minimum(a + 1, k.size - 1)],
                     k[a] + (k[b] - k[a]) * cum[a] / (cum[a] - cum[b]))
    pick = int(np.argmin(np.abs(level - near))) if near is not None else 0
    return float(level[pick])


# --- flow ---------------------------------------------------------------------------------------------

def trade_premium_usd(price: npt.ArrayLike, amount: npt.ArrayLike, index_price: npt.ArrayLike,
                      coin_priced: npt.ArrayLike) -> FloatArray:
    """Premium paid per trade in USD: price x index x amount for options priced in the coin,
    price x amount for options priced in USD."""
    (p, a, ix), coin = _with_flag((price, amount, index_price), coin_priced)
    return np.where(coin, p * ix, p) * a


def large_trades(amount: npt.ArrayLike, premium_usd: npt.ArrayLike, min_contracts: float | None = None,
                 min_usd: float | None = None, top: int | None = None) -> npt.NDArray[np.intp]:
    """Indices of trades of at least ``min_contracts`` and at least ``min_usd`` premium (each filter only
    when given), largest premium first, at most ``top``."""
    a, prem = _broadcast(amount, premium_usd)
    keep = np.ones(a.shape, dtype=bool)
    if min_contracts is not None:
        keep &= a >= min_contracts
    if min_usd is not None:
        keep &= prem >= min_usd
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-np.nan_to_num(prem[idx]), kind="stable")]
    return idx if top is None else idx[:top]


@dataclass(frozen=True, slots=True)
class FlowGroup:
    """Trades of one (expiry, strike, type): count, contracts, premium (USD) by aggressor side, blocks."""

    expiry: datetime
    strike: float
    is_call: bool
    trades: int
    contracts: float
    premium_usd: float
    buy_premium_usd: float
    sell_premium_usd: float
    block_trades: int


def flow_summary(expiry_ms: npt.ArrayLike, strike: npt.ArrayLike, is_call: npt.ArrayLike, amount: npt.ArrayLike,
                 premium_usd: npt.ArrayLike, is_buy: npt.ArrayLike, block: npt.ArrayLike,
                 top: int = 10) -> tuple[FlowGroup, ...]:
    """Trades grouped by (expiry, strike, type), the ``top`` groups by premium first.

    ``expiry_ms``: expiry as epoch milliseconds; ``is_buy``: the aggressor bought; pass the rows that
    passed :func:`large_trades` to summarize only the large ones.
    """
    # flags as 0/1 and epoch ms (exact in float64: < 2**53) as floats, one row per trade
    exp, k, call, a, prem, buy, blk = (x.ravel() for x in _broadcast(expiry_ms, strike, is_call, amount, premium_usd,
                                                                     is_buy, block))
    if k.size == 0:
        return ()
    groups, inverse = np.unique(np.stack([exp, k, call], axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()

    def total(weights: npt.ArrayLike) -> FloatArray:
        return _f64(np.bincount(inverse, weights=np.nan_to_num(_f64(weights)), minlength=len(groups)))

    prem_sum, buy_sum = total(prem), total(prem * buy)
    counts, contracts, blocks = np.bincount(inverse, minlength=len(groups)), total(a), total(blk)
    best = np.argsort(-prem_sum, kind="stable")[:top]
    return tuple(FlowGroup(
        expiry=datetime.fromtimestamp(groups[g, 0] / 1000.0, tz=UTC),
        strike=float(groups[g, 1]), is_call=bool(groups[g, 2]), trades=int(counts[g]),
        contracts=float(contracts[g]), premium_usd=float(prem_sum[g]), buy_premium_usd=float(buy_sum[g]),
        sell_premium_usd=float(prem_sum[g] - buy_sum[g]), block_trades=int(blocks[g]),
    ) for g in best)
