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

# Shipped with kakou, so a kiosk prints after `pip install` alone: a subset of Noto Sans CJK SC
# (GB 2312 + the 8105 of the 通用规范汉字表, 2.0 MB; OFL 1.1, fonts/OFL.txt; fonts/make_subset.py
# says how it is made). Used when no font is set and fontconfig finds no Chinese font.
BUNDLED_FONT = Path(__file__).with_name("fonts") / "NotoSansSC-kakou.otf"
# How a face of a font collection (.ttc / .otc) names itself when it is the Simplified Chinese
# one: Noto/Source Han "... SC", "CN", "GB" ..., wqy is Chinese throughout.
_SC_MARKS = (" SC", " CN", "GB", "简", "WenQuanYi", "Zen Hei", "Micro Hei")


@dataclass(frozen=True)
class FontChoice:
    path: str
    index: int = 0


def _fc_list(pattern: str) -> list[tuple[str, int, str]]:
    """(file, face index, family) of the fonts fontconfig lists for `pattern`."""
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return []
    try:
        out = subprocess.run(
            [fc_list, pattern, "--format", "%{file}\t%{index}\t%{family}\n"],
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
        if len(parts) == 3 and parts[0] and (parts[1] or "0").isdigit():
            found.append((parts[0], int(parts[1] or 0), parts[2]))
    return found


def _fc_list_zh() -> list[tuple[str, int, str]]:
    return _fc_list(":lang=zh-cn")


def _is_sc(family: str) -> bool:
    return any(mark in family for mark in _SC_MARKS)


def _sc_first(candidates: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    """The same fonts, Simplified Chinese faces first (a .ttc's JP face draws 骨 and 直 the
    Japanese way), then by file and face."""
    return sorted(candidates, key=lambda c: (not _is_sc(c[2]), c[0], c[1]))


@functools.lru_cache(maxsize=32)
def sc_face(path: str) -> int:
    """The face of a font file to open: for a collection (.ttc / .otc) the Simplified Chinese
    face (Noto Sans CJK's is face 2, its face 0 is Japanese), else 0."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    from PIL import ImageFont

    first_chinese = None
    for index in range(64):
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0] or ""
        except OSError:  # past the last face (or not a font: opening it later says so)
            break
        if _is_sc(family):
            return index
        if first_chinese is None and ("TC" in family or "HK" in family):
            first_chinese = index
    return first_chinese or 0


def _system_cjk_font() -> FontChoice | None:
    candidates = _fc_list_zh()
    for wanted in _PREFERRED_FONTS:
        for path, index, family in candidates:
            if wanted in family.split(","):
                return FontChoice(path, index)
    for path, index, _family in _sc_first(candidates):
        if path.lower().endswith((".ttf", ".ttc", ".otf", ".otc")):
            return FontChoice(path, index)
    for path in _KNOWN_FONT_FILES:  # fontconfig itself may be missing on a minimal image
        if os.path.exists(path):
            return FontChoice(path, sc_face(path))
    return None


def find_cjk_font(setting: str | None = None) -> FontChoice:
    """The font to print with: the settings path if given (else $KAKOU_FONT; for a .ttc its
    Simplified Chinese face), else a system CJK font found through fontconfig, else the font
    shipped with kakou. Characters it lacks are drawn from other fonts (`FontChain`).

    Raises FontMissing when a font file set does not exist, or none at all is there.
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
        path = str(Path(setting).expanduser())
        return FontChoice(path, sc_face(path))
    choice = _system_cjk_font()
    if choice is None and BUNDLED_FONT.is_file():
        choice = FontChoice(str(BUNDLED_FONT), 0)
    if choice is None:
        raise FontMissing(
            "没有找到中文字体，无法打印（kakou 自带的字体也不在）。请重新安装 kakou，或安装："
            f"sudo apt-get install fonts-wqy-zenhei（或 fonts-noto-cjk），或在设置里指定字体文件（{FONT_ENV}）",
            "no Chinese font found, cannot print (kakou's own font is missing too). Reinstall kakou, or install "
            f"one: sudo apt-get install fonts-wqy-zenhei (or fonts-noto-cjk), or set a font file ({FONT_ENV})",
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


@functools.lru_cache(maxsize=4096)
def has_glyph(choice: FontChoice, ch: str) -> bool:
    if ch.isspace():
        return True
    try:
        return _glyph_signature(load_font(choice, 32), ch) not in _notdef_signatures(choice)
    except FontMissing:
        return False


@functools.lru_cache(maxsize=512)
def _installed_fonts_with(ch: str) -> tuple[FontChoice, ...]:
    """Every installed font fontconfig says has `ch` (Simplified Chinese faces first)."""
    found = _fc_list(f":charset={ord(ch):x}")
    return tuple(FontChoice(path, index) for path, index, _family in _sc_first(found))


class FontChain:
    """The preferred font, then the shipped one, then any installed font that has the character:
    each character is drawn with the first that has it (𠈌 from fonts-noto-cjk's Ext-B glyphs
    while the rest of the name stays in the preferred font)."""

    def __init__(self, preferred: FontChoice) -> None:
        self.fonts = [preferred]
        bundled = FontChoice(str(BUNDLED_FONT), 0)
        if bundled != preferred and BUNDLED_FONT.is_file():
            self.fonts.append(bundled)

    @property
    def preferred(self) -> FontChoice:
        return self.fonts[0]

    def font_for(self, ch: str) -> FontChoice | None:
        for choice in self.fonts:
            if has_glyph(choice, ch):
                return choice
        for choice in _installed_fonts_with(ch):
            if choice not in self.fonts and has_glyph(choice, ch):
                self.fonts.append(choice)
                return choice
        return None

    def missing(self, text: str) -> str:
        """The characters of `text` no font at all can draw, each once, in order."""
        return "".join(ch for ch in dict.fromkeys(text) if not ch.isspace() and self.font_for(ch) is None)


def _as_chain(font: FontChoice | FontChain) -> FontChain:
    return font if isinstance(font, FontChain) else FontChain(font)


def missing_glyphs(text: str, choice: FontChoice | FontChain) -> str:
    """The characters of `text` that neither the font nor any fallback font can draw, each
    once, in order."""
    return _as_chain(choice).missing(text)


@dataclass(frozen=True)
class TextLine:
    """One line of text laid out in runs, each in the first font of the chain that has it."""

    runs: tuple[tuple[str, FreeTypeFont], ...]
    width: float
    ascent: int
    descent: int

    @property
    def height(self) -> int:
        return self.ascent + self.descent

    def draw(self, draw, centre_x: float, top: int) -> None:
        x = centre_x - self.width / 2
        baseline = top + self.ascent
        for text, font in self.runs:
            draw.text((x, baseline), text, font=font, fill=0, anchor="ls")
            x += font.getlength(text)


def layout_line(text: str, chain: FontChain, size: int) -> TextLine:
    runs: list[tuple[str, FontChoice]] = []
    for ch in text:
        choice = chain.font_for(ch) or chain.preferred
        if ch.isspace() and runs:
            choice = runs[-1][1]
        if runs and runs[-1][1] == choice:
            runs[-1] = (runs[-1][0] + ch, choice)
        else:
            runs.append((ch, choice))
    loaded = tuple((run, load_font(choice, size)) for run, choice in runs)
    width = sum(font.getlength(run) for run, font in loaded)
    metrics = [font.getmetrics() for _run, font in loaded] or [load_font(chain.preferred, size).getmetrics()]
    return TextLine(loaded, width, max(m[0] for m in metrics), max(m[1] for m in metrics))


def fitted_line(text: str, chain: FontChain, size: int, max_width: int, smallest: int = 12) -> TextLine:
    """The line at `size`, made smaller (down to `smallest`) until it fits `max_width`."""
    line = layout_line(text, chain, size)
    while size > smallest and line.width > max_width:
        size -= 2
        line = layout_line(text, chain, size)
    return line


def name_lines(name: str, chain: FontChain, size: int, max_width: int, smallest: int) -> list[TextLine]:
    """A name on one line, made smaller down to `smallest`; still too long: wrapped into two
    lines (at a space or middle dot near the middle, else in the middle), each fitted."""
    line = fitted_line(name, chain, size, max_width, smallest)
    if line.width <= max_width:
        return [line]
    half = len(name) // 2
    breaks = [i for i, ch in enumerate(name) if ch in " ·•・-" and 0 < i < len(name) - 1]
    cut = min(breaks, key=lambda i: abs(i - half)) if breaks else half
    first, second = name[:cut].rstrip(), name[cut:].lstrip(" ")
    return [fitted_line(part, chain, size, max_width) for part in (first, second) if part]


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


def render_pass(
    info: PassPrint, width: int = 384, font: FontChoice | FontChain | None = None, module_dots: int | None = None
) -> RenderedPass:
    """Draw the receipt: header, kind and unit large, name, plate, QR, validity, id. Each
    character comes from the first font that has it (`FontChain`); GlyphMissing only when no
    font at all has one. A long name is made smaller, then wrapped into two lines."""
    from PIL import Image, ImageDraw

    chain = _as_chain(font or find_cjk_font())
    gone = chain.missing(info.all_text())
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
    blocks: list[TextLine] = []  # drawn centred, in order
    if info.header:
        blocks.append(fitted_line(info.header, chain, width // 14, usable))
    blocks.append(fitted_line(info.kind_name, chain, width // 8, usable))
    blocks.append(fitted_line(info.unit, chain, width // 5, usable))
    if info.name:
        blocks.extend(name_lines(info.name, chain, width // 10, usable, name_smallest(width)))
    if info.plate:
        blocks.append(fitted_line(info.plate, chain, width // 8, usable))
    details = [fitted_line(line, chain, width // 16, usable) for line in info.detail_lines()]

    gap = max(4, width // 64)
    height = margin + sum(b.height + gap for b in blocks) + qr.height + gap
    height += sum(d.height + gap for d in details) + margin
    img = Image.new("1", (width, height), 1)
    draw = ImageDraw.Draw(img)
    y = margin
    for line in blocks:
        line.draw(draw, width / 2, y)
        y += line.height + gap
    qr_x = (width - qr.width) // 2
    img.paste(qr, (qr_x, y))
    placement = QrPlacement(qr_x + border * dots, y + border * dots, dots, border, version, n)
    y += qr.height + gap
    for line in details:
        line.draw(draw, width / 2, y)
        y += line.height + gap
    return RenderedPass(img, placement)


def name_smallest(width: int) -> int:
    """The smallest size a name is printed at before it wraps (24 dots, 3 mm, on 58 mm paper)."""
    return max(16, width // 16)


# --- what fits on the paper ------------------------------------------------------------------


def _token_digits(unit: str, name_bytes: int, plate: str) -> int:
    from models.passtoken import SIGNATURE_BYTES, TOKEN_PREFIX, PassBody, PassKind, bytes_to_digits

    body = PassBody(
        kid=0, pass_id=bytes(16), kind=PassKind.RESIDENT, scope=0, valid_from=0, valid_to=1, unit=unit, plate=plate
    )
    size = len(body.to_bytes()) + name_bytes + SIGNATURE_BYTES
    return len(TOKEN_PREFIX) + len(bytes_to_digits(bytes(size)))


@functools.lru_cache(maxsize=256)
def _qr_fits(digits: int, width: int) -> bool:
    from tui.printing.qrfast import qr_modules

    matrix, _version = qr_modules("8" * digits)
    try:
        fit_qr(len(matrix), width)
    except PrintError:
        return False
    return True


def name_limit(unit: str, plate: str, paper: str | int) -> int:
    """How many characters a name on this pass can have and still print on `paper`: the
    pass's QR grows with the name and must fit the paper at 6 dots a module. At most
    models.values.PASS_NAME_MAX (the pass itself); counted as models.values.name_length
    counts (a character outside the basic plane, such as 𠈌, counts as two)."""
    from models.values import PASS_NAME_MAX

    width = paper_dots(paper)
    room = 0
    for name_bytes in range(3, 3 * PASS_NAME_MAX + 1, 3):
        if not _qr_fits(_token_digits(unit, name_bytes, plate), width):
            break
        room = name_bytes
    return room // 3


def check_printable(unit: str, name: str, plate: str, paper: str | int, font: str | None = None) -> None:
    """Before a pass is issued: refuse (PrintError, in words) a name that would not print on
    the configured paper, or characters no installed font has. The limit is in characters
    and is the one the printer needs (`name_limit`), so a pass that is issued also prints."""
    from models.values import name_length

    limit = name_limit(unit, plate, paper)
    mm = str(paper).strip().lower().removesuffix("mm")
    if mm not in PAPER_DOTS:
        mm = f"{paper_dots(paper) * 254 // (PRINTER_DPI * 10)}"  # a width set in dots, in mm
    if name_length(name) > limit:
        raise PrintError(
            f"这张通行证印在 {mm} 毫米纸上，姓名最多 {limit} 个字（生僻字算两个字），现在有 {name_length(name)} 个字，"
            "请缩短姓名" + ("或改用 80 毫米纸" if mm == "58" else ""),
            f"on {mm} mm paper the name on this pass can have at most {limit} characters (a rare character "
            f"counts as two) and it has {name_length(name)}: shorten it"
            + (" or use 80 mm paper" if mm == "58" else ""),
            code="name_too_long",
        )
    gone = FontChain(find_cjk_font(font)).missing(unit + name + plate)
    if gone:
        raise GlyphMissing(gone)


def with_paper_margin(image, dots: int = 32):
    """The receipt as it looks on paper: white margin around the printable area (PNG/PDF)."""
    from PIL import Image

    out = Image.new("1", (image.width + 2 * dots, image.height + 2 * dots), 1)
    out.paste(image, (dots, dots))
    return out
