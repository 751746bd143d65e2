"""The serial scanner (tui/scanner.py): its setting, how bytes become codes, and the reader
against a pseudo-terminal pair standing in for the scanner (the test writes the master side,
the reader opens the slave like /dev/ttyACM0)."""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import pytest

from models.errors import KakouError
from tui.scanner import (
    DEFAULT_SILENCE_MS,
    CodeSplitter,
    ScannerSetting,
    decode_code,
    parse_scanner_setting,
    read_scanner,
)
from tui.settings import load_settings

TOKEN = "88" + "0123456789" * 28  # a pass is ~280 digits


# -- the setting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, setting",
    [
        ("", None),
        ("keyboard", None),
        ("serial:/dev/ttyACM0", ScannerSetting("/dev/ttyACM0", 9600)),
        ("serial:/dev/ttyACM0?baud=9600", ScannerSetting("/dev/ttyACM0", 9600)),
        (
            "serial:/dev/serial/by-id/usb-scanner-if00?baud=115200",
            ScannerSetting("/dev/serial/by-id/usb-scanner-if00", 115200),
        ),
        ("serial:/dev/ttyUSB0?baud=9600&silence_ms=50", ScannerSetting("/dev/ttyUSB0", 9600, 50)),
    ],
)
def test_scanner_setting_read(text, setting):
    assert parse_scanner_setting(text) == setting


@pytest.mark.parametrize(
    "text",
    [
        "usb",
        "serial:ttyACM0",
        "serial:/dev/ttyACM0?baud=9601",
        "serial:/dev/ttyACM0?baud=fast",
        "serial:/dev/ttyACM0?speed=9600",
        "serial:/dev/ttyACM0?silence_ms=5",
        "serial:/dev/ttyACM0?baud",
    ],
)
def test_a_wrong_scanner_setting_is_refused_in_words(text):
    with pytest.raises(KakouError) as info:
        parse_scanner_setting(text)
    assert "扫码枪设置" in info.value.zh and "serial:/dev/ttyACM0?baud=9600" in info.value.zh
    assert "scanner setting" in info.value.en


def test_the_setting_in_the_settings_file(tmp_path):
    (tmp_path / "kiosk-settings.toml").write_text('scanner = "serial:/dev/ttyACM0?baud=9600"\n', encoding="utf-8")
    assert load_settings(tmp_path).scanner == "serial:/dev/ttyACM0?baud=9600"
    (tmp_path / "kiosk-settings.toml").write_text('scanner = "serial:ttyACM0"\n', encoding="utf-8")
    settings = load_settings(tmp_path)
    assert settings.scanner == "" and "scanner=" in settings.error  # a bad value is said, not used


# -- bytes to codes -----------------------------------------------------------------------------


def test_a_code_ends_at_cr_lf_or_crlf_and_crlf_is_one_end():
    s = CodeSplitter()
    assert s.feed(b"111\r222\n333\r\n444\r\n\r\n", 0.0) == ["111", "222", "333", "444"]


def test_a_code_cut_into_pieces_is_one_code():
    s = CodeSplitter()
    assert s.feed(TOKEN[:100].encode(), 0.0) == []
    assert s.feed(TOKEN[100:250].encode(), 0.001) == []
    assert s.quiet(0.002) is None  # no silence yet: more is coming
    assert s.feed(TOKEN[250:].encode() + b"\r", 0.003) == [TOKEN]


def test_a_code_without_suffix_ends_after_a_short_silence():
    s = CodeSplitter(DEFAULT_SILENCE_MS)
    s.feed(b"3-2-501", 10.0)
    assert s.quiet(10.0 + DEFAULT_SILENCE_MS / 2000) is None
    assert s.quiet(10.0 + DEFAULT_SILENCE_MS / 1000) == "3-2-501"
    assert s.quiet(20.0) is None  # taken once


def test_chinese_in_utf8_or_gbk_reads_as_text():
    assert decode_code("张三".encode()) == "张三"
    assert decode_code("张三".encode("gbk")) == "张三"
    assert "\ufffd" in decode_code(b"\xff\xfe\x81")  # neither: replaced, never an error


# -- the reader on a pty pair -------------------------------------------------------------------


class FakeScanner:
    """A pty pair: the reader opens `path` (a symlink, as /dev/serial/by-id/ names are), the test
    writes what the scanner sends. `unplug` makes the port vanish, `plug` brings it back."""

    def __init__(self, tmp_path: Path):
        self.path = tmp_path / "ttyScanner"
        self.master = self.slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        self.path.unlink(missing_ok=True)
        self.path.symlink_to(os.ttyname(self.slave))

    def unplug(self) -> None:
        self.path.unlink()
        os.close(self.master)
        os.close(self.slave)
        self.master = self.slave = -1

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.master >= 0:
            self.unplug()


@pytest.fixture
def scanner(tmp_path):
    fake = FakeScanner(tmp_path)
    codes: queue.Queue[str] = queue.Queue()
    states: queue.Queue[str] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(
        target=read_scanner, args=(ScannerSetting(str(fake.path)), codes.put, states.put, stop), daemon=True
    )
    thread.start()
    assert states.get(timeout=5) == "ok"
    yield fake, codes, states
    stop.set()
    thread.join(timeout=5)
    fake.close()
    assert not thread.is_alive()


def test_a_code_in_one_write(scanner):
    fake, codes, _ = scanner
    fake.send(TOKEN.encode() + b"\r\n")
    assert codes.get(timeout=5) == TOKEN
    assert codes.empty()


def test_a_code_in_several_writes(scanner):
    fake, codes, _ = scanner
    for i in range(0, len(TOKEN), 64):  # USB CDC packets
        fake.send(TOKEN[i : i + 64].encode())
        time.sleep(0.005)
    fake.send(b"\r")
    assert codes.get(timeout=5) == TOKEN
    time.sleep(0.2)
    assert codes.empty()


def test_two_codes_back_to_back(scanner):
    fake, codes, _ = scanner
    fake.send(TOKEN.encode() + b"\r" + b"3-2-501\r")
    assert [codes.get(timeout=5), codes.get(timeout=5)] == [TOKEN, "3-2-501"]


def test_a_code_without_suffix(scanner):
    fake, codes, _ = scanner
    fake.send(b"13812345678")
    assert codes.get(timeout=5) == "13812345678"


def test_the_port_vanishing_and_coming_back(scanner):
    fake, codes, states = scanner
    fake.unplug()
    assert states.get(timeout=5) == "gone"
    time.sleep(0.3)
    assert states.empty()  # said once, not on every try
    fake.plug()
    assert states.get(timeout=5) == "ok"
    fake.send(TOKEN.encode() + b"\r")
    assert codes.get(timeout=5) == TOKEN
