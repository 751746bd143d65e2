"""`kakou office ...`: the street office's server and its clerk's commands.

`tui.cli` wires this in (`register`), so the office's command line lives with the office and
imports nothing of the kiosk's desk. Like every command module: only argparse at the top, each
handler imports what it needs when it runs (`kakou --help` stays fast). Errors are `KakouError`s,
printed as one line by `tui.cli.main`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

    from sync.office.keys import OfficeKeys
    from sync.office.settings import OfficeSettings

T = TypeVar("T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    import argparse

    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--office-dir",
        type=Path,
        default=None,
        help="office directory: keys and the SQLite database (default: $KAKOU_OFFICE_DIR, "
        "else the platform's user data dir)",
    )
    parent.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="postgresql://user@host/db to use PostgreSQL (default: SQLite in the office dir)",
    )

    # Only for the server and the commands that only read (report, status): sync/office/replica.py.
    read_url = argparse.ArgumentParser(add_help=False)
    read_url.add_argument(
        "--read-database-url",
        default=None,
        metavar="URL",
        help="postgresql://... of a streaming replica of --database-url: reports, status and exports read"
        " there (how far behind it is is said; reads fall back to the primary when it is away)"
        " (default: $KAKOU_OFFICE_READ_DATABASE_URL, else every read on the primary)",
    )

    p = sub.add_parser("office", help="the street office: server, checkpoints, lists, reports")
    osub = p.add_subparsers(dest="office_command", metavar="ACTION")
    p.set_defaults(func=lambda args: _usage(p))

    i = osub.add_parser(
        "init",
        parents=[parent],
        help="create a new, empty office in the office dir (keys and database); other commands never make one",
    )
    i.set_defaults(func=run_init)

    s = osub.add_parser(
        "serve",
        parents=[parent, read_url],
        help="run the office server (HTTP API under /v1); creates the office if none is there",
    )
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1, help="worker processes (share one PostgreSQL)")
    s.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        metavar="PEM",
        help="serve https with this certificate (chain) file; kiosks enrol over https only",
    )
    s.add_argument("--tls-key", type=Path, default=None, metavar="PEM", help="the certificate's private key")
    s.add_argument(
        "--docs",
        action="store_true",
        help="serve the API docs page at /v1/docs (from the package, never from the internet; default off)",
    )
    s.set_defaults(func=run_serve)

    a = osub.add_parser("add-checkpoint", parents=[parent], help="register a checkpoint, print its enrolment code")
    a.add_argument("name", help="the checkpoint's name, e.g. 东门卡口")
    a.add_argument("--community", required=True, help="its community, e.g. 幸福里社区")
    a.add_argument("--json", action="store_true")
    a.add_argument("--qr", type=Path, default=None, metavar="PNG", help="also write the code as a QR image")
    a.set_defaults(func=run_add_checkpoint)

    from models.kinds import PassKind

    ip = osub.add_parser(
        "issue-pass",
        parents=[parent],
        help="issue a pass signed by the office: for the whole street, or one checkpoint",
        description="A kiosk's pass opens its own community's gates only; a pass the office signs opens "
        "every checkpoint of the street (--street-wide) or the one checkpoint named (--checkpoint).",
    )
    ip.add_argument("kind", help="one of: " + ", ".join(k.code for k in PassKind))
    ip.add_argument("unit", help="the holder's unit, e.g. 3-2-501")
    ip.add_argument("--name", default="")
    ip.add_argument(
        "--valid-days", type=float, default=None, help="days (default by kind; at most the policy's max_days)"
    )
    ip.add_argument("--plate", default="", help="number plate (vehicle passes)")
    ip.add_argument("--hours", default=None, help="daily hours, e.g. 8-18")
    where = ip.add_mutually_exclusive_group()  # neither: the words say why (both languages)
    where.add_argument("--street-wide", action="store_true", help="valid at every checkpoint of the street")
    where.add_argument("--checkpoint", default=None, help="valid at this checkpoint only (its number or name)")
    ip.add_argument("--json", action="store_true")
    ip.add_argument("--qr", type=Path, default=None, metavar="PNG", help="also write the pass as a QR image")
    ip.set_defaults(func=run_issue_pass)

    r = osub.add_parser("revoke", parents=[parent], help="revoke a pass at every checkpoint")
    r.add_argument(
        "pass_id",
        help="the pass: the 编号 printed on it (8 characters), a longer prefix, its full id, or the scanned pass;"
        " only passes the office knows (it issued, or a kiosk synced)",
    )
    r.add_argument("--reason", required=True)
    r.set_defaults(func=run_revoke)

    rk = osub.add_parser(
        "revoke-kiosk",
        parents=[parent],
        help="revoke a kiosk (stolen, retired): its key is refused; only passes it synced before stay valid",
    )
    rk.add_argument("checkpoint", help="checkpoint name or kiosk id")
    rk.add_argument(
        "--since",
        default=None,
        metavar="'YYYY-MM-DD HH:MM'",
        help="when it went missing: passes it synced before stay valid, what it revoked from then on is withdrawn"
        " (default: now; may be run again on a revoked kiosk)",
    )
    rk.set_defaults(func=run_revoke_kiosk)

    rv = osub.add_parser("revocations", help="kiosks' revocations held for review (list, approve, reject)")
    rvsub = rv.add_subparsers(dest="revocations_action", metavar="list|approve|reject")
    rv.set_defaults(func=lambda args: _usage(rv))
    rvl = rvsub.add_parser("list", parents=[parent], help="held revocations (--all: every status)")
    rvl.add_argument("--kiosk", default=None, help="only this checkpoint (name or kiosk id)")
    rvl.add_argument("--all", action="store_true", help="also published, refused, rejected and withdrawn ones")
    rvl.add_argument("--limit", type=int, default=200)
    rvl.add_argument("--json", action="store_true")
    rvl.set_defaults(func=run_revocations_list)
    for action, words in (
        ("approve", "publish held revocations"),
        ("reject", "drop held revocations, or acknowledge refused ones"),
    ):
        rva = rvsub.add_parser(action, parents=[parent], help=f"{words} (audited)")
        rva.add_argument("ids", nargs="*", metavar="ID", help="record id or pass id")
        rva.add_argument("--kiosk", default=None, help="every held revocation of this checkpoint")
        rva.set_defaults(func=run_revocations_decide, approve=action == "approve")

    for list_name, words in (("quarantine", "home-quarantine list (may not go out)"), ("watch", "watch list")):
        q = osub.add_parser(list_name, help=f"the {words}")
        qsub = q.add_subparsers(dest="list_action", metavar="add|remove")
        q.set_defaults(func=lambda args, q=q: _usage(q))
        for action in ("add", "remove"):
            qa = qsub.add_parser(action, parents=[parent], help=f"{action} a unit or a person")
            who = qa.add_mutually_exclusive_group(required=True)
            who.add_argument("--unit", help="a unit such as 3-2-501")
            who.add_argument("--id-number", help="a person's ID number")
            qa.add_argument(
                "--community",
                default=None,
                help="the unit's community (required when the street has several; a person is street-wide)",
            )
            if action == "add":
                qa.add_argument("--until", default=None, metavar="YYYY-MM-DD", help="last day (default: until removed)")
                qa.add_argument("--note", default="")
            qa.set_defaults(func=run_list_entry, list_name=list_name, action=action)

    pol = osub.add_parser("policy", help="the policy kiosks apply")
    psub = pol.add_subparsers(dest="policy_action", metavar="set|show")
    pol.set_defaults(func=lambda args: _usage(pol))
    ps = psub.add_parser(
        "set",
        parents=[parent],
        help="set KEY=VALUE (fever_threshold, recheck_minutes, outing_quota, temp_required_out, retention_days, ...)",
    )
    ps.add_argument("settings", nargs="+", metavar="KEY=VALUE")
    ps.set_defaults(func=run_policy_set)
    pshow = psub.add_parser("show", parents=[parent], help="show the policy and the lists' versions")
    pshow.set_defaults(func=run_policy_show)

    rep = osub.add_parser("report", parents=[parent, read_url], help="the day report of every checkpoint")
    rep.add_argument("--date", default=None, metavar="YYYY-MM-DD")
    rep.add_argument("--format", choices=("table", "json", "csv", "xlsx"), default="table")
    rep.add_argument("--out", type=Path, default=None, help="write to this file (required for xlsx)")
    rep.add_argument("--lang", choices=("zh", "en"), default="zh")
    rep.set_defaults(func=run_report)

    st = osub.add_parser(
        "status", parents=[parent, read_url], help="each kiosk: last seen, backlog, clock, lists, conflicts, gaps"
    )
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=run_status)

    ad = osub.add_parser("add-admin", parents=[parent], help="make an admin and print their API token (shown once)")
    ad.add_argument("name", help="the admin's name, e.g. 张主任")
    ad.set_defaults(func=run_add_admin)

    rm = osub.add_parser("remove-admin", parents=[parent], help="revoke an admin's token at once")
    rm.add_argument("name")
    rm.set_defaults(func=run_remove_admin)

    ls = osub.add_parser("admins", parents=[parent], help="list the admins (names only; tokens are never stored)")
    ls.set_defaults(func=run_admins)

    lk = osub.add_parser(
        "lookup", parents=[parent], help="open the sealed ID number and phone of one registration (audited)"
    )
    lk.add_argument("record_id", help="the registration's record id")
    lk.add_argument("--admin", required=True, help="your admin name (kakou office add-admin)")
    lk.add_argument("--reason", required=True, help="why you need the full numbers (kept in the audit trail)")
    lk.add_argument("--json", action="store_true")
    lk.set_defaults(func=run_lookup)

    au = osub.add_parser("audit", parents=[parent], help="who opened personal data, purged, or changed lists")
    au.add_argument("--limit", type=int, default=100)
    au.add_argument("--action", default=None, help="only this action, e.g. lookup")
    au.add_argument("--json", action="store_true")
    au.set_defaults(func=run_audit)

    pu = osub.add_parser(
        "purge", parents=[parent], help="clear personal data of records older than the retention period (counts stay)"
    )
    pu.add_argument(
        "--older-than-days",
        type=int,
        default=None,
        metavar="N",
        help="default: the office's retention days (kakou office retention)",
    )
    pu.add_argument("--admin", default=None, help="your admin name, for the audit trail (default: your login)")
    pu.add_argument("--json", action="store_true")
    pu.set_defaults(func=run_purge)

    from sync.office import users_cli

    users_cli.register(osub, parent)

    rt = osub.add_parser("retention", parents=[parent], help="show or set how many days the office keeps personal data")
    rt.add_argument("days", nargs="?", type=int, default=None)
    rt.set_defaults(func=run_retention)


def _usage(parser: argparse.ArgumentParser) -> int:
    """`kakou office` (or a list, or policy) without its action: the help, exit status 2."""
    parser.print_help()
    return 2


def settings(args: argparse.Namespace) -> OfficeSettings:
    """The office's settings: the flags given, else $KAKOU_OFFICE_DIR / $KAKOU_OFFICE_DATABASE_URL,
    else the defaults (the platform's user data dir, SQLite in it)."""
    from sync.office.settings import OfficeSettings

    return OfficeSettings.from_values(
        office_dir=args.office_dir,
        database_url=args.database_url or None,
        read_database_url=getattr(args, "read_database_url", None) or None,
        docs=getattr(args, "docs", False) or None,  # `serve --docs`; else $KAKOU_OFFICE_DOCS, else off
    )


def office_dir(args: argparse.Namespace) -> Path:
    return settings(args).office_dir


def open_office(args: argparse.Namespace, *, create: bool = False) -> Engine:
    """The office the flags name. It must be there already: a mistyped or missing --office-dir is
    refused in words (`no_office_error`), never a new empty office. `init` and `serve` create."""
    from sync.office import lists as office_lists
    from sync.office.db import open_office_engine

    given = settings(args)
    engine = open_office_engine(given.office_dir, given.database_url, create=create)
    with engine.begin() as conn:
        office_lists.ensure_lists(conn)
    return engine


def read_office(args: argparse.Namespace, work: Callable[[Engine], T]) -> tuple[T, dict[str, Any]]:
    """`work(engine)` for a command that only reads: on the replica --read-database-url names when it
    answers, else on the primary; with where it ran (`read_from`). A URL that is not a replica of
    this office is refused in words; a replica that does not answer is said, and the primary reads."""
    from sync.office.replica import ReadEngines

    given = settings(args)
    engine = open_office(args)
    reads = ReadEngines(
        engine,
        given.read_database_url,
        retry=given.read_retry,
        retry_max=given.read_retry_max,
        connect_timeout=given.read_connect_timeout,
        max_lag=given.read_max_lag,
    )
    try:
        reads.check()
        result, source = reads.run(work)
    finally:
        reads.close()
        engine.dispose()
    return result, source.as_dict()


def office_keys(args: argparse.Namespace) -> OfficeKeys:
    """The office's keys, which must be in the office dir: a command never makes new ones (a pass
    signed with a new root key, or a list entry hashed with a new lookup key, is one no kiosk
    knows). `init` and `serve` make them with a new office."""
    from models.errors import KeyFileError
    from sync.office.keys import OfficeKeys, has_keys

    folder = office_dir(args)
    if not has_keys(folder):
        raise KeyFileError(
            f"{folder} 里没有街道办的密钥（--office-dir 写错了？）。新街道办请先运行 kakou office init"
            " --office-dir 目录；原有的街道办请从备份恢复 keys/ 目录。不会生成新密钥。",
            f"{folder} holds no office keys (a mistyped --office-dir?). For a new office run kakou office init"
            " --office-dir DIR first; for an existing one restore keys/ from a backup. No new keys are made.",
            code="key_missing",
        )
    return OfficeKeys(folder)


def _create_office(args: argparse.Namespace) -> tuple[Engine, bool]:
    """Open the office, creating its database and keys where there are none; True when it was new.

    Keys are never made for a database that already has kiosks enrolled: they pinned the old root
    key, so a new one (a wrong --office-dir next to the right --database-url) would make every
    kiosk refuse the lists as forged."""
    from sqlalchemy import func, select

    from models.errors import KakouError
    from sync.office import tables as t
    from sync.office.db import office_exists, open_office_engine
    from sync.office.keys import OfficeKeys, has_keys

    given = settings(args)
    probe = open_office_engine(given.office_dir, given.database_url, migrate=False)
    try:
        had_office = office_exists(probe)
    finally:
        probe.dispose()
    engine = open_office(args, create=True)
    had_keys = has_keys(given.office_dir)
    if not had_keys:
        with engine.connect() as conn:
            enrolled = conn.execute(
                select(func.count()).select_from(t.kiosk).where(t.kiosk.c.public_key.is_not(None))
            ).scalar_one()
            conn.rollback()
        if enrolled:
            engine.dispose()
            raise KakouError(
                f"这个数据库已有 {enrolled} 台登记过的卡口，但 {given.office_dir} 里没有街道办的密钥："
                "--office-dir 写错了？请用原来的目录，或从备份恢复 keys/ 目录。不会生成新密钥。",
                f"this database has {enrolled} enrolled kiosks but {given.office_dir} holds no office keys: a "
                "mistyped --office-dir? Use the office's own dir, or restore keys/ from a backup. No new keys made.",
                code="key_missing",
            )
        OfficeKeys(given.office_dir)
    return engine, not (had_office and had_keys)


def run_init(args: argparse.Namespace) -> int:
    engine, new = _create_office(args)
    engine.dispose()
    where = office_dir(args)
    if not new:
        print(f"这里已有街道办，未改动 / an office is already here, nothing changed: {where}")
        return 0
    print(f"已新建街道办 new office created: {where}")
    print("下一步 next: kakou office add-checkpoint 名称 NAME --community 社区 COMMUNITY --office-dir " + str(where))
    print("然后 then:   kakou office serve --office-dir " + str(where))
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sync.office import logs as office_logs

    tls = _tls_files(args)  # checked before anything starts: a typo is one line, not a traceback
    given = settings(args)
    # Migrate once and make the keys now, before the workers start (not racing in several).
    engine, new = _create_office(args)
    try:
        replica = _check_replica(engine, given)
    finally:
        engine.dispose()
    if new:  # said out loud: a mistyped --office-dir must not quietly serve an empty street
        print(f"已新建街道办 new office created: {given.office_dir}", file=sys.stderr)
    if replica:
        print(replica, file=sys.stderr)
    os.environ.update(given.as_environ())  # each worker's `app_from_env` reads the same settings
    scheme = "https" if tls else "http"
    docs = "  (API docs /v1/docs)" if given.docs else ""
    print(f"街道服务器 office server: {scheme}://{args.host}:{args.port}/v1{docs}", file=sys.stderr)
    uvicorn.run(
        "sync.office.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=max(1, args.workers),
        log_level="warning",
        log_config=office_logs.log_config(),  # kakou's loggers on uvicorn's stderr handler, in every worker
        timeout_graceful_shutdown=5,
        http="sync.office.app:NoDelayHTTP",
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    return 0


def _check_replica(engine: Engine, given: OfficeSettings) -> str | None:
    """Before the server starts: a --read-database-url that is not a replica of this office is
    refused; one that does not answer is said (the office starts and reads from the primary)."""
    from sync.office.db import safe_url
    from sync.office.replica import ReadEngines, read_words

    if not given.read_database_url:
        return None
    reads = ReadEngines(engine, given.read_database_url, connect_timeout=given.read_connect_timeout, max_lag=0)
    try:
        words = read_words(reads.check().as_dict())
    finally:
        reads.close()
    where = safe_url(given.read_database_url)
    return f"读库 read database: {where}" + (f"（{words.zh}）" if words else "")


def _tls_files(args: argparse.Namespace) -> tuple[Path, Path] | None:
    """(certificate, key) when both are given and load together; None for plain http."""
    import ssl

    from models.errors import KakouError

    cert, key = args.tls_cert, args.tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise KakouError("--tls-cert 和 --tls-key 要一起给出。", "give both --tls-cert and --tls-key.", code="tls")
    for path in (cert, key):
        if not path.is_file():
            raise KakouError(f"找不到文件 {path}。", f"no such file: {path}.", code="tls")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise KakouError(
            f"证书或私钥用不了（{exc}）：请检查两个文件是否配对、是否为 PEM 格式。",
            f"the certificate or key cannot be used ({exc}): check they are a PEM pair.",
            code="tls",
        ) from None
    return cert, key


def _ascii_qr(text: str) -> str:
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(text)
    qr.make(fit=True)
    # Plain ASCII: block characters are ambiguous-width in CJK terminals.
    return "\n".join("".join("##" if dark else "  " for dark in row) for row in qr.get_matrix())


def run_add_checkpoint(args: argparse.Namespace) -> int:
    import time

    from sync.office.enrol import add_checkpoint

    info = add_checkpoint(open_office(args), args.name, args.community)
    if args.qr:
        import qrcode

        qrcode.make(info["code"]).save(args.qr)
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return 0
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(info["expires_at"]))
    print(f"卡口 checkpoint: {info['community']} {info['name']}  (id {info['kiosk_id']})")
    print(f"卡口编号 checkpoint number: {info['checkpoint_number']}  (全街道唯一 / unique on this street)")
    if info["new_community"]:
        print(f"新社区 new community: {info['community']}  (第一次出现这个名字 / first checkpoint with this name)")
    print(f"登记码 enrolment code: {info['code']}   (一次有效，{until} 前 / one use, before {until})")
    print(f"在卡口上运行 on the kiosk: kakou enroll --office URL --code {info['code']}")
    if sys.stdout.isatty():
        print(_ascii_qr(info["code"]))
    return 0


def run_issue_pass(args: argparse.Namespace) -> int:
    import time

    from models.passes import parse_hours
    from sync.office.passes import issue_office_pass

    engine = open_office(args)
    issued = issue_office_pass(
        engine,
        office_keys(args),
        args.kind,
        args.unit,
        name=args.name,
        valid_days=args.valid_days,
        plate=args.plate,
        hours=parse_hours(args.hours),
        street_wide=args.street_wide,
        checkpoint=args.checkpoint,
    )
    if args.qr:
        import qrcode

        qrcode.make(issued.token, error_correction=qrcode.constants.ERROR_CORRECT_Q).save(args.qr)
    body = issued.body
    if args.json:
        info = {
            "token": issued.token,
            "pass_id": issued.pass_id,
            "kind": body.kind.code,
            "unit": body.unit,
            "scope": body.scope,
            "valid_from": body.valid_from,
            "valid_to": body.valid_to,
        }
        print(json.dumps(info, ensure_ascii=False))
        return 0
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(body.valid_to))
    where = "全街道所有卡口 every checkpoint of the street" if body.scope == 0 else f"{issued.where} (#{body.scope})"
    print(f"街道办签发 issued by the office: {body.kind.label('zh')} {body.kind.label('en')}  {body.unit} {body.name}")
    print(f"有效 valid at: {where};  至 until {until}")
    print(f"编号 pass id: {issued.pass_id}")
    print(issued.token)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from sync.office.admin import revoke_known_pass

    version, pass_id = revoke_known_pass(open_office(args), args.pass_id, args.reason)
    print(f"已作废 revoked {pass_id}; 作废名单 revoked list v{version}")
    return 0


