"""`kakou volunteer ...`: add volunteers, set their PINs, disable and enable them, list them.

Each change asks the supervisor's PIN first, then (add, pin) the new PIN twice: typed at the
terminal, or the first lines of standard input (`printf '888888\\n246810\\n246810\\n' | kakou
volunteer add 张三`). The rules (PIN length by role, one PIN per person, unique names, the
last supervisor) are the domain's: models/volunteers.py.
"""

from __future__ import annotations

import json
import sys

ROLE_WORDS = {"volunteer": "志愿者 volunteer", "supervisor": "管理员 supervisor"}


def register(sub, common) -> None:
    p = sub.add_parser("volunteer", help="add volunteers, set PINs, disable/enable (supervisor PIN)")
    vsub = p.add_subparsers(dest="volunteer_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    a = vsub.add_parser(
        "add",
        parents=[common],
        help="add a volunteer with their own PIN",
        description="Asks the supervisor's PIN, then the new PIN twice (at least 4 digits, 6 for a "
        "supervisor; never one someone else has).",
    )
    a.add_argument("name", help="the volunteer's name, as the desk shows it")
    a.add_argument("--role", choices=("volunteer", "supervisor"), default="volunteer", help="default: volunteer")
    a.set_defaults(func=run_add)

    pn = vsub.add_parser("pin", parents=[common], help="set a new PIN for a volunteer")
    pn.add_argument("name")
    pn.set_defaults(func=run_pin)

    d = vsub.add_parser("disable", parents=[common], help="stop a volunteer logging in (the last supervisor stays)")
    d.add_argument("name")
    d.set_defaults(func=run_disable)

    e = vsub.add_parser("enable", parents=[common], help="let a disabled volunteer log in again")
    e.add_argument("name")
    e.set_defaults(func=run_enable)

    ls = vsub.add_parser("list", parents=[common], help="the volunteers of this kiosk, disabled ones too")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)


def read_new_pin(role: str) -> str:
    """The new PIN, twice (terminal or the next two lines of standard input), checked for its role."""
    from models.errors import KakouError
    from models.volunteers import MAX_PIN, min_pin, validate_pin
    from tui.commands.auth import read_pin

    low = min_pin(role)
    first = read_pin(f"新 PIN（{low}-{MAX_PIN} 位数字）/ new PIN ({low}-{MAX_PIN} digits): ")
    if not first:
        raise KakouError("没有读到新 PIN", "no new PIN was given", code="no_pin")
    pin = validate_pin(first, role)
    again = read_pin("再输一次新 PIN / the new PIN again: ")
    if again.strip() != pin:
        raise KakouError(
            "两次输入的新 PIN 不一样，什么也没改", "the two new PINs differ: nothing changed", code="pin_mismatch"
        )
    return pin


def _store(args):
    from tui.commands.passes import open_existing_store

    return open_existing_store(args)


def run_add(args) -> int:
    from models.errors import KakouError
    from models.volunteers import add_volunteer, clean_name, find_volunteer
    from tui.commands.auth import require_supervisor

    store = _store(args)
    name = clean_name(args.name)
    try:
        find_volunteer(store, name)
    except KakouError:
        pass
    else:  # said before any PIN is typed (add_volunteer checks again, in its transaction)
        from models.volunteers import name_taken_error

        raise name_taken_error(name)
    who = require_supervisor(store, "volunteer_add")
    pin = read_new_pin(args.role)
    added = add_volunteer(store, name, pin, args.role, by=who.id, via="cli")
    print(f"已添加 added {added.name}（{ROLE_WORDS[added.role]}），可用新 PIN 登录 / can log in with the new PIN")
    return 0


def run_pin(args) -> int:
    from models.volunteers import find_volunteer, set_pin
    from tui.commands.auth import require_supervisor

    store = _store(args)
    target = find_volunteer(store, args.name)
    # A supervisor whose PIN is too short for today's rule may still set their own new one.
    who = require_supervisor(store, "volunteer_pin", target_id=target.id)
    pin = read_new_pin(target.role)
    set_pin(store, target.name, pin, by=who.id, via="cli")
    print(f"已为 {target.name} 设置新 PIN / new PIN set for {target.name}")
    return 0


def _set_active(args, active: bool) -> int:
    from models.volunteers import find_volunteer, set_active
    from tui.commands.auth import require_supervisor

    store = _store(args)
    target = find_volunteer(store, args.name)
    who = require_supervisor(store, "volunteer_enable" if active else "volunteer_disable")
    set_active(store, target.name, active, by=who.id, via="cli")
    if active:
        print(f"已启用 enabled {target.name}：可以登录 / can log in")
    else:
        print(f"已停用 disabled {target.name}：不能再登录 / can no longer log in")
    return 0


def run_disable(args) -> int:
    return _set_active(args, False)


def run_enable(args) -> int:
    return _set_active(args, True)


def run_list(args) -> int:
    from models.volunteers import list_volunteers
    from tui.commands.passes import open_existing_store

    store = open_existing_store(args, check=False)  # only reads
    people = list_volunteers(store, include_disabled=True)
    if args.json:
        rows = [{"name": v.name, "role": v.role, "active": v.active} for v in people]
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if not people:
        print("还没有值守人员 / no volunteers yet", file=sys.stderr)
        return 0
    for v in people:
        state = "在用 active" if v.active else "已停用 disabled"
        print(f"{v.name}\t{ROLE_WORDS.get(v.role, v.role)}\t{state}")
    return 0
