"""First start: name this checkpoint and create its first supervisor."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from tui.screens.base import DeskScreen
from tui.strings import words
from tui.widgets.form import FORM_BREAKPOINTS, FormField, checked_values, enter_moves_on, field_named, fields_of
from tui.widgets.plain import Plain

FIELDS = (
    ("checkpoint", "setup.checkpoint", False),
    ("community", "setup.community", False),
    ("street", "setup.street", False),
    ("supervisor", "setup.supervisor", False),
    ("pin", "setup.pin", True),
    ("pin2", "setup.pin2", True),
)


def _set_up(store, checkpoint: str, community: str, street: str, supervisor: str, pin: str):
    from models.facts import record_audit
    from models.volunteers import add_volunteer

    # The supervisor first: a refused PIN must not leave a checkpoint without anyone to run it.
    who = add_volunteer(store, supervisor, pin, role="supervisor")
    store.set_up(checkpoint, community, street)
    record_audit(store, "setup", who.id, checkpoint=checkpoint, community=community)
    return who


class SetupScreen(DeskScreen[None]):
    VERTICAL_BREAKPOINTS = FORM_BREAKPOINTS

    def compose(self) -> ComposeResult:
        app = self.app
        with VerticalScroll(classes="form", id="setup-form"):
            yield Plain(app.t("setup.title"), classes="dialog-title")
            yield Plain(app.t("setup.intro"), classes="dialog-hint")
            for name, label, secret in FIELDS:
                yield FormField(name, app.t(label), password=secret, max_length=8 if secret else 40)
            yield Plain("", id="setup-message", classes="field-error")

    def on_mount(self) -> None:
        fields_of(self)[0].input.focus()

    @on(Input.Submitted)
    async def enter(self, event: Input.Submitted) -> None:
        await enter_moves_on(self, event)

    def check(self, f: FormField) -> str | None:
        """The field's clean value, or None after showing why it was refused."""
        from models.values import ValueRejected, parse_name

        app = self.app
        value = f.value.strip()
        error = ""
        if f.field_name in ("checkpoint", "community", "supervisor") and not value:
            error = app.t("setup.need")
        elif f.field_name in ("checkpoint", "community", "street", "supervisor"):
            try:
                parse_name(value) if f.field_name == "supervisor" else None
            except ValueRejected as exc:
                error = words(app.lang, exc)
        elif f.field_name == "pin":
            from models.volunteers import PinError, validate_pin

            try:
                validate_pin(value, "supervisor")  # the one rule: 6-8 digits for a supervisor
            except PinError as exc:
                error = exc.text(app.lang)
        elif f.field_name == "pin2" and value != field_named(self, "pin").value.strip():
            error = app.t("setup.pin_mismatch")
        f.set_error(error)
        if error:
            f.input.focus()
            return None
        return value

    async def save(self) -> None:
        values = checked_values(self)
        if values is None:
            return
        message = self.query_one("#setup-message", Static)
        message.update(self.app.t("setup.saving"))
        try:
            await self.app.db(
                _set_up,
                values["checkpoint"],
                values["community"],
                values["street"],
                values["supervisor"],
                values["pin"],
            )
        except Exception as exc:
            message.update(self.app.error_text(exc))
            return
        # On the app's own worker, not in this handler: switching to the desk removes this
        # screen, and with it this handler, before the login screen could be pushed (the
        # first start used to land on the duty screen with nobody logged in).
        self.app.run_worker(self.app.open_desk(), name="open-desk", group="db", exit_on_error=False)
