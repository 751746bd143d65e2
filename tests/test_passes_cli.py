"""`kakou pass issue / batch / revoke / reissue / print / list`, run as a user runs them."""

from __future__ import annotations

import csv
import io

import pytest

from tests.qr import qr_texts
from tui.cli import main
from tui.printing.escpos import raster_image


def zxing_texts(image) -> list[str]:
    return qr_texts(image)  # tests/qr.py: QR codes only


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def kiosk(store, monkeypatch):
    """A kiosk with a supervisor, whose PIN arrives on standard input (as `echo PIN | kakou ...`)."""
    from models.volunteers import add_volunteer

    add_volunteer(store, "王秀英", "888888", "supervisor")
    add_volunteer(store, "李建国", "1234")
    monkeypatch.setattr("sys.stdin", io.StringIO("888888\n" * 200))
    return str(store.data_dir)


def pass_count(store) -> int:
    from models.passes import list_passes

    return len(list_passes(store))


class TestIssue:
    def test_issue_prints_token_and_the_pass(self, capsys, kiosk, store, tmp_path):
        out_file = tmp_path / "lp0"
        code, out, err = run(
            capsys,
            "pass",
            "issue",
            "--data-dir",
            kiosk,
            "--kind",
            "vehicle",
            "--unit",
            "3栋2单元501",
            "--name",
            "王喆",
            "--plate",
            "京A12345",
            "--print-to",
            f"escpos-file:{out_file}",
        )
        assert code == 0, err
        token = out.strip()
        assert zxing_texts(raster_image(out_file.read_bytes())) == [token]
        code, out, _ = run(capsys, "pass", "verify", "--data-dir", kiosk, "--json", token)
        assert code == 0 and '"unit": "3-2-501"' in out and "京A12345" in out

    def test_unknown_kind_is_an_error_in_words(self, capsys, kiosk, store):
        code, out, err = run(capsys, "pass", "issue", "--data-dir", kiosk, "--kind", "spaceship", "--unit", "3-2-501")
        assert code == 2 and out == ""
        assert "没有这种通行证" in err and "unknown pass kind" in err and "Traceback" not in err
        assert pass_count(store) == 0

    def test_unprintable_target_is_refused_before_issuing(self, capsys, kiosk, store):
        code, _, err = run(
            capsys,
            "pass",
            "issue",
            "--data-dir",
            kiosk,
            "--kind",
            "resident",
            "--unit",
            "3-2-501",
            "--print-to",
            "lpt1:",
        )
        assert code == 2 and "escpos-file:PATH" in err
        assert pass_count(store) == 0

    def test_failed_print_keeps_the_pass_and_says_how_to_reprint(self, capsys, kiosk, store, tmp_path):
        code, out, err = run(
            capsys,
            "pass",
            "issue",
            "--data-dir",
            kiosk,
            "--kind",
            "resident",
            "--unit",
            "3-2-501",
            "--print-to",
            f"escpos-file:{tmp_path}/gone/lp0",
        )
        assert code == 2 and out.strip().startswith("88")
        assert "kakou pass print" in err and "not found" in err
        assert pass_count(store) == 1
        pass_id = err.split("kakou pass print ")[1].split()[0]
        code, _, err = run(
            capsys,
            "pass",
            "print",
            "--data-dir",
            kiosk,
            pass_id,
            "--print-to",
            f"png:{tmp_path}/p.png",
            "--paper",
            "80",
        )
        assert code == 0, err
        from PIL import Image

        assert zxing_texts(Image.open(tmp_path / "p.png")) == [out.strip()]

    def test_missing_font_says_which_package(self, capsys, kiosk, store, tmp_path, monkeypatch):
        monkeypatch.setenv("KAKOU_FONT", str(tmp_path / "none.ttf"))
        code, _, err = run(
            capsys,
            "pass",
            "issue",
            "--data-dir",
            kiosk,
            "--kind",
            "resident",
            "--unit",
            "3-2-501",
            "--print-to",
            f"escpos-file:{tmp_path}/lp0",
        )
        assert code not in (0, 70) and "fonts-wqy-zenhei" in err and "none.ttf" in err
        # refused before issuing (issue 15): a pass that is issued is one that prints
        assert pass_count(store) == 0


