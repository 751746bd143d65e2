"""The kiosk's own settings: `kiosk-settings.toml` in the data directory.

These are the site's choices about the desk itself (language, screen lock, how names show,
the printer, key remaps). The office's rules (fever threshold, recheck minutes...) are
policy and live in the database, not here.

Example file::

    lang = "zh"                 # "zh" or "en"
    idle_lock_minutes = 10      # 0: never lock by itself
    name_display = "policy"     # "policy" (the office decides), "masked" or "full"
    printer = ""                # e.g. "usb", "tcp://192.168.1.50:9100", "file:/tmp/passes"
    paper = "58"                # receipt paper width in mm: "58" or "80"
    scanner = ""                # "" : the scanner types (keyboard); "serial:/dev/ttyACM0?baud=9600"
                                #      (a serial QR scanner; $KAKOU_SCANNER wins, see tui/scanner.py)

    [keys]                      # binding id = key(s), e.g. a keyboard without F12
    lock = "f11"

A damaged file never stops the desk: the defaults are used and the error is shown once.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from models.files import private_dir, write_private

SETTINGS_FILE = "kiosk-settings.toml"
NAME_DISPLAYS = ("policy", "masked", "full")
PAPER_WIDTHS = ("58", "80")


@dataclass
class KioskSettings:
    lang: str = "zh"
    idle_lock_minutes: float = 10
    name_display: str = "policy"
    printer: str = ""
    paper: str = "58"
    scanner: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    error: str = ""  # why the file was not (fully) used; shown once, never saved

    def show_full_name(self, policy_full: bool) -> bool:
        if self.name_display == "full":
            return True
        if self.name_display == "masked":
            return False
        return policy_full


def load_settings(data_dir: Path) -> KioskSettings:
    path = Path(data_dir) / SETTINGS_FILE
    settings = KioskSettings()
    if not path.exists():
        return settings
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        settings.error = f"{path.name}: {exc}"
        return settings
    problems = []
    lang = raw.get("lang", settings.lang)
    if lang in ("zh", "en"):
        settings.lang = lang
    else:
        problems.append(f"lang={lang!r}")
    minutes = raw.get("idle_lock_minutes", settings.idle_lock_minutes)
    if isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and 0 <= minutes <= 24 * 60:
        settings.idle_lock_minutes = minutes
    else:
        problems.append(f"idle_lock_minutes={minutes!r}")
    display = raw.get("name_display", settings.name_display)
    if display in NAME_DISPLAYS:
        settings.name_display = display
    else:
        problems.append(f"name_display={display!r}")
    printer = raw.get("printer", "")
    if isinstance(printer, str):
        settings.printer = printer
    else:
        problems.append("printer")
    paper = str(raw.get("paper", settings.paper))
    if paper in PAPER_WIDTHS:
        settings.paper = paper
    else:
        problems.append(f"paper={paper!r}")
    scanner = raw.get("scanner", "")
    try:
        if not isinstance(scanner, str):
            raise ValueError(scanner)
        from tui.scanner import parse_scanner_setting

        parse_scanner_setting(scanner)
        settings.scanner = scanner
    except Exception:
        problems.append(f"scanner={scanner!r}")
    keys = raw.get("keys", {})
    if isinstance(keys, dict):
        settings.keys = {str(k): str(v) for k, v in keys.items() if isinstance(v, str) and v.strip()}
    else:
        problems.append("[keys]")
    if problems:
        settings.error = f"{path.name}: " + ", ".join(problems)
    return settings


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def save_settings(data_dir: Path, settings: KioskSettings) -> Path:
    """Write the file (atomically: a power cut leaves the old or the new file, never half)."""
    path = Path(data_dir) / SETTINGS_FILE
    lines = []
    for f in fields(KioskSettings):
        if f.name in ("keys", "error"):
            continue
        value = getattr(settings, f.name)
        lines.append(f"{f.name} = {_toml_string(value) if isinstance(value, str) else value}")
    if settings.keys:
        lines.append("")
        lines.append("[keys]")
        for binding_id, keys in sorted(settings.keys.items()):
            lines.append(f"{binding_id} = {_toml_string(keys)}")
    private_dir(path.parent)
    return write_private(path, "\n".join(lines) + "\n")
