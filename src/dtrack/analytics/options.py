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
  "" means solved. It searches sigma in [``IV_MIN``, ``IV_MAX``]: a rational initial guess and two
  third-order Householder steps (quartic convergence), in numpy over the whole chain, reach machine precision.
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
_REASON_TEXT = np.asarray(IV_REASONS)
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


def _cody_small(sq: FloatArray) -> FloatArray:
    """erf(y) / y for y² = ``sq`` <= 0.46875² (Cody's first rational)."""
    num, den = _A[4] * sq, sq
    for a, b in zip(_A[:3], _B[:3], strict=True):
        num, den = (num + a) * sq, (den + b) * sq
    return _f64((num + _A[3]) / (den + _B[3]))


def _cody_mid(y: FloatArray) -> FloatArray:
    """exp(y²) erfc(y) for 0.46875 < y <= 4 (Cody's second rational)."""
    num, den = _C[8] * y, y
    for c, d in zip(_C[:7], _D[:7], strict=True):
        num, den = (num + c) * y, (den + d) * y
    return _f64((num + _C[7]) / (den + _D[7]))


def _cody_big(y: FloatArray) -> FloatArray:
    """exp(y²) erfc(y) for y > 4 (Cody's asymptotic rational in 1/y²)."""
    inv = 1.0 / (y * y)
    num, den = _P[5] * inv, inv
    for p, q in zip(_P[:4], _Q[:4], strict=True):
        num, den = (num + p) * inv, (den + q) * inv
    return _f64((_INV_SQRT_PI - inv * (num + _P[4]) / (den + _Q[4])) / y)


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
        out[small] = 1.0 - z[small] * _cody_small(ys * ys)
    if mid.any():
        ym = y[mid]
        out[mid] = _exp_neg_sq(ym) * _cody_mid(ym)
    if big.any():
        yb = y[big]
        out[big] = _exp_neg_sq(yb) * _cody_big(yb)
    out[y >= 27.0] = 0.0
    flip = (z < 0) & ~small
    out[flip] = 2.0 - out[flip]
    return out


def _erfcx_cody(t: FloatArray) -> FloatArray:
    """Scaled complementary error function exp(t²) erfc(t) for t >= 0 (NaN for NaN), from Cody's rationals."""
    out = np.full(t.shape, np.nan)
    small = t <= 0.46875
    big = t > 4.0
    mid = ~small & ~big & ~np.isnan(t)
    ts = t[small]
    out[small] = np.exp(ts * ts) * (1.0 - ts * _cody_small(ts * ts))
    out[mid] = _cody_mid(t[mid])
    out[big] = _cody_big(t[big])
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
        if bad.any():
            code[bad] = reason
    return code, q


# The solver works on the normalized out-of-the-money price b(a, s) = e^(-a/2) N(d1) - e^(a/2) N(d2) with
# a = |ln(F/K)| >= 0, s = sigma √T, d1,2 = -a/s ± s/2 (the OTM option's undiscounted price over sqrt(F K)),
# which rises from 0 to b_max = e^(-a/2) and has its inflection at s_c = sqrt(2a), where d1 = 0. Writing
# N(-x) = erfcx(x/√2) exp(-x²/2) / 2 with the scaled erfcx(t) = exp(t²) erfc(t), both terms share the factor
# E = exp(-(a²/s² + s²/4) / 2) = √(2π) b'(s):
#   s <= s_c:  b = E/2 (erfcx(|d1|/√2) - erfcx(|d2|/√2))
#   s >  s_c:  b_max - b = E/2 (erfcx(d1/√2) + erfcx(|d2|/√2))   (the distance to b_max without cancellation)
# so one exp and one erfcx call over 2n arguments price n options, and the derivative ratios come free:
# b''/b' = a²/s³ - s/4 and b'''/b' = (b''/b')² - 3a²/s⁴ - 1/4, all Householder's third-order step needs.
#
# Method (after P. Jäckel, "Let's Be Rational", Wilmott 2015; written here from the paper's description,
# simplified and vectorized over the chain): the inflection s_c and its tangent give two more nodes
# s_l < s_c < s_u. The initial guess interpolates s(beta) between the nodes with shape-preserving rational
# cubics (Delbourgo-Gregory) matching b's value and slope at both ends; below b(s_l) and above b(s_u) it
# interpolates f_lower = 2πa/(3√3) N(-a/(√3 s))³ or f_upper = N(-s/2) instead, maps that are nearly linear
# in beta there, and inverts them. The guess is within 10 % at worst (typically 1e-3); third-order Householder
# steps on an objective that is smooth in s for the region (ln b below b(s_l), b between, ln(b_max - b) above
# b(s_u)) converge with order 4, so two reach machine precision. Steps stay inside the bracket of the points tried
# (geometric bisection otherwise); the rare options still moving after two steps iterate on their own.

