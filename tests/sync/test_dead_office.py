"""Dead and broken peers: an office that takes the connection and never answers, and
"offices" that answer garbage (another service on the port, a captive portal's login page, a
proxy's HTML error page, JSON of another shape).

What the kiosk relies on: the sync round ends with a plain, retryable error (Chinese and
English words, never a traceback that kills the sync worker); the acknowledged mark does not
move on an answer it could not read; recording never waits for a stuck sync; and the next good
office receives everything, exactly once.
"""

from __future__ import annotations

import socketserver
import threading

import pytest
from sqlalchemy import text

from models.facts import record_passage
from models.store import KioskStore
from models.verdict import ALLOW, Verdict
from sync.kiosk import Backoff, SyncError, SyncLoop, SyncService, enroll
from tests.sync.helpers import OFFICE_BASE, check_invariant, sync_until_quiet, write_passages
from tests.test_reliability import _file_state
from tui.sync_words import long_words


class RawOffice:
    """A TCP server on loopback that is not an office: it reads a request's head, then sends
    `reply` (raw bytes) and hangs up, or with `reply=None` says nothing until closed.
    Hand-written on socketserver because the point is to answer what no HTTP server would."""

    def __init__(self, reply: bytes | None):
        self.reply = reply
        self.release = threading.Event()
        self.requests = 0
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(30)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                outer.requests += 1
                if outer.reply is None:
                    outer.release.wait(30)
                else:
                    self.request.sendall(outer.reply)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _http(status: str, content_type: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}"
        "Connection: close\r\n\r\n"
    ).encode() + body


CAPTIVE_PORTAL = "<html><body><h1>欢迎使用免费WiFi</h1><form>请登录 Login</form></body></html>".encode()
PROXY_502 = b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"


def _point_at(store: KioskStore, url: str) -> None:
    """The kiosk's office address, as enrolment wrote it."""
    with store.writer.begin() as conn:
        conn.execute(text("UPDATE kiosk_state SET office_url = :u WHERE id = 1"), {"u": url})


def _saved_seqs(store: KioskStore) -> list[int]:
    return _file_state(store.data_dir)["seqs"]  # a bare sqlite3 read: what is really in the file


def _half_synced(office, tmp_path, n_synced: int = 10, n_waiting: int = 15):
    store, service = office.add_kiosk(tmp_path / "k")
    write_passages(store, n_synced)
    sync_until_quiet(service)
    write_passages(store, n_waiting)
    assert store.kiosk_state().acked_seq == n_synced
    return store, service


def _assert_plain_retryable(err: SyncError | None) -> None:
    assert isinstance(err, SyncError) and err.retryable
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err.zh), err.zh  # Chinese words first
    for words in (err.zh, err.en):
        assert "Traceback" not in words and "KeyError" not in words and "JSONDecodeError" not in words
    assert any(w in err.en for w in ("later", "retry", "when online")), err.en  # what happens next


# -- an office that never answers -------------------------------------------------------------


def test_office_that_takes_the_connection_and_never_answers(sqlite_office, tmp_path):
    store, _ = _half_synced(sqlite_office, tmp_path)
    with RawOffice(None) as raw:
        _point_at(store, raw.url)
        service = SyncService(store, timeout=0.5)  # the production default is 30 s
        result = service.run_once()  # returns, does not raise
        assert raw.requests == 1  # it connected and asked: the wait was for the answer
    _assert_plain_retryable(result.error)
    assert result.error.code == "offline"
    assert "没有应答" in result.error.zh and "did not answer" in result.error.en
    assert store.kiosk_state().acked_seq == 10 and result.remaining == 15
    zh, level = long_words(service.status(), "zh")
    en, _ = long_words(service.status(), "en")
    assert level == "warn" and "离线" in zh and "15 条待上传" in zh
    assert "offline since" in en and "15 waiting" in en

    _point_at(store, OFFICE_BASE)
    sync_until_quiet(SyncService(store, client=sqlite_office.client))
    check_invariant(store, sqlite_office.engine)