class TestRevokeReissueList:
    def test_revoke_by_printed_prefix_then_verify_denies(self, capsys, kiosk, store):
        _, token, _ = run(capsys, "pass", "issue", "--data-dir", kiosk, "--kind", "resident", "--unit", "1-1-101")
        from models.passtoken import decode_token

        short = decode_token(token.strip()).body.pass_id_hex[:8]
        code, out, _ = run(capsys, "pass", "revoke", "--data-dir", kiosk, short, "--reason", "遗失 lost")
        assert code == 0 and short in out
        code, out, _ = run(capsys, "pass", "verify", "--data-dir", kiosk, token.strip())
        assert code == 1 and "遗失" in out
        code, _, err = run(capsys, "pass", "revoke", "--data-dir", kiosk, short, "--reason", "again")
        assert code == 2 and "already revoked" in err

    def test_reissue_revokes_old_and_issues_new(self, capsys, kiosk, store, tmp_path):
        _, old, _ = run(
            capsys, "pass", "issue", "--data-dir", kiosk, "--kind", "work", "--unit", "1-1-101", "--hours", "8-18"
        )
        from models.passtoken import decode_token

        old_id = decode_token(old.strip()).body.pass_id_hex
        code, new, err = run(
            capsys, "pass", "reissue", "--data-dir", kiosk, old_id[:10], "--print-to", f"escpos-file:{tmp_path}/lp0"
        )
        assert code == 0, err
        assert decode_token(new.strip()).body.hour_to == 18
        assert zxing_texts(raster_image((tmp_path / "lp0").read_bytes())) == [new.strip()]
        code, out, _ = run(capsys, "pass", "list", "--data-dir", kiosk, "--unit", "1-1-101", "--json")
        import json

        rows = {r["pass_id"]: r for r in json.loads(out)}
        assert rows[old_id]["status"] == "revoked"
        new_row = next(r for r in rows.values() if r["pass_id"] != old_id)
        assert new_row["status"] == "valid" and new_row["replaces"] == old_id

    def test_unknown_pass_id(self, capsys, kiosk):
        code, _, err = run(capsys, "pass", "revoke", "--data-dir", kiosk, "deadbeef00", "--reason", "x")
        assert code == 2 and "no pass" in err

    def test_list_for_unit_in_words(self, capsys, kiosk):
        run(capsys, "pass", "issue", "--data-dir", kiosk, "--kind", "vehicle", "--unit", "2-1-101", "--plate", "沪B1")
        code, out, _ = run(capsys, "pass", "list", "--data-dir", kiosk, "--unit", "2-1-101")
        assert code == 0 and "车辆通行证" in out and "有效 valid" in out and "沪B1" in out
        code, out, _ = run(capsys, "pass", "list", "--data-dir", kiosk, "--unit", "9-9-909")
        assert "no passes" in out


