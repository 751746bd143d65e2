"""`kakou pass ...`: verify (and, with the passes work, issue, batch, revoke, reissue, list)."""

from __future__ import annotations

import argparse
import json
import os
import sys


def register(sub, common) -> None:
    p = sub.add_parser("pass", help="verify, issue, revoke passes")
    psub = p.add_subparsers(dest="pass_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    v = psub.add_parser(
        "verify",
        parents=[common],
        help="show the verdict for a pass token (records nothing)",
        description="Exit status: 0 allowed, 1 denied, 3 check by hand, 2 error.",
    )
    v.add_argument("token", help="the pass token (digits), or - to read it from standard input")
    v.add_argument("--direction", choices=("in", "out"), default="in", help="进 in (default) or 出 out")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.add_argument("--lang", choices=("zh", "en"), default=None, help="reasons in one language (default: both)")
    v.set_defaults(func=run_verify)

    from models.kinds import PassKind

    kinds = ", ".join(k.code for k in PassKind)
    plate_kinds = ", ".join(k.code for k in PassKind if k.info.needs_plate)
    hours_kinds = ", ".join(k.code for k in PassKind if k.info.daily_hours)
    printing = argparse.ArgumentParser(add_help=False)
    printing.add_argument(
        "--print-to",
        metavar="TARGET",
        default=None,
        help="escpos-usb:VID:PID, escpos-serial:/dev/ttyUSB0?baud=115200, escpos-tcp:HOST:9100, "
        "escpos-file:PATH, cups:QUEUE, png:PATH, pdf:PATH (default: $KAKOU_PRINTER)",
    )
    printing.add_argument(
        "--paper", default=None, help="paper width: 58 (384 dots) or 80 (576 dots); default $KAKOU_PAPER or 58"
    )
    printing.add_argument(
        "--font", default=None, help="CJK font file (default: $KAKOU_FONT, else a system font via fontconfig)"
    )
    printing.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the printer (default 20)")

    i = psub.add_parser(
        "issue",
        parents=[common, printing],
        help="issue one pass, print its token (and the pass)",
        description="Issue and save a pass; the token goes to standard output. With --print-to the "
        "pass is printed too (if printing fails the pass stays issued: reprint with "
        "kakou pass print).",
    )
    i.add_argument("--kind", required=True, help=f"kind of pass: {kinds}")
    i.add_argument("--unit", required=True, help="the household, building-entrance-room, e.g. 3-2-501")
    i.add_argument("--name", default="", help="holder's name (optional)")
    i.add_argument(
        "--valid-days", type=float, default=None, help="days the pass is valid (default depends on the kind)"
    )
    i.add_argument("--plate", default="", help=f"number plate ({plate_kinds} passes)")
    i.add_argument("--hours", default=None, metavar="FROM-TO", help=f"daily hours, e.g. 8-18 or 22-6 ({hours_kinds})")
    i.add_argument(
        "--scope",
        type=int,
        default=0,
        help="only valid at this checkpoint number (the office's, printed by kakou enroll; 0: any gate of this community)",
    )
    i.set_defaults(func=run_issue)

    b = psub.add_parser(
        "batch",
        parents=[common],
        help="issue passes for a resident list (CSV/XLSX) into a PDF",
        description="One pass per household (or per person with --per-person) from a resident list "
        "with columns 楼栋, 单元, 房号 (or one unit column like 3-2-501) and 姓名. Bad rows "
        "are reported by line number and skipped; the good rows are issued all together "
        "or not at all. Exit status: 0 all rows issued, 1 some rows skipped, 2 error.",
    )
    b.add_argument("--from", dest="source", required=True, metavar="FILE", help="residents .csv or .xlsx")
    b.add_argument("--pdf", required=True, metavar="OUT.pdf", help="where to write the A4 sheets")
    b.add_argument(
        "--kind", default=PassKind.RESIDENT.code, help=f"kind of pass (default {PassKind.RESIDENT.code}): {kinds}"
    )
    b.add_argument("--per-person", action="store_true", help="one pass per named person instead of per household")
    b.add_argument("--valid-days", type=float, default=None, help="days the passes are valid")
    b.add_argument("--hours", default=None, metavar="FROM-TO", help="daily hours, e.g. 8-18")
    b.add_argument(
        "--scope",
        type=int,
        default=0,
        help="only valid at this checkpoint number (the office's, printed by kakou enroll; 0: any gate of this community)",
    )
    b.add_argument("--font", default=None, help="CJK font file (default: $KAKOU_FONT, else a system font)")
    b.add_argument("--workers", type=int, default=None, help="processes drawing pages (default: CPU count)")
    b.set_defaults(func=run_batch)

    r = psub.add_parser("revoke", parents=[common], help="revoke a pass (denied at once)")
    r.add_argument("pass_id", help="pass id, or its first 8+ characters as printed on the pass (编号)")
    r.add_argument("--reason", required=True, help="why, e.g. 遗失 lost")
    r.set_defaults(func=run_revoke)

    ri = psub.add_parser(
        "reissue",
        parents=[common, printing],
        help="revoke a pass and issue its replacement in one step (lost or damaged pass)",
    )
    ri.add_argument("pass_id", help="the old pass id (or its first 8+ characters)")
    ri.add_argument("--reason", default="补办 reissued", help="why the old pass is revoked (default: reissued)")
    ri.add_argument("--valid-days", type=float, default=None, help="days the new pass is valid")
    ri.set_defaults(func=run_reissue)

    pr = psub.add_parser("print", parents=[common, printing], help="print (again) a pass issued here")
    pr.add_argument("pass_id", help="pass id (or its first 8+ characters)")
    pr.set_defaults(func=run_print)

    ls = psub.add_parser("list", parents=[common], help="passes issued here, for one unit or all")
    ls.add_argument("--unit", default=None, help="only this household, e.g. 3-2-501")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)


