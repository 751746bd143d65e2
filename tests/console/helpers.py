"""A browser-like client of the console: cookies kept, redirects not followed, log in as anyone."""

from __future__ import annotations

import re
import warnings

from tests.console.conftest import PASSWORDS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def client(app, base_url: str = "http://office.test") -> TestClient:
    return TestClient(app, base_url=base_url, follow_redirects=False)


def login_token(c: TestClient) -> str:
    page = c.get("/login")
    assert page.status_code == 200
    return CSRF.search(page.text).group(1)


def login(c: TestClient, name: str, password: str | None = None):
    token = login_token(c)
    return c.post("/login", data={"name": name, "password": password or PASSWORDS[name], "csrf": token, "next": "/"})


def logged_in(app, name: str) -> tuple[TestClient, str]:
    """A client logged in as `name`, and the CSRF token of its session (from the Today page)."""
    c = client(app)
    answer = login(c, name)
    assert answer.status_code == 303, answer.text
    page = c.get("/")
    assert page.status_code == 200
    return c, CSRF.search(page.text).group(1)
