"""`kakou pass ...`: verify (and, with the passes work, issue, batch, revoke, reissue, list)."""

from __future__ import annotations

import json
import sys


def register(sub, common) -> None:
    p = sub.add_parser("pass", help="verify, issue, revoke passes")
    psub = p.add_subparsers(dest="pass_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    v = psub.add_parser("verify", parents=[common], help="show the verdict for a pass token (records nothing)",
                        description="Exit status: 0 allowed, 1 denied, 3 check by hand, 2 error.")
    v.add_argument("token", help="the pass token (digits), or - to read it from standard input")
    v.add_argument("--direction", choices=("in", "out"), default="in", help="进 in (default) or 出 out")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.add_argument("--lang", choices=("zh", "en"), default=None, help="reasons in one language (default: both)")
    v.set_defaults(func=run_verify)


def open_existing_store(args):
    """The kiosk's store, refusing a data dir that was never set up (a typo in --data-dir)."""
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
    return KioskStore.open(data_dir)


def verdict_dict(verdict, lang: str = "zh") -> dict:
    import time

    from models.passtoken import KIND_NAMES
    from models.values import mask_name

    out = {
        "verdict": verdict.outcome,
        "reasons": [{"code": r.code, "zh": r.text("zh"), "en": r.text("en")} for r in verdict.reasons],
    }
    body = verdict.body
    if body is not None:
        fmt = lambda ts: time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))  # noqa: E731
        zh, en = KIND_NAMES[body.kind]
        out.update({
            "pass_id": body.pass_id_hex,
            "unit": body.unit,
            "name": mask_name(body.name),
            "kind": int(body.kind),
            "kind_name": en if lang == "en" else zh,
            "plate": body.plate,
            "valid_from": fmt(body.valid_from),
            "valid_to": fmt(body.valid_to),
            "issuer": verdict.issuer,
        })
    return out


VERDICT_WORDS = {"allow": ("通行", "ALLOW"), "deny": ("禁止", "DENY"), "refer": ("请核查", "CHECK")}


def run_verify(args) -> int:
    from models.gate import check_token
    from tui.cli import EXIT_DENY, EXIT_OK, EXIT_REFER

    token = sys.stdin.read() if args.token == "-" else args.token
    store = open_existing_store(args)
    verdict = check_token(store, token, args.direction)
    d = verdict_dict(verdict, args.lang or "zh")
    if args.json:
        print(json.dumps(d, ensure_ascii=False))
    else:
        zh, en = VERDICT_WORDS[verdict.outcome]
        print(f"{zh} {en}")
        if "unit" in d:
            print(f"  单元 unit:   {d['unit']}")
            print(f"  姓名 name:   {d['name'] or '-'}")
            from models.passtoken import KIND_NAMES

            kind_zh, kind_en = KIND_NAMES[verdict.body.kind]
            kind = {"zh": kind_zh, "en": kind_en}.get(args.lang, f"{kind_zh} {kind_en}")
            print(f"  类型 kind:   {kind}" + (f"  车牌 plate: {d['plate']}" if d["plate"] else ""))
            print(f"  有效 valid:  {d['valid_from']} - {d['valid_to']}")
        for r in verdict.reasons:
            text = r.text(args.lang) if args.lang else f"{r.text('zh')} / {r.text('en')}"
            print(f"  原因 reason: {text}")
    return {"allow": EXIT_OK, "deny": EXIT_DENY, "refer": EXIT_REFER}[verdict.outcome]
