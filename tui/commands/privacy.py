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


def _ask(prompt: str, secret: bool, from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.strip()
    if secret:
        import getpass

        return getpass.getpass(prompt)
    return input(prompt)


def run_purge(args) -> int:
    from models.errors import KakouError
    from models.retention import purge
    from models.volunteers import login
    from tui.commands.passes import open_existing_store

    store = open_existing_store(args)
    volunteer = login(store, _ask("管理员 PIN / supervisor PIN: ", True, args.pin_stdin))
    if not volunteer.is_supervisor:
        raise KakouError("清除个人信息需要管理员 PIN", "purging personal data needs a supervisor PIN", code="role")
    if args.all:
        print(
            f"将清除所有已上报记录中的个人信息。请输入「{CONFIRM_WORDS[0]}」确认 / "
            f"This purges personal data of ALL synced records. Type {CONFIRM_WORDS[1]!r} to confirm:"
        )
        if _ask("> ", False, args.pin_stdin) not in CONFIRM_WORDS:
            print("未确认，没有清除任何数据 / not confirmed, nothing purged", file=sys.stderr)
            return 1
    result = purge(store, everything=args.all, volunteer_id=volunteer.id)
    print(
        f"已清除 purged: 登记 registrations {result.registrations}, 通行证 passes {result.passes}, "
        f"待上报记录 {result.kept_unsynced} 条未动 / {result.kept_unsynced} unsynced records kept"
    )
    return 0