def test_recording_and_status_do_not_wait_for_a_sync_stuck_in_a_push(sqlite_office, tmp_path):
    store, service = _half_synced(sqlite_office, tmp_path)
    entered, release = threading.Event(), threading.Event()
    sqlite_office.transport.add("/v1/push", ("hang", entered, release))
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("result", service.run_once()), daemon=True)
    worker.start()
    try:
        assert entered.wait(10), "the sync never reached its push"
        # The batch is read and on the wire; the gate keeps working meanwhile.
        saved = [
            record_passage(store, "in", Verdict(ALLOW, ()), subject="person", unit_code="3-2-501").seq
            for _ in range(20)
        ]
        assert set(saved) <= set(_saved_seqs(store))
        text_zh, _ = long_words(service.status(), "zh")
        assert "35 条待上传" in text_zh  # 15 + 20, none confirmed
        # The sync cannot end before `release`: so nothing above waited for it.
        assert worker.is_alive()
    finally:
        release.set()
    worker.join(30)
    _assert_plain_retryable(outcome["result"].error)
    assert outcome["result"].error.code == "offline"
    assert store.kiosk_state().acked_seq == 10
    sync_until_quiet(service)
    check_invariant(store, sqlite_office.engine)


# -- offices that answer garbage ----------------------------------------------------------------

GARBAGE = {
    # another service on the office's port
    "not HTTP at all": (b"SSH-2.0-OpenSSH_9.6\r\n", "offline"),
    # a captive portal (hotel or shop WiFi) answering every address with its login page
    # (none of them signed by the office: refused as such, whatever they say)
    "200 with an HTML page": (_http("200 OK", "text/html; charset=utf-8", CAPTIVE_PORTAL), "unsigned_answer"),
    "200 with JSON of another shape": (_http("200 OK", "application/json", b'{"status": "ok"}'), "unsigned_answer"),
    "200 with a JSON list": (_http("200 OK", "application/json", b"[1, 2, 3]"), "unsigned_answer"),
    "200 with a body that is not UTF-8": (
        _http("200 OK", "application/json", b"\xff\xfe\x00garbage"),
        "unsigned_answer",
    ),
    "200 with a broken gzip body": (
        _http("200 OK", "application/json", b"not gzip", "Content-Encoding: gzip\r\n"),
        "offline",
    ),
    "a proxy's HTML 502 page": (_http("502 Bad Gateway", "text/html", PROXY_502), "http_502"),
    "500 with a JSON list": (_http("500 Internal Server Error", "application/json", b"[]"), "http_500"),
}


@pytest.mark.parametrize("case", list(GARBAGE))
def test_garbage_from_the_office_is_a_plain_retryable_error(sqlite_office, tmp_path, case):
    reply, code = GARBAGE[case]
    store, _ = _half_synced(sqlite_office, tmp_path)
    before = _saved_seqs(store)
    with RawOffice(reply) as raw:
        _point_at(store, raw.url)
        result = SyncService(store, timeout=5).run_once()
        assert raw.requests >= 1
    _assert_plain_retryable(result.error)
    assert result.error.code == code
    if code == "unsigned_answer":
        assert "没有街道办的签名" in result.error.zh and "not signed by the office" in result.error.en
    if code.startswith("http_5"):
        assert "暂时出错" in result.error.zh and f"failed ({code[5:]})" in result.error.en
    assert store.kiosk_state().acked_seq == 10 and result.remaining == 15
    assert _saved_seqs(store) == before

    _point_at(store, OFFICE_BASE)
    sync_until_quiet(SyncService(store, client=sqlite_office.client))
    check_invariant(store, sqlite_office.engine)


PUSH_ANSWERS = {
    "captive portal page, office never saw the batch": (200, "text/html", CAPTIVE_PORTAL, False, "unsigned_answer"),
    "JSON of another shape after the office stored it": (
        200,
        "application/json",
        b'{"ok": true}',
        True,
        "unsigned_answer",
    ),
    "right keys, wrong types, after the office stored it": (
        200,
        "application/json",
        b'{"batch_id": "x", "epoch": 1, "hwm": "all", "statuses": "stored", "list_versions": {}, "server_time": 0}',
        True,
        "unsigned_answer",
    ),
    "proxy 502 page after the office stored it": (502, "text/html", PROXY_502, True, "http_502"),
}


