"""`kakou office user add|list|disable|password`: the console's accounts (sync/office/users.py).

Registered by `sync.office.cli.register`. A password is read from the terminal (asked twice,
never echoed) or, when standard input is not a terminal, from its first line, so a script can
pipe one in; it is never an argument (it would sit in the shell's history and in `ps`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def register(osub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser) -> None:
    u = osub.add_parser("user", help="the console's accounts (street / community / viewer)")
    usub = u.add_subparsers(dest="user_action", metavar="add|list|disable|password")
    u.set_defaults(func=lambda args: _usage(u))

    add = usub.add_parser(
        "add",
        parents=[parent],
        help="make a console account (password from the terminal, or the first line of standard input)",
    )
    add.add_argument("name", help="the account's name, e.g. 张敏")
    add.add_argument(
        "--role",
        required=True,
        choices=("street", "community", "viewer"),
        help="street: sees and changes everything; community: only its community; viewer: reads only",
    )
    add.add_argument("--community", default=None, help="the community of a community account")
    add.set_defaults(func=run_user_add)

    ls = usub.add_parser("list", parents=[parent], help="the accounts (never their passwords)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_user_list)

    dis = usub.add_parser("disable", parents=[parent], help="an account can no longer log in; its sessions end")
    dis.add_argument("name")
    dis.set_defaults(func=run_user_disable)

    pw = usub.add_parser("password", parents=[parent], help="set a new password; its open sessions end")
    pw.add_argument("name")
    pw.set_defaults(func=run_user_password)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def read_password(name: str) -> str:
    """The password, from the terminal (twice) or the first line of standard input."""
    from models.errors import KakouError
    from sync.office.users import check_password

    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return check_password(line.rstrip("\r\n"))
    import getpass

    first = getpass.getpass(f"{name} 的密码 password: ")
    check_password(first)
    if getpass.getpass("再输一次 again: ") != first:
        raise KakouError("两次输入的密码不一样", "the two passwords differ", code="usage")
    return first


def run_user_add(args: argparse.Namespace) -> int:
    from sync.office.cli import open_office
    from sync.office.users import ROLE_WORDS, add_user, normalise_name

    engine = open_office(args)
    name = normalise_name(args.name)
    account = add_user(engine, name, args.role, read_password(name), community=args.community)
    zh, en = ROLE_WORDS[account.role]
    where = f" {account.community}" if account.community else ""
    print(f"已添加账号 account added: {account.name}  ({zh} {en}{where})")
    return 0


def run_user_list(args: argparse.Namespace) -> int:
    import json
    import time

    from sync.office.cli import open_office
    from sync.office.users import ROLE_WORDS, list_users

    rows = list_users(open_office(args))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("还没有账号 / no accounts yet: kakou office user add NAME --role street")
        return 0
    for r in rows:
        zh, en = ROLE_WORDS.get(r["role"], (r["role"], r["role"]))
        state = "在用 active" if r["disabled_at"] is None else "已停用 disabled"
        since = time.strftime("%Y-%m-%d", time.localtime(r["created_at"]))
        print(f"{r['name']}  {zh} {en}{' ' + r['community'] if r['community'] else ''}  {state}  (since {since})")
    return 0


def run_user_disable(args: argparse.Namespace) -> int:
    from sync.office.cli import open_office
    from sync.office.users import disable_user

    disable_user(open_office(args), args.name)
    print(f"已停用 disabled: {args.name.strip()} (已登录的也立即退出 / its sessions ended)")
    return 0


def run_user_password(args: argparse.Namespace) -> int:
    from sync.office.cli import open_office
    from sync.office.users import normalise_name, set_password

    name = normalise_name(args.name)
    set_password(open_office(args), name, read_password(name))
    print(f"已改密码 password set: {name} (旧的登录已失效 / its sessions ended)")
    return 0
