"""The basis-trade tracker (``dtrack carry``): record a position (long spot on one venue, short the perpetual on
another), value it from the venues and the store, book its close; and seed 004's Monte Carlo and a backtest over a
venue's real settled funding history.

Positions live in the store (``carry_positions``, ``records.CarryPosition``; closing writes the same id with the
exit filled in), so ``status`` after a restart reads everything back: the entry from the store, the funding from the
perpetual venue's SETTLED funding history since opening (``fetch_funding_history``), each payment at the kline
close of its settlement time (``fetch_price_history``, 1 h bars) or, where none answered, the entry price (each
payment says which); the current prices from the spot venue's spot ticker (``fetch_spot``) and the perpetual's mark
(``fetch_quotes``). With ``sim=True`` the positions go only to a store named to the client (``--store``): simulated
positions never mix with the user's own. The figures: ``dtrack.analytics.carry``.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dtrack.analytics import carry as calc
from dtrack.errors import DtrackError, UnsupportedError, UsageError, clip
from dtrack.records import CarryPosition, DataKind, FundingHistory, Instrument, Kind, Margin, PricePoint
from dtrack.results import (
    CarryBacktestResult,
    CarryResult,
    CarrySimulationResult,
    Failure,
    settle,
    unique,
)

if TYPE_CHECKING:
    from dtrack.client.core import AsyncClient
    from dtrack.store import Store
    from dtrack.venues.base import Adapter

TABLE = "carry_positions"
HOUR = timedelta(hours=1)
#: the stablecoins a "main" linear perpetual is margined in, preferred first
STABLES = ("USDT", "USDC", "USD")
#: the longest settlement interval of any venue: the funding history is read from this long before opening, so that
#: a sampled venue's spacing before the first payment is known
LONGEST_INTERVAL = timedelta(hours=8)
MAX_DAYS = 3650.0
MAX_PATHS = 100_000
#: the Monte Carlo holds a few (paths x settlements) arrays: more cells than this would take gigabytes
MAX_SIM_CELLS = 20_000_000
#: the largest position or notional taken, USD (no basis trade is larger; a bigger figure is a typing slip)
MAX_NOTIONAL = 1e12
#: the bounds of the settings of the same name (``config.CarrySettings``)
MAX_LEVERAGE, MIN_LEVERAGE = 200.0, 0.01
MAX_HALF_LIFE = 100_000.0
#: a settlement this much later than the previous interval's end is not a gap in the venue's history
GAP_SLACK = timedelta(minutes=5)
_ASSET = re.compile(r"^[A-Za-z0-9]{1,20}$")
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# --- inputs ------------------------------------------------------------------------------------------------------


def _positive(value: float | None, option: str, what: str, *, zero: bool = False, below: float | None = None,
              low: float | None = None, high: float | None = None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"bad {option} {clip(repr(value))}: expected {what}")
    v = float(value)
    if not (math.isfinite(v) and (v >= 0 if zero else v > 0) and (below is None or v < below)
            and (low is None or v >= low) and (high is None or v <= high)):
        raise UsageError(f"bad {option} {v:g}: expected {what}")
    return v


def _notional(value: float | None) -> float | None:
    return _positive(value, "--notional", f"a notional in USD from 1 to {MAX_NOTIONAL:,.0f}", low=1.0,
                     high=MAX_NOTIONAL)


def _asset(value: str) -> str:
    if not isinstance(value, str) or not _ASSET.match(value.strip()):
        raise UsageError(f"bad --asset {clip(repr(value))}: expected an asset like BTC, ETH or SOL")
    return value.strip().upper()


def _position_id(value: str) -> str:
    if not isinstance(value, str) or not _ID.match(value.strip()):
        raise UsageError(f"bad position id {clip(repr(value))}: expected an id as `dtrack carry list` shows it")
    return value.strip()


#: perpetual venues whose sides pay differently, which the tracker's one-rate history cannot value (a short on GMX
#: receives the long rate x long OI / short OI when longs pay, and pays borrow): refused rather than valued wrongly
PER_SIDE_FUNDING = {"gmx": "GMX's longs and shorts pay different rates and both pay borrow; its funding history "
                            "is the paying side's rate only"}


def _venue(name: str, need: DataKind, role: str) -> str:
    from dtrack.venues import ACTIVE, VENUES, venue_info

    info = venue_info(name)
    if info.status == "closed":
        raise UsageError(f"{info.title} closed on {info.closed_on}: choose an active venue for the {role}")
    if need is DataKind.FUNDING_HISTORY and info.name in PER_SIDE_FUNDING:
        able = [v for v in ACTIVE if VENUES[v].offers(need) and v not in PER_SIDE_FUNDING]
        raise UsageError(f"{info.title} cannot be the {role} ({PER_SIDE_FUNDING[info.name]}); venues that can: "
                         f"{', '.join(able)}")
    if not info.offers(need):
        able = [v for v in ACTIVE if VENUES[v].offers(need)]
        why = info.capability(need).note or "not read by dtrack"
        raise UsageError(f"{info.title} cannot be the {role} ({why}); venues that can: {', '.join(able)}")
    return info.name


def _leverage(client: AsyncClient, leverage: float | None) -> float:
    got = _positive(leverage, "--leverage", f"a perp leverage from {MIN_LEVERAGE:g} to {MAX_LEVERAGE:g} (1: the short "
                    "fully collateralized)", low=MIN_LEVERAGE, high=MAX_LEVERAGE)
    return got if got is not None else client.settings.carry.perp_leverage


def _fee(client: AsyncClient, fee_pct: float | None) -> float:
    """The fee per leg per trade as a fraction (``fee_pct`` in percent as on the command line)."""
    got = _positive(fee_pct, "--fee-pct", "a taker fee in percent per leg per trade, 0 <= fee < 5", zero=True,
                    below=5.0)
    return got / 100.0 if got is not None else client.settings.carry.fee


# --- the store ---------------------------------------------------------------------------------------------------


def _positions(store: Store | None, position_id: str | None = None) -> list[CarryPosition]:
    if store is None:
        return []
    rows = store.read(TABLE, equal={"id": position_id} if position_id is not None else None)
    return [CarryPosition(**row) for row in rows]  # type: ignore[arg-type]


def _one(client: AsyncClient, position_id: str) -> tuple[Store, CarryPosition]:
    store = client.carry_store(create=False)
    found = _positions(store, _position_id(position_id))
    if store is None or not found:
        raise UsageError(f"no carry position {clip(position_id)!r} in {client.store_location()}: "
                         "`dtrack carry list` shows the ids")
    return store, found[0]


# --- the venues --------------------------------------------------------------------------------------------------


def main_perp(perps: list[Instrument], asset: str, symbol: str | None, venue: str) -> Instrument:
    """The perpetual a carry shorts: ``symbol`` when given (a usage error naming the venue's perpetuals of the asset
    when it is not one of them), else the venue's main USD-stablecoin linear perpetual of ``asset`` (USDT, then
    USDC, then USD margined; the shortest symbol first)."""
    own = [p for p in perps if p.asset == asset and p.kind is Kind.PERP]
    names = ", ".join(sorted(p.symbol for p in own)) or "none"
    if symbol is not None:
        for p in own:
            if p.symbol.upper() == symbol.strip().upper():
                return p
        raise UsageError(f"{venue} lists no {asset} perpetual {clip(symbol)!r}; its {asset} perpetuals: {names}")
    linear = [p for p in own if p.margin is Margin.LINEAR and (p.settle in STABLES or p.quote in STABLES)]
    if not linear:
        raise UsageError(f"{venue} lists no USD-stablecoin linear {asset} perpetual; name one with --perp "
                         f"(its {asset} perpetuals: {names})")

    def rank(p: Instrument) -> tuple[int, int, str]:
        coin = p.settle if p.settle in STABLES else p.quote
        return STABLES.index(coin), len(p.symbol), p.symbol

    return min(linear, key=rank)


async def _spot_price(adapter: Adapter, asset: str) -> float:
    answer = await adapter.fetch_spot([asset])
    prices = sorted((s for s in answer.items if s.asset == asset),
                    key=lambda s: STABLES.index(s.quote) if s.quote in STABLES else len(STABLES))
    if not prices:
        if answer.errors:
            raise answer.errors[0]
        raise UnsupportedError(f"{adapter.name}: no {asset} spot price against a USD stablecoin")
    return prices[0].price


async def _perp_price(adapter: Adapter, perp: Instrument) -> float:
    answer = await adapter.fetch_quotes([perp])
    for quote in answer.items:
        if quote.instrument.symbol == perp.symbol:
            price = quote.mark_price if quote.mark_price is not None else quote.last_price
            if price is not None:
                return price
    if answer.errors:
        raise answer.errors[0]
    raise UnsupportedError(f"{adapter.name}: no mark price of {perp.symbol}")


async def _perp_of(client: AsyncClient, position: CarryPosition) -> Instrument:
    adapter = (await client.pool()).adapter(position.perp_venue)
    return main_perp(await adapter.perpetuals([position.asset]), position.asset, position.perp_symbol,
                     position.perp_venue)


# --- open --------------------------------------------------------------------------------------------------------


async def open_position(client: AsyncClient, asset: str, *, spot_venue: str, perp_venue: str, size: float,
                        perp: str | None = None, spot_price: float | None = None, perp_price: float | None = None,
                        fee_pct: float | None = None, note: str = "") -> CarryResult:
    """Record a new position (see ``AsyncClient.carry_open``)."""
    name = _asset(asset)
    coins = _positive(size, "--size", "a size in coins of the asset > 0")
    assert coins is not None
    spot_given = _positive(spot_price, "--spot-price", "a price in USD per coin > 0")
    perp_given = _positive(perp_price, "--perp-price", "a price in USD per coin > 0")
    fee = _fee(client, fee_pct)
    spot_name = _venue(spot_venue, DataKind.SPOT, "spot venue")
    perp_name = _venue(perp_venue, DataKind.FUNDING_HISTORY, "perpetual venue")
    store = client.carry_store(create=True)
    assert store is not None
    pool = await client.pool()
    perp_adapter = pool.adapter(perp_name)
    contract = main_perp(await perp_adapter.perpetuals([name]), name, perp, perp_name)
    jobs = [_spot_price(pool.adapter(spot_name), name) if spot_given is None else _given(spot_given),
            _perp_price(perp_adapter, contract) if perp_given is None else _given(perp_given)]
    got = await settle(jobs)
    for outcome in got:
        if isinstance(outcome, DtrackError):
            raise outcome
    spot_entry, perp_entry = (float(v) for v in got)  # type: ignore[arg-type]
    if coins * max(spot_entry, perp_entry) > MAX_NOTIONAL:
        raise UsageError(f"bad --size {coins:g}: {coins:g} {name} at {max(spot_entry, perp_entry):,.2f} USD is more "
                         f"than {MAX_NOTIONAL:,.0f} USD; expected a size in coins of the asset")
    opened = client.now()
    position = CarryPosition(
        id=_new_id(store, f"{name.lower()}-{perp_name}-{opened:%Y%m%d%H%M}"), asset=name,
        spot_venue=spot_name, perp_venue=perp_name, perp_symbol=contract.symbol, size=coins, spot_entry=spot_entry,
        perp_entry=perp_entry, opened_at=opened, fee_pct=fee * 100.0, note=note)
    store.write([position])
    lev = _leverage(client, None)
    view = calc.PositionView(position, spot_entry, perp_entry, opened, calc.funding_payments(
        _empty_i(), _empty_f(), _empty_f(), opened_ms=0, end_ms=0, size=coins, entry_price=perp_entry),
        _pnl(position, spot_entry, perp_entry, 0.0, opened, lev))
    priced = ("given" if spot_given is not None else f"{spot_name} spot ticker",
              "given" if perp_given is not None else f"{perp_name} mark")
    return CarryResult(as_of=opened, action="open", views=[view], store=client.store_location(), leverage=lev,
                       notes=[f"recorded {position.id}: spot price {priced[0]}, perp price {priced[1]}"])


def _new_id(store: Store, stem: str) -> str:
    """A position id not in the store yet: ``stem`` and four random hex digits. The store keeps the first row of an
    id (a later one only fills in a close), so a second position given an id already taken would be silently lost
    and its id would name the other one."""
    for _ in range(64):
        candidate = f"{stem}-{secrets.token_hex(2)}"
        if not _positions(store, candidate):
            return candidate
    raise DtrackError(f"no free carry position id {stem}-xxxx in {store.location}: try again in a minute")


async def _given(value: float) -> float:
    return value


def _empty_i() -> calc.Ints:
    import numpy as np

    return np.empty(0, dtype=np.int64)


def _empty_f() -> calc.Floats:
    import numpy as np

    return np.empty(0, dtype=np.float64)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _pnl(position: CarryPosition, spot: float, perp: float, funding: float, end: datetime,
         leverage: float) -> calc.PnL:
    return calc.position_pnl(size=position.size, spot_entry=position.spot_entry, perp_entry=position.perp_entry,
                             spot_price=spot, perp_price=perp, funding=funding, fee_rate=position.fee_pct / 100.0,
                             closed=position.closed_at is not None,
                             days_held=(end - position.opened_at).total_seconds() / 86_400.0, leverage=leverage)


# --- status and close --------------------------------------------------------------------------------------------


async def _history(adapter: Adapter, contract: Instrument, start: datetime, end: datetime
                   ) -> tuple[FundingHistory | DtrackError, tuple[PricePoint, ...] | DtrackError]:
    """The settled funding of ``contract`` over ``[start, end]`` (from an interval before ``start``) and its 1 h
    kline closes, concurrently; each its value or what it failed with."""
    history, prices = await asyncio.gather(
        settle([adapter.fetch_funding_history(contract, start - LONGEST_INTERVAL, end)]),
        settle([adapter.fetch_price_history(contract, start, end, 1)]))
    return history[0], prices[0]


def _arrays(history: FundingHistory, klines: tuple[PricePoint, ...]) -> tuple[calc.Ints, calc.Floats, calc.Floats,
                                                                                calc.Floats]:
    """(times, rates, intervals, price at each time: NaN where no kline close is near) of a funding history."""
    import numpy as np

    points = history.points
    times = np.array([_ms(p.time) for p in points], dtype=np.int64)
    price_t = np.array([_ms(k.time) for k in klines], dtype=np.int64)
    price_v = np.array([k.price for k in klines], dtype=np.float64)
    order = np.argsort(price_t, kind="stable")
    return (times, np.array([p.rate for p in points], dtype=np.float64),
            np.array([p.interval_hours for p in points], dtype=np.float64),
            calc.prices_at(times, price_t[order], price_v[order]))


async def _no_prices() -> list[float | DtrackError]:
    return []


def _coverage(position: CarryPosition, history: FundingHistory, end: datetime) -> str:
    """What the venue's funding history leaves out of the time the position was held ("" when nothing): the venue's
    own note (it keeps less than asked), and a first settlement after opening later than one interval (the
    payments before it are missing: the funding would be short by them, silently)."""
    said = [history.note] if history.note else []
    first = next((p for p in sorted(history.points, key=lambda p: p.time) if p.time > position.opened_at), None)
    if first is not None and first.time <= end \
            and first.time - timedelta(hours=first.interval_hours) > position.opened_at + GAP_SLACK:
        said.append(f"its first settlement after opening is at {first.time:%Y-%m-%d %H:%M} UTC, more than one "
                    f"{first.interval_hours:g} h interval after opening ({position.opened_at:%Y-%m-%d %H:%M} UTC): "
                    "the funding before it is missing from the total")
    elif first is None and end - position.opened_at > LONGEST_INTERVAL + GAP_SLACK:
        said.append(f"it returned no settlement since opening ({position.opened_at:%Y-%m-%d %H:%M} UTC)")
    if not said:
        return ""
    return f"{position.id}: {position.perp_venue} {position.perp_symbol} funding history: {'; '.join(said)}"


async def _value(client: AsyncClient, position: CarryPosition, leverage: float,
                 failures: list[Failure], notes: list[str]) -> calc.PositionView:
    """A position's payments and P&L: the exit prices of a closed one, else the venues' current prices. What the
    venue's funding history leaves out of the holding period is said in ``notes``."""
    pool = await client.pool()
    end = position.closed_at if position.closed_at is not None else client.now()
    try:
        contract = await _perp_of(client, position)
    except DtrackError as exc:
        failures.append(Failure.of(position.perp_venue, exc))
        return calc.PositionView(position)
    perp_adapter = pool.adapter(position.perp_venue)
    current = (_no_prices() if position.closed_at is not None else
               settle([_spot_price(pool.adapter(position.spot_venue), position.asset),
                       _perp_price(perp_adapter, contract)]))
    (history, klines), now = await asyncio.gather(_history(perp_adapter, contract, position.opened_at, end), current)
    if isinstance(klines, DtrackError):  # the payments fall back to the entry price (each says so)
        failures.append(Failure.of(position.perp_venue, klines))
        klines = ()
    spot, perp = position.spot_exit, position.perp_exit
    if now:
        spot, perp = (None if isinstance(v, DtrackError) else v for v in now)
        for venue, outcome in zip((position.spot_venue, position.perp_venue), now, strict=True):
            if isinstance(outcome, DtrackError):
                failures.append(Failure.of(venue, outcome))
    if isinstance(history, DtrackError):
        failures.append(Failure.of(position.perp_venue, history))
        return calc.PositionView(position, spot, perp, end)
    if said := _coverage(position, history, end):
        notes.append(said)
    times, rates, intervals, prices = _arrays(history, klines)
    pays = calc.funding_payments(times, rates, intervals, opened_ms=_ms(position.opened_at), end_ms=_ms(end),
                                 size=position.size, entry_price=position.perp_entry, prices=prices)
    if spot is None or perp is None:
        return calc.PositionView(position, spot, perp, end, pays)
    return calc.PositionView(position, spot, perp, end, pays, _pnl(position, spot, perp, pays.total, end, leverage))


