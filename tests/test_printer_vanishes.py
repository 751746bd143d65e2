"""A printer that goes away in the middle of a pass: a raw TCP printer that reads part of the
job and then closes or resets the line, a device whose reader goes away (EPIPE) or whose line
drops (EIO). Each gives words saying what happened and what to do, never a traceback and never
"printed"; the pass stays issued in the store, and a reprint works once the printer is back.
(tests/test_printing.py has the printer that never reads and the unplugged device file.)"""

from __future__ import annotations

import os
import queue
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from models.passes import find_pass, issue_pass, list_passes
from models.passtoken import PassKind
from tests.qr import qr_texts
from tui.printing import PrintError, print_pass
from tui.printing.escpos import raster_image
from tui.printing.render import PassPrint


def zxing_texts(image) -> list[str]:
    return qr_texts(image)  # tests/qr.py: QR codes only


def issue(store, unit: str = "3-2-501"):
    issued = issue_pass(store, PassKind.RESIDENT, unit, name="王喆")
    return issued, PassPrint.from_body(issued.body, issued.token, header="幸福里社区")


def assert_vanished_words(err: PrintError, where: str) -> None:
    """Words, in both languages: what happened (mid-pass), what to check, reprint."""
    assert err.code == "printer"
    assert "打印到一半" in err.zh and where in err.zh
    assert "连线" in err.zh and "纸" in err.zh and err.zh.endswith("重印")
    assert "middle of the pass" in err.en and "cable" in err.en and "paper" in err.en
    assert err.en.endswith("reprint")
    assert "Traceback" not in str(err) and "Errno" not in str(err)


class FakeNetworkPrinter:
    """A raw port-9100 printer on loopback. Each connection takes the next behaviour:
    "vanish" reads `part` bytes then closes with the rest unread (the kernel answers with a
    reset), "reset" reads `part` bytes then aborts (SO_LINGER 0), "print" reads the whole job
    and closes, "keep_open" reads the whole job and keeps the line open."""

    def __init__(self, part: int = 1000):
        self.part = part
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.behaviours: queue.Queue[str] = queue.Queue()
        self.jobs: list[bytes] = []  # what "print" / "keep_open" connections received
        self.partial: list[int] = []  # bytes read by "vanish" / "reset" connections
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"escpos-tcp:127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            behaviour = self.behaviours.get_nowait() if not self.behaviours.empty() else "print"
            self._handle(conn, behaviour)

    def _handle(self, conn: socket.socket, behaviour: str) -> None:
        conn.settimeout(10)
        if behaviour in ("vanish", "reset"):
            got = b""
            while len(got) < self.part:
                got += conn.recv(self.part - len(got))
            self.partial.append(len(got))
            if behaviour == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        job = bytearray()
        while chunk := conn.recv(65536):
            job.extend(chunk)
        self.jobs.append(bytes(job))
        if behaviour == "keep_open":
            time.sleep(3)  # longer than the kiosk waits for a quiet line
        conn.close()

    def close(self) -> None:
        self._stop.set()
        self.server.close()
        self._thread.join(5)


@pytest.fixture
def printer():
    fake = FakeNetworkPrinter()
    yield fake
    fake.close()


