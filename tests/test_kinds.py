"""One table per domain list: adding a pass kind, a registration kind or a reason is one entry in
models/kinds.py or models/reasons.py. These tests read every entry of the tables and look for it
wherever a person meets it (forms, command-line help, printed pass, reports, handover, office),
and check that no other module spells one out: a kind written out anywhere else would be
missed by the next one who adds a kind."""

from __future__ import annotations

import ast
import datetime as dt
import json
from pathlib import Path

import pytest

from models.kinds import FEVER_OUTCOMES, REGISTRATION_KINDS, PassKind, pass_kind_by_code
from models.reasons import REASONS, reason_label

ROOT = Path(__file__).resolve().parent.parent
TABLES = {ROOT / "models" / "kinds.py", ROOT / "models" / "reasons.py"}
LANGS = ("zh", "en")


# --- pass kinds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_every_pass_kind_is_a_numbered_choice_of_the_issue_form(lang):
    from tui.screens.issue_pass import _kind_by_number, field_label
    from tui.strings import t

    label = field_label(lang, "kind")
    for kind in PassKind:
        assert t(lang, "form.choice", n=int(kind), word=kind.info.choice.text(lang)) in label, (kind, label)
        assert _kind_by_number(str(int(kind))) is kind
    plate = field_label(lang, "plate")
    for kind in PassKind:
        assert (kind.label(lang).lower() in plate.lower()) == kind.info.needs_plate, (kind, plate)


def test_every_pass_kind_is_in_the_command_line_help_and_parses():
    from models.passes import parse_kind
    from tui.cli import build_parser

    parser = build_parser()
    for action in ("issue", "batch"):
        with pytest.raises(SystemExit):
            parser.parse_args(["pass", action, "--help"])
    issue_help = _help(parser, "issue")
    batch_help = _help(parser, "batch")
    for kind in PassKind:
        assert kind.code in issue_help and kind.code in batch_help, kind
        assert parse_kind(kind.code.upper()) is kind and pass_kind_by_code(f" {kind.code} ") is kind


def _help(parser, action: str) -> str:
    import argparse

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    pass_parser = sub.choices["pass"]
    pass_sub = next(a for a in pass_parser._actions if isinstance(a, argparse._SubParsersAction))
    return " ".join(pass_sub.choices[action].format_help().split())


def test_every_pass_kind_issues_prints_and_verifies_with_its_name(store):
    from models.gate import check_token
    from models.passes import issue_pass
    from tui.commands.passes import verdict_dict
    from tui.printing.render import PassPrint

    for kind in PassKind:
        issued = issue_pass(store, kind, "3-2-501", "张三", plate="京A12345" if kind.info.needs_plate else "")
        assert issued.body.valid_to - issued.body.valid_from == kind.info.default_days * 86400
        assert PassPrint.from_body(issued.body, issued.token).kind_name == kind.label("zh")
        verdict = check_token(store, issued.token, "in")
        assert verdict.allowed and verdict.body.kind is kind
        for lang in LANGS:
            assert verdict_dict(verdict, lang)["kind_name"] == kind.label(lang)


def test_a_kind_that_needs_a_plate_is_refused_without_one_and_the_others_are_not(store):
    from models.passes import PassError, build_body

    for kind in PassKind:
        if kind.info.needs_plate:
            with pytest.raises(PassError) as err:
                build_body(store, kind, "3-2-501")
            assert err.value.code == "plate" and kind.label("zh") in err.value.zh
        else:
            assert build_body(store, kind, "3-2-501").kind is kind


# --- registration kinds, fever outcomes and reasons in the counts -----------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_every_registration_kind_is_a_numbered_choice_of_the_registration_form(lang):
    from tui.screens.register import FieldRefused, clean_field, field_label, kind_number
    from tui.strings import t

    label = field_label(lang, "reg.kind")
    for n, info in enumerate(REGISTRATION_KINDS.values(), 1):
        assert t(lang, "form.choice", n=n, word=info.choice.text(lang)) in label, (info.code, label)
        assert kind_number(info.code) == str(n)
        assert clean_field("kind", str(n), str(n), lang) == info.code
        if info.needs_id:
            with pytest.raises(FieldRefused):
                clean_field("id_number", "", str(n), lang)
        else:
            assert clean_field("id_number", "", str(n), lang) == ""
        if info.needs_unit:
            with pytest.raises(FieldRefused):
                clean_field("to_unit", "", str(n), lang)
        else:
            assert clean_field("to_unit", "", str(n), lang) == ""
    with pytest.raises(FieldRefused, match=str(len(REGISTRATION_KINDS))):
        clean_field("kind", str(len(REGISTRATION_KINDS) + 1), "", lang)


