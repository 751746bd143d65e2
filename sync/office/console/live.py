"""Waking the open Alerts pages when an alert is made: the bell.

Every server-sent-events stream of this process waits on one `Bell`. It rings
- on PostgreSQL, when a NOTIFY kakou_alert arrives (sync/office/alerts.py sends one in the
  transaction that makes an alert, delivered when it commits, to every office process: an alert
  ingested by one process wakes the browsers connected to another). One LISTEN connection per
  process, on a daemon thread, made when the first stream opens;
- on SQLite (one office process), never: each stream also looks for new alerts every POLL_S,
  which is what bounds the delay there (and on PostgreSQL if the LISTEN connection is lost).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from sqlalchemy import Engine

from sync.office.alerts import CHANNEL

log = logging.getLogger("kakou." + __name__)

POLL_S = 0.5


class Bell:
    """Wakes every waiter of every event loop, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def ring(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                pass

    async def wait(self, timeout: float) -> bool:
        """Until the bell rings or `timeout` s pass: True if it rang."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(entry)


BELL = Bell()
_listening: set[str] = set()
_listen_lock = threading.Lock()


def _conninfo(engine: Engine) -> str:
    url = engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _listen(conninfo: str, key: str) -> None:
    import psycopg

    try:
        while True:
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    BELL.ring()  # whatever was missed while (re)connecting
                    for _note in conn.notifies():
                        BELL.ring()
            except psycopg.Error as exc:
                log.warning("alert LISTEN connection lost (%s); the pages poll meanwhile", exc)
                threading.Event().wait(5.0)
    finally:
        with _listen_lock:
            _listening.discard(key)


def listen(engine: Engine) -> None:
    """Start this process's LISTEN (PostgreSQL only, once per database)."""
    if engine.dialect.name != "postgresql":
        return
    key = str(engine.url)
    with _listen_lock:
        if key in _listening:
            return
        _listening.add(key)
    threading.Thread(target=_listen, args=(_conninfo(engine), key), name="kakou-alert-listen", daemon=True).start()


def sse(event_id: int | None, data: str, event: str = "alert") -> str:
    """One server-sent event; every line of `data` gets its own data: field."""
    lines: list[Any] = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return "\n".join(lines) + "\n\n"
