"""A4 sheets of passes for a whole community, with cut marks.

Several passes a page (2 x 4), each with its QR, the unit large, the kind, the validity and a
serial number. Pages are drawn in worker processes (QR mask selection is the slow part) and
written to the PDF one at a time, so 2,000 households never sit in memory at once: the PDF is
written by hand with Flate-compressed 1-bit page images, which is all a sheet of passes needs.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tui.printing.render import FontChoice, PassPrint, find_cjk_font, load_font, qr_bitmap, qr_matrix

DPI = 300
A4_DOTS = (2480, 3508)  # 210 x 297 mm at 300 dpi
COLUMNS, ROWS = 2, 4
PAGE_MARGIN = 90  # dots (7.6 mm): inside every printer's unprintable border
TILE_MODULE_DOTS = 9  # 0.76 mm modules: easy for phone cameras and handheld scanners alike


@dataclass(frozen=True)
class SheetLayout:
    page: tuple[int, int] = A4_DOTS
    columns: int = COLUMNS
    rows: int = ROWS
    margin: int = PAGE_MARGIN

    @property
    def cell(self) -> tuple[int, int]:
        w, h = self.page
        return (w - 2 * self.margin) // self.columns, (h - 2 * self.margin) // self.rows

    def cell_origin(self, slot: int) -> tuple[int, int]:
        cw, ch = self.cell
        return self.margin + (slot % self.columns) * cw, self.margin + (slot // self.columns) * ch


def _fit(font: FontChoice, text: str, size: int, width: int):
    f = load_font(font, size)
    while size > 16 and f.getlength(text) > width:
        size -= 4
        f = load_font(font, size)
    return f


def render_tile(info: PassPrint, size: tuple[int, int], font: FontChoice):
    """One pass on the sheet: QR left, large unit and the details right."""
    from PIL import Image

    w, h = size
    tile = Image.new("1", size, 1)
    matrix, _version = qr_matrix(info.token)
    pad = 36
    dots = TILE_MODULE_DOTS
    while (len(matrix) + 8) * dots > h - 2 * pad and dots > 6:
        dots -= 1
    qr = qr_bitmap(matrix, dots, 4)
    tile.paste(qr, (pad, (h - qr.height) // 2))
    x = pad + qr.width + 24
    text_w = w - x - pad
    lines: list[tuple[str, object, int]] = []  # text, font, stroke
    if info.header:
        lines.append((info.header, _fit(font, info.header, 44, text_w), 0))
    lines.append((info.kind_name, _fit(font, info.kind_name, 72, text_w), 1))
    lines.append((info.unit, _fit(font, info.unit, 150, text_w), 2))
    name_stamp = _name_stamp(info.name, font, text_w) if info.name else None
    if info.plate:
        lines.append((info.plate, _fit(font, info.plate, 64, text_w), 1))
    for line in info.detail_lines():
        lines.append((line, _fit(font, line, 36, text_w), 0))
    stamps = [_text_stamp(text, f, stroke) for text, f, stroke in lines]
    if name_stamp is not None:  # after the unit, as on a receipt
        stamps.insert(3 if info.header else 2, name_stamp)
    heights = [stamp.height + 18 for stamp in stamps]
    y = max(pad, (h - sum(heights)) // 2)
    for stamp, lh in zip(stamps, heights, strict=False):
        tile.paste(stamp, (x, y))
        y += lh
    return tile


def _name_stamp(name: str, font: FontChoice, width: int):
    """The name, each character from the first font that has it (a rare character in a name
    comes from a fallback font, render.FontChain), made smaller until it fits."""
    from PIL import Image, ImageDraw

    from tui.printing.render import FontChain, fitted_line

    line = fitted_line(name, FontChain(font), 64, width, 16)
    stamp = Image.new("1", (max(1, int(line.width) + 1), max(1, line.height)), 1)
    line.draw(ImageDraw.Draw(stamp), line.width / 2, 0)
    return stamp


@functools.lru_cache(maxsize=256)
def _text_stamp(text: str, font, stroke: int):
    """A line of text as a small image. The header, kind and validity repeat on every pass
    of a batch, so they are drawn once and pasted."""
    from PIL import Image, ImageDraw

    _left, _top, right, bottom = font.getbbox(text, stroke_width=stroke)
    stamp = Image.new("1", (max(1, right), max(1, bottom)), 1)
    ImageDraw.Draw(stamp).text((0, 0), text, font=font, fill=0, stroke_width=stroke, stroke_fill=0)
    return stamp


def _cut_marks(draw, layout: SheetLayout) -> None:
    """Dashed lines between passes and ticks outside the sheet's margin, for the guillotine."""
    w, h = layout.page
    cw, ch = layout.cell
    xs = [layout.margin + i * cw for i in range(layout.columns + 1)]
    ys = [layout.margin + j * ch for j in range(layout.rows + 1)]
    dash, gap = 24, 16
    for x in xs:
        for y0 in range(ys[0], ys[-1], dash + gap):
            draw.line([(x, y0), (x, min(ys[-1], y0 + dash))], fill=0, width=2)
        draw.line([(x, 0), (x, layout.margin // 2)], fill=0, width=2)
        draw.line([(x, h - layout.margin // 2), (x, h)], fill=0, width=2)
    for y in ys:
        for x0 in range(xs[0], xs[-1], dash + gap):
            draw.line([(x0, y), (min(xs[-1], x0 + dash), y)], fill=0, width=2)
        draw.line([(0, y), (layout.margin // 2, y)], fill=0, width=2)
        draw.line([(w - layout.margin // 2, y), (w, y)], fill=0, width=2)


def render_page(passes: Sequence[PassPrint], font: FontChoice, layout: SheetLayout = SheetLayout()):
    from PIL import Image, ImageDraw

    page = Image.new("1", layout.page, 1)
    cw, ch = layout.cell
    for slot, info in enumerate(passes):
        x, y = layout.cell_origin(slot)
        page.paste(render_tile(info, (cw - 4, ch - 4), font), (x + 2, y + 2))
    _cut_marks(ImageDraw.Draw(page), layout)
    return page


def _page_job(job: tuple[Sequence[PassPrint], FontChoice, SheetLayout]) -> bytes:
    passes, font, layout = job
    page = render_page(passes, font, layout)
    # PDF 1-bit DeviceGray: 0 is black, 1 is white, the same as PIL's "1" packing.
    return zlib.compress(page.tobytes("raw", "1"), 1)  # level 1: pages are mostly white anyway


class _PdfWriter:
    """Just enough PDF: one full-page 1-bit image per page, written as it comes."""

    def __init__(self, fh, page_dots: tuple[int, int], dpi: int):
        self.fh = fh
        self.offsets: dict[int, int] = {}
        self.page_ids: list[int] = []
        self.next_id = 3  # 1: catalog, 2: page tree (written last)
        self.w, self.h = page_dots
        self.points = (page_dots[0] * 72 / dpi, page_dots[1] * 72 / dpi)
        fh.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def _obj(self, obj_id: int, body: bytes, stream: bytes | None = None) -> None:
        self.offsets[obj_id] = self.fh.tell()
        self.fh.write(b"%d 0 obj\n" % obj_id + body)
        if stream is not None:
            self.fh.write(b"\nstream\n" + stream + b"\nendstream")
        self.fh.write(b"\nendobj\n")

    def add_page(self, flate_bits: bytes) -> None:
        image_id, content_id, page_id = self.next_id, self.next_id + 1, self.next_id + 2
        self.next_id += 3
        pw, ph = self.points
        self._obj(
            image_id,
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 1 /Filter /FlateDecode /Length %d >>" % (self.w, self.h, len(flate_bits)),
            flate_bits,
        )
        content = b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q" % (pw, ph)
        self._obj(content_id, b"<< /Length %d >>" % len(content), content)
        self._obj(
            page_id,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
            b"/Resources << /XObject << /Im0 %d 0 R >> >> >>" % (pw, ph, content_id, image_id),
        )
        self.page_ids.append(page_id)

    def finish(self) -> None:
        kids = b" ".join(b"%d 0 R" % p for p in self.page_ids)
        self._obj(2, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self.page_ids)))
        self._obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        xref_at = self.fh.tell()
        count = self.next_id
        self.fh.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
        for obj_id in range(1, count):
            self.fh.write(b"%010d 00000 n \n" % self.offsets[obj_id])
        self.fh.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref_at))


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def write_sheets(
    passes: Sequence[PassPrint],
    path: Path | str,
    font: FontChoice | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    layout: SheetLayout = SheetLayout(),
) -> int:
    """Write all passes to a PDF of A4 sheets. Returns the number of pages."""
    font = font or find_cjk_font()
    per_page = layout.columns * layout.rows
    jobs = [(list(passes[i : i + per_page]), font, layout) for i in range(0, len(passes), per_page)]
    workers = default_workers() if workers is None else workers
    path = Path(path)
    with open(path, "wb") as fh:
        pdf = _PdfWriter(fh, layout.page, DPI)
        if workers > 1 and len(jobs) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # fork where available: workers inherit the loaded font and modules instantly.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
                for done, page in enumerate(pool.map(_page_job, jobs, chunksize=1), start=1):
                    pdf.add_page(page)
                    if progress:
                        progress(min(len(passes), done * per_page), len(passes))
        else:
            for done, job in enumerate(jobs, start=1):
                pdf.add_page(_page_job(job))
                if progress:
                    progress(min(len(passes), done * per_page), len(passes))
        pdf.finish()
    return len(jobs)
