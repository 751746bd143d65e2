"""Printing after `pip install` alone: the shipped font, per-character fallback, the Chinese
face of a font collection, and a name that either prints on the paper or is refused before
the pass is issued (issue 15).

Fonts are hidden or added through fontconfig itself: FONTCONFIG_FILE points fc-list at a
config that lists only the directories a test chooses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import tui.printing.render as render
from models.values import PASS_NAME_MAX, ValueRejected, name_length, parse_pass_name
from tests.test_printing import issue, zxing_texts
from tui.printing import PrintError, print_pass
from tui.printing.render import (
    BUNDLED_FONT,
    FontChain,
    FontChoice,
    GlyphMissing,
    check_printable,
    find_cjk_font,
    layout_line,
    name_limit,
    name_smallest,
    paper_dots,
    render_pass,
    sc_face,
)

RARE = "𠈌"  # U+2020C, CJK Extension B: in no font of this machine, nor in the shipped one
PAPERS = ("58", "80")


def _glyph_font(path: Path, family: str, chars: str) -> Path:
    """A TrueType font whose every glyph in `chars` is a filled square."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    names = [".notdef"] + [f"u{ord(c):X}" for c in chars]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({ord(c): f"u{ord(c):X}" for c in chars})
    glyphs = {}
    for name in names:
        pen = TTGlyphPen(None)
        if name != ".notdef":
            pen.moveTo((100, -50))
            pen.lineTo((100, 800))
            pen.lineTo((900, 800))
            pen.lineTo((900, -50))
            pen.closePath()
        glyphs[name] = pen.glyph()
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics({name: (1000, 100) for name in names})
    fb.setupHorizontalHeader(ascent=880, descent=-120)
    fb.setupNameTable({"familyName": family, "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=880, sTypoDescender=-120, usWinAscent=880, usWinDescent=120)
    fb.setupPost()
    fb.save(str(path))
    return path


def _fontconfig(tmp_path: Path, monkeypatch, *dirs: Path) -> None:
    """fc-list sees only `dirs` (nothing at all when none is given)."""
    conf = tmp_path / "fonts.conf"
    entries = "".join(f"<dir>{d}</dir>" for d in dirs)
    conf.write_text(
        f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>{entries}'
        f"<cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    monkeypatch.delenv("KAKOU_FONT", raising=False)
    monkeypatch.setattr(render, "_KNOWN_FONT_FILES", ())
    for cached in (render._find_cjk_font, render._installed_fonts_with):
        cached.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_font_caches():
    yield
    for cached in (render._find_cjk_font, render._installed_fonts_with):
        cached.cache_clear()


def _issue_argv(kakou: str, data: Path) -> list[str]:
    return [kakou, "pass", "issue", "--data-dir", str(data), "--kind", "resident", "--unit", "3-2-501"]


def _ink(image, box) -> int:
    """Black dots inside `box` of a 1-bit image."""
    return image.crop(box).convert("L").histogram()[0]


# -- the shipped font -------------------------------------------------------------------------


def test_the_shipped_font_and_its_licence_are_in_the_package():
    assert BUNDLED_FONT.is_file() and BUNDLED_FONT.stat().st_size < 3_000_000
    licence = (BUNDLED_FONT.parent / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence
    chain = FontChain(FontChoice(str(BUNDLED_FONT)))
    # GB 2312 and the 通用规范汉字表 beyond it (喆 堃 犇 玥 are names GB 2312 lacks)
    assert chain.missing("王秀英李建国欧阳娜娜喆堃犇玥赟旻") == ""
    assert chain.fonts == [FontChoice(str(BUNDLED_FONT))]


def test_printing_with_every_system_font_hidden_uses_the_shipped_font(store, tmp_path, monkeypatch):
    _fontconfig(tmp_path, monkeypatch)  # fontconfig lists nothing: a fresh machine after pip install
    assert find_cjk_font() == FontChoice(str(BUNDLED_FONT), 0)
    issued, info = issue(store, "resident", name="王秀英")
    out = tmp_path / "pass.png"
    print_pass(info, f"png:{out}", paper="58")
    image = Image.open(out)
    assert zxing_texts(image) == [issued.token]


def test_kakou_pass_issue_prints_on_a_machine_without_fonts(tmp_path, monkeypatch):
    """The README's commands, on a machine whose fontconfig knows no font: the pass prints."""
    data = tmp_path / "kiosk"
    kakou = str(Path(sys.executable).with_name("kakou"))
    _fontconfig(tmp_path, monkeypatch)
    env = dict(os.environ)
    subprocess.run([kakou, "demo", "--no-tui", "--data-dir", str(data)], env=env, check=True, capture_output=True)
    out = tmp_path / "p.png"
    done = subprocess.run(
        [*_issue_argv(kakou, data), "--name", "张三", "--print-to", f"png:{out}"],
        input="888888\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert zxing_texts(Image.open(out)) == [done.stdout.split()[0]]


# -- per-character fallback ---------------------------------------------------------------------


def test_a_rare_character_is_drawn_from_an_installed_font_that_has_it(store, tmp_path, monkeypatch):
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    fallback = _glyph_font(fonts / "rare.ttf", "Kakou Rare Test", RARE)
    _fontconfig(tmp_path, monkeypatch, Path("/usr/share/fonts"), fonts)
    preferred = find_cjk_font()
    assert preferred.path != str(fallback)
    chain = FontChain(preferred)
    line = layout_line("陈" + RARE, chain, 40)
    assert [Path(font.path).name for _text, font in line.runs] == [Path(preferred.path).name, "rare.ttf"]
    issued, info = issue(store, "resident", name="陈" + RARE)
    rendered = render_pass(info, 384, preferred)
    assert zxing_texts(rendered.image) == [issued.token]
    # the rare character's square is really drawn, right of 陈 (the test font's glyph is a filled
    # square 0.8 x 0.85 em: at 40 dots, about 32 x 34 dots of ink)
    from PIL import ImageDraw

    canvas = Image.new("1", (int(line.width) + 8, line.height + 8), 1)
    line.draw(ImageDraw.Draw(canvas), canvas.width / 2, 4)
    left = 4 + int(line.runs[0][1].getlength("陈"))
    assert _ink(canvas, (left, 0, canvas.width, canvas.height)) > 900


def test_refused_in_words_only_when_no_font_at_all_has_the_character(store, tmp_path, monkeypatch):
    _fontconfig(tmp_path, monkeypatch, Path("/usr/share/fonts"))
    _issued, info = issue(store, "resident", name="陈" + RARE)
    with pytest.raises(GlyphMissing) as err:
        print_pass(info, f"png:{tmp_path / 'x.png'}")
    assert RARE in err.value.zh and "fonts-noto-cjk" in err.value.en
    assert not (tmp_path / "x.png").exists()


def test_a_font_collection_opens_its_simplified_chinese_face(tmp_path, monkeypatch):
    """A .ttc such as NotoSansCJK-Regular.ttc puts its Japanese face first."""
    from fontTools.ttLib import TTCollection, TTFont

    faces = [_glyph_font(tmp_path / f"{tag}.ttf", f"Kakou Sans CJK {tag}", "骨直") for tag in ("JP", "KR", "SC")]
    collection = TTCollection()
    collection.fonts = [TTFont(str(face)) for face in faces]
    ttc = tmp_path / "KakouCJK.ttc"
    collection.save(str(ttc))
    assert sc_face(str(ttc)) == 2
    monkeypatch.setenv("KAKOU_FONT", str(ttc))
    assert find_cjk_font() == FontChoice(str(ttc), 2)
    render._find_cjk_font.cache_clear()
    # fontconfig listing every face of it: the SC face is taken, not the first
    _fontconfig(tmp_path, monkeypatch, tmp_path)
    monkeypatch.setattr(render, "_PREFERRED_FONTS", ())
    monkeypatch.setattr(render, "_fc_list_zh", lambda: render._fc_list(":"))
    assert find_cjk_font() == FontChoice(str(ttc), 2)


# -- the name and the paper ---------------------------------------------------------------------

WIDEST = "龘"  # as wide as a glyph gets


@pytest.mark.parametrize("paper", PAPERS)
@pytest.mark.parametrize(
    "unit, kind, plate",
    [("3-2-501", "resident", ""), ("A12345-B12345-123456", "resident", ""), ("3-2-501", "vehicle", "")],
)
def test_a_name_at_the_limit_prints_on_every_paper_and_one_more_is_refused_before_issue(
    store, paper, unit, kind, plate
):
    from tests.test_printing import KIND_ARGS

    plate = KIND_ARGS[kind].get("plate", "")
    limit = name_limit(unit, plate, paper)
    assert 1 <= limit <= PASS_NAME_MAX
    name = "欧阳" + WIDEST * (limit - 2)
    check_printable(unit, name, plate, paper)  # allowed...
    issued, info = issue(store, kind, name=name, unit=unit)
    width = paper_dots(paper)
    rendered = render_pass(info, width, find_cjk_font())  # ...and it prints, the QR decodes
    assert zxing_texts(rendered.image) == [issued.token]
    chain = FontChain(find_cjk_font())
    lines = render.name_lines(name, chain, width // 10, width - 2 * max(8, width // 48), name_smallest(width))
    assert len(lines) <= 2 and all(line.width <= width - 2 * max(8, width // 48) for line in lines)
    with pytest.raises((PrintError, ValueRejected)) as err:  # one more: refused before issuing
        check_printable(unit, name + WIDEST, plate, paper)
        parse_pass_name(name + WIDEST)
    words = err.value.zh + err.value.en
    assert "bytes" not in words and "字节" not in words
    assert (f"最多 {limit} 个字" in err.value.zh) or (f"最多 {PASS_NAME_MAX} 个字" in err.value.zh)


@pytest.mark.parametrize("count", [15, 16])
def test_the_15_and_16_character_names_that_were_issued_then_unprintable_on_58mm(demo_dir, tmp_path, count):
    data = demo_dir  # a copy of the demo kiosk (`kakou demo`, seeded once per test session)
    kakou = str(Path(sys.executable).with_name("kakou"))
    before = _passes(data)
    name = ("欧阳" * 10)[:count]
    done = subprocess.run(
        [*_issue_argv(kakou, data), "--name", name, "--print-to", f"png:{tmp_path / 'p.png'}", "--paper", "58"],
        input="888888\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode not in (0, 70), done.stderr
    assert "最多 14 个字" in done.stderr and "at most 14 characters" in done.stderr
    assert _passes(data) == before  # nothing was issued
    done = subprocess.run(  # on 80 mm paper the same name is issued and printed
        [*_issue_argv(kakou, data), "--name", name, "--print-to", f"png:{tmp_path / 'p80.png'}", "--paper", "80"],
        input="888888\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert zxing_texts(Image.open(tmp_path / "p80.png")) == [done.stdout.split()[0]]


def _passes(data: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(data / "kakou.db")
    try:
        return conn.execute("SELECT count(*) FROM pass_issued").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize(
    "name, ok",
    [
        ("欧" * 16, True),
        ("欧" * 17, False),  # was: "name is 51 bytes in UTF-8"
        (RARE * 8, True),  # 32 bytes
        (RARE * 9, False),
        ("王" * 15 + RARE, False),  # 49 bytes: refused in characters, never in bytes
        ("王" * 14 + RARE, True),
        ("Alexander Smith-Jones", False),
    ],
)
def test_one_limit_in_characters_for_a_name_on_a_pass(store, name, ok):
    assert (name_length(name) <= PASS_NAME_MAX) is ok
    if ok:
        issued, _info = issue(store, "resident", name=name)
        assert issued.body.name == name
        return
    with pytest.raises(Exception) as err:
        issue(store, "resident", name=name)
    assert getattr(err.value, "code", "") == "name_too_long"
    assert f"最多 {PASS_NAME_MAX} 个字" in err.value.zh and "bytes" not in err.value.en
