"""Registering someone without a pass: visitor, returnee (返乡), courier, medical escort, worker.

One short form. Enter moves to the next field; a refused value keeps the focus on its field
and says why under it; Enter on the last field saves. Only the masked ID number / phone, a
keyed hash and the sealed copy are stored (models.facts.record_registration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from tui.screens.base import DeskModal
from tui.widgets.form import FORM_BREAKPOINTS, FormField, checked_values, enter_moves_on, field_named, fields_of
from tui.widgets.plain import Plain

if TYPE_CHECKING:
    from tui.screens.duty import FeverWait

FIELDS = (
    ("kind", "reg.kind"),
    ("name", "reg.name"),
    ("phone", "reg.phone"),
    ("id_number", "reg.id"),
    ("from_place", "reg.from"),
    ("to_unit", "reg.to_unit"),
    ("reason", "reg.reason"),
    ("temperature", "reg.temp"),
)


def kind_number(code: str) -> str:
    """The form's number for a registration kind (models/kinds.py, in table order)."""
    from models.kinds import REGISTRATION_KINDS

    return str(list(REGISTRATION_KINDS).index(code) + 1) if code in REGISTRATION_KINDS else ""


def field_label(lang: str, key: str) -> str:
    from models.kinds import REGISTRATION_KINDS
    from tui.strings import choices, t

    if key == "reg.kind":
        return t(
            lang, key, choices=choices(lang, ((n, k.choice) for n, k in enumerate(REGISTRATION_KINDS.values(), 1)))
        )
    return t(lang, key)


CHECK_FIELD = "check_"  # a check beside the pass (models/health_checks.py) asked on the form: check_<check>


def check_field_label(lang: str, check: str) -> str:
    """ "健康码 [1]绿码 [2]黄码 [3]红码 [4]灰码/打不开": the check and its numbered answers (the
    brackets keep a key apart from an answer that begins with a digit: [1]24小时内)."""
    from models.health_checks import CHECKS
    from tui.strings import words

    info = CHECKS[check]
    answers = " ".join(f"[{n}]{words(lang, a.name)}" for n, a in enumerate(info.answers, 1))
    return f"{words(lang, info.name)} {answers}"


def _check_registration(store, reg, direction):
    """What the office's lists say about this registration (models.gate.check_registration)."""
    from models.gate import check_registration

    return check_registration(store, reg.to_unit or None, reg.id_number, direction)


def _registration_passage(store, reg, verdict, temperature, volunteer_id, direction, checks, **extra):
    """The passage of someone registered without a pass: the verdict's reasons and the answers to
    the checks beside the pass, as the office counts them."""
    from models.facts import record_passage

    return record_passage(
        store,
        direction,
        verdict,
        temperature,
        volunteer_id,
        subject="registration",
        unit_code=reg.to_unit or None,
        checks=checks or None,
        **extra,
    )


def _refuse_registration(store, reg, verdict, temperature, volunteer_id, direction, checks=None):
    """Refused by the lists, the policy or an answer to a check: not registered in, but the
    turned-back passage is recorded with its reason and what was seen (the office counts it)."""
    return _registration_passage(store, reg, verdict, temperature, volunteer_id, direction, checks)


def _save_registration(store, reg, temperature, volunteer_id, direction, threshold, verdict=None, checks=None):
    """The registration and, for a fever reading, its fever case (two facts, in order). A
    verdict with reasons (a watched unit, a quarantined household checked by hand) or answers
    to the checks beside the pass is recorded with it as the registration's passage, so the
    reasons and what was seen are counted and reach the office."""
    from models.facts import open_fever_case, record_registration

    fact = record_registration(store, reg, temperature, volunteer_id, direction=direction)
    if verdict is not None and (verdict.reasons or checks):
        checked = ["checked_by_hand"] if verdict.outcome == "refer" else None
        _registration_passage(
            store, reg, verdict, temperature, volunteer_id, direction, checks, outcome="allow", extra_reasons=checked
        )
    case = None
    if temperature is not None and temperature.is_fever(threshold):
        case = open_fever_case(
            store, direction, temperature, volunteer_id, unit_code=reg.to_unit or None, registration_id=fact.record_id
        )
    return fact, case


@dataclass(frozen=True)
class RegistrationResult:
    """What a saved registration tells the duty screen (its log line, the verdict panel, the
    entry slip offered to a returnee, the fever wait)."""

    kind: str  # models.facts.REGISTRATION_KINDS key
    kind_label: str  # in the desk's language
    unit: str
    name: str
    record_id: str
    fever: FeverWait | None = None  # the reading was a fever: the person waits for the recheck
    verdict: Any = None  # models.verdict.Verdict of the lists (its reasons are shown with "saved")
    refused: bool = False  # the lists and policy refused them: nothing registered, the refusal recorded


@dataclass(frozen=True)
class RegistrationPrefill:
    """What the registration form starts with (from a scan or a look-up)."""

    id_number: str = ""
    phone: str = ""
    unit: str = ""