def require_supervisor(store, action: str):
    from tui.commands.auth import require_supervisor as require

    return require(store, action)


def record_audit(store, action: str, volunteer_id, **detail) -> None:
    from models.facts import record_audit as record

    record(store, action, volunteer_id, **detail)


def open_existing_store(args, *, check: bool = True):
    """The kiosk's store, refusing a data dir that was never set up (a typo in --data-dir).

    `check=False` for commands that only read: the whole-file quick_check before a write is
    worth its time, but on a year's file (1 GB) it takes ~10 s from a cold cache, and a
    read of a damaged page fails with its own words anyway (StoreError)."""
    from models.errors import KakouError
    from models.store import DB_FILE, KioskStore
    from tui.cli import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    if not (data_dir / DB_FILE).exists():
        raise KakouError(
            f"{data_dir} 里没有卡口数据。请先运行 kakou demo 或 kakou kiosk 完成设置，或用 --data-dir 指定目录。",
            f"no checkpoint in {data_dir}. Run kakou demo or kakou kiosk first, or give --data-dir.",
            code="no_store",
        )
    store = KioskStore.open(data_dir, check=check)
    notice = store.lost_notice()
    if notice is not None:  # every command says it, as the duty screen does (models/hwm.py)
        import sys

        print(f"警告 WARNING: {notice.zh}\n{notice.en}", file=sys.stderr)
    return store


def verdict_dict(verdict, lang: str = "zh") -> dict:
    import time

    from models.values import mask_name

    out = {
        "verdict": verdict.outcome,
        "reasons": [{"code": r.code, "zh": r.text("zh"), "en": r.text("en")} for r in verdict.reasons],
    }
    body = verdict.body
    if body is not None:
        fmt = lambda ts: time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))  # noqa: E731
        out.update(
            {
                "pass_id": body.pass_id_hex,
                "unit": body.unit,
                "name": mask_name(body.name),
                "kind": int(body.kind),
                "kind_name": body.kind.label(lang),
                "plate": body.plate,
                "valid_from": fmt(body.valid_from),
                "valid_to": fmt(body.valid_to),
                "issuer": verdict.issuer,
            }
        )
    return out


