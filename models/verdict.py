"""The verdict: may this pass (or this person) go through the gate, now, in this direction?

Pure functions: everything they need comes in as arguments (the lists and policy are loaded
by the caller into a `GateState`), so the same rules run in the kiosk, in `kakou pass
verify`, in tests and in benchmarks. Fever is not decided here: it is a separate step decided
by the temperature.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.kinds import PassKind
from models.passtoken import DecodedPass, PassBody, TokenError, decode_token
from models.policy import Policy
from models.reasons import ALLOW, DENY, REASONS, REFER

__all__ = [
    "ALLOW",
    "DENY",
    "REASONS",
    "REFER",
    "GateState",
    "Reason",
    "TrustEntry",
    "Verdict",
    "community_reason",
    "decide_pass",
    "decide_person",
    "decide_token",
    "fmt_date",
    "hours_reason",
    "issuer_revoked",
    "list_reasons",
    "outcome_of",
    "quota_reason",
    "repeat_reason",
    "validity_reason",
]


@dataclass(frozen=True)
class Reason:
    """One reason of a verdict: its code (models/reasons.py) and the values its sentence names."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return REASONS[self.code].level

    def text(self, lang: str = "zh") -> str:
        template = REASONS[self.code].sentence.text(lang)
        return template.format(**self.params) if self.params else template

    def label(self, lang: str = "zh") -> str:
        return REASONS[self.code].label.text(lang)


@dataclass(frozen=True)
class TrustEntry:
    public_key: bytes
    label: str = ""
    not_after: int | None = None
    revoked_after: int | None = None
    issuer: str = "kiosk"  # kiosk | office: only the office's key signs passes for the whole street
    community_id: int | None = None  # the office's id of the community whose kiosk holds this key
    community: str = ""  # that community's name, shown when its pass is refused elsewhere
    checkpoint: int | None = None  # that kiosk's checkpoint number, office-wide
    # Once the key is revoked: the pass ids the office saw this kiosk issue before (None: the
    # office sent no list, and passes starting before `revoked_after` stay valid).
    vouched: frozenset[str] | None = None


@dataclass
class GateState:
    """The local lists the verdict needs, loaded once and kept in memory (set look-ups)."""

    checkpoint_number: int = 1
    # This kiosk's community as the office assigned it at enrolment; None when not enrolled (the
    # kiosk trusts its own key only, so there is no other community to tell apart).
    community_id: int | None = None
    trust: Mapping[int, Sequence[TrustEntry]] = field(default_factory=dict)  # by kid
    revoked: Mapping[str, str] = field(default_factory=dict)  # pass id hex -> reason
    quarantine_units: Mapping[str, float | None] = field(default_factory=dict)  # unit -> until
    quarantine_persons: Mapping[str, float | None] = field(default_factory=dict)  # hash -> until
    watch_units: Mapping[str, str] = field(default_factory=dict)  # unit -> note
    watch_persons: Mapping[str, str] = field(default_factory=dict)
    lists_updated_at: float | None = None  # None: not enrolled, the lists are local
    versions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    outcome: str
    reasons: tuple[Reason, ...]
    body: PassBody | None = None
    decoded: DecodedPass | None = None
    issuer: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOW

    def reason_codes(self) -> list[str]:
        return [r.code for r in self.reasons]

    def reason_text(self, lang: str = "zh") -> str:
        sep = "; " if lang == "en" else "；"
        return sep.join(r.text(lang) for r in self.reasons)


def outcome_of(reasons: Iterable[Reason]) -> str:
    severities = {r.severity for r in reasons}
    if DENY in severities:
        return DENY
    if REFER in severities:
        return REFER
    return ALLOW


