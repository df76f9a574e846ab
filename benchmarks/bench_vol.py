"""How long each volatility estimator takes on a year of hourly bars (target: <= 20 ms each).

Builds 8,760 hourly OHLC bars of a GBM (80 % a year, seeded) and times, per estimator of
``dtrack.analytics.volatility``: the estimate over the whole year (``realized_vol``), the rolling series of a
30-day window over it (``rolling_vol``: one value per bar), and the whole analysis ``dtrack vol`` makes of the
series (five estimators, regime, transitions, leverage: ``analyze``). Prints the median and the spread of each.

    python benchmarks/bench_vol.py [--runs 50] [--bars 8760]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import numpy as np

from dtrack.analytics import volatility as v

TARGET_MS = 20.0


def hourly_bars(count: int, sigma: float = 0.80, steps: int = 60, seed: int = 1) -> v.Bars:
    """``count`` hourly bars of a GBM, ``steps`` points a bar."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / (8760 * steps)
    incr = -0.5 * sigma**2 * dt + sigma * math.sqrt(dt) * rng.standard_normal((count, steps))
    starts = math.log(90_000.0) + np.concatenate(([0.0], np.cumsum(incr.sum(axis=1))[:-1]))
    paths = starts[:, None] + np.concatenate((np.zeros((count, 1)), np.cumsum(incr, axis=1)), axis=1)
    return v.Bars.of(np.arange(count, dtype=np.int64) * 3_600_000, np.exp(starts), np.exp(paths.max(axis=1)),
                     np.exp(paths.min(axis=1)), np.exp(paths[:, -1]))


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls (after one warm-up call)."""
    fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def line(label: str, ms: list[float]) -> str:
    med = statistics.median(ms)
    flag = "ok" if med <= TARGET_MS else f"OVER the {TARGET_MS:g} ms target"
    return f"{label:<44} median {med:7.3f} ms  min {min(ms):7.3f}  max {max(ms):7.3f}  ({flag})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--bars", type=int, default=8760, help="hourly bars (8,760: a year)")
    args = ap.parse_args()
    bars = hourly_bars(args.bars)
    per_year = v.periods_per_year(3600)
    window = 30 * 24
    print(f"{args.bars} hourly bars, {args.runs} runs each; window {window} bars (30 days)")
    for method in v.METHODS:
        ms = timed(lambda m=method: v.realized_vol(bars, m, per_year), args.runs)
        vol = v.realized_vol(bars, method, per_year)
        print(line(f"{v.METHOD_NAMES[method]} over the year ({vol:.1%})", ms))
    for method in v.METHODS:
        ms = timed(lambda m=method: v.rolling_vol(bars, m, window, per_year), args.runs)
        print(line(f"{v.METHOD_NAMES[method]} rolling 30 d, every bar", ms))
    ms = timed(lambda: v.analyze(bars, v.METHODS, window, per_year, v.Bands(), 0.40,
                                 {"low": 10, "medium": 5, "high": 2, "extreme": 1}), args.runs)
    print(line("analyze: 5 estimators rolling + regimes", ms))


if __name__ == "__main__":
    main()
