"""The office address typed at enrolment: https, or plain http only to this machine or when
the technician says so, because enrolment pins the office's key and carries the lookup key."""

from __future__ import annotations

import io

import pytest

from sync.office_url import OfficeUrlError, check_office_url


@pytest.mark.parametrize(
    "url, clean",
    [
        ("https://office.example.cn", "https://office.example.cn"),
        ("https://10.0.0.2:8443/", "https://10.0.0.2:8443"),
        ("  HTTPS://Office.example.cn/kakou/ ", "HTTPS://Office.example.cn/kakou"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),  # a tunnel or proxy on the kiosk itself
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_accepted_addresses(url, clean):
    assert check_office_url(url) == clean


@pytest.mark.parametrize("url", ["http://10.0.0.2:8080", "http://office.example.cn", "http://192.168.1.5"])
def test_plain_http_to_another_machine_needs_the_explicit_flag(url):
    with pytest.raises(OfficeUrlError) as refused:
        check_office_url(url)
    assert refused.value.code == "plain_http"
    assert "https://" in refused.value.zh and "--allow-http" in refused.value.en
    assert check_office_url(url, allow_http=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "10.0.0.2:8080",
        "office.example.cn",
        "ftp://office",
        "https://",
        "https://office:port",
        "https://office/?x=1",
        "https://office/#a",
    ],
)
def test_what_is_not_an_address_is_refused_in_words(url):
    with pytest.raises(OfficeUrlError) as refused:
        check_office_url(url)
    assert refused.value.code == "bad_url"
    assert "地址" in refused.value.zh and "address" in refused.value.en


def test_cli_refuses_plain_http_before_asking_the_pin(tmp_path, capsys, monkeypatch):
    from models.store import KioskStore
    from models.volunteers import add_volunteer
    from tui.cli import main

    store = KioskStore.open(tmp_path)
    store.set_up("东门卡口", "幸福里社区")
    add_volunteer(store, "王秀英", "888888", "supervisor")
    store.engine.dispose()
    stdin = io.StringIO("888888\n")
    monkeypatch.setattr("sys.stdin", stdin)
    code = main(["enroll", "--office", "http://10.0.0.2:8080", "--code", "ABCD-EFGH", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert "https://" in err and "--allow-http" in err
    assert stdin.read() == "888888\n"  # the PIN was never asked for
    assert KioskStore.open(tmp_path).kiosk_state().office_url is None


def test_cli_with_allow_http_goes_on_to_the_office(tmp_path, capsys, monkeypatch):
    """With the flag the address is accepted and handed to the enrolment as typed (cleaned)."""
    import sync.kiosk
    from models.errors import KakouError
    from models.store import KioskStore
    from models.volunteers import add_volunteer
    from tui.cli import main

    store = KioskStore.open(tmp_path)
    store.set_up("东门卡口", "幸福里社区")
    add_volunteer(store, "王秀英", "888888", "supervisor")
    store.engine.dispose()
    tried = []

    def fake_enroll(store, office, code, **kw):
        tried.append(office)
        raise KakouError("登记码不对", "wrong code", code="bad_code")

    monkeypatch.setattr(sync.kiosk, "enroll", fake_enroll)
    monkeypatch.setattr("sys.stdin", io.StringIO("888888\n"))
    code = main(
        [
            "enroll",
            "--office",
            "http://10.0.0.2:8080/",
            "--allow-http",
            "--code",
            "ABCD-EFGH",
            "--data-dir",
            str(tmp_path),
        ]
    )
    assert code != 0 and "登记码不对" in capsys.readouterr().err
    assert tried == ["http://10.0.0.2:8080"]