async def status(client: AsyncClient, position_id: str | None = None, *,
                 leverage: float | None = None) -> CarryResult:
    """Value the open positions, or the one ``position_id`` (see ``AsyncClient.carry_status``)."""
    lev = _leverage(client, leverage)
    if position_id is not None:
        positions = [_one(client, position_id)[1]]
    else:
        positions = [p for p in _positions(client.carry_store(create=False)) if p.closed_at is None]
    failures: list[Failure] = []
    notes: list[str] = []
    views = list(await asyncio.gather(*(_value(client, p, lev, failures, notes) for p in positions)))
    if not positions:
        notes.append(f"no open carry position in {client.store_location()} (`dtrack carry open`)")
    # all failed only when nothing at all is known beyond the store: a position whose prices failed still shows
    # the funding its perp venue settled (exit 3, the failures on stderr)
    return CarryResult(as_of=client.now(), action="status", views=views, store=client.store_location(),
                       leverage=lev, failures=unique(failures), notes=notes,
                       all_failed=bool(views) and bool(failures)
                       and all(v.pnl is None and v.payments is None for v in views))


async def close(client: AsyncClient, position_id: str, *, spot_price: float | None = None,
                perp_price: float | None = None, leverage: float | None = None) -> CarryResult:
    """Book the close of ``position_id`` (see ``AsyncClient.carry_close``)."""
    lev = _leverage(client, leverage)
    spot_given = _positive(spot_price, "--spot-price", "a price in USD per coin > 0")
    perp_given = _positive(perp_price, "--perp-price", "a price in USD per coin > 0")
    store, position = _one(client, position_id)
    if position.closed_at is not None:
        raise UsageError(f"carry position {position.id} was closed at {position.closed_at:%Y-%m-%d %H:%M:%S} UTC; "
                         "`dtrack carry status ID` shows its final P&L")
    pool = await client.pool()
    jobs = [_given(spot_given) if spot_given is not None else
            _spot_price(pool.adapter(position.spot_venue), position.asset)]
    if perp_given is not None:
        jobs.append(_given(perp_given))
    else:
        jobs.append(_perp_price(pool.adapter(position.perp_venue), await _perp_of(client, position)))
    got = await settle(jobs)
    for outcome in got:
        if isinstance(outcome, DtrackError):
            raise outcome
    from dataclasses import replace

    booked = replace(position, closed_at=client.now(), spot_exit=float(got[0]),  # type: ignore[arg-type]
                     perp_exit=float(got[1]))  # type: ignore[arg-type]
    store.write([booked])
    stored = _positions(store, booked.id)[0]
    assert stored.closed_at is not None and booked.closed_at is not None  # the store fills a missing close in
    if (stored.spot_exit, stored.perp_exit) != (booked.spot_exit, booked.perp_exit) \
            or abs((stored.closed_at - booked.closed_at).total_seconds()) > 0.001:
        # another process closed it meanwhile: the store kept that close (the first), not this one
        raise UsageError(f"carry position {booked.id} was closed meanwhile (at {stored.closed_at:%Y-%m-%d %H:%M:%S} "
                         "UTC, by another dtrack); `dtrack carry status ID` shows its final P&L")
    failures: list[Failure] = []
    notes = [f"closed {booked.id}"]
    view = await _value(client, booked, lev, failures, notes)
    return CarryResult(as_of=client.now(), action="close", views=[view], store=client.store_location(),
                       leverage=lev, failures=unique(failures), notes=notes)


