"""Issue a pass at the kiosk: kind, unit, optional name, validity, plate or hours -> sign ->
preview -> print.

The supervisor's PIN is checked by whoever pushes this screen. The pass is saved the moment
it is signed; printing comes after, in a thread worker with progress, so a printer that is
unplugged, out of paper or silent only ever costs a reprint (F5), never the pass.
"""

from __future__ import annotations

import os

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, ProgressBar, Static

from tui.widgets.form import FORM_BREAKPOINTS, FormField, checked_values, enter_moves_on, field_named, fields_of
from tui.widgets.plain import Plain

KIND_BY_NUMBER = {"1": "resident", "2": "outing", "3": "work", "4": "vehicle", "5": "visitor", "6": "returnee"}
NUMBER_BY_KIND = {v: k for k, v in KIND_BY_NUMBER.items()}

# The screen's own words (kept here so the screen works in any host app).
TEXT = {
    "zh": {
        "title": "办理通行证",
        "hint": "回车到下一项，最后一项回车签发；Esc 返回",
        "kind": "类型 1住户 2出入 3复工 4车辆 5访客 6入住条",
        "unit": "房号（如 3-2-501）",
        "name": "姓名（可不填）",
        "days": "有效天数",
        "plate": "车牌（车辆证必填）",
        "hours": "每日时段（如 8-18，可不填）",
        "kind_bad": "请输入 1 到 6 选择类型",
        "need_unit": "请输入房号，例如 3-2-501",
        "need_plate": "车辆通行证要填车牌号",
        "days_bad": "有效天数请填 1 到 366 的数字",
        "hours_bad": "时段请写成 8-18 这样",
        "issuing": "正在签发...",
        "issued": "已签发并保存",
        "not_issued": "没有签发：{error}",
        "no_printer": "没有设置打印机，通行证已保存。可在设置文件里填 printer 后按 F5 打印",
        "printing": "正在打印...",
        "printed": "已打印。F5 再打一张，Esc 完成",
        # {error} says what happened and what to check (tui/printing/targets.py); this adds the key.
        "print_failed": "没有打印出来：{error}。\n通行证已保存，弄好后按 F5 重印",
        "keys_preview": "F5 打印/重印   Esc 完成",
        "valid": "有效期",
    },
    "en": {
        "title": "Issue a pass",
        "hint": "Enter moves on; Enter on the last field issues; Esc goes back",
        "kind": "Kind 1 resident 2 outing 3 work 4 vehicle 5 visitor 6 returnee",
        "unit": "Unit (e.g. 3-2-501)",
        "name": "Name (optional)",
        "days": "Valid days",
        "plate": "Plate (vehicle passes)",
        "hours": "Daily hours (e.g. 8-18, optional)",
        "kind_bad": "Type 1 to 6 to choose the kind",
        "need_unit": "Type the unit, e.g. 3-2-501",
        "need_plate": "A vehicle pass needs a plate number",
        "days_bad": "Valid days: a number from 1 to 366",
        "hours_bad": "Hours look like 8-18",
        "issuing": "Issuing...",
        "issued": "Issued and saved",
        "not_issued": "Not issued: {error}",
        "no_printer": "No printer is set; the pass is saved. Set printer in the settings file, then press F5",
        "printing": "Printing...",
        "printed": "Printed. F5 prints another copy, Esc when done",
        "print_failed": "Not printed: {error}.\nThe pass is saved; once fixed, press F5 to reprint",
        "keys_preview": "F5 print / reprint   Esc done",
        "valid": "Valid",
    },
}


def _issue(store, volunteer_id, kind_word, unit, name, days, plate, hours):
    """Runs in a worker thread: sign and save the pass, and record who issued it."""
    from models.facts import record_audit
    from models.passes import issue_pass, parse_kind

    issued = issue_pass(store, parse_kind(kind_word), unit, name=name, valid_days=days, plate=plate, hours=hours)
    record_audit(store, "issue_pass", volunteer_id, pass_id=issued.pass_id, unit=issued.body.unit, kind=kind_word)
    return issued