def write_csv(path, rows, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as f:
        csv.writer(f).writerows(rows)
    return path


def pdf_tokens(path, scale: float = 150 / 72) -> list[str]:
    import pypdfium2
    import zxingcpp

    pdf = pypdfium2.PdfDocument(str(path))
    found = []
    for page in pdf:
        image = page.render(scale=scale, grayscale=True).to_pil()
        results = zxingcpp.read_barcodes(
            image, formats=zxingcpp.BarcodeFormat.QRCode, try_rotate=False, try_downscale=False, try_invert=False
        )
        # zxing may report one symbol twice; a page holds each pass once.
        found.extend(dict.fromkeys(r.text for r in results))
    return found


class TestBatch:
    def test_bad_rows_reported_by_line_and_skipped(self, capsys, kiosk, store, tmp_path):
        source = write_csv(
            tmp_path / "r.csv",
            [
                ["幸福里社区住户名单"],
                ["楼栋", "单元", "房号", "姓名"],
                ["1", "1", "101", "张三、李四"],
                ["1", "1", "101", "王五"],  # same household: merged, not an error
                ["1", "1", "abc", "赵六"],  # line 5: bad room
                [],
                ["2", "1", "201", "x" * 30],  # line 7: name too long
                ["2", "1", "202", ""],
            ],
            encoding="gb18030",
        )
        code, out, err = run(
            capsys,
            "pass",
            "batch",
            "--data-dir",
            kiosk,
            "--from",
            str(source),
            "--pdf",
            str(tmp_path / "p.pdf"),
            "--kind",
            "outing",
            "--workers",
            "1",
        )
        assert code == 1
        assert "第 5 行" in err and "line 7" in err and "第 3 行" not in err
        assert "issued 2 passes" in out
        tokens = pdf_tokens(tmp_path / "p.pdf")
        from models.passes import list_passes

        assert sorted(tokens) == sorted(p.token for p in list_passes(store))
        assert {p.unit_code for p in list_passes(store)} == {"1-1-101", "2-1-202"}

    def test_per_person_from_xlsx(self, capsys, kiosk, store, tmp_path):
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.append(["房屋", "姓名"])
        sheet.append(["3-2-501", "王喆，陈晓"])
        sheet.append(["3-2-502", None])  # line 3: per person needs a name
        sheet.append([None, None])
        sheet.append(["3-2-503", "李建国"])
        book.save(tmp_path / "r.xlsx")
        code, _out, err = run(
            capsys,
            "pass",
            "batch",
            "--data-dir",
            kiosk,
            "--from",
            str(tmp_path / "r.xlsx"),
            "--pdf",
            str(tmp_path / "p.pdf"),
            "--per-person",
        )
        assert code == 1 and "line 3" in err
        from models.passes import list_passes

        assert sorted(p.name for p in list_passes(store)) == ["李建国", "王喆", "陈晓"]
        assert len(pdf_tokens(tmp_path / "p.pdf")) == 3

    def test_nothing_good_means_nothing_issued(self, capsys, kiosk, store, tmp_path):
        source = write_csv(tmp_path / "r.csv", [["楼栋", "单元", "房号"], ["a b c", "", "x"]])
        code, _, err = run(
            capsys, "pass", "batch", "--data-dir", kiosk, "--from", str(source), "--pdf", str(tmp_path / "p.pdf")
        )
        assert code == 2 and "nothing was issued" in err
        assert pass_count(store) == 0 and not (tmp_path / "p.pdf").exists()

    def test_no_header_unknown_kind_and_missing_font(self, capsys, kiosk, store, tmp_path, monkeypatch):
        source = write_csv(tmp_path / "r.csv", [["a", "b"], ["1", "2"]])
        code, _, err = run(
            capsys, "pass", "batch", "--data-dir", kiosk, "--from", str(source), "--pdf", str(tmp_path / "p.pdf")
        )
        assert code == 2 and "header" in err
        good = write_csv(tmp_path / "g.csv", [["楼栋", "单元", "房号"], ["1", "1", "101"]])
        code, _, err = run(
            capsys,
            "pass",
            "batch",
            "--data-dir",
            kiosk,
            "--from",
            str(good),
            "--pdf",
            str(tmp_path / "p.pdf"),
            "--kind",
            "tank",
        )
        assert code == 2 and "unknown pass kind" in err
        monkeypatch.setenv("KAKOU_FONT", str(tmp_path / "none.ttf"))
        code, _, err = run(
            capsys, "pass", "batch", "--data-dir", kiosk, "--from", str(good), "--pdf", str(tmp_path / "p.pdf")
        )
        assert code == 2 and "fonts-wqy-zenhei" in err
        assert pass_count(store) == 0

    def test_a_failed_commit_leaves_no_pdf_and_no_passes(self, capsys, kiosk, store, tmp_path, monkeypatch):
        import models.batch as batch

        good = write_csv(tmp_path / "g.csv", [["楼栋", "单元", "房号"], ["1", "1", "101"], ["1", "1", "102"]])
        monkeypatch.setattr(
            batch,
            "_insert_pass",
            lambda conn, *a, **k: (
                (_ for _ in ()).throw(OSError(28, "full")) if a[1].unit == "1-1-102" else original(conn, *a, **k)
            ),
        )
        original = __import__("models.passes", fromlist=["_insert_pass"])._insert_pass
        code, _, err = run(
            capsys,
            "pass",
            "batch",
            "--data-dir",
            kiosk,
            "--from",
            str(good),
            "--pdf",
            str(tmp_path / "p.pdf"),
            "--workers",
            "1",
        )
        assert code == 2 and "nothing was issued" in err
        assert pass_count(store) == 0
        assert list(tmp_path.glob("p.pdf*")) == []

    def test_a_compounds_households_give_as_many_decodable_passes(self, capsys, kiosk, store, tmp_path):
        # 400 households on 50 sheets, every pass read back from the PDF. (A 2,000-household
        # compound is the same path five times over: tests/bench/bench_passes.py times it.)
        rows = [["楼栋", "单元", "房号", "姓名"]]
        for b in range(1, 6):
            for e in range(1, 5):
                for floor in range(1, 11):
                    for room in (1, 2):
                        rows.append([b, e, f"{floor}{room:02d}", "张三、李四"])
        assert len(rows) == 401
        source = write_csv(tmp_path / "r.csv", rows)
        code, out, err = run(
            capsys, "pass", "batch", "--data-dir", kiosk, "--from", str(source), "--pdf", str(tmp_path / "all.pdf")
        )
        assert code == 0, err
        assert "issued 400 passes on 50 pages" in out
        from models.passes import list_passes

        issued = {p.token for p in list_passes(store)}
        assert len(issued) == 400
        tokens = pdf_tokens(tmp_path / "all.pdf", scale=100 / 72)
        assert len(tokens) == 400 and set(tokens) == issued


class TestSupervisorOnly:
    def test_issue_and_revoke_need_a_supervisor_pin_and_are_audited(self, capsys, kiosk, store, monkeypatch):
        monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))
        code, out, err = run(capsys, "pass", "issue", "--data-dir", kiosk, "--kind", "resident", "--unit", "3-2-501")
        assert code == 2 and "supervisor" in err and out == "" and pass_count(store) == 0
        monkeypatch.setattr("sys.stdin", io.StringIO("0000\n"))
        code, out, err = run(capsys, "pass", "issue", "--data-dir", kiosk, "--kind", "resident", "--unit", "3-2-501")
        assert code == 2 and "PIN" in err and pass_count(store) == 0
        monkeypatch.setattr("sys.stdin", io.StringIO("888888\n888888\n"))
        code, _token, _ = run(capsys, "pass", "issue", "--data-dir", kiosk, "--kind", "resident", "--unit", "3-2-501")
        assert code == 0 and pass_count(store) == 1
        pass_id = (
            store.session()
            .exec(__import__("sqlmodel").select(__import__("models.tables", fromlist=["x"]).PassRecord))
            .first()
            .pass_id
        )
        assert run(capsys, "pass", "revoke", "--data-dir", kiosk, pass_id, "--reason", "lost")[0] == 0
        with store.engine.connect() as conn:
            actions = [
                (r[0], r[1])
                for r in conn.exec_driver_sql("SELECT action, volunteer_id FROM audit_event ORDER BY rowid")
                if r[0] != "volunteer_added"  # the fixture's own volunteers
            ]
        assert [a for a, _ in actions] == ["supervisor_refused", "login_failed", "issue_pass", "revoke_pass"]
        assert actions[2][1] == actions[3][1] == 1  # both under the supervisor's id
