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
#: bulk tickers of one instType (``last``): SWAP and FUTURES for quotes, SPOT for spot prices.
TICKERS = "/api/v5/market/tickers"
#: klines of one instrument: the latest 1,440 bars; older ones from history-candles (years).
CANDLES = "/api/v5/market/candles"
HISTORY_CANDLES = "/api/v5/market/history-candles"
#: the order book of one instrument: ``sz`` levels a side, at most ``BOOK_MAX`` (400; ``books-full`` serves more,
#: at a lower rate, and is not used).
BOOKS = "/api/v5/market/books"
BOOK_MAX = 400
#: the margin tiers of an instrument family (``instFamily``, up to 5 comma-separated) for one instType and trade mode.
POSITION_TIERS = "/api/v5/public/position-tiers"
#: the trade mode whose tiers dtrack reads: isolated (the one-position liquidation formulas use it; OKX's swap
#: tiers are the same table in cross mode).
TIER_MODE = "isolated"
#: rubik trading statistics (rows are arrays, newest first).
OI_HISTORY = "/api/v5/rubik/stat/contracts/open-interest-history"
LONG_SHORT_CONTRACT = "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract"
LONG_SHORT_CCY = "/api/v5/rubik/stat/contracts/long-short-account-ratio"
#: option market data of one instFamily (all strikes): markVol / bidVol / askVol (fractions), fwdPx, greeks.
OPT_SUMMARY = "/api/v5/public/opt-summary"
#: the latest option trades of one instFamily (at most ``OPTION_TRADES_KEPT``, newest first; no paging).
OPTION_TRADES = "/api/v5/public/option-trades"

#: instType of perpetual swaps; funding endpoints may also list "X-Perps" with instType FUTURES.
SWAP = "SWAP"
#: instType of dated (expiry) futures, e.g. BTC-USD-251226 (inverse) and BTC-USDT-251226 (linear).
FUTURES = "FUTURES"
SPOT = "SPOT"
#: instType of options: BTC-USD-250328-90000-C, inverse (priced and settled in the coin); every option
#: endpoint needs ``instFamily`` (``<ASSET>-USD``).
OPTION = "OPTION"
#: the quote of OKX's option families (``BTC-USD``, ``ETH-USD``) and of their index (index-tickers instId).
OPTION_QUOTE = "USD"
#: options expire at 08:00 UTC on the day their name gives (BTC-USD-250328-...).
OPTION_EXPIRY_HOUR = 8
#: option-trades answers the latest 100 trades of a family, whatever the window.
OPTION_TRADES_KEPT = 100
#: spot tickers dtrack reads: <ASSET>-USDT.
SPOT_QUOTE = "USDT"
#: funding-rate?instId=ANY answers every perpetual in one call.
ALL_INSTRUMENTS = "ANY"
#: index-tickers quote currencies dtrack may ask for (one request each); USDC indices exist since 2023-04.
INDEX_QUOTES = frozenset({"USDT", "USD", "USDC"})

#: funding-rate-history: at most 400 rows per page, newest first; ``after`` pages to older rows.
HISTORY_PAGE = 400
#: OKX keeps about three months of funding history.
HISTORY_RETENTION = timedelta(days=92)

#: OKX bar names of the history periods dtrack asks for (hours -> bar). Daily bars are the UTC ones
#: ("1Dutc"; plain "1D" opens at 00:00 UTC+8); 1H and 4H bars open on UTC hours either way.
BARS = {1: "1H", 4: "4H", 24: "1Dutc"}
#: candle length (seconds) -> bar: minutes and hours on UTC boundaries; 6 h, 12 h and daily bars are the UTC ones
#: ("6Hutc" ...), whose opens are multiples of their length from the epoch (plain "1D" opens at 00:00 UTC+8).
CANDLE_BARS = {60: "1m", 180: "3m", 300: "5m", 900: "15m", 1800: "30m", 3600: "1H", 7200: "2H", 14400: "4H",
               21600: "6Hutc", 43200: "12Hutc", 86400: "1Dutc"}
#: open-interest-history: at most 100 rows a request, and only the latest 1,440 entries per period.
OI_HISTORY_PAGE = 100
OI_HISTORY_KEPT = 1440
#: candles / history-candles: at most 300 rows a request; candles serves only the latest 1,440 bars.
CANDLE_PAGE = 300
RECENT_CANDLES = 1440
#: long/short ratios: the finest period (5 minutes), the latest row only.
LONG_SHORT_PERIOD = "5m"

#: OKX meters public REST per endpoint, in requests per 2 s per IP (some per IP + instId), as its
#: v5 docs give them: books 40, position-tiers 10, instruments 20, funding-rate 10 (IP + instId),
#: funding-rate-history 10 (IP + instId), open-interest 20, mark-price 10, index-tickers 20, tickers 20, candles 40,
#: history-candles 20; rubik statistics 5 (contract long/short per IP + instId, the currency one
#: per IP), except open-interest-history 10 (IP + instId); opt-summary 20 (IP + instFamily),
#: option-trades 20. No usage header is sent.
REQUESTS_PER_2S = {
    INSTRUMENTS: 20,
    FUNDING_RATE: 10,
    FUNDING_HISTORY: 10,
    OPEN_INTEREST: 20,
    MARK_PRICE: 10,
    INDEX_TICKERS: 20,
    TICKERS: 20,
    CANDLES: 40,
    HISTORY_CANDLES: 20,
    OI_HISTORY: 10,
    LONG_SHORT_CONTRACT: 5,
    LONG_SHORT_CCY: 5,
    OPT_SUMMARY: 20,
    OPTION_TRADES: 20,
    BOOKS: 40,
    POSITION_TIERS: 10,
}
#: Endpoints metered per IP + instId (one budget per instrument).
PER_INSTRUMENT = frozenset({FUNDING_RATE, FUNDING_HISTORY, OI_HISTORY, LONG_SHORT_CONTRACT})
#: Endpoints metered per IP + instFamily (one budget per option family).
PER_FAMILY = frozenset({OPT_SUMMARY})
#: Budget of any endpoint not in the table.
LIMIT = RateLimit(10, 2.0)
LIMITS = {REST: LIMIT}

#: Envelope ``{"code": "0", "msg": "", "data": [...]}``; any other code is an error.
OK = "0"
#: 50011: too many requests (normally with HTTP 429); 50061: sub-account / order rate limit reached.
RATE_LIMIT_CODES = frozenset({"50011", "50061"})
#: Unknown instId, answered with HTTP 200.
INSTRUMENT_NOT_FOUND = "51001"
