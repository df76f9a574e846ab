"""The execution simulator (``AsyncClient.execsim``): an order of one asset simulated on a venue's real book.

Steps: read the user's input (one line per mistake); list the venues and resolve the asset to its perpetuals; on
each venue asked, concurrently, pick the asset's main perpetual (the largest 24 h volume of its quotes) and read its
L2 book; keep the venue named with ``--venue``, else the one whose book holds the most USD within 1 % of the mid on
the side the order takes (said, with every venue's figure); read that contract's hourly candles over the last
``execsim.profile_days`` (settings) for the realized volatility and the VWAP volume profile; calibrate and run the
model (``dtrack.analytics.execution``, pure, which documents it).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from dtrack.client.inputs import check_readable, shown
from dtrack.errors import DtrackError, UnsupportedError, UsageError
from dtrack.records import Candle, Instrument, Kind, OrderBook, PriceQuote
from dtrack.results import ExecSimResult, Failure, Fold, settle, unique

if TYPE_CHECKING:
    from dtrack.analytics.execution import Ladder
    from dtrack.client.core import AsyncClient
    from dtrack.config import ExecSimSettings
    from dtrack.venues.base import Adapter

HOUR = 3600
#: the most hours ``--over`` takes, and the fewest
LONGEST_OVER, SHORTEST_OVER = 24.0 * 7, 1.0 / 60
MOST_SLICES, MOST_PATHS = 10_000, 100_000
#: the model holds several (paths x slices) arrays: more cells than this take gigabytes (10 M: about 0.4 GB)
MOST_CELLS = 10_000_000
_SIZE = re.compile(r"^\s*(\$)?\s*([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*([km])?\s*(usd)?\s*$", re.IGNORECASE)
_OVER = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|min|h|d)?\s*$", re.IGNORECASE)
_SCALE = {"k": 1e3, "m": 1e6}


# --- the user's input ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Size:
    """The order size as given: ``amount`` in coins (``unit`` ``base``) or in USD (``usd``: converted at the arrival
    mid of the venue's book)."""

    amount: float
    unit: str
    text: str

    def coins(self, mid: float) -> float:
        """The size in coins of the asset (USD sizes at ``mid``)."""
        return self.amount / mid if self.unit == "usd" else self.amount


def parse_size(value: str | float) -> Size:
    """``10`` / ``2.5`` / ``1k`` -> coins; ``$250k``, ``250000usd``, ``$1.5M`` -> USD. Zero, negative or unreadable is a
    usage error."""
    if isinstance(value, bool):
        raise UsageError(f"bad --size {value!r}: expected coins (10) or USD ($250k)")
    if isinstance(value, int | float):
        amount, usd, text = float(value), False, f"{value:g}"
    else:
        m = _SIZE.match(str(value))
        if not m:
            raise UsageError(f"bad --size {shown(str(value))}: expected coins of the asset (10, 2.5, 1k) or USD "
                             "($250k, 250000usd, $1.5M)")
        amount = float(m.group(2)) * _SCALE.get((m.group(3) or "").lower(), 1.0)
        usd, text = bool(m.group(1) or m.group(4)), str(value).strip()
    if not math.isfinite(amount):
        raise UsageError(f"bad --size {shown(text)}: too large a number; expected coins of the asset (10, 2.5, 1k) or "
                         "USD ($250k)")
    if not amount > 0:
        raise UsageError(f"bad --size {shown(text)}: the size must be more than 0 (coins, or USD with a $)")
    return Size(amount, "usd" if usd else "base", text)


def parse_over(value: str | float | timedelta) -> float:
    """``6h``, ``90m``, ``30min``, ``1d``, ``3600s`` or a number of hours (or a timedelta) -> hours, from 1 minute to
    7 days; anything else is a usage error."""
    if isinstance(value, timedelta):
        hours = value.total_seconds() / HOUR
    elif isinstance(value, int | float) and not isinstance(value, bool):
        hours = float(value)
    else:
        m = _OVER.match(str(value))
        if not m:
            raise UsageError(f"bad --over {shown(str(value))}: expected a duration like 6h, 90m, 1d or 3600s")
        unit = (m.group(2) or "h").lower()
        hours = float(m.group(1)) * {"s": 1 / HOUR, "m": 1 / 60, "min": 1 / 60, "h": 1.0, "d": 24.0}[unit]
    if not (math.isfinite(hours) and SHORTEST_OVER <= hours <= LONGEST_OVER):
        raise UsageError(f"bad --over {shown(str(value))}: expected from 1m to 7d (e.g. 6h)")
    return hours


def parse_algos(value: str | Sequence[str] | None) -> list[str]:
    """``market,twap,vwap,iceberg`` (any subset, comma-separated or a list) -> the algorithms, each once; None: all."""
    from dtrack.analytics.execution import ALGOS

    if value is None:
        return list(ALGOS)
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    names = [p.strip().lower() for p in parts if p.strip()]
    if not names:
        raise UsageError(f"--algo is empty: name some of {','.join(ALGOS)}")
    for name in names:
        if name not in ALGOS:
            raise UsageError(f"unknown --algo {shown(name)}: expected some of {','.join(ALGOS)}")
    return list(dict.fromkeys(names))


def _whole(value: Any, option: str, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"bad {option} {value!r}: expected {what} from {low} to {high:,}")
    return value


# --- one venue's candidate ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Candidate:
    """One venue's main perpetual of the asset, its quote (may be None) and book (None: it could not be read)."""

    venue: str
    instrument: Instrument | None = None
    quote: PriceQuote | None = None
    book: OrderBook | None = None
    errors: list[DtrackError] = field(default_factory=list)
    unsupported: str = ""


def main_perpetual(perps: Sequence[Instrument], quotes: Sequence[PriceQuote]) -> tuple[Instrument, PriceQuote | None]:
    """The asset's main perpetual on a venue: the largest 24 h volume (USD) among its quotes; without volumes, a
    USDT-margined linear one, then USDC, then the first."""
    by = {q.instrument.symbol: q for q in quotes}

    def key(inst: Instrument) -> tuple[float, int, int]:
        vol = by[inst.symbol].volume_24h_usd if inst.symbol in by else None
        return (vol if vol is not None else -1.0, inst.quote == "USDT", inst.quote == "USDC")

    best = max(perps, key=key)
    return best, by.get(best.symbol)


async def candidate(adapter: Adapter, perps: Sequence[Instrument], depth: int) -> Candidate:
    """The venue's main perpetual (by its quotes' volumes) and its book."""
    out = Candidate(adapter.name)
    fold = Fold(out.errors)
    (quotes,) = await settle([adapter.fetch_quotes(perps)])
    answer = fold.value(quotes, optional=True)
    out.errors += answer.errors if answer is not None else []
    out.instrument, out.quote = main_perpetual(perps, answer.items if answer is not None else [])
    try:
        out.book = await adapter.fetch_order_book(out.instrument, depth)
    except UnsupportedError as exc:
        text = str(exc)
        out.unsupported = text[len(adapter.name) + 2:] if text.startswith(f"{adapter.name}: ") else text
    except DtrackError as exc:
        out.errors.append(exc)
    return out


def _ladder(book: OrderBook, side: str) -> Ladder | None:
    from dtrack.analytics.execution import ladder_of

    try:
        return ladder_of(book, side)
    except ValueError:
        return None


# --- the query ----------------------------------------------------------------------------------------------


async def run(client: AsyncClient, asset: str, *, side: str, size: str | float, venue: str | None = None,
              algos: str | Sequence[str] | None = None, over: str | float | timedelta | None = None,
              slices: int | None = None, paths: int | None = None, seed: int = 1) -> ExecSimResult:
    """See ``AsyncClient.execsim``."""
    from dtrack.analytics import execution as ex
    from dtrack.client.fetch import gather_instruments, on_venues
    from dtrack.client.inputs import resolve
    from dtrack.report.format import usd as money
    from dtrack.venues import ACTIVE, VENUES, venue_info

    s = client.settings.execsim
    if not isinstance(asset, str):
        raise UsageError("name one asset, e.g. BTC")
    check_readable([asset])
    if side not in ex.SIDES:
        raise UsageError(f"bad --side {shown(str(side))}: expected buy or sell")
    wanted_size = parse_size(size)
    names = parse_algos(algos)
    hours = parse_over(over if over is not None else s.over_hours)
    n = _whole(slices if slices is not None else s.slices, "--slices", 1, MOST_SLICES, "a whole number of child orders")
    p = _whole(paths if paths is not None else s.paths, "--paths", 1, MOST_PATHS, "a whole number of price paths")
    seed = _whole(seed, "--seed", 0, 2**63 - 1, "a whole number")
    if n * p > MOST_CELLS:
        raise UsageError(f"bad --paths/--slices: {p:,} paths x {n:,} slices is more than {MOST_CELLS:,} simulated "
                         "child orders; expected fewer paths or fewer slices")

    chosen = [venue_info(venue).name] if venue else [venue_info(v).name for v in client.chosen_venues]
    for name in chosen:
        info = VENUES[name]
        if info.status == "closed":
            raise UsageError(f"{info.title} closed on {info.closed_on}: no book to simulate on; active venues: "
                             f"{', '.join(ACTIVE)}")
    asked = chosen or [v for v in ACTIVE if client.settings.venue(v).enabled and VENUES[v].adapter is not None]
    asked = [v for v in dict.fromkeys(asked) if VENUES[v].adapter is not None]
    if not asked:
        raise UsageError(f"no venue dtrack reads books from among {', '.join(chosen)}")

    now = client.now()
    deadline = client.deadline()
    pool = await client.pool()
    listings, failures = await gather_instruments(pool, asked, deadline.first_step())
    result = ExecSimResult(as_of=now, asset=asset.upper(), side=side, size=wanted_size, algos=names, over_hours=hours,
                           slices=n, paths=p, seed=seed, failures=failures)
    if not listings:
        result.all_failed = True
        return result
    wanted = resolve([asset], listings, (Kind.PERP,), complete=not failures, where=", ".join(asked) if chosen else "")
    want = wanted[0]
    result.asset = want.asset
    perps = {v: [i for i in insts if i.kind is Kind.PERP and want.matches(i)] for v, insts in listings.items()}
    for v in asked:
        if v in listings and not perps.get(v):
            result.not_covered.append({"venue": v, "reason": f"no {want.asset} perpetual listed"})
    with_perps = [v for v in asked if perps.get(v)]
    answers, more = await on_venues(pool, with_perps, lambda ad: candidate(ad, perps[ad.name], s.book_depth),
                                    deadline.left())
    result.failures += more
    for v in with_perps:
        got = answers.get(v)
        if got is None:
            continue
        result.failures += [Failure.of(v, e) for e in got.errors]
        if got.unsupported:
            result.not_covered.append({"venue": v, "reason": got.unsupported})
        elif got.book is not None:
            lad = _ladder(got.book, side)
            if lad is None:
                result.notes.append(f"{v} {got.book.instrument.symbol}: the book has an empty side (no mid)")
                continue
            result.candidates.append((got, lad))
    if not result.candidates:
        result.all_failed = True
        if chosen and not result.failures:
            reasons = "; ".join(f"{o['venue']}: {o['reason']}" for o in result.not_covered)
            raise UsageError(f"no order book to simulate on from {', '.join(chosen)} ({reasons})")
        return result

    pick, ladder = max(result.candidates, key=lambda c: c[1].within()[1])
    result.venue = pick.venue
    if chosen and len(chosen) == 1:
        result.choice = f"named with --venue ({pick.venue})"
    else:
        _, usd, cut = ladder.within()
        others = len(result.candidates) - 1
        result.choice = (f"the deepest {'ask' if side == 'buy' else 'bid'} side within 1 % of the mid "
                         f"({'at least ' if cut else ''}{money(usd)}) of {len(result.candidates)} venue"
                         f"{'s' if others else ''} whose book was read")
    result.ladder = ladder
    result.book = pick.book
    result.quote = pick.quote
    assert pick.instrument is not None and pick.book is not None
    result.size_base = wanted_size.coins(ladder.mid)

    # the chosen contract's hourly candles: volatility, the VWAP profile, and the volume when the quote has none
    start = now - timedelta(days=s.profile_days)
    adapter = pool.adapter(pick.venue)
    try:
        candles = await asyncio.wait_for(adapter.fetch_candles(pick.instrument, start, now, HOUR), deadline.left())
    except TimeoutError:
        result.failures.append(Failure(venue=pick.venue, kind="unavailable", endpoint=None,
                                       message=f"{pick.venue}: no candles within the deadline"))
        candles = ()
    except DtrackError as exc:
        result.failures.append(Failure.of(pick.venue, exc))
        candles = ()
    simulate(result, candles, s)
    result.failures = unique(result.failures)
    return result


def _volume_base(c: Candle) -> float | None:
    if c.volume_base is not None:
        return c.volume_base
    if c.volume_usd is not None and c.close > 0:
        return c.volume_usd / c.close
    return None


def simulate(result: ExecSimResult, candles: Sequence[Candle], s: ExecSimSettings) -> None:
    """Calibrate the model from the chosen book, its quote and ``candles`` (settings ``s``) and run it into
    ``result``."""
    from dtrack.analytics import execution as ex

    ladder, book = result.ladder, result.book
    assert ladder is not None and book is not None
    closed = [c for c in candles if c.closed and c.period_seconds == HOUR]
    result.candles = len(closed)
    if closed:
        result.candles_first, result.candles_last = closed[0].time, closed[-1].time
    sigma = ex.realized_sigma([c.close for c in closed])
    vols = [(int(c.time.timestamp() * 1000), _volume_base(c)) for c in closed]
    known = [(t, v) for t, v in vols if v is not None]
    quote = result.quote
    if quote is not None and quote.volume_24h_base is not None and quote.volume_24h_base > 0:
        daily, source = quote.volume_24h_base, f"{book.instrument.venue}'s quote: rolling 24 h volume (coins)"
    elif quote is not None and quote.volume_24h_usd is not None and quote.volume_24h_usd > 0:
        daily = quote.volume_24h_usd / ladder.mid
        source = f"{book.instrument.venue}'s quote: rolling 24 h volume in USD / the mid"
    elif len(known) >= 24:
        daily = float(sum(v for _, v in known[-24:]))
        source = "the sum of the last 24 closed 1 h candles' volume"
    else:
        daily, source = math.nan, ""
    result.volume_source = source
    profile = ex.hourly_profile([t for t, _ in known], [v for _, v in known]) if known else None
    result.profile = profile
    assert result.size_base is not None
    start = book.time or book.received_at
    start_hour = (start.astimezone(UTC) - start.astimezone(UTC).replace(hour=0, minute=0, second=0,
                                                                         microsecond=0)).total_seconds() / HOUR
    spec = ex.Spec(side=result.side, size=result.size_base, over_hours=result.over_hours, slices=result.slices,
                   paths=result.paths, seed=result.seed, start_hour=start_hour)
    result.spec = spec
    algos = list(result.algos)
    if sigma is None or not (daily > 0):
        missing = "the realized volatility (hourly candles)" if sigma is None else "the 24 h volume"
        dropped = [a for a in algos if a != "market"]
        if dropped:
            result.notes.append(f"{', '.join(dropped)} not simulated: {missing} of {book.instrument.venue} "
                                f"{book.instrument.symbol} could not be read")
        algos = ["market"]
        sigma = sigma if sigma is not None else 0.0
        daily = daily if daily > 0 else 0.0
    if "vwap" in algos and profile is None:
        algos.remove("vwap")
        result.notes.append("vwap not simulated: the venue's hourly candles carry no volume")
    y, points, r2 = ex.calibrate_y(ladder, sigma * math.sqrt(24.0), daily, result.size_base)
    result.fit_points, result.fit_r2 = points, r2
    cal = ex.Calibration(sigma_hourly=sigma, daily_volume=daily, y=y, permanent_share=s.permanent_share,
                         resilience=s.resilience, passive_share=s.passive_share)
    result.calibration = cal
    result.comparison = ex.compare(ladder, cal, spec, algos, profile)
    if y is None and algos != ["market"]:
        result.notes.append("no square-root impact coefficient could be fitted on the book (one level, or no "
                            "volatility): the mid carries no permanent impact")
    if profile is not None and profile.missing:
        result.notes.append(f"volume profile: no candle for hours {', '.join(map(str, profile.missing))} UTC "
                            "(given the mean of the others)")
