"""Simulated GMX API (v2, ``/v1``) on the hosts ``arbitrum`` and ``avalanche``, in the API's wire format, from the
market model.

Shapes follow the API's generated OpenAPI (``MarketInfoResponse``, ``MarketTickerResponse``: every required field is
sent) and the GMX SDK (``gmx-io/gmx-interface`` ``sdk/src/utils/markets/utils.ts`` ``getMarketTicker``,
``sdk/src/utils/fees`` ``getFundingFactorPerPeriod`` / ``getBorrowingFactorPerPeriod``): numbers are integer strings
in 30-decimal fixed point (token amounts in the token's own decimals), flags JSON booleans.
- ``GET /v1/markets/info``: an array, one object per market of the chain: the model's GMX pools of that chain, plus on
  Arbitrum a swap-only pool (``SWAP_ONLY_NAME``) and a disabled market (``DISABLED_NAME``), which a client must skip.
  Per pool (``pool_state``): the larger side pays; ``longsPayShorts`` follows the sign of the model's funding level,
  ``fundingFactorPerSecond`` = |8 h-equivalent level| / 28,800; ``longInterestUsd`` + ``shortInterestUsd`` = the
  model's open interest in USD, split towards the paying side; borrow factors per second per side (the smaller side
  of the single-token pool ``FREE_SMALLER_SIDE`` pays none); ``maxFundingFactorPerSecond`` ``MAX_FUNDING_PER_SECOND``.
- ``GET /v1/markets/tickers``: an array, one object per perpetual market (the disabled one included): ``symbol`` (the
  market's name), the index token's oracle ``minPrice`` / ``maxPrice`` and ``markPrice`` = their integer mid (USD per
  whole token x 10^30), 24 h candle figures, open interest per side (USD, tokens, USD at the mark) and the SDK's
  per-HOUR rates: ``fundingRate*`` negative for the paying side (income frame), ``borrowingRate*`` positive,
  ``netRate*`` = funding - borrowing.
- ``GET /v1/rates?period=&address=``: the rate history of the market ``address`` (every market of the chain without
  it), ``[{marketAddress, ratesSnapshots}]``, snapshots newest first: one on every hour of the ``period`` back from
  now (``RATE_PERIODS``; ``total`` from ``TOTAL_DAYS`` back) and one at now, each the pool's state then
  (``pool_state``) as the GMX interface reads them (``dtrack.venues.gmx.api``): per-SECOND factors x 10^30, funding in
  the income frame (``per_second``: the paying side negative, the receiving side the paid amount over its own open
  interest), borrowing a positive cost, net = funding - borrowing, ``timestamp`` in epoch seconds (the one at now
  with its milliseconds). The latest snapshot is what ``markets/info`` serves now. A ``period`` outside the API's
  list is a 400 (no ``period``: ``1d``, UNCONFIRMED); ``averageBy`` is not read.
- No other query parameter is read (``addresses`` / ``symbols`` filters of tickers are ignored: the sim answers all).
- Faults are answered as a JSON ``{"statusCode", "message"}`` body with the status (the API's error format is not
  documented: UNCONFIRMED); a 429 carries ``Retry-After`` in seconds.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from functools import partial
from typing import Any

from dtrack.sim.model import ASSETS, DAY_MS, HOUR_MS, MarketModel, SimPerp
from dtrack.sim.server import RETRY_AFTER_429, SimHttpError, SimRequest, SimRoutes

VENUE = "gmx"
HOSTS = ("arbitrum", "avalanche")
SECONDS_8H = 28_800
SECONDS_HOUR = 3_600
SECONDS_YEAR = 31_536_000
_E30 = Decimal(10) ** 30
#: the funding factor's cap per second (about 158 % a year)
MAX_FUNDING_PER_SECOND = 5e-8
#: a swap-only pool and a disabled market on Arbitrum (not perpetuals a client may list)
SWAP_ONLY_NAME = "SWAP-ONLY [USDC-USDT]"
DISABLED_NAME = "DOGE/USD [WETH-USDC]"
#: a single-token pool whose smaller side pays no borrow fee
FREE_SMALLER_SIDE = "BTC/USD [tBTC-tBTC]"
#: ``/v1/rates`` periods (the API's ``ApiParameterPeriod``) -> days back from now; ``total``: ``TOTAL_DAYS``
RATE_PERIODS = {"1d": 1, "7d": 7, "30d": 30, "90d": 90, "180d": 180, "1y": 365}
TOTAL_DAYS = 400
#: index token decimals per asset (token amounts are integers in these)
DECIMALS = {"BTC": 8, "ETH": 18, "SOL": 9, "PEPE": 18, "DOGE": 8}
#: oracle spread: minPrice / maxPrice = price x (1 -/+ this)
SPREAD = 0.0001
#: the index price of the disabled market's token (an asset the model does not simulate)
FROZEN_PRICE = 0.08


def register(routes: SimRoutes, model: MarketModel) -> None:
    """Serve ``/v1/markets/info``, ``/v1/markets/tickers`` and ``/v1/rates`` on each chain's host."""
    for chain in HOSTS:
        routes.add(VENUE, chain, "GET", "/v1/markets/info", partial(markets_info, model, chain))
        routes.add(VENUE, chain, "GET", "/v1/markets/tickers", partial(markets_tickers, model, chain))
        routes.add(VENUE, chain, "GET", "/v1/rates", partial(rates, model, chain))
    routes.on_error(VENUE, fault_answer)


