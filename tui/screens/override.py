"""The supervisor's override: let someone through that the rules do not foresee (a resident who
forgot the pass, a forehead that reads 34 and will not rise). Opened from the duty screen after
the supervisor's PIN; the reason is 1, 2 or typed. Recording is models.facts.record_override."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.screens.base import DeskModal
from tui.widgets.plain import Plain


@dataclass(frozen=True)
class OverrideTarget:
    """Who the override is for: the verdict on screen (a pass denied or waiting), or nobody yet."""

    verdict: Any = None  # models.verdict.Verdict, or None: someone without a pass
    direction: str = "in"
    unit: str = ""


@dataclass(frozen=True)
class OverrideChoice:
    """What the supervisor chose: the reason (its words), its code ("" when typed) and the unit."""

    reason: str
    code: str
    unit: str


def parse_reason(text: str, lang: str) -> tuple[str, str] | None:
    """(words, code) for "1", "2" or a typed reason; None when nothing usable was typed. A typed
    reason needs two characters at least ("3" or "x" alone says nothing)."""
    from models.reasons import OVERRIDE_REASONS

    value = " ".join(text.split())
    numbered = dict(enumerate(OVERRIDE_REASONS.items(), 1))
    if value.isdigit() and int(value) in numbered:
        code, words = numbered[int(value)]
        return words.text(lang), code
    if len(value) < 2 or value.isdigit():
        return None
    return value[:200], ""


class OverrideScreen(DeskModal[OverrideChoice | None]):
    """Dismisses with the OverrideChoice, or None (Escape: nothing recorded)."""

    BINDINGS = [Binding("escape", "back", "back", show=False, id="back")]

    def __init__(self, target: OverrideTarget, supervisor_name: str, volunteer_name: str):
        super().__init__()
        self.target = target
        self.supervisor_name = supervisor_name
        self.volunteer_name = volunteer_name

    def compose(self) -> ComposeResult:
        from models.reasons import OVERRIDE_REASONS
        from tui.strings import choices

        app = self.app
        verdict = self.target.verdict
        with Vertical(classes="dialog", id="override-dialog"):
            yield Plain(app.t("ovr.title"), classes="dialog-title")
            yield Plain(app.t("ovr.by", volunteer=self.volunteer_name, supervisor=self.supervisor_name))
            if verdict is not None:
                yield Plain(
                    app.t(
                        "ovr.for_pass",
                        unit=self.target.unit or "-",
                        verdict=app.t(f"duty.{verdict.outcome}"),
                        reasons=verdict.reason_text(app.lang) or "-",
                    )
                )
            else:
                yield Plain(app.t("ovr.for_person"))
                yield Input(id="override-unit", max_length=24)
            yield Plain(
                app.t("ovr.reason", choices=choices(app.lang, enumerate(OVERRIDE_REASONS.values(), 1))),
            )
            yield Input(id="override-reason", max_length=200)
            yield Plain("", id="override-message", classes="field-error")

    def on_mount(self) -> None:
        first = "#override-unit" if self.target.verdict is None else "#override-reason"
        self.query_one(first, Input).focus()

    @on(Input.Submitted, "#override-unit")
    def unit_done(self, _event: Input.Submitted) -> None:
        self.query_one("#override-reason", Input).focus()

    @on(Input.Submitted, "#override-reason")
    def reason_done(self, event: Input.Submitted) -> None:
        from models.values import ValueRejected, parse_unit
        from tui.strings import words

        app = self.app
        message = self.query_one("#override-message", Static)
        unit = self.target.unit
        if self.target.verdict is None:
            typed = self.query_one("#override-unit", Input).value.strip()
            if typed:
                try:
                    unit = str(parse_unit(typed))
                except ValueRejected as exc:
                    message.update(words(app.lang, exc))
                    self.query_one("#override-unit", Input).focus()
                    return
        chosen = parse_reason(event.value, app.lang)
        if chosen is None:
            message.update(app.t("ovr.need_reason"))
            app.bell()
            return
        self.dismiss(OverrideChoice(chosen[0], chosen[1], unit))

    def action_back(self) -> None:
        self.dismiss(None)