def _counts(**overrides):
    counts = {
        "date": "2022-03-15",
        "checkpoint": "东门",
        "community": "幸福里",
        "street": "东湖街道",
        "passages": {"in": 1, "out": 1},
        "turned_back": len(REASONS),
        "denials_by_reason": {code: 1 for code in REASONS},
        "fevers": {"cases": 3, "outcomes": {k: 1 for k in FEVER_OUTCOMES}, "pending": 0},
        "registrations": {k: 1 for k in REGISTRATION_KINDS},
        "registrations_total": len(REGISTRATION_KINDS),
        "unsynced": 0,
        "zero_report": False,
        "start": 0.0,
        "end": 1.0,
    }
    counts.update(overrides)
    return counts


@pytest.mark.parametrize("lang", LANGS)
def test_the_kiosk_report_names_every_kind_outcome_and_reason_by_its_label(lang):
    from models.report import format_report

    text = format_report(_counts(), lang)
    for info in REGISTRATION_KINDS.values():
        assert f"{info.name.text(lang)} 1" in text
    for outcome in FEVER_OUTCOMES.values():
        assert f"{outcome.name.text(lang)} 1" in text
    for code in REASONS:
        assert f"{reason_label(code, lang)} 1" in text, code
    assert "{" not in text


@pytest.mark.parametrize("lang", LANGS)
def test_the_handover_names_every_kind_and_reason_by_its_label(lang):
    from tui.screens.handover import summary_lines
    from tui.strings import t

    class App:
        def __init__(self):
            self.lang = lang

        def t(self, key, **params):
            return t(lang, key, **params)

    text = "\n".join(summary_lines(App(), _counts(), "王秀英"))
    for info in REGISTRATION_KINDS.values():
        assert f"{info.name.text(lang)} 1" in text
    for code in REASONS:
        assert f"{reason_label(code, lang)} 1" in text, code


def test_the_kiosk_report_counts_every_registration_kind_even_at_zero(store):
    from models.report import day_report

    report = day_report(store, dt.date.today())
    assert report["registrations"] == dict.fromkeys(REGISTRATION_KINDS, 0)
    assert report["fevers"]["outcomes"] == dict.fromkeys(FEVER_OUTCOMES, 0)


# --- the office --------------------------------------------------------------------------------------


