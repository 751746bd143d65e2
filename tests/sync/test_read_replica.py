"""Reads from a PostgreSQL streaming replica (`--read-database-url`, sync/office/replica.py),
against a real primary and a real hot standby this module starts (`tests.postgres.ClusterPair`):
the report reads the replica and says how far behind it is, the replica going away sends reads
to the primary (and says so, without a connect attempt per request), nothing is ever written
through the read engine, and a URL that is not a replica of the office is refused."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.postgres import ClusterPair, postgres_binaries
from tests.sync.helpers import OfficeHandle, free_port, new_client, sync_until_quiet, write_passages

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pair():
    clusters = ClusterPair(postgres_binaries())
    try:
        clusters.start()
        clusters.sql("primary", "CREATE DATABASE office")
        yield clusters
    finally:
        clusters.stop()


@dataclass
class Street:
    handle: OfficeHandle  # the office that takes the pushes (primary only)
    store: object
    service: object
    token: str
    primary: str
    replica: str

    @property
    def office_dir(self) -> Path:
        return self.handle.office_dir

    def push(self, n: int) -> None:
        write_passages(self.store, n)
        sync_until_quiet(self.service)

    def records_on_primary(self) -> int:
        from sync.office.report import day_report

        return int(day_report(self.handle.engine, dt.date.today())["totals"]["records"])


@pytest.fixture(scope="module")
def street(pair, tmp_path_factory):
    """One office on the primary (its migrations replicate), a kiosk that pushed, an admin."""
    from sync.office.admin import add_admin
    from sync.office.app import create_app

    base = tmp_path_factory.mktemp("street")
    primary, replica = pair.url("primary", "office"), pair.url("replica", "office")
    app = create_app(base / "office", primary)
    client, transport = new_client(app)
    handle = OfficeHandle(app, app.state.office.engine, base / "office", primary, transport, client)
    store, service = handle.add_kiosk(base / "kiosk")
    street = Street(handle, store, service, add_admin(handle.engine, "张主任"), primary, replica)
    street.push(5)
    try:
        yield street
    finally:
        client.close()
        store.engine.dispose()
        app.state.office.close()


@contextmanager
def reading_office(street: Street, **settings):
    """Another office process on the same primary, with the replica for its reads."""
    from sync.office.app import create_app

    settings.setdefault("read_database_url", street.replica)
    app = create_app(street.office_dir, street.primary, migrate=False, **settings)
    client, _ = new_client(app)
    try:
        yield app, client
    finally:
        client.close()
        app.state.office.close()


def get(client, street: Street, what: str) -> dict:
    answer = client.get(f"/v1/admin/{what}", headers={"Authorization": f"Bearer {street.token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def replay_caught_up(pair: ClusterPair, timeout: float = 20) -> None:
    """Wait until the replica has replayed everything the primary has written now."""
    (target,) = pair.sql("primary", "SELECT pg_current_wal_lsn()")[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ((done,),) = pair.sql("replica", f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
        if done:
            return
        time.sleep(0.05)
    raise AssertionError(f"the replica did not replay up to {target} in {timeout} s")


@contextmanager
def replay_paused(pair: ClusterPair):
    pair.sql("replica", "SELECT pg_wal_replay_pause()")
    try:
        deadline = time.monotonic() + 10
        while pair.sql("replica", "SELECT pg_get_wal_replay_pause_state()")[0][0] != "paused":
            assert time.monotonic() < deadline, "the replica's replay did not pause"
            time.sleep(0.02)
        yield
    finally:
        pair.sql("replica", "SELECT pg_wal_replay_resume()")


@contextmanager
def replica_stopped(pair: ClusterPair):
    pair.stop_replica()
    try:
        yield
    finally:
        pair.start_replica()


def _cli(capsys, *argv) -> tuple[int, str, str]:
    from tui.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_report_reads_the_replica_and_says_how_far_behind_it_is(pair, street):
    replay_caught_up(pair)
    with reading_office(street) as (_app, client):
        before = get(client, street, "report")
        assert before["read_from"] == {
            "database": "replica",
            "replica_lag_seconds": 0.0,
            "replica_lag_bytes": 0,
            "replica_problem": None,
        }
        assert before["totals"]["records"] == street.records_on_primary()
        with replay_paused(pair):
            street.push(3)  # committed on the primary, not yet replayed
            on_primary = street.records_on_primary()
            during = get(client, street, "report")
            status = get(client, street, "status")
        # The replica's view, not the primary's, and it says it is behind.
        assert during["totals"]["records"] == before["totals"]["records"] < on_primary
        lag = during["read_from"]
        assert lag["database"] == "replica" and lag["replica_lag_bytes"] > 0 and lag["replica_lag_seconds"] > 0
        assert status["read_from"]["database"] == "replica" and status["read_from"]["replica_lag_bytes"] > 0
        from sync.office.report import format_table
        from sync.office.status import format_status

        table = format_table(during)
        assert "副本落后 " in table.splitlines()[1] and " s behind" in table.splitlines()[1]
        assert format_status(status).splitlines()[0].startswith("副本落后 ")
        replay_caught_up(pair)
        after = get(client, street, "report")
        assert after["totals"]["records"] == on_primary
        assert after["read_from"]["replica_lag_seconds"] == 0.0


def test_the_commands_and_the_server_read_the_replica(pair, street, capsys):
    replay_caught_up(pair)
    where = ["--office-dir", str(street.office_dir), "--database-url", street.primary]
    code, out, _ = _cli(capsys, "office", "report", *where, "--read-database-url", street.replica)
    assert code == 0 and out.splitlines()[1] == "副本落后 0 秒 / replica 0 s behind", out
    code, out, _ = _cli(capsys, "office", "status", "--json", *where, "--read-database-url", street.replica)
    import json

    assert code == 0 and json.loads(out)["read_from"]["database"] == "replica"
    # `kakou office serve`: the worker process gets the replica too (through the environment).
    port = free_port()
    serve = ["office", "serve", *where, "--read-database-url", street.replica, "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *serve],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(
                    base + "/admin/report", headers={"Authorization": f"Bearer {street.token}"}, timeout=2
                )
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None, "the office did not start"
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json()["read_from"]["database"] == "replica"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "读库 read database: postgresql" in err.decode() and "副本落后 0 秒" in err.decode()


def test_the_setting_comes_from_the_environment_and_reaches_the_workers(monkeypatch):
    from sync.office.settings import ENV_READ_DATABASE_URL, OfficeSettings

    monkeypatch.setenv(ENV_READ_DATABASE_URL, "postgresql://reader@replica-host/office")
    given = OfficeSettings.from_values(office_dir="/tmp/office", read_retry=7)
    assert given.read_database_url == "postgresql://reader@replica-host/office"
    monkeypatch.delenv(ENV_READ_DATABASE_URL)
    for name, value in given.as_environ().items():  # what `serve` hands its uvicorn workers
        monkeypatch.setenv(name, value)
    worker = OfficeSettings.from_values()
    assert (worker.read_database_url, worker.read_retry) == (given.read_database_url, 7)


def test_a_replica_that_goes_away_sends_reads_to_the_primary_and_says_so(pair, street, capsys):
    replay_caught_up(pair)
    with reading_office(street, read_retry=3600) as (app, client):
        reads = app.state.office.reads
        assert get(client, street, "report")["read_from"]["database"] == "replica"
        with replica_stopped(pair):
            street.push(2)  # the primary goes on taking pushes
            gone = get(client, street, "report")
            assert gone["read_from"]["database"] == "primary" and gone["read_from"]["replica_problem"] == "unreachable"
            assert gone["totals"]["records"] == street.records_on_primary()  # the primary's numbers, all of them
            tried = reads.attempts
            for _ in range(5):  # while it rests, no request pays a connect attempt
                assert get(client, street, "status")["read_from"]["replica_problem"] == "unreachable"
            assert reads.attempts == tried
            from sync.office.status import format_status

            assert format_status(get(client, street, "status")).splitlines()[0] == (
                "副本连不上，已改读主库 / replica unreachable: read from the primary"
            )
            where = ["--office-dir", str(street.office_dir), "--database-url", street.primary]
            code, out, _ = _cli(capsys, "office", "report", *where, "--read-database-url", street.replica)
            assert (
                code == 0
                and out.splitlines()[1] == "副本连不上，已改读主库 / replica unreachable: read from the primary"
            )


def test_the_replica_is_tried_again_later_and_less_often_while_it_stays_away(pair, street):
    from sync.office.replica import ReadEngines

    now = [1000.0]
    reads = ReadEngines(street.handle.engine, street.replica, retry=10, retry_max=25, clock=lambda: now[0])
    try:
        assert reads.source().replica
        with replica_stopped(pair):
            tries = []
            for step in (0, 5, 6, 15, 6, 20):  # down; resting 10 s; tried; resting 20 s; tried; resting 25 s (the cap)
                now[0] += step
                src = reads.source()
                assert not src.replica and src.problem == "unreachable"
                tries.append(reads.attempts)
            grew = [b > a for a, b in itertools.pairwise(tries)]
            assert grew == [False, True, False, True, False], tries
        now[0] += 26  # the rest is over and the replica is back
        src = reads.source()
        assert src.replica and src.problem is None
    finally:
        reads.close()


def test_a_replica_that_dies_during_a_read_leaves_the_read_to_the_primary(pair, street):
    from sync.office.replica import ReadEngines

    reads = ReadEngines(street.handle.engine, street.replica, retry=3600)
    stopped = []

    def count(engine):
        if engine is reads.replica and not stopped:
            pair.stop_replica()  # the replica goes away after the read was sent there
            stopped.append(True)
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM office_record")).scalar_one()
            conn.rollback()
        return n

    try:
        n, src = reads.run(count)
        assert stopped and not src.replica and src.problem == "unreachable"
        with street.handle.engine.connect() as conn:
            assert n == conn.execute(text("SELECT count(*) FROM office_record")).scalar_one()
    finally:
        reads.close()
        if stopped:
            pair.start_replica()


@pytest.mark.parametrize("target", ["replica", "primary", "primary-asking-to-write"])
def test_nothing_is_ever_written_through_the_read_engine(pair, street, target):
    """Not on the replica, and not on the primary either when the read URL names it (a mistake,
    or a replica since promoted), even when that URL asks for writable sessions."""
    from sync.office.replica import ReadEngines

    url = street.replica if target == "replica" else street.primary
    if target == "primary-asking-to-write":
        url += "?options=-cdefault_transaction_read_only%3Doff"
    reads = ReadEngines(street.handle.engine, url)
    key = f"written-through-reads-{target}"

    def write(engine):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO office_setting (key, value) VALUES (:k, 'x')"), {"k": key})

    try:
        assert reads.source().replica  # the URL is accepted for reads ...
        with pytest.raises(DBAPIError, match="read-only"):
            reads.run(write)  # ... and the write fails there, and is not retried on the primary
        from sync.office.deps import read_engine

        class OfficeLike:
            pass

        office = OfficeLike()
        office.reads = reads  # type: ignore[attr-defined]
        with pytest.raises(DBAPIError, match="read-only"):
            write(read_engine(office))  # the console's way in: the same read-only engine
    finally:
        reads.close()
    with street.handle.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM office_setting WHERE key = :k"), {"k": key}).scalar_one() == 0


def test_a_database_that_is_not_the_offices_replica_is_refused(pair, street, capsys):
    from sync.office.replica import ReadEngines

    where = ["--office-dir", str(street.office_dir), "--database-url", street.primary]
    wrong = [
        pair.url("replica", "postgres"),  # another database of the same cluster
        street.replica + "?options=-csearch_path%3Delsewhere",  # another schema
    ]
    for url in wrong:
        for command in (["report"], ["status"], ["serve", "--port", str(free_port())]):
            code, out, err = _cli(capsys, "office", *command, *where, "--read-database-url", url)
            assert code == 2 and "不是本街道库的副本" in err and "is not a replica" in err, (command, url, out, err)
            assert "Traceback" not in err
        reads = ReadEngines(street.handle.engine, url)
        try:
            src = reads.source()  # a server met later: never read from
            assert not src.replica and src.problem == "not_a_replica"
        finally:
            reads.close()
    # SQLite has no replica; a replica must be PostgreSQL.
    lite = ["--office-dir", str(street.office_dir.parent / "lite")]
    assert _cli(capsys, "office", "init", *lite)[0] == 0
    code, _, err = _cli(capsys, "office", "report", *lite, "--read-database-url", street.replica)
    assert code == 2 and "--read-database-url" in err and "Traceback" not in err
    code, _, err = _cli(capsys, "office", "report", *where, "--read-database-url", "sqlite:////tmp/x.db")
    assert code == 2 and "--read-database-url" in err


def test_a_promoted_copy_is_not_read_from(pair, street):
    """A copy of the office's database that left recovery (promoted, split from the primary) has
    the primary's cluster identity but no longer follows it: its street stands still."""
    from sync.office.replica import ReadEngines

    pair.add_standby("copy")
    copy_url = pair.url("copy", "office")
    reads = ReadEngines(street.handle.engine, copy_url)
    try:
        assert reads.source().replica  # a standby of the office: fine
        reads.close()
        pair.promote("copy")
        reads = ReadEngines(street.handle.engine, copy_url)
        src = reads.source()
        assert not src.replica and src.problem == "not_a_replica"
    finally:
        reads.close()
        pair.stop_node("copy", "immediate")
