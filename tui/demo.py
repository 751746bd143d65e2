"""`kakou demo`: a ready demo checkpoint a newcomer can try at once.

Everything goes through the same functions the duty desk uses (issue, verdict, record), so
the demo exercises the real code paths.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from models.files import private_dir, write_private

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂芬建国华玉梅志红春生海燕德福荣淑珍"

SUPERVISOR = ("王秀英", "888888")
VOLUNTEERS = (("李建国", "1234"), ("陈晓", "5678"))
DEMO_MARKER = ".kakou-demo"  # marks a data dir the demo made
QUARANTINED_UNIT = "2-1-302"
REVOKED_UNIT = "4-2-201"
WATCH_UNIT = "1-1-101"


@dataclass
class DemoResult:
    data_dir: Path
    units: int
    passes_dir: Path
    pins: list[tuple[str, str, str]]
    traffic: int


def demo_units() -> list[str]:
    units = []
    for building in range(1, 6):
        for entrance in (1, 2):
            for floor in range(1, 6):
                for room in range(1, 5):
                    units.append(f"{building}-{entrance}-{floor}{room:02d}")
    return units


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def seed_demo(data_dir: Path, traffic: int = 0, seed: int = 2022, progress=None) -> DemoResult:
    from models import clock
    from models.passes import issue_pass, revoke_pass
    from models.passtoken import PassKind
    from models.store import KioskStore
    from models.tables import Unit
    from models.values import parse_unit
    from models.volunteers import add_volunteer
    from tui.qr import write_qr_png

    rng = random.Random(seed)
    store = KioskStore.open(data_dir)
    if store.is_set_up():
        from models.errors import KakouError

        raise KakouError(
            f"{data_dir} 里已有一个卡口，演示数据不会覆盖它。请换一个目录：kakou demo --data-dir 新目录",
            f"{data_dir} already holds a checkpoint; the demo will not overwrite it. Use another: kakou demo --data-dir NEW_DIR",
            code="exists",
        )
    store.set_up("幸福里东门卡口", "幸福里社区", "新华街道", number=1)
    pins = [(SUPERVISOR[0], SUPERVISOR[1], "supervisor")]
    add_volunteer(store, *SUPERVISOR, role="supervisor", via="demo")
    for name, pin in VOLUNTEERS:
        add_volunteer(store, name, pin, via="demo")
        pins.append((name, pin, "volunteer"))

    units = demo_units()
    with store.writer.begin() as conn:
        from sqlalchemy import insert

        for code in units:
            u = parse_unit(code)
            conn.execute(insert(Unit).values(code=code, building=u.building, entrance=u.entrance, room=u.room))

    passes_dir = data_dir / "demo-passes"
    private_dir(passes_dir)  # every file in it is a bearer token
    start = time.time() - 26 * 3600  # issued before the demo traffic, which spans the last 24 h
    issued = {}
    for i, code in enumerate(units):
        reading = clock.Reading(start + i * 0.01, 0, clock.boot_id())
        p = issue_pass(store, PassKind.RESIDENT, code, _name(rng), valid_days=60, valid_from=start, reading=reading)
        issued[code] = p
        write_private(passes_dir / f"{code}.txt", p.token + "\n")
        write_qr_png(p.token, passes_dir / f"{code}.png", module_px=4)
        if progress:
            progress(i + 1, len(units))
    revoke_pass(store, issued[REVOKED_UNIT].pass_id, "丢失补办 lost")
    store.add_list_entry("quarantine", unit_code=QUARANTINED_UNIT, note="居家隔离 home quarantine")
    store.add_list_entry("watch", unit_code=WATCH_UNIT, note="独居老人 elderly living alone")
    if traffic:
        generate_traffic(store, issued, traffic, rng)
    write_private(data_dir / DEMO_MARKER, "kakou demo\n")
    store.close()
    return DemoResult(data_dir, len(units), passes_dir, pins, traffic)


def generate_traffic(store, issued: dict, n: int, rng: random.Random) -> None:
    """N passages over the last 24 hours through the duty desk's own functions."""
    from models import clock
    from models.facts import RegistrationInput, close_fever_case, open_fever_case, record_passage, record_registration
    from models.gate import check_token
    from models.kinds import REGISTRATION_KINDS
    from models.values import parse_temperature

    now = time.time()
    times = sorted(now - rng.uniform(0, 24 * 3600) for _ in range(n))
    codes = list(issued)
    volunteer = 2
    # The traffic did not happen on this boot: a monotonic reading of this boot would let the office
    # date it by this boot's anchor (all of it at the moment of boot). Its own boot, with the
    # monotonic clock running alongside the wall clock, is what a kiosk that ran all day would send.
    demo_boot = f"demo-{uuid.UUID(int=rng.getrandbits(128))}"
    for t in times:
        reading = clock.Reading(t, int((t - times[0]) * 1e9), demo_boot)
        direction = rng.choice(("in", "out"))
        if rng.random() < 0.05:
            kind = rng.choice(list(REGISTRATION_KINDS))
            reg = RegistrationInput(
                kind=kind,
                name=_name(rng) if rng.random() < 0.5 else "",
                phone=f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}",
                from_place=rng.choice(("武汉", "上海", "本市", "")),
                to_unit=rng.choice(codes),
                reason=rng.choice(("探亲", "送货", "返乡", "上班")),
            )
            record_registration(store, reg, parse_temperature(f"{rng.randint(360, 369)}"), volunteer, reading=reading)
            continue
        code = rng.choice([*codes, REVOKED_UNIT, QUARANTINED_UNIT])
        verdict = check_token(store, issued[code].token, direction, now=t)
        temp = None
        needs_temp = direction == "in" or store.policy().temp_required_out
        if verdict.allowed and needs_temp and verdict.body is not None:  # allowed: always a pass
            if rng.random() < 0.02:
                first = parse_temperature(f"{rng.randint(373, 385)}")
                case = open_fever_case(
                    store,
                    direction,
                    first,
                    volunteer,
                    pass_id=verdict.body.pass_id_hex,
                    unit_code=verdict.body.unit,
                    reading=reading,
                )
                later = clock.Reading(t + 180, reading.mono_ns + 180 * 10**9, demo_boot)
                second = parse_temperature(f"{rng.choice((366, 368, 375, 381))}")
                if second.is_fever(store.policy().fever_threshold):
                    close_fever_case(
                        store, case.record_id, rng.choice(("clinic", "home")), second, volunteer, reading=later
                    )
                    continue
                close_fever_case(store, case.record_id, "allowed", second, volunteer, reading=later)
                temp = second
            else:
                temp = parse_temperature(f"{rng.randint(358, 370)}")
        record_passage(store, direction, verdict, temp, volunteer, reading=reading)
