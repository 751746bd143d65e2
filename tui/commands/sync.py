"""`kakou enroll` and `kakou sync`: the kiosk's side of the street office link."""

from __future__ import annotations

import sys


def register(sub, common) -> None:
    e = sub.add_parser(
        "enroll",
        parents=[common],
        help="enrol this kiosk with the street office (one-time code)",
        description="Sends this kiosk's public key with the one-time code from `kakou office "
        "add-checkpoint`; receives the checkpoint id, the office's key and the first lists.",
    )
    e.add_argument(
        "--office", required=True, metavar="URL", help="the street office server, e.g. https://office.example.cn"
    )
    e.add_argument(
        "--allow-http",
        action="store_true",
        help="allow plain http to another machine (a trusted LAN only: the keys exchanged at "
        "enrolment travel in clear)",
    )
    e.add_argument("--code", required=True, help="the enrolment code, e.g. K7QX-M3PA")
    e.set_defaults(func=run_enroll)

    s = sub.add_parser(
        "sync",
        parents=[common],
        help="send records to the street office and fetch its lists",
        description="Push then pull. Exit 0 when nothing is left to send, 1 when records are still "
        "waiting (offline), 2 on an error that needs a person.",
    )
    s.add_argument("--once", action="store_true", help="one attempt only (default: retry with backoff until sent)")
    s.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="give up retrying after S seconds (default 600; records stay saved)",
    )
    s.add_argument("--lang", choices=("zh", "en"), default="zh")
    s.set_defaults(func=run_sync)


def run_enroll(args) -> int:
    from models.facts import record_audit
    from sync.kiosk import enroll
    from sync.office_url import check_office_url
    from tui.commands.auth import require_supervisor
    from tui.commands.passes import open_existing_store

    office = check_office_url(args.office, allow_http=args.allow_http)  # before the PIN is asked
    store = open_existing_store(args)
    who = require_supervisor(store, "enroll")
    answer = enroll(store, office, args.code)
    record_audit(store, "enroll", who.id, via="cli", office=office, kiosk_id=answer["kiosk_id"])
    lists = ", ".join(f"{d['name']} v{d['version']}" for d in answer["lists"])
    print(f"已登记 enrolled: {answer['community']} {answer['name']}  (id {answer['kiosk_id']})")
    if answer.get("checkpoint_number"):
        print(
            f"卡口编号 checkpoint number: {answer['checkpoint_number']}  (通行证 --scope 用这个号 / a pass's --scope)"
        )
    print(f"街道办公钥已固定 office key pinned; 名单 lists: {lists}")
    return 0


class ProgressBar:
    """A one-line progress bar on a terminal; silent when output is not a terminal."""

    def __init__(self, stream=None):
        # Looked up when the bar is made, not when the module is imported: stderr may be
        # replaced in between (tests capture it; a daemon redirects it).
        stream = stream or sys.stderr
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.tty or total <= 0:
            return
        width = 30
        filled = int(width * done / total)
        self.stream.write(f"\r上传 sending [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")


def run_sync(args) -> int:
    import time

    from sync.kiosk import SyncLoop, SyncService
    from tui.commands.passes import open_existing_store
    from tui.sync_words import clock_off_words, long_words

    store = open_existing_store(args)
    bar = ProgressBar()

    def said_retry(result, delay: float) -> None:
        print(f"{result.error.text(args.lang)}  ({delay:.0f}s)", file=sys.stderr)

    # The same loop as the duty desk's: until nothing is left to send, a failure needs a
    # person, or the timeout; `--once`: one round.
    loop = SyncLoop(store, make_service=lambda s: SyncService(s, progress=bar))
    result = loop.run(
        until_sent=True,
        once=args.once,
        deadline=time.monotonic() + max(0.0, args.timeout),
        on_retry=said_retry,
    )
    assert result is not None  # nothing stops this loop before its first round
    if result.pushed:
        bar.end()
    status = loop.status
    words = f"新上传 sent {result.pushed}, 重复 duplicates {result.duplicates}, 待传 waiting {result.remaining}"
    if result.conflicts:
        words += f", 冲突 conflicts {result.conflicts}"
    if result.damaged:  # not sent as if fine: the office was told they are damaged (models/hwm.py)
        words += f", 已损坏未上传 damaged, not sent {result.damaged}"
    if result.lists_updated:
        words += f"; 名单更新 lists updated: {', '.join(result.lists_updated)}"
    print(words)
    if status is not None:
        print(long_words(status, args.lang)[0])
        clock = clock_off_words(status, args.lang)
        if clock:
            print(clock, file=sys.stderr)
    if result.error:
        print(str(result.error), file=sys.stderr)
        if not result.error.retryable:
            return 2
    return 0 if result.remaining == 0 and result.ok else 1
