"""Kiosk benchmarks: verdict, durable commit, start-up, memory.

    python -m tests.bench.bench_kiosk [--quick] [--only SUBSTRING]

Prints one JSON object per line: name, value, unit, baseline, ratio, target, sizes (and
"skipped" with the reason when a measurement cannot run here). Every figure comes with the
raw operation underneath measured in the same run, because the machines are noisy:

- verdict for a scanned token (p50, p99) vs one Ed25519 verify;
- durable passage commit (p50, p99) vs a bare sqlite3 INSERT + COMMIT with the same pragmas;
- `kakou --help` vs starting the bare interpreter;
- kiosk start to the duty screen in a real pseudo-terminal, then 10,000 passages driven through
  it key by key (--quick: 100; --desk-passages N): scan-to-verdict and scan-to-saved p50/p99, CPU
  per passage, and RSS after the first tenth vs at the end (no growth); then the same desk under a
  Pi-class CPU limit (30 % of one core, 10 ms period: tests/bench/cpu_limit.py), as `kiosk.pi_desk_*`
  with the unlimited figure as baseline (1000 passages, --quick 100);
- memory of a process holding the store with N passages vs the same process before opening it.

Sizes: 10k / 100k / 1M stored passages with 100k passes and 10k revocations (--quick: 1k /
10k / 100k passages, 20k passes, 2k revocations).
"""

from __future__ import annotations

import argparse
import codecs
import json
import math
import os
import random
import re
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
KAKOU = str(Path(PY).with_name("kakou"))

FULL = {
    "passages": (10_000, 100_000, 1_000_000),
    "passes": 100_000,
    "revocations": 10_000,
    "verdicts": 3000,
    "commits": 1000,
    "help_runs": 9,
    "desk_passages": 10_000,
    "pi_desk_passages": 1000,
}
QUICK = {
    "passages": (1_000, 10_000, 100_000),
    "passes": 20_000,
    "revocations": 2_000,
    "verdicts": 800,
    "commits": 250,
    "help_runs": 5,
    "desk_passages": 100,
    "pi_desk_passages": 100,
}

SUPERVISOR_PIN = "888888"


# -- output -------------------------------------------------------------------------------------


def emit(name: str, value, unit: str, *, baseline=None, target=None, sizes=None, **extra) -> None:
    ratio = round(value / baseline, 2) if value is not None and baseline else None
    line = {
        "name": name,
        "value": _round(value),
        "unit": unit,
        "baseline": _round(baseline),
        "ratio": ratio,
        "target": target,
        "sizes": sizes or {},
    }
    line.update(extra)
    print(json.dumps(line, ensure_ascii=False), flush=True)


def skip(name: str, unit: str, reason: str, *, target=None, sizes=None) -> None:
    emit(name, None, unit, target=target, sizes=sizes, skipped=reason)


def _round(x):
    if x is None:
        return None
    return round(x, 4) if abs(x) < 100 else round(x, 1)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


# -- verdict ---------------------------------------------------------------------------------------


def bench_verdict(fx, n: int, rng: random.Random) -> None:
    from models.gate import check_token
    from models.passtoken import PassKind, decode_token
    from models.store import KioskStore

    sizes = {"passages": fx.passages, "passes": fx.passes, "revocations": fx.revocations}
    store = KioskStore.open(fx.data_dir)
    try:
        started = time.perf_counter()
        store.gate_state()  # what the duty desk loads once at start and after each list pull
        emit("kiosk.gate_state_load", (time.perf_counter() - started) * 1000, "ms", sizes=sizes)

        sample = fx.sample_tokens()
        scans = [(s["token"], rng.choice(("in", "out"))) for s in (rng.choice(sample) for _ in range(n))]
        for token, direction in scans[:200]:  # warm the page cache and the code paths
            check_token(store, token, direction)
        times = []
        outing_out = []
        for token, direction in scans:
            t0 = time.perf_counter_ns()
            verdict = check_token(store, token, direction)
            dt = (time.perf_counter_ns() - t0) / 1e6
            times.append(dt)
            if verdict.body is not None and verdict.body.kind == PassKind.OUTING and direction == "out":
                outing_out.append(dt)

        # Baseline: one Ed25519 verify of the same passes, nothing else.
        public = bytes(store.signing_key.verify_key)
        import nacl.signing

        verify_key = nacl.signing.VerifyKey(public)
        decoded = [decode_token(token) for token, _ in scans]
        verify_times = []
        for d in decoded:
            t0 = time.perf_counter_ns()
            verify_key.verify(d.signed_message, d.signature)
            verify_times.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        store.engine.dispose()

    base50, base99 = percentile(verify_times, 50), percentile(verify_times, 99)
    emit("kiosk.verdict.p50", percentile(times, 50), "ms", baseline=base50, sizes=sizes)
    emit("kiosk.verdict.p99", percentile(times, 99), "ms", baseline=base99, target="<1", sizes=sizes)
    if outing_out:
        # The one verdict that reads the passage table (household outing quota).
        emit(
            "kiosk.verdict.outing_out.p99",
            percentile(outing_out, 99),
            "ms",
            baseline=base99,
            target="<1",
            sizes=dict(sizes, scans=len(outing_out)),
        )


