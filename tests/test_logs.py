"""The kiosk's and the office's logs: where they go, who may read them, what they hold."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys

import pytest

from models.errors import KakouError
from tui import logs


@pytest.fixture(autouse=True)
def _detach_kakou_log():
    """Each test starts with no kakou log handler and leaves none behind."""
    root = logging.getLogger(logs.ROOT)
    saved = list(root.handlers), root.propagate, root.level
    yield
    for handler in list(root.handlers):
        if handler not in saved[0]:
            root.removeHandler(handler)
            handler.close()
    root.propagate, root.level = saved[1], saved[2]


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestDeskLog:
    def test_an_unexpected_error_goes_with_its_traceback_to_an_owner_only_file(self, tmp_path):
        from tui.app import DutyApp

        app = DutyApp(tmp_path)
        try:
            raise RuntimeError("boom in the sync thread")
        except RuntimeError as exc:
            words = app.error_text(exc)
        assert "RuntimeError" in words and "Traceback" not in words  # the volunteer reads one line
        path = tmp_path / "logs" / "kakou.log"
        text = path.read_text("utf-8")
        assert "Traceback" in text and "boom in the sync thread" in text and "kakou.tui.app" in text
        assert _mode(path) == 0o600 and _mode(path.parent) == 0o700

    def test_an_error_shown_in_words_is_logged_with_its_code(self, tmp_path):
        from tui.app import DutyApp

        app = DutyApp(tmp_path, lang="zh")
        exc = KakouError("磁盘已满", "the disk is full", code="disk_full")
        assert app.error_text(exc) == "磁盘已满"
        line = (tmp_path / "logs" / "kakou.log").read_text("utf-8")
        assert "WARNING" in line and "disk_full" in line and "the disk is full" in line

    def test_each_kiosk_logs_to_its_own_data_dir(self, tmp_path):
        from tui.app import DutyApp

        first, second = tmp_path / "a", tmp_path / "b"
        first.mkdir()
        second.mkdir()
        DutyApp(first)._log_internal_error(ValueError("first"))
        DutyApp(second)._log_internal_error(ValueError("second"))
        assert (
            "first" in (first / "logs" / "kakou.log").read_text()
            and "second" not in (first / "logs" / "kakou.log").read_text()
        )
        assert "second" in (second / "logs" / "kakou.log").read_text()

    def test_a_logs_dir_others_could_read_is_closed(self, tmp_path):
        (tmp_path / "logs").mkdir(mode=0o755)
        os.chmod(tmp_path / "logs", 0o755)
        logs.configure(tmp_path)
        logging.getLogger("kakou.test").warning("x")
        assert _mode(tmp_path / "logs") == 0o700

    def test_rotated_files_stay_owner_only(self, tmp_path):
        path = logs.configure(tmp_path)
        handler = next(
            h for h in logging.getLogger(logs.ROOT).handlers if isinstance(h, logs.OwnerOnlyRotatingFileHandler)
        )
        handler.maxBytes = 300
        for i in range(40):
            logging.getLogger("kakou.test").warning("line %d of a long shift", i)
        rotated = sorted(path.parent.glob("kakou.log.*"))
        assert rotated and len(rotated) <= logs.BACKUPS
        assert all(_mode(p) == 0o600 for p in [path, *rotated])

    def test_a_missing_data_dir_is_not_made_for_a_log(self, tmp_path):
        logs.configure(tmp_path / "nowhere")
        logging.getLogger("kakou.test").error("not set up here")
        assert not (tmp_path / "nowhere").exists()

    def test_nothing_reaches_the_root_logger_the_terminal_would_print(self, tmp_path):
        logs.configure(tmp_path)
        seen: list[logging.LogRecord] = []

        class Catch(logging.Handler):
            def emit(self, record):
                seen.append(record)

        catch = Catch()
        logging.getLogger().addHandler(catch)
        try:
            logging.getLogger("kakou.test").warning("only in the file")
        finally:
            logging.getLogger().removeHandler(catch)
        assert seen == [] and "only in the file" in (tmp_path / "logs" / "kakou.log").read_text()


class TestCommandLog:
    def test_internal_error_details_go_to_the_data_dir_in_use(self, tmp_path, monkeypatch, capsys):
        from tui import cli
        from tui.commands import report

        env_dir, used_dir = tmp_path / "env", tmp_path / "used"
        env_dir.mkdir()
        used_dir.mkdir()
        monkeypatch.setenv("KAKOU_DATA_DIR", str(env_dir))

        def broken(args):
            raise RuntimeError("report exploded")

        monkeypatch.setattr(report, "run_report", broken)
        assert cli.main(["report", "--data-dir", str(used_dir)]) == 70
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "report exploded" in err
        assert f"details: {used_dir / 'logs' / 'kakou.log'}" in err
        assert "Traceback" in (used_dir / "logs" / "kakou.log").read_text()
        assert not (env_dir / "logs").exists()

    def test_an_error_in_words_is_one_line_and_logged(self, tmp_path, monkeypatch, capsys):
        from tui import cli
        from tui.commands import report

        def refused(args):
            raise KakouError("本机尚未设置", "this kiosk is not set up", code="not_set_up")

        monkeypatch.setattr(report, "run_report", refused)
        assert cli.main(["report", "--data-dir", str(tmp_path)]) == 2
        assert capsys.readouterr().err == "本机尚未设置 / this kiosk is not set up\n"
        assert "not_set_up" in (tmp_path / "logs" / "kakou.log").read_text()


class TestOfficeLog:
    def test_office_lines_are_on_stderr_in_uvicorns_format(self):
        code = (
            "from sync.office.logs import configure; import logging; configure();"
            "logging.getLogger('kakou.sync.office.app').warning('office database error: %s', 'gone');"
            "logging.getLogger('kakou.sync.office.app').debug('not at INFO')"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
        assert done.stdout == ""
        assert done.stderr == "WARNING:  office database error: gone\n"

    def test_serve_hands_the_config_to_uvicorn(self, tmp_path, monkeypatch):
        import uvicorn

        from tui import cli

        seen = {}
        monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
        monkeypatch.setenv("KAKOU_OFFICE_DIR", "")  # serve sets it for its workers: restored after the test
        assert cli.main(["office", "serve", "--office-dir", str(tmp_path / "office"), "--port", "0"]) == 0
        kakou = seen["log_config"]["loggers"]["kakou"]
        assert kakou["handlers"] == ["default"] and kakou["propagate"] is False
