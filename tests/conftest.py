"""Shared fixtures: temporary kiosk stores, and PostgreSQL when the environment provides it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis fails an example that takes over 200 ms by default: a wall-clock assertion, which
# fails on a loaded machine (seen: 300 ms for a pass round trip). The tests say what is right,
# not how fast; the benchmarks in tests/bench/ measure speed.
settings.register_profile("kakou", deadline=None)
settings.load_profile("kakou")


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


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL URL (tests/postgres.py: skipped without one, a failure under KAKOU_REQUIRE_POSTGRES=1)."""
    from tests.postgres import postgres_url as url

    return url()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def office_url(request, tmp_path):
    """None (SQLite in tmp_path) or the URL of a throw-away PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    from tests.sync.helpers import PgSchema

    schema = PgSchema(request.getfixturevalue("postgres_url"))
    yield schema.url
    schema.drop()


def office_at_revision(office_dir: Path, url: str | None, revision: str):
    """An office database migrated only as far as `revision` (an office of an older release)."""
    from alembic import command
    from alembic.config import Config

    from sync.office.db import MIGRATIONS_DIR, open_office_engine

    engine = open_office_engine(office_dir, url, migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return engine