_ERFCX_NODES_PER_UNIT = 128  # Taylor nodes of erfcx every 1/128 ...
_ERFCX_ORDER = 5             # ... expanded to order 5: error < 1e-15 relative on [0, 32]
_ERFCX_TMAX = 32.0           # beyond: Cody's asymptotic rational
_STEP_TOL = 1e-5             # a step of order 4 this small (relative) leaves an error ~1e-20: converged
_SQRT_HALF = math.sqrt(0.5)
_LN2 = math.log(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_SQRT3 = math.sqrt(3.0)
_K_LOWER = 2.0 * math.pi / (3.0 * _SQRT3)
# Hastings' rational approximation of the normal quantile (Abramowitz & Stegun 26.2.23, |error| < 4.5e-4):
# enough for an initial guess, whose last digits the Householder steps supply anyway.
_HASTINGS_P = (2.515517, 0.802853, 0.010328)
_HASTINGS_Q = (1.432788, 0.189269, 0.001308)


def _erfcx_taylor_table() -> FloatArray:
    """Taylor coefficients of erfcx at the nodes t_k = k/128 in powers of (128 t - k), highest order first.

    The derivatives follow from y' = 2ty - 2/√π: y^(n+1) = 2t y^(n) + 2n y^(n-1).
    """
    g = _ERFCX_NODES_PER_UNIT
    t = np.arange(int(_ERFCX_TMAX) * g + 2) / g
    y = [_erfcx_cody(t)]
    y.append(2.0 * t * y[0] - 2.0 * _INV_SQRT_PI)
    for n in range(1, _ERFCX_ORDER):
        y.append(2.0 * t * y[n] + 2.0 * n * y[n - 1])
    rows = [y[n] / (math.factorial(n) * float(g) ** n) for n in range(_ERFCX_ORDER + 1)]
    return np.ascontiguousarray(np.array(rows[::-1]))


_ERFCX_TABLE = _erfcx_taylor_table()


def _erfcx(t: FloatArray) -> FloatArray:
    """exp(t²) erfc(t) for t >= 0 to ~1e-15: the order-5 Taylor expansion at the nearest 1/128 node (one
    gather and ten numpy operations for a whole chain); Cody's rational past t = 32 or for NaN."""
    tg = t * _ERFCX_NODES_PER_UNIT
    k = (np.fmin(tg, _ERFCX_TABLE.shape[1] - 1) + 0.5).astype(np.intp)  # fmin: NaN -> the last node
    h = tg - k
    c = np.take(_ERFCX_TABLE, k, axis=1)
    out = c[0] * h
    for row in c[1:-1]:
        out += row
        out *= h
    out += c[-1]
    if not t.max(initial=0.0) <= _ERFCX_TMAX:  # NaN fails too
        far = np.flatnonzero(~(t <= _ERFCX_TMAX))
        out[far] = _cody_big(t[far])
    return _f64(out)


def _otm_b(a_h: FloatArray, s: FloatArray, inv_s: FloatArray, b_max: FloatArray, extra: FloatArray | None = None
           ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Normalized OTM price b(a, s), its distance b_max - b, and b' = db/ds (see the comment above), from
    a_h = a/√2, s and 1/s. With w = a/(s√2) and u = s/(2√2): |d1|/√2 = |u - w|, |d2|/√2 = u + w and
    E = exp(-(u² + w²)).

    ``extra`` (optional, >= 0) rides along in the same erfcx call: the last array returned is erfcx(extra/√2).
    """
    w = a_h * inv_s
    u = s * (0.5 * _SQRT_HALF)
    n = s.size
    t = np.empty(3 * n if extra is not None else 2 * n)
    np.subtract(u, w, out=t[:n])
    np.abs(t[:n], out=t[:n])
    np.add(u, w, out=t[n:2 * n])
    if extra is not None:
        np.multiply(extra, _SQRT_HALF, out=t[2 * n:])
    x = _erfcx(t)
    x1, x2 = x[:n], x[n:2 * n]
    half_e = np.exp(-_LN2 - (u * u + w * w))
    low = u <= w  # s <= s_c
    total = half_e * (x1 + x2)
    b = np.maximum(np.where(low, half_e * (x1 - x2), b_max - total), 0.0)
    return b, _f64(np.where(low, b_max - b, total)), half_e * (2.0 / _SQRT_2PI), x[2 * n:]


def _norm_ppf_lower(u: FloatArray) -> FloatArray:
    """Normal quantile for u in (0, 0.5], to 4.5e-4 (Hastings' approximation; initial guesses only)."""
    t = np.sqrt(-2.0 * np.log(u))
    p0, p1, p2 = _HASTINGS_P
    q1, q2, q3 = _HASTINGS_Q
    return _f64((p0 + t * (p1 + t * p2)) / (1.0 + t * (q1 + t * (q2 + t * q3))) - t)


def _rational_cubic(x: FloatArray, xl: FloatArray, xr: FloatArray, yl: FloatArray, yr: FloatArray,
                    dl: FloatArray, dr: FloatArray) -> FloatArray:
    """Delbourgo-Gregory rational cubic through (xl, yl) and (xr, yr) with slopes dl and dr, at x.

    Its control parameter r is the least that keeps the interpolant monotone and convex or concave like the
    data (r = 3 is the cubic Hermite, r -> inf the straight line; the denominator 1 + (r - 3) t (1 - t) stays
    positive for r > -1).
    """
    h = xr - xl
    slope = (yr - yl) / h
    dd = dr - dl
    r = np.fmax(np.fmax((dr + dl) / slope, dd / (dr - slope)), dd / (slope - dl))  # fmax: NaN loses
    r = np.where(r > -1.0, r, 3.0)
    t = (x - xl) / h
    u = 1.0 - t
    tu = t * u
    return _f64((yr * t * t * t + (r * yr - h * dr) * t * tu + (r * yl + h * dl) * tu * u + yl * u * u * u)
                / (1.0 + (r - 3.0) * tu))


def _initial_guess(beta: FloatArray, a: FloatArray, b_max: FloatArray) -> tuple[FloatArray, BoolArray, BoolArray]:
    """Initial s for b(a, s) = beta, and the masks of the lowest and the highest of the four regions.

    Regions: below b(s_l), [b(s_l), b_c], [b_c, b(s_u)], above b(s_u). At the inflection d1 = 0, so
    b_c = b_max (1 - erfcx(√a)) / 2 and b'(s_c) = b_max / √(2π); the tangent there reaches 0 at
    s_l = s_c - √(2π) (1 - erfcx(√a)) / 2 and b_max at s_u = s_c + √(2π) (1 + erfcx(√a)) / 2.
    Within 10 % at worst (typically 1e-3), which two steps of order 4 turn into ~1e-16.
    """
    s_c = np.sqrt(2.0 * a)
    x_c = _erfcx(np.sqrt(a))
    b_c = 0.5 * b_max * (1.0 - x_c)
    lower = beta < b_c
    # the node beside s_c each option needs, and the argument z of its map: a/(√3 s_l) or s_u/2
    side = s_c + (0.5 * _SQRT_2PI) * (x_c + np.where(lower, -1.0, 1.0))
    inv_side = 1.0 / side
    z = np.where(lower, (1.0 / _SQRT3) * a * inv_side, 0.5 * side)
    b_side, _, v_side, x_z = _otm_b(a * _SQRT_HALF, side, inv_side, b_max, extra=z)
    e_z = np.exp(-0.5 * z * z)
    n_z = 0.5 * e_z * x_z  # N(-z)
    outer = (beta < b_side) == lower  # the regions interpolated in f
    k_lower = _K_LOWER * a
    # the map at the node and its slope in beta: f_lower = k N(-z)³ or f_upper = N(-z), df/ds over b'(s)
    f_side = np.where(lower, k_lower * n_z * n_z * n_z, n_z)
    df_ds = e_z * np.where(lower, _SQRT_2PI * n_z * n_z * z * z, -0.5 / _SQRT_2PI)
    # outer regions: f from the far end (beta = 0: f = 0, f' = 1; beta = b_max: f = 0, f' = -1/2) to the node;
    # inner regions: s from the inflection (b_c, s_c, slope √(2π)/b_max) to the node. Each interval starts at
    # the end the guessed beta may come close to, where t = (beta - xl)/h keeps its digits.
    f = _rational_cubic(beta, np.where(outer, b_max * ~lower, b_c), b_side, s_c * ~outer,
                        np.where(outer, f_side, side), np.where(outer, np.where(lower, 1.0, -0.5), _SQRT_2PI / b_max),
                        np.where(outer, df_ds, 1.0) / v_side)
    lowest = outer & lower
    highest = outer & ~lower
    zz = _norm_ppf_lower(np.minimum(np.maximum(np.where(lowest, np.cbrt(f / k_lower), f), 1e-300), 0.5))
    s = np.where(lowest, a / (-_SQRT3 * zz), np.where(highest, -2.0 * zz, f))
    return s, lowest, highest


def _solve_normalized(beta: FloatArray, a: FloatArray, b_max: FloatArray, lo: FloatArray, hi: FloatArray
                      ) -> tuple[FloatArray, BoolArray, BoolArray]:
    """s in [lo, hi] with b(a, s) = beta, for 0 < beta < b_max: (s, solved, outside).

    ``outside``: no s in [lo, hi] fits, b(lo) >= beta or b(hi) <= beta. Householder's third-order step on
    the region's objective from :func:`_initial_guess`. The first step is taken as it is; from the second on,
    a step leaving the bracket of the points tried is replaced by a geometric bisection (or by the end of the
    range on a side with no point tried yet), and one past lo or hi tries that end first. Converged when a
    step is below ``_STEP_TOL`` (relative; the next would be ~1e-20) or the bracket below ``_REL_TOL``.
    """
    n = beta.size
    s, lowest, highest = _initial_guess(beta, a, b_max)
    s = _f64(np.minimum(np.maximum(np.where(np.isfinite(s), s, np.sqrt(lo * hi)), lo), hi))
    a_h, a2, log_beta, gap = a * _SQRT_HALF, a * a, np.log(beta), b_max - beta
    below, above = np.zeros(n), np.full(n, np.inf)  # the points tried so far bracket: b(below) < beta < b(above)
    solved = np.zeros(n, dtype=bool)
    outside = np.zeros(n, dtype=bool)
    active: npt.NDArray[np.intp] | None = None  # None: all of them (no gathering while every option still moves)
    for it in range(_MAX_ITER):
        floats = (s, a_h, a2, b_max, beta, log_beta, gap, lo, hi, below, above)
        sa, aha, a2a, bm, be, lb, gp, lo_a, hi_a, la, ha = (
            floats if active is None else tuple(x[active] for x in floats))
        r_low, r_high = (lowest, highest) if active is None else (lowest[active], highest[active])
        inv_s = 1.0 / sa
        b, c, v, _ = _otm_b(aha, sa, inv_s, bm)
        a2s3 = a2a * inv_s * inv_s * inv_s
        curv = a2s3 - 0.25 * sa                            # b''/b'
        curv3 = curv * curv - 3.0 * a2s3 * inv_s - 0.25    # (third derivative of b)/b'
        # the Newton step nu = -g/g' and the ratios of the objective's second and third derivatives to g'
        nu, h2, h3 = (be - b) / v, curv, curv3  # g = b - beta
        if r_low.any():  # g = ln b - ln beta
            lam = v / b
            nu = np.where(r_low, (lb - np.log(b)) / lam, nu)
            h2 = np.where(r_low, curv - lam, h2)
            h3 = np.where(r_low, curv3 - (3.0 * curv - 2.0 * lam) * lam, h3)
        if r_high.any():  # g = ln(b_max - beta) - ln(b_max - b)
            mu = v / c
            nu = np.where(r_high, np.log(c / gp) / mu, nu)
            h2 = np.where(r_high, curv + mu, h2)
            h3 = np.where(r_high, curv3 + (3.0 * curv + 2.0 * mu) * mu, h3)
        step = nu * (1.0 + 0.5 * h2 * nu) / (1.0 + nu * (h2 + h3 * nu / 6.0))
        if active is not None:  # far from the root the higher-order terms only damp the step: Newton's instead
            step = np.where(np.abs(nu) <= sa, step, nu)
        elif it == 0:  # the first step from the guess is taken as it is (kept in [lo, hi]); the next one decides
            s = _f64(np.minimum(np.maximum(np.where(np.isfinite(step), sa + step, sa), lo), hi))
            continue
        low_side, high_side = b < be, b > be
        at_lo, at_hi = sa <= lo_a, sa >= hi_a
        edge = at_lo | at_hi
        out = (at_lo & ~low_side) | (at_hi & ~high_side) if edge.any() else edge
        la = np.where(low_side, sa, la)
        ha = np.where(high_side, sa, ha)
        raw = sa + step
        nxt = np.minimum(np.maximum(raw, lo_a), hi_a)
        small = np.abs(step) <= _STEP_TOL * sa  # False for NaN
        # a step past lo or hi tries that end before concluding (unless it was just tried: then s is that end)
        done = small & ((nxt == raw) | (nxt == sa))
        accept = small | ((nxt > la) & (nxt < ha))
        if active is not None or not accept.all():
            # bisect between points tried; while one side has none, try that end of the range
            nxt = np.where(accept, nxt, np.where(ha == np.inf, hi_a, np.where(la == 0.0, lo_a, np.sqrt(la * ha))))
            done |= ha - la <= _REL_TOL * sa
        if active is None:
            s, below, above, solved, outside = nxt, la, ha, done & ~out, out
            active = np.flatnonzero(~(done | out))
        else:
            s[active], below[active], above[active] = nxt, la, ha
            solved[active] = done & ~out
            outside[active] = out
            active = active[~(done | out)]
        if active.size == 0:
            break
    return s, solved, outside


def implied_vol(price: npt.ArrayLike, F: npt.ArrayLike, K: npt.ArrayLike, T: npt.ArrayLike, is_call: npt.ArrayLike,
                df: npt.ArrayLike = 1.0) -> tuple[FloatArray, npt.NDArray[np.str_]]:
    """Black-76 implied volatility of each price, and why not where it is NaN ("" where solved).

    Works on the out-of-the-money side by parity (an ITM price less its intrinsic value is the OTM
    option's price), normalized by sqrt(F K): well conditioned from deep OTM to deep ITM and near expiry.
    Searches sigma in [IV_MIN, IV_MAX]; reasons are the texts of ``IV_REASONS``. A rational initial guess
    and two Householder steps reach machine precision (method in the comment above ``_ERFCX_NODES_PER_UNIT``).
    """
    (p, f, k, t, df_), call = _with_flag((price, F, K, T, df), is_call)
    with np.errstate(divide="ignore", invalid="ignore"):
        code, q = _screen(p / df_, f, k, t, call)
    iv = np.full(p.shape, np.nan)
    codes, ivs = code.ravel(), iv.ravel()  # views: both are fresh contiguous arrays
    idx = np.flatnonzero(codes == _OK)
    if idx.size:
        pick = idx if idx.size < codes.size else slice(None)  # no gather when every option is to be solved
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            fi, ki = f.ravel()[pick], k.ravel()[pick]
            root_t = np.sqrt(t.ravel()[pick])
            a = np.abs(np.log(fi / ki))
            beta = q.ravel()[pick] / np.sqrt(fi * ki)
            b_max = np.exp(-0.5 * a)
            # beta <= 0 (exactly intrinsic) needs sigma = 0, beta >= b_max (the bound, to rounding) sigma = inf
            live = (beta > 0.0) & (beta < b_max)
            if not live.all():
                codes[idx[~live]] = _OUTSIDE
                keep = np.flatnonzero(live)
                idx, a, b_max, beta, root_t = idx[keep], a[keep], b_max[keep], beta[keep], root_t[keep]
            s, solved, outside = _solve_normalized(beta, a, b_max, IV_MIN * root_t, IV_MAX * root_t)
        if solved.all():
            ivs[idx] = s / root_t
        else:
            ivs[idx[solved]] = s[solved] / root_t[solved]
            codes[idx[~solved]] = np.where(outside[~solved], _OUTSIDE, _NOCONV)
    return iv, np.take(_REASON_TEXT, code)


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
