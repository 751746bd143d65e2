"""Where a pass is printed: `--print-to` targets and sending a rendered pass to one.

Targets::

    escpos-usb:VID:PID                     python-escpos (extra "printer"), USB
    escpos-serial:/dev/ttyUSB0?baud=115200 python-escpos, serial
    escpos-tcp:HOST[:9100]                 raw TCP (port 9100), plain socket
    escpos-file:PATH                       raw ESC/POS bytes to a file or a device such as /dev/usb/lp0
    cups:QUEUE[?raw]                       `lp` (a PDF; with ?raw the ESC/POS bytes, for raw queues)
    png:PATH / pdf:PATH                    image files

Every send has a deadline: a printer that is off, unplugged or out of paper must never hang
the kiosk. The pass is saved before printing, so a failure only ever means "reprint". A printer
that goes away in the middle of a pass (cable pulled, reset, reader gone) is an error in words,
never "printed": a raw TCP job ends by waiting for the printer to take all of it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tui.printing import PrintError

DEFAULT_TIMEOUT = 20.0
CHUNK = 4096
# A raw TCP printer that has acknowledged every byte and neither closed nor reset the line for
# this long is taken to have the whole job (some keep the connection open after a job).
TCP_SETTLE_S = 1.0
SCHEMES = ("escpos-usb", "escpos-serial", "escpos-tcp", "escpos-file", "cups", "png", "pdf")
FORMS = (
    "escpos-usb:VID:PID, escpos-serial:/dev/ttyUSB0?baud=115200, escpos-tcp:HOST:9100, "
    "escpos-file:PATH, cups:QUEUE, png:PATH, pdf:PATH"
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Target:
    scheme: str
    where: str  # path, host, queue or "VID:PID"
    options: dict = field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.where}"

    @property
    def is_file(self) -> bool:
        return self.scheme in ("png", "pdf")


def _bad_target(text: str, why_zh: str, why_en: str) -> PrintError:
    return PrintError(
        f"打印目标不对：{text}（{why_zh}）。可用：{FORMS}",
        f"printer target {text!r} not understood ({why_en}). Use one of: {FORMS}",
        code="target",
    )


# Spellings the kiosk settings file documents (tui/settings.py) mapped to the targets above.
_ALIASES = (
    ("tcp://", "escpos-tcp:"),
    ("file:", "escpos-file:"),
    ("usb:", "escpos-usb:"),
    ("serial:", "escpos-serial:"),
)


def parse_target(text: str) -> Target:
    text = (text or "").strip()
    for alias, scheme_prefix in _ALIASES:
        if text.lower().startswith(alias):
            text = scheme_prefix + text[len(alias) :]
            break
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise _bad_target(text, "不认识的种类", "unknown kind")
    rest, _, query = rest.partition("?")
    # Text from the query string, then numbers and flags where a scheme needs them.
    options: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if not rest:
        raise _bad_target(text, "缺少地址", "nothing after the colon")
    if scheme == "escpos-usb":
        parts = rest.split(":")
        try:
            vid, pid = (int(p, 16) for p in parts)
            if not (0 < vid <= 0xFFFF and 0 < pid <= 0xFFFF):
                raise ValueError
        except ValueError:
            raise _bad_target(
                text, "USB 要写成 厂商号:产品号，如 0416:5011", "USB needs VID:PID in hex, e.g. 0416:5011"
            ) from None
        options.update(vid=vid, pid=pid)
    elif scheme == "escpos-serial":
        try:
            options["baud"] = int(options.get("baud", 9600))
        except ValueError:
            raise _bad_target(text, "波特率要是数字", "baud must be a number") from None
    elif scheme == "escpos-tcp":
        host, _, port = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "9100")
        try:
            options.update(host=host or rest, port=int(port or 9100))
        except ValueError:
            raise _bad_target(text, "端口要是数字", "port must be a number") from None
    elif scheme == "cups" and "raw" in options:
        options["raw"] = True
    return Target(scheme, rest, options)


# --- python-escpos, loaded quietly ---------------------------------------------------------------

_escpos_lock = threading.Lock()


def load_escpos():
    """Import `escpos.printer` without its import-time side effects reaching a terminal UI.

    python-escpos 3.1 calls logging.basicConfig() at import (a stderr handler that would
    draw over the TUI), prints from some calls, and makes a temp dir per import unless
    ESCPOS_CAPABILITIES_PICKLE_DIR is set.
    """
    with _escpos_lock:
        pickle_dir = Path(tempfile.gettempdir()) / f"kakou-escpos-{os.getuid() if hasattr(os, 'getuid') else 0}"
        pickle_dir.mkdir(mode=0o700, exist_ok=True)
        os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(pickle_dir))
        logger = logging.getLogger("escpos")
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())  # keeps logging's last-resort stderr handler away
        original = logging.basicConfig
        logging.basicConfig = lambda *args, **kwargs: None
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                import escpos.printer as printers
        except ImportError:
            raise PrintError(
                "没有安装收据打印机组件。请运行：pip install 'kakou[printer]'，或改用 escpos-file:/dev/usb/lp0",
                "the receipt printer support is not installed. Run: pip install 'kakou[printer]', "
                "or use escpos-file:/dev/usb/lp0",
                code="no_escpos",
            ) from None
        finally:
            logging.basicConfig = original
    return printers


# --- sending -------------------------------------------------------------------------------------


def _run_with_deadline(work: Callable[[], None], timeout: float, target: Target) -> None:
    """Run `work` in a helper thread; give up after `timeout` seconds (a blocked device write
    cannot be interrupted, so the thread is left to finish or die on its own)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed back to the caller below
            failure.append(exc)

    helper = threading.Thread(target=run, name=f"print-{target.scheme}", daemon=True)
    helper.start()
    helper.join(timeout)
    if helper.is_alive():
        raise PrintError(
            f"打印机 {timeout:.0f} 秒没有响应（{target}）：请检查电源、连线和纸，然后重印",
            f"the printer did not respond within {timeout:.0f} s ({target}): check power, cable and paper, then reprint",
            code="timeout",
        )
    if failure:
        raise failure[0]