def _office_report(lang: str = "zh"):
    from sync.office.report import COLUMNS, format_csv, format_table

    row = {
        "kiosk_id": "k1",
        "checkpoint": "东门",
        "community": "幸福里",
        "status": "active",
        "in": 1,
        "out": 1,
        "turned_back": 2,
        "overridden": 1,
        "fevers": len(FEVER_OUTCOMES),
        **{f"fever_{k}": 1 for k in FEVER_OUTCOMES},
        "fever_pending": 0,
        "registrations": len(REGISTRATION_KINDS),
        "registrations_by_kind": dict.fromkeys(REGISTRATION_KINDS, 1),
        "denials": {"expired": 1, "bad_signature": 1, "turned_back": 1, "from_a_newer_kiosk": 1},
        "checks": {"health_code": {"green": 1}},
        "records": 9,
        "last_sync": None,
        "expected": 0,
        "reported": True,
    }
    totals = {k: row[k] for k, _zh, _en in COLUMNS if k not in ("checkpoint", "community", "last_sync", "reported")}
    report = {"date": "2022-03-15", "checkpoints": [row], "totals": totals, "not_reported": []}
    return COLUMNS, format_table(report, lang), format_csv(report, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_the_office_report_has_a_column_per_fever_outcome_and_labels_its_reasons(lang):
    columns, table, csv_text = _office_report(lang)
    keys = [k for k, _zh, _en in columns]
    for code, outcome in FEVER_OUTCOMES.items():
        assert f"fever_{code}" in keys and outcome.column.text(lang) in table
    for text in (table, csv_text):
        # Issue 14: "bad_signature:1" and "通行证已于" were what the office saw.
        for code in ("expired", "bad_signature", "turned_back"):
            assert f"{reason_label(code, lang)} 1" in text, (code, text)
            assert f"{code}:" not in text
        assert "from_a_newer_kiosk 1" in text, "a code this office does not know is shown, not dropped"


# --- nobody else spells a kind out ---------------------------------------------------------------------


def _source_files():
    for package in ("models", "sync", "tui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path not in TABLES and "migrations" not in path.parts:
                yield path


def _string_constants(tree: ast.AST):
    """String constants that are not docstrings (a docstring may describe a kind in words)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node


def test_no_module_outside_the_tables_spells_out_a_kind_or_a_reason():
    # (Fever outcomes are not in this scan: each is the action of its own key in the recheck
    # dialog, F6 clinic and F7 home, so the dialog names them; their words are in the table.)
    codes = {k.code for k in PassKind} | set(REGISTRATION_KINDS)
    # Names long enough not to be ordinary words inside other sentences.
    names = {w for k in PassKind for w in (k.info.name.zh, k.info.name.en)}
    names |= {w for r in REGISTRATION_KINDS.values() for w in (r.name.zh,) if len(w) >= 3}
    sentences = {w for r in REASONS.values() for w in (r.sentence.zh, r.sentence.en)}
    found = []
    for path in _source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _string_constants(tree):
            value = node.value
            if value in codes or value in sentences or any(name in value for name in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {value!r}")
        for node in ast.walk(tree):
            # `kind == PassKind.VEHICLE`: what a kind allows belongs in its table entry.
            if isinstance(node, ast.Compare):
                for side in [node.left, *node.comparators]:
                    if isinstance(side, ast.Attribute) and getattr(side.value, "id", "") == "PassKind":
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: compares with PassKind.{side.attr}")
    assert not found, "spelled out outside models/kinds.py and models/reasons.py:\n" + "\n".join(found)


def test_the_source_scan_would_see_a_kind_spelled_out(tmp_path):
    """The scan above can fail: the old form's kind map and the old quota rule are found."""
    old = 'KIND_BY_NUMBER = {"1": "resident", "2": "outing"}\nif body.kind != PassKind.OUTING:\n    pass\n'
    tree = ast.parse(old)
    constants = {n.value for n in _string_constants(tree)}
    assert {"resident", "outing"} <= constants
    assert any(isinstance(n, ast.Compare) for n in ast.walk(tree))


def test_reason_codes_in_the_records_are_the_tables():
    """Every reason the desk records is in the table (the desk adds checked_by_hand and turned_back)."""
    import re

    desk = (ROOT / "tui" / "screens" / "duty.py").read_text(encoding="utf-8")
    extra = set(re.findall(r'extra(?:_reasons)?\s*=\s*\[\s*"([a-z_]+)"', desk))
    extra |= set(re.findall(r'extra\s*=\s*\[?"([a-z_]+)"', desk))
    assert extra and extra <= set(REASONS), extra
    verdict = (ROOT / "models" / "verdict.py").read_text(encoding="utf-8")
    produced = set(re.findall(r'Reason\(\s*"([a-z_]+)"', verdict))
    assert produced and produced <= set(REASONS)
    assert json.loads(json.dumps(sorted(REASONS)))  # codes are plain words: stored as JSON in every passage


# --- one string system in the desk ---------------------------------------------------------------


def _language_tests(tree: ast.AST):
    """Comparisons of a language with "zh"/"en" (`lang == "en"`, `app.lang != "en"`)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        names = {getattr(s, "id", None) or getattr(s, "attr", None) for s in sides}
        constants = {s.value for s in sides if isinstance(s, ast.Constant)}
        if names & {"lang", "language"} and constants & {"zh", "en"}:
            yield node


def test_the_desk_chooses_no_language_outside_tui_strings():
    """In tui/ every word goes through tui/strings.py (`t`, `words`, `choices`): no screen picks
    between a Chinese and an English literal itself."""
    found = []
    for path in sorted((ROOT / "tui").rglob("*.py")):
        if path.name == "strings.py" or "commands" in path.parts:  # commands print both languages
            continue
        for node in _language_tests(ast.parse(path.read_text(encoding="utf-8"))):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "a language chosen outside tui/strings.py:\n" + "\n".join(found)
    # ...and the scan sees one:
    assert list(_language_tests(ast.parse('x = en if app.lang == "en" else zh')))
