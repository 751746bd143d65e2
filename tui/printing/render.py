"""The pass as one image, ready for any printer.

A receipt printer prints a 1-bit raster at 203 dpi: 384 dots across on 58 mm paper, 576 on
80 mm. The QR is drawn from `tui.qr`'s module matrix with plain square modules at a whole
number of dots (6-8) so every module prints the same size; anything else (scaling, smoothing,
stylised modules) makes cheap scanners fail. Text is drawn into the image with a CJK font,
because a printer's built-in Chinese code pages miss rare characters in names (喆, 𠈌).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui.printing import PrintError

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

PAPER_DOTS = {"58": 384, "80": 576}
PRINTER_DPI = 203
MODULE_DOTS = (8, 7, 6)  # preferred first; below 6 dots a module cheap scanners miss the QR
QUIET_MODULES = (4, 3, 2)  # the paper margin beyond the printable width adds more white
FONT_ENV = "KAKOU_FONT"
FONT_PACKAGES = "fonts-wqy-zenhei / fonts-noto-cjk"

# Families we know render Simplified Chinese well, best first; any zh font will do after them.
_PREFERRED_FONTS = (
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "Noto Serif CJK SC",
    "Droid Sans Fallback",
    "AR PL UMing",
)
_KNOWN_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


class FontMissing(PrintError):
    code = "font_missing"


class GlyphMissing(PrintError):
    """The font has no glyph for some characters; printing them would leave blank boxes."""

    code = "glyph_missing"

    def __init__(self, chars: str):
        self.chars = chars
        super().__init__(
            f"字体里没有这些字：{chars}。请安装更全的中文字体（{FONT_PACKAGES}）或在设置里换字体后重印",
            f"the font has no glyph for: {chars}. Install a fuller CJK font ({FONT_PACKAGES}) "
            f"or set another font, then reprint",
        )


def paper_dots(paper: str | int) -> int:
    """Printable width in dots for a paper setting: "58", "80", or a dot count like 384."""
    text = str(paper).strip().lower().removesuffix("mm")
    if text in PAPER_DOTS:
        return PAPER_DOTS[text]
    if text.isdigit() and 200 <= int(text) <= 1200:
        return int(text)
    raise PrintError(
        f"纸宽设置不对：{paper}（可选 58 或 80）", f"paper width {paper!r} not understood (58 or 80)", code="paper"
    )


# --- fonts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FontChoice:
    path: str
    index: int = 0


def _fc_list_zh() -> list[tuple[str, int, str]]:
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return []
    try:
        out = subprocess.run(
            [fc_list, ":lang=zh-cn", "--format", "%{file}\t%{index}\t%{family}\n"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0]:
            found.append((parts[0], int(parts[1] or 0), parts[2]))
    return found


def _system_cjk_font() -> FontChoice | None:
    candidates = _fc_list_zh()
    for wanted in _PREFERRED_FONTS:
        for path, index, family in candidates:
            if wanted in family.split(","):
                return FontChoice(path, index)
    for path, index, _family in sorted(candidates):
        if path.lower().endswith((".ttf", ".ttc", ".otf", ".otc")):
            return FontChoice(path, index)
    for path in _KNOWN_FONT_FILES:  # fontconfig itself may be missing on a minimal image
        if os.path.exists(path):
            return FontChoice(path, 0)
    return None


def find_cjk_font(setting: str | None = None) -> FontChoice:
    """The font to print with: the settings path if given (else $KAKOU_FONT), else a system
    CJK font found through fontconfig.

    Raises FontMissing saying which package to install.
    """
    return _find_cjk_font(setting or os.environ.get(FONT_ENV) or None)


@functools.lru_cache(maxsize=8)
def _find_cjk_font(setting: str | None) -> FontChoice:
    if setting:
        if not Path(setting).expanduser().is_file():
            raise FontMissing(
                f"设置的字体文件不存在：{setting}。请改正字体设置，或安装 {FONT_PACKAGES}",
                f"the font file in the settings does not exist: {setting}. Fix the setting or install {FONT_PACKAGES}",
            )
        return FontChoice(str(Path(setting).expanduser()), 0)
    choice = _system_cjk_font()
    if choice is None:
        raise FontMissing(
            "没有找到中文字体，无法打印。请安装：sudo apt-get install fonts-wqy-zenhei（或 fonts-noto-cjk），"
            f"或在设置里指定字体文件（{FONT_ENV}）",
            "no Chinese font found, cannot print. Install one: sudo apt-get install fonts-wqy-zenhei "
            f"(or fonts-noto-cjk), or set a font file ({FONT_ENV})",
        )
    return choice


@functools.lru_cache(maxsize=64)
def load_font(choice: FontChoice, size: int) -> FreeTypeFont:
    from PIL import ImageFont

    try:
        return ImageFont.truetype(choice.path, size, index=choice.index)
    except OSError as exc:
        raise FontMissing(
            f"字体文件打不开：{choice.path}（{exc}）。请安装 {FONT_PACKAGES}",
            f"cannot open the font file {choice.path} ({exc}). Install {FONT_PACKAGES}",
        ) from None


@functools.lru_cache(maxsize=8)
def _notdef_signatures(choice: FontChoice) -> frozenset:
    # Characters no CJK font maps (private-use / noncharacter planes) render as the font's
    # .notdef glyph; a character whose bitmap equals it is missing from the font.
    font = load_font(choice, 32)
    return frozenset(_glyph_signature(font, ch) for ch in ("\U0010fffd", "\U000ffffd"))


def _glyph_signature(font, ch: str):
    mask = font.getmask(ch, mode="1")
    return mask.size, bytes(mask)


def missing_glyphs(text: str, choice: FontChoice) -> str:
    """The characters of `text` the font cannot draw, each once, in order."""
    font = load_font(choice, 32)
    notdef = _notdef_signatures(choice)
    missing = []
    for ch in dict.fromkeys(text):
        if ch.isspace() or ch in missing:
            continue
        if _glyph_signature(font, ch) in notdef:
            missing.append(ch)
    return "".join(missing)


# --- the pass image ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassPrint:
    """What is printed on a pass (all of it also inside the signed token)."""

    token: str
    pass_id: str
    kind: int
    unit: str
    valid_from: int
    valid_to: int
    name: str = ""
    plate: str = ""
    hour_from: int = 0
    hour_to: int = 24
    scope: int = 0
    header: str = ""  # community or checkpoint name, printed small on top
    serial: str = ""  # batch sheets number their passes

    @classmethod
    def from_body(cls, body, token: str, header: str = "", serial: str = "") -> PassPrint:
        return cls(
            token=token,
            pass_id=body.pass_id_hex,
            kind=int(body.kind),
            unit=body.unit,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
            name=body.name,
            plate=body.plate,
            hour_from=body.hour_from,
            hour_to=body.hour_to,
            scope=body.scope,
            header=header,
            serial=serial,
        )

    @classmethod
    def from_record(cls, rec, header: str = "") -> PassPrint:
        return cls(
            token=rec.token,
            pass_id=rec.pass_id,
            kind=rec.kind,
            unit=rec.unit_code,
            valid_from=rec.valid_from,
            valid_to=rec.valid_to,
            name=rec.name,
            plate=rec.plate,
            hour_from=rec.hour_from,
            hour_to=rec.hour_to,
            scope=rec.scope,
            header=header,
        )

    @property
    def kind_name(self) -> str:
        from models.kinds import PassKind

        return PassKind(self.kind).label("zh")

    @property
    def short_id(self) -> str:
        # 8 hex characters: what `kakou pass revoke` accepts as a unique prefix.
        return self.pass_id[:8]

    def validity_line(self) -> str:
        fmt = lambda ts: time.strftime("%Y-%m-%d", time.localtime(ts))  # noqa: E731
        # valid_to is exclusive; the last day a person can use the pass is the second before.
        return f"有效期 {fmt(self.valid_from)} 至 {fmt(max(self.valid_from, self.valid_to - 1))}"

    def detail_lines(self) -> list[str]:
        lines = [self.validity_line()]
        if not (self.hour_from == 0 and self.hour_to in (0, 24)):
            lines.append(f"每日 {self.hour_from:02d}:00-{(self.hour_to or 24):02d}:00")
        if self.scope:
            lines.append(f"限 {self.scope} 号卡口使用")
        lines.append(f"编号 {self.short_id}" + (f"  序号 {self.serial}" if self.serial else ""))
        return lines

    def all_text(self) -> str:
        return "".join([self.header, self.kind_name, self.unit, self.name, self.plate, *self.detail_lines()])


@dataclass(frozen=True)
class QrPlacement:
    """Where the QR sits in a rendered image (for tests and previews)."""

    x: int
    y: int
    module_dots: int
    border: int  # quiet-zone modules drawn around the symbol
    version: int
    modules: int  # symbol size without the quiet zone


@dataclass(frozen=True)
class RenderedPass:
    image: object  # PIL.Image in mode "1", exactly `width` dots across
    qr: QrPlacement


def qr_matrix(token: str) -> tuple[list[list[bool]], int]:
    """The QR module matrix without quiet zone, and its version: exactly `tui.qr.make_qr`'s
    modules (numeric mode, ECC Q, qrcode's mask choice), computed faster by `qrfast`."""
    from tui.printing.qrfast import qr_modules

    return qr_modules(token)


def qr_bitmap(matrix: list[list[bool]], module_dots: int, border: int):
    """Plain square modules, exactly `module_dots` a side, white quiet zone of `border` modules."""
    from PIL import Image

    n = len(matrix)
    size = n + 2 * border
    # One byte a module (0 black, 255 white) built row by row in C, then scaled by an integer
    # factor with NEAREST: every module becomes an exact square of dots.
    quiet = b"\xff" * size
    inner = [b"\xff" * border + bytes(0 if dark else 255 for dark in row) + b"\xff" * border for row in matrix]
    data = quiet * border + b"".join(inner) + quiet * border
    small = Image.frombytes("L", (size, size), data).convert("1")
    return small.resize((size * module_dots, size * module_dots), Image.Resampling.NEAREST)


def fit_qr(modules: int, width: int) -> tuple[int, int]:
    """Largest module size (6-8 dots) and quiet zone that fit `width`; PrintError if none does."""
    for border in QUIET_MODULES:
        for dots in MODULE_DOTS:
            if (modules + 2 * border) * dots <= width:
                return dots, border
    raise PrintError(
        "通行证内容太长，这个纸宽放不下二维码。请缩短姓名或车牌，或改用 80 毫米纸",
        "the pass holds too much for this paper width. Shorten the name or plate, or use 80 mm paper",
        code="too_wide",
    )


def _fitted_font(choice: FontChoice, text: str, size: int, max_width: int) -> FreeTypeFont:
    font = load_font(choice, size)
    while size > 12 and font.getlength(text) > max_width:
        size -= 2
        font = load_font(choice, size)
    return font


def render_pass(
    info: PassPrint, width: int = 384, font: FontChoice | None = None, module_dots: int | None = None
) -> RenderedPass:
    """Draw the receipt: header, kind and unit large, name, plate, QR, validity, id."""
    from PIL import Image, ImageDraw

    font = font or find_cjk_font()
    gone = missing_glyphs(info.all_text(), font)
    if gone:
        raise GlyphMissing(gone)
    matrix, version = qr_matrix(info.token)
    n = len(matrix)
    if module_dots is None:
        dots, border = fit_qr(n, width)
    else:
        fits = next((b for b in QUIET_MODULES if (n + 2 * b) * module_dots <= width), None)
        if fits is None:
            raise PrintError(
                f"{module_dots} 点一格的二维码放不下",
                f"a QR at {module_dots} dots a module does not fit",
                code="too_wide",
            )
        dots, border = module_dots, fits
    qr = qr_bitmap(matrix, dots, border)

    margin = max(8, width // 48)
    usable = width - 2 * margin
    blocks: list[tuple[str, FreeTypeFont]] = []  # (text, font), drawn centred, in order
    if info.header:
        blocks.append((info.header, _fitted_font(font, info.header, width // 14, usable)))
    blocks.append((info.kind_name, _fitted_font(font, info.kind_name, width // 8, usable)))
    blocks.append((info.unit, _fitted_font(font, info.unit, width // 5, usable)))
    if info.name:
        blocks.append((info.name, _fitted_font(font, info.name, width // 10, usable)))
    if info.plate:
        blocks.append((info.plate, _fitted_font(font, info.plate, width // 8, usable)))
    details = [(line, _fitted_font(font, line, width // 16, usable)) for line in info.detail_lines()]

    gap = max(4, width // 64)

    def height_of(text: str, f) -> int:
        _left, _top, _right, bottom = f.getbbox(text)
        return bottom + gap

    height = margin + sum(height_of(t, f) for t, f in blocks) + qr.height + gap
    height += sum(height_of(t, f) for t, f in details) + margin
    img = Image.new("1", (width, height), 1)
    draw = ImageDraw.Draw(img)
    y = margin
    for text, f in blocks:
        draw.text((width // 2, y), text, font=f, fill=0, anchor="mt")
        y += height_of(text, f)
    qr_x = (width - qr.width) // 2
    img.paste(qr, (qr_x, y))
    placement = QrPlacement(qr_x + border * dots, y + border * dots, dots, border, version, n)
    y += qr.height + gap
    for text, f in details:
        draw.text((width // 2, y), text, font=f, fill=0, anchor="mt")
        y += height_of(text, f)
    return RenderedPass(img, placement)


def with_paper_margin(image, dots: int = 32):
    """The receipt as it looks on paper: white margin around the printable area (PNG/PDF)."""
    from PIL import Image

    out = Image.new("1", (image.width + 2 * dots, image.height + 2 * dots), 1)
    out.paste(image, (dots, dots))
    return out
