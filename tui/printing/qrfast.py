"""The same QR matrix as `tui.qr.make_qr`, about three times faster.

qrcode picks the mask by building the symbol eight times and scoring each with pure-Python
loops (~20 ms a pass); a sheet of 2,000 households spends most of its time there. Here the
symbol is built once with mask 0, the unmasked data bits are recovered, and the eight
candidates are scored with the same penalty rules on row bitmasks and regular expressions.
The chosen mask, hence every module, is identical to qrcode's (the tests compare them).
"""

from __future__ import annotations

import functools
import itertools
import re

_RUNS = re.compile(r"0{5,}|1{5,}")
_FINDER_LIKE = re.compile(r"(?=10111010000|00001011101)")


def _new_qr(token: str, mask_pattern: int):
    import qrcode
    from qrcode.util import MODE_NUMBER, QRData

    # Mirrors tui.qr.make_qr (numeric mode, ECC Q) with a fixed mask.
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_Q, border=0, box_size=1, mask_pattern=mask_pattern
    )
    # types-qrcode declares MODE_NUMBER an int while QRData's overloads want Literal[1].
    qr.add_data(QRData(token, mode=MODE_NUMBER))  # type: ignore[call-overload]
    qr.make(fit=True)
    return qr


@functools.lru_cache(maxsize=64)
def _layout(version: int, error_correction: int):
    """Per version: function-pattern dark rows, data-position rows, and the 8 mask rows, as ints."""
    import qrcode
    from qrcode.main import copy_2d_array, precomputed_qr_blanks
    from qrcode.util import mask_func

    qr = qrcode.QRCode(error_correction=error_correction, version=version, border=0)
    qr.modules_count = n = version * 4 + 17
    if version not in precomputed_qr_blanks:
        qr.makeImpl(True, 0)  # fills qrcode's blank cache for this version (needs data: use none)
    qr.modules = copy_2d_array(precomputed_qr_blanks[version])
    qr.setup_type_info(True, 0)  # test mode: format and version bits are light while scoring
    if version >= 7:
        qr.setup_type_number(True)
    func_rows, data_rows = [], []
    for row in qr.modules:
        dark = data = 0
        for cell in row:
            dark = dark << 1 | (cell is True)
            data = data << 1 | (cell is None)
        func_rows.append(dark)
        data_rows.append(data)
    masks = []
    for k in range(8):
        f = mask_func(k)
        rows = []
        for r in range(n):
            bits = 0
            for c in range(n):
                bits = bits << 1 | bool(f(r, c))
            rows.append(bits)
        masks.append(rows)
    return n, func_rows, data_rows, masks


def _penalty(rows: list[int], n: int) -> int:
    """qrcode.util.lost_point, computed on row bitmasks."""
    fmt = f"0{n}b"
    lines = [format(r, fmt) for r in rows]
    columns = ["".join(col) for col in zip(*lines, strict=False)]
    points = 0
    for line in lines + columns:
        for run in _RUNS.finditer(line):  # rule 1: runs of five or more
            points += run.end() - run.start() - 2
        points += 40 * len(_FINDER_LIKE.findall(line))  # rule 3: finder-like patterns
    pair_mask = (1 << (n - 1)) - 1
    for a, b in itertools.pairwise(rows):  # rule 2: 2x2 blocks of one colour
        same = ~(a ^ (a >> 1)) & ~(b ^ (b >> 1)) & ~(a ^ b) & pair_mask
        points += 3 * same.bit_count()
    dark = sum(r.bit_count() for r in rows)  # rule 4: balance of dark and light
    points += int(abs(float(dark) / (n**2) * 100 - 50) / 5) * 10
    return points


def qr_modules(token: str) -> tuple[list[list[bool]], int]:
    """(module matrix without quiet zone, version), identical to `tui.qr.make_qr(token)`."""
    qr = _new_qr(token, 0)
    n, func_rows, data_rows, masks = _layout(qr.version, qr.error_correction)
    final0 = []
    for row in qr.modules:
        bits = 0
        for cell in row:
            bits = bits << 1 | bool(cell)
        final0.append(bits)
    # Data bits before masking: what mask 0 wrote, with mask 0 taken off again.
    data_bits = [(f ^ m) & d for f, m, d in zip(final0, masks[0], data_rows, strict=False)]
    best, best_points = 0, None
    for k in range(8):
        candidate = [
            fr | ((db ^ mk) & dr) for fr, db, mk, dr in zip(func_rows, data_bits, masks[k], data_rows, strict=False)
        ]
        points = _penalty(candidate, n)
        if best_points is None or points < best_points:
            best, best_points = k, points
    if best != 0:
        qr.makeImpl(False, best)  # the data codewords are cached: only the placement is redone
    return [list(map(bool, row)) for row in qr.modules], qr.version
