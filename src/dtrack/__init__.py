"""dtrack: a self-hosted, keyless crypto-derivatives market tracker, as a Python library.

>>> import dtrack
>>> with dtrack.Client(sim=True) as dt:                 # doctest: +SKIP
...     rates = dt.funding(["BTC", "ETH"], history="7d")
...     rates.to_pandas()                              # one row per perpetual (pandas: dtrack[pandas])
...     rates.to_dict()                                # exactly `dtrack funding BTC ETH --history 7d --format json`
...     rates.failures                                 # venues that failed, with kind and endpoint

``Client`` is synchronous (it also works inside Jupyter, where an event loop is already running);
``AsyncClient`` is its async twin. Every query returns a typed result (``FundingResult``,
``OpenInterestResult``, ``BasisResult``, ``OptionsResult``, ``VenuesResult``, ``InstrumentsResult``,
``HistoryResult``, ``BackfillResult``) with
``to_dict()``, ``to_pandas()``, ``frames()``, ``failures`` and ``as_of``. Errors derive from ``DtrackError``.

Importing dtrack is light: the names below are loaded on first use, and numpy, pandas and aiohttp only when
a query runs or a result is turned into a DataFrame.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from dtrack.client import AsyncClient, Client
    from dtrack.errors import (
        Banned,
        Blocked,
        ConfigError,
        DtrackError,
        Implausible,
        ParseError,
        RateLimited,
        SymbolNotFound,
        UnsupportedError,
        UsageError,
        VenueClosed,
        VenueError,
        VenueUnavailable,
    )
    from dtrack.records import DataKind, Kind, Margin, Unit
    from dtrack.results import (
        SCHEMA_VERSION,
        AlertsResult,
        Answer,
        BackfillResult,
        BasisResult,
        BookResult,
        CarryBacktestResult,
        CarryResult,
        CarrySimulationResult,
        DashboardResult,
        ExecSimResult,
        Failure,
        FundingResult,
        HistoryResult,
        InstrumentsResult,
        LiqPriceResult,
        LiquidationsResult,
        OpenInterestResult,
        OptionsResult,
        Result,
        VenuesResult,
        VolResult,
    )

_WHERE = {
    "AsyncClient": "dtrack.client", "Client": "dtrack.client",
    **{name: "dtrack.errors" for name in (
        "Banned", "Blocked", "ConfigError", "DtrackError", "Implausible", "ParseError", "RateLimited",
        "SymbolNotFound", "UnsupportedError", "UsageError", "VenueClosed", "VenueError", "VenueUnavailable")},
    **{name: "dtrack.records" for name in ("DataKind", "Kind", "Margin", "Unit")},
    **{name: "dtrack.results" for name in (
        "SCHEMA_VERSION", "AlertsResult", "Answer", "BackfillResult", "BasisResult", "DashboardResult", "Failure",
        "FundingResult", "HistoryResult", "InstrumentsResult", "LiquidationsResult", "OpenInterestResult",
        "OptionsResult", "Result", "VenuesResult", "BookResult", "CarryBacktestResult", "CarryResult",
        "CarrySimulationResult", "ExecSimResult", "LiqPriceResult", "VolResult")},
}

__all__ = [
    "SCHEMA_VERSION",
    "AlertsResult",
    "Answer",
    "AsyncClient",
    "BackfillResult",
    "Banned",
    "BasisResult",
    "Blocked",
    "BookResult",
    "CarryBacktestResult",
    "CarryResult",
    "CarrySimulationResult",
    "Client",
    "ConfigError",
    "DashboardResult",
    "DataKind",
    "DtrackError",
    "ExecSimResult",
    "Failure",
    "FundingResult",
    "HistoryResult",
    "Implausible",
    "InstrumentsResult",
    "Kind",
    "LiqPriceResult",
    "LiquidationsResult",
    "Margin",
    "OpenInterestResult",
    "OptionsResult",
    "ParseError",
    "RateLimited",
    "Result",
    "SymbolNotFound",
    "Unit",
    "UnsupportedError",
    "UsageError",
    "VenueClosed",
    "VenueError",
    "VenueUnavailable",
    "VenuesResult",
    "VolResult",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Load a public name on first use (keeps ``import dtrack`` and ``dtrack --help`` fast)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'dtrack' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
