"""What dtrack asks Bybit v5 for: host, paths, page sizes, the rate limit and error codes (data only)."""

from __future__ import annotations

from dtrack.net.http import RateLimit

#: One public REST host serves every category (``api.bytick.com`` is an alternative).
MAIN_HOST = "rest"
HOSTS = {MAIN_HOST: "https://api.bybit.com"}

INSTRUMENTS = "/v5/market/instruments-info"
TICKERS = "/v5/market/tickers"
FUNDING_HISTORY = "/v5/market/funding/history"

#: Categories that hold perpetuals: ``linear`` (USDT and USDC perps) and ``inverse`` (coin-margined).
PERP_CATEGORIES = ("linear", "inverse")

#: instruments-info: ``limit`` 1..1000 (default 500), ``cursor`` / ``nextPageCursor`` paging.
INSTRUMENTS_MAX_LIMIT = 1000
#: funding/history: ``limit`` 1..200 (default 200); newest first; page backwards with ``endTime``.
#: ``startTime`` without ``endTime`` is an error.
HISTORY_MAX_LIMIT = 200

#: 600 requests per 5 s per IP, shared by all Bybit REST hosts. A breach is answered with HTTP 403
#: "access too frequent" (not 429); Bybit asks to stop every session and wait at least 10 minutes.
#: The adapter reads that 403 as an IP ban of ``BAN_SECONDS`` (remembered on disk like Binance's 418);
#: any other 403 stays "blocked from this location".
TOO_FREQUENT = "access too frequent"
BAN_SECONDS = 600.0
RATE_LIMIT = RateLimit(600, 5)
LIMITS = {MAIN_HOST: RATE_LIMIT}

#: ``retCode`` values in HTTP 200 answers.
RET_OK = 0
#: Bad parameter, including an unknown symbol ("params error: symbol invalid").
RET_PARAMS_ERROR = 10001
#: Too many visits (per-UID limit) and the IP rate limit.
RET_RATE_LIMITED = frozenset({10006, 10018})

#: instruments-info ``contractType`` of perpetuals, and the tradable ``status``.
LINEAR_PERPETUAL = "LinearPerpetual"
INVERSE_PERPETUAL = "InversePerpetual"
STATUS_TRADING = "Trading"

#: Inverse contracts are worth 1 USD each (their sizes and open interest are in USD).
INVERSE_CONTRACT_USD = 1.0
