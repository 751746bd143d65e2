"""The supervisor's PIN for sensitive kiosk commands (issue, revoke, reissue, batch, enrol, purge).

A kiosk's shell is not an office: whoever runs these commands proves they are a supervisor,
and the action is an audit record under their name, synced like every other record.
"""

from __future__ import annotations

import sys


def read_pin(prompt: str = "管理员 PIN / supervisor PIN: ") -> str:
    """From the terminal (not echoed), or the first line of standard input when it is piped
    (`echo 8888 | kakou pass issue ...`, for scripts run by a supervisor)."""
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.strip()


def require_supervisor(store, action: str):
    """The supervisor whose PIN was given; raises KakouError (wrong PIN, lockout, not a supervisor)."""
    from models.errors import KakouError
    from models.facts import record_audit
    from models.volunteers import PinError, list_volunteers, login

    if not any(v.is_supervisor for v in list_volunteers(store)):
        raise KakouError(
            "本机还没有管理员：请先运行 kakou kiosk 完成设置",
            "this kiosk has no supervisor yet: run kakou kiosk to set it up",
            code="no_supervisor",
        )
    pin = read_pin()
    if not pin:
        # An empty or closed standard input is no try at a PIN: it must not count towards the lockout.
        raise KakouError(
            "没有读到 PIN：请在终端输入，或用管道给出（echo PIN | kakou ...）",
            "no PIN was given: type it at the terminal, or pipe it in (echo PIN | kakou ...)",
            code="no_pin",
        )
    try:
        who = login(store, pin)
    except PinError:
        record_audit(store, "login_failed", None, via="cli", command=action)
        raise
    if not who.is_supervisor:
        record_audit(store, "supervisor_refused", who.id, via="cli", command=action)
        raise KakouError("这项操作需要管理员 PIN", "this needs a supervisor's PIN", code="role")
    return who
