"""`kakou purge`: delete personal data that is no longer needed (supervisor only)."""

from __future__ import annotations

import sys

CONFIRM_WORDS = ("清除全部", "PURGE ALL")


def register(sub, common) -> None:
    p = sub.add_parser(
        "purge",
        parents=[common],
        help="delete personal data of synced records (supervisor PIN)",
        description="Deletes names, masked numbers, look-up hashes and sealed copies of records the "
        "office has confirmed, older than the policy's retention_days. Records not yet "
        "synced are never purged. Counts in reports stay.",
    )
    p.add_argument(
        "--all", action="store_true", help="end of the emergency: purge every synced record, whatever its age"
    )
    p.add_argument("--pin-stdin", action="store_true", help="read the supervisor PIN (and confirmation) from stdin")
    p.set_defaults(func=run_purge)


def _confirmation() -> str:
    """The confirmation line: typed at the terminal, or the next line of standard input (after the
    PIN's). Nothing there (an empty or closed standard input) is no confirmation."""
    if sys.stdin is None:
        return ""
    if sys.stdin.isatty():
        try:
            return input("> ").strip()
        except EOFError:
            return ""
    return sys.stdin.readline().strip()


def run_purge(args) -> int:
    from models.retention import purge
    from tui.commands.auth import require_supervisor
    from tui.commands.passes import open_existing_store

    store = open_existing_store(args)
    # The PIN as every supervisor command reads it: the terminal, or the first line of a pipe
    # (--pin-stdin is kept for the scripts that pass it; a pipe is read either way).
    volunteer = require_supervisor(store, "purge")
    if args.all:
        print(
            f"将清除所有已上报记录中的个人信息。请输入「{CONFIRM_WORDS[0]}」确认 / "
            f"This purges personal data of ALL synced records. Type {CONFIRM_WORDS[1]!r} to confirm:",
            flush=True,
        )
        if _confirmation() not in CONFIRM_WORDS:
            print("未确认，没有清除任何数据 / not confirmed, nothing purged", file=sys.stderr)
            return 1
    result = purge(store, everything=args.all, volunteer_id=volunteer.id)
    print(
        f"已清除 purged: 登记 registrations {result.registrations}, 通行证 passes {result.passes}, "
        f"待上报记录 {result.kept_unsynced} 条未动 / {result.kept_unsynced} unsynced records kept"
    )
    return 0
