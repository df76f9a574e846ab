"""What dtrack asks Bybit v5 for: host, paths, page sizes, intervals, the rate limit and error codes (data only)."""

from __future__ import annotations

from dtrack.net.http import RateLimit

#: One public REST host serves every category, spot included (``api.bytick.com`` is an alternative).
MAIN_HOST = "rest"
HOSTS = {MAIN_HOST: "https://api.bybit.com"}

INSTRUMENTS = "/v5/market/instruments-info"
TICKERS = "/v5/market/tickers"
FUNDING_HISTORY = "/v5/market/funding/history"
OPEN_INTEREST = "/v5/market/open-interest"
ACCOUNT_RATIO = "/v5/market/account-ratio"
KLINE = "/v5/market/kline"
RECENT_TRADE = "/v5/market/recent-trade"
HISTORICAL_VOLATILITY = "/v5/market/historical-volatility"
ORDERBOOK = "/v5/market/orderbook"
RISK_LIMIT = "/v5/market/risk-limit"

#: Categories that hold perpetuals and dated futures: ``linear`` (USDT and USDC perps, USDT and USDC
#: futures) and ``inverse`` (coin-margined perps and futures). ``spot`` holds the spot pairs.
PERP_CATEGORIES = ("linear", "inverse")
SPOT_CATEGORY = "spot"
#: The spot pair whose last price is an asset's spot price (``BTCUSDT``).
SPOT_QUOTE = "USDT"

#: instruments-info: ``limit`` 1..1000 (default 500), ``cursor`` / ``nextPageCursor`` paging.
INSTRUMENTS_MAX_LIMIT = 1000
#: funding/history: ``limit`` 1..200 (default 200); newest first; page backwards with ``endTime``.
#: ``startTime`` without ``endTime`` is an error.
HISTORY_MAX_LIMIT = 200
#: open-interest: ``limit`` 1..200 (default 50), newest first, history back to the symbol's launch.
OI_HISTORY_MAX_LIMIT = 200
#: kline: ``limit`` 1..1000 (default 200), rows newest first.
KLINE_MAX_LIMIT = 1000
#: account-ratio: ``limit`` 1..500 (default 50); ``period`` of the statistic asked for (its latest value).
ACCOUNT_RATIO_PERIOD = "5min"

#: dtrack period (hours) -> open-interest ``intervalTime`` and kline ``interval``.
OI_INTERVALS = {1: "1h", 4: "4h", 24: "1d"}
KLINE_INTERVALS = {1: "60", 4: "240", 24: "D"}
#: candle length (seconds) -> kline ``interval`` (minutes, or ``D``). Bybit's daily bars open at 00:00 UTC; its
#: weekly (``W``, Monday) and monthly (``M``) bars are not on an epoch-aligned grid and are not asked for.
CANDLE_INTERVALS = {60: "1", 180: "3", 300: "5", 900: "15", 1800: "30", 3600: "60", 7200: "120", 14400: "240",
                    21600: "360", 43200: "720", 86400: "D"}

#: orderbook: ``limit`` levels a side, linear and inverse 1..500 (default 25). The docs moved the cap from 200 to
#: 500 and later to 1000; 500 is asked at most, a value every version since 2024 accepts.
BOOK_MAX_LIMIT = 500
#: risk-limit: no ``limit`` parameter; ``category=linear`` answers 15 symbols a page ("please use cursor to get next
#: data set"), so the pages of one symbol are followed with ``cursor`` / ``nextPageCursor`` until it is empty.
RISK_LIMIT_MAX_PAGES = 100

#: 600 requests per 5 s per IP, shared by all Bybit REST hosts and endpoints: every public market
#: endpoint (instruments-info, tickers, funding/history, open-interest, account-ratio, kline) costs 1.
#: A breach is answered with HTTP 403 "access too frequent" (not 429); Bybit asks to stop every
#: session and wait at least 10 minutes. The adapter reads that 403 as an IP ban of ``BAN_SECONDS``
#: (remembered on disk like Binance's 418); any other 403 stays "blocked from this location".
TOO_FREQUENT = "access too frequent"
BAN_SECONDS = 600.0
RATE_LIMIT = RateLimit(600, 5)
LIMITS = {MAIN_HOST: RATE_LIMIT}
WEIGHTS = {INSTRUMENTS: 1, TICKERS: 1, FUNDING_HISTORY: 1, OPEN_INTEREST: 1, ACCOUNT_RATIO: 1, KLINE: 1,
           RECENT_TRADE: 1, HISTORICAL_VOLATILITY: 1, ORDERBOOK: 1, RISK_LIMIT: 1}

#: ``retCode`` values in HTTP 200 answers.
RET_OK = 0
#: Bad parameter, including an unknown symbol ("params error: symbol invalid").
RET_PARAMS_ERROR = 10001
#: Too many visits (per-UID limit) and the IP rate limit.
RET_RATE_LIMITED = frozenset({10006, 10018})

#: instruments-info ``contractType`` of perpetuals and dated futures, and the tradable ``status``.
LINEAR_PERPETUAL = "LinearPerpetual"
INVERSE_PERPETUAL = "InversePerpetual"
LINEAR_FUTURES = "LinearFutures"
INVERSE_FUTURES = "InverseFutures"
STATUS_TRADING = "Trading"

#: Inverse contracts are worth 1 USD each (their sizes and open interest are in USD).
INVERSE_CONTRACT_USD = 1.0

# --- options -------------------------------------------------------------------------------------

#: The options category: ``tickers`` and ``instruments-info`` take ``baseCoin`` (one answer per asset holds
#: both the USDC-settled ``BTC-28MAR25-90000-C`` and the USDT-settled ``BTC-28MAR25-90000-P-USDT`` options).
OPTION_CATEGORY = "option"
#: instruments-info ``optionsType`` values. Its default ``status`` filter lists ``PreLaunch``, ``Trading`` and
#: ``Delivering`` options; the chain holds the ``Trading`` ones (``STATUS_TRADING``).
OPTION_CALL, OPTION_PUT = "Call", "Put"
#: Bybit options expire (and the symbol's date means) 08:00 UTC; used when instruments-info is unavailable.
OPTION_EXPIRY_HOUR = 8
#: Option quantities (orders, ``openInterest``, ``volume24h``, trade ``size``) are in the base coin: one
#: contract is one coin (instruments-info ``lotSizeFilter`` steps of 0.01 BTC, e.g. ``minOrderQty`` "0.01"
#: in ``bybit__rest_instruments_info__docs.json``, are fractions of a coin, not whole contracts).
OPTION_CONTRACT_SIZE = 1.0
#: Settlement coin of option symbols without a suffix (the USDT ones end in ``-USDT``).
OPTION_DEFAULT_SETTLE = "USDC"

#: recent-trade (option): ``limit`` 1..1000 (default 500), the latest trades of a ``baseCoin`` (no time
#: parameters); ``optionType`` Call / Put splits them, so one round of two calls reaches twice as far back.
TRADES_MAX_LIMIT = 1000
OPTION_TYPES = (OPTION_CALL, OPTION_PUT)

#: historical-volatility: hourly points; ``startTime`` and ``endTime`` go together, at most 30 days apart,
#: at most 2 years back. ``period`` (days) of the realized volatility asked for.
HV_PERIOD_DAYS = 30
HV_MAX_SPAN_HOURS = 30 * 24
HV_MAX_AGE_DAYS = 2 * 365
