"""An alert from the kiosk's commit to the browser (issue 16: <= 2 s p99 on loopback), SQLite.

- console.alert_to_browser_p99_ms: a kiosk commits a passage of a quarantined person going out
  (its local record), pushes it at once (what the desk's urgent wake does), and the office's
  real uvicorn server sends it to an open /alerts/stream (server-sent events, read by httpx in
  another thread); the time from the kiosk's commit to the event's arrival, p99 of N alerts.
  Baseline: the push alone (SyncService.run_once), p99 of the same rounds.

One JSON object per line: `python -m tests.bench.bench_alerts [--quick] [--only NAME]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from tests.bench.output import emit


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    if args.only and args.only not in "console.alert_to_browser_p99_ms":
        return
    n = 30 if args.quick else 100
    import httpx

    from tests.console.conftest import PASSWORDS, add_accounts
    from tests.console.test_alerts import passage
    from tests.sync.conftest import make_office
    from tests.sync.helpers import ThreadedServer

    with tempfile.TemporaryDirectory() as d:
        handle, _ = make_office(Path(d), "sqlite")
        add_accounts(handle.engine)
        store, service = handle.add_kiosk(Path(d) / "k1")
        arrived: dict[int, float] = {}
        got = threading.Condition()
        with ThreadedServer(handle.app) as server:
            browser = httpx.Client(base_url=server.url, timeout=30)
            page = browser.get("/login")
            token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            answer = browser.post("/login", data={"name": "张敏", "password": PASSWORDS["张敏"], "csrf": token})
            assert answer.status_code == 303, answer.text
            stop = threading.Event()

            def listen() -> None:
                with browser.stream("GET", "/alerts/stream?after=0", timeout=None) as events:
                    for line in events.iter_lines():
                        if line.startswith("id: "):
                            with got:
                                arrived[int(line[4:])] = time.perf_counter()
                                got.notify_all()
                        if stop.is_set():
                            return

            reader = threading.Thread(target=listen, daemon=True)
            reader.start()
            time.sleep(0.5)
            latencies, pushes = [], []
            for i in range(n):
                committed = time.perf_counter()
                passage(store, "out", "deny", ["quarantined"], unit_code=f"3-2-{500 + i}")
                t0 = time.perf_counter()
                assert service.run_once().pushed == 1
                pushes.append(time.perf_counter() - t0)
                with got:
                    assert got.wait_for(lambda i=i: len(arrived) > i, timeout=10), "the alert never reached the page"
                    latencies.append(max(arrived.values()) - committed)
            stop.set()
            browser.close()
        handle.client.close()
        handle.engine.dispose()
        store.engine.dispose()
    emit(
        "console.alert_to_browser_p99_ms",
        _p99(latencies) * 1000,
        "ms",
        baseline=_p99(pushes) * 1000,
        target="<=2000",
        sizes={"alerts": n, "backend": "sqlite", "median_ms": round(statistics.median(latencies) * 1000, 1)},
    )


if __name__ == "__main__":
    main()