def fault_answer(status: int, now_ms: int) -> SimHttpError:
    """The API's answer to a fault meaning HTTP ``status`` (format UNCONFIRMED: a JSON status and message)."""
    message = {429: "Too Many Requests", 418: "IP banned", 451: "Unavailable For Legal Reasons"}.get(
        status, "Internal Server Error" if status >= 500 else "Bad Request")
    headers = {"Retry-After": str(RETRY_AFTER_429)} if status == 429 else {}
    return SimHttpError(status, {"statusCode": status, "message": message}, headers)


def e30(x: float) -> str:
    """``x`` in 30-decimal fixed point: the integer string of (x's shortest decimal) x 10^30."""
    return str(int((Decimal(repr(x)) * _E30).to_integral_value()))


def tokens(amount: float, asset: str) -> str:
    """A token amount as the integer of its smallest unit."""
    return str(int((Decimal(repr(amount)) * (Decimal(10) ** DECIMALS[asset])).to_integral_value()))


def address(name: str) -> str:
    """A market's (fixed, made-up) token address."""
    return "0x" + hashlib.blake2b(f"gmx-market:{name}".encode(), digest_size=20).hexdigest()


def _pools(model: MarketModel, chain: str) -> list[SimPerp]:
    return model.perps(VENUE, chain)


def pool_state(model: MarketModel, perp: SimPerp, now_ms: int) -> dict[str, Any]:
    """The state of a pool at ``now_ms`` as floats: who pays, the funding factor and borrow factors per second, and
    the open interest of each side in USD (see the module doc)."""
    level = model.funding_8h_equiv(perp, now_ms)
    longs_pay = level >= 0
    factor = abs(level) / SECONDS_8H
    total = model.open_interest_base(perp, now_ms) * model.index_price(perp.asset, now_ms)
    larger = 0.5 + min(0.3, 0.05 + 300.0 * abs(level))
    long_share = larger if longs_pay else 1.0 - larger
    borrow_larger = (0.05 + 0.5 * (larger - 0.5)) / SECONDS_YEAR
    borrow_smaller = 0.0 if perp.symbol == FREE_SMALLER_SIDE else 0.02 / SECONDS_YEAR
    return {"longs_pay": longs_pay, "factor": factor, "long_usd": total * long_share,
            "short_usd": total * (1.0 - long_share),
            "borrow_long": borrow_larger if longs_pay else borrow_smaller,
            "borrow_short": borrow_smaller if longs_pay else borrow_larger}