# errno values meaning the device or the connection went away under the job.
_GONE = {errno.ENODEV, errno.EIO, errno.ENXIO, errno.EPIPE, errno.ECONNRESET, errno.ECONNABORTED, errno.ESHUTDOWN}
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def _os_error(exc: Exception, target: Target, sent: int = 0) -> PrintError:
    """What a failed device or socket means for the person at the desk, and what to do.
    `exc` is an OSError or one that carries an errno like it (pyusb's USBError).
    `sent`: bytes the printer had already taken (part of a pass may have come out)."""
    where = target.where
    code = getattr(exc, "errno", None)
    if isinstance(exc, FileNotFoundError):
        zh, en = f"找不到打印机 {where}：没插好或路径不对", f"printer {where} not found: unplugged or wrong path"
    elif isinstance(exc, PermissionError):
        zh, en = (
            f"没有权限使用打印机 {where}：请让管理员把本账户加入 lp 组",
            f"no permission to use the printer {where}: ask an admin to add this account to the lp group",
        )
    elif isinstance(exc, (ConnectionRefusedError, socket.gaierror)) or code in _UNREACHABLE:
        zh, en = (
            f"连不上网络打印机 {where}：请检查地址、网线和打印机电源",
            (f"cannot reach the network printer {where}: check the address, network cable and printer power"),
        )
    elif isinstance(exc, (TimeoutError, socket.timeout)):
        zh, en = (
            f"打印机 {where} 没有响应：请检查电源和纸",
            f"the printer {where} does not answer: check power and paper",
        )
    elif code in _GONE and sent:
        zh, en = (
            f"打印到一半，打印机 {where} 断开了：请检查连线、电源和纸（撕掉打了一半的纸条）",
            f"the printer {where} went away in the middle of the pass: check the cable, power and paper "
            "(tear off the half-printed slip)",
        )
    elif code in _GONE:
        zh, en = (
            f"打印机 {where} 断开了或缺纸：请检查连线、电源和纸",
            (f"the printer {where} went away or is out of paper: check the cable, power and paper"),
        )
    elif code == errno.ENOSPC:
        zh, en = (
            f"磁盘已满，写不了 {where}：请清理空间或换打印目标",
            f"disk full, cannot write {where}: free some space or print elsewhere",
        )
    else:
        why = getattr(exc, "strerror", None) or exc
        zh, en = f"打印失败（{where}）：{why}", f"printing failed ({where}): {why}"
    return PrintError(zh + "，然后重印", en + ", then reprint", code="printer")


class _Sent:
    """Progress that also remembers how many bytes the printer took (for the words after a failure)."""

    def __init__(self, progress: Progress | None):
        self.bytes = 0
        self._progress = progress

    def __call__(self, done: int, total: int) -> None:
        self.bytes = done
        if self._progress:
            self._progress(done, total)


def _write_chunks(write: Callable[[bytes], object], job: bytes, progress: Progress | None) -> None:
    for start in range(0, len(job), CHUNK):
        write(job[start : start + CHUNK])
        if progress:
            progress(min(len(job), start + CHUNK), len(job))


