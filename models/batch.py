"""Issuing passes in bulk from a community's resident list (CSV or XLSX).

Communities keep their residents in spreadsheets: 楼栋, 单元, 房号, names, sometimes one
row per person, sometimes one per household, often saved by Excel as GBK CSV. Every row is
checked and a bad row is reported by its line number and skipped; the good rows are issued
in ONE transaction, so a crash or a full disk never leaves half a batch issued.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from models import clock
from models.errors import KakouError
from models.kinds import PassKind
from models.passes import IssuedPass, PassError, _insert_pass, build_body
from models.passtoken import PassBody, sign_pass
from models.values import ValueRejected, parse_pass_name, parse_unit

if TYPE_CHECKING:
    from models.store import KioskStore

# Header words seen in real resident lists, per field (compared without spaces, lowercased).
HEADERS = {
    "building": ("楼栋", "楼号", "栋", "楼", "幢", "building", "bldg"),
    "entrance": ("单元", "门", "entrance", "stair"),
    "room": ("房号", "室", "房间", "门牌号", "room"),
    "unit": ("房屋", "住址", "户号", "单元号", "楼栋单元房号", "地址", "unit", "address"),
    "name": ("姓名", "名字", "户主", "居民", "住户", "name", "names"),
    "plate": ("车牌", "车牌号", "plate"),
}
_NAME_SPLIT = re.compile(r"[、，,;；/]+")


class BatchError(KakouError):
    code = "batch"


@dataclass(frozen=True)
class RowError:
    line: int
    zh: str
    en: str

    def text(self, lang: str = "zh") -> str:
        return f"第 {self.line} 行：{self.zh}" if lang != "en" else f"line {self.line}: {self.en}"


@dataclass
class BatchEntry:
    """One pass to issue: a household (several rows may name it) or one person."""

    unit: str
    name: str = ""
    plate: str = ""
    lines: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # everyone listed for the household


@dataclass
class ResidentList:
    entries: list[BatchEntry]
    errors: list[RowError]
    rows: int  # data rows read (blank rows not counted)


# --- reading ---------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores room 501 as 501.0
    return str(value).strip()


def _read_csv(path: Path) -> list[tuple[int, list[str]]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise BatchError(
            "文件编码认不出，请另存为 UTF-8 的 CSV", "cannot tell the file's encoding; save it as UTF-8 CSV"
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    for record in reader:
        rows.append((reader.line_num, [_cell(c) for c in record]))
    return rows


def _read_xlsx(path: Path) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise BatchError(
            f"Excel 文件打不开：{exc}。请检查文件，或另存为 CSV",
            f"cannot open the Excel file: {exc}. Check it, or save it as CSV",
        ) from None
    try:
        sheet = book.worksheets[0]
        return [(i, [_cell(c) for c in row]) for i, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()


def read_rows(path: Path | str) -> list[tuple[int, list[str]]]:
    path = Path(path)
    if not path.is_file():
        raise BatchError(f"找不到文件：{path}", f"no such file: {path}", code="no_file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _read_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    raise BatchError(
        f"不支持 {suffix or '无扩展名'} 文件，请另存为 .xlsx 或 .csv",
        f"{suffix or 'files without an extension'} not supported; save as .xlsx or .csv",
        code="format",
    )


def _find_columns(header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        word = re.sub(r"\s+", "", title).lower()
        for field_name, words in HEADERS.items():
            if field_name not in columns and word in words:
                columns[field_name] = index
                break
    return columns


def read_residents(path: Path | str, per_person: bool = False, kind: PassKind | None = None) -> ResidentList:
    """Read and check a resident list for passes of `kind` (a kind that needs a plate refuses rows
    without one). Households: one entry per unit (rows of the same unit
    merge). Per person: one entry per name."""
    rows = read_rows(path)
    # The header is the first non-blank row; titles above a table ("幸福里社区住户名单") are skipped.
    header_at = next((i for i, (_, cells) in enumerate(rows) if _find_columns(cells).keys() & {"unit", "room"}), None)
    if header_at is None:
        raise BatchError(
            "找不到表头。第一行要有 楼栋、单元、房号（或 房屋/住址 一列写 3-2-501）和 姓名",
            "no header row found: it needs 楼栋/building, 单元/entrance, 房号/room (or one unit column "
            "like 3-2-501) and 姓名/name",
            code="header",
        )
    columns = _find_columns(rows[header_at][1])
    if "unit" not in columns and not {"building", "entrance", "room"} <= columns.keys():
        raise BatchError(
            "表头缺少 楼栋、单元 或 房号 列", "the header lacks a building, entrance or room column", code="header"
        )
    if per_person and "name" not in columns:
        raise BatchError("按人发证需要 姓名 列", "one pass per person needs a name column", code="header")

    errors: list[RowError] = []
    households: dict[str, BatchEntry] = {}
    persons: dict[tuple[str, str], BatchEntry] = {}
    count = 0

    def get(cells: list[str], key: str) -> str:
        index = columns.get(key)
        return cells[index] if index is not None and index < len(cells) else ""

    for line, cells in rows[header_at + 1 :]:
        if not any(cells):
            continue
        count += 1
        raw_unit = get(cells, "unit") or "-".join(
            filter(None, (get(cells, k) for k in ("building", "entrance", "room")))
        )
        try:
            unit = str(parse_unit(raw_unit))
            names = [parse_pass_name(n) for n in _NAME_SPLIT.split(get(cells, "name"))]
        except ValueRejected as exc:
            errors.append(RowError(line, exc.zh, exc.en))
            continue
        names = [n for n in names if n]
        plate = get(cells, "plate").upper().replace(" ", "")
        if kind is not None and kind.info.needs_plate and not plate:
            called = kind.info.name
            errors.append(RowError(line, f"{called.zh}缺少车牌号", f"a {called.en.lower()} needs a plate number"))
            continue
        if per_person:
            if not names:
                errors.append(
                    RowError(line, "没有姓名，按人发证每行都要有姓名", "no name: one pass per person needs a name")
                )
                continue
            for name in names:
                if (unit, name) in persons:
                    first = persons[(unit, name)].lines[0]
                    errors.append(
                        RowError(
                            line,
                            f"{unit} {name} 与第 {first} 行重复，已跳过",
                            f"{unit} {name} repeats line {first}, skipped",
                        )
                    )
                    continue
                persons[(unit, name)] = BatchEntry(unit, name, plate, [line], [name])
        else:
            entry = households.get(unit)
            if entry is None:
                households[unit] = BatchEntry(unit, "", plate, [line], names)
            else:
                entry.lines.append(line)
                entry.names.extend(names)
                entry.plate = entry.plate or plate
    entries = list(persons.values()) if per_person else list(households.values())
    if count == 0:
        raise BatchError("名单里没有住户", "the list has no residents", code="empty")
    return ResidentList(entries, errors, count)


# --- issuing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedPass:
    entry: BatchEntry
    body: PassBody
    token: str


def prepare_batch(
    store: KioskStore,
    entries: list[BatchEntry],
    kind: PassKind,
    valid_days: float | None = None,
    hours: tuple[int, int] = (0, 24),
    scope: int = 0,
    valid_from: float | None = None,
) -> tuple[list[PreparedPass], list[RowError]]:
    """Build and sign every pass (nothing is stored yet). Entries that cannot become a pass
    are returned as row errors."""
    prepared: list[PreparedPass] = []
    errors: list[RowError] = []
    start = valid_from if valid_from is not None else store.trusted_now()
    for entry in entries:
        try:
            body = build_body(store, kind, entry.unit, entry.name, valid_days, entry.plate, hours, scope, start)
        except PassError as exc:
            errors.append(RowError(entry.lines[0], exc.zh, exc.en))
            continue
        prepared.append(PreparedPass(entry, body, sign_pass(body, store.signing_key)))
    return prepared, errors


def commit_batch(store: KioskStore, prepared: list[PreparedPass]) -> list[IssuedPass]:
    """Store all prepared passes and their outbox facts in one transaction: all or nothing."""
    reading = clock.now()
    issued = []
    with store.writer.begin() as conn:
        for item in prepared:
            record_id = _insert_pass(conn, store, item.body, item.token, reading)
            issued.append(IssuedPass(item.token, item.body, record_id))
    return issued