def _index(model: MarketModel, asset: str, t_ms: int) -> float:
    """The index token's price in USD (the model's; ``FROZEN_PRICE`` for a token it does not simulate)."""
    return model.index_price(asset, t_ms) if asset in ASSETS else FROZEN_PRICE


def _prices(model: MarketModel, asset: str, t_ms: int) -> tuple[int, int, int]:
    """(min, max, mid) oracle prices of the index token, USD per whole token x 10^30 (the mid: their integer mean)."""
    price = _index(model, asset, t_ms)
    low, high = int(e30(price * (1 - SPREAD))), int(e30(price * (1 + SPREAD)))
    return low, high, (low + high) // 2


# --- markets/info ----------------------------------------------------------------------------------------

#: the configuration fields every market carries (OpenAPI required), as the sim sends them
_CONFIG: dict[str, Any] = {
    "maxLongPoolAmount": "1000000000000000000000000", "maxShortPoolAmount": "100000000000000",
    "maxLongPoolUsdForDeposit": e30(1e8), "maxShortPoolUsdForDeposit": e30(1e8),
    "reserveFactorLong": e30(1.0), "reserveFactorShort": e30(1.0), "openInterestReserveFactorLong": e30(0.9),
    "openInterestReserveFactorShort": e30(0.9), "maxOpenInterestLong": e30(1e8), "maxOpenInterestShort": e30(1e8),
    "borrowingFactorLong": e30(1e-8), "borrowingFactorShort": e30(1e-8), "borrowingExponentFactorLong": e30(1.5),
    "borrowingExponentFactorShort": e30(1.5), "fundingFactor": e30(2e-8), "fundingExponentFactor": e30(1.0),
    "fundingIncreaseFactorPerSecond": e30(1e-13), "fundingDecreaseFactorPerSecond": "0",
    "thresholdForStableFunding": e30(0.04), "thresholdForDecreaseFunding": "0",
    "minFundingFactorPerSecond": e30(3e-10), "maxFundingFactorPerSecond": e30(MAX_FUNDING_PER_SECOND),
    "minPositionImpactPoolAmount": "0", "positionImpactPoolDistributionRate": "0",
    "minCollateralFactor": e30(0.005), "minCollateralFactorForLiquidation": e30(0.005),
    "minCollateralFactorForOpenInterestLong": e30(6e-11), "minCollateralFactorForOpenInterestShort": e30(6e-11),
    "maxPnlFactorForTradersLong": e30(0.9), "maxPnlFactorForTradersShort": e30(0.9),
    "positionFeeFactorForBalanceWasImproved": e30(0.0004), "positionFeeFactorForBalanceWasNotImproved": e30(0.0006),
    "positionImpactFactorPositive": e30(5e-10), "positionImpactFactorNegative": e30(1e-9),
    "maxPositionImpactFactorPositive": e30(0.005), "maxPositionImpactFactorNegative": e30(0.005),
    "maxPositionImpactFactorForLiquidations": "0", "maxLendableImpactFactor": e30(0.1),
    "maxLendableImpactFactorForWithdrawals": e30(0.1), "maxLendableImpactUsd": e30(1e5),
    "lentPositionImpactPoolAmount": "0", "positionImpactExponentFactorPositive": e30(2.0),
    "positionImpactExponentFactorNegative": e30(2.0), "useOpenInterestInTokensForBalance": False,
    "swapFeeFactorForBalanceWasImproved": e30(0.0005), "swapFeeFactorForBalanceWasNotImproved": e30(0.0007),
    "atomicSwapFeeFactor": e30(0.0035), "swapImpactFactorPositive": e30(5e-10), "swapImpactFactorNegative": e30(1e-9),
    "swapImpactExponentFactor": e30(2.0), "withdrawalFeeFactorBalanceWasImproved": e30(0.0005),
    "withdrawalFeeFactorBalanceWasNotImproved": e30(0.0007),
    "virtualMarketId": "0x" + "0" * 64, "virtualLongTokenId": "0x" + "0" * 64, "virtualShortTokenId": "0x" + "0" * 64,
}