def _send_file(target: Target, job: bytes, timeout: float, progress: Progress | None) -> None:
    deadline = time.monotonic() + timeout
    with open(target.where, "wb", buffering=0) as device:
        _write_chunks(device.write, job, progress)
        if stat.S_ISFIFO(os.fstat(device.fileno()).st_mode):
            _until_pipe_drained(device.fileno(), deadline)


def _until_pipe_drained(fd: int, deadline: float) -> None:
    """A FIFO holds 64 KB, more than a pass: the last write returns before the reader (a
    spooler, a print daemon) has read it. Wait until the pipe is empty, or raise EPIPE if the
    reader went away with part of the job unread (poll's POLLERR on the write end; FIONREAD
    counts what is still in the pipe). Linux; elsewhere returns at once."""
    import select

    try:
        import fcntl
        import struct
        import termios

        poller = select.poll()
        poller.register(fd, select.POLLERR)
    except (ImportError, AttributeError):
        return
    while True:
        if poller.poll(50):
            raise BrokenPipeError(errno.EPIPE, "the reader went away before reading the whole job")
        try:
            unread = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return
        if unread == 0:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(errno.ETIMEDOUT, "the reader stopped reading")


def _send_tcp(target: Target, job: bytes, timeout: float, progress: Progress | None) -> None:
    deadline = time.monotonic() + timeout
    with socket.create_connection((target.options["host"], target.options["port"]), timeout=timeout) as conn:
        _write_chunks(conn.sendall, job, progress)
        _until_printer_has_it(conn, deadline)


def _unacknowledged(conn: socket.socket) -> int | None:
    """Bytes sent that the printer's side has not acknowledged yet (Linux SIOCOUTQ, the same
    number as TIOCOUTQ); None where the system cannot say."""
    try:
        import fcntl
        import struct
        import termios

        return struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except (ImportError, AttributeError, OSError):
        return None


def _until_printer_has_it(conn: socket.socket, deadline: float) -> None:
    """After the last byte of a raw TCP job: return once the printer has it all, raise
    OSError if it closed or reset the line before taking it all.

    Written here because the socket module alone answers too early: a pass (30-60 KB) fits in
    the socket buffers, so sendall() returns before the printer has read a byte, and a printer
    that reads part of the job and then drops the line would look "printed". So, as CUPS's
    socket backend does (its waiteof option), the end of the job is said with a half-close and
    the printer's close is awaited: a close after all bytes were acknowledged is success; a
    reset, or a close with bytes still unacknowledged, is the printer gone mid-job. A printer
    that keeps the line open counts as done once every byte is acknowledged and it stayed
    quiet for TCP_SETTLE_S; one that stops taking bytes hits the deadline (TimeoutError).
    """
    conn.shutdown(socket.SHUT_WR)
    settled_since = None
    closed = False
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        if closed:
            time.sleep(min(0.05, deadline - now))
        else:
            conn.settimeout(min(0.1, deadline - now))
            try:
                closed = conn.recv(4096) == b""  # anything else: the printer's status bytes, not needed
            except TimeoutError:
                pass
        error = conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, os.strerror(error))
        unacknowledged = _unacknowledged(conn)
        if closed:
            if not unacknowledged:  # 0, or unknown: the printer closed after the job, as it should
                return
            continue  # closed early: its stack answers the rest with a reset, or the deadline comes
        if not unacknowledged:  # 0, or unknown (not Linux): the quiet wait still catches a reset
            settled_since = settled_since or time.monotonic()
            if time.monotonic() - settled_since >= TCP_SETTLE_S:
                return
        else:
            settled_since = None
    if closed:
        raise ConnectionResetError(errno.ECONNRESET, "closed before taking the whole job")
    raise TimeoutError(errno.ETIMEDOUT, "the printer stopped taking the job")


