"""What dtrack asks OKX v5 (data only): host, paths, parameters, rate limits, error codes."""

from __future__ import annotations

from datetime import timedelta

from dtrack.net.http import RateLimit

VENUE = "okx"

#: host key -> default base URL (paths below start with /api/v5/).
REST = "rest"
HOSTS = {REST: "https://www.okx.com"}

INSTRUMENTS = "/api/v5/public/instruments"
FUNDING_RATE = "/api/v5/public/funding-rate"
FUNDING_HISTORY = "/api/v5/public/funding-rate-history"
OPEN_INTEREST = "/api/v5/public/open-interest"
MARK_PRICE = "/api/v5/public/mark-price"
INDEX_TICKERS = "/api/v5/market/index-tickers"

#: instType of perpetual swaps; funding endpoints may also list "X-Perps" with instType FUTURES.
SWAP = "SWAP"
#: funding-rate?instId=ANY answers every perpetual in one call.
ALL_INSTRUMENTS = "ANY"
#: index-tickers quote currencies dtrack may ask for (one request each); USDC indices exist since 2023-04.
INDEX_QUOTES = frozenset({"USDT", "USD", "USDC"})

#: funding-rate-history: at most 400 rows per page, newest first; ``after`` pages to older rows.
HISTORY_PAGE = 400
#: OKX keeps about three months of funding history.
HISTORY_RETENTION = timedelta(days=92)

#: OKX meters public REST per endpoint, in requests per 2 s per IP (some per IP + instId):
#: instruments 20, funding-rate 10 (IP + instId), funding-rate-history 10 (IP + instId),
#: open-interest 20, mark-price 10, index-tickers 20. No usage header is sent.
REQUESTS_PER_2S = {
    INSTRUMENTS: 20,
    FUNDING_RATE: 10,
    FUNDING_HISTORY: 10,
    OPEN_INTEREST: 20,
    MARK_PRICE: 10,
    INDEX_TICKERS: 20,
}
#: Endpoints metered per IP + instId (one budget per instrument).
PER_INSTRUMENT = frozenset({FUNDING_RATE, FUNDING_HISTORY})
#: Budget of any endpoint not in the table.
LIMIT = RateLimit(10, 2.0)
LIMITS = {REST: LIMIT}

#: Envelope ``{"code": "0", "msg": "", "data": [...]}``; any other code is an error.
OK = "0"
#: 50011: too many requests (normally with HTTP 429); 50061: sub-account / order rate limit reached.
RATE_LIMIT_CODES = frozenset({"50011", "50061"})
#: Unknown instId, answered with HTTP 200.
INSTRUMENT_NOT_FOUND = "51001"