def run_revoke_kiosk(args: argparse.Namespace) -> int:
    import time

    from sync.office import audit
    from sync.office.enrol import revoke_kiosk_detail
    from sync.office.vouch import parse_since

    engine = open_office(args)
    since = parse_since(args.since) if args.since else None
    done = revoke_kiosk_detail(engine, args.checkpoint, since=since)
    with engine.begin() as conn:
        audit.record(
            conn,
            audit.cli_actor(),
            "revoke_kiosk",
            checkpoint=args.checkpoint,
            kiosk_id=done.kiosk_id,
            since=done.since,
            vouched=done.vouched,
            withdrawn=done.withdrawn,
        )
    at = time.strftime("%Y-%m-%d %H:%M", time.localtime(done.since))
    print(f"已注销设备 kiosk revoked: {done.kiosk_id}")
    print(f"{at} 前同步到街道的 {done.vouched} 张通行证仍有效；其余由它签发的通行证一律无效。")
    print(f"the {done.vouched} passes it synced before {at} stay valid; every other pass it signed is denied.")
    print("它签发了但没有同步到街道的通行证无法核实，请由社区负责人为持证人补办。")
    print("passes it issued but never synced cannot be vouched for: the supervisor reissues them.")
    print(f"撤回它在 {at} 之后作废的 {done.withdrawn} 条 / withdrew {done.withdrawn} revocations it sent from {at} on.")
    return 0


