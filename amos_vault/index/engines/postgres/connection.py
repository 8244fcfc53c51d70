"""Connections to the team's PostgreSQL: the URL, a pool, and one-line errors.

The URL comes from AMOS_DATABASE_URL (for secrets) or ``[index] url``. Every failure to
connect becomes a `DatabaseError` subclass whose message says what is wrong and whose hint
says what to do; the password never appears in either.
"""

from __future__ import annotations

import contextlib
import re
import select
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from amos_vault.core.config import IndexSettings
from amos_vault.core.environment import database_url_override
from amos_vault.core.errors import (
    ConfigError,
    DatabaseAccessError,
    DatabaseError,
    DatabaseSchemaError,
    DatabaseUnavailableError,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

WHERE_URL = "[index] url in .amos/config.toml or AMOS_DATABASE_URL"


def database_url(settings: IndexSettings) -> str:
    """The connection URL: AMOS_DATABASE_URL, else ``[index] url``; `ConfigError` if neither."""
    url = database_url_override() or settings.url
    if not url:
        raise ConfigError(
            "the postgres engine needs a database URL, and none is set",
            hint="set AMOS_DATABASE_URL=postgresql://USER:PASSWORD@HOST/DB (or [index] url in "
            '.amos/config.toml), or go back to [index] engine = "embedded"',
        )
    return url


def redacted(url: str) -> str:
    """``url`` without its password (as shown in messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the database URL"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _server(url: str) -> str:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "the local socket", parts.port or 5432
    except ValueError:
        return "the database server"
    return f"{host}:{port}"


def _import_driver() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigError(
            "the postgres engine needs the team extra, which is not installed",
            hint="pip install 'amos-vault[team]' (psycopg, psycopg-pool, pgvector)",
        ) from exc
    return psycopg


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (the server's detail lines left out)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def database_error(exc: BaseException, url: str) -> DatabaseError:
    """The one-line `DatabaseError` for a driver's failure ``exc`` talking to ``url``."""
    text = str(exc).strip()
    first = first_line(exc)
    server = _server(url)
    if re.search(r"password authentication failed|no password supplied|authentication fail", text):
        return DatabaseAccessError(
            f"PostgreSQL at {server} refused the login: wrong user or password",
            hint=f"fix the user and password in {WHERE_URL}",
        )
    found = re.search(r'database "([^"]+)" does not exist', text)
    if found:
        return DatabaseAccessError(
            f"PostgreSQL at {server} has no database {found.group(1)!r}",
            hint=f"create it (createdb {found.group(1)}) or fix the database name in {WHERE_URL}",
        )
    found = re.search(r'role "([^"]+)" does not exist', text)
    if found:
        return DatabaseAccessError(
            f"PostgreSQL at {server} has no user {found.group(1)!r}",
            hint=f"create the user, or fix the user in {WHERE_URL}",
        )
    if "permission denied" in text:
        return DatabaseAccessError(
            f"PostgreSQL at {server} refused: {first}",
            hint="grant the user in the database URL the privileges it needs "
            "(see README: Running for a team)",
        )
    if re.search(
        r"connection refused|could not connect|timeout|timed out|server closed|"
        r"terminating connection|the database system is (starting up|shutting down)|"
        r"no such file or directory|could not translate host name|connection is (lost|bad)|"
        r"consuming input failed|connection failed|closed",
        text,
        re.IGNORECASE,
    ):
        return DatabaseUnavailableError(
            f"cannot reach PostgreSQL at {server} ({first})",
            hint=f"start the database server (or wait for it to come back), or fix the host and "
            f"port in {WHERE_URL}; then run the command again",
        )
    if "invalid" in text.lower() and ("dsn" in text.lower() or "uri" in text.lower()):
        return DatabaseAccessError(
            f"the database URL {redacted(url)} is not valid ({first})",
            hint=f"write it as postgresql://USER:PASSWORD@HOST:PORT/DB in {WHERE_URL}",
        )
    return DatabaseError(f"PostgreSQL at {server}: {first}", hint="see the database server's log")


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn the driver's connection and operational errors into `DatabaseError`s."""
    psycopg = _import_driver()
    from psycopg_pool import PoolTimeout

    try:
        yield
    except DatabaseError:
        raise
    except PoolTimeout as exc:  # an OperationalError too: the pool found no live server
        raise DatabaseUnavailableError(
            f"cannot reach PostgreSQL at {_server(url)} (no connection within the timeout)",
            hint=f"start the database server (or wait for it to come back), or fix the host "
            f"and port in {WHERE_URL}; then run the command again",
        ) from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise database_error(exc, url) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise database_error(exc, url) from exc


def connect(url: str, timeout: float = 10.0) -> psycopg.Connection[Any]:
    """One connection (not pooled), for migrations and checks; errors as `DatabaseError`."""
    driver = _import_driver()
    with database_errors(url):
        connection: psycopg.Connection[Any] = driver.connect(
            url, connect_timeout=max(1, int(timeout)), application_name="amos-vault"
        )
    return connection


def register_types(connection: psycopg.Connection[Any]) -> None:
    """Teach the connection pgvector's types (the extension must exist by now)."""
    from pgvector.psycopg import register_vector

    try:
        register_vector(connection)
    except Exception as exc:
        connection.rollback()
        raise DatabaseSchemaError(
            "the database has no vector extension",
            hint="run CREATE EXTENSION vector as a superuser in that database "
            "(pgvector must be installed on the server)",
        ) from exc
    connection.commit()


def _check_if_suspect(connection: psycopg.Connection[Any]) -> None:
    """Before a pooled connection is handed out: ask the server (a round trip) only when
    its socket has something to read, which an idle connection has when the server closed
    it (a restart) or sent a notice; a healthy idle connection costs nothing."""
    from psycopg_pool import ConnectionPool

    if connection.closed:
        raise ConnectionError("the connection is closed")
    readable, _, _ = select.select([connection.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(connection)


def open_pool(url: str, size: int = 4, timeout: float = 10.0) -> ConnectionPool:
    """A pool of up to ``size`` connections, each with pgvector's types; a connection that
    broke (the server restarted) is checked and replaced before it is handed out."""
    connect(url, timeout).close()  # a wrong password or a server down, said precisely
    from psycopg_pool import ConnectionPool

    pool: ConnectionPool = ConnectionPool(
        url,
        min_size=1,
        max_size=max(1, size),
        kwargs={"connect_timeout": max(1, int(timeout)), "application_name": "amos-vault"},
        configure=register_types,
        check=_check_if_suspect,
        timeout=timeout,
        open=False,
        name="amos-vault",
    )
    with database_errors(url):
        pool.open(wait=True, timeout=timeout)
    return pool
