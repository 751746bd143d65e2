"""A QR scanner on a serial port (USB CDC / virtual COM): the `scanner` setting.

Most 2D scanners can present themselves as a serial port instead of a keyboard. Then a whole
code arrives in one go, with no keyboard layout, Caps Lock or IME in the way, and a 280-digit
pass does not take two seconds to type. The setting (kiosk-settings.toml, or $KAKOU_SCANNER,
which wins)::

    scanner = "serial:/dev/ttyACM0?baud=9600"       # baud: 9600 unless said; silence_ms: 80

The desk reads the port on a thread worker (`read_scanner`, started by tui/app.py). A code
ends at CR or LF (CR+LF is one end), or after `silence_ms` with no byte (scanners set to send
no suffix). Each code is posted as a `SerialScanned` message; the duty screen puts it on the
same queue as a code typed into the scan line, so it goes through exactly the same path. The
keyboard keeps working beside it.

A scanner that is unplugged (the port vanishes or stops answering) is a `ScannerState` message
("gone"): the status bar says so, and the port is opened again every RECONNECT_S until it is
back ("ok"). Use the stable name from /dev/serial/by-id/ when there is one: a scanner plugged
back in may come back as ttyACM1.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from textual.message import Message

from models.errors import KakouError

log = logging.getLogger("kakou." + __name__)

SCANNER_ENV = "KAKOU_SCANNER"
DEFAULT_BAUD = 9600
BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
# A scanner sends its code without a pause (at 9600 baud a byte is ~1 ms; over USB CDC the code
# comes in 64-byte packets); a pause this long means the code is over.
DEFAULT_SILENCE_MS = 80
POLL_S = 0.02  # how long one read waits for a byte (and how soon a stop is seen)
RECONNECT_S = 0.5  # how often a scanner that went away is looked for again
MAX_CODE_BYTES = 4096  # longer than any pass; a port spewing noise must not grow one code forever
_ENDS = frozenset(b"\r\n")


@dataclass(frozen=True)
class ScannerSetting:
    port: str
    baud: int = DEFAULT_BAUD
    silence_ms: int = DEFAULT_SILENCE_MS

    def __str__(self) -> str:
        return f"serial:{self.port}?baud={self.baud}"


def _bad(text: str, zh: str, en: str) -> KakouError:
    return KakouError(
        f"扫码枪设置 scanner = {text!r} 不对：{zh}。例如 serial:/dev/ttyACM0?baud=9600",
        f"the scanner setting {text!r} is wrong: {en}. For example serial:/dev/ttyACM0?baud=9600",
        code="scanner_setting",
    )


def parse_scanner_setting(text: str) -> ScannerSetting | None:
    """``serial:PORT?baud=N&silence_ms=M`` -> ScannerSetting; "" or "keyboard" -> None (the
    scanner types into the scan line). Anything else: KakouError with the words."""
    text = text.strip()
    if text in ("", "keyboard"):
        return None
    if not text.startswith("serial:"):
        raise _bad(text, "只支持 serial:端口", "only serial:PORT is known")
    port, _, query = text[len("serial:") :].partition("?")
    if not port.startswith("/"):
        raise _bad(text, "端口要写完整路径", "the port must be a full path")
    try:
        params = parse_qs(query, strict_parsing=bool(query), max_num_fields=4)
    except ValueError:
        raise _bad(text, "问号后面看不懂", "what follows '?' is not understood") from None
    unknown = set(params) - {"baud", "silence_ms"}
    if unknown:
        raise _bad(text, f"不认识 {', '.join(sorted(unknown))}", f"unknown {', '.join(sorted(unknown))}")
    baud, silence = DEFAULT_BAUD, DEFAULT_SILENCE_MS
    if "baud" in params:
        raw = params["baud"][-1]
        if not raw.isdigit() or int(raw) not in BAUDS:
            raise _bad(text, "波特率应为 9600、115200 等", "baud must be one of 9600, 115200 ...")
        baud = int(raw)
    if "silence_ms" in params:
        raw = params["silence_ms"][-1]
        if not raw.isdigit() or not 10 <= int(raw) <= 2000:
            raise _bad(text, "silence_ms 应为 10 到 2000", "silence_ms must be 10 to 2000")
        silence = int(raw)
    return ScannerSetting(port, baud, silence)


def decode_code(data: bytes) -> str:
    """A code's bytes as text: UTF-8, else GB 18030 (scanners made for China send GBK when
    they are not set to UTF-8); a byte that is neither becomes U+FFFD, never an error."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


class CodeSplitter:
    """Bytes from the port -> whole codes. A pure object (the clock is passed in), so every
    way a code can arrive is testable without a port."""

    def __init__(self, silence_ms: int = DEFAULT_SILENCE_MS) -> None:
        self.silence = silence_ms / 1000
        self._buf = bytearray()
        self._last = 0.0

    def feed(self, data: bytes, now: float) -> list[str]:
        """The codes `data` ends (a CR or LF after some bytes); the rest is kept for later."""
        codes = []
        for byte in data:
            if byte in _ENDS:
                if self._buf:  # CR+LF, or LF alone after a silence: one end, not an empty code
                    codes.append(self._take())
            else:
                self._buf.append(byte)
                if len(self._buf) >= MAX_CODE_BYTES:
                    codes.append(self._take())
        if data:
            self._last = now
        return codes

    def quiet(self, now: float) -> str | None:
        """The code so far, if nothing came for `silence` (a scanner without a suffix)."""
        if self._buf and now - self._last >= self.silence:
            return self._take()
        return None

    def _take(self) -> str:
        code = decode_code(bytes(self._buf))
        self._buf.clear()
        return code


class SerialScanned(Message):
    """One code from the serial scanner (posted from the reader thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ScannerState(Message):
    """The serial scanner is there ("ok") or went away ("gone")."""

    def __init__(self, state: str, port: str) -> None:
        super().__init__()
        self.state = state
        self.port = port


def read_scanner(
    setting: ScannerSetting,
    on_code: Callable[[str], object],
    on_state: Callable[[str], object],
    stop: threading.Event,
) -> None:
    """Read codes from the port until `stop` is set: `on_code(text)` for each code,
    `on_state("ok" | "gone")` when the scanner comes or goes. Runs on its own thread; never
    raises for a port that fails (it is opened again every RECONNECT_S)."""
    import serial

    state = ""

    def tell(new: str) -> None:
        nonlocal state
        if new != state:
            state = new
            log.info("scanner %s: %s", setting.port, new)
            on_state(new)

    while not stop.is_set():
        try:
            port = serial.Serial(setting.port, setting.baud, timeout=POLL_S)
        except (serial.SerialException, OSError, ValueError):
            tell("gone")
            stop.wait(RECONNECT_S)
            continue
        tell("ok")
        splitter = CodeSplitter(setting.silence_ms)
        try:
            while not stop.is_set():
                data = port.read(port.in_waiting or 1)
                now = time.monotonic()
                for code in splitter.feed(data, now):
                    on_code(code)
                last = splitter.quiet(now)
                if last is not None:
                    on_code(last)
        except (serial.SerialException, OSError) as exc:
            log.warning("scanner %s went away: %s", setting.port, exc)
            tell("gone")
        finally:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass
        stop.wait(RECONNECT_S)