def fmt_date(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def _in_list(entries: Mapping[str, float | None], key: str | None, now: float) -> bool:
    if not key or key not in entries:
        return False
    until = entries[key]
    return until is None or now < until


def list_reasons(
    unit: str | None,
    person_hash: str | None,
    direction: str,
    now: float,
    state: GateState,
    policy: Policy,
) -> list[Reason]:
    """Reasons that come from the office's lists, for a pass holder or a registered person."""
    reasons: list[Reason] = []
    if _in_list(state.quarantine_units, unit, now) or _in_list(state.quarantine_persons, person_hash, now):
        reasons.append(Reason("quarantined" if direction == "out" else "quarantined_home"))
    # An entry without a note is still an entry (the office's `watch add` needs no note):
    # look entries up by presence, then show the first note that says something.
    notes = [
        note
        for note in (
            state.watch_units.get(unit) if unit else None,
            state.watch_persons.get(person_hash) if person_hash else None,
        )
        if note is not None
    ]
    if notes:
        reasons.append(Reason("watch", {"note": next((n for n in notes if n), "-")}))
    if state.lists_updated_at is not None:
        age_h = (now - state.lists_updated_at) / 3600
        if age_h > policy.list_stale_hours:
            reasons.append(Reason("list_stale", {"hours": int(age_h)}))
    return reasons


def quota_reason(body: PassBody, direction: str, now: float, outings: Sequence[float], policy: Policy) -> Reason | None:
    """Household outing passes: at most `outing_quota` outings per `outing_window_days`."""
    if not PassKind(body.kind).info.outing_quota or direction != "out" or policy.outing_quota <= 0:
        return None
    window = policy.outing_window_days * 86400
    recent = sorted(t for t in outings if now - window < t <= now)
    if len(recent) < policy.outing_quota:
        return None
    next_allowed = recent[len(recent) - policy.outing_quota] + window
    return Reason("outing_quota", {"date": fmt_date(next_allowed)})


def hours_reason(body: PassBody, now: float, direction: str = "in") -> Reason | None:
    """Any pass may carry daily hours (a window may wrap past midnight). Going out after them
    is allowed with a note: the hours say when one may come and go, they keep nobody inside."""
    if body.all_day or body.hour_allowed(time.localtime(now).tm_hour):
        return None
    hours = f"{body.hour_from:02d}:00-{(body.hour_to or 24):02d}:00"
    return Reason("left_after_hours" if direction == "out" else "outside_hours", {"hours": hours})


def repeat_reason(last_direction: str | None, direction: str, policy: Policy) -> Reason | None:
    """One gate per compound: the pass's last allowed passage went the same way (out twice
    without coming back in, or in twice) - the same card used by two people, or a photo of it."""
    if last_direction != direction:
        return None
    if direction == "out":
        return Reason("twice_out" if policy.deny_repeat_direction else "already_out")
    return Reason("twice_in" if policy.deny_repeat_direction else "already_in")


def community_reason(issuer: TrustEntry, state: GateState) -> Reason | None:
    """A pass opens the gates of its issuer's community; one the office signed opens every gate."""
    if state.community_id is None or issuer.issuer == "office" or issuer.community_id == state.community_id:
        return None
    return Reason("other_community", {"community": issuer.community or issuer.label or "?"})


def validity_reason(body: PassBody, policy: Policy) -> Reason | None:
    """No pass is valid for longer than the office's maximum for its kind (not even a well-signed one)."""
    days = policy.max_days_for(body.kind)
    if body.valid_to - body.valid_from > days * 86400:
        return Reason("too_long_valid", {"days": days})
    return None


def issuer_revoked(issuer: TrustEntry, body: PassBody) -> bool:
    """A revoked kiosk mints nothing: only the passes the office saw it issue before the
    revocation (its `vouched` set) stay valid. `valid_from` alone proves nothing: whoever
    holds the stolen key chooses it; it decides only when the office sent no list."""
    if issuer.revoked_after is None:
        return False
    if issuer.vouched is not None:
        return body.pass_id_hex not in issuer.vouched
    return body.valid_from >= issuer.revoked_after


def decide_pass(
    decoded: DecodedPass,
    direction: str,
    now: float,
    state: GateState,
    policy: Policy,
    outings: Sequence[float] = (),
    last_direction: str | None = None,
) -> Verdict:
    """`last_direction`: which way this pass last went through this gate (allowed), if known."""
    body = decoded.body
    from models.passtoken import verify_pass

    candidates = state.trust.get(body.kid, ())
    if not candidates:
        return Verdict(DENY, (Reason("unknown_issuer"),), body, decoded)
    key = verify_pass(decoded, [c.public_key for c in candidates])
    if key is None:
        return Verdict(DENY, (Reason("bad_signature"),), body, decoded)
    issuer = next(c for c in candidates if c.public_key == key)
    reasons: list[Reason] = []
    if issuer_revoked(issuer, body):
        reasons.append(Reason("issuer_revoked"))
    if issuer.not_after is not None and body.valid_to > issuer.not_after:
        reasons.append(Reason("issuer_expired"))
    for binding in (community_reason(issuer, state), validity_reason(body, policy)):
        if binding is not None:
            reasons.append(binding)
    revoked = state.revoked.get(body.pass_id_hex)
    if revoked is not None:
        # Going out, a revoked (often lost) pass is checked by hand: who holds it? It keeps nobody in.
        code = "revoked_exit" if direction == "out" else "revoked"
        reasons.append(Reason(code, {"reason": revoked or "-"}))
    if now >= body.valid_to:
        code = "left_expired" if direction == "out" else "expired"
        reasons.append(Reason(code, {"date": fmt_date(body.valid_to)}))
    elif now < body.valid_from:
        reasons.append(Reason("not_yet_valid", {"date": fmt_date(body.valid_from)}))
    if body.scope not in (0, state.checkpoint_number):
        reasons.append(Reason("wrong_checkpoint"))
    for extra in (
        hours_reason(body, now, direction),
        quota_reason(body, direction, now, outings, policy),
        repeat_reason(last_direction, direction, policy),
    ):
        if extra is not None:
            reasons.append(extra)
    reasons.extend(list_reasons(body.unit, None, direction, now, state, policy))
    return Verdict(outcome_of(reasons), tuple(reasons), body, decoded, issuer.label)


def decide_token(
    token: str,
    direction: str,
    now: float,
    state: GateState,
    policy: Policy,
    outings: Sequence[float] = (),
    last_direction: str | None = None,
) -> Verdict:
    """Decode and decide a scanned pass. A token that does not decode is denied with why."""
    try:
        decoded = decode_token(token)
    except TokenError as exc:
        code = exc.code if exc.code in REASONS else "damaged"
        return Verdict(DENY, (Reason(code),))
    return decide_pass(decoded, direction, now, state, policy, outings, last_direction)


def decide_person(
    unit: str | None,
    person_hash: str | None,
    direction: str,
    now: float,
    state: GateState,
    policy: Policy,
    visitor: bool = False,
) -> Verdict:
    """A person without a pass (looked up by ID number or phone): only the lists apply.

    `visitor`: someone registered at the gate to visit `unit` (a visitor, a courier, a worker),
    not one of its household. Coming in to a home-quarantined household is then amber (check
    by hand) or refused by the policy, and a person on the quarantine list is checked by hand:
    they should be at home, not at the gate."""
    reasons = list_reasons(unit, person_hash, direction, now, state, policy)
    if visitor and direction == "in":
        checked: list[Reason] = []
        for reason in reasons:
            if reason.code != "quarantined_home":
                checked.append(reason)
                continue
            if _in_list(state.quarantine_units, unit, now):
                checked.append(
                    Reason("quarantine_visit_refused" if policy.refuse_quarantine_visits else "quarantine_visit")
                )
            if _in_list(state.quarantine_persons, person_hash, now):
                checked.append(Reason("quarantined_person"))
        reasons = checked
    return Verdict(outcome_of(reasons), tuple(reasons))
