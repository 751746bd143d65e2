"""Printing passes: render once as an image, then send it to a receipt printer, CUPS, PNG or PDF.

Nothing here imports python-escpos at module load; the device transports load it lazily and
quietly (see `targets.load_escpos`).
"""

from __future__ import annotations

from models.errors import KakouError


class PrintError(KakouError):
    """A pass could not be printed. The pass itself is already saved; the user can reprint."""

    code = "print"


def print_pass(
    info, target: str, paper: str | int = "58", font: str | None = None, timeout: float | None = None, progress=None
) -> str:
    """Render `info` (a render.PassPrint) for the paper width and send it to `target`.

    The target is checked before rendering, so a typo is reported without wasting a render.
    """
    from tui.printing.render import find_cjk_font, paper_dots, render_pass
    from tui.printing.targets import DEFAULT_TIMEOUT, parse_target, send_image

    parsed = parse_target(target)
    rendered = render_pass(info, paper_dots(paper), find_cjk_font(font))
    return send_image(parsed, rendered.image, DEFAULT_TIMEOUT if timeout is None else timeout, progress)