def _send_escpos_device(target: Target, job: bytes, timeout: float, progress: Progress | None) -> None:
    printers = load_escpos()
    from escpos import exceptions as escpos_errors

    kind = printers.Usb if target.scheme == "escpos-usb" else printers.Serial
    if not kind.is_usable():
        # Checked first: an unusable printer object also fails (noisily) when garbage-collected.
        library = "pyusb" if kind is printers.Usb else "pyserial"
        raise PrintError(
            f"没有安装 {library}，无法使用这台打印机。请运行：pip install 'kakou[printer]'",
            f"{library} is not installed, cannot use this printer. Run: pip install 'kakou[printer]'",
            code="no_escpos",
        )
    if target.scheme == "escpos-usb":
        # pyusb counts in milliseconds and 0 means wait forever: always give one.
        printer = printers.Usb(target.options["vid"], target.options["pid"], timeout=int(timeout * 1000))
    else:
        printer = printers.Serial(devfile=target.where, baudrate=target.options["baud"], timeout=timeout)
    try:
        printer.open(raise_not_found=True)
        _write_chunks(printer._raw, job, progress)
    except escpos_errors.Error as exc:
        detail = " ".join(str(exc).split())
        raise PrintError(
            f"找不到打印机 {target}：请检查电源和连线（{detail}），然后重印",
            f"printer {target} not found: check power and cable ({detail}), then reprint",
            code="printer",
        ) from None
    except Exception as exc:  # pyusb / pyserial raise their own error types
        if isinstance(exc, OSError) or getattr(exc, "errno", None) in _GONE:  # pyusb's USBError carries errno
            raise _os_error(exc, target, getattr(progress, "bytes", 0)) from None
        if type(exc).__name__ == "NoBackendError":
            raise PrintError(
                "系统缺少 USB 驱动库。请安装：sudo apt-get install libusb-1.0-0，然后重印",
                "the USB library is missing. Install it: sudo apt-get install libusb-1.0-0, then reprint",
                code="no_libusb",
            ) from None
        detail = " ".join(str(exc).split())
        raise PrintError(
            f"打印失败（{target}）：{detail}，然后重印",
            f"printing failed ({target}): {detail}, then reprint",
            code="printer",
        ) from None
    finally:
        with contextlib.suppress(Exception):
            printer.close()


def _send_cups(target: Target, image, job: bytes, timeout: float) -> None:
    lp = shutil.which("lp")
    if not lp:
        raise PrintError(
            "没有 lp 命令，无法用 CUPS 打印。请安装 cups-client，或改用 escpos-usb / escpos-file",
            "no lp command, cannot print through CUPS. Install cups-client, or use escpos-usb / escpos-file",
            code="no_lp",
        )
    with tempfile.TemporaryDirectory(prefix="kakou-print-") as tmp:
        if target.options.get("raw"):
            path = Path(tmp) / "pass.bin"
            path.write_bytes(job)
            command = [lp, "-d", target.where, "-o", "raw", str(path)]
        else:
            from tui.printing.render import PRINTER_DPI, with_paper_margin

            path = Path(tmp) / "pass.pdf"
            with_paper_margin(image).save(path, "PDF", resolution=PRINTER_DPI)
            command = [lp, "-d", target.where, "-t", "kakou pass", str(path)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise PrintError(
                f"CUPS 打印队列 {target.where} 没有响应", f"CUPS queue {target.where} did not answer", code="timeout"
            ) from None
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip() or f"exit {done.returncode}"
            raise PrintError(
                f"CUPS 打印失败（{target.where}）：{why}。请检查打印队列后重印",
                f"CUPS printing failed ({target.where}): {why}. Check the queue, then reprint",
                code="printer",
            )


def send_image(target: Target | str, image, timeout: float = DEFAULT_TIMEOUT, progress: Progress | None = None) -> str:
    """Send a rendered pass (1-bit image, printable width) to `target`. Returns what was done.

    Raises PrintError with words for the user; never hangs longer than `timeout`.
    """
    from tui.printing.escpos import raster_bytes
    from tui.printing.render import PRINTER_DPI, with_paper_margin

    target = parse_target(target) if isinstance(target, str) else target
    sent = None
    try:
        if target.is_file:
            out = with_paper_margin(image)
            Path(target.where).expanduser().parent.mkdir(parents=True, exist_ok=True)
            if target.scheme == "png":
                out.save(Path(target.where).expanduser(), "PNG", dpi=(PRINTER_DPI, PRINTER_DPI))
            else:
                out.save(Path(target.where).expanduser(), "PDF", resolution=PRINTER_DPI)
            if progress:
                progress(1, 1)
            return f"已保存 saved {target.where}"
        job = raster_bytes(image)
        progress = sent = _Sent(progress)
        if target.scheme == "escpos-file":
            _run_with_deadline(lambda: _send_file(target, job, timeout, progress), timeout, target)
        elif target.scheme == "escpos-tcp":
            _run_with_deadline(lambda: _send_tcp(target, job, timeout, progress), timeout + 1, target)
        elif target.scheme in ("escpos-usb", "escpos-serial"):
            _run_with_deadline(lambda: _send_escpos_device(target, job, timeout, progress), timeout + 1, target)
        elif target.scheme == "cups":
            _send_cups(target, image, job, timeout)
            if progress:
                progress(1, 1)
        return f"已打印 printed to {target}"
    except OSError as exc:
        raise _os_error(exc, target, sent.bytes if sent else 0) from None
