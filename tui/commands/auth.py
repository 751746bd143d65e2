"""The supervisor's PIN for sensitive kiosk commands (issue, revoke, reissue, batch, enrol, purge,
volunteers).

A kiosk's shell is not an office: whoever runs these commands proves they are a supervisor,
and the action is an audit record under their name, synced like every other record. Which
actions need a supervisor, and the check itself, are the domain's (models/permissions.py).
"""

from __future__ import annotations

import sys


def read_pin(prompt: str = "管理员 PIN / supervisor PIN: ") -> str:
    """From the terminal (not echoed), or the next line of standard input when it is piped
    (`echo 888888 | kakou pass issue ...`, for scripts run by a supervisor)."""
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        try:
            return getpass.getpass(prompt)
        except EOFError:
            return ""
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.strip()


def require_supervisor(store, action: str, target_id: int | None = None):
    """The supervisor whose PIN was given; raises KakouError (wrong PIN, lockout, not a supervisor)."""
    from models.errors import KakouError
    from models.permissions import authorize, check_has_supervisor, needs_supervisor

    # Before a PIN is asked: an action the table does not know is refused, and so is a kiosk
    # with nobody to authorise it.
    if needs_supervisor(action):
        check_has_supervisor(store)
    pin = read_pin()
    if not pin:
        # An empty or closed standard input is no try at a PIN: it must not count towards the lockout.
        raise KakouError(
            "没有读到 PIN：请在终端输入，或用管道给出（echo PIN | kakou ...）",
            "no PIN was given: type it at the terminal, or pipe it in (echo PIN | kakou ...)",
            code="no_pin",
        )
    return authorize(store, action, pin, via="cli", target_id=target_id)
