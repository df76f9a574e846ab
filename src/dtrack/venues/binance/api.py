"""What dtrack asks Binance for: hosts, paths, weights, limits, error codes (data only).

Four API hosts, each with its own request-weight budget reported back in the
``X-MBX-USED-WEIGHT-1M`` response header, and the public web site:

- ``usdm``  = USDⓈ-M futures (fapi): linear, quantities in the base coin, USDT/USDC quoted;
  perpetuals and quarterlies (``BTCUSDT_251226``); 2400 weight per minute;
- ``coinm`` = COIN-M futures (dapi): inverse, quantities in contracts of ``contractSize`` USD;
  perpetuals (``BTCUSD_PERP``) and quarterlies (``BTCUSD_251226``); 2400 weight per minute;
- ``spot``  = spot (api.binance.com), read only for spot prices; 6000 weight per minute;
- ``options`` = European options (eapi.binance.com): USDT-quoted and -settled, symbols
  ``BTC-261225-100000-C``; 2400 weight per minute (``exchangeInfo.rateLimits`` of the options docs);
- ``web`` = www.binance.com, read only for the maintenance-margin brackets its public leverage-margin
  page uses (``/bapi/futures/v1/friendly/...``): UNOFFICIAL and undocumented, but keyless, where the official
  ``/fapi/v1/leverageBracket`` and ``/dapi/v2/leverageBracket`` are USER_DATA (signed, an API key). Binance
  publishes no limit for it; dtrack keeps to its own cap (``LIMITS[WEB]``) and disk-caches the table.

The statistics endpoints under ``/futures/data/`` (open-interest history, long/short ratios) weigh 0
on USDⓈ-M but have their own cap of 1000 requests per 5 minutes per IP: a separate budget
(``FUTURES_DATA_LIMIT``) that counts requests. On COIN-M they weigh 1 on the host budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dtrack.net.http import RateLimit

VENUE: Final = "binance"

USDM: Final = "usdm"
COINM: Final = "coinm"
SPOT: Final = "spot"
OPTIONS: Final = "options"
WEB: Final = "web"

HOSTS: Final = {
    USDM: "https://fapi.binance.com",
    COINM: "https://dapi.binance.com",
    SPOT: "https://api.binance.com",
    OPTIONS: "https://eapi.binance.com",
    WEB: "https://www.binance.com",
}
MAIN_HOST: Final = USDM
#: The derivatives hosts (instrument lists, funding, open interest, klines).
FUTURES_HOSTS: Final = (USDM, COINM)

#: Response header with the weight used by this IP in the current minute (every host).
USED_WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"

#: 2400 request weight per minute and IP per futures host (``exchangeInfo.rateLimits`` REQUEST_WEIGHT),
#: 6000 on spot. ``fundingRate`` and ``fundingInfo`` also share a separate cap of 500 requests per
#: 5 minutes per IP (USDⓈ-M docs), not enforced client-side: dtrack stays far below it (one
#: fundingInfo per ``funding_interval_ttl``, one fundingRate page per 1000 settlements).
LIMITS: Final = {
    USDM: RateLimit(2400, 60, used_header=USED_WEIGHT_HEADER),
    COINM: RateLimit(2400, 60, used_header=USED_WEIGHT_HEADER),
    SPOT: RateLimit(6000, 60, used_header=USED_WEIGHT_HEADER),
    OPTIONS: RateLimit(2400, 60, used_header=USED_WEIGHT_HEADER),
    # dtrack's own courtesy cap: Binance documents no limit for the web host (one table per hour is all dtrack asks)
    WEB: RateLimit(60, 60),
}

#: ``/futures/data/*`` on USDⓈ-M: weight 0, but 1000 requests per 5 minutes per IP (its own budget,
#: one unit per request; the host's used-weight header does not count these).
FUTURES_DATA_PREFIX: Final = "/futures/data/"
FUTURES_DATA_LIMIT: Final = RateLimit(1000, 300)
FUTURES_DATA_BUCKET: Final = "futures-data"


@dataclass(frozen=True, slots=True)
class Paths:
    """The REST paths of one futures host (same endpoints, ``/fapi`` or ``/dapi`` prefix)."""

    exchange_info: str
    premium_index: str
    funding_info: str
    open_interest: str
    funding_rate: str
    klines: str
    ticker_price: str
    #: 24 h rolling statistics: ``lastPrice``, ``volume`` (USDⓈ-M: base coin; COIN-M: contracts) and
    #: ``quoteVolume`` (USDⓈ-M, in the quote asset) or ``baseVolume`` (COIN-M, base coin)
    ticker_24hr: str
    #: the order book (``limit`` in ``DEPTH_LIMITS``)
    depth: str
    #: the public web brackets of the host's contracts (on host ``web``, UNOFFICIAL: see the module doc)
    brackets: str
    open_interest_hist: str = "/futures/data/openInterestHist"


PATHS: Final = {
    USDM: Paths(
        exchange_info="/fapi/v1/exchangeInfo",
        premium_index="/fapi/v1/premiumIndex",
        funding_info="/fapi/v1/fundingInfo",
        open_interest="/fapi/v1/openInterest",
        funding_rate="/fapi/v1/fundingRate",
        klines="/fapi/v1/klines",
        # v1 is marked deprecated in the USDⓈ-M docs; v2 answers the same rows (its used-weight
        # header is documented as inaccurate, which only makes the limiter rely on its own count)
        ticker_price="/fapi/v2/ticker/price",
        ticker_24hr="/fapi/v1/ticker/24hr",
        depth="/fapi/v1/depth",
        brackets="/bapi/futures/v1/friendly/future/common/brackets",
    ),
    COINM: Paths(
        exchange_info="/dapi/v1/exchangeInfo",
        premium_index="/dapi/v1/premiumIndex",
        funding_info="/dapi/v1/fundingInfo",
        open_interest="/dapi/v1/openInterest",
        funding_rate="/dapi/v1/fundingRate",
        klines="/dapi/v1/klines",
        ticker_price="/dapi/v1/ticker/price",
        ticker_24hr="/dapi/v1/ticker/24hr",
        depth="/dapi/v1/depth",
        brackets="/bapi/futures/v1/friendly/delivery/common/brackets",
    ),
}

#: Spot: latest price of every symbol (``symbol``/``symbols`` narrow it, at the same weight 4 for a
#: list; one unknown name in ``symbols`` fails the whole request with -1121, so dtrack asks for all).
SPOT_TICKER_PRICE: Final = "/api/v3/ticker/price"
WEIGHT_SPOT_TICKER_PRICE_ALL: Final = 4

# Request weights (same on both futures hosts).
WEIGHT_EXCHANGE_INFO: Final = 1
WEIGHT_PREMIUM_INDEX_ALL: Final = 10  # without ``symbol``: every symbol of the host
WEIGHT_PREMIUM_INDEX_ONE: Final = 1
WEIGHT_FUNDING_INFO: Final = 1  # plus the shared 500 / 5 min cap (see LIMITS)
WEIGHT_OPEN_INTEREST: Final = 1
WEIGHT_FUNDING_RATE: Final = 1  # plus the shared 500 / 5 min cap (see LIMITS)
WEIGHT_TICKER_PRICE_ALL: Final = 2  # without ``symbol``
#: ``ticker/24hr`` without ``symbol`` (every symbol of the host): 40 on both hosts (1 with ``symbol``), per the
#: USDⓈ-M and COIN-M docs. The quotes read it instead of ``ticker/price``: its ``lastPrice`` is the same last
#: trade, and it carries the 24 h volume; one request per host either way, 38 more weight of 2400 a minute.
WEIGHT_TICKER_24HR_ALL: Final = 40
WEIGHT_FUTURES_DATA: Final = 1  # USDⓈ-M: one request of FUTURES_DATA_LIMIT; COIN-M: weight 1


def kline_weight(limit: int) -> int:
    """Weight of a klines request by its ``limit``: 1 below 100, 2 below 500, 5 up to 1000, else 10."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    return 5 if limit <= 1000 else 10