def markets_info(model: MarketModel, chain: str, req: SimRequest) -> list[dict[str, Any]]:
    """Every market of ``chain``: its pools, and on Arbitrum a swap-only pool and a disabled market."""
    out = [_info(model, p.symbol, p.asset, pool_state(model, p, req.now_ms), req.now_ms) for p in _pools(model, chain)]
    if chain == HOSTS[0]:
        idle = {"longs_pay": True, "factor": 0.0, "long_usd": 0.0, "short_usd": 0.0, "borrow_long": 0.0,
                "borrow_short": 0.0}
        out.append({**_info(model, DISABLED_NAME, "DOGE", idle, req.now_ms), "isDisabled": True})
        out.append({**_info(model, SWAP_ONLY_NAME, "DOGE", idle, req.now_ms), "isSpotOnly": True,
                    "indexTokenAddress": "0x" + "0" * 40})
    return out


def _info(model: MarketModel, name: str, asset: str, state: dict[str, Any], now_ms: int) -> dict[str, Any]:
    price = _index(model, asset, now_ms)
    long_tokens, short_tokens = state["long_usd"] / price, state["short_usd"] / price
    pool_long = (state["long_usd"] + state["short_usd"]) * 0.8
    return {
        "marketTokenAddress": address(name), "indexTokenAddress": address(f"index:{asset}"),
        "longTokenAddress": address(f"long:{name}"), "shortTokenAddress": address(f"short:{name}"),
        "isSameCollaterals": name == FREE_SMALLER_SIDE, "isSpotOnly": False, "name": name, "data": "0x",
        "isDisabled": False, **_CONFIG,
        "longPoolAmount": tokens(pool_long / price, asset), "shortPoolAmount": str(int(pool_long * 1e6)),
        "poolValueMin": e30(2 * pool_long), "poolValueMax": e30(2 * pool_long * 1.0001),
        "totalBorrowingFees": e30(0.001 * pool_long), "positionImpactPoolAmount": tokens(0.0001 * pool_long / price,
                                                                                         asset),
        "swapImpactPoolAmountLong": "0", "swapImpactPoolAmountShort": "0",
        "longInterestUsd": e30(state["long_usd"]), "shortInterestUsd": e30(state["short_usd"]),
        "longInterestInTokens": tokens(long_tokens, asset), "shortInterestInTokens": tokens(short_tokens, asset),
        "borrowingFactorPerSecondForLongs": e30(state["borrow_long"]),
        "borrowingFactorPerSecondForShorts": e30(state["borrow_short"]),
        "fundingFactorPerSecond": e30(state["factor"]), "longsPayShorts": state["longs_pay"],
        "virtualPoolAmountForLongToken": "0", "virtualPoolAmountForShortToken": "0",
        "virtualInventoryForPositions": "0",
    }


# --- markets/tickers ---------------------------------------------------------------------------------------


def markets_tickers(model: MarketModel, chain: str, req: SimRequest) -> list[dict[str, Any]]:
    """One ticker per perpetual market of ``chain`` (the disabled one included on Arbitrum)."""
    now = req.now_ms
    out = [_ticker(model, p.symbol, p.asset, pool_state(model, p, now), now) for p in _pools(model, chain)]
    if chain == HOSTS[0]:
        idle = {"longs_pay": True, "factor": 0.0, "long_usd": 0.0, "short_usd": 0.0, "borrow_long": 0.0,
                "borrow_short": 0.0}
        out.append(_ticker(model, DISABLED_NAME, "DOGE", idle, now))
    return out


def per_second(state: dict[str, Any]) -> dict[str, int]:
    """A pool's rates per second x 10^30 as the SDK states them (``getFundingFactorPerPeriod``,
    ``getBorrowingFactorPerPeriod``): funding in the income frame (the paying side negative, the receiving side the
    paid amount over its own open interest), borrowing positive, net = their difference."""
    factor = int(e30(state["factor"]))
    long_usd, short_usd = int(e30(state["long_usd"])), int(e30(state["short_usd"]))
    paying, receiving = (long_usd, short_usd) if state["longs_pay"] else (short_usd, long_usd)
    received = factor * paying // receiving if receiving else 0
    f_long, f_short = (-factor, received) if state["longs_pay"] else (received, -factor)
    b_long, b_short = int(e30(state["borrow_long"])), int(e30(state["borrow_short"]))
    return {"fundingRateLong": f_long, "fundingRateShort": f_short, "borrowingRateLong": b_long,
            "borrowingRateShort": b_short, "netRateLong": f_long - b_long, "netRateShort": f_short - b_short}


