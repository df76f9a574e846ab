"""Binance USDⓈ-M (fapi) and COIN-M (dapi) perpetual futures: hosts and paths (``api``),
pure payload parsing (``parse``) and the venue's I/O (``adapter``)."""
