"""Binance USDⓈ-M (fapi) and COIN-M (dapi) perpetuals and quarterlies, spot prices (api) and European
options (eapi): hosts and paths (``api``), pure payload parsing (``parse``) and the venue's I/O (``adapter``)."""
