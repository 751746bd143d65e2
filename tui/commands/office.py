"""`kakou office ...`: the street office's server and its clerk's commands."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ENV_OFFICE_DIR = "KAKOU_OFFICE_DIR"
ENV_DATABASE_URL = "KAKOU_OFFICE_DATABASE_URL"


def register(sub, common) -> None:
    import argparse

    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--office-dir", type=Path, default=None,
                        help="office directory: keys and the SQLite database (default: $KAKOU_OFFICE_DIR, "
                             "else the platform's user data dir)")
    parent.add_argument("--database-url", default=None, metavar="URL",
                        help="postgresql://user@host/db to use PostgreSQL (default: SQLite in the office dir)")

    p = sub.add_parser("office", help="the street office: server, checkpoints, lists, reports")
    osub = p.add_subparsers(dest="office_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    s = osub.add_parser("serve", parents=[parent], help="run the office server (HTTP API under /v1)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1, help="worker processes (share one PostgreSQL)")
    s.set_defaults(func=run_serve)

    a = osub.add_parser("add-checkpoint", parents=[parent], help="register a checkpoint, print its enrolment code")
    a.add_argument("name", help="the checkpoint's name, e.g. 东门卡口")
    a.add_argument("--community", required=True, help="its community, e.g. 幸福里社区")
    a.add_argument("--json", action="store_true")
    a.add_argument("--qr", type=Path, default=None, metavar="PNG", help="also write the code as a QR image")
    a.set_defaults(func=run_add_checkpoint)

    r = osub.add_parser("revoke", parents=[parent], help="revoke a pass at every checkpoint")
    r.add_argument("pass_id", help="the pass id (32 hex digits)")
    r.add_argument("--reason", required=True)
    r.set_defaults(func=run_revoke)

    rk = osub.add_parser("revoke-kiosk", parents=[parent], help="revoke a kiosk (stolen, retired): its key is refused")
    rk.add_argument("checkpoint", help="checkpoint name or kiosk id")
    rk.set_defaults(func=run_revoke_kiosk)

    for list_name, words in (("quarantine", "home-quarantine list (may not go out)"), ("watch", "watch list")):
        q = osub.add_parser(list_name, help=f"the {words}")
        qsub = q.add_subparsers(dest="list_action", metavar="add|remove")
        q.set_defaults(func=lambda args, q=q: (q.print_help(), 2)[1])
        for action in ("add", "remove"):
            qa = qsub.add_parser(action, parents=[parent], help=f"{action} a unit or a person")
            who = qa.add_mutually_exclusive_group(required=True)
            who.add_argument("--unit", help="a unit such as 3-2-501")
            who.add_argument("--id-number", help="a person's ID number")
            if action == "add":
                qa.add_argument("--until", default=None, metavar="YYYY-MM-DD", help="last day (default: until removed)")
                qa.add_argument("--note", default="")
            qa.set_defaults(func=run_list_entry, list_name=list_name, action=action)

    pol = osub.add_parser("policy", help="the policy kiosks apply")
    psub = pol.add_subparsers(dest="policy_action", metavar="set|show")
    pol.set_defaults(func=lambda args: (pol.print_help(), 2)[1])
    ps = psub.add_parser("set", parents=[parent], help="set KEY=VALUE (fever_threshold, recheck_minutes, outing_quota, "
                                                     "temp_required_out, retention_days, ...)")
    ps.add_argument("settings", nargs="+", metavar="KEY=VALUE")
    ps.set_defaults(func=run_policy_set)
    pshow = psub.add_parser("show", parents=[parent], help="show the policy and the lists' versions")
    pshow.set_defaults(func=run_policy_show)

    rep = osub.add_parser("report", parents=[parent], help="the day report of every checkpoint")
    rep.add_argument("--date", default=None, metavar="YYYY-MM-DD")
    rep.add_argument("--format", choices=("table", "json", "csv", "xlsx"), default="table")
    rep.add_argument("--out", type=Path, default=None, help="write to this file (required for xlsx)")
    rep.add_argument("--lang", choices=("zh", "en"), default="zh")
    rep.set_defaults(func=run_report)

    st = osub.add_parser("status", parents=[parent], help="each kiosk: last seen, backlog, clock, lists, conflicts, gaps")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=run_status)


def office_dir(args) -> Path:
    if args.office_dir is not None:
        return args.office_dir.expanduser()
    if os.environ.get(ENV_OFFICE_DIR):
        return Path(os.environ[ENV_OFFICE_DIR]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("kakou-office", appauthor=False))


def database_url(args) -> str | None:
    return args.database_url or os.environ.get(ENV_DATABASE_URL) or None


def open_office(args):
    from sync.office import lists as office_lists
    from sync.office.db import open_office_engine

    engine = open_office_engine(office_dir(args), database_url(args))
    with engine.begin() as conn:
        office_lists.ensure_lists(conn)
    return engine


def run_serve(args) -> int:
    import uvicorn

    from sync.office.keys import OfficeKeys

    directory = office_dir(args)
    engine = open_office(args)  # migrate once, before the workers start
    engine.dispose()
    OfficeKeys(directory)  # make the keys now, not racing in several workers
    os.environ["KAKOU_OFFICE_DIR"] = str(directory)
    if database_url(args):
        os.environ["KAKOU_OFFICE_DATABASE_URL"] = database_url(args)
    print(f"街道服务器 office server: http://{args.host}:{args.port}/v1  (API docs /v1/docs)", file=sys.stderr)
    uvicorn.run("sync.office.app:app_from_env", factory=True, host=args.host, port=args.port,
                workers=max(1, args.workers), log_level="warning", timeout_graceful_shutdown=5)
    return 0


def _ascii_qr(text: str) -> str:
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(text)
    qr.make(fit=True)
    # Plain ASCII: block characters are ambiguous-width in CJK terminals.
    return "\n".join("".join("##" if dark else "  " for dark in row) for row in qr.get_matrix())


def run_add_checkpoint(args) -> int:
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
    print(f"登记码 enrolment code: {info['code']}   (一次有效，{until} 前 / one use, before {until})")
    print(f"在卡口上运行 on the kiosk: kakou enroll --office URL --code {info['code']}")
    if sys.stdout.isatty():
        print(_ascii_qr(info["code"]))
    return 0


def run_revoke(args) -> int:
    from models.errors import KakouError
    from sync.office import lists as office_lists

    pass_id = args.pass_id.strip().lower()
    if len(pass_id) != 32 or any(c not in "0123456789abcdef" for c in pass_id):
        raise KakouError(f"通行证编号应为 32 位十六进制：{args.pass_id}", f"a pass id is 32 hex digits: {args.pass_id}",
                         code="usage")
    if not args.reason.strip():
        raise KakouError("请写明作废原因", "give a reason", code="usage")
    with open_office(args).begin() as conn:
        version = office_lists.revoke_pass(conn, pass_id, args.reason.strip())
    print(f"已作废 revoked {pass_id}; 作废名单 revoked list v{version}")
    return 0


def run_revoke_kiosk(args) -> int:
    from sync.office.enrol import revoke_kiosk

    kiosk_id = revoke_kiosk(open_office(args), args.checkpoint)
    print(f"已注销设备 kiosk revoked: {kiosk_id}")
    return 0


def _until(value: str | None) -> float | None:
    if not value:
        return None
    import datetime as dt
    import time

    from models.report import parse_day

    day = parse_day(value)
    return time.mktime(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min).timetuple())


def run_list_entry(args) -> int:
    from models.errors import KakouError
    from models.values import ValueRejected, parse_id_number, parse_unit
    from sync.office import lists as office_lists

    try:
        unit = str(parse_unit(args.unit)) if args.unit else None
        id_number = parse_id_number(args.id_number) if args.id_number else None
    except ValueRejected as exc:
        raise KakouError(exc.zh, exc.en, code=exc.code) from None
    with open_office(args).begin() as conn:
        if args.action == "add":
            version = office_lists.add_entry(conn, args.list_name, unit=unit, id_number=id_number,
                                             until=_until(args.until), note=args.note)
        else:
            version = office_lists.remove_entry(conn, args.list_name, unit=unit, id_number=id_number)
    from models.values import mask_id

    who = unit or mask_id(id_number)
    print(f"{'已加入' if args.action == 'add' else '已移出'} {args.list_name}: {who}; v{version}")
    return 0


def run_policy_set(args) -> int:
    from models.errors import KakouError
    from models.policy import Policy, coerce
    from sync.office import lists as office_lists

    known = Policy().as_dict()
    values = {}
    for setting in args.settings:
        key, sep, value = setting.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in known:
            raise KakouError(f"不认识的设置：{setting}（可用：{', '.join(known)}）",
                             f"unknown setting {setting} (one of: {', '.join(known)})", code="usage")
        try:
            values[key] = coerce(key, value)
        except ValueError as exc:
            raise KakouError(f"设置值不对：{exc}", f"bad value: {exc}", code="usage") from None
    with open_office(args).begin() as conn:
        version = office_lists.set_items(conn, "policy", values)
    print(f"已设置 set: {', '.join(f'{k}={v}' for k, v in values.items())}; 政策 policy v{version}")
    return 0


def run_policy_show(args) -> int:
    from sqlalchemy import select

    from sync.office import lists as office_lists
    from sync.office import tables as t

    with open_office(args).begin() as conn:
        versions = office_lists.versions(conn)
        items = conn.execute(select(t.list_item.c.item_key, t.list_item.c.value).where(
            t.list_item.c.list_name == "policy", t.list_item.c.deleted.is_(False))).all()
    for key, value in items:
        print(f"{key} = {value}")
    print("名单版本 list versions: " + ", ".join(f"{k} v{v}" for k, v in sorted(versions.items())))
    return 0


def run_report(args) -> int:
    from models.errors import KakouError
    from models.report import parse_day
    from sync.office import report as office_report

    day = parse_day(args.date)
    rep = office_report.day_report(open_office(args), day)
    if args.format == "xlsx":
        if args.out is None:
            raise KakouError("xlsx 格式需要 --out 文件名", "xlsx needs --out FILE", code="usage")
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


def run_status(args) -> int:
    from sync.office.status import format_status, kiosk_status

    status = kiosk_status(open_office(args))
    print(json.dumps(status, ensure_ascii=False, indent=2) if args.json else format_status(status))
    return 0