# -- durable commit ------------------------------------------------------------------------------

BARE_TABLE = (
    "CREATE TABLE IF NOT EXISTS passage (record_id TEXT PRIMARY KEY, direction TEXT, subject TEXT, pass_id TEXT,"
    " pass_kind INTEGER, unit_code TEXT, person_id INTEGER, temp_raw TEXT, temp_value REAL, verdict TEXT,"
    " reasons TEXT, volunteer_id INTEGER, device_time REAL)"
)


def bare_commit_times(path: Path, n: int) -> list[float]:
    """One row INSERT + COMMIT per passage with the kiosk's pragmas, via bare sqlite3."""
    from models.engine import PRAGMAS

    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    conn.execute(BARE_TABLE)
    times = []
    for i in range(n + 20):
        row = (f"{i:036d}", "in", "pass", "ab" * 16, 1, "3-2-501", None, "365", 36.5, "allow", "[]", 2, time.time())
        t0 = time.perf_counter_ns()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO passage VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
        conn.execute("COMMIT")
        if i >= 20:
            times.append((time.perf_counter_ns() - t0) / 1e6)
    conn.close()
    return times


def bench_commit(fx, n: int, work: Path) -> None:
    from models.facts import record_passage
    from models.gate import check_token
    from models.store import KioskStore
    from models.values import parse_temperature
    from tests.bench.fixtures import copy_of

    sizes = {"passages": fx.passages, "passes": fx.passes, "revocations": fx.revocations}
    data_dir = copy_of(fx, work)
    os.sync()  # the copy's dirty pages must not compete with the fsyncs measured below
    store = KioskStore.open(data_dir)
    try:
        token = next(s["token"] for s in fx.sample_tokens() if not s["revoked"] and s["kind"] == 1)
        verdict = check_token(store, token, "in")
        temperature = parse_temperature("365")
        times = []
        for i in range(n + 20):
            t0 = time.perf_counter_ns()
            record_passage(store, "in", verdict, temperature, 2)
            if i >= 20:
                times.append((time.perf_counter_ns() - t0) / 1e6)
        commit = lambda: record_passage(store, "in", verdict, temperature, 2)  # noqa: E731
        marked, unmarked = commit_with_and_without_mark(store, n, commit)
        # At a desk's pace (a scan at most every few tenths of a second) the mark's fsync is done
        # before the next commit; back to back it competes with the next commit for the disk.
        paced = commit_with_and_without_mark(store, n // 2, commit, gap=0.05)
    finally:
        store.engine.dispose()
    shutil.rmtree(data_dir, ignore_errors=True)
    bare_dir = Path(tempfile.mkdtemp(dir=work))  # a fresh file each time, same disk as the copy
    bare = bare_commit_times(bare_dir / "bare.db", n)
    shutil.rmtree(bare_dir, ignore_errors=True)
    emit("kiosk.commit.p50", percentile(times, 50), "ms", baseline=percentile(bare, 50), target="<5", sizes=sizes)
    emit("kiosk.commit.p99", percentile(times, 99), "ms", baseline=percentile(bare, 99), sizes=sizes)
    # The outbox's mark outside the file (models/hwm.py, issue 13) against the same commits without it.
    note = "baseline: the same store's commits with the mark's check-in hook removed, interleaved in blocks"
    emit(
        "kiosk.commit_mark.p50",
        percentile(marked, 50),
        "ms",
        baseline=percentile(unmarked, 50),
        target="<2",
        sizes=sizes,
        note=note,
    )
    emit(
        "kiosk.commit_mark.p99", percentile(marked, 99), "ms", baseline=percentile(unmarked, 99), sizes=sizes, note=note
    )
    note += "; 50 ms between commits"
    for p in (50, 99):
        emit(
            f"kiosk.commit_mark_paced.p{p}",
            percentile(paced[0], p),
            "ms",
            baseline=percentile(paced[1], p),
            target="<2" if p == 50 else None,
            sizes=sizes,
            note=note,
        )


def commit_with_and_without_mark(
    store, n: int, commit, block: int = 25, gap: float = 0.0
) -> tuple[list[float], list[float]]:
    """`n` durable commits each with the mark (models/hwm.py: the file's tip read back at
    check-in, then pwrite + fdatasync of DATA_DIR/outbox.mark on the mark's thread) and without it
    (today's path: the check-in hook removed), alternating in blocks so both see the same disk
    and load; `gap` seconds (untimed) between commits."""
    from sqlalchemy import event

    marked: list[float] = []
    unmarked: list[float] = []
    for b in range(2 * max(1, n // block)):
        with_mark = b % 2 == 0
        if not with_mark:
            event.remove(store.engine.pool, "checkin", store._after_write)
        try:
            for _ in range(block):
                t0 = time.perf_counter_ns()
                commit()
                (marked if with_mark else unmarked).append((time.perf_counter_ns() - t0) / 1e6)
                if gap:
                    time.sleep(gap)
        finally:
            if not with_mark:
                event.listen(store.engine.pool, "checkin", store._after_write)
    return marked, unmarked


# -- opening the store ------------------------------------------------------------------------


def _drop_page_cache() -> bool:
    """Forget cached file pages, as after a power cut (root only)."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def bench_open(fx, cold: bool) -> None:
    """KioskStore.open with the whole-file quick_check (what a CLI command that writes does)
    vs without it (the desk, which checks in the background, and read-only commands)."""
    from models.store import KioskStore

    sizes = {
        "passages": fx.passages,
        "passes": fx.passes,
        "revocations": fx.revocations,
        "cache": "cold" if cold else "warm",
    }
    name = "kiosk.store_open" + (".cold" if cold else "")
    timings = {}
    if not cold:  # read the file once, so "warm" means the pages are in memory
        KioskStore.open(fx.data_dir).engine.dispose()
    for check in (True, False):
        if cold and not _drop_page_cache():
            skip(name, "s", "dropping the page cache needs root", sizes=sizes)
            return
        t0 = time.perf_counter()
        store = KioskStore.open(fx.data_dir, check=check)
        timings[check] = time.perf_counter() - t0
        store.engine.dispose()
    # Warm: < 1 s. Cold, the check reads the whole file (~1 GB at 1M passages): only commands
    # that write wait for it, so no target; the desk and read-only commands are timed below.
    emit(
        name,
        timings[True],
        "s",
        baseline=timings[False],
        target=None if cold else "<1",
        sizes=sizes,
        note="baseline: the same open without PRAGMA quick_check",
    )
    if cold:
        bench_cli_read_cold(fx, sizes)


def bench_cli_read_cold(fx, sizes: dict) -> None:
    """`kakou pass verify TOKEN` from a cold page cache: a read-only command on a big file."""
    token = fx.sample_tokens()[0]["token"]
    if not _drop_page_cache():
        skip("kiosk.cli_verify.cold", "s", "dropping the page cache needs root", sizes=sizes)
        return
    t0 = time.perf_counter()
    proc = subprocess.run(
        [KAKOU, "pass", "verify", token, "--data-dir", str(fx.data_dir)], capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if "ALLOW" not in proc.stdout and "DENY" not in proc.stdout and "CHECK" not in proc.stdout:
        skip("kiosk.cli_verify.cold", "s", f"verify gave no verdict: {proc.stderr.strip()[:200]}", sizes=sizes)
        return
    emit(
        "kiosk.cli_verify.cold",
        wall,
        "s",
        baseline=_wall([PY, "-c", "pass"], 3),
        target="<1",
        sizes=sizes,
        note="baseline: a bare python start",
    )


# -- start-up -------------------------------------------------------------------------------------


def _wall(argv: list[str], runs: int, env=None) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT, env=env)
        times.append(time.perf_counter() - t0)
    return percentile(times, 50)


def bench_help(runs: int) -> None:
    help_s = _wall([KAKOU, "--help"], runs)
    bare_s = _wall([PY, "-c", "pass"], runs)
    imported = subprocess.run(
        [PY, "-X", "importtime", "-m", "tui.cli", "--help"], capture_output=True, text=True, cwd=ROOT
    ).stderr
    heavy = sorted(
        {
            m
            for m in ("sqlmodel", "sqlalchemy", "textual", "nacl", "fastapi")
            if re.search(rf"\|\s+{m}$", imported, re.M)
        }
    )
    emit("kiosk.help_wall", help_s, "s", baseline=bare_s, target="<0.3", sizes={}, heavy_imports=heavy)


# -- memory of a process holding the store --------------------------------------------------------


def _rss_mib(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS) in MiB, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
    return rss, hwm


def rss_probe(data_dir: str) -> None:
    """Run in a fresh process: RSS after imports, then with the store open and in use."""
    import models.facts
    import models.gate  # noqa: F401
    from models.gate import check_token
    from models.store import KioskStore

    before, _ = _rss_mib()
    store = KioskStore.open(data_dir)
    tokens = json.loads((Path(data_dir) / "bench-tokens.json").read_text())
    for i, s in enumerate(tokens[:1000]):
        check_token(store, s["token"], "out" if i % 2 else "in")
    after, peak = _rss_mib()
    store.engine.dispose()
    print(json.dumps({"before": before, "after": after, "peak": peak}))


def bench_rss(fx) -> None:
    out = subprocess.run(
        [PY, "-m", "tests.bench.bench_kiosk", "--rss-probe", str(fx.data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    emit(
        "kiosk.store_rss",
        probe["after"],
        "MiB",
        baseline=probe["before"],
        sizes={"passages": fx.passages, "passes": fx.passes, "revocations": fx.revocations},
        peak=round(probe["peak"], 1),
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the duty desk in a real pseudo-terminal ---------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b[@-Z\\-_=>]")


class Terminal:
    """A program on the other side of a pty, 100x30 cells like the kiosk's screen."""

    def __init__(self, argv: list[str], env: dict, cols: int = 100, rows: int = 30, preexec=None):
        import fcntl
        import struct
        import termios

        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            start_new_session=True,
            close_fds=True,
            preexec_fn=preexec,
        )
        os.close(slave)
        self.master = master
        self.screen_text = ""  # everything drawn so far (since `forget`), escape sequences removed
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self._tail = ""  # an escape sequence cut in two by a read, kept for the next one

    def _pump(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 1 << 16)
        except OSError:  # the program ended
            raise RuntimeError("the program ended: " + self.screen_text[-400:]) from None
        if not chunk:
            raise RuntimeError("the program ended: " + self.screen_text[-400:])
        # Only the new bytes are decoded and stripped: redoing the whole stream on every read
        # cost the benchmark itself more CPU than the desk it measures.
        text = self._tail + self._decoder.decode(chunk)
        self._tail = ""
        cut = text.rfind("\x1b")
        if cut >= 0 and ANSI.match(text, cut) is None and len(text) - cut < 256:
            text, self._tail = text[:cut], text[cut:]
        self.screen_text += ANSI.sub("", text)
        return True

    def forget(self) -> None:
        """Drop what was drawn so far (a long run must not keep the whole stream)."""
        self.screen_text = ""

    def wait_for(self, needle: str, timeout: float = 30.0, since: int = 0) -> float:
        """Seconds until `needle` appears in the output after character `since`."""
        t0 = time.perf_counter()
        while needle not in self.screen_text[since:]:
            left = timeout - (time.perf_counter() - t0)
            if left <= 0:
                raise TimeoutError(
                    f"{needle!r} did not appear within {timeout} s; screen ends: {self.screen_text[-300:]!r}"
                )
            self._pump(min(left, 0.5))
        return time.perf_counter() - t0

    def mark(self) -> int:
        return len(self.screen_text)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def rss(self) -> tuple[float, float]:
        return _rss_mib(self.proc.pid)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)
        self.forget()


# Targets per mode (issue 17): "full" is this machine as it is, "pi" the desk under a Pi-class
# CPU limit (tests/bench/cpu_limit.py). A measurement with no target in a mode is still printed.
DESK_TARGETS = {
    "full": {
        "start_to_login": "<1",
        "scan_to_verdict.p99": "<=30",
        "cpu_per_passage": "<=10",
    },
    "pi": {
        "start_to_login": "<=1",
        "login_to_duty": "<=0.5",
        "scan_to_verdict.p99": "<=100",
        "scan_to_saved.p99": "<=150",
    },
}


def desk_tokens(fx, data_dir: Path, count: int) -> list[str]:
    """`count` resident passes to drive through the desk's "in" direction, each once, none of
    them inside already: a pass whose last allowed passage went in is CHECK at the next "in"
    (models/verdict.py repeat_reason), which is not the routine passage measured here. First the
    fixture's sampled resident passes that are outside (their passages are in the file, so the
    look-ups find rows), then new ones signed with the kiosk's own key (trusted, never seen)."""
    import random as _random

    from models.keys import load_signing_key
    from models.passtoken import PassBody, PassKind, decode_token, kid_for, sign_pass
    from models.store import DB_FILE

    db = sqlite3.connect(f"{(data_dir / DB_FILE).as_uri()}?mode=ro", uri=True)
    try:
        last = "SELECT direction FROM passage WHERE pass_id = ? AND verdict = 'allow' ORDER BY rowid DESC LIMIT 1"
        tokens = []
        for sample in fx.sample_tokens():
            if sample["revoked"] or sample["kind"] != 1:
                continue
            row = db.execute(last, (decode_token(sample["token"]).body.pass_id_hex,)).fetchone()
            if row is None or row[0] != "in":
                tokens.append(sample["token"])
        units = [r[0] for r in db.execute("SELECT code FROM unit ORDER BY code")]
    finally:
        db.close()
    key = load_signing_key(data_dir)
    kid = kid_for(bytes(key.verify_key))
    rng = _random.Random(17)
    now = int(time.time())
    while len(tokens) < count:
        body = PassBody(
            kid=kid,
            pass_id=rng.randbytes(16),
            kind=PassKind.RESIDENT,
            scope=0,
            valid_from=now - 86400,
            valid_to=now + 60 * 86400,
            unit=rng.choice(units),
            name="",
        )
        tokens.append(sign_pass(body, key))
    return tokens[:count]


def bench_desk(
    fx, desk_passages: int, work: Path, cold_start: bool = False, limit=None, baselines: dict | None = None
) -> dict:
    """The desk in a pty; with `limit` (a CpuLimit) inside its cgroup, names `kiosk.pi_desk_*`
    and each line's baseline the same figure without the limit from this run (`baselines`).
    Returns this mode's figures by short name."""
    import importlib.util

    mode = "full" if limit is None else "pi"
    prefix = "kiosk.desk_" if limit is None else "kiosk.pi_desk_"
    figures: dict = {}
    sizes = {"passages": fx.passages, "passes": fx.passes, "revocations": fx.revocations, "cpu": "as it is"}
    if limit is not None:
        sizes["cpu"] = limit.label

    def out(short: str, value, unit: str, **extra) -> None:
        figures[short] = value
        base = (baselines or {}).get(short) if limit is not None else extra.pop("baseline", None)
        extra.pop("baseline", None)
        target = DESK_TARGETS[mode].get(short, extra.pop("target", None))
        emit(prefix + short, value, unit, baseline=base, target=target, **extra)

    if importlib.util.find_spec("tui.app") is None:
        reason = "tui.app (the duty desk) is not built yet"
        skip(prefix + "start_to_login", "s", reason, target="<1", sizes=sizes)
        return figures
    from tests.bench.fixtures import copy_of, ensure_volunteer
    from tui.strings import STRINGS

    en = STRINGS["en"]
    data_dir = copy_of(fx, work)
    ensure_volunteer(data_dir, "王秀英", SUPERVISOR_PIN, role="supervisor")
    if cold_start and not _drop_page_cache():
        log("cannot drop the page cache (not root): the desk start is measured warm")
        cold_start = False
    sizes["cache"] = "cold" if cold_start else "warm"
    env = dict(
        os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30", KAKOU_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1"
    )
    env.pop("TEXTUAL", None)
    argv = [KAKOU, "kiosk", "--lang", "en", "--data-dir", str(data_dir)]
    term = Terminal(argv, env, preexec=None if limit is None else limit.preexec)
    try:
        login_prompt = en["login.prompt"]
        ready_text = en["duty.ready"]
        t_start = time.perf_counter()  # the process was started just before
        t_login = term.wait_for(login_prompt, timeout=60)
        out("start_to_login", t_login, "s", sizes=sizes, note="the first PIN prompt (tui/early_login.py) takes keys")
        # The desk's own login screen: the prompt drawn again in Textual's first frame. The PIN
        # below is typed there, so login_to_duty is the login alone, not the rest of the start.
        first = term.screen_text.find(login_prompt) + len(login_prompt)
        term.wait_for(login_prompt, timeout=60, since=first)
        out("start_to_desk_login", time.perf_counter() - t_start, "s", sizes=sizes)
        mark = term.mark()
        t0 = time.perf_counter()
        term.type(SUPERVISOR_PIN + "\r")
        term.wait_for(ready_text, timeout=30, since=mark)
        out("login_to_duty", time.perf_counter() - t0, "s", sizes=sizes, note="includes argon2id PIN check")
        time.sleep(0.5)
        rss_ready, _ = term.rss()
        out("rss_ready", rss_ready, "MiB", sizes=sizes)

        # Drive passages through the duty screen: scan (every key, as a scanner types it),
        # temperature, saved. RSS is taken after the first tenth (1k of 10k: caches warm,
        # the log full) and at the end: a desk that runs for weeks must not grow.
        tokens = desk_tokens(fx, data_dir, desk_passages)
        saved = en["duty.saved"]
        prompt = en["duty.temp_prompt"][:20]
        scan_times, verdict_times = [], []
        tenth = max(1, desk_passages // 10)
        rss_tenth = None
        cpu_start = _cpu_seconds(term.proc.pid)
        started = time.perf_counter()
        for i in range(desk_passages):
            mark = term.mark()
            t0 = time.perf_counter()
            term.type(tokens[i % len(tokens)] + "\r")
            term.wait_for(prompt, timeout=10, since=mark)
            verdict_times.append(time.perf_counter() - t0)
            term.type("365\r")
            term.wait_for(saved, timeout=10, since=mark)
            scan_times.append(time.perf_counter() - t0)
            if i % 200 == 199:  # keep the captured screen text small
                term.forget()
            if i + 1 == tenth:
                rss_tenth, _ = term.rss()
            if (i + 1) % 1000 == 0:
                log(f"desk: {i + 1} passages in {time.perf_counter() - started:.0f} s, RSS {term.rss()[0]:.1f} MiB")
        wall = time.perf_counter() - started
        cpu_ms = (_cpu_seconds(term.proc.pid) - cpu_start) / desk_passages * 1000
        rss_after, _ = term.rss()
        run = dict(sizes, scans=desk_passages)
        note = "through the pty, every key typed: scanner burst + Enter until the verdict is shown"
        out("scan_to_verdict.p50", percentile(verdict_times, 50) * 1000, "ms", sizes=run, note=note)
        out("scan_to_verdict.p99", percentile(verdict_times, 99) * 1000, "ms", sizes=run, note=note)
        note = "through the pty: scan + temperature 365 Enter until saved is shown"
        out("scan_to_saved.p50", percentile(scan_times, 50) * 1000, "ms", sizes=run, note=note)
        out("scan_to_saved.p99", percentile(scan_times, 99) * 1000, "ms", sizes=run, note=note)
        out(
            "cpu_per_passage",
            cpu_ms,
            "ms",
            sizes=run,
            wall_s=round(wall, 1),
            note="CPU of the desk process per passage (user+system): steadier than wall time on a busy machine",
        )
        emit(
            prefix + "rss_after_passages",
            rss_after,
            "MiB",
            baseline=rss_tenth,
            sizes=dict(sizes, driven=desk_passages, baseline_after=tenth),
            target="<1.05x",
            met=rss_after <= rss_tenth * 1.05,
            rss_ready=round(rss_ready, 1),
        )
    except (TimeoutError, RuntimeError) as exc:
        skip(prefix.rstrip("_"), "s", f"the duty desk did not behave as expected: {exc}", sizes=sizes)
    finally:
        term.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return figures


def bench_pi_desk(fx, desk_passages: int, work: Path, full: dict) -> None:
    """The same desk run under a Pi-class CPU limit, its figures beside the unlimited ones."""
    from tests.bench.cpu_limit import CpuLimit, CpuLimitUnavailable

    try:
        limit = CpuLimit(f"kakou-bench-pi-{os.getpid()}")
    except CpuLimitUnavailable as exc:
        skip("kiosk.pi_desk", "s", f"no Pi-class CPU limit here: {exc}", target="<=1")
        return
    try:
        bench_desk(fx, desk_passages, work, cold_start=True, limit=limit, baselines=full)
    finally:
        limit.close()


# -- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes, under a minute or so")
    parser.add_argument("--only", default="", help="run only measurements whose name contains this")
    parser.add_argument(
        "--desk-passages",
        type=int,
        metavar="N",
        help="passages to drive through the duty desk (default 10000, --quick 100)",
    )
    parser.add_argument("--rss-probe", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_probe:
        rss_probe(args.rss_probe)
        return 0

    cfg = dict(QUICK if args.quick else FULL)
    if args.desk_passages:
        cfg["desk_passages"] = args.desk_passages
    only = args.only
    wanted = lambda *names: not only or any(only in n for n in names)  # noqa: E731
    rng = random.Random(7)
    from tests.bench.fixtures import kiosk_file

    if wanted("kiosk.help_wall", "help"):
        bench_help(cfg["help_runs"])
    with tempfile.TemporaryDirectory(prefix="kakou-bench-", dir=os.environ.get("KAKOU_BENCH_TMP")) as tmp:
        work = Path(tmp)
        for n in cfg["passages"]:
            if not wanted(
                "kiosk.verdict",
                "kiosk.commit",
                "kiosk.store_rss",
                "kiosk.gate_state",
                "kiosk.desk",
                "kiosk.pi_desk",  # --only kiosk.pi_desk ran nothing before
                "kiosk.store_open",
            ):
                break
            fx = kiosk_file(n, cfg["passes"], cfg["revocations"], log=log)
            if fx.build_seconds:
                log(f"built the {n}-passage kiosk file in {fx.build_seconds:.1f} s")
                os.sync()  # let the build's writes land before timing anything
            if wanted("kiosk.verdict", "kiosk.gate_state"):
                bench_verdict(fx, cfg["verdicts"], rng)
            if wanted("kiosk.commit"):
                bench_commit(fx, cfg["commits"], work)
            if wanted("kiosk.store_rss"):
                bench_rss(fx)
            if wanted("kiosk.store_open"):
                bench_open(fx, cold=False)
                if n == cfg["passages"][-1]:
                    bench_open(fx, cold=True)
            if n == cfg["passages"][-1] and wanted("kiosk.desk", "kiosk.pi_desk"):
                full = bench_desk(fx, cfg["desk_passages"], work, cold_start=True) if wanted("kiosk.desk") else {}
                if wanted("kiosk.pi_desk"):
                    bench_pi_desk(fx, cfg["pi_desk_passages"], work, full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
