"""Pass benchmarks: issue + render + ESC/POS bytes for one pass; a batch of households to PDF.

    python -m tests.bench.bench_passes [--quick] [--only SUBSTRING]

Prints one JSON object per line: name, value, unit, baseline, ratio, target, sizes. Each
figure comes with a raw operation measured in the same run (the machines are noisy):

- passes.issue_print_escpos: issue (sign + durable commit) + render the 58 mm image + ESC/POS
  raster bytes, per pass (p50, p99), vs building the QR alone with qrcode (`tui.qr.make_qr`);
- passes.qr_matrix: the print path's QR matrix vs qrcode's own (identical modules);
- passes.batch_pdf: `kakou pass batch` for N households (read CSV, sign, A4 sheets, one
  commit), vs signing the same N passes alone.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path


def emit(name: str, value, unit: str, *, baseline=None, target=None, sizes=None) -> None:
    ratio = round(value / baseline, 2) if value is not None and baseline else None
    print(
        json.dumps(
            {
                "name": name,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": ratio,
                "target": target,
                "sizes": sizes or {},
            },
            ensure_ascii=False,
        ),
        flush=True,
    )


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def new_store(root: Path):
    from models.store import KioskStore

    store = KioskStore.open(root)
    if not store.is_set_up():
        store.set_up("东门卡口", "幸福里社区", "新华街道", number=1)
    return store


def bench_single(root: Path, count: int) -> None:
    from models.passes import issue_pass
    from models.passtoken import PassKind
    from tui.printing.escpos import raster_bytes
    from tui.printing.render import PassPrint, find_cjk_font, render_pass
    from tui.qr import make_qr

    store = new_store(root / "single")
    font = find_cjk_font()
    # warm caches (fonts, qrcode tables) as a kiosk that has printed once has them
    first = issue_pass(store, PassKind.RESIDENT, "1-1-101", name="王秀英")
    raster_bytes(render_pass(PassPrint.from_body(first.body, first.token), 384, font).image)
    totals, qr_only, job_bytes = [], [], 0
    for i in range(count):
        t0 = time.perf_counter()
        issued = issue_pass(store, PassKind.OUTING, f"{i % 9 + 1}-{i % 2 + 1}-{i % 50 + 101}", name="王喆")
        rendered = render_pass(PassPrint.from_body(issued.body, issued.token, header="幸福里社区"), 384, font)
        job = raster_bytes(rendered.image)
        totals.append((time.perf_counter() - t0) * 1000)
        job_bytes = len(job)
        t1 = time.perf_counter()
        make_qr(issued.token).get_matrix()
        qr_only.append((time.perf_counter() - t1) * 1000)
    sizes = {"passes": count, "paper_dots": 384, "escpos_bytes": job_bytes}
    emit(
        "passes.issue_print_escpos.p50",
        statistics.median(totals),
        "ms",
        baseline=statistics.median(qr_only),
        target="<50",
        sizes=sizes,
    )
    emit("passes.issue_print_escpos.p99", p(totals, 0.99), "ms", baseline=p(qr_only, 0.99), target="<50", sizes=sizes)


def bench_qr(count: int) -> None:
    import random

    from tui.printing.render import qr_matrix
    from tui.qr import make_qr

    rng = random.Random(1)
    tokens = ["88" + "".join(rng.choice("0123456789") for _ in range(270)) for _ in range(count)]
    t0 = time.perf_counter()
    for t in tokens:
        qr_matrix(t)
    fast = (time.perf_counter() - t0) * 1000 / count
    t0 = time.perf_counter()
    for t in tokens:
        make_qr(t).get_matrix()
    slow = (time.perf_counter() - t0) * 1000 / count
    emit("passes.qr_matrix", fast, "ms", baseline=slow, sizes={"tokens": count, "digits": 272})


def bench_batch(root: Path, households: int, target_s: float) -> None:
    from models.batch import prepare_batch, read_residents
    from models.passtoken import PassKind
    from tui.cli import main

    source = root / "residents.csv"
    with open(source, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["楼栋", "单元", "房号", "姓名"])
        n = 0
        building = 1
        while n < households:
            for entrance in range(1, 5):
                for floor in range(1, 11):
                    for room in (1, 2):
                        if n < households:
                            writer.writerow([building, entrance, f"{floor}{room:02d}", "张三、李四"])
                            n += 1
            building += 1
    store = new_store(root / "batch-baseline")
    t0 = time.perf_counter()
    prepare_batch(store, read_residents(source).entries, PassKind.RESIDENT)
    sign_only = time.perf_counter() - t0
    from models.volunteers import add_volunteer

    add_volunteer(new_store(root / "batch"), "王秀英", "888888", "supervisor")  # batch issue asks a supervisor PIN
    out = root / "passes.pdf"
    stdin = sys.stdin
    sys.stdin = io.StringIO("888888\n")
    t0 = time.perf_counter()
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            code = main(["pass", "batch", "--data-dir", str(root / "batch"), "--from", str(source), "--pdf", str(out)])
    finally:
        sys.stdin = stdin
    elapsed = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"batch failed with exit {code}")
    emit(
        "passes.batch_pdf",
        elapsed,
        "s",
        baseline=sign_only,
        target=f"<{target_s:g}",
        sizes={"households": households, "pdf_mb": round(out.stat().st_size / 1e6, 1), "workers": os.cpu_count() or 1},
    )


def main_bench(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kakou-bench-passes-") as tmp:
        root = Path(tmp)
        if args.only in "passes.issue_print_escpos":
            bench_single(root, 60 if args.quick else 300)
        if args.only in "passes.qr_matrix":
            bench_qr(30 if args.quick else 150)
        if args.only in "passes.batch_pdf":
            # The target scales with the count: 30 s for 2,000 households.
            households = 500 if args.quick else 2000
            bench_batch(root, households, 30 * households / 2000)
    return 0


if __name__ == "__main__":
    sys.exit(main_bench())
