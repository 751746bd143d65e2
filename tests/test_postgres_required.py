"""KAKOU_REQUIRE_POSTGRES=1 turns a missing PostgreSQL into failures, not skips (CI relies on it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Two PostgreSQL tests that reach the database two ways: the `office` fixture and a direct URL.
PG_TESTS = [
    "tests/sync/test_smoke.py::test_enrolled_kiosk_pushes_everything_once[postgres]",
    "tests/sync/test_ingest_perf_paths.py::test_migration_counts_the_records_an_office_already_held[postgres]",
]
NO_SERVER = "postgresql://postgres@127.0.0.1:1/test"  # port 1: nothing listens there


# The replica tests start their own primary and standby from PostgreSQL's server programs.
REPLICA_TEST = (
    "tests/sync/test_read_replica.py::test_the_replica_is_tried_again_later_and_less_often_while_it_stays_away"
)


def _pytest(*tests: str, **env: str) -> subprocess.CompletedProcess:
    """One pytest run of `tests` (a run costs seconds: each case below is one run of several tests)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("KAKOU_TEST_DATABASE_URL", "KAKOU_REQUIRE_POSTGRES")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", "-p", "no:randomly", *tests],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _summary(run: subprocess.CompletedProcess) -> str:
    return run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""


def _failed(run: subprocess.CompletedProcess, test: str, words: str) -> bool:
    """pytest said `test` failed (in its body or its fixture's setup) and its report says `words`."""
    node = test.split("::", 1)[1].split("[", 1)[0]
    lines = run.stdout.splitlines()
    said = any(line.startswith(("FAILED", "ERROR")) and node in line for line in lines)
    # The test's own report: from its "____ name ____" header to the next header.
    section: list[str] = []
    for line in lines:
        if (line.startswith("_") and line.endswith("_")) or line.startswith("==="):
            if section:
                break
            if node in line:
                section.append(line)
        elif section:
            section.append(line)
    return said and words in "\n".join(section)


def _failures(run: subprocess.CompletedProcess) -> int:
    """Tests that failed or errored, from pytest's last line ("2 failed, 1 error in 3.0s")."""
    words = _summary(run).replace(",", " ").split()
    return sum(int(words[i - 1]) for i, w in enumerate(words) if w in ("failed", "error", "errors") and i > 0)


def _skipped(run: subprocess.CompletedProcess, words: str) -> int:
    """How many tests pytest skipped with `words` in the reason."""
    count = 0
    for line in run.stdout.splitlines():
        if line.startswith("SKIPPED") and words in line:
            count += int(line.split("[", 1)[1].split("]", 1)[0])
    return count


def test_an_unreachable_server_or_missing_server_programs_fail_when_postgres_is_required(tmp_path):
    run = _pytest(
        *PG_TESTS,
        REPLICA_TEST,
        KAKOU_TEST_DATABASE_URL=NO_SERVER,
        KAKOU_TEST_PG_BIN=str(tmp_path),  # no server programs there
        KAKOU_REQUIRE_POSTGRES="1",
    )
    out = run.stdout[-3000:]
    assert run.returncode == 1 and _failures(run) == 3 and "skipped" not in _summary(run), out
    # the office fixture and a direct URL both reach the database: both say it is unreachable
    assert _failed(run, PG_TESTS[0], "unreachable") and _failed(run, PG_TESTS[1], "unreachable"), out
    assert _failed(run, REPLICA_TEST, "server programs"), out


def test_no_url_fails_when_postgres_is_required():
    run = _pytest(PG_TESTS[0], KAKOU_REQUIRE_POSTGRES="1")
    out = run.stdout[-2000:]
    assert run.returncode == 1 and _failures(run) == 1, out
    assert _failed(run, PG_TESTS[0], "KAKOU_TEST_DATABASE_URL"), out


def test_without_the_requirement_missing_postgres_is_a_skip_with_the_reason(tmp_path):
    run = _pytest(PG_TESTS[0], REPLICA_TEST, KAKOU_TEST_DATABASE_URL=NO_SERVER, KAKOU_TEST_PG_BIN=str(tmp_path))
    out = run.stdout[-2000:]
    assert run.returncode == 0 and "2 skipped" in _summary(run), out
    assert _skipped(run, "unreachable") == 1 and _skipped(run, "server programs") == 1, out
