"""Hyperliquid: USDC-margined perpetuals read from the public ``POST /info`` endpoint (hourly funding)."""
