"""Shared fixtures: temporary kiosk stores, and PostgreSQL when the environment provides it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PG_ENV = "KAKOU_TEST_DATABASE_URL"


@pytest.fixture
def store(tmp_path):
    """A fresh, set-up kiosk store in a temp data dir."""
    from models.store import KioskStore

    s = KioskStore.open(tmp_path / "kiosk")
    s.set_up("东门卡口", "幸福里社区", "新华街道", number=1)
    yield s
    s.engine.dispose()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A demo checkpoint seeded once per test session (seeding takes seconds)."""
    from tui.demo import seed_demo

    path = tmp_path_factory.mktemp("demo-template") / "kiosk"
    seed_demo(path, traffic=0)
    return path


@pytest.fixture
def demo_dir(demo_template, tmp_path) -> Path:
    """A private copy of the demo checkpoint for one test."""
    target = tmp_path / "demo"
    shutil.copytree(demo_template, target)
    return target


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL URL for tests that need it; skipped (with the reason) when not configured.

    CI sets KAKOU_REQUIRE_POSTGRES=1, which turns a missing or unreachable server into a failure.
    """
    url = os.environ.get(PG_ENV)
    required = os.environ.get("KAKOU_REQUIRE_POSTGRES") == "1"
    if not url:
        if required:
            pytest.fail(f"{PG_ENV} is not set but KAKOU_REQUIRE_POSTGRES=1")
        pytest.skip(f"PostgreSQL tests need {PG_ENV}=postgresql://user@host:port/db")
    try:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5):
            pass
    except Exception as exc:
        if required:
            pytest.fail(f"PostgreSQL at {PG_ENV} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_ENV} is unreachable: {exc}")
    return url