class IssuePassScreen(ModalScreen):
    """Dismisses with a dict about the issued pass, or None if Escape before issuing."""

    VERTICAL_BREAKPOINTS = FORM_BREAKPOINTS

    DEFAULT_CSS = """
    IssuePassScreen { align: center middle; }
    IssuePassScreen #issue-dialog { width: 80; max-width: 100%; height: 100%; border: heavy $primary;
                                    background: $panel; padding: 0 1; }
    IssuePassScreen .issue-title { text-style: bold; background: $primary 40%; width: 100%; }
    IssuePassScreen .issue-hint { color: $text-muted; }
    IssuePassScreen #issue-message { height: auto; text-style: bold; }
    IssuePassScreen #issue-message.error { color: $error; }
    IssuePassScreen #issue-preview { height: auto; }
    IssuePassScreen #preview-kind { text-style: bold; height: auto; }
    IssuePassScreen #preview-unit { text-style: bold; height: auto; color: $accent; }
    IssuePassScreen #preview-token { height: auto; color: $text-muted; }
    IssuePassScreen #print-progress { height: 1; }
    """

    BINDINGS = [
        Binding("escape", "back", "back", show=False, id="back"),
        Binding("f5", "print_pass", "print", show=False, id="print_pass"),
    ]

    def __init__(
        self,
        store,
        volunteer,
        lang: str = "zh",
        unit: str | None = None,
        kind: str | None = None,
        printer: str | None = None,
        paper: str | None = None,
        font: str | None = None,
        name: str | None = None,
    ):
        super().__init__()
        self.store = store
        self.volunteer = volunteer
        self.lang = lang if lang in TEXT else "zh"
        self.prefill_unit = unit or ""
        self.prefill_kind = kind or ""
        self.prefill_name = name or ""
        self._printer = printer
        self._paper = paper
        self._font = font
        self.issued = None  # the IssuedPass once signed and saved
        self.printed = False
        self.print_error = ""

    def t(self, key: str, **params) -> str:
        text = TEXT[self.lang][key]
        return text.format(**params) if params else text

    # -- printer settings: explicit, else the kiosk settings, else the environment --------------
    @property
    def printer(self) -> str:
        if self._printer is not None:
            return self._printer
        settings = getattr(self.app, "settings", None)
        return getattr(settings, "printer", "") or os.environ.get("KAKOU_PRINTER", "")

    @printer.setter
    def printer(self, value: str) -> None:
        self._printer = value

    @property
    def paper(self) -> str:
        settings = getattr(self.app, "settings", None)
        return self._paper or getattr(settings, "paper", "") or os.environ.get("KAKOU_PAPER", "") or "58"

    @property
    def font(self) -> str | None:
        settings = getattr(self.app, "settings", None)
        return self._font or getattr(settings, "font", "") or None

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        from models.passes import DEFAULT_VALID_DAYS, parse_kind

        kind_number = NUMBER_BY_KIND.get(self.prefill_kind, "")
        days = ""
        if kind_number:
            days = f"{DEFAULT_VALID_DAYS[parse_kind(self.prefill_kind)]:g}"
        with VerticalScroll(id="issue-dialog"):
            yield Plain(self.t("title"), classes="issue-title")
            with Vertical(id="issue-form"):
                yield Plain(self.t("hint"), classes="issue-hint")
                yield FormField("kind", self.t("kind"), kind_number, max_length=1)
                yield FormField("unit", self.t("unit"), self.prefill_unit, max_length=24)
                yield FormField("name", self.t("name"), self.prefill_name, max_length=20)
                yield FormField("days", self.t("days"), days, max_length=5)
                yield FormField("plate", self.t("plate"), "", max_length=12)
                yield FormField("hours", self.t("hours"), "", max_length=7)
            # The print status sits right under the pass details so it is on screen at 80x24.
            # No QR on screen: at 53 modules it cannot fit 24 rows, and the half-block glyph is
            # ambiguous-width in CJK terminals (the printed slip is what gets scanned).
            with Vertical(id="issue-preview"):
                yield Plain("", id="preview-kind")
                yield Plain("", id="preview-unit")
                yield Plain("", id="preview-details")
            yield ProgressBar(total=100, show_eta=False, id="print-progress")
            yield Plain("", id="issue-message")
            yield Plain(self.t("keys_preview"), classes="issue-hint", id="preview-keys")
            yield Plain("", id="preview-token")

    def on_mount(self) -> None:
        self.query_one("#issue-preview").display = False
        self.query_one("#preview-keys").display = False
        self.query_one("#print-progress").display = False
        fields = fields_of(self)
        first_empty = next((f for f in fields if not f.value and f.field_name in ("kind", "unit", "name")), None)
        (first_empty or field_named(self, "days")).input.focus()

    def say(self, text: str, error: bool = False) -> None:
        message = self.query_one("#issue-message", Static)
        message.update(text)
        message.set_class(error, "error")

    # -- the form -----------------------------------------------------------------------------------
    @on(Input.Submitted)
    async def enter(self, event: Input.Submitted) -> None:
        if self.issued is not None:
            event.stop()  # issued: the form is done, Enter no longer issues again
            return
        await enter_moves_on(self, event)

    async def save(self) -> None:
        """Enter on the last field (what `enter_moves_on` calls)."""
        self.submit()

    def check(self, f: FormField):
        """The field's clean value (possibly ""), or None after saying why it was refused."""
        from models.values import ValueRejected, parse_name, parse_unit

        value = f.value.strip()
        kind = KIND_BY_NUMBER.get(field_named(self, "kind").value.strip())
        try:
            if f.field_name == "kind":
                if kind is None:
                    raise _Refused(self.t("kind_bad"))
                clean = kind
                days_field = field_named(self, "days")
                if not days_field.value.strip():
                    from models.passes import DEFAULT_VALID_DAYS, parse_kind

                    days_field.input.value = f"{DEFAULT_VALID_DAYS[parse_kind(kind)]:g}"
            elif f.field_name == "unit":
                if not value:
                    raise _Refused(self.t("need_unit"))
                clean = str(parse_unit(value))
            elif f.field_name == "name":
                clean = parse_name(value)
            elif f.field_name == "days":
                try:
                    clean = float(value) if value else None
                except ValueError:
                    raise _Refused(self.t("days_bad")) from None
                if clean is not None and not 0 < clean <= 366:
                    raise _Refused(self.t("days_bad"))
                clean = clean if clean is not None else ""
            elif f.field_name == "plate":
                if kind == "vehicle" and not value:
                    raise _Refused(self.t("need_plate"))
                clean = value.upper().replace(" ", "")
            else:  # hours
                from models.errors import KakouError
                from tui.commands.passes import parse_hours

                try:
                    clean = parse_hours(value) if value else (0, 24)
                except KakouError:
                    raise _Refused(self.t("hours_bad")) from None
        except ValueRejected as exc:
            f.set_error(exc.en if self.lang == "en" else exc.zh)
            f.input.focus()
            return None
        except _Refused as exc:
            f.set_error(str(exc))
            f.input.focus()
            return None
        f.set_error("")
        return clean

    def submit(self) -> None:
        values = checked_values(self)
        if values is None:
            return
        self.say(self.t("issuing"))
        volunteer_id = getattr(self.volunteer, "id", None)
        self.issue_worker(
            volunteer_id,
            values["kind"],
            values["unit"],
            values["name"],
            values["days"] or None,
            values["plate"],
            values["hours"],
        )

    @work(thread=True, exclusive=True, group="issue-pass", exit_on_error=False)
    def issue_worker(self, volunteer_id, kind, unit, name, days, plate, hours) -> None:
        try:
            issued = _issue(self.store, volunteer_id, kind, unit, name, days, plate, hours)
        except Exception as exc:  # shown in words; the form stays as typed
            self.app.call_from_thread(self._not_issued, exc)
            return
        self.app.call_from_thread(self._show_issued, issued)

    def _not_issued(self, exc: BaseException) -> None:
        text = (
            exc.text(self.lang)
            if hasattr(exc, "text")
            else (getattr(exc, "en" if self.lang == "en" else "zh", "") or f"{type(exc).__name__}: {exc}")
        )
        self.say(self.t("not_issued", error=text), error=True)
        self.app.bell()

    # -- preview and printing ---------------------------------------------------------------------
    def _show_issued(self, issued) -> None:
        from tui.printing.render import PassPrint

        self.issued = issued
        info = PassPrint.from_body(issued.body, issued.token)
        self.query_one("#issue-form").display = False
        self.query_one("#issue-preview").display = True
        self.query_one("#preview-keys").display = True
        kind_zh = info.kind_name
        from models.passes import kind_label

        self.query_one("#preview-kind", Static).update(kind_zh if self.lang == "zh" else kind_label(info.kind, "en"))
        self.query_one("#preview-unit", Static).update(_big(info.unit))
        details = [info.name, info.plate, *info.detail_lines()]
        self.query_one("#preview-details", Static).update("\n".join(d for d in details if d))
        self.query_one("#preview-token", Static).update(issued.token)
        self.say(self.t("issued"))
        self.action_print_pass()

    def action_print_pass(self) -> None:
        if self.issued is None:
            return
        target = self.printer
        if not target:
            self.say(self.t("no_printer"), error=True)
            return
        bar = self.query_one("#print-progress", ProgressBar)
        bar.display = True
        bar.update(total=100, progress=0)
        self.say(self.t("printing"))
        self.print_worker(target)

    @work(thread=True, exclusive=True, group="print-pass", exit_on_error=False)
    def print_worker(self, target: str) -> None:
        from tui.printing import PrintError, print_pass
        from tui.printing.render import PassPrint

        issued = self.issued
        header = ""
        try:
            checkpoint = self.store.checkpoint()
            header = checkpoint.community if checkpoint else ""
        except Exception:  # the header is decoration; never fail a print for it
            pass
        info = PassPrint.from_body(issued.body, issued.token, header=header)

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(self._progress, done, total)

        try:
            print_pass(info, target, paper=self.paper, font=self.font, progress=progress)
        except PrintError as exc:
            self.app.call_from_thread(self._print_failed, exc.text(self.lang))
            return
        except Exception as exc:  # anything else is still only a failed print
            self.app.call_from_thread(self._print_failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._printed)

    def _progress(self, done: int, total: int) -> None:
        self.query_one("#print-progress", ProgressBar).update(total=max(1, total), progress=done)

    def _print_failed(self, why: str) -> None:
        self.printed = False
        self.print_error = why
        self.query_one("#print-progress").display = False
        self.say(self.t("print_failed", error=why), error=True)
        self.app.bell()

    def _printed(self) -> None:
        self.printed = True
        self.print_error = ""
        self.query_one("#print-progress").display = False
        self.say(self.t("printed"))

    def action_back(self) -> None:
        if self.issued is None:
            self.dismiss(None)
            return
        body = self.issued.body
        self.dismiss(
            {
                "pass_id": self.issued.pass_id,
                "unit": body.unit,
                "kind": int(body.kind),
                "token": self.issued.token,
                "printed": self.printed,
            }
        )


def _big(unit: str) -> str:
    # Full-width digits and letters draw the unit twice as wide: easy to read at arm's length
    # (these are wide, not ambiguous, in every terminal).
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in unit)


class _Refused(Exception):
    pass
