"""`kakou report`: this checkpoint's day report (with the explicit zero report)."""

from __future__ import annotations

import json


def register(sub, common) -> None:
    r = sub.add_parser("report", parents=[common], help="the day report of this checkpoint (零报告 included)")
    r.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="the day (default: today)")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.add_argument("--lang", choices=("zh", "en"), default="zh")
    r.set_defaults(func=run_report)


def run_report(args) -> int:
    from models.report import day_report, format_report, parse_day
    from tui.commands.passes import open_existing_store

    day = parse_day(args.date)
    store = open_existing_store(args, check=False)  # only reads
    report = day_report(store, day)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_report(report, args.lang))
    return 0