def _kiosk_id(engine: Engine, name_or_id: str | None) -> str | None:
    from sync.office.enrol import find_kiosk

    return str(find_kiosk(engine, name_or_id).kiosk_id) if name_or_id else None


def run_revocations_list(args: argparse.Namespace) -> int:
    import time

    from sync.office.vouch import WHY_WORDS, list_revocations

    engine = open_office(args)
    rows = list_revocations(engine, kiosk_id=_kiosk_id(engine, args.kiosk), all_statuses=args.all, limit=args.limit)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("没有待审核的作废 / no revocations held for review")
        return 0
    print("收到 received | 卡口 checkpoint | 通行证 pass | 状态 status | 原因 why | 作废理由 reason | 记录 record")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["received_at"]))
        why = " / ".join(WHY_WORDS[r["why"]]) if r["why"] in WHY_WORDS else "-"
        print(
            f"{when} | {r['checkpoint'] or r['kiosk_id']} | {r['pass_id']} | {r['status']} | {why}"
            f" | {r['reason'] or '-'} | {r['record_id']}"
        )
    return 0


def run_revocations_decide(args: argparse.Namespace) -> int:
    from sync.office.vouch import decide

    engine = open_office(args)
    n, version = decide(engine, args.ids, args.approve, kiosk_id=_kiosk_id(engine, args.kiosk))
    if args.approve:
        print(f"已发布 published {n}; 作废名单 revoked list v{version}")
    else:
        print(f"已驳回 rejected {n} (不发布 not published)")
    return 0


