"""Issue a pass at the kiosk: kind, unit, optional name, validity, plate or hours -> sign ->
preview -> print.

The supervisor's PIN is checked by whoever pushes this screen. The pass is saved the moment
it is signed; printing comes after, in a thread worker with progress, so a printer that is
unplugged, out of paper or silent only ever costs a reprint (F5), never the pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, ProgressBar, Static

from models.kinds import PassKind
from tui.strings import STRINGS, words
from tui.widgets.form import FORM_BREAKPOINTS, FormField, checked_values, enter_moves_on, field_named, fields_of
from tui.widgets.plain import Plain

if TYPE_CHECKING:
    from models.passes import IssuedPass
    from models.words import Bilingual


def _issue(store, volunteer_id, kind_word, unit, name, days, plate, hours):
    """Runs on the database thread: sign and save the pass, and record who issued it."""
    from models.facts import record_audit
    from models.passes import issue_pass, parse_kind

    issued = issue_pass(store, parse_kind(kind_word), unit, name=name, valid_days=days, plate=plate, hours=hours)
    record_audit(store, "issue_pass", volunteer_id, pass_id=issued.pass_id, unit=issued.body.unit, kind=kind_word)
    return issued


def _print_header(store) -> str:
    """The community's name, printed above the pass (decoration: "" when it cannot be read)."""
    try:
        checkpoint = store.checkpoint()
    except Exception:
        return ""
    return checkpoint.community if checkpoint else ""


@dataclass(frozen=True)
class PassIssued:
    """A pass signed and saved by the screen (printed or not: F5 reprints from the store)."""

    pass_id: str
    unit: str
    kind: int  # models.passes.PassKind value
    token: str
    printed: bool


