"""One benchmark line: the JSON object `python -m tests.bench` collects (name, value, unit,
baseline, ratio, target, sizes, and anything extra), printed and flushed at once."""

from __future__ import annotations

import json


def emit(name, value, unit, *, baseline=None, target=None, sizes=None, **extra):
    ratio = round(value / baseline, 3) if value is not None and baseline else None
    line = {
        "name": name,
        "value": None if value is None else round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": ratio,
        "target": target,
        "sizes": sizes or {},
    }
    line.update(extra)
    print(json.dumps(line, ensure_ascii=False), flush=True)
