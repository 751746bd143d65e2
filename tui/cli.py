"""The `kakou` command.

Start-up matters (`kakou --help` under 0.3 s on a kiosk): this module and the command modules
import only argparse at the top; each handler imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

COMMAND_MODULES = (
    "tui.commands.kiosk",
    "tui.commands.passes",
    "tui.commands.report",
    "tui.commands.sync",
    "sync.office.cli",  # the office's commands live with the office
    "tui.commands.privacy",
    "tui.commands.volunteers",
)

EXIT_OK, EXIT_DENY, EXIT_ERROR, EXIT_REFER = 0, 1, 2, 3


def data_dir_parent() -> argparse.ArgumentParser:
    """`--data-dir`, shared by every kiosk-side subcommand."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="kiosk data directory (default: $KAKOU_DATA_DIR, else the platform's user data dir)",
    )
    return parent


def resolve_data_dir(value: Path | None) -> Path:
    if value is not None:
        return value.expanduser()
    from models.store import default_data_dir

    return default_data_dir()


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="kakou",
        description="卡口值守台 kakou: the duty desk of a community checkpoint.",
        epilog="Try: kakou demo   (seeds a demo checkpoint and opens the duty desk)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = data_dir_parent()
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # an area not built yet
            raise
        module.register(sub, common)
    return parser


def log_dir_of(args: argparse.Namespace) -> Path:
    """Where this command's log goes: the data dir it works on (`--data-dir`, else the default
    one), or the office dir given to `kakou office ...`."""
    for name in ("data_dir", "office_dir"):
        value = getattr(args, name, None)
        if value is not None:
            return Path(value).expanduser()
    try:
        return resolve_data_dir(None)
    except Exception:  # pragma: no cover - platformdirs failing is not worth a second traceback
        return Path.home()


def _db_of(args: argparse.Namespace) -> Path | None:
    from models.store import DB_FILE

    data_dir = getattr(args, "data_dir", None)
    try:
        return resolve_data_dir(data_dir) / DB_FILE
    except Exception:  # pragma: no cover - only for the words
        return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    import logging

    from tui import logs

    log = logging.getLogger("kakou." + __name__)
    log_file = logs.configure(log_dir_of(args))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("已中断 / interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `kakou report | head`: the reader left; stop quietly like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # one clear line, never a traceback
        from models.engine import as_damage
        from models.errors import KakouError

        damage = None if isinstance(exc, KakouError) else as_damage(exc, _db_of(args))
        if damage is not None:
            # Out of the database where nothing put it into words (a damaged schema or text).
            log.error("kakou %s: the database is damaged", args.command, exc_info=exc)
            print(str(damage), file=sys.stderr)
            return EXIT_ERROR
        logs.shown_error(log, exc, f"kakou {args.command}")
        if isinstance(exc, KakouError):
            print(str(exc), file=sys.stderr)
            return EXIT_ERROR
        where = f" (details: {log_file})" if log_file.exists() else ""
        print(f"内部错误，请联系管理员 / internal error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
