"""KAKOU_REQUIRE_POSTGRES=1 turns a missing PostgreSQL into failures, not skips (CI relies on it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Two PostgreSQL tests that reach the database two ways: the `office` fixture and a direct URL.
PG_TESTS = [
    "tests/sync/test_smoke.py::test_enrolled_kiosk_pushes_everything_once[postgres]",
    "tests/sync/test_ingest_perf_paths.py::test_migration_counts_the_records_an_office_already_held[postgres]",
]
NO_SERVER = "postgresql://postgres@127.0.0.1:1/test"  # port 1: nothing listens there


def _pytest(test: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("KAKOU_TEST_DATABASE_URL", "KAKOU_REQUIRE_POSTGRES")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _failed(run: subprocess.CompletedProcess) -> bool:
    """pytest said the one test failed (in its body or its fixture's setup) and skipped nothing."""
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    return run.returncode == 1 and ("1 failed" in summary or "1 error" in summary) and "skipped" not in summary


@pytest.mark.parametrize("test", PG_TESTS, ids=["office-fixture", "direct-url"])
def test_an_unreachable_server_fails_when_postgres_is_required(test):
    run = _pytest(test, KAKOU_TEST_DATABASE_URL=NO_SERVER, KAKOU_REQUIRE_POSTGRES="1")
    assert _failed(run) and "unreachable" in run.stdout, run.stdout[-2000:]


def test_no_url_fails_when_postgres_is_required():
    run = _pytest(PG_TESTS[0], KAKOU_REQUIRE_POSTGRES="1")
    assert _failed(run) and "KAKOU_TEST_DATABASE_URL" in run.stdout, run.stdout[-2000:]


def test_without_the_requirement_a_missing_server_is_a_skip_with_the_reason():
    run = _pytest(PG_TESTS[0], KAKOU_TEST_DATABASE_URL=NO_SERVER)
    assert run.returncode == 0 and "1 skipped" in run.stdout and "unreachable" in run.stdout, run.stdout[-2000:]


# The replica tests start their own primary and standby from PostgreSQL's server programs.
REPLICA_TEST = (
    "tests/sync/test_read_replica.py::test_the_replica_is_tried_again_later_and_less_often_while_it_stays_away"
)


def test_missing_server_programs_fail_the_replica_tests_when_postgres_is_required(tmp_path):
    run = _pytest(REPLICA_TEST, KAKOU_TEST_PG_BIN=str(tmp_path), KAKOU_REQUIRE_POSTGRES="1")
    assert _failed(run) and "server programs" in run.stdout, run.stdout[-2000:]
    run = _pytest(REPLICA_TEST, KAKOU_TEST_PG_BIN=str(tmp_path))
    assert run.returncode == 0 and "1 skipped" in run.stdout and "server programs" in run.stdout, run.stdout[-2000:]
