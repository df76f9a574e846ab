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

#: 600 requests per 5 s per IP, shared by all Bybit REST hosts and endpoints: every public market
#: endpoint (instruments-info, tickers, funding/history, open-interest, account-ratio, kline) costs 1.
#: A breach is answered with HTTP 403 "access too frequent" (not 429); Bybit asks to stop every
#: session and wait at least 10 minutes. The adapter reads that 403 as an IP ban of ``BAN_SECONDS``
#: (remembered on disk like Binance's 418); any other 403 stays "blocked from this location".
TOO_FREQUENT = "access too frequent"
BAN_SECONDS = 600.0
RATE_LIMIT = RateLimit(600, 5)
LIMITS = {MAIN_HOST: RATE_LIMIT}
WEIGHTS = {INSTRUMENTS: 1, TICKERS: 1, FUNDING_HISTORY: 1, OPEN_INTEREST: 1, ACCOUNT_RATIO: 1, KLINE: 1}

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
