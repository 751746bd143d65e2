"""A short keyboard form: label, input and its own error line per field.

Enter moves to the next field (gloves, no mouse); a field whose value is refused keeps the
focus and says why right under it. The owner screen validates and saves.
"""

from __future__ import annotations

from typing import Any, Protocol

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import DOMQuery
from textual.widget import Widget
from textual.widgets import Input, Static

from tui.widgets.key_order_input import KeyOrderInput
from tui.widgets.plain import Plain

# On a short screen (800x480 is 24 rows) a form's inputs drop their 3-row box for one
# highlighted row, so a whole form fits without scrolling; app.tcss has the `-short` rules.
FORM_BREAKPOINTS = [(0, "-short"), (30, "-tall")]


class HasFields(Protocol):
    """A screen (any DOM node) holding FormFields."""

    def query(self, selector: type[FormField]) -> DOMQuery[FormField]: ...


class FormScreen(HasFields, Protocol):
    """What a screen with a form has: `check(field)` gives the field's clean value or None after
    showing why it was refused; `save()` is Enter on the last field."""

    def check(self, f: FormField) -> Any: ...

    async def save(self) -> None: ...


class FormField(Vertical):
    def __init__(self, name: str, label: str, value: str = "", password: bool = False, max_length: int = 0):
        super().__init__(classes="form-field", id=f"field-{name}")
        self.field_name = name
        self.label = label
        self.initial = value
        self.password = password
        self.max_length = max_length

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Plain(self.label, classes="form-label")
            yield KeyOrderInput(
                value=self.initial,
                password=self.password,
                max_length=self.max_length,
                id=f"input-{self.field_name}",
                classes="form-input",
            )
        error = Plain("", classes="field-error", id=f"error-{self.field_name}")
        error.display = False  # a line appears under the field only when it has something to say
        yield error

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def value(self) -> str:
        return self.input.value

    def set_error(self, text: str) -> None:
        error = self.query_one(f"#error-{self.field_name}", Static)
        error.update(text)
        error.display = bool(text)
        self.set_class(bool(text), "has-error")


def fields_of(screen: HasFields) -> list[FormField]:
    """The form's fields in order; a field hidden for now (display off: not asked of this
    person) is not part of it, for Enter and for the values."""
    return [f for f in screen.query(FormField) if f.display]


def field_named(screen: Widget, name: str) -> FormField:
    return screen.query_one(f"#field-{name}", FormField)


def next_field(screen: HasFields, current: FormField) -> FormField | None:
    fields = fields_of(screen)
    i = fields.index(current)
    return fields[i + 1] if i + 1 < len(fields) else None


def checked_values(screen: FormScreen) -> dict[str, Any] | None:
    """Every field's clean value by name, or None once a field is refused (it then shows why
    and has the focus). `screen.check(field)` gives a value or None, as for `enter_moves_on`."""
    values: dict[str, Any] = {}
    for f in fields_of(screen):
        clean = screen.check(f)
        if clean is None:
            return None
        values[f.field_name] = clean
    return values


async def enter_moves_on(screen: FormScreen, event: Input.Submitted) -> None:
    """A form's Enter: check the field, move to the next one; Enter on the last field saves.

    `screen` has `check(field) -> value or None` (None after showing why) and `save()`."""
    event.stop()
    current = next(f for f in fields_of(screen) if f.input is event.input)
    if screen.check(current) is None:
        return
    following = next_field(screen, current)
    if following is not None:
        following.input.focus()
        return
    await screen.save()
