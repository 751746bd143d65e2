"""Rebuild NotoSansSC-kakou.otf (a maintainer's tool; the desk never runs it).

    pip install fonttools
    apt-get download fonts-noto-cjk && dpkg-deb -x fonts-noto-cjk_*.deb x
    python tui/printing/fonts/make_subset.py x/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \
        8105.txt tui/printing/fonts/NotoSansSC-kakou.otf

Face 2 of NotoSansCJK-Regular.ttc is Noto Sans CJK SC (0 is JP: its forms are Japanese). The
characters kept: all of GB 2312 (6763 hanzi and its symbols, from Python's gb2312 codec), the
8105 characters of the 通用规范汉字表 (2013; 8105.txt: one character after another, e.g. the
first column of 8105无字频.dict.yaml in github.com/iDvel/The-Table-of-General-Standard-Chinese-
Characters, commit 76c8512), ASCII, Latin-1, general punctuation, letterlike symbols, circled
numbers, CJK punctuation and the full-width forms, and every CJK character in kakou's own
source. 9,719 characters, 2.0 MB. A character outside it is drawn from any installed font that
has it (tui/printing/render.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RANGES = [(0x20, 0x7F), (0xA0, 0x100), (0x2000, 0x2070), (0x2100, 0x2200), (0x2460, 0x2500), (0x3000, 0x3040)]
RANGES += [(0xFF00, 0xFFF0)]


def charset(list_8105: Path, source: Path) -> str:
    chars = {c for c in list_8105.read_text(encoding="utf-8") if not c.isspace()}
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    for start, end in RANGES:
        chars.update(chr(c) for c in range(start, end))
    for path in source.rglob("*.py"):
        chars.update(c for c in path.read_text(encoding="utf-8", errors="ignore") if "\u3400" <= c <= "\u9fff")
    return "".join(sorted(chars))


def main(ttc: str, list_8105: str, out: str) -> None:
    root = Path(__file__).resolve().parents[3]
    text = Path(out).with_suffix(".chars.tmp")
    text.write_text(charset(Path(list_8105), root), encoding="utf-8")
    try:
        subprocess.run(
            [
                *("pyftsubset", ttc, "--font-number=2", f"--text-file={text}", f"--output-file={out}"),
                *("--layout-features=", "--no-hinting", "--name-IDs=*", "--notdef-outline"),
            ],
            check=True,
        )
    finally:
        text.unlink()


if __name__ == "__main__":
    main(*sys.argv[1:4])