async def list_positions(client: AsyncClient, *, leverage: float | None = None) -> CarryResult:
    """Every recorded position, open and closed, from the store alone (see ``AsyncClient.carry_list``)."""
    lev = _leverage(client, leverage)
    positions = _positions(client.carry_store(create=False))
    views = [calc.PositionView(p, p.spot_exit, p.perp_exit, p.closed_at) for p in positions]
    notes = [] if positions else [f"no carry position in {client.store_location()} (`dtrack carry open`)"]
    return CarryResult(as_of=client.now(), action="list", views=views, store=client.store_location(), leverage=lev,
                       notes=notes)


# --- simulate and backtest ---------------------------------------------------------------------------------------


async def simulate(client: AsyncClient, avg_funding: float, days: float, *, vol: float | None = None,
                   half_life: float | None = None, interval_hours: float = 8.0, paths: int | None = None,
                   seed: int | None = None, notional: float | None = None, fee_pct: float | None = None,
                   price_vol: float | None = None, leverage: float | None = None) -> CarrySimulationResult:
    """Seed 004's Monte Carlo (see ``AsyncClient.carry_simulate``); no network."""
    cfg = client.settings.carry
    if isinstance(avg_funding, bool) or not isinstance(avg_funding, int | float) or not math.isfinite(avg_funding) \
            or abs(avg_funding) >= 1:
        raise UsageError(f"bad --avg-funding {clip(repr(avg_funding))}: expected percent per 8 h like 0.03 "
                         "(|rate| < 1 %)")
    span = _positive(days, "--days", f"a holding period in days > 0 and <= {MAX_DAYS:g}")
    assert span is not None
    if span > MAX_DAYS:
        raise UsageError(f"bad --days {span:g}: expected a holding period in days > 0 and <= {MAX_DAYS:g}")
    if interval_hours not in (1, 2, 4, 8):
        raise UsageError(f"bad --interval {interval_hours!r}: expected a settlement interval of 1, 2, 4 or 8 hours")
    if span * 24 < interval_hours:
        raise UsageError(f"bad --days {span:g}: shorter than one {interval_hours:g} h settlement interval")
    if paths is not None and (isinstance(paths, bool) or not isinstance(paths, int) or not 2 <= paths <= MAX_PATHS):
        raise UsageError(f"bad --paths {paths!r}: expected a whole number from 2 to {MAX_PATHS}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise UsageError(f"bad --seed {seed!r}: expected a whole number >= 0")
    vol_pct = _positive(vol, "--vol", "the funding's standard deviation in percent per 8 h, 0 <= vol < 1", zero=True,
                        below=1.0)
    hl = _positive(half_life, "--half-life", f"the funding's mean-reversion half-life in hours, 0 to "
                   f"{MAX_HALF_LIFE:,.0f}", zero=True, high=MAX_HALF_LIFE)
    size = _notional(notional)
    pv = _positive(price_vol, "--price-vol", "the price's daily volatility in percent, 0 <= vol < 100", zero=True,
                   below=100.0)
    runs = paths or cfg.paths
    steps = max(1, round(span * 24 / interval_hours))
    if runs * steps > MAX_SIM_CELLS:
        raise UsageError(f"bad --paths/--days: {runs:,} paths x {steps:,} settlements is more than {MAX_SIM_CELLS:,} "
                         "simulated settlements; expected fewer paths, fewer days or a longer --interval")
    params = calc.SimParams(
        avg_8h=avg_funding / 100.0, vol_8h=vol_pct / 100.0 if vol_pct is not None else cfg.funding_vol,
        days=span, interval_hours=float(interval_hours),
        half_life_hours=hl if hl is not None else cfg.half_life_hours,
        price_vol_daily=pv / 100.0 if pv is not None else cfg.price_vol, notional=size or cfg.notional_usd,
        fee_rate=_fee(client, fee_pct), leverage=_leverage(client, leverage), paths=runs,
        seed=seed if seed is not None else cfg.seed)
    return CarrySimulationResult(as_of=client.now(), report=calc.simulate(params))


async def backtest(client: AsyncClient, asset: str, *, perp_venue: str, days: float = 180.0,
                   perp: str | None = None, notional: float | None = None, fee_pct: float | None = None,
                   leverage: float | None = None) -> CarryBacktestResult:
    """A carry over the venue's real settled funding history (see ``AsyncClient.carry_backtest``)."""
    cfg = client.settings.carry
    name = _asset(asset)
    span = _positive(days, "--days", f"a period in days > 0 and <= {MAX_DAYS:g}")
    assert span is not None
    if span > MAX_DAYS or span * 24 < 1:
        raise UsageError(f"bad --days {span:g}: expected a period from 1 hour to {MAX_DAYS:g} days")
    size = _notional(notional) or cfg.notional_usd
    fee = _fee(client, fee_pct)
    lev = _leverage(client, leverage)
    venue = _venue(perp_venue, DataKind.FUNDING_HISTORY, "perpetual venue")
    end = client.now()
    start = end - timedelta(days=span)
    adapter = (await client.pool()).adapter(venue)
    try:
        contract = main_perp(await adapter.perpetuals([name]), name, perp, venue)
    except DtrackError as exc:
        if isinstance(exc, UsageError):
            raise
        return CarryBacktestResult(as_of=end, asset=name, venue=venue, symbol=perp or "", start=start, end=end,
                                   notional=size, backtest=None, failures=[Failure.of(venue, exc)], all_failed=True)
    history, klines = await _history(adapter, contract, start, end)
    failures: list[Failure] = []
    notes: list[str] = []
    if isinstance(history, DtrackError):
        return CarryBacktestResult(as_of=end, asset=name, venue=venue, symbol=contract.symbol, start=start, end=end,
                                   notional=size, backtest=None, failures=[Failure.of(venue, history)],
                                   all_failed=True)
    if isinstance(klines, DtrackError):
        failures.append(Failure.of(venue, klines))
        notes.append("no klines: each payment is on the constant USD notional (no price path)")
        klines = ()
    points = history.points
    times, rates, intervals, prices = _arrays(history, klines)
    held_from = start
    first = next((p for p in points if p.time > start), None)
    if first is not None and first.time - timedelta(hours=first.interval_hours) > start:
        # the venue keeps less than asked: the carry is held from the interval before its first settlement
        held_from = first.time - timedelta(hours=first.interval_hours)
        notes.append(f"{venue} keeps {contract.symbol} funding from {held_from:%Y-%m-%d %H:%M} UTC: the backtest "
                     f"covers {(end - held_from).total_seconds() / 86_400:.1f} of the {span:g} days asked")
    if klines and min(k.time for k in klines) > held_from + timedelta(hours=2):
        from dtrack.venues import VENUES

        first_close = min(k.time for k in klines)
        kept = VENUES[venue].capability(DataKind.KLINES).history
        notes.append(f"{venue} keeps {kept + ' of ' if kept else ''}{contract.symbol} 1 h klines from "
                     f"{first_close:%Y-%m-%d %H:%M} UTC: the entry price, the size in coins and the payments before "
                     "then are at its first close")
    result = calc.backtest(times, rates, intervals, start_ms=_ms(held_from), end_ms=_ms(end), notional=size,
                           fee_rate=fee, leverage=lev, prices=prices)
    if len(result.payments) == 0:
        notes.append(f"{venue} returned no settled funding of {contract.symbol} in the window")
    return CarryBacktestResult(as_of=end, asset=name, venue=venue, symbol=contract.symbol, start=held_from,
                               end=end, notional=size, backtest=result, history_note=history.note,
                               failures=failures, notes=notes)