class IssuePassScreen(ModalScreen[PassIssued | None]):
    """Dismisses with PassIssued, or None if Escape before issuing. Runs in any host app (it
    gets the store and the volunteer; the kiosk settings are read if the app has them)."""

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
        self.lang = lang if lang in STRINGS else "zh"
        self.prefill_unit = unit or ""
        self.prefill_kind = kind or ""
        self.prefill_name = name or ""
        self._printer = printer
        self._paper = paper
        self._font = font
        self.issued: IssuedPass | None = None  # once signed and saved
        self.printed = False
        self.print_error = ""
        self.print_header = ""

    def t(self, key: str, **params) -> str:
        from tui.strings import t

        return t(self.lang, f"issue.{key}", **params)

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
        from models.kinds import pass_kind_by_code

        prefill = pass_kind_by_code(self.prefill_kind) if self.prefill_kind else None
        kind_number = str(int(prefill)) if prefill else ""
        days = f"{prefill.info.default_days:g}" if prefill else ""
        with VerticalScroll(id="issue-dialog"):
            yield Plain(self.t("title"), classes="issue-title")
            with Vertical(id="issue-form"):
                yield Plain(self.t("hint"), classes="issue-hint")
                yield FormField("kind", field_label(self.lang, "kind"), kind_number, max_length=1)
                yield FormField("unit", self.t("unit"), self.prefill_unit, max_length=24)
                yield FormField("name", self.t("name"), self.prefill_name, max_length=20)
                yield FormField("days", self.t("days"), days, max_length=5)
                yield FormField("plate", field_label(self.lang, "plate"), "", max_length=12)
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

    def check(self, f: FormField) -> Any:
        """The field's clean value (possibly ""), or None after saying why it was refused."""
        from models.values import ValueRejected, parse_pass_name, parse_unit

        value = f.value.strip()
        clean: Any  # text, the days (a number or ""), the hours (a pair)
        kind = _kind_by_number(field_named(self, "kind").value)
        try:
            if f.field_name == "kind":
                if kind is None:
                    raise _Refused(self.t("kind_bad", last=max(int(k) for k in PassKind)))
                clean = kind.code
                days_field = field_named(self, "days")
                if not days_field.value.strip():
                    days_field.input.value = f"{kind.info.default_days:g}"
            elif f.field_name == "unit":
                if not value:
                    raise _Refused(self.t("need_unit"))
                clean = str(parse_unit(value))
            elif f.field_name == "name":
                clean = parse_pass_name(value)
            elif f.field_name == "days":
                try:
                    days = float(value) if value else None
                except ValueError:
                    raise _Refused(self.t("days_bad")) from None
                if days is not None and not 0 < days <= 366:
                    raise _Refused(self.t("days_bad"))
                clean = days if days is not None else ""
            elif f.field_name == "plate":
                if kind is not None and kind.info.needs_plate and not value:
                    raise _Refused(self.t("need_plate", kind=_kind_name(kind, self.lang)))
                clean = value.upper().replace(" ", "")
            else:  # hours
                from models.errors import KakouError
                from tui.commands.passes import parse_hours

                try:
                    clean = parse_hours(value) if value else (0, 24)
                except KakouError:
                    raise _Refused(self.t("hours_bad")) from None
        except ValueRejected as exc:
            f.set_error(words(self.lang, exc))
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

    async def _on_db(self, fn, *args):
        """`fn(store, *args)` on the desk's database thread (`DutyApp.db`); a host app without
        one (the screen's own tests) runs it on a thread."""
        db = getattr(self.app, "db", None)
        if db is not None:
            return await db(fn, *args)
        import asyncio

        return await asyncio.to_thread(fn, self.store, *args)

    @work(exclusive=True, group="issue-pass", exit_on_error=False)
    async def issue_worker(self, volunteer_id, kind, unit, name, days, plate, hours) -> None:
        import asyncio

        from tui.printing.render import check_printable

        try:
            # the name must print on this kiosk's paper, or the pass is not issued at all
            await asyncio.to_thread(check_printable, unit, name, plate, self.paper, self.font)
            issued = await self._on_db(_issue, volunteer_id, kind, unit, name, days, plate, hours)
        except Exception as exc:  # shown in words; the form stays as typed
            self._not_issued(exc)
            return
        self.print_header = await self._on_db(_print_header)
        self._show_issued(issued)

    def _not_issued(self, exc: BaseException) -> None:
        # The domain's own words (models/words.py), or the error's type and message.
        if getattr(exc, "zh", "") and getattr(exc, "en", ""):
            text = words(self.lang, cast("Bilingual", exc))
        else:
            text = f"{type(exc).__name__}: {exc}"
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
        self.query_one("#preview-kind", Static).update(PassKind(info.kind).label(self.lang))
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
        if issued is None:  # F5 before the pass was signed does not get here (action_print_pass)
            return
        info = PassPrint.from_body(issued.body, issued.token, header=self.print_header)

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
            PassIssued(
                pass_id=self.issued.pass_id,
                unit=body.unit,
                kind=int(body.kind),
                token=self.issued.token,
                printed=self.printed,
            )
        )


def field_label(lang: str, field: str) -> str:
    """A form field's label; the kind's numbered choices and the plate's kinds come from models/kinds.py."""
    from tui.strings import choices, t

    if field == "kind":
        return t(lang, "issue.kind", choices=choices(lang, ((int(k), k.info.choice) for k in PassKind)))
    if field == "plate":
        kinds = t(lang, "list.comma").join(_kind_name(k, lang) for k in PassKind if k.info.needs_plate)
        return t(lang, "issue.plate", kinds=kinds)
    return t(lang, f"issue.{field}")


def _kind_by_number(number: str) -> PassKind | None:
    """The kind chosen on the form: its number is the kind's own (the token's kind byte)."""
    number = number.strip()
    return next((k for k in PassKind if str(int(k)) == number), None)


def _kind_name(kind: PassKind, lang: str) -> str:
    """ "车辆通行证" / "vehicle pass": a kind's name inside a sentence (Chinese has no case)."""
    return kind.label(lang).lower()


def _big(unit: str) -> str:
    # Full-width digits and letters draw the unit twice as wide: easy to read at arm's length
    # (these are wide, not ambiguous, in every terminal).
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in unit)


class _Refused(Exception):
    pass
