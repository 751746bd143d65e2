"""The supervisor's volunteer screen (from the settings screen, F3, behind the supervisor's PIN):
add a volunteer, set a new PIN, disable and enable.

The same rules as `kakou volunteer ...`, from the same domain functions (models/volunteers.py):
PIN length by role, never two people with one PIN, unique names, the last supervisor stays,
each change an audit record under the supervisor who made it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from tui.screens.base import DeskModal
from tui.widgets.form import FORM_BREAKPOINTS, FormField, enter_moves_on, field_named, fields_of
from tui.widgets.plain import Plain

if TYPE_CHECKING:
    from models.volunteers import VolunteerInfo

FIELDS = (
    ("name", "vol.name", False),
    ("role", "vol.role", False),
    ("pin", "vol.pin", True),
    ("pin2", "vol.pin2", True),
)
ROLE_WORDS = {"volunteer": "volunteer", "志愿者": "volunteer", "supervisor": "supervisor", "管理员": "supervisor"}


def _all(store):
    from models.volunteers import list_volunteers

    return list_volunteers(store, include_disabled=True)


async def on_duty_disabled(app) -> bool:
    """Whoever is on duty was disabled (here or by `kakou volunteer disable`): their session
    ends, the desk locks (they cannot log in again; the next login ends their shift)."""
    from models.volunteers import is_active

    on_duty = app.volunteer
    if on_duty is None:
        return False
    try:
        return not await app.db(is_active, on_duty.id)
    except Exception:
        return False


class VolunteersScreen(DeskModal[None]):
    VERTICAL_BREAKPOINTS = FORM_BREAKPOINTS

    BINDINGS = [
        Binding("escape", "back", "back", show=False, id="back"),
        Binding("f2", "add", "add", show=False, id="volunteer_add"),
        Binding("f3", "set_pin", "pin", show=False, id="volunteer_pin"),
        Binding("f4", "disable", "disable", show=False, id="volunteer_disable"),
        Binding("f5", "enable", "enable", show=False, id="volunteer_enable"),
    ]

    def __init__(self, supervisor: VolunteerInfo):
        super().__init__()
        self.supervisor = supervisor

    def compose(self) -> ComposeResult:
        app = self.app
        with VerticalScroll(classes="dialog form", id="volunteers-form"):
            yield Plain(app.t("vol.title"), classes="dialog-title")
            yield Plain(app.t("vol.hint"), classes="dialog-hint")
            yield Plain("", id="vol-list")
            for name, label, secret in FIELDS:
                yield FormField(
                    name, app.t(label), "volunteer" if name == "role" else "", password=secret, max_length=20
                )
            yield Plain("", id="vol-message", classes="field-error")

    async def on_mount(self) -> None:
        fields_of(self)[0].input.focus()
        await self._show_list()

    async def _show_list(self) -> None:
        app = self.app
        try:
            people = await app.db(_all)
        except Exception as exc:
            self.query_one("#vol-message", Static).update(app.error_text(exc))
            return
        shown = []
        for v in people:
            marks = []
            if v.is_supervisor:
                marks.append(app.t("vol.supervisor"))
            if not v.active:
                marks.append(app.t("vol.disabled"))
            shown.append(v.name + (f"({', '.join(marks)})" if marks else ""))
        self.query_one("#vol-list", Static).update(app.t("vol.list", names="  ".join(shown)))

    # -- the form ------------------------------------------------------------------------------
    def check(self, f: FormField) -> Any:
        """Fields are checked when an action needs them (see _values); Enter only moves on."""
        return f.value

    @on(Input.Submitted)
    async def enter(self, event: Input.Submitted) -> None:
        await enter_moves_on(self, event)

    async def save(self) -> None:
        """Enter on the last field: add the volunteer the form describes."""
        await self.action_add()

    def _say(self, text: str) -> None:
        self.query_one("#vol-message", Static).update(text)

    def _refuse(self, field: str, text: str) -> None:
        f = field_named(self, field)
        f.set_error(text)
        f.input.focus()

    def _clear_errors(self) -> None:
        for f in fields_of(self):
            f.set_error("")
        self._say("")

    def _typed_name(self) -> str | None:
        name = field_named(self, "name").value.strip()
        if not name:
            self._refuse("name", self.app.t("setup.need"))
            return None
        return name

    def _new_pin(self) -> str | None:
        pin, again = field_named(self, "pin").value.strip(), field_named(self, "pin2").value.strip()
        if not pin:
            self._refuse("pin", self.app.t("setup.need"))
            return None
        if pin != again:
            self._refuse("pin2", self.app.t("setup.pin_mismatch"))
            return None
        return pin

    async def _run(self, fn, *args, field: str = "name", **kwargs) -> Any:
        """A domain change on the database thread; its refusal is shown under `field`."""
        app = self.app
        self._say(app.t("duty.saving"))
        try:
            result = await app.db(fn, *args, by=self.supervisor.id, via="desk", **kwargs)
        except Exception as exc:
            self._say("")
            code = getattr(exc, "code", "")
            self._refuse("pin" if code.startswith("pin") else field, app.error_text(exc))
            app.bell()
            return None
        app.records_saved()
        for name in ("pin", "pin2"):
            field_named(self, name).input.value = ""
        await self._show_list()
        return result

    async def action_add(self) -> None:
        from models.volunteers import add_volunteer

        self._clear_errors()
        name = self._typed_name()
        if name is None:
            return
        role = ROLE_WORDS.get(field_named(self, "role").value.strip().lower())
        if role is None:
            self._refuse("role", self.app.t("vol.role_bad"))
            return
        pin = self._new_pin()
        if pin is None:
            return
        added = await self._run(add_volunteer, name, pin, role)
        if added is not None:
            self._say(self.app.t("vol.added", name=added.name))

    async def action_set_pin(self) -> None:
        from models.volunteers import set_pin

        self._clear_errors()
        name = self._typed_name()
        pin = self._new_pin() if name is not None else None
        if name is None or pin is None:
            return
        who = await self._run(set_pin, name, pin)
        if who is not None:
            self._say(self.app.t("vol.pin_set", name=who.name))

    async def _set_active(self, active: bool) -> None:
        from models.volunteers import set_active

        self._clear_errors()
        name = self._typed_name()
        if name is None:
            return
        who = await self._run(set_active, name, active)
        if who is not None:
            self._say(self.app.t("vol.enabled" if active else "vol.disabled_now", name=who.name))

    async def action_disable(self) -> None:
        await self._set_active(False)

    async def action_enable(self) -> None:
        await self._set_active(True)

    def action_back(self) -> None:
        self.dismiss(None)
