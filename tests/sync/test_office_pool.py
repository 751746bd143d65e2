"""The office's PostgreSQL pool: which connections it pings before handing them out.

A push is a handful of round trips; pinging every checked-out connection was one more for
every push. The pool now pings only a connection that idled longer than `ping_after_idle_s`
(a quiet office), hands out one used a moment ago as it is (a busy office), and replaces one
the server closed while it idled, so the request that checks it out is still answered.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import text

from sync.office.db import open_office_engine
from tests.postgres import postgres_url
from tests.sync.helpers import PgSchema


@pytest.fixture
def pg(tmp_path):
    schema = PgSchema(postgres_url())
    engines = []

    def make(idle_s: float):
        engine = open_office_engine(tmp_path / "office", schema.url, pool_size=1, ping_after_idle_s=idle_s)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()
    schema.drop()


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        conn.rollback()
    return pid


def count_pings(engine, monkeypatch) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_conn):
        pings.append(1)
        return real(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_used_a_moment_ago_is_handed_out_without_a_ping(pg, monkeypatch):
    engine = pg(idle_s=60.0)
    first = backend_pid(engine)  # the connection is made, used, and back in the pool
    pings = count_pings(engine, monkeypatch)
    for _ in range(5):
        assert backend_pid(engine) == first  # the same connection every time
    assert pings == []


def test_a_connection_that_idled_longer_is_pinged_first(pg, monkeypatch):
    engine = pg(idle_s=0.05)
    first = backend_pid(engine)
    pings = count_pings(engine, monkeypatch)
    time.sleep(0.2)
    assert backend_pid(engine) == first  # alive: pinged, then handed out
    assert len(pings) == 1


def test_a_connection_the_server_closed_while_it_idled_is_replaced_and_the_request_answered(pg):
    engine = pg(idle_s=0.05)
    first = backend_pid(engine)
    with psycopg.connect(postgres_url(), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (first,)).fetchone() == (True,)
        for _ in range(100):  # until the server has ended that session
            if admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (first,)).fetchone() == (0,):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the server did not end the session")
    time.sleep(0.1)
    second = backend_pid(engine)  # the ping finds it dead: a fresh connection answers
    assert second != first