def hourly(state: dict[str, Any]) -> dict[str, int]:
    """The SDK's per-hour rates x 10^30 of a pool (``getMarketTicker``): ``per_second`` x 3,600."""
    return {key: value * SECONDS_HOUR for key, value in per_second(state).items()}


def _ticker(model: MarketModel, name: str, asset: str, state: dict[str, Any], now_ms: int) -> dict[str, Any]:
    low, high, mid = _prices(model, asset, now_ms)
    _l, _h, mid_day = _prices(model, asset, now_ms - DAY_MS)
    rates = hourly(state)
    price = _index(model, asset, now_ms)
    long_tokens, short_tokens = state["long_usd"] / price, state["short_usd"] / price
    return {
        "symbol": name, "marketTokenAddress": address(name), "minPrice": str(low), "maxPrice": str(high),
        "markPrice": str(mid), "high24h": str(max(mid, mid_day)), "low24h": str(min(mid, mid_day)),
        "open24h": str(mid_day), "close24h": str(mid), "priceChange24h": str(mid - mid_day),
        "priceChangePercent24hBps": str((mid - mid_day) * 10_000 // mid_day),
        "longInterestInTokens": tokens(long_tokens, asset), "shortInterestInTokens": tokens(short_tokens, asset),
        "longInterestUsd": e30(state["long_usd"]), "shortInterestUsd": e30(state["short_usd"]),
        "longInterestUsdMark": e30(long_tokens * price), "shortInterestUsdMark": e30(short_tokens * price),
        "availableLiquidityLong": e30(2e7), "availableLiquidityShort": e30(2e7),
        "poolAmountLongUsd": e30(0.8 * (state["long_usd"] + state["short_usd"])),
        "poolAmountShortUsd": e30(0.8 * (state["long_usd"] + state["short_usd"])),
        **{key: str(value) for key, value in rates.items()},
    }


# --- rates (history) ---------------------------------------------------------------------------------------


def _seconds(t_ms: int) -> int | float:
    """Epoch seconds as the API's number: whole seconds as an integer."""
    return t_ms // 1000 if t_ms % 1000 == 0 else t_ms / 1000


def snapshot(model: MarketModel, perp: SimPerp, t_ms: int) -> dict[str, Any]:
    """One ``ratesSnapshots`` entry: the pool's rates at ``t_ms`` per second x 10^30 (strings)."""
    rates_now = per_second(pool_state(model, perp, t_ms))
    return {"timestamp": _seconds(t_ms), **{key: str(value) for key, value in rates_now.items()}}


def rates(model: MarketModel, chain: str, req: SimRequest) -> list[dict[str, Any]]:
    """The rate snapshots of the market ``address`` (every perpetual pool of ``chain`` without it) over ``period``,
    newest first: the one at now, then every whole hour back to the period's start."""
    period = req.query.get("period", "1d")
    if period != "total" and period not in RATE_PERIODS:
        raise SimHttpError(400, {"statusCode": 400, "message": "Invalid period or averageBy"})
    days = TOTAL_DAYS if period == "total" else RATE_PERIODS[period]
    now = req.now_ms
    first = now - days * DAY_MS
    hours = range((now - 1) // HOUR_MS * HOUR_MS, first - 1, -HOUR_MS)
    wanted = req.query.get("address", "").lower()
    return [{"marketAddress": address(p.symbol),
             "ratesSnapshots": [snapshot(model, p, now)] + [snapshot(model, p, t) for t in hours]}
            for p in _pools(model, chain) if not wanted or address(p.symbol) == wanted]
