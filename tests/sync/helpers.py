"""Shared pieces of the sync tests: an office in-process, enrolled kiosks, faults, the invariant."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text

from models import clock
from models.outbox import append_fact
from models.store import KioskStore

OFFICE_BASE = "http://office.test"


def pg_url() -> str:
    """The PostgreSQL URL; skips, or fails under KAKOU_REQUIRE_POSTGRES=1, without one (tests/postgres.py)."""
    from tests.postgres import postgres_url

    return postgres_url()


class PgSchema:
    """A throw-away schema, so parallel test runs on one PostgreSQL never collide."""

    def __init__(self, base_url: str):
        import psycopg

        self.name = "kakou_t_" + uuid.uuid4().hex[:12]
        self.base = base_url
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.name}")

    @property
    def url(self) -> str:
        sep = "&" if "?" in self.base else "?"
        return f"{self.base}{sep}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


class FaultTransport(httpx.BaseTransport):
    """Wraps the office transport and applies queued faults to the next matching requests.

    Faults: "refuse" (never reaches the office), "drop_response" (the office commits, the
    answer is lost), "cut_body" (the office receives half the body, the kiosk sees the
    connection die), ("status", code, retry_after) (an overloaded office), ("hang", entered,
    release) (sets the `entered` event, waits for `release`, then times out: an office that
    never answers), ("answer", status, content_type, body, forward) (this answer instead of
    the office's; with `forward` the office got the request and committed first)."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.faults: list[tuple[str, object]] = []  # (path prefix, fault)
        self.log: list[tuple[str, bytes, dict[str, str], int]] = []  # path, body, headers, status
        self.lock = threading.Lock()

    def add(self, path: str, fault, times: int = 1) -> None:
        with self.lock:
            self.faults.extend([(path, fault)] * times)

    def _take(self, path: str):
        with self.lock:
            for i, (prefix, fault) in enumerate(self.faults):
                if path.startswith(prefix):
                    del self.faults[i]
                    return fault
        return None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        fault = self._take(request.url.path)
        if fault == "refuse":
            raise httpx.ConnectError("connection refused (test fault)", request=request)
        if isinstance(fault, tuple) and fault[0] == "status":
            return httpx.Response(
                fault[1], headers={"Retry-After": str(fault[2])}, json={"code": "busy", "zh": "忙", "en": "busy"}
            )
        if isinstance(fault, tuple) and fault[0] == "hang":
            fault[1].set()
            fault[2].wait(30)
            raise httpx.ReadTimeout("the office never answered (test fault)", request=request)
        if isinstance(fault, tuple) and fault[0] == "answer":
            _, status, content_type, content, forward = fault
            if forward:
                self.inner.handle_request(request).read()
            self.log.append((request.url.path, body, dict(request.headers), status))
            return httpx.Response(status, headers={"Content-Type": content_type}, content=content, request=request)
        if fault == "cut_body":
            half = httpx.Request(request.method, request.url, headers=request.headers, content=body[: len(body) // 2])
            response = self.inner.handle_request(half)
            response.read()
            self.log.append((request.url.path, body[: len(body) // 2], dict(request.headers), response.status_code))
            raise httpx.WriteError("connection cut mid-body (test fault)", request=request)
        response = self.inner.handle_request(request)
        response.read()
        self.log.append((request.url.path, body, dict(request.headers), response.status_code))
        if fault == "drop_response":
            raise httpx.ReadError("connection lost before the answer (test fault)", request=request)
        return response


@dataclass
class OfficeHandle:
    app: object
    engine: object
    office_dir: Path
    database_url: str | None
    transport: FaultTransport
    client: httpx.Client
    kiosks: list = field(default_factory=list)

    def add_kiosk(
        self,
        data_dir: Path,
        name: str | None = None,
        client: httpx.Client | None = None,
        community: str = "幸福里社区",
    ):
        from sync.kiosk import SyncService, enroll
        from sync.office.enrol import add_checkpoint

        name = name or f"卡口{len(self.kiosks) + 1}"
        store = KioskStore.open(data_dir)
        if not store.is_set_up():
            store.set_up(name, community)
        info = add_checkpoint(self.engine, name, community)
        enroll(store, OFFICE_BASE, info["code"], client=client or self.client)
        service = SyncService(store, client=client or self.client)
        self.kiosks.append(store)
        return store, service


def new_client(app) -> tuple[httpx.Client, FaultTransport]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about httpx2
        from fastapi.testclient import TestClient

    inner = TestClient(app, base_url=OFFICE_BASE)._transport
    transport = FaultTransport(inner)
    return httpx.Client(base_url=OFFICE_BASE, transport=transport, timeout=30), transport


def write_passages(
    store: KioskStore, n: int, *, reading: clock.Reading | None = None, in_one_txn: bool = True
) -> list[str]:
    """`n` outbox records of kind passage, as the duty desk would write them."""
    ids = []
    versions = store.gate_state().versions
    if in_one_txn and n > 200:
        return bulk_passages(store, n)
    if in_one_txn:
        with store.writer.begin() as conn:
            for i in range(n):
                fact = append_fact(
                    conn,
                    "passage",
                    {
                        "direction": "in" if i % 2 else "out",
                        "verdict": "allow",
                        "reasons": "[]",
                        "subject": "pass",
                        "n": i,
                    },
                    reading or clock.now(),
                    versions,
                )
                ids.append(fact.record_id)
        store.note_hlc(fact.hlc) if n else None
        return ids
    from models.facts import record_passage
    from models.verdict import Verdict

    for _ in range(n):
        ids.append(record_passage(store, "in", Verdict("allow", ()), subject="unknown", reading=reading).record_id)
    return ids


def kiosk_records(store: KioskStore) -> dict[str, str]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT record_id, payload_hash FROM outbox")).all()
        conn.rollback()
    return dict(rows)


def office_records(engine, kiosk_id: str) -> dict[str, str]:
    with engine.execution_options(immediate=False).connect() as conn:
        rows = conn.execute(
            text("SELECT record_id, payload_hash FROM office_record WHERE kiosk_id = :k"), {"k": kiosk_id}
        ).all()
        conn.rollback()
    return dict(rows)


def sync_until_quiet(service, rounds: int = 20):
    """Run sync rounds until the kiosk has nothing left (bounded)."""
    result = None
    for _ in range(rounds):
        result = service.run_once()
        if result.ok and result.remaining == 0:
            return result
    raise AssertionError(f"kiosk did not drain: {result}")


def check_invariant(store: KioskStore, engine, *, lost_on_kiosk: set[str] = frozenset()) -> None:
    """After the system goes quiet: the office holds exactly the kiosk's records (plus any the
    kiosk itself lost), with equal hashes, no duplicate rows, and its mark equals the kiosk's
    last seq; the kiosk has nothing waiting."""
    state = store.kiosk_state()
    mine = kiosk_records(store)
    theirs = office_records(engine, state.kiosk_id)
    assert set(theirs) - set(mine) == set(lost_on_kiosk), "office has records the kiosk never had"
    assert set(mine) <= set(theirs), f"{len(set(mine) - set(theirs))} kiosk records missing at the office"
    assert {k: theirs[k] for k in mine} == mine, "hash differs between kiosk and office"
    with engine.execution_options(immediate=False).connect() as conn:
        total, distinct, slots = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT record_id), count(DISTINCT epoch * 10000000000 + seq)"
                " FROM office_record WHERE kiosk_id = :k"
            ),
            {"k": state.kiosk_id},
        ).one()
        hwm = conn.execute(
            text("SELECT hwm FROM office_kiosk_epoch WHERE kiosk_id = :k AND epoch = :e"),
            {"k": state.kiosk_id, "e": state.epoch},
        ).scalar()
        conn.rollback()
    assert total == distinct == slots == len(theirs)
    assert int(hwm or 0) == state.last_seq, f"office mark {hwm} != kiosk last seq {state.last_seq}"
    assert state.acked_seq == state.last_seq
    assert store.pending()[0] == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedServer:
    """uvicorn on 127.0.0.1 with a random port, in a thread (for real concurrent HTTP)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", limit_concurrency=1000)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


def payload_of(store: KioskStore, record_id: str) -> dict:
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT payload FROM outbox WHERE record_id = :r"), {"r": record_id}).scalar()
        conn.rollback()
    return json.loads(row)


def bulk_passages(store: KioskStore, n: int) -> list[str]:
    """A big backlog quickly: the rows `append_fact` would write (gapless seq, HLC, UUIDv7,
    canonical payload and hash), inserted with one executemany in one write transaction."""
    from models.clock import hlc_next, hlc_wall_ms
    from models.outbox import canonical_json, payload_hash, uuid7

    reading = clock.now()
    rows, ids = [], []
    with store.writer.begin() as conn:
        epoch, last_seq, hlc = conn.execute(
            text("SELECT epoch, last_seq, hlc_last FROM kiosk_state WHERE id = 1")
        ).one()
        for i in range(n):
            hlc, _back = hlc_next(hlc, reading.wall_ms)
            record_id = uuid7(hlc_wall_ms(hlc))
            payload = canonical_json(
                {
                    "direction": "in" if i % 2 else "out",
                    "verdict": "allow",
                    "reasons": "[]",
                    "subject": "pass",
                    "unit_code": "3-2-501",
                    "temp_raw": "365",
                    "temp_value": 36.5,
                    "record_id": record_id,
                    "kind": "passage",
                }
            )
            rows.append(
                (
                    record_id,
                    epoch,
                    last_seq + i + 1,
                    "passage",
                    payload,
                    payload_hash(payload),
                    reading.wall,
                    hlc,
                    reading.boot_id,
                    reading.mono_ns,
                    "",
                    "{}",
                )
            )
            ids.append(record_id)
        conn.exec_driver_sql(
            "INSERT INTO outbox (record_id, epoch, seq, kind, payload, payload_hash, wall_time, hlc, boot_id, mono_ns,"
            " clock_flag, versions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute(
            text("UPDATE kiosk_state SET last_seq = :s, hlc_last = :h WHERE id = 1"), {"s": last_seq + n, "h": hlc}
        )
    store.note_hlc(hlc)
    return ids


def serve_office(office_dir, port, env_extra=None):
    """`kakou office serve` in its own process (own GIL, can be SIGKILLed), once it answers."""
    import signal  # noqa: F401
    import subprocess
    import sys

    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "office", "serve", "--office-dir", str(office_dir), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("office server did not start: " + proc.stderr.read().decode()[-500:])
