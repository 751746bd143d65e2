"""The one way a test gets its PostgreSQL: `postgres_url()` (or the `postgres_url` fixture).

Without KAKOU_TEST_DATABASE_URL, or with a server that does not answer, the test is skipped
with the reason; with KAKOU_REQUIRE_POSTGRES=1 (CI sets it) it fails instead, so a CI run
can never pass by quietly skipping every PostgreSQL test.
"""

from __future__ import annotations

import os

import pytest

PG_ENV = "KAKOU_TEST_DATABASE_URL"
REQUIRE_ENV = "KAKOU_REQUIRE_POSTGRES"

_checked: dict[str, str | None] = {}  # url -> why it is unusable (None: it answered)


def _not_available(why: str):
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{why} (and {REQUIRE_ENV}=1: PostgreSQL tests must run here)", pytrace=False)
    pytest.skip(why)


def postgres_url() -> str:
    """The PostgreSQL URL for this test, once the server answered; else skip or fail (above)."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        _not_available(f"PostgreSQL tests need {PG_ENV}=postgresql://user@host:port/db")
    if url not in _checked:  # one connection attempt per run, not one per test
        try:
            import psycopg

            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5):
                pass
            _checked[url] = None
        except Exception as exc:
            _checked[url] = f"PostgreSQL at {PG_ENV} is unreachable: {exc}".strip()
    why = _checked[url]
    if why is not None:
        _not_available(why)
    return url
