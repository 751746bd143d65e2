"""The alerts no record brings (a gate gone silent, a fever not rechecked in time), made in the
background of every office process, every `sweep_seconds` (KAKOU_OFFICE_SWEEP_SECONDS, 30 s).

Before, the sweep ran only when a console page asked for alerts, so a gate that fell silent
at night was an alert only once a clerk opened the Alerts page in the morning, and never reached
a Today page left open. Several processes sweeping the same database are safe: every alert has a
key, and the same thing seen twice makes no second alert (sync/office/alerts.py)."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.engine import Engine

from sync.office import alerts

log = logging.getLogger("kakou." + __name__)


def sweep_once(engine: Engine, now: float | None = None) -> int:
    """One sweep under the office's policy in force (its recheck time); how many alerts were new."""
    from sync.office.admin import office_policy

    with engine.connect() as conn:
        policy = office_policy(conn)
    return alerts.sweep(engine, now=now or time.time(), recheck_minutes=policy.recheck_minutes)


class Sweeper:
    """A daemon thread that sweeps every `every` seconds until `stop()`; a failed sweep is logged
    and the next one tried (a database that went away for a minute must not end the sweeping)."""

    def __init__(self, engine: Engine, every: float):
        self.engine = engine
        self.every = every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kakou-alert-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(self.every):
            try:
                made = sweep_once(self.engine)
                if made:
                    log.info("alert sweep: %d new", made)
            except Exception:
                log.exception("alert sweep failed; trying again in %.0f s", self.every)