@pytest.mark.parametrize("case", list(PUSH_ANSWERS))
def test_garbage_answer_to_a_push_moves_no_mark_and_loses_nothing(sqlite_office, tmp_path, case):
    status, content_type, body, forward, code = PUSH_ANSWERS[case]
    store, service = _half_synced(sqlite_office, tmp_path)
    sqlite_office.transport.add("/v1/push", ("answer", status, content_type, body, forward))
    result = service.run_once()
    _assert_plain_retryable(result.error)
    assert result.error.code == code
    assert result.pushed == 0 and store.kiosk_state().acked_seq == 10  # never acked on an unread answer
    # The next round's handshake learns what the office really holds and carries on.
    result = sync_until_quiet(service)
    assert result.pushed == (0 if forward else 15)
    check_invariant(store, sqlite_office.engine)


def test_enrolment_against_a_captive_portal_is_explained_and_can_be_repeated(sqlite_office, tmp_path):
    from sync.office.enrol import add_checkpoint

    store = KioskStore.open(tmp_path / "k")
    store.set_up("东门卡口", "幸福里社区")
    code = add_checkpoint(sqlite_office.engine, "东门卡口", "幸福里社区")["code"]
    with RawOffice(_http("200 OK", "text/html", CAPTIVE_PORTAL)) as portal:
        with pytest.raises(SyncError) as caught:
            enroll(store, portal.url, code)
    assert caught.value.code == "bad_answer" and "看不懂" in caught.value.zh
    assert not store.kiosk_state().enrolled_at  # nothing half-done
    enroll(store, OFFICE_BASE, code, client=sqlite_office.client)  # the code was not used up
    assert store.kiosk_state().enrolled_at
    store.engine.dispose()


# -- the kiosk's own file failing during a round ------------------------------------------------


@pytest.mark.parametrize("failure", ["busy", "bug"])
def test_a_local_failure_mid_round_is_a_retryable_error_and_the_loop_goes_on(
    sqlite_office, tmp_path, monkeypatch, failure
):
    """The file busy past its timeout (or a bug) while the round acknowledges: the round ends
    with words, the background loop keeps running, and the next round sends what is left."""
    from models.errors import StoreError

    store, service = _half_synced(sqlite_office, tmp_path)
    real_set_acked = SyncService._set_acked
    failures = []

    def flaky_set_acked(self, epoch, hwm):
        if not failures:
            failures.append(hwm)
            if failure == "busy":
                raise StoreError("本机数据库正忙", "the kiosk's database is busy", code="busy")
            raise RuntimeError("boom")
        return real_set_acked(self, epoch, hwm)

    monkeypatch.setattr(SyncService, "_set_acked", flaky_set_acked)
    rounds = []
    real_run_once = SyncService.run_once

    def counting_run_once(self):
        result = real_run_once(self)
        rounds.append(result)
        return result

    monkeypatch.setattr(SyncService, "run_once", counting_run_once)
    sync_loop = SyncLoop(store, make_service=lambda _store: service, interval=0.01, backoff=Backoff(0.01, 0.01))
    loop = threading.Thread(target=sync_loop.run, kwargs={"until_sent": True}, daemon=True)
    loop.start()
    loop.join(timeout=30)
    if loop.is_alive():
        sync_loop.stop()
    assert not loop.is_alive(), "the loop should have drained the kiosk and stopped"
    first = rounds[0].error
    _assert_plain_retryable(first)
    assert first.code == ("local_busy" if failure == "busy" else "internal")
    assert rounds[-1].ok and rounds[-1].remaining == 0
    assert store.kiosk_state().acked_seq == 25
    check_invariant(store, sqlite_office.engine)