def run_verify(args) -> int:
    from models.gate import check_token
    from tui.cli import EXIT_DENY, EXIT_OK, EXIT_REFER

    token = sys.stdin.read() if args.token == "-" else args.token
    store = open_existing_store(args, check=False)  # records nothing
    verdict = check_token(store, token, args.direction)
    d = verdict_dict(verdict, args.lang or "zh")
    if args.json:
        print(json.dumps(d, ensure_ascii=False))
    else:
        from tui.strings import t

        print(f"{t('zh', f'duty.{verdict.outcome}')} {t('en', f'duty.{verdict.outcome}')}")  # the desk's words
        if verdict.body is not None:  # the pass decoded: what it says
            print(f"  单元 unit:   {d['unit']}")
            print(f"  姓名 name:   {d['name'] or '-'}")
            name = verdict.body.kind.info.name
            kind = name.text(args.lang) if args.lang else name.both()
            print(f"  类型 kind:   {kind}" + (f"  车牌 plate: {d['plate']}" if d["plate"] else ""))
            print(f"  有效 valid:  {d['valid_from']} - {d['valid_to']}")
        for r in verdict.reasons:
            text = r.text(args.lang) if args.lang else f"{r.text('zh')} / {r.text('en')}"
            print(f"  原因 reason: {text}")
    return {"allow": EXIT_OK, "deny": EXIT_DENY, "refer": EXIT_REFER}[verdict.outcome]


# --- issue / print / batch / revoke / reissue / list ---------------------------------------------

PRINTER_ENV = "KAKOU_PRINTER"
PAPER_ENV = "KAKOU_PAPER"


def parse_hours(text: str | None) -> tuple[int, int]:
    """ "8-18" -> (8, 18); "22-6" wraps past midnight; None -> all day (models.passes.parse_hours)."""
    from models.passes import parse_hours as parse

    return parse(text)


def _header(store) -> str:
    checkpoint = store.checkpoint()
    return checkpoint.community if checkpoint else ""


def _print_one(info, args) -> int:
    """Print a pass to --print-to (or $KAKOU_PRINTER). The pass is already saved."""
    from tui.printing import PrintError, print_pass

    target = args.print_to or os.environ.get(PRINTER_ENV)
    if not target:
        return 0
    paper = args.paper or os.environ.get(PAPER_ENV) or "58"

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() and total > 1:
            print(f"\r打印中 printing {done * 100 // total}%", end="", file=sys.stderr, flush=True)

    try:
        done = print_pass(info, target, paper=paper, font=args.font, timeout=args.timeout, progress=progress)
    except PrintError as exc:
        import logging

        from tui import logs

        logs.shown_error(logging.getLogger("kakou." + __name__), exc, "kakou pass print")
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(f"{exc}", file=sys.stderr)
        print(
            f"通行证已保存，重印 / the pass is saved, reprint with: kakou pass print {info.short_id} --print-to ...",
            file=sys.stderr,
        )
        return 2
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(done, file=sys.stderr)
    return 0


def _check_printable(args) -> None:
    """Refuse, before anything is issued, a name the paper cannot print (tui.printing.render).
    Values the pass rules refuse are left to issue_pass, which says why in its own words."""
    from models.values import ValueRejected, parse_pass_name, parse_unit
    from tui.printing.render import check_printable

    try:
        unit, name = str(parse_unit(args.unit)), parse_pass_name(args.name or "")
    except ValueRejected:
        return
    paper = args.paper or os.environ.get(PAPER_ENV) or "58"
    check_printable(unit, name, (args.plate or "").strip().upper(), paper, args.font)


