"""Random interleavings of writes, pushes, faults and restarts (Hypothesis state machine).

Whatever happened, once the faults stop and the kiosk syncs, the invariant holds."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from models.store import KioskStore
from sync.kiosk import SyncService
from tests.sync.helpers import OfficeHandle, check_invariant, new_client, sync_until_quiet, write_passages


class PowerCut(BaseException):
    pass


class KioskAndOffice(RuleBasedStateMachine):
    @initialize()
    def start(self):
        from sync.office.app import create_app

        self.tmp = Path(tempfile.mkdtemp(prefix="kakou-sm-"))
        app = create_app(self.tmp / "office")
        client, transport = new_client(app)
        self.office = OfficeHandle(app, app.state.office.engine, self.tmp / "office", None, transport, client)
        self.store, self.service = self.office.add_kiosk(self.tmp / "k")
        self.service.batch_records = 40

    @rule(n=st.integers(min_value=1, max_value=120))
    def write(self, n):
        write_passages(self.store, n, in_one_txn=n > 30)

    @rule()
    def sync(self):
        self.service.run_once()

    @rule(
        fault=st.sampled_from(["refuse", "drop_response", "cut_body", ("status", 429, 0), ("status", 503, 0)]),
        path=st.sampled_from(["/v1/push", "/v1/sync-state", "/v1/lists/"]),
    )
    def sync_with_fault(self, fault, path):
        self.office.transport.add(path, fault)
        self.service.run_once()
        self.office.transport.faults.clear()

    @rule()
    def power_cut_before_local_ack(self):
        real = SyncService._set_acked

        def cut(service, epoch, hwm):
            raise PowerCut()

        SyncService._set_acked = cut
        try:
            self.service.run_once()
        except PowerCut:
            pass
        finally:
            SyncService._set_acked = real
        self.restart()

    @rule()
    def restart(self):
        self.store.engine.dispose()
        self.store = KioskStore.open(self.store.data_dir)
        self.service = SyncService(self.store, client=self.office.client, batch_records=40)

    def teardown(self):
        if not hasattr(self, "office"):
            return
        try:
            self.office.transport.faults.clear()
            sync_until_quiet(self.service, rounds=50)
            check_invariant(self.store, self.office.engine)
        finally:
            self.store.engine.dispose()
            self.office.engine.dispose()
            shutil.rmtree(self.tmp, ignore_errors=True)


KioskAndOffice.TestCase.settings = settings(
    max_examples=8, stateful_step_count=10, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestKioskAndOffice = KioskAndOffice.TestCase
