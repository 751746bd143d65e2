"""Who is at the console: the session cookie, the CSRF check, the roles, the login's limits.

- `PageSession`: the logged-in account of a page, or a redirect to the login form (an htmx
  request gets `HX-Redirect` instead, so a timed-out tile reloads into the login form, not
  into itself).
- `Changer`: a change (POST) by an account that may change things, with the session's CSRF
  token, from a form field ``csrf`` or the ``X-CSRF-Token`` header that every htmx request
  carries (``hx-headers`` on the page's body); a viewer is refused, a missing or wrong token is
  refused, and so is a POST whose Origin is another site's.
- The login form has its own CSRF token (a double-submit cookie): a page elsewhere cannot log
  the clerk's browser into an account of its choosing.

The cookies are HttpOnly and SameSite=Strict (Lax for the language), Secure when the page is
served over https. The kiosks' API is outside all this: its requests are signed (`deps`).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from sync.office import users
from sync.office.deps import OfficeDep
from sync.office.state import Office
from sync.office.users import Session

SESSION_COOKIE = "kakou_session"
LOGIN_COOKIE = "kakou_login"
LANG_COOKIE = "kakou_lang"
CSRF_HEADER = "X-CSRF-Token"


class LoginNeeded(Exception):
    """No live session: answered with the login form (`pages.login_needed`)."""

    def __init__(self, timed_out: bool = False):
        self.timed_out = timed_out


class Refused(Exception):
    """A change this session may not make: answered 403 with the words of `key`."""

    def __init__(self, key: str, status: int = 403):
        self.key, self.status = key, status


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return "en" if asked == "en" else "zh"


async def page_session(request: Request, office: OfficeDep) -> Session:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise LoginNeeded()
    idle_s = office.settings.console_idle_minutes * 60
    session = await run_in_threadpool(users.session_account, office.engine, token, idle_s=idle_s)
    if session is None:
        raise LoginNeeded(timed_out=True)
    request.state.session = session
    return session


PageSession = Annotated[Session, Depends(page_session)]


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # older browsers send none on a same-site form; SameSite and the token hold
    return origin == f"{request.url.scheme}://{request.url.netloc}"  # "null" (a sandboxed frame) is not


async def check_csrf(request: Request, expected: str) -> None:
    if not _same_origin(request):
        raise Refused("csrf")
    given = request.headers.get(CSRF_HEADER, "")
    if not given:
        form = await request.form()
        value = form.get("csrf", "")
        given = value if isinstance(value, str) else ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused("csrf")


async def changer(request: Request, session: PageSession) -> Session:
    await check_csrf(request, session.csrf)
    if not session.account.can_change:
        raise Refused("read_only")
    return session


Changer = Annotated[Session, Depends(changer)]


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def login_address(request: Request) -> str:
    from sync.office import tries

    return tries.client_address(request.client.host if request.client else None)


def _account_key(name: str) -> str:
    # The name as `users.check_login` reads it: "ｚｈａｎｇ" and "zhang " are one account's tries.
    try:
        return "account:" + users.normalise_name(name)
    except users.UserError:
        return "account:?"


def take_login_try(office: Office, address: str, name: str) -> None:
    """One login try for this address and one for this account name (ApiProblem 429 when
    either is used up): many addresses guessing one clerk's password are held too."""
    office.tries.take("login", address)
    try:
        office.tries.take("login", _account_key(name))
    except Exception:
        office.tries.give_back("login", address)
        raise


def give_back_login(office: Office, address: str, name: str) -> None:
    office.tries.give_back("login", address)
    office.tries.give_back("login", _account_key(name))
