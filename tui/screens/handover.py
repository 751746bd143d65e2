"""Shift handover (交接班): this shift's numbers, a note for the next volunteer, then the next
volunteer logs in. The summary is kept in the shift record exactly as it was shown."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.screens.base import DeskScreen
from tui.widgets.plain import Plain

if TYPE_CHECKING:
    from tui.app import DutyApp


def summary_lines(app: DutyApp, s: dict[str, Any], volunteer_name: str) -> list[str]:
    from models.kinds import registration_label
    from models.reasons import reason_label

    t = app.t
    hm = lambda ts: time.strftime("%H:%M", time.localtime(ts))  # noqa: E731
    lines = [t("hand.period", start=hm(s["start"]), end=hm(min(s["end"], time.time())), name=volunteer_name)]
    p = s["passages"]
    lines.append(t("hand.passages", in_=p["in"], out=p["out"], back=s["turned_back"]))
    f = s["fevers"]
    o = f["outcomes"]
    lines.append(
        t(
            "hand.fevers",
            cases=f["cases"],
            allowed=o.get("allowed", 0),
            clinic=o.get("clinic", 0),
            home=o.get("home", 0),
            pending=len(s.get("waiting_recheck", ())),
        )
    )
    if s.get("waiting_recheck"):
        lines.append(t("hand.waiting", units=t("list.comma").join(s["waiting_recheck"])))
    if s.get("overridden"):
        lines.append(t("hand.overridden", count=s["overridden"]))
    if s.get("visitors_inside"):
        units = t("list.comma").join(s["visitors_inside"])
        lines.append(t("hand.visitors_inside", hour=s.get("visiting_until_hour", "-"), units=units))
    if s.get("registrations_inside"):
        from models.report import registrations_words

        items = registrations_words(s["registrations_inside"], app.lang)
        count = len(s["registrations_inside"])
        lines.append(t("hand.registrations_inside", hour=s.get("visiting_until_hour", "-"), count=count, items=items))
    if s.get("out_past_curfew"):
        units = t("list.comma").join(s["out_past_curfew"])
        lines.append(t("hand.out_past_curfew", hour=s.get("curfew_hour", "-"), units=units))
    if s["denials_by_reason"]:
        labels = [f"{reason_label(code, app.lang)} {n}" for code, n in s["denials_by_reason"].items()]
        lines.append(t("hand.denials", items=t("list.semicolon").join(labels)))
    else:
        lines.append(t("hand.denials_none"))
    if s.get("checks_seen"):
        from models.health_checks import checks_words

        lines.append(t("hand.checks", items=checks_words(s["checks_seen"], app.lang)))
    regs = t("list.comma").join(f"{registration_label(k, app.lang)} {n}" for k, n in s["registrations"].items() if n)
    lines.append(t("hand.regs", total=s["registrations_total"], items=regs or "-"))
    lines.append(t("hand.unsynced", count=s["unsynced"]))
    return lines


def _hand_over(store, volunteer_id: int, note: str, summary: dict[str, Any]):
    from models.facts import record_shift
    from models.shift import summary_for_record

    return record_shift(store, volunteer_id, "off", note, summary_for_record(summary))


@dataclass(frozen=True)
class HandedOver:
    """The shift is closed: who handed over and the note left for the next volunteer."""

    volunteer_name: str
    note: str


class HandoverScreen(DeskScreen[HandedOver | None]):
    """Dismisses with HandedOver once the shift record is saved (the duty screen then opens
    the login for the next volunteer), or None (Escape: the shift goes on)."""

    summary: dict[str, Any] | None = None  # the numbers shown, once read

    BINDINGS = [Binding("escape", "back", "back", show=False, id="back")]

    def compose(self) -> ComposeResult:
        app = self.app
        with Vertical(classes="dialog", id="handover-dialog"):
            yield Plain(app.t("hand.title"), classes="dialog-title")
            yield Plain(app.t("duty.searching"), id="handover-summary")
            yield Plain(app.t("hand.note"))
            yield Input(id="handover-note", max_length=200)
            yield Plain("", id="handover-message", classes="field-error")

    async def on_mount(self) -> None:
        from models.shift import shift_summary

        app = self.app
        self.query_one("#handover-note", Input).focus()
        start = app.shift_started or time.time()
        try:
            self.summary = await app.db(shift_summary, start)
        except Exception as exc:
            self.summary = None
            self.query_one("#handover-summary", Static).update(app.error_text(exc))
            return
        self.query_one("#handover-summary", Static).update(
            "\n".join(summary_lines(app, self.summary, app.volunteer.name if app.volunteer else "-"))
        )

    @on(Input.Submitted, "#handover-note")
    async def hand_over(self, event: Input.Submitted) -> None:
        app = self.app
        volunteer = app.volunteer
        if self.summary is None or volunteer is None:
            return
        note = event.value.strip()
        try:
            await app.db(_hand_over, volunteer.id, note, self.summary)
        except Exception as exc:
            self.query_one("#handover-message", Static).update(app.t("duty.not_saved", error=app.error_text(exc)))
            app.bell()
            return
        app.volunteer = None
        app.shift_started = None
        self.dismiss(HandedOver(volunteer.name, note))

    def action_back(self) -> None:
        self.dismiss(None)
