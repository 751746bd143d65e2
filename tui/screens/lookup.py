"""What the scan line found for an ID number, a phone, a unit or a name."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll

from tui.screens.base import DeskModal
from tui.screens.register import RegistrationPrefill
from tui.widgets.plain import Plain

if TYPE_CHECKING:
    from tui.app import DutyApp


@dataclass
class LookupResult:
    kind: str  # id | phone | unit | name
    query: str  # what to show as the subject (masked for ID numbers and phones)
    data: Any = None  # the hits: RegistrationHit list (id, phone), Household (unit), NameResults (name)
    register_with: RegistrationPrefill | None = None  # not seen before: open the registration with this
    offer_register: RegistrationPrefill | None = None  # seen before: F2 registers again
    listed: tuple = ()  # what the office's person lists say of this ID number (models.verdict.Reason)


def run_lookup(store, kind: str, text: str, direction: str = "in") -> LookupResult:
    """Runs on the database thread. A value that fails its rule raises ValueRejected, whose
    words ("ID check digit wrong") the duty screen shows as they are."""
    from models import lookup
    from models.clock import trusted_date
    from models.values import mask_id, mask_phone, parse_id_number, parse_phone, parse_unit

    if kind == "id":
        from models.gate import person_list_reasons

        id_number = parse_id_number(text, today=trusted_date(store.trusted_now()))
        hits = lookup.by_id_number(store, id_number)
        listed = person_list_reasons(store, id_number, direction)
        if not hits and not listed:
            return LookupResult(kind, mask_id(id_number), register_with=RegistrationPrefill(id_number=id_number))
        # Someone on the quarantine or watch list is shown first, registered before or not.
        return LookupResult(
            kind, mask_id(id_number), hits, offer_register=RegistrationPrefill(id_number=id_number), listed=listed
        )
    if kind == "phone":
        phone = parse_phone(text)
        hits = lookup.by_phone(store, phone)
        if not hits:
            return LookupResult(kind, mask_phone(phone), register_with=RegistrationPrefill(phone=phone))
        return LookupResult(kind, mask_phone(phone), hits, offer_register=RegistrationPrefill(phone=phone))
    if kind == "unit":
        unit = str(parse_unit(text))
        return LookupResult(kind, unit, lookup.household(store, unit))
    return LookupResult("name", text, lookup.by_name(store, text))


def _day(ts: float) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(ts))


def describe(app: DutyApp, result: LookupResult) -> list[str]:
    """The result as lines in the desk's language (names masked unless the site shows them)."""
    from models.kinds import registration_label
    from models.passes import kind_label
    from models.values import mask_name
    from models.verdict import fmt_date

    t = app.t
    full = app.settings.show_full_name(app.policy.show_full_name if app.policy else False)
    show = (lambda n: n) if full else mask_name

    def reg_rows(hits) -> list[str]:
        return [
            t(
                "look.reg_row",
                date=_day(h.device_time),
                kind=registration_label(h.kind, app.lang),
                name=show(h.name) or "-",
                from_place=h.from_place or "-",
                unit=h.to_unit or "-",
                reason=h.reason or "",
            ).rstrip()
            for h in hits
        ]

    now = time.time()

    def pass_rows(passes) -> list[str]:
        return [
            t(
                "look.pass_row",
                kind=kind_label(p.kind, app.lang),
                name=show(p.name) or "-",
                status=t(f"look.status.{p.status(now)}"),
                date=fmt_date(p.valid_to),
            )
            for p in passes
        ]

    if result.kind in ("id", "phone"):
        listed = [t("look.listed", words=r.text(app.lang)) for r in result.listed]
        if not result.data:
            return [*listed, t(f"look.{result.kind}_none", masked=result.query)]
        found = t(f"look.{result.kind}_found", masked=result.query, count=len(result.data))
        return [*listed, found, *reg_rows(result.data)]
    if result.kind == "unit":
        h = result.data
        lines = [t("look.household", unit=h.unit_code) if h.known else t("look.household_unknown", unit=h.unit_code)]
        if h.quarantined:
            lines.append(t("look.quarantined"))
        if h.watch_note is not None:
            lines.append(t("look.watch", note=h.watch_note or "-"))
        if h.passes:
            lines.append(t("look.passes", count=len(h.passes)))
            lines += ["  " + row for row in pass_rows(h.passes)]
        lines.append(
            t("look.out_now", names=", ".join(show(p.name) or "-" for p in h.out_now))
            if h.out_now
            else t("look.nobody_out")
        )
        if h.last_passages:
            lines.append(t("look.last"))
            lines += [
                "  "
                + t(
                    "look.last_row",
                    time=_day(ts),
                    dir=t(f"duty.dir.{d}"),
                    verdict=t(f"duty.{v}") if v in ("allow", "deny", "refer") else v,
                )
                for ts, d, v in h.last_passages
            ]
        return lines
    found = result.data
    if not found.passes and not found.registrations:
        return [t("look.name_none", name=result.query)]
    return [t("look.name", name=result.query), *pass_rows(found.passes), *reg_rows(found.registrations)]


class LookupScreen(DeskModal[RegistrationPrefill | None]):
    """Dismisses with a registration prefill (F2, for someone seen before) or None (Escape;
    F2 where there is nothing to register again)."""

    BINDINGS = [
        Binding("escape", "back", "back", show=False, id="back"),
        Binding("f2", "register", "register", show=False, id="register"),
    ]

    def __init__(self, result: LookupResult):
        super().__init__()
        self.result = result

    def compose(self) -> ComposeResult:
        app = self.app
        with Vertical(classes="dialog", id="lookup-dialog"):
            yield Plain(app.t("look.title"), classes="dialog-title")
            with VerticalScroll(id="lookup-body"):
                yield Plain("\n".join(describe(app, self.result)), id="lookup-lines", markup=False)
            yield Plain(
                app.t("look.hint_register" if self.result.offer_register else "look.hint"), classes="dialog-hint"
            )

    def action_back(self) -> None:
        self.dismiss(None)

    def action_register(self) -> None:
        self.dismiss(self.result.offer_register)
