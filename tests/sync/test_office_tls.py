"""The office served over https (`kakou office serve --tls-cert --tls-key`) and a kiosk that
enrols and syncs with it, trusting a street's own CA through SSL_CERT_FILE — the README's
deployment story, end to end with real processes and a real certificate."""

from __future__ import annotations

import io
import json
import shutil
import ssl
import subprocess
import sys
import time

import httpx
import pytest

from tests.sync.helpers import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is not installed (makes the test certificate)"
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "office.pem", d / "office.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _serve(office_dir, port, *extra):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "office",
            "serve",
            "--office-dir",
            str(office_dir),
            "--port",
            str(port),
            *map(str, extra),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    return proc


def _wait_up(proc, url, verify) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("office ended: " + proc.stderr.read().decode()[-800:])
        try:
            if httpx.get(url + "/v1/health", verify=verify, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("office did not start")


def _kakou(capsys, monkeypatch, *argv, stdin: str = "") -> tuple[int, str]:
    from tui.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def test_kiosk_enrols_and_syncs_over_https_with_the_streets_ca(tmp_path, certificate, capsys, monkeypatch):
    from models.facts import record_passage
    from models.store import KioskStore
    from models.verdict import ALLOW, Verdict
    from models.volunteers import add_volunteer

    cert, key = certificate
    office_dir = tmp_path / "office"
    assert _kakou(capsys, monkeypatch, "office", "init", "--office-dir", str(office_dir))[0] == 0
    code, out = _kakou(
        capsys,
        monkeypatch,
        "office",
        "add-checkpoint",
        "东门卡口",
        "--community",
        "幸福里社区",
        "--json",
        "--office-dir",
        str(office_dir),
    )
    enrol_code = json.loads(out[out.index("{") :])["code"]
    store = KioskStore.open(tmp_path / "kiosk")
    store.set_up("东门卡口", "幸福里社区")
    add_volunteer(store, "王秀英", "888888", "supervisor")
    for _ in range(5):
        record_passage(store, "in", Verdict(ALLOW, ()))
    store.engine.dispose()
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    proc = _serve(office_dir, port, "--tls-cert", cert, "--tls-key", key)
    try:
        _wait_up(proc, url, verify=ssl.create_default_context(cafile=str(cert)))
        kiosk = ["--data-dir", str(tmp_path / "kiosk")]
        # Without the street's CA the kiosk refuses the office, in words, and stays unenrolled.
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        code, words = _kakou(
            capsys, monkeypatch, "enroll", "--office", url, "--code", enrol_code, *kiosk, stdin="888888\n"
        )
        assert code != 0 and "证书不受信任" in words and "SSL_CERT_FILE" in words
        assert KioskStore.open(tmp_path / "kiosk").kiosk_state().enrolled_at is None
        # With it (as the kiosk's systemd unit sets it), enrolment and the first sync go through.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        code, words = _kakou(
            capsys, monkeypatch, "enroll", "--office", url, "--code", enrol_code, *kiosk, stdin="888888\n"
        )
        assert code == 0, words
        code, words = _kakou(capsys, monkeypatch, "sync", "--once", *kiosk)
        assert code == 0, words
        status = httpx.get(url + "/v1/health", verify=ssl.create_default_context(cafile=str(cert)), timeout=5)
        assert status.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    store = KioskStore.open(tmp_path / "kiosk")
    assert store.pending()[0] == 0 and store.kiosk_state().office_url == url
    store.engine.dispose()


def test_plain_http_to_the_https_port_is_explained(tmp_path, certificate, capsys, monkeypatch):
    cert, key = certificate
    port = free_port()
    proc = _serve(tmp_path / "office", port, "--tls-cert", cert, "--tls-key", key)
    try:
        _wait_up(proc, f"https://127.0.0.1:{port}", verify=ssl.create_default_context(cafile=str(cert)))
        from models.store import KioskStore
        from sync.kiosk import SyncError, enroll

        store = KioskStore.open(tmp_path / "kiosk")
        store.set_up("东门卡口", "幸福里社区")
        with pytest.raises(SyncError) as caught:
            enroll(store, f"http://127.0.0.1:{port}", "ABCD-EFGH")
        store.engine.dispose()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # uvicorn answers plain http on a TLS port with a closed connection or garbage: either way
    # the words say what to check, never a traceback.
    assert caught.value.code in ("offline", "bad_answer", "tls_untrusted")
    assert "街道服务器" in caught.value.zh


@pytest.mark.parametrize("which", ["cert_only", "missing", "mismatched"])
def test_serve_with_bad_tls_files_says_what_is_wrong(tmp_path, certificate, which, capsys, monkeypatch):
    cert, key = certificate
    if which == "cert_only":
        argv = ["--tls-cert", str(cert)]
        expect = "--tls-key"
    elif which == "missing":
        argv = ["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(key)]
        expect = "nope.pem"
    else:
        argv = ["--tls-cert", str(cert), "--tls-key", str(cert)]  # the certificate given as its own key
        expect = "PEM"
    code, words = _kakou(
        capsys, monkeypatch, "office", "serve", "--office-dir", str(tmp_path / "o"), "--port", str(free_port()), *argv
    )
    assert code != 0 and expect in words
    assert not (tmp_path / "o").exists()  # refused before anything was made
