"""Realized volatility from OHLC bars, the volatility regime and the adaptive leverage. Pure, vectorized numpy.

Estimators (each a per-period variance, annualized as ``sqrt(variance × periods_per_year)`` with 365 days a year:
``periods_per_year`` = 365 for daily bars, 365 × 24 for hourly ones). A window of ``n`` periods is ``n`` bars plus
the close of the bar before them (the previous close of the first bar). With, per bar, ``o = ln(O / C_prev)``
(the opening jump), ``u = ln(H / O)``, ``d = ln(L / O)``, ``c = ln(C / O)`` and ``r = ln(C / C_prev)``:

- ``cc`` close-to-close: the sample variance (``n − 1`` in the denominator) of the ``n`` log returns ``r``.
- ``parkinson`` (Parkinson 1980): ``Σ (u − d)² / (4 n ln 2)``.
- ``gk`` (Garman & Klass 1980, their practical estimator σ̂₅: the best analytic σ̂₄ without its small cross
  terms, nearly as efficient; one bar, no opening jump):
  ``Σ [0.5 (u − d)² − (2 ln 2 − 1) c²] / n``.
- ``rs`` (Rogers & Satchell 1991): ``Σ [u (u − c) + d (d − c)] / n`` (unbiased under any drift).
- ``yz`` (Yang & Zhang 2000): ``σ²_o + k σ²_c + (1 − k) σ²_rs`` with ``σ²_o`` and ``σ²_c`` the sample variances
  (``n − 1``) of ``o`` and ``c``, ``σ²_rs`` the Rogers–Satchell variance above and ``k = 0.34 / (1.34 + (n + 1) /
  (n − 1))`` (their minimum-variance choice for α = 1.34).

Range estimators see only the sampled high and low, so on a discretely traded path they read slightly low; crypto
trades around the clock, so the opening jump ``o`` is ~0 and ``yz`` ≈ ``rs`` plus the drift-robust close terms.

Regimes (seed 004, bands from settings ``vol``): ``low`` up to ``low_max`` (40 %), ``medium`` up to ``medium_max``
(80 %), ``high`` up to ``high_max`` (150 %), ``extreme`` above; a value on a band's edge belongs to the lower band.
The adaptive leverage is ``target / realized`` (volatility targeting) capped at the regime's maximum leverage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: the estimators, in the order they are shown
METHODS = ("cc", "parkinson", "gk", "rs", "yz")
METHOD_NAMES = {"cc": "close-to-close", "parkinson": "Parkinson", "gk": "Garman-Klass", "rs": "Rogers-Satchell",
                "yz": "Yang-Zhang"}
#: the regimes, lowest first
REGIMES = ("low", "medium", "high", "extreme")
DAYS_PER_YEAR = 365.0
LN2 = math.log(2.0)
GK_C = 2.0 * LN2 - 1.0
#: the fewest periods an estimate is made of (a sample variance needs two)
MIN_PERIODS = 2


def periods_per_year(period_seconds: int) -> float:
    """Bars of ``period_seconds`` in a 365-day year (365 daily, 8,760 hourly)."""
    if period_seconds <= 0:
        raise ValueError(f"period_seconds must be positive, got {period_seconds}")
    return DAYS_PER_YEAR * 86_400.0 / period_seconds


@dataclass(frozen=True, slots=True)
class Bars:
    """OHLC bars, oldest first, prices per one unit of the asset; ``time_ms`` the bars' open times."""

    time_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray

    @classmethod
    def of(cls, time_ms: Sequence[int] | npt.ArrayLike, open_: npt.ArrayLike, high: npt.ArrayLike,
           low: npt.ArrayLike, close: npt.ArrayLike) -> Bars:
        """Bars from sequences; a price that is not positive and finite, or a high below the open, close or low
        (a low above them) is a ``ValueError`` (the venues' parsers refuse them first)."""
        t = np.asarray(time_ms, dtype=np.int64)
        o, h, lo, c = (np.asarray(x, dtype=np.float64) for x in (open_, high, low, close))
        if not (t.shape == o.shape == h.shape == lo.shape == c.shape) or t.ndim != 1:
            raise ValueError("time, open, high, low and close must be 1-d and of one length")
        with np.errstate(invalid="ignore"):
            good = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & (lo > 0)
            good &= (h >= np.maximum(o, c)) & (lo <= np.minimum(o, c))
        if not bool(good.all()):
            bad = int(np.flatnonzero(~good)[0])
            raise ValueError(f"bar {bad} is not a valid OHLC bar: {o[bad]}, {h[bad]}, {lo[bad]}, {c[bad]}")
        if t.size > 1 and not bool((np.diff(t) > 0).all()):
            raise ValueError("bars must be in ascending time, each once")
        return cls(t, o, h, lo, c)

    def __len__(self) -> int:
        return int(self.close.size)


