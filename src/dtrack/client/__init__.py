"""The library tier: ``AsyncClient`` (async) and ``Client`` (sync). See ``dtrack.client.core``."""

from dtrack.client.core import AsyncClient
from dtrack.client.sync import Client

__all__ = ["AsyncClient", "Client"]
