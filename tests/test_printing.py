"""Every printed pass decodes back to a pass that verifies: through the ESC/POS raster bytes,
PNG and PDF, for every kind, at 58 mm and 80 mm."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest
from PIL import Image

from models.passes import issue_pass, parse_kind
from models.passtoken import PassKind
from tests.qr import qr_texts
from tui.printing import PrintError, print_pass
from tui.printing.escpos import raster_image
from tui.printing.render import (
    FontMissing,
    GlyphMissing,
    PassPrint,
    find_cjk_font,
    missing_glyphs,
    paper_dots,
    qr_matrix,
    render_pass,
)
from tui.printing.targets import parse_target, send_image

KIND_ARGS = {
    "resident": {},
    "outing": {},
    "work": {"hours": (8, 18)},
    "vehicle": {"plate": "京A12345"},
    "visitor": {"hours": (9, 17)},
    "returnee": {},
}


def zxing_texts(image) -> list[str]:
    return qr_texts(image)  # tests/qr.py: QR codes only


def issue(store, kind: str, name: str = "王喆", unit: str = "3-2-501"):
    issued = issue_pass(store, parse_kind(kind), unit, name=name, **KIND_ARGS[kind])
    return issued, PassPrint.from_body(issued.body, issued.token, header="幸福里社区")


def allowed_now(store, token: str) -> bool:
    """The verdict at a moment the pass is meant for (inside its daily hours, if it has any)."""
    import time

    from models.gate import check_token
    from models.passtoken import decode_token

    body = decode_token(token).body
    now = body.valid_from + 60
    if not body.all_day:
        lt = time.localtime(body.valid_from)
        start = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, body.hour_from, 30, 0, 0, 0, -1))
        now = start if start >= body.valid_from else start + 86400
    return check_token(store, token, "in", now=now).allowed


def module_grid(image, placement) -> list[list[bool]]:
    """Sample the centre of every module of the printed QR."""
    half = placement.module_dots // 2
    px = image.load()
    n = placement.modules
    return [
        [
            px[placement.x + c * placement.module_dots + half, placement.y + r * placement.module_dots + half] == 0
            for c in range(n)
        ]
        for r in range(n)
    ]


class TestEscposRaster:
    @pytest.mark.parametrize("kind", list(KIND_ARGS))
    def test_each_kind_prints_to_raster_that_decodes_and_verifies(self, store, tmp_path, kind):
        issued, info = issue(store, kind)
        out = tmp_path / "lp0"
        print_pass(info, f"escpos-file:{out}", paper="58")
        job = out.read_bytes()
        assert job.count(b"\x1dv0") >= 1
        image = raster_image(job)
        assert image.width == 384
        assert zxing_texts(image) == [issued.token]
        assert allowed_now(store, zxing_texts(image)[0])

    @pytest.mark.parametrize("paper, width, dots", [("58", 384, 6), ("80", 576, 8)])
    def test_modules_are_exact_squares_matching_the_qr_matrix(self, store, tmp_path, paper, width, dots):
        from tui.qr import make_qr

        issued, info = issue(store, "resident", name="王秀英")
        rendered = render_pass(info, paper_dots(paper))
        out = tmp_path / "lp0"
        send_image(f"escpos-file:{out}", rendered.image)
        image = raster_image(out.read_bytes())
        q = rendered.qr
        reference = make_qr(issued.token)
        reference.border = 0
        assert (q.version, q.module_dots, image.width) == (reference.version, dots, width)
        assert q.version <= 9  # a pass with a name stays a v9 symbol or smaller
        assert module_grid(image, q) == reference.get_matrix()
        # Every module is a full square of `dots` dots, not only its centre.
        block = image.crop((q.x, q.y, q.x + dots, q.y + dots))  # top-left finder corner: dark
        assert block.getextrema() == (0, 0)

    def test_qr_matrix_is_the_same_as_tui_qr(self, store):
        import random

        from tui.qr import make_qr

        rng = random.Random(7)
        for length in (150, 200, 253, 270, 300, 330, 400, 452):
            token = "88" + "".join(rng.choice("0123456789") for _ in range(length))
            ref = make_qr(token)
            ref.border = 0
            matrix, version = qr_matrix(token)
            assert (matrix, version) == (ref.get_matrix(), ref.version)

    def test_long_raster_is_sent_in_bands(self, store, tmp_path):
        issued, info = issue(store, "vehicle")
        out = tmp_path / "lp0"
        print_pass(info, f"escpos-file:{out}", paper="80")
        job = out.read_bytes()
        image = raster_image(job)
        assert job.count(b"\x1dv0") == -(-image.height // 256)
        assert zxing_texts(image) == [issued.token]


class TestFiles:
    @pytest.mark.parametrize("kind", ["outing", "vehicle"])
    def test_png_decodes(self, store, tmp_path, kind):
        issued, info = issue(store, kind)
        print_pass(info, f"png:{tmp_path / 'pass.png'}", paper="80")
        assert zxing_texts(Image.open(tmp_path / "pass.png")) == [issued.token]

    @pytest.mark.parametrize("kind", ["returnee", "work"])
    def test_pdf_page_renders_and_decodes(self, store, tmp_path, kind):
        import pypdfium2

        issued, info = issue(store, kind)
        print_pass(info, f"pdf:{tmp_path / 'pass.pdf'}", paper="58")
        pdf = pypdfium2.PdfDocument(str(tmp_path / "pass.pdf"))
        assert len(pdf) == 1
        page = pdf[0].render(scale=203 / 72).to_pil()
        assert zxing_texts(page) == [issued.token]
        assert allowed_now(store, issued.token)


class TestTcpTarget:
    def test_raw_tcp_receives_the_same_job(self, store, tmp_path):
        issued, info = issue(store, "resident")
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
        received = bytearray()

        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(65536):
                    received.extend(chunk)

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        print_pass(info, f"escpos-tcp:127.0.0.1:{port}", timeout=5)
        thread.join(5)
        server.close()
        assert zxing_texts(raster_image(bytes(received))) == [issued.token]

    def test_a_printer_that_never_reads_times_out_in_words(self, store, tmp_path):
        # A FIFO with no reader blocks open() forever: like a printer device that hangs.
        import os

        _, info = issue(store, "resident")
        fifo = tmp_path / "stuck"
        os.mkfifo(fifo)
        with pytest.raises(PrintError) as err:
            print_pass(info, f"escpos-file:{fifo}", timeout=0.5)
        assert err.value.code == "timeout"
        assert "重印" in err.value.zh and "reprint" in err.value.en
        with open(fifo, "rb"):  # let the helper thread finish
            pass


class TestBadTargetsAndFonts:
    @pytest.mark.parametrize(
        "text",
        [
            "",
            "lpt1",
            "usb:zz:1",
            "escpos-usb:0416",
            "escpos-tcp:host:port",
            "escpos-serial:/dev/ttyUSB0?baud=fast",
            "png:",
        ],
    )
    def test_unusable_target_is_refused_with_the_forms(self, text):
        with pytest.raises(PrintError) as err:
            parse_target(text)
        assert err.value.code == "target"
        assert "escpos-file:PATH" in err.value.en

    def test_unplugged_device_file_says_so(self, store, tmp_path):
        _, info = issue(store, "resident")
        with pytest.raises(PrintError) as err:
            print_pass(info, f"escpos-file:{tmp_path}/no-such-dir/lp0")
        assert "not found" in err.value.en and "reprint" in err.value.en

    def test_cups_without_lp_says_what_to_install(self, store, monkeypatch):
        import shutil

        _, info = issue(store, "resident")
        monkeypatch.setattr(shutil, "which", lambda name: None)
        with pytest.raises(PrintError) as err:
            print_pass(info, "cups:receipt")
        assert "cups-client" in err.value.en

    def test_missing_font_names_the_package(self, monkeypatch):
        import tui.printing.render as render

        monkeypatch.delenv("KAKOU_FONT", raising=False)
        monkeypatch.setattr(render, "_fc_list_zh", lambda: [])
        monkeypatch.setattr(render, "_KNOWN_FONT_FILES", ())
        monkeypatch.setattr(render, "BUNDLED_FONT", render.BUNDLED_FONT.with_name("gone.otf"))  # a broken install
        render._find_cjk_font.cache_clear()
        try:
            with pytest.raises(FontMissing) as err:
                render.find_cjk_font()
            assert "fonts-wqy-zenhei" in err.value.zh and "fonts-wqy-zenhei" in err.value.en
        finally:
            render._find_cjk_font.cache_clear()

    def test_font_setting_pointing_at_nothing_is_reported(self, tmp_path):
        with pytest.raises(FontMissing) as err:
            find_cjk_font(str(tmp_path / "nope.ttf"))
        assert "nope.ttf" in err.value.en

    def test_missing_glyph_is_reported_not_printed_as_a_box(self, store, tmp_path):
        font = find_cjk_font()
        assert missing_glyphs("王喆 3-2-501", font) == ""
        assert missing_glyphs("陈𠈌", font) == "𠈌"
        issued, _ = issue(store, "resident", name="陈𠈌")
        info = PassPrint.from_body(issued.body, issued.token)
        with pytest.raises(GlyphMissing) as err:
            print_pass(info, f"escpos-file:{tmp_path / 'lp0'}")
        assert "𠈌" in err.value.zh
        assert not (tmp_path / "lp0").exists()

    def test_importing_python_escpos_stays_off_the_terminal(self):
        # In a fresh interpreter: no root logging handler, nothing on stdout or stderr.
        code = (
            "import logging; from tui.printing.targets import load_escpos; load_escpos();"
            "import escpos.printer; assert not logging.getLogger().handlers, logging.getLogger().handlers;"
            "logging.getLogger('escpos.capabilities').warning('would garble the TUI')"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "" and done.stderr == ""

    def test_kind_words(self):
        assert parse_kind("Vehicle") == PassKind.VEHICLE
        with pytest.raises(Exception) as err:
            parse_kind("spaceship")
        assert "spaceship" in str(err.value)
