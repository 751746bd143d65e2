"""ESC/POS bytes for a pass image: raster bit image (GS v 0), no printer library needed.

Cheap 58 mm printers print a native QR command (GS ( k) as text, so the whole pass goes as
a raster. The image is sent in bands: some printers have small receive buffers and drop
or garble a single very tall raster command.
"""

from __future__ import annotations

INIT = b"\x1b@"  # ESC @: reset, so a previous job's modes do not leak into this one
FEED_AND_CUT = b"\x1bd\x04" + b"\x1dVB\x00"  # feed 4 lines, partial cut (ignored without a cutter)
RASTER = b"\x1dv0"  # GS v 0
BAND_ROWS = 256


def raster_bytes(image, band_rows: int = BAND_ROWS) -> bytes:
    """The ESC/POS job for a 1-bit image: init, GS v 0 bands, feed and cut."""
    img = image if image.mode == "1" else image.convert("1")
    width_bytes = (img.width + 7) // 8
    if img.width % 8:
        from PIL import Image

        padded = Image.new("1", (width_bytes * 8, img.height), 1)
        padded.paste(img, (0, 0))
        img = padded
    out = bytearray(INIT)
    for top in range(0, img.height, band_rows):
        band = img.crop((0, top, img.width, min(img.height, top + band_rows)))
        # PIL's "1" is 1 = white; ESC/POS wants 1 = black: "1;I" packs inverted bits.
        data = band.tobytes("raw", "1;I")
        out += RASTER + bytes((0, width_bytes & 0xFF, width_bytes >> 8, band.height & 0xFF, band.height >> 8))
        out += data
    out += FEED_AND_CUT
    return bytes(out)


def raster_image(job: bytes):
    """Read the GS v 0 bands of an ESC/POS job back into one image (for checks and previews).

    Only the commands `raster_bytes` writes are understood; anything else raises ValueError.
    """
    from PIL import Image

    bands = []
    pos = 0
    if job.startswith(INIT):
        pos = len(INIT)
    while pos < len(job):
        if job.startswith(RASTER, pos):
            mode, xl, xh, yl, yh = job[pos + 3 : pos + 8]
            if mode != 0:
                raise ValueError(f"raster mode {mode} not supported")
            xbytes, rows = xl | xh << 8, yl | yh << 8
            start = pos + 8
            data = job[start : start + xbytes * rows]
            if len(data) != xbytes * rows:
                raise ValueError("raster data cut short")
            bands.append(Image.frombytes("1", (xbytes * 8, rows), data, "raw", "1;I"))
            pos = start + xbytes * rows
        elif job.startswith(FEED_AND_CUT, pos):
            pos += len(FEED_AND_CUT)
        else:
            raise ValueError(f"unexpected byte {job[pos]:#04x} at {pos}")
    if not bands:
        raise ValueError("no raster image in the job")
    width = bands[0].width
    whole = Image.new("1", (width, sum(b.height for b in bands)), 1)
    y = 0
    for band in bands:
        whole.paste(band, (0, y))
        y += band.height
    return whole