def _terms(bars: Bars) -> dict[str, FloatArray]:
    """The per-bar log terms of every bar after the first (the first lends its close)."""
    o, h, lo, c = bars.open[1:], bars.high[1:], bars.low[1:], bars.close[1:]
    prev = bars.close[:-1]
    u, d, co = np.log(h / o), np.log(lo / o), np.log(c / o)
    return {"jump": np.log(o / prev), "ret": np.log(c / prev), "u": u, "d": d, "c": co}


def _window_sum(x: FloatArray, n: int) -> FloatArray:
    """Sums of every run of ``n`` consecutive elements (``len(x) − n + 1`` of them)."""
    s = np.concatenate(([0.0], np.cumsum(x)))
    out: FloatArray = s[n:] - s[:-n]
    return out


def _window_var(x: FloatArray, n: int) -> FloatArray:
    """Sample variances (``n − 1`` in the denominator) of every run of ``n`` consecutive elements."""
    centred = x - x.mean() if x.size else x  # shift-invariant; keeps the sums of squares well conditioned
    s1, s2 = _window_sum(centred, n), _window_sum(centred * centred, n)
    out: FloatArray = np.maximum((s2 - s1 * s1 / n) / (n - 1), 0.0)
    return out


def rolling_variance(bars: Bars, method: str, window: int) -> FloatArray:
    """Per-period variance of every window of ``window`` periods: element ``j`` covers bars ``j + 1`` to
    ``j + window`` (the close of bar ``j`` is the first one's previous close), so there are ``len(bars) −
    window`` of them, each ending at bar ``j + window``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if window < MIN_PERIODS:
        raise ValueError(f"a window needs at least {MIN_PERIODS} periods, got {window}")
    if len(bars) < window + 1:
        return np.empty(0, dtype=np.float64)
    t = _terms(bars)
    n = window
    if method == "cc":
        return _window_var(t["ret"], n)
    if method == "parkinson":
        hl = t["u"] - t["d"]
        return _window_sum(hl * hl, n) / (4.0 * n * LN2)
    if method == "gk":
        hl, c = t["u"] - t["d"], t["c"]
        return _window_sum(0.5 * hl * hl - GK_C * c * c, n) / n
    rs = _window_sum(t["u"] * (t["u"] - t["c"]) + t["d"] * (t["d"] - t["c"]), n) / n
    if method == "rs":
        return rs
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    yz: FloatArray = _window_var(t["jump"], n) + k * _window_var(t["c"], n) + (1.0 - k) * rs
    return yz


def rolling_vol(bars: Bars, method: str, window: int, per_year: float) -> FloatArray:
    """Annualized volatility (a fraction: 0.55 = 55 %) of every window of ``window`` periods (see
    ``rolling_variance``)."""
    out: FloatArray = np.sqrt(np.maximum(rolling_variance(bars, method, window), 0.0) * per_year)
    return out


def realized_vol(bars: Bars, method: str, per_year: float) -> float:
    """Annualized volatility over every period of ``bars`` (``len(bars) − 1`` periods: the first bar lends its
    close); NaN with fewer than ``MIN_PERIODS`` periods."""
    n = len(bars) - 1
    if n < MIN_PERIODS:
        return math.nan
    return float(rolling_vol(bars, method, n, per_year)[-1])


# --- regimes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bands:
    """Upper edges (annualized volatility, fractions) of the low, medium and high regimes; above: extreme."""

    low_max: float = 0.40
    medium_max: float = 0.80
    high_max: float = 1.50

    def __post_init__(self) -> None:
        if not 0 < self.low_max < self.medium_max < self.high_max:
            raise ValueError(f"bands must rise: {self.low_max} < {self.medium_max} < {self.high_max}")

    @property
    def edges(self) -> FloatArray:
        """The three upper edges as an array."""
        return np.array([self.low_max, self.medium_max, self.high_max], dtype=np.float64)

    def range_of(self, regime: str) -> tuple[float, float | None]:
        """(lower edge, upper edge) of a regime: ``(low_max, medium_max]`` for medium; extreme has no top."""
        i = REGIMES.index(regime)
        lows = (0.0, self.low_max, self.medium_max, self.high_max)
        highs = (self.low_max, self.medium_max, self.high_max, None)
        return lows[i], highs[i]


def regime_index(vols: npt.ArrayLike, bands: Bands) -> IntArray:
    """The regime of each volatility as an index into ``REGIMES`` (an edge belongs to the lower regime)."""
    out: IntArray = np.searchsorted(bands.edges, np.asarray(vols, dtype=np.float64), side="left").astype(np.int64)
    return out


def classify(vol: float, bands: Bands) -> str:
    """The regime of one annualized volatility."""
    if not math.isfinite(vol):
        raise ValueError(f"no regime for volatility {vol}")
    return REGIMES[int(regime_index([vol], bands)[0])]


@dataclass(frozen=True, slots=True)
class Transition:
    """The rolling volatility moved from one regime to another at the window ending with the bar opened at
    ``time_ms`` (``vol``: the first value in the new regime)."""

    time_ms: int
    from_regime: str
    to_regime: str
    vol: float


def transitions(time_ms: npt.ArrayLike, vols: npt.ArrayLike, bands: Bands) -> list[Transition]:
    """Every change of regime along a rolling series, oldest first."""
    t = np.asarray(time_ms, dtype=np.int64)
    v = np.asarray(vols, dtype=np.float64)
    idx = regime_index(v, bands)
    at = np.flatnonzero(idx[1:] != idx[:-1]) + 1
    return [Transition(int(t[i]), REGIMES[int(idx[i - 1])], REGIMES[int(idx[i])], float(v[i])) for i in at]


@dataclass(frozen=True, slots=True)
class RegimeParams:
    """What a regime recommends (seed 004's table; ``max_leverage`` from settings ``vol.max_leverage_*``)."""

    regime: str
    vol_from: float
    vol_to: float | None
    max_leverage: float
    position_size_pct: float
    stop_loss_pct: float
    take_profit_pct: float
    cash_pct: float
    strategy: str


#: seed 004 ``get_regime_parameters``: position size, stop loss, take profit and cash allocation in percent
SEED_PARAMS: Mapping[str, tuple[float, float, float, float, str]] = {
    "low": (50.0, 3.0, 6.0, 20.0, "range trading, mean reversion"),
    "medium": (30.0, 7.0, 15.0, 30.0, "trend following, momentum"),
    "high": (15.0, 12.0, 25.0, 50.0, "reduced exposure, defensive"),
    "extreme": (5.0, 15.0, 30.0, 80.0, "survival mode, minimal exposure"),
}


def regime_table(bands: Bands, caps: Mapping[str, float]) -> tuple[RegimeParams, ...]:
    """The parameters of every regime, lowest first (``caps``: regime -> maximum leverage)."""
    out = []
    for regime in REGIMES:
        lo, hi = bands.range_of(regime)
        size, stop, take, cash, strategy = SEED_PARAMS[regime]
        out.append(RegimeParams(regime=regime, vol_from=lo, vol_to=hi, max_leverage=float(caps[regime]),
                                position_size_pct=size, stop_loss_pct=stop, take_profit_pct=take, cash_pct=cash,
                                strategy=strategy))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Leverage:
    """The adaptive leverage: ``target / realized`` (``raw``), capped at the regime's ``cap``."""

    leverage: float
    raw: float
    cap: float
    capped: bool


def adaptive_leverage(vol: float, target: float, bands: Bands, caps: Mapping[str, float]) -> Leverage:
    """Volatility targeting (seed 004): ``target / vol``, at most the maximum leverage of ``vol``'s regime."""
    if not (math.isfinite(vol) and vol > 0):
        raise ValueError(f"no leverage for volatility {vol}")
    raw = target / vol
    cap = float(caps[classify(vol, bands)])
    return Leverage(leverage=min(raw, cap), raw=raw, cap=cap, capped=raw > cap)


# --- one asset's analysis ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class VolAnalysis:
    """Realized volatility of one series of bars: ``current`` per method (the last ``window`` periods),
    the rolling series per method (each value the window ending at the bar opened at ``rolling_time_ms``), the
    regime, transitions and adaptive leverage from the ``primary`` method."""

    methods: tuple[str, ...]
    primary: str
    window: int
    per_year: float
    current: Mapping[str, float]
    rolling_time_ms: IntArray
    rolling: Mapping[str, FloatArray]
    regime: str
    transitions: tuple[Transition, ...]
    leverage: Leverage
    table: tuple[RegimeParams, ...]


def analyze(bars: Bars, methods: Sequence[str], window: int, per_year: float, bands: Bands, target: float,
            caps: Mapping[str, float]) -> VolAnalysis:
    """Every figure of ``dtrack vol`` for one series; ``methods[0]`` drives the regime and the leverage.
    ``bars`` must hold at least ``window + 1`` bars; a ``ValueError`` says why there is no answer (too few bars, or
    a window of flat bars: a volatility of 0 has no regime and no leverage)."""
    if not methods:
        raise ValueError("name at least one method")
    if len(bars) < window + 1:
        raise ValueError(f"{len(bars)} bars cannot make a window of {window} periods (needs {window + 1})")
    rolling = {m: rolling_vol(bars, m, window, per_year) for m in methods}
    times = bars.time_ms[window:]
    current = {m: float(v[-1]) for m, v in rolling.items()}
    primary = methods[0]
    vol = current[primary]
    if not (math.isfinite(vol) and vol > 0):
        raise ValueError(f"the {primary} volatility of the last {window} bars is {vol:g}: every bar of the window is "
                         "flat (the contract did not trade), so there is no regime or leverage to give")
    return VolAnalysis(methods=tuple(methods), primary=primary, window=window, per_year=per_year, current=current,
                       rolling_time_ms=times, rolling=rolling, regime=classify(vol, bands),
                       transitions=tuple(transitions(times, rolling[primary], bands)),
                       leverage=adaptive_leverage(vol, target, bands, caps), table=regime_table(bands, caps))


# --- what ``dtrack vol`` answers per asset ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class VolParams:
    """What ``dtrack vol`` was asked, checked: the estimators (``methods[0]`` drives the regime), the bars
    (``bars`` ``1d`` or ``1h``, ``period_seconds`` long), the window in bars, the span of the rolling series before
    it, and from settings ``vol`` the regime bands, the target volatility and the maximum leverage per regime."""

    methods: tuple[str, ...]
    bars: str
    period_seconds: int
    window_bars: int
    rolling: timedelta
    bands: Bands
    target: float
    caps: Mapping[str, float]

    @property
    def window(self) -> timedelta:
        """The window as a span."""
        return timedelta(seconds=self.window_bars * self.period_seconds)

    @property
    def per_year(self) -> float:
        """Bars per 365-day year."""
        return periods_per_year(self.period_seconds)

    @property
    def fetch_span(self) -> timedelta:
        """How far back bars are asked: the rolling span, the window and the close before it, and the bar still
        open (dropped)."""
        return self.rolling + self.window + timedelta(seconds=2 * self.period_seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImpliedVol:
    """An implied volatility quoted beside the realized one (annualized fraction), where it came from
    (``venue``, ``time``, ``label``), or why there is none (``reason``; ``value`` None)."""

    value: float | None = None
    venue: str | None = None
    time: datetime | None = None
    label: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetVol:
    """One asset's volatility: the klines read (``venue``, ``symbol``, ``count`` closed ``bars`` from ``first``
    to ``last``, the open times), their ``analysis`` (None when no venue served enough), DVOL and the 30-day ATM
    IV, the IV − RV ``spread`` of the primary estimator against ``spread_basis`` (``dvol`` or ``atm_iv``), the
    ``choice`` (why this contract) and ``notes``."""

    asset: str
    venue: str | None
    symbol: str | None
    bars: str
    period_seconds: int
    count: int
    first: datetime | None
    last: datetime | None
    analysis: VolAnalysis | None
    dvol: ImpliedVol
    atm_iv: ImpliedVol
    spread: float | None
    spread_basis: str | None
    choice: str = ""
    notes: tuple[str, ...] = ()
