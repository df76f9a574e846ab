"""dtrack: a self-hosted, keyless crypto-derivatives market tracker."""

__version__ = "0.1.0"