def run_list_entry(args: argparse.Namespace) -> int:
    from sync.office.admin import list_entry, until_day

    engine = open_office(args)
    version, who = list_entry(
        engine,
        args.list_name,
        args.action,
        unit=args.unit,
        id_number=args.id_number,
        until=until_day(getattr(args, "until", None)),
        note=getattr(args, "note", ""),
        lookup_key=office_keys(args).lookup,
        community=args.community,
    )
    print(f"{'已加入' if args.action == 'add' else '已移出'} {args.list_name}: {who}; v{version}")
    return 0


def run_policy_set(args: argparse.Namespace) -> int:
    from models.errors import KakouError
    from sync.office.admin import set_policy

    settings = {}
    for setting in args.settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise KakouError(
                f"设置应写成 KEY=VALUE：{setting}", f"unknown setting {setting} (write KEY=VALUE)", code="usage"
            )
        settings[key] = value
    version, values = set_policy(open_office(args), settings)
    print(f"已设置 set: {', '.join(f'{k}={v}' for k, v in values.items())}; 政策 policy v{version}")
    return 0


def run_policy_show(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from sync.office import lists as office_lists
    from sync.office import tables as t

    with open_office(args).begin() as conn:
        versions = office_lists.versions(conn)
        items = conn.execute(
            select(t.list_item.c.item_key, t.list_item.c.value).where(
                t.list_item.c.list_name == "policy", t.list_item.c.deleted.is_(False)
            )
        ).all()
    for key, value in items:
        print(f"{key} = {value}")
    print("名单版本 list versions: " + ", ".join(f"{k} v{v}" for k, v in sorted(versions.items())))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from models.errors import KakouError
    from models.report import parse_day
    from sync.office import report as office_report
    from sync.office.replica import read_words

    day = parse_day(args.date)
    if args.format == "xlsx" and args.out is None:
        raise KakouError("xlsx 格式需要 --out 文件名", "xlsx needs --out FILE", code="usage")
    rep, read_from = read_office(args, lambda engine: office_report.day_report(engine, day))
    rep["read_from"] = read_from
    replica = read_words(read_from)
    if replica is not None and (args.out or args.format != "table"):  # the table says it itself
        print(replica.text(args.lang), file=sys.stderr)
    if args.format == "xlsx":
        office_report.write_xlsx(rep, args.out, args.lang)
        print(f"已写入 written: {args.out}")
        return 0
    if args.format == "json":
        text = json.dumps(rep, ensure_ascii=False, indent=2)
    elif args.format == "csv":
        text = office_report.format_csv(rep, args.lang)
    else:
        text = office_report.format_table(rep, args.lang)
    if args.out:
        args.out.write_text(text, encoding="utf-8-sig" if args.format == "csv" else "utf-8")
        print(f"已写入 written: {args.out}")
    else:
        print(text)
    return 0


def run_status(args: argparse.Namespace) -> int:
    from sync.office.status import format_status, kiosk_status

    status, read_from = read_office(args, kiosk_status)
    status["read_from"] = read_from
    print(json.dumps(status, ensure_ascii=False, indent=2) if args.json else format_status(status))
    return 0


def run_add_admin(args: argparse.Namespace) -> int:
    from sync.office.admin import add_admin

    token = add_admin(open_office(args), args.name)
    print(f"管理员 admin: {args.name.strip()}")
    print(f"令牌 token: {token}")
    print("只显示这一次，请妥善保存；丢失或泄露时运行 kakou office remove-admin 再重新添加。", file=sys.stderr)
    print(
        "Shown only once: keep it safe. If lost or leaked, run kakou office remove-admin and add again.",
        file=sys.stderr,
    )
    return 0


def run_remove_admin(args: argparse.Namespace) -> int:
    from sync.office.admin import remove_admin

    remove_admin(open_office(args), args.name)
    print(f"已移除管理员 admin removed: {args.name.strip()} (令牌立即失效 / token no longer works)")
    return 0


def run_admins(args: argparse.Namespace) -> int:
    import time

    from sync.office.admin import list_admins

    for a in list_admins(open_office(args)):
        since = time.strftime("%Y-%m-%d", time.localtime(a["created_at"]))
        state = "在用 active" if a["removed_at"] is None else "已移除 removed"
        print(f"{a['name']}  {state}  (since {since})")
    return 0


def run_lookup(args: argparse.Namespace) -> int:
    from models.errors import KakouError
    from sync.office import sealed
    from sync.office.admin import require_active

    engine = open_office(args)
    admin = require_active(engine, args.admin)
    keys = office_keys(args)
    try:
        result = sealed.lookup(engine, keys, args.record_id, admin=admin, reason=args.reason, via="cli")
    except sealed.SealedLookupError as exc:
        raise KakouError(exc.zh, exc.en, code=exc.code) from None
    print(json.dumps(result.as_dict(), ensure_ascii=False) if args.json else sealed.format_lookup(result))
    return 0


def run_audit(args: argparse.Namespace) -> int:
    from sync.office import audit

    rows = audit.recent(open_office(args), limit=args.limit, action=args.action)
    print(json.dumps(rows, ensure_ascii=False, indent=2) if args.json else audit.format_audit(rows))
    return 0


def run_purge(args: argparse.Namespace) -> int:
    import time

    from sync.office import sealed
    from sync.office.admin import require_active

    engine = open_office(args)
    admin = require_active(engine, args.admin) if args.admin else None
    result = sealed.purge(engine, older_than_days=args.older_than_days, admin=admin)
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
        return 0
    before = time.strftime("%Y-%m-%d %H:%M", time.localtime(result.cutoff))
    print(
        f"已清除 {before} 之前记录的个人信息（保存 {result.days} 天）：记录 {result.records} 条，隔离副本 {result.conflicts} 条。统计数不变。"
    )
    print(
        f"cleared personal data of records before {before} (kept {result.days} days): {result.records} records, "
        f"{result.conflicts} quarantined copies. Report counts are unchanged."
    )
    if result.dropped_records:
        from sync.office.partitions import first_day_kept

        first = first_day_kept(result.cutoff)
        print(f"已整天删除 {first} 之前各天的记录 {result.dropped_records} 条（统计数保留）。")
        print(f"deleted {result.dropped_records} records of the days before {first}, whole (their counts are kept).")
    return 0


def run_retention(args: argparse.Namespace) -> int:
    from sync.office import sealed

    engine = open_office(args)
    if args.days is None:
        days = sealed.retention_days(engine)
        print(f"街道保存个人信息 {days} 天 / the office keeps personal data {days} days")
        return 0
    days = sealed.set_retention_days(engine, args.days)
    print(f"已设置：街道保存个人信息 {days} 天 / set: the office keeps personal data {days} days")
    return 0
