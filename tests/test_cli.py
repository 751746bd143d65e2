"""The `kakou` command end to end, as a new user runs it, in a temp data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tui.cli import main


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_demo_seeds_a_checkpoint_with_passes_pins_and_lists(demo_dir, capsys):
    passes = sorted(p.name for p in (demo_dir / "demo-passes").glob("*.txt"))
    assert len(passes) == 200 and "3-2-501.txt" in passes
    assert (demo_dir / "demo-passes" / "3-2-501.png").stat().st_size > 0
    token = (demo_dir / "demo-passes" / "3-2-501.txt").read_text().strip()
    assert token.isdigit() and token.startswith("88")

    code, out, _ = run(["pass", "verify", "--data-dir", str(demo_dir), "--json", token], capsys)
    d = json.loads(out)
    assert code == 0 and d["verdict"] == "allow" and d["unit"] == "3-2-501"
    assert "*" in d["name"]  # masked

    quarantined = (demo_dir / "demo-passes" / "2-1-302.txt").read_text().strip()
    code, out, _ = run(
        ["pass", "verify", "--data-dir", str(demo_dir), "--direction", "out", "--json", quarantined], capsys
    )
    assert code == 1 and [r["code"] for r in json.loads(out)["reasons"]] == ["quarantined"]

    revoked = (demo_dir / "demo-passes" / "4-2-201.txt").read_text().strip()
    code, out, _ = run(["pass", "verify", "--data-dir", str(demo_dir), revoked], capsys)
    assert code == 1 and "禁止 DENY" in out and "已作废" in out


def test_demo_traffic_goes_through_the_same_path_and_the_report_shows_it(tmp_path, capsys):
    data = tmp_path / "d"
    code, out, _ = run(["demo", "--no-tui", "--data-dir", str(data), "--traffic", "120"], capsys)
    assert code == 0 and "888888" in out and "1234" in out
    total = 0
    import datetime as dt

    # The traffic spans the last 24 hours: today and yesterday together hold all of it.
    for day in (dt.date.today(), dt.date.today() - dt.timedelta(days=1)):
        code, out, _ = run(["report", "--data-dir", str(data), "--json", "--date", day.isoformat()], capsys)
        r = json.loads(out)
        total += r["passages"]["in"] + r["passages"]["out"] + r["turned_back"] + sum(r["registrations"].values())
        # Fever cases not allowed after recheck record no passage; everything else is one record each.
        total += r["fevers"]["outcomes"]["clinic"] + r["fevers"]["outcomes"]["home"]
    assert total == 120
    assert r["unsynced"] > 200  # passes issued + traffic, nothing synced
    # Running demo again on the same dir does not reseed or fail.
    code, out, _ = run(["demo", "--no-tui", "--data-dir", str(data)], capsys)
    assert code == 0 and "already" in out


def test_report_says_zero_explicitly(store, capsys):
    code, out, _ = run(["report", "--data-dir", str(store.data_dir), "--date", "2022-03-15"], capsys)
    assert code == 0 and "零报告" in out and "进入 0" in out
    code, out, _ = run(["report", "--data-dir", str(store.data_dir), "--lang", "en", "--date", "2022-03-15"], capsys)
    assert "Zero report" in out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["report", "--date", "2022-13-40"], "YYYY-MM-DD"),
        (["pass", "verify", "123"], "not a kakou pass"),
    ],
)
def test_bad_input_gets_one_clear_line(store, capsys, args, needle):
    args = (
        [*args[:1], "--data-dir", str(store.data_dir), *args[1:]]
        if args[0] == "report"
        else [*args[:2], "--data-dir", str(store.data_dir), *args[2:]]
    )
    code, out, err = run(args, capsys)
    assert code in (1, 2)
    assert needle in out + err and "Traceback" not in out + err


def test_missing_data_dir_is_explained(tmp_path, capsys):
    code, _out, err = run(["report", "--data-dir", str(tmp_path / "typo")], capsys)
    assert code == 2 and "kakou demo" in err and err.count("\n") == 1


def test_help_is_fast_because_it_imports_nothing_heavy(tmp_path):
    code = (
        "import sys; from tui.cli import build_parser; build_parser().format_help();"
        "heavy = [m for m in ('sqlmodel', 'sqlalchemy', 'textual', 'fastapi', 'nacl', 'PIL') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "KAKOU_DATA_DIR": str(tmp_path)},
    )
    assert out.stdout.strip() == ""


def test_installed_command_runs(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "kakou")
    if not os.path.exists(exe):
        pytest.skip("kakou is not installed in this environment (pip install . makes it)")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "demo" in out.stdout and "report" in out.stdout
