"""The history store: one interface (``Store``), two engines (SQLite, the embedded default; PostgreSQL).

``open_store(url)`` picks the engine from the URL: ``postgresql://…`` (or ``postgres://…``) for PostgreSQL,
``sqlite:///path`` or a plain file path for SQLite, None for the default file in the user's data dir
(``$XDG_DATA_HOME/dtrack/store.sqlite3``). psycopg is imported only when a PostgreSQL store is opened.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from dtrack.errors import ConfigError, StoreError, clip
from dtrack.store.base import Row, Store, StoreInfo, TableInfo, from_ms, to_ms
from dtrack.store.schema import LATEST, MIGRATIONS, TABLES, Table

__all__ = ["LATEST", "MIGRATIONS", "TABLES", "Row", "Store", "StoreError", "StoreInfo", "Table", "TableInfo",
           "default_store_path", "from_ms", "open_store", "parse_store_url", "to_ms"]

PG_SCHEMES = ("postgresql", "postgres")
URL_HELP = "a SQLite file path, sqlite:///path, or postgresql://user@host[:port]/database"


def default_store_path(env: Mapping[str, str] | None = None) -> Path:
    """The embedded store's file: ``$XDG_DATA_HOME/dtrack/store.sqlite3`` (``~/.local/share/dtrack/…``)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME")
    return (Path(base) if base else Path.home() / ".local" / "share") / "dtrack" / "store.sqlite3"


def parse_store_url(url: str | None, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(engine, target): ``("sqlite", path)`` or ``("postgresql", url)``; a ``ConfigError`` naming what is
    wrong and what would be right for anything else. Pure: opens nothing."""
    if url is None or not url.strip():
        return "sqlite", str(default_store_path(env))
    url = url.strip()
    if any(not c.isprintable() for c in url):
        raise ConfigError(f"store URL {clip(url)!r} holds a control character; expected {URL_HELP}")
    if "://" not in url:
        return "sqlite", os.path.expanduser(url)
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.lower().startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"store URL {clip(url)!r} names no file; expected sqlite:///relative/path, "
                              f"sqlite:////absolute/path or sqlite:///:memory:")
        return "sqlite", os.path.expanduser(path)
    if scheme in PG_SCHEMES:
        from dtrack.store.postgres import redact

        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ConfigError(f"store URL {clip(redact(url))!r} is not a valid PostgreSQL URL ({exc}); expected "
                              f"postgresql://user@host[:port]/database") from None
        if not parts.path.strip("/"):
            raise ConfigError(f"store URL {clip(redact(url))!r} names no database; expected "
                              f"postgresql://user@host[:port]/database")
        return "postgresql", url
    raise ConfigError(f"store URL {clip(url)!r}: unknown scheme {scheme!r}; expected {URL_HELP}")


def open_store(url: str | None = None, env: Mapping[str, str] | None = None) -> Store:
    """Open (creating and migrating as needed) the store at ``url`` (None: the default SQLite file)."""
    engine, target = parse_store_url(url, env)
    if engine == "postgresql":
        from dtrack.store.postgres import PostgresStore

        return PostgresStore(target)
    from dtrack.store.sqlite import SQLiteStore

    return SQLiteStore(target)
