"""Can the office be silenced (issue 12)? Two figures, against a real `kakou office serve` (SQLite):

- office_silence.push_with_slow_p50: an honest kiosk's push round (10 records, signed, over
  HTTP) with 200 slow or idle connections open (100 half-sent unsigned pushes, 50 half-sent
  pushes naming a real kiosk, 50 idle), against the same round with none open (baseline).
  `refused` counts the rounds that did not get through (429 busy before issue 12).
- office_silence.enrol_tries_per_min: enrolment codes tried from one address by 4 threads for a
  few seconds, as answered with a verdict (403 wrong code) per minute; `limited` counts the 429s.

One JSON object per line: `python -m tests.bench.bench_office_silence [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from tests.bench.output import emit

SLOW = 200


def _serve(office_dir: Path):
    from tests.sync.helpers import free_port, serve_office

    port = free_port()
    proc = serve_office(office_dir, port, {"KAKOU_OFFICE_BODY_TIMEOUT": "600"})
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # a full pipe would stop its logging
    return proc, port


def _stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


def _half_sent(port: int, headers: dict[str, str]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    lines = ["POST /v1/push HTTP/1.1", "Host: office", "Content-Length: 1000"] + [
        f"{k}: {v}" for k, v in headers.items()
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"{")
    return sock


def _rounds(service, store, n: int) -> tuple[list[float], int]:
    from tests.sync.helpers import write_passages

    times, refused = [], 0
    for _ in range(n):
        write_passages(store, 10)
        t0 = time.perf_counter()
        result = service.run_once()
        if result.ok and result.remaining == 0:
            times.append(time.perf_counter() - t0)
        else:
            refused += 1
    return times, refused


def bench_push(quick: bool) -> None:
    from models.store import KioskStore
    from sync import signing
    from sync.kiosk import SyncService, enroll
    from sync.office.db import open_office_engine
    from sync.office.enrol import add_checkpoint

    n = 20 if quick else 60
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        engine = open_office_engine(root / "office")
        proc, port = _serve(root / "office")
        url = f"http://127.0.0.1:{port}"
        socks: list[socket.socket] = []
        try:
            stores = []
            for name in ("东门卡口", "西门卡口"):
                store = KioskStore.open(root / name)
                store.set_up(name, "幸福里社区")
                enroll(store, url, add_checkpoint(engine, name, "幸福里社区")["code"])
                stores.append(store)
            store, victim = stores
            service = SyncService(store, client=httpx.Client(base_url=url, timeout=30))
            base, _ = _rounds(service, store, n)
            victim_id = victim.kiosk_state().kiosk_id
            known = {
                signing.H_KIOSK: victim_id,
                signing.H_EPOCH: "1",
                signing.H_REQUEST: uuid.uuid4().hex,
                signing.H_SIGNATURE: "ab" * 64,
            }
            socks += [_half_sent(port, {}) for _ in range(SLOW // 2)]
            socks += [_half_sent(port, known) for _ in range(SLOW // 4)]
            socks += [socket.create_connection(("127.0.0.1", port)) for _ in range(SLOW // 4)]
            time.sleep(1.0)  # let the office read every header
            slow, refused = _rounds(service, store, n)
        finally:
            for sock in socks:
                sock.close()
            _stop(proc)
            engine.dispose()
    emit(
        "office_silence.push_with_slow_p50",
        statistics.median(slow) * 1000 if slow else None,
        "ms",
        baseline=statistics.median(base) * 1000,
        target="all rounds through",
        sizes={"rounds": n, "slow_connections": SLOW, "records_per_round": 10},
        refused=refused,
    )


def bench_enrol(quick: bool) -> None:
    from sync.office.db import open_office_engine
    from sync.office.enrol import add_checkpoint

    seconds = 5 if quick else 15
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        engine = open_office_engine(root / "office")
        add_checkpoint(engine, "东门卡口", "幸福里社区")
        proc, port = _serve(root / "office")
        counts = {"verdict": 0, "limited": 0, "other": 0}
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def guess(k: int) -> None:
            key = "ab" * 32
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                i = 0
                while time.monotonic() < stop:
                    i += 1
                    code = f"{k}{i:07d}"[-8:].translate(str.maketrans("01", "ZY"))
                    status = client.post(
                        "/v1/enroll", content=json.dumps({"code": code, "public_key": key})
                    ).status_code
                    with lock:
                        counts["verdict" if status == 403 else "limited" if status == 429 else "other"] += 1

        try:
            threads = [threading.Thread(target=guess, args=(k,)) for k in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            _stop(proc)
            engine.dispose()
    emit(
        "office_silence.enrol_tries_per_min",
        counts["verdict"] * 60 / seconds,
        "tries/min",
        target="<=10 per address per 10 min",
        sizes={"seconds": seconds, "threads": 4, "addresses": 1},
        answered=counts["verdict"],
        limited=counts["limited"],
        other=counts["other"],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    for name, fn in (("office_silence.push", bench_push), ("office_silence.enrol", bench_enrol)):
        if args.only and args.only not in name:
            continue
        fn(args.quick)


if __name__ == "__main__":
    main()
