"""Deribit (API v2, JSON-RPC over HTTP GET): BTC/ETH inverse perpetuals and USDC-settled linear perpetuals."""