#: ``depth`` ``limit`` values both futures hosts accept (default 500), and the weight of each per the USDⓈ-M and
#: COIN-M docs ("Order Book": 5, 10, 20, 50 -> 2; 100 -> 5; 500 -> 10; 1000 -> 20).
DEPTH_LIMITS: Final = (5, 10, 20, 50, 100, 500, 1000)
DEPTH_WEIGHTS: Final = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}


def depth_limit(depth: int) -> int:
    """The ``limit`` to ask for ``depth`` levels a side: the smallest allowed one >= ``depth``, at most 1000."""
    return next((limit for limit in DEPTH_LIMITS if limit >= depth), DEPTH_LIMITS[-1])


#: The web brackets envelope's success code (``{"code": "000000", "data": {"brackets": [...]}, "success": true}``).
WEB_OK: Final = "000000"

#: fundingRate page size: default 100, maximum 1000; ascending from ``startTime``.
FUNDING_RATE_LIMIT_DEFAULT: Final = 100
FUNDING_RATE_LIMIT_MAX: Final = 1000
#: klines: at most 1500 candles per request; COIN-M also at most 200 days between start and end.
KLINES_LIMIT_MAX: Final = 1500
KLINES_SPAN_MAX_MS: Final = {USDM: None, COINM: 200 * 86_400_000}
#: /futures/data statistics: at most 500 rows per request, only the latest 30 days kept (an older
#: ``startTime`` is refused with -1130).
FUTURES_DATA_LIMIT_MAX: Final = 500
FUTURES_DATA_DAYS: Final = 30

