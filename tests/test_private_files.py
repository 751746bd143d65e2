"""Every file the kiosk writes is its owner's only, whatever the umask (issue 13): the data dir,
the database, the keys, the log, the settings, the demo's passes (bearer tokens) and the marker.
And an error's logged text never carries the SQL parameters (names, phones, ID numbers)."""

from __future__ import annotations

import logging
import os
import stat

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from models.engine import open_engine, writer
from models.files import private_dir, write_private
from tui import logs
from tui.demo import seed_demo
from tui.settings import KioskSettings, save_settings


@pytest.fixture
def open_umask():
    old = os.umask(0o022)  # the usual umask: files 0644, folders 0755 unless the code says otherwise
    try:
        yield
    finally:
        os.umask(old)


def _modes(root):
    found = {root: stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[path] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_everything_a_demo_kiosk_writes_is_owner_only(tmp_path, open_umask):
    data = tmp_path / "kiosk"
    seed_demo(data, traffic=20)
    save_settings(data, KioskSettings())
    logs.configure(data)
    logging.getLogger("kakou.test").warning("a line, so the log exists")
    for handler in logging.getLogger("kakou").handlers:
        handler.flush()

    modes = _modes(data)
    names = {p.relative_to(data).as_posix() for p in modes if p != data}
    # The places that matter are really there (a check that walked an empty folder proves nothing).
    for must in ("kakou.db", "keys", "logs/kakou.log", "kiosk-settings.toml", "demo-passes", ".kakou-demo"):
        assert must in names, must
    assert any(n.endswith(".png") for n in names) and any(n.endswith(".txt") for n in names)
    wide = {p.relative_to(tmp_path).as_posix(): oct(m) for p, m in modes.items() if m & 0o077}
    assert wide == {}
    logging.getLogger("kakou").handlers.clear()


def test_a_data_dir_made_earlier_with_wider_permissions_is_narrowed(tmp_path, open_umask):
    data = tmp_path / "kiosk"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    open_engine(data / "kakou.db").dispose()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_write_private_replaces_atomically_and_never_widens(tmp_path, open_umask):
    path = tmp_path / "f.txt"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_private(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / "f.txt.tmp").exists()
    assert stat.S_IMODE(private_dir(tmp_path / "a" / "b").stat().st_mode) == 0o700


def test_a_database_error_does_not_show_its_parameters(tmp_path):
    engine = open_engine(tmp_path / "kakou.db", migrate=False)
    with writer(engine).begin() as conn:
        conn.execute(text("CREATE TABLE t (id_number TEXT PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": "110101199003078515"})
    with pytest.raises(IntegrityError) as caught, writer(engine).begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": "110101199003078515"})
    assert "110101199003078515" not in str(caught.value)
    engine.dispose()
