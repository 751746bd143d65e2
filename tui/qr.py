"""QR codes for pass tokens: one numeric-mode segment, error correction level Q, plain modules."""

from __future__ import annotations

from pathlib import Path


def make_qr(token: str):
    import qrcode
    from qrcode.util import MODE_NUMBER, QRData

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=4, box_size=1)
    # types-qrcode declares MODE_NUMBER an int while QRData's overloads want Literal[1].
    qr.add_data(QRData(token, mode=MODE_NUMBER))  # type: ignore[call-overload]
    qr.make(fit=True)
    return qr


def qr_image(token: str, module_px: int = 6):
    """A 1-bit PIL image, `module_px` pixels (printer dots) per module, with the quiet zone."""
    from PIL import Image

    matrix = make_qr(token).get_matrix()  # includes the 4-module border
    size = len(matrix)
    img = Image.new("1", (size, size), 1)
    px = img.load()
    assert px is not None  # a new in-memory image always has its pixels
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                px[x, y] = 0
    return img.resize((size * module_px, size * module_px), Image.Resampling.NEAREST)


def write_qr_png(token: str, path: Path, module_px: int = 6) -> Path:
    """The pass's QR code as a PNG file, owner-only: the picture is the pass (a bearer token)."""
    import io

    from models.files import write_private

    buf = io.BytesIO()
    qr_image(token, module_px).save(buf, format="PNG")
    return write_private(path, buf.getvalue())