class RegisterScreen(DeskModal[RegistrationResult | None]):
    """Dismisses with the RegistrationResult of what was saved, or None (Escape: nothing saved)."""

    VERTICAL_BREAKPOINTS = FORM_BREAKPOINTS

    BINDINGS = [Binding("escape", "back", "back", show=False, id="back")]

    def __init__(self, direction: str = "in", kind: str = "", id_number: str = "", phone: str = "", unit: str = ""):
        super().__init__()
        self.direction = direction
        # The (unit, ID number, answers) whose amber verdict the volunteer has seen: Enter again saves it.
        self.checked: tuple[str, str, tuple[tuple[str, str], ...]] | None = None
        # The kind starts at the first of the table (the most common: a visitor) unless given.
        self.prefill = {"kind": kind_number(kind) or "1", "id_number": id_number, "phone": phone, "to_unit": unit}

    def compose(self) -> ComposeResult:
        app = self.app
        with VerticalScroll(classes="dialog form", id="register-form"):
            yield Plain(app.t("reg.title"), classes="dialog-title")
            yield Plain(app.t("reg.hint"), classes="dialog-hint")
            for name, label in FIELDS:
                yield FormField(name, field_label(app.lang, label), self.prefill.get(name, ""), max_length=40)
            from models.health_checks import CHECKS

            for check in CHECKS:
                # One key each, asked only when the policy requires it of this kind and direction.
                field = FormField(CHECK_FIELD + check, check_field_label(app.lang, check), max_length=1)
                field.display = False
                yield field
            yield Plain("", id="register-message", classes="field-error")

    async def on_mount(self) -> None:
        # Start where typing is needed: after what the scan already filled in.
        first_empty = next((f for f in fields_of(self)[1:] if not f.value and f.field_name != "name"), None)
        target = fields_of(self)[0] if not (self.prefill["id_number"] or self.prefill["phone"]) else first_empty
        (target or fields_of(self)[0]).input.focus()
        self.policy = await self.app.current_policy()
        self._show_checks()

    policy: Any = None  # the policy in force when the form opened (which checks it asks)

    def required_checks(self) -> list[str]:
        from models.health_checks import required_checks

        kind = self.kind
        if self.policy is None or kind is None:
            return []
        return required_checks(self.policy, self.direction, kind)

    def _show_checks(self) -> None:
        """The check fields the policy requires of the kind chosen, in the direction of the desk."""
        from models.health_checks import CHECKS

        wanted = self.required_checks()
        for check in CHECKS:
            field_named(self, CHECK_FIELD + check).display = check in wanted

    @on(Input.Changed, "#input-kind")
    def kind_changed(self) -> None:
        self._show_checks()

    @on(Input.Changed)
    async def answer_typed(self, event: Input.Changed) -> None:
        """A check's answer is one key: a right one moves on (saves on the last field) at once."""
        field = next((f for f in fields_of(self) if f.input is event.input), None)
        if field is None or not field.field_name.startswith(CHECK_FIELD) or len(event.value) != 1:
            return
        from models.health_checks import answer_by_key

        if answer_by_key(field.field_name[len(CHECK_FIELD) :], event.value) is None:
            self.check(field)  # says which keys answer it
            return
        await self.enter(Input.Submitted(event.input, event.value))

    @property
    def kind(self) -> str | None:
        from models.kinds import registration_kind_by_number

        info = registration_kind_by_number(field_named(self, "kind").value)
        return info.code if info else None

    @on(Input.Submitted)
    async def enter(self, event: Input.Submitted) -> None:
        await enter_moves_on(self, event)

    def today(self):
        """The kiosk's trusted date (not the bare wall clock) for the ID number's birth date."""
        from models.clock import trusted_date

        store = self.app.store
        return trusted_date(store.trusted_now()) if store is not None else None

    def check(self, f: FormField):
        """The field's clean value, or None after showing why it was refused."""
        if f.field_name.startswith(CHECK_FIELD):
            from models.health_checks import CHECKS, answer_by_key

            check = f.field_name[len(CHECK_FIELD) :]
            answer = answer_by_key(check, f.value)
            if answer is None:
                f.set_error(self.app.t("duty.check_bad_key", keys=f"1-{len(CHECKS[check].answers)}"))
                f.input.focus()
                return None
            f.set_error("")
            return answer.code
        try:
            clean = clean_field(
                f.field_name, f.value, field_named(self, "kind").value, self.app.lang, today=self.today()
            )
        except FieldRefused as exc:
            f.set_error(str(exc))
            f.input.focus()
            return None
        f.set_error("")
        return clean

    async def save(self) -> None:
        from models.facts import RegistrationInput
        from models.kinds import registration_label

        app = self.app
        values = checked_values(self)
        if values is None:
            return
        reg = RegistrationInput(
            kind=values["kind"],
            name=values["name"],
            id_number=values["id_number"],
            phone=values["phone"],
            from_place=values["from_place"],
            to_unit=values["to_unit"],
            reason=values["reason"],
        )
        message = self.query_one("#register-message", Static)
        message.update(app.t("duty.saving"))
        policy = self.policy or await app.current_policy()
        volunteer_id = app.volunteer.id if app.volunteer else None
        try:
            verdict = await app.db(_check_registration, reg, self.direction)
        except Exception as exc:
            message.update(app.t("duty.not_saved", error=app.error_text(exc)))
            app.bell()
            return
        from models.health_checks import apply_answers

        # What the volunteer saw of the checks beside the pass, and what it means under the policy.
        checks = {name[len(CHECK_FIELD) :]: code for name, code in values.items() if name.startswith(CHECK_FIELD)}
        verdict = apply_answers(policy, verdict, checks)
        if verdict.outcome == "deny":
            try:
                await app.db(
                    _refuse_registration, reg, verdict, values["temperature"], volunteer_id, self.direction, checks
                )
            except Exception as exc:
                message.update(app.t("duty.not_saved", error=app.error_text(exc)))
                app.bell()
                return
            self.dismiss(
                RegistrationResult(
                    kind=reg.kind,
                    kind_label=registration_label(reg.kind, app.lang),
                    unit=reg.to_unit,
                    name=reg.name,
                    record_id="",
                    verdict=verdict,
                    refused=True,
                )
            )
            return
        seen = (reg.to_unit, reg.id_number, tuple(sorted(checks.items())))
        if verdict.outcome == "refer" and self.checked != seen:
            # Amber: the reason stays on the form until the volunteer has checked and says so
            # with Enter again (a new unit, ID number or answer is checked anew).
            self.checked = seen
            message.update(app.t("reg.check", reason=verdict.reason_text(app.lang)))
            app.bell()
            return
        try:
            fact, case = await app.db(
                _save_registration,
                reg,
                values["temperature"],
                volunteer_id,
                self.direction,
                policy.fever_threshold,
                verdict,
                checks,
            )
        except Exception as exc:
            message.update(app.t("duty.not_saved", error=app.error_text(exc)))
            app.bell()
            return
        fever = None
        if case is not None:
            from tui.screens.duty import FeverWait

            fever = FeverWait(
                case.record_id,
                reg.to_unit,
                values["temperature"].display(),
                self.direction,
                case.wall_time,
                registration_id=fact.record_id,
            )
        self.dismiss(
            RegistrationResult(
                kind=reg.kind,
                kind_label=registration_label(reg.kind, app.lang),
                unit=reg.to_unit,
                name=reg.name,
                record_id=fact.record_id,
                fever=fever,
                verdict=verdict if verdict.reasons else None,
            )
        )

    def action_back(self) -> None:
        self.dismiss(None)


