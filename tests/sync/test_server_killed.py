"""The office process is killed (SIGKILL) while a push transaction is open, then restarted."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx

from models.store import KioskStore
from sync.kiosk import SyncService, enroll
from tests.sync.helpers import check_invariant, free_port, sync_until_quiet, write_passages
from tests.sync.helpers import serve_office as _serve


def test_server_killed_mid_transaction(tmp_path):
    from tui.cli import main

    office_dir = tmp_path / "office"
    port = free_port()
    assert main(["office", "init", "--office-dir", str(office_dir)]) == 0  # office commands never make one
    assert (
        main(
            [
                "office",
                "add-checkpoint",
                "东门卡口",
                "--community",
                "幸福里社区",
                "--office-dir",
                str(office_dir),
                "--json",
            ]
        )
        == 0
    )
    from sync.office.db import open_office_engine
    from sync.office.enrol import add_checkpoint

    engine = open_office_engine(office_dir)
    code = add_checkpoint(engine, "西门卡口", "幸福里社区")["code"]
    # Every push waits 5 s inside its transaction, before COMMIT.
    proc = _serve(office_dir, port, {"KAKOU_OFFICE_TEST_COMMIT_DELAY": "5"})
    url = f"http://127.0.0.1:{port}"
    store = KioskStore.open(tmp_path / "k")
    try:
        enroll(store, url, code)
        write_passages(store, 700)
        service = SyncService(store, client=httpx.Client(base_url=url, timeout=30))
        outcome = {}
        pusher = threading.Thread(target=lambda: outcome.setdefault("r", service.run_once()))
        pusher.start()
        time.sleep(1.5)  # the first batch is inside its transaction now
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        pusher.join(timeout=30)
        assert outcome["r"].error is not None and outcome["r"].error.code == "offline"
        with engine.connect() as conn:
            from sqlalchemy import text

            assert conn.execute(text("SELECT count(*) FROM office_record")).scalar() == 0  # rolled back
            conn.rollback()
        proc = _serve(office_dir, port)
        sync_until_quiet(service)
        check_invariant(store, engine)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        store.engine.dispose()
        engine.dispose()