def run_issue(args) -> int:
    from models.passes import issue_pass, parse_kind
    from tui.printing import print_pass  # noqa: F401  (fail early if printing cannot load)
    from tui.printing.render import PassPrint

    kind = parse_kind(args.kind)
    hours = parse_hours(args.hours)
    if args.print_to:
        from tui.printing.targets import parse_target

        parse_target(args.print_to)  # a typo in the target is reported before anything is issued
    if args.print_to or os.environ.get(PRINTER_ENV):
        _check_printable(args)  # a pass that is issued also prints on this paper
    store = open_existing_store(args)
    who = require_supervisor(store, "issue_pass")
    issued = issue_pass(
        store,
        kind,
        args.unit,
        name=args.name,
        valid_days=args.valid_days,
        plate=args.plate,
        hours=hours,
        scope=args.scope,
    )
    record_audit(store, "issue_pass", who.id, via="cli", pass_id=issued.pass_id, unit=issued.body.unit, kind=args.kind)
    print(issued.token)
    print(f"已签发 issued {issued.pass_id} ({issued.body.unit})", file=sys.stderr)
    return _print_one(PassPrint.from_body(issued.body, issued.token, header=_header(store)), args)


def _find_or_fail(store, pass_id: str):
    from models.passes import PassError, find_pass

    record = find_pass(store, pass_id)
    if record is None:
        raise PassError(
            f"找不到通行证 {pass_id}（要本机签发的，编号至少 8 位）",
            f"no pass {pass_id} issued here (give at least 8 characters of its id)",
            code="not_found",
        )
    return record


def run_print(args) -> int:
    from tui.printing.render import PassPrint

    if not (args.print_to or os.environ.get(PRINTER_ENV)):
        from models.errors import KakouError

        raise KakouError("请用 --print-to 指定打印机", "say where to print with --print-to", code="usage")
    store = open_existing_store(args)
    record = _find_or_fail(store, args.pass_id)
    if record.pass_id in store.gate_state().revoked:
        print("注意：这张通行证已作废 / note: this pass is revoked", file=sys.stderr)
    return _print_one(PassPrint.from_record(record, header=_header(store)), args)


def run_revoke(args) -> int:
    from models.passes import revoke_pass

    store = open_existing_store(args)
    record = _find_or_fail(store, args.pass_id) if len(args.pass_id.strip()) != 32 else None
    who = require_supervisor(store, "revoke_pass")
    revoke_pass(store, record.pass_id if record else args.pass_id, args.reason)
    record_audit(
        store,
        "revoke_pass",
        who.id,
        via="cli",
        pass_id=record.pass_id if record else args.pass_id.strip().lower(),
        reason=args.reason,
    )
    print(f"已作废 revoked {record.pass_id if record else args.pass_id.strip().lower()}")
    return 0


def run_reissue(args) -> int:
    from models.passes import reissue_pass
    from tui.printing.render import PassPrint

    if args.print_to:
        from tui.printing.targets import parse_target

        parse_target(args.print_to)
    store = open_existing_store(args)
    old = _find_or_fail(store, args.pass_id)
    who = require_supervisor(store, "reissue_pass")
    issued = reissue_pass(store, old.pass_id, reason=args.reason, valid_days=args.valid_days)
    record_audit(store, "reissue_pass", who.id, via="cli", old=old.pass_id, new=issued.pass_id)
    print(issued.token)
    print(f"已作废 revoked {old.pass_id}; 已补发 reissued {issued.pass_id} ({issued.body.unit})", file=sys.stderr)
    return _print_one(PassPrint.from_body(issued.body, issued.token, header=_header(store)), args)


def run_list(args) -> int:
    import time

    from models.passes import kind_label, list_passes
    from models.values import mask_name

    store = open_existing_store(args, check=False)  # only reads
    try:
        rows = list_passes(store, args.unit)
    except ValueError as exc:  # a unit that does not parse (ValueRejected)
        from models.errors import KakouError

        raise KakouError(getattr(exc, "zh", str(exc)), getattr(exc, "en", str(exc)), code="unit") from None
    revoked = store.gate_state().revoked
    now = store.trusted_now()
    fmt = lambda ts: time.strftime("%Y-%m-%d", time.localtime(ts))  # noqa: E731

    def status(row) -> str:
        if row.pass_id in revoked:
            return "revoked"
        return "expired" if now >= row.valid_to else "valid"

    if args.json:
        print(
            json.dumps(
                [
                    {
                        "pass_id": r.pass_id,
                        "unit": r.unit_code,
                        "kind": r.kind,
                        "kind_name": kind_label(r.kind),
                        "name": mask_name(r.name),
                        "plate": r.plate,
                        "valid_from": fmt(r.valid_from),
                        "valid_to": fmt(r.valid_to - 1),
                        "status": status(r),
                        "replaces": r.replaces,
                    }
                    for r in rows
                ],
                ensure_ascii=False,
            )
        )
        return 0
    if not rows:
        print("没有通行证 / no passes" + (f" for {args.unit}" if args.unit else ""))
        return 0
    words = {"valid": "有效 valid", "revoked": "作废 revoked", "expired": "过期 expired"}
    for r in rows:
        name = mask_name(r.name) or "-"
        print(
            f"{r.pass_id[:8]}  {r.unit_code:<10} {kind_label(r.kind):<6} {name:<6} "
            f"{fmt(r.valid_from)}..{fmt(r.valid_to - 1)}  {words[status(r)]}" + (f"  {r.plate}" if r.plate else "")
        )
    return 0


