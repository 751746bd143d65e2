"""`kakou demo` and `kakou kiosk`: set up and run the duty desk."""

from __future__ import annotations

import sys


def register(sub, common) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="seed a demo checkpoint (and open the duty desk)",
        description="Seed a ready demo checkpoint: volunteers with PINs, ~200 households with "
        "signed passes (DIR/demo-passes), one quarantined household, one revoked pass.",
    )
    p.add_argument("--no-tui", action="store_true", help="only seed the data, do not open the duty desk")
    p.add_argument(
        "--traffic", type=int, default=0, metavar="N", help="also record N realistic passages over the last 24 hours"
    )
    p.add_argument("--lang", choices=("zh", "en"), default=None, help="duty desk language")
    p.set_defaults(func=run_demo)

    k = sub.add_parser("kiosk", parents=[common], help="open the duty desk (first start asks for setup)")
    k.add_argument("--lang", choices=("zh", "en"), default=None, help="duty desk language")
    k.set_defaults(func=run_kiosk)


def run_demo(args) -> int:
    from models.errors import KakouError
    from tui.cli import resolve_data_dir
    from tui.demo import DEMO_MARKER, seed_demo

    data_dir = resolve_data_dir(args.data_dir)
    if args.traffic < 0:
        raise KakouError("--traffic 不能为负数", "--traffic must be 0 or more", code="usage")
    if (data_dir / DEMO_MARKER).exists():
        print(f"演示卡口已在 {data_dir} / the demo checkpoint is already in {data_dir}")
    else:

        def progress(done: int, total: int) -> None:
            if sys.stderr.isatty():
                print(f"\r制作通行证 making passes {done}/{total}", end="", file=sys.stderr, flush=True)

        result = seed_demo(data_dir, traffic=args.traffic, progress=progress)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(f"演示卡口已建好 / demo checkpoint ready: {data_dir}")
        print("值守人员 PIN / volunteer PINs:")
        for name, pin, role in result.pins:
            label = "管理员 supervisor" if role == "supervisor" else "志愿者 volunteer"
            print(f"  {name}  {pin}  ({label})")
        print(f"通行证 passes: {result.passes_dir}/<单元 unit>.txt and .png ({result.units} households)")
        print(f'试一试 try:  kakou pass verify --data-dir {data_dir} "$(cat {result.passes_dir}/3-2-501.txt)"')
        print(f"            kakou report --data-dir {data_dir}")
    if args.no_tui:
        return 0
    return _open_desk(data_dir, args.lang)


def run_kiosk(args) -> int:
    from tui.cli import resolve_data_dir

    return _open_desk(resolve_data_dir(args.data_dir), args.lang)


def _open_desk(data_dir, lang) -> int:
    from tui.desk_lock import hold_desk_lock
    from tui.early_login import early_login

    lock = hold_desk_lock(data_dir)  # DeskBusy: the command prints its words, exit 2
    # The PIN prompt first, then the heavy imports (Textual, the desk) while the volunteer types.
    early = early_login(data_dir, lang)
    try:
        try:
            from tui.app import run_app
        except ModuleNotFoundError as exc:
            if exc.name != "tui.app":
                raise
            print("值守界面尚未安装 / the duty desk is not built yet; use --no-tui", file=sys.stderr)
            return 2
        return run_app(data_dir, lang=lang, early=early)
    finally:
        if early is not None:
            early.close()
        lock.close()