#: dtrack period (hours) -> Binance ``period`` / ``interval`` value.
PERIODS: Final = {1: "1h", 4: "4h", 24: "1d"}
#: candle length (seconds) -> Binance klines ``interval`` (the ones dtrack asks for candles).
KLINE_INTERVALS: Final = {60: "1m", 300: "5m", 900: "15m", 3600: "1h", 14_400: "4h", 86_400: "1d"}
#: Long/short statistics are read at their finest period, latest row only.
LONG_SHORT_PERIOD: Final = "5m"

#: The long/short statistics of USDⓈ-M symbols: path and Binance's own definition of what is counted.
LONG_SHORT: Final = (
    ("/futures/data/globalLongShortAccountRatio", "global accounts"),
    ("/futures/data/topLongShortAccountRatio", "top-trader accounts (top 20% by margin balance)"),
    ("/futures/data/topLongShortPositionRatio", "top-trader positions (top 20% by margin balance)"),
)

#: Interval of symbols absent from fundingInfo (it lists only symbols with an adjustment).
DEFAULT_INTERVAL_HOURS: Final = 8

#: contractType of perpetuals and of the dated futures dtrack lists; status field per host.
PERPETUAL: Final = "PERPETUAL"
CURRENT_QUARTER: Final = "CURRENT_QUARTER"
NEXT_QUARTER: Final = "NEXT_QUARTER"
DATED: Final = frozenset({CURRENT_QUARTER, NEXT_QUARTER})
TRADING: Final = "TRADING"
STATUS_FIELD: Final = {USDM: "status", COINM: "contractStatus"}
#: Binance quarterlies deliver on the last Friday of March, June, September and December, 08:00 UTC.
QUARTER_MONTHS: Final = (3, 6, 9, 12)
DELIVERY_HOUR: Final = 8

# Error codes of the ``{"code": -1121, "msg": "Invalid symbol."}`` envelope (sent with HTTP 4xx).
ERR_UNKNOWN: Final = -1000
ERR_DISCONNECTED: Final = -1001
ERR_TOO_MANY_REQUESTS: Final = -1003
ERR_MANDATORY_PARAMETER: Final = -1102
ERR_INVALID_PARAMETER: Final = -1130
ERR_INVALID_SYMBOL: Final = -1121
RATE_LIMIT_CODES: Final = frozenset({ERR_TOO_MANY_REQUESTS})
#: The quote of the spot pairs read for spot prices (``BTCUSDT``).
SPOT_QUOTE: Final = "USDT"


# --- European options (eapi) -------------------------------------------------------------------
# Paths, weights and fields as in Binance's options docs (developers.binance.com/docs/derivatives/option).

#: Every option symbol: ``optionSymbols[]`` with ``symbol``, ``underlying`` (BTCUSDT), ``strikePrice``,
#: ``side`` (CALL / PUT), ``expiryDate`` (ms), ``unit`` (coins per contract), ``quoteAsset`` and, in the
#: current docs, ``status``.
OPTION_EXCHANGE_INFO: Final = "/eapi/v1/exchangeInfo"
#: Mark price (USDT), bid/ask/mark IV (FRACTIONS) and greeks of every symbol (one with ``symbol``).
OPTION_MARK: Final = "/eapi/v1/mark"
#: 24 h statistics of every symbol: ``volume`` (contracts), ``lastPrice``, ``bidPrice``, ``askPrice``.
OPTION_TICKER: Final = "/eapi/v1/ticker"
#: Open interest of one underlying asset and ONE expiry (``underlyingAsset=BTC&expiration=261225``).
OPTION_OPEN_INTEREST: Final = "/eapi/v1/openInterest"
#: Spot index of one underlying (``underlying=BTCUSDT``): what Binance marks its options on.
OPTION_INDEX: Final = "/eapi/v1/index"
#: The latest block trades of every symbol (``limit`` default 100, at most 500), ascending.
OPTION_BLOCK_TRADES: Final = "/eapi/v1/blockTrades"

WEIGHT_OPTION_EXCHANGE_INFO: Final = 1
WEIGHT_OPTION_MARK_ALL: Final = 5
WEIGHT_OPTION_TICKER_ALL: Final = 5
WEIGHT_OPTION_OPEN_INTEREST: Final = 0
WEIGHT_OPTION_INDEX: Final = 1
WEIGHT_OPTION_BLOCK_TRADES: Final = 5
BLOCK_TRADES_LIMIT_MAX: Final = 500

#: The quote (and settlement) asset of Binance options, taken as USD.
OPTION_QUOTE: Final = "USDT"
OPTION_SIDES: Final = {"CALL": True, "PUT": False}
#: blockTrades ``side``: the taker's direction (1 buy, -1 sell, as the recent-trades docs define it).
TAKER_SIDES: Final = {1: "buy", -1: "sell"}
#: Expiry hour (UTC) of every Binance option, which the symbol's YYMMDD date leaves out.
OPTION_EXPIRY_HOUR: Final = 8