def run_batch(args) -> int:
    from pathlib import Path

    from models.batch import RowError, commit_batch, prepare_batch, read_residents
    from models.errors import KakouError
    from models.passes import parse_kind
    from tui.printing.batch_pdf import write_sheets
    from tui.printing.render import PassPrint, find_cjk_font, missing_glyphs

    kind = parse_kind(args.kind)
    hours = parse_hours(args.hours)
    out = Path(args.pdf).expanduser()
    if out.suffix.lower() != ".pdf":
        raise KakouError("--pdf 要以 .pdf 结尾", "--pdf must end in .pdf", code="usage")
    if not out.parent.is_dir():
        raise KakouError(f"目录不存在：{out.parent}", f"no such folder: {out.parent}", code="usage")
    font = find_cjk_font(args.font)  # no font: say which package to install before issuing anything
    residents = read_residents(args.source, per_person=args.per_person, kind=kind)
    errors: list[RowError] = list(residents.errors)
    printable = []
    for entry in residents.entries:
        gone = missing_glyphs(entry.unit + entry.name + entry.plate, font)
        if gone:
            errors.append(
                RowError(
                    entry.lines[0],
                    f"字体里没有这些字：{gone}，无法打印",
                    f"the font has no glyph for {gone}, cannot print",
                )
            )
        else:
            printable.append(entry)
    store = open_existing_store(args)
    who = require_supervisor(store, "batch_issue")
    prepared, bad = prepare_batch(store, printable, kind, args.valid_days, hours, args.scope)
    errors.extend(bad)
    for err in sorted(errors, key=lambda e: e.line):
        print(f"跳过 skipped: {err.text('zh')} / {err.text('en')}", file=sys.stderr)
    if not prepared:
        raise KakouError("没有可以发证的行，什么也没有签发", "no row could be issued; nothing was issued", code="empty")

    header = _header(store)
    total = len(prepared)
    prints = [
        PassPrint.from_body(p.body, p.token, header=header, serial=f"{n:04d}/{total:04d}")
        for n, p in enumerate(prepared, start=1)
    ]

    def progress(done: int, count: int) -> None:
        if sys.stderr.isatty():
            print(f"\r排版 laying out {done}/{count}", end="", file=sys.stderr, flush=True)

    # The sheets are written first, next to the target: if drawing fails, nothing is issued;
    # if issuing fails, the half-made PDF is removed. Only a committed batch becomes OUT.pdf.
    partial = out.with_name(out.name + ".part")
    try:
        pages = write_sheets(prints, partial, font, workers=args.workers, progress=progress)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        commit_batch(store, prepared)
        record_audit(store, "batch_issue", who.id, via="cli", passes=len(prepared), source=str(args.source))
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise KakouError(
            f"写不了 {out}：{exc.strerror or exc}，什么也没有签发",
            f"cannot write {out}: {exc.strerror or exc}; nothing was issued",
            code="write",
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    print(f"已签发 {total} 张，{pages} 页：{out}" + (f"；跳过 {len(errors)} 行" if errors else ""))
    print(f"issued {total} passes on {pages} pages: {out}" + (f"; {len(errors)} rows skipped" if errors else ""))
    return 1 if errors else 0
