"""What dtrack asks the GMX API (v2, ``https://<chain>.gmxapi.io/v1``): hosts, paths and units (data only).

Sources: the GMX SDK in ``gmx-io/gmx-interface`` (``sdk/src/configs/api.ts``: the production hosts;
``sdk/src/utils/markets/api.ts``: ``/v1/markets/info`` and ``/v1/markets/tickers``; ``sdk/src/utils/fees``:
``getFundingFactorPerPeriod``, ``getBorrowingFactorPerPeriod``; ``sdk/src/utils/markets/utils.ts``:
``getMarketTicker``) and the API's generated OpenAPI (``MarketInfoResponse``, ``MarketTickerResponse``; the GMX docs'
"API v2 reference", mirrored by api-evangelist/gmx).

- ``GET /v1/markets/info``: every market of the chain, its configuration and state in one answer. dtrack reads
  ``marketTokenAddress``, ``name`` ("ETH/USD [WETH-USDC]"), ``isSpotOnly``, ``isDisabled``, ``fundingFactorPerSecond``
  (what the paying side pays per second per USD of position), ``longsPayShorts`` (who pays: the larger side),
  ``borrowingFactorPerSecondForLongs`` / ``...ForShorts`` (borrow fee per second per USD, each side),
  ``longInterestUsd`` / ``shortInterestUsd`` (open interest per side, USD) and ``maxFundingFactorPerSecond`` (the
  cap of the funding factor). Every one of those numbers is an integer string in 30-decimal fixed point (value x
  10^30): parsed exactly (``parse.fixed``).
- ``GET /v1/markets/tickers``: per market ``symbol`` (its name), ``marketTokenAddress`` and the index token's
  oracle prices ``minPrice`` / ``maxPrice`` / ``markPrice`` (their mid), USD per ONE whole index token x 10^30 (the
  SDK's token prices, which ``convertToUsd(amount, decimals, price)`` divides by 10^decimals).
- Funding is a continuous accrual: no settlement, no interval. The larger side pays ``fundingFactorPerSecond``;
  the smaller side receives the same USD amount, i.e. ``fundingFactorPerSecond x paying OI / receiving OI`` per
  USD of its own position (``getFundingFactorPerPeriod``). Borrow fees are charged apart from funding.
- ``GET /v1/rates?period=<p>&address=<marketTokenAddress>``: the funding and borrow history of a market, as
  ``[{marketAddress, ratesSnapshots: [{timestamp, fundingRateLong, fundingRateShort, borrowingRateLong,
  borrowingRateShort, netRateLong, netRateShort}]}]`` (``sdk/src/utils/rates/{api,types}.ts``; the OpenAPI's
  ``RatesResponse``, api-evangelist/gmx ``openapi/gmx-rates-api-openapi.yml``: every field required, the rates
  strings, ``timestamp`` a number). Established from the GMX interface's rate chart (gmx-io/gmx-interface@a78e920e
  ``src/components/NetRateChart/NetRateChart.tsx`` and ``src/domain/synthetics/markets/useRateSnapshots.ts``):
  - units: each rate is a PER-SECOND factor x 10^30, the ``markets/info`` factors' unit: the chart projects a rate
    to 1 h / 8 h / 24 h / 1 y as ``rate x 3,600 / 28,800 / 86,400 / 31,536,000 / 10^30`` (``rateToProjectedPercent``;
    its first version, commit d02e1a9d of 2026-04-06, named it ``perSecondFloat = Number(rate) / 10^30``);
  - signs: borrowing is "a positive cost magnitude" (the chart's own comment, which negates it for display);
    funding is in the income frame, the paying side NEGATIVE: the chart draws the snapshots and the live rate of
    ``getFundingFactorPerPeriod`` (the paying side ``x -1``) as one line without any sign change (commit 30a5a799,
    2026-05-05). Inferred from that code, not stated by the API: the paying side is the one with the negative
    ``fundingRate*``; ``netRate*`` = funding - borrowing;
  - ``timestamp`` in epoch seconds (the chart's ``new Date(timestamp * 1000)``), snapshots newest first (the chart
    reverses them); their spacing without ``averageBy`` is not documented (UNCONFIRMED), so dtrack takes them as
    they come and says when they start later or end earlier than asked;
  - ``period``: ``1d``, ``7d``, ``30d``, ``90d``, ``180d``, ``1y`` or ``total`` (``ApiParameterPeriod``; anything
    else is a 400 "Invalid period or averageBy"), a window back from now. dtrack asks the shortest one reaching
    back to the start asked, and never ``averageBy`` (averaged buckets, not snapshots of the rate).
- Rate limits: not published (UNCONFIRMED); an HTTP 429 is read as everywhere (``Retry-After`` when sent).
"""

from __future__ import annotations

from typing import Final

#: host key (the chain) -> default base URL
ARBITRUM: Final = "arbitrum"
AVALANCHE: Final = "avalanche"
HOSTS: Final = {ARBITRUM: "https://arbitrum.gmxapi.io", AVALANCHE: "https://avalanche.gmxapi.io"}

MARKETS_INFO: Final = "/v1/markets/info"
MARKETS_TICKERS: Final = "/v1/markets/tickers"
RATES: Final = "/v1/rates"

#: the ``period`` values of ``/v1/rates`` that reach back a fixed time from now (days), shortest first; past the
#: longest, ``TOTAL`` (the market's whole history)
RATE_PERIODS: Final = (("1d", 1), ("7d", 7), ("30d", 30), ("90d", 90), ("180d", 180), ("1y", 365))
TOTAL: Final = "total"

#: the API's fixed point: a number is sent as value x 10^30
PRECISION_DECIMALS: Final = 30
#: seconds per 8 hours and per (365-day) year: the 8 h-equivalent and the APR of a per-second factor
SECONDS_8H: Final = 28_800
SECONDS_YEAR: Final = 31_536_000

#: positions are sized and settled in USD (collateral: the pool's tokens)
QUOTE: Final = "USD"
#: how dtrack presents a continuous accrual: as an 8 h-equivalent
INTERVAL_HOURS: Final = 8.0
INTERVAL_SOURCE: Final = ("continuous (GMX accrues every second, no settlement): 8 h-equivalent = "
                          "fundingFactorPerSecond x 28,800; APR = x 31,536,000")
#: what a point of GMX's funding history is (``FundingHistory.note``)
HISTORY_NOTE: Final = ("snapshots of the paying (larger) side's continuous funding, 8 h-equivalent (/v1/rates "
                       "per-second factor x 10^30, x 28,800; positive = longs pay); borrow not included; samples, "
                       "not settlements")