class TestRawTcpPrinterVanishes:
    @pytest.mark.parametrize("behaviour", ["vanish", "reset"])
    def test_a_printer_that_reads_part_then_drops_the_line_is_an_error_in_words(self, store, printer, behaviour):
        issued, info = issue(store)
        printer.behaviours.put(behaviour)
        with pytest.raises(PrintError) as err:
            print_pass(info, printer.target, timeout=5)
        assert printer.partial == [printer.part]  # it did take part of the job
        assert_vanished_words(err.value, f"127.0.0.1:{printer.port}")
        # The pass stays issued; once the printer is back, a reprint gives a slip that scans.
        assert find_pass(store, issued.pass_id).token == issued.token
        assert print_pass(info, printer.target, timeout=5).startswith("已打印")
        assert zxing_texts(raster_image(printer.jobs[-1])) == [issued.token]

    def test_a_printer_that_keeps_the_line_open_after_the_job_still_counts_as_printed(self, store, printer):
        issued, info = issue(store)
        printer.behaviours.put("keep_open")
        started = time.monotonic()
        print_pass(info, printer.target, timeout=10)
        assert time.monotonic() - started < 10  # did not wait for the deadline
        assert zxing_texts(raster_image(printer.jobs[-1])) == [issued.token]

    def test_the_command_line_says_it_in_words_and_how_to_reprint(self, store, printer):
        issued, _ = issue(store)
        printer.behaviours.put("vanish")
        store.engine.dispose()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tui.cli",
                "pass",
                "print",
                issued.pass_id,
                "--print-to",
                printer.target,
                "--data-dir",
                str(store.data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert "打印到一半" in done.stderr and "middle of the pass" in done.stderr
        assert "kakou pass print" in done.stderr  # how to reprint
        assert [p.pass_id for p in list_passes(store, "3-2-501")] == [issued.pass_id]


def _fifo_reader(path, part: int, pipe_size: int | None, got: list[int]) -> threading.Thread:
    """A reader (a print spooler, a device driver) that reads `part` bytes of the job and goes
    away. The FIFO is opened here, before the job starts, so its buffer can be set first."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # does not wait for a writer
    if pipe_size:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, pipe_size)  # a device with a small buffer

    def run() -> None:
        try:
            data = b""
            deadline = time.monotonic() + 10
            while len(data) < part and time.monotonic() < deadline:
                try:
                    chunk = os.read(fd, part - len(data))
                except BlockingIOError:
                    chunk = b""
                if not chunk:
                    time.sleep(0.01)  # no writer yet, or nothing written yet
                data += chunk
            got.append(len(data))
        finally:
            os.close(fd)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FIFOs and ptys as printer devices: Linux")
class TestDeviceFileVanishes:
    @pytest.mark.parametrize("pipe_size", [4096, None], ids=["small-buffer", "default-64k-buffer"])
    def test_a_reader_that_goes_away_mid_job_is_an_error_in_words(self, store, tmp_path, pipe_size):
        # With a small buffer the write itself fails (EPIPE); with the default 64 KB the whole
        # pass fits in the pipe, and the kiosk waits for it to be read before saying "printed".
        issued, info = issue(store)
        fifo = tmp_path / "lp0"
        os.mkfifo(fifo)
        got: list[int] = []
        reader = _fifo_reader(fifo, 1000, pipe_size, got)
        with pytest.raises(PrintError) as err:
            print_pass(info, f"escpos-file:{fifo}", timeout=5)
        reader.join(5)
        assert got == [1000]
        assert_vanished_words(err.value, str(fifo))
        assert find_pass(store, issued.pass_id).token == issued.token
        # Reprint to the printer once it is back (here: a plain file standing in for it).
        out = tmp_path / "lp1"
        print_pass(info, f"escpos-file:{out}", timeout=5)
        assert zxing_texts(raster_image(out.read_bytes())) == [issued.token]

    def test_a_reader_that_reads_it_all_is_printed(self, store, tmp_path):
        issued, info = issue(store)
        fifo = tmp_path / "lp0"
        os.mkfifo(fifo)
        job = bytearray()

        def read_all() -> None:
            with open(fifo, "rb") as f:
                while chunk := f.read(65536):
                    job.extend(chunk)

        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        print_pass(info, f"escpos-file:{fifo}", timeout=5)
        reader.join(5)
        assert zxing_texts(raster_image(bytes(job))) == [issued.token]

    def test_a_serial_line_that_drops_mid_job_is_an_error_in_words(self, store, tmp_path):
        # A pty stands in for a USB-serial printer: once its other end is gone, writes fail
        # with EIO, as /dev/ttyUSB0 does when the printer is switched off or unplugged.
        import tty

        issued, info = issue(store)
        master, slave = os.openpty()
        tty.setraw(slave)
        path = os.ttyname(slave)  # kept open until the end: reading the master needs a slave open
        got: list[int] = []

        def read_part_and_hang_up() -> None:
            data = b""
            while len(data) < 1000:
                data += os.read(master, 1000 - len(data))
            got.append(len(data))
            os.close(master)

        reader = threading.Thread(target=read_part_and_hang_up, daemon=True)
        reader.start()
        try:
            with pytest.raises(PrintError) as err:
                print_pass(info, f"escpos-file:{path}", timeout=5)
            reader.join(5)
        finally:
            os.close(slave)
        assert got == [1000]
        assert_vanished_words(err.value, path)
        assert find_pass(store, issued.pass_id).token == issued.token


class TestAtTheDesk:
    async def test_issue_pass_screen_says_the_printer_went_away_and_f5_reprints_once_it_is_back(
        self, demo_dir, printer, monkeypatch
    ):
        """F7 on the duty screen, supervisor PIN, the form; the printer drops the line mid-pass."""
        from textual.widgets import Input

        from tests.tui.conftest import db_rows, log_in, on_screen, screen_text, type_keys, wait_for
        from tui.app import DutyApp
        from tui.settings import KioskSettings

        monkeypatch.setattr(Input, "cursor_blink", False)
        before = db_rows(demo_dir, "SELECT count(*) FROM pass_issued")[0][0]
        printer.behaviours.put("vanish")
        app = DutyApp(demo_dir, lang="zh", settings=KioskSettings(printer=printer.target))
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("f7")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await type_keys(pilot, "888888\r")
            await wait_for(pilot, on_screen(pilot, "IssuePassScreen"))
            screen = app.screen
            # kind 1 (resident), unit; name, days (filled in for the kind), plate, hours as they are
            for field, value in (
                ("kind", "1"),
                ("unit", "3-2-501"),
                ("name", None),
                ("days", None),
                ("plate", None),
                ("hours", None),
            ):
                box = screen.query_one(f"#input-{field}", Input)
                if value is not None:
                    box.value = value
                box.focus()
                await pilot.pause()
                await pilot.press("enter")
            await wait_for(pilot, lambda: "打印到一半" in screen_text(app), timeout=20)
            text = screen_text(app)
            assert "F5" in text and "通行证已保存" in text and "Traceback" not in text
            assert printer.partial == [printer.part] and not screen.printed
            # Issued and kept, although nothing came out whole.
            rows = db_rows(demo_dir, "SELECT pass_id, token FROM pass_issued ORDER BY issued_at")
            assert len(rows) == before + 1
            pass_id, token = rows[-1]
            assert screen.issued.pass_id == pass_id

            # The printer is back (the next connection reads the whole job): F5 reprints.
            await pilot.press("f5")
            await wait_for(pilot, lambda: screen.printed, timeout=20)
            assert "已打印" in screen_text(app)
            assert zxing_texts(raster_image(printer.jobs[-1])) == [token]
            await pilot.press("escape")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
        assert db_rows(demo_dir, "SELECT count(*) FROM pass_issued")[0][0] == before + 1  # one pass, printed twice
