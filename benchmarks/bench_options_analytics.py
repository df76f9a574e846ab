"""Time the options analytics on a synthetic 1,000-option chain (target: under 50 ms in total).

Usage: python benchmarks/bench_options_analytics.py [--runs 50] [--expiries 10] [--strikes 50] [--iv-runs 2000]
       [--vollib]

The chain: ``expiries`` expiries from 1 day to a year x ``strikes`` strikes from 0.5 to 2 x the forward,
a call and a put at each, priced with Black-76 on a skewed, convex smile; open interest and volume
concentrated near the money. Each run times, in turn: the IV solve of every price, the greeks of every
option, the per-expiry metrics (ATM IV, 25-delta RR/BF, PCRs, max pain, OI), GEX by strike and its flip,
max pain over the whole chain, and constant-maturity IV. Prints the median of the runs per stage and for
the whole pipeline, in milliseconds, and the solver's worst round-trip error.

The IV solver alone (target: at most 1 ms per 1,000 options) is then timed ``--iv-runs`` times back to back:
median and 10th/90th percentiles in ms per 1,000 options. With ``--vollib`` the same prices go through
py_vollib_vectorized's Black solver too, if it is installed (it is not a dependency: install it in a
separate environment and put dtrack's ``src`` on PYTHONPATH), with the largest difference of the two.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dtrack.analytics.options import (
    black76_price,
    constant_maturity,
    expiry_metrics,
    gex_by_strike,
    gex_flip,
    greeks,
    implied_vol,
    max_pain,
)

SPOT = 60_000.0


@dataclass(frozen=True)
class Chain:
    """A synthetic chain, one row per option."""

    expiry: np.ndarray
    T: np.ndarray
    F: np.ndarray
    K: np.ndarray
    call: np.ndarray
    iv: np.ndarray
    price: np.ndarray
    oi: np.ndarray
    volume: np.ndarray


def build_chain(expiries: int, strikes: int, seed: int = 7) -> Chain:
    rng = np.random.default_rng(seed)
    days = np.geomspace(1, 365, expiries)
    T_e = days / 365
    F_e = SPOT * np.exp(0.05 * T_e)  # a contango basis
    moneyness = np.geomspace(0.5, 2.0, strikes)
    e, m, c = np.meshgrid(np.arange(expiries), moneyness, [True, False], indexing="ij")
    e, m, call = e.ravel(), m.ravel(), c.ravel().astype(bool)
    T, F = T_e[e], F_e[e]
    K = np.round(F * m, -2)
    k = np.log(K / F)
    iv = (0.55 - 0.1 * k + 0.4 * k * k) * (1 + 0.2 / np.sqrt(365 * T))
    price = black76_price(F, K, T, iv, call)
    near = np.exp(-(k / 0.15) ** 2)
    oi = np.round(near * rng.uniform(50, 500, k.size), 1)
    volume = np.round(near * rng.uniform(0, 80, k.size), 1)
    return Chain(e, T, F, K, call, iv, price, oi, volume)


def stages(ch: Chain) -> dict[str, Callable[[], Any]]:
    """The timed steps; later ones use the IVs and greeks of the earlier ones, as the command would."""
    state: dict[str, Any] = {}
    groups = [np.flatnonzero(ch.expiry == i) for i in np.unique(ch.expiry)]

    def solve() -> None:
        state["iv"], state["why"] = implied_vol(ch.price, ch.F, ch.K, ch.T, ch.call)

    def all_greeks() -> None:
        state["greeks"] = greeks(ch.F, ch.K, ch.T, state["iv"], ch.call)

    def per_expiry() -> None:
        state["metrics"] = [expiry_metrics(ch.K[g], ch.call[g], state["iv"][g], ch.oi[g], ch.volume[g],
                                           ch.price[g], ch.F[g][0], ch.T[g][0], SPOT) for g in groups]

    def gex() -> None:
        strikes, by_strike = gex_by_strike(ch.K, ch.call, state["greeks"].gamma, ch.oi, SPOT)
        state["flip"] = gex_flip(strikes, by_strike, near=SPOT)

    def chain_max_pain() -> None:
        state["max_pain"] = max_pain(ch.K, ch.call, ch.oi)

    def cm() -> None:
        state["cm"] = constant_maturity([ch.T[g][0] for g in groups], [m.atm_iv for m in state["metrics"]])

    return {"IV solve": solve, "greeks": all_greeks, "per-expiry metrics": per_expiry, "GEX + flip": gex,
            "max pain (whole chain)": chain_max_pain, "constant maturity": cm}


def time_per_1000(solve: Callable[[], Any], runs: int, options: int) -> tuple[float, float, float]:
    """(median, 10th, 90th percentile) of ``runs`` back-to-back calls, in ms per 1,000 options."""
    solve()  # warm up
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        solve()
        samples.append((time.perf_counter() - t0) * 1e6 / options)
    deciles = statistics.quantiles(samples, n=10)
    return statistics.median(samples), deciles[0], deciles[-1]


def vollib_solver(ch: Chain) -> Callable[[], Any] | None:
    """py_vollib_vectorized's Black-76 IV of the chain (r = 0), or None when it is not installed."""
    try:
        vollib = importlib.import_module("py_vollib_vectorized")
    except ImportError:
        return None
    flag = np.where(ch.call, "c", "p")

    def solve() -> Any:
        return vollib.vectorized_implied_volatility_black(ch.price, ch.F, ch.K, 0.0, ch.T, flag, on_error="ignore",
                                                          return_as="numpy")
    return solve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--expiries", type=int, default=10)
    ap.add_argument("--strikes", type=int, default=50)
    ap.add_argument("--iv-runs", type=int, default=2000, help="back-to-back runs of the IV solver alone")
    ap.add_argument("--vollib", action="store_true", help="also time py_vollib_vectorized, if installed")
    args = ap.parse_args()
    ch = build_chain(args.expiries, args.strikes)
    steps = stages(ch)
    for step in steps.values():  # warm up (imports, caches)
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    totals = []
    for _ in range(args.runs):
        start = time.perf_counter()
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
        totals.append(time.perf_counter() - start)
    iv, why = implied_vol(ch.price, ch.F, ch.K, ch.T, ch.call)
    # prices that pin the vol to 1e-6: a 1e-6 vol move shifts them by far more than their rounding
    # (~eps x max(F, K)); the others are ITM options near expiry whose time value is lost in rounding.
    vega_per_unit = greeks(ch.F, ch.K, ch.T, ch.iv, ch.call).vega * 100.0
    determined = vega_per_unit * 1e-6 > 1e3 * np.finfo(float).eps * np.maximum(ch.F, ch.K)
    solved = why == ""
    print(f"chain: {ch.K.size} options ({args.expiries} expiries x {args.strikes} strikes x call/put); "
          f"median of {args.runs} runs")
    for name, samples in times.items():
        print(f"  {name:<24} {statistics.median(samples) * 1000:8.3f} ms")
    print(f"  {'total':<24} {statistics.median(totals) * 1000:8.3f} ms (target < 50 ms)")
    print(f"IV solver: {int(determined.sum())} prices determine the vol, all solved: {bool(solved[determined].all())}, "
          f"worst |iv - true| {float(np.max(np.abs(iv[determined] - ch.iv[determined]))):.1e}; of the other "
          f"{int((~determined).sum())} (deep ITM near expiry), {int(solved[~determined].sum())} solved (worst "
          f"{float(np.nanmax(np.abs(iv[~determined] - ch.iv[~determined]), initial=0.0)):.1e}), unsolved: "
          f"{sorted(set(why[~solved].tolist())) or 'none'}")
    n = ch.K.size
    med, p10, p90 = time_per_1000(lambda: implied_vol(ch.price, ch.F, ch.K, ch.T, ch.call), args.iv_runs, n)
    print(f"IV solver alone, {args.iv_runs} runs: median {med:.3f} ms per 1,000 options (p10 {p10:.3f}, p90 {p90:.3f}; "
          f"target <= 1 ms)")
    if args.vollib:
        other = vollib_solver(ch)
        status = "not installed"
        if other is not None:
            try:
                other()
            except Exception as exc:  # e.g. numba typing errors of a mismatched set of its dependencies
                status, other = f"fails here ({type(exc).__name__})", None
        if other is None:
            print(f"py_vollib_vectorized: {status}")
        else:
            med, p10, p90 = time_per_1000(other, args.iv_runs, n)
            theirs = np.asarray(other(), dtype=float).ravel()
            both = solved & np.isfinite(theirs)
            print(f"py_vollib_vectorized, {args.iv_runs} runs: median {med:.3f} ms per 1,000 options (p10 {p10:.3f}, "
                  f"p90 {p90:.3f}); {int(np.isfinite(theirs).sum())} solved, largest |difference| where both solve "
                  f"and the price determines the vol: {float(np.max(np.abs(theirs - iv)[both & determined])):.1e}")


if __name__ == "__main__":
    main()
