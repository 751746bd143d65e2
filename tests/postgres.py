"""The one way a test gets its PostgreSQL: `postgres_url()` (or the `postgres_url` fixture).

Without KAKOU_TEST_DATABASE_URL, or with a server that does not answer, the test is skipped
with the reason; with KAKOU_REQUIRE_POSTGRES=1 (CI sets it) it fails instead, so a CI run
can never pass by quietly skipping every PostgreSQL test.

Tests of a streaming replica start their own primary and replica (`ClusterPair`, from the
server programs `postgres_binaries()` finds): skipped, or failed under KAKOU_REQUIRE_POSTGRES=1,
where those programs are missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_ENV = "KAKOU_TEST_DATABASE_URL"
REQUIRE_ENV = "KAKOU_REQUIRE_POSTGRES"

_checked: dict[str, str | None] = {}  # url -> why it is unusable (None: it answered)


def _not_available(why: str):
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{why} (and {REQUIRE_ENV}=1: PostgreSQL tests must run here)", pytrace=False)
    pytest.skip(why)


def postgres_url() -> str:
    """The PostgreSQL URL for this test, once the server answered; else skip or fail (above)."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        _not_available(f"PostgreSQL tests need {PG_ENV}=postgresql://user@host:port/db")
    if url not in _checked:  # one connection attempt per run, not one per test
        try:
            import psycopg

            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5):
                pass
            _checked[url] = None
        except Exception as exc:
            _checked[url] = f"PostgreSQL at {PG_ENV} is unreachable: {exc}".strip()
    why = _checked[url]
    if why is not None:
        _not_available(why)
    return url


# -- clusters a test starts itself (a primary and its streaming replica) ------------------------

BIN_ENV = "KAKOU_TEST_PG_BIN"  # a directory with initdb, pg_ctl, pg_basebackup, postgres
SERVER_TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")


def postgres_binaries() -> Path:
    """Where PostgreSQL's server programs are ($KAKOU_TEST_PG_BIN, else the newest
    /usr/lib/postgresql/*/bin, else beside `initdb` on the PATH); else skip, or fail under
    KAKOU_REQUIRE_POSTGRES=1 (CI), like `postgres_url`."""
    given = os.environ.get(BIN_ENV, "").strip()
    if given:
        candidates = [Path(given)]
    else:

        def version(p: Path) -> tuple[int, ...]:
            return tuple(int(x) for x in p.parent.name.split(".") if x.isdigit())

        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in SERVER_TOOLS):
            return folder
    where = given or "/usr/lib/postgresql/*/bin or the PATH"
    _not_available(f"PostgreSQL's server programs ({', '.join(SERVER_TOOLS)}) are not in {where} (set {BIN_ENV})")
    raise AssertionError("unreachable")  # _not_available skips or fails


def _as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the `postgres` user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        _not_available("running as root and there is no postgres user to start a PostgreSQL cluster as")
    runuser = shutil.which("runuser")
    if runuser is None:
        _not_available("running as root and there is no runuser to start a PostgreSQL cluster as postgres")
    return [runuser, "-u", "postgres", "--"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ClusterPair:
    """A primary (wal_level=replica) and a hot standby made from it with `pg_basebackup -R`, both
    on loopback ports, in a throw-away directory; `stop()` removes everything. Trust auth on
    loopback, fsync off: a test's clusters, never a place for data."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.prefix = _as_postgres_user()
        self.root = Path(tempfile.mkdtemp(prefix="kakou-pg-"))
        if self.prefix:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.primary_port, self.replica_port = _free_port(), _free_port()
        self.started: list[str] = []
        self.ports: dict[str, int] = {}

    def _run(self, *argv: str, timeout: float = 60) -> None:
        done = subprocess.run([*self.prefix, *argv], capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr[-1500:] or done.stdout[-1500:]}")

    def _options(self, port: int, *extra: str) -> str:
        return " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c shared_buffers=16MB",
                "-c max_connections=40",
                *extra,
            ]
        )

    def start(self) -> None:
        initdb = str(self.bin / "initdb")
        self._run(initdb, "-D", "primary", "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8", "--no-locale")
        self._pg_ctl("primary", "start", "-o", self._options(self.primary_port, "-c wal_level=replica"))
        self.started.append("primary")
        self.ports = {"primary": self.primary_port}
        self.add_standby("replica", self.replica_port)

    def add_standby(self, name: str, port: int | None = None) -> int:
        """Another hot standby of the primary (`pg_basebackup -R`), started; returns its port."""
        port = port or _free_port()
        self._run(
            str(self.bin / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres"),
            *("-D", name, "-R", "-X", "stream", "-c", "fast", "--no-sync"),
        )
        self.ports[name] = port
        self.start_node(name)
        return port

    def _pg_ctl(self, name: str, action: str, *argv: str) -> None:
        log = str(self.root / f"{name}.log")
        self._run(str(self.bin / "pg_ctl"), "-D", name, "-l", log, "-w", "-t", "30", action, *argv)

    def start_node(self, name: str) -> None:
        self._pg_ctl(name, "start", "-o", self._options(self.ports[name], "-c hot_standby=on"))
        if name not in self.started:
            self.started.append(name)

    def stop_node(self, name: str, mode: str = "fast") -> None:
        self._pg_ctl(name, "stop", "-m", mode)
        self.started.remove(name)

    def promote(self, name: str) -> None:
        """The standby leaves recovery: a stand-alone server that no longer follows the primary."""
        self._pg_ctl(name, "promote")

    def start_replica(self) -> None:
        self.start_node("replica")

    def stop_replica(self) -> None:
        self.stop_node("replica")

    def url(self, which: str, database: str = "postgres") -> str:
        port = self.ports[which]
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def sql(self, which: str, statement: str, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(which, database), autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def stop(self) -> None:
        for name in reversed(self.started):
            try:
                self._pg_ctl(name, "stop", "-m", "immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        self.started.clear()
        shutil.rmtree(self.root, ignore_errors=True)