class FieldRefused(Exception):
    """A form value was refused; str() is the sentence shown under the field."""


def clean_field(name: str, raw: str, kind_number: str, lang: str, today=None):
    """One registration field's clean value, or FieldRefused with the words to show.

    A pure function of what was typed (and the kind chosen, which decides what is required),
    so every rule is testable without a screen. A value the rules of `models.values` refuse
    (ValueRejected) becomes FieldRefused with its words in the desk's language."""
    from models.kinds import REGISTRATION_KINDS, registration_kind_by_number
    from models.values import ValueRejected, parse_id_number, parse_name, parse_phone, parse_temperature, parse_unit
    from tui.strings import t, words

    value = raw.strip()
    kind = registration_kind_by_number(kind_number)
    try:
        if name == "kind":
            if kind is None:
                raise FieldRefused(t(lang, "reg.kind_bad", last=len(REGISTRATION_KINDS)))
            return kind.code
        if name == "name":
            return parse_name(value)
        if name == "phone":
            if not value:
                raise FieldRefused(t(lang, "reg.need_phone"))
            return parse_phone(value)
        if name == "id_number":
            if not value:
                if kind is not None and kind.needs_id:
                    raise FieldRefused(t(lang, "reg.need_id", kind=kind.name.text(lang)))
                return ""
            return parse_id_number(value, today=today)
        if name == "to_unit":
            if not value:
                if kind is not None and kind.needs_unit:
                    raise FieldRefused(t(lang, "reg.need_unit"))
                return ""
            return str(parse_unit(value))
        if name == "temperature":
            if not value:
                raise FieldRefused(t(lang, "reg.need_temp"))
            reading = parse_temperature(value)
            if reading.needs_remeasure:
                raise FieldRefused(
                    t(
                        lang,
                        "duty.remeasure_lo" if reading.reading == "LO" else "duty.remeasure",
                        temp=reading.display(),
                    )
                )
            return reading
        return parse_name(value) if len(value) > 40 else value
    except ValueRejected as exc:
        raise FieldRefused(words(lang, exc)) from None
