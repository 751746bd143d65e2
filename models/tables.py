"""The kiosk's tables (SQLModel).

Facts (passages, registrations, fever cases, shift changes, passes issued, revocations) are
immutable rows: each is written once, in the same transaction as its `OutboxRecord`, and a
correction is a new record. Reference data (checkpoint, volunteers, units, the office's lists)
is state and may be updated.

Personal data: ID numbers and phones are never stored in full on the kiosk - only the masked
form for display, a keyed hash for look-ups, and the full value sealed to the office's public
key (see `models.privacy`).
"""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

# The `kiosk_state` row that holds the counters. There is exactly one.
STATE_ROW_ID = 1


class KioskState(SQLModel, table=True):
    """The kiosk's identity and its counters, updated in every fact's transaction."""

    __tablename__ = "kiosk_state"

    id: int = Field(default=STATE_ROW_ID, primary_key=True)
    kiosk_id: str  # random UUID made at setup; the office's id for this kiosk after enrolment
    epoch: int = 1  # bumped when the office proves this kiosk lost commits (restored file)
    last_seq: int = 0  # the last `seq` handed out in this epoch (gapless)
    acked_seq: int = 0  # the highest contiguous `seq` the office has confirmed stored
    hlc_last: int = 0  # the persisted hybrid logical clock
    created_at: float
    office_url: str | None = None
    enrolled_at: float | None = None
    # PIN guard for the whole kiosk (a PIN is typed without a user name): persisted, so
    # pulling the plug does not reset the lockout.
    pin_failures: int = 0
    pin_locked_until: float = 0.0


class OutboxRecord(SQLModel, table=True):
    """Every recorded fact, in `seq` order, as it will be sent to the office."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("epoch", "seq", name="uq_outbox_epoch_seq"),)

    record_id: str = Field(primary_key=True, max_length=36)  # UUIDv7
    epoch: int
    seq: int
    kind: str = Field(max_length=32)  # passage, registration, fever_case, ...
    payload: str  # canonical JSON of the fact
    payload_hash: str = Field(max_length=64)  # sha256 hex of `payload`
    wall_time: float  # the kiosk's wall clock, untrusted
    hlc: int
    boot_id: str = Field(max_length=64)
    mono_ns: int
    clock_flag: str = Field(default="", max_length=16)  # "" or "backwards"
    versions: str = Field(default="{}")  # JSON {list name: version} the fact was decided under


class Checkpoint(SQLModel, table=True):
    __tablename__ = "checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    name: str  # 东门卡口
    community: str  # 幸福里社区
    street: str = ""  # 新华街道
    number: int = 1  # scope number printed in passes (u16); once enrolled, the office's (unique) number
    community_id: int | None = None  # the office's id of this community, from enrolment (None: not enrolled)


class Volunteer(SQLModel, table=True):
    __tablename__ = "volunteer"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    role: str = Field(default="volunteer", max_length=16)  # volunteer | supervisor
    pin_hash: str  # argon2id
    active: bool = True
    failed_attempts: int = 0
    locked_until: float = 0.0


class Unit(SQLModel, table=True):
    """A household unit, 楼栋-单元-房号 such as 3-2-501."""

    __tablename__ = "unit"

    code: str = Field(primary_key=True, max_length=24)
    building: str
    entrance: str
    room: str


class PassRecord(SQLModel, table=True):
    """A pass this kiosk (or the office) issued, as known locally."""

    __tablename__ = "pass_issued"

    pass_id: str = Field(primary_key=True, max_length=32)  # hex
    record_id: str | None = Field(default=None, max_length=36)
    kind: int
    unit_code: str = Field(index=True, max_length=24)
    name: str = ""
    plate: str = ""
    scope: int = 0
    valid_from: int
    valid_to: int
    hour_from: int = 0
    hour_to: int = 24
    kid: int
    token: str
    issued_at: float
    replaces: str | None = Field(default=None, max_length=32)


class Revocation(SQLModel, table=True):
    """A revoked pass id (from this kiosk's supervisor or from the office's list)."""

    __tablename__ = "revocation"

    pass_id: str = Field(primary_key=True, max_length=32)
    reason: str = ""
    source: str = Field(default="local", max_length=16)  # local | office
    revoked_at: float
    expires: int | None = None  # the pass's valid_to: the entry can be pruned after it
    record_id: str | None = Field(default=None, max_length=36)


class ListEntry(SQLModel, table=True):
    """An entry of an office list: quarantine (may not go out) or watch (allow with a note)."""

    __tablename__ = "list_entry"
    __table_args__ = (Index("ix_list_entry_list_unit", "list_name", "unit_code"),)

    id: int | None = Field(default=None, primary_key=True)
    list_name: str = Field(max_length=16)  # quarantine | watch
    unit_code: str | None = Field(default=None, max_length=24)
    person_hash: str | None = Field(default=None, index=True)
    until: float | None = None
    note: str = ""
    source: str = Field(default="local", max_length=16)


class ListVersion(SQLModel, table=True):
    """The version of each list this kiosk holds, and when it last heard from the office."""

    __tablename__ = "list_version"

    name: str = Field(primary_key=True, max_length=32)
    version: int = 0
    content_hash: str = ""
    updated_at: float = 0.0  # kiosk wall time of the last successful pull


class PolicySetting(SQLModel, table=True):
    """One policy value (fever threshold, recheck minutes, quota...), as JSON."""

    __tablename__ = "policy"

    key: str = Field(primary_key=True, max_length=48)
    value: str  # JSON


class Passage(SQLModel, table=True):
    """Someone passed (or was turned back at) the gate."""

    __tablename__ = "passage"
    __table_args__ = (
        Index("ix_passage_pass_time", "pass_id", "device_time"),
        # The outing quota reads one household's recent outings on every scan of an outing
        # pass: one index range read instead of a row fetch per past passage.
        Index("ix_passage_unit_dir_time", "unit_code", "direction", "device_time"),
    )

    record_id: str = Field(primary_key=True, max_length=36)
    direction: str = Field(max_length=3)  # in | out
    subject: str = Field(max_length=16)  # pass | person | registration | unknown
    pass_id: str | None = Field(default=None, max_length=32)
    pass_kind: int | None = None
    unit_code: str | None = Field(default=None, max_length=24, index=True)
    person_id: int | None = None
    temp_raw: str = ""
    temp_value: float | None = None
    verdict: str = Field(max_length=8)  # allow | deny | refer
    reasons: str = "[]"  # JSON list of reason codes
    volunteer_id: int | None = None
    # The registration this passage signs out (a visitor picked from the list of those inside).
    registration_id: str | None = Field(default=None, max_length=36, index=True)
    device_time: float = Field(index=True)
    # The checks beside the pass and what the volunteer saw (models/health_checks.py), JSON;
    # "" when none was asked.
    checks: str = Field(default="", sa_column_kwargs={"server_default": ""})


class Registration(SQLModel, table=True):
    """A person without a pass, registered at the gate."""

    __tablename__ = "registration"

    record_id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=16)  # visitor | returnee | courier | medical | worker
    direction: str = Field(default="in", max_length=3, sa_column_kwargs={"server_default": "in"})
    name: str = ""
    id_masked: str = ""
    id_hash: str | None = Field(default=None, index=True)
    phone_masked: str = ""
    phone_hash: str | None = Field(default=None, index=True)
    from_place: str = ""
    to_unit: str = ""
    reason: str = ""
    temp_raw: str = ""
    temp_value: float | None = None
    volunteer_id: int | None = None
    device_time: float = Field(index=True)


class FeverCase(SQLModel, table=True):
    """A first reading at or above the fever threshold. The outcome is a later record."""

    __tablename__ = "fever_case"

    record_id: str = Field(primary_key=True, max_length=36)
    direction: str = Field(max_length=3)
    pass_id: str | None = Field(default=None, max_length=32)
    unit_code: str | None = Field(default=None, max_length=24)
    registration_id: str | None = Field(default=None, max_length=36)
    first_raw: str
    first_value: float | None = None
    volunteer_id: int | None = None
    device_time: float = Field(index=True)


class FeverOutcome(SQLModel, table=True):
    """The second reading and what was decided: allowed, fever clinic, sent home."""

    __tablename__ = "fever_outcome"

    record_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="fever_case.record_id", index=True, max_length=36)
    second_raw: str = ""
    second_value: float | None = None
    outcome: str = Field(max_length=16)  # allowed | clinic | home
    volunteer_id: int | None = None
    device_time: float = Field(index=True)


class ShiftEvent(SQLModel, table=True):
    """A volunteer going on or off duty, with the handover note."""

    __tablename__ = "shift_event"

    record_id: str = Field(primary_key=True, max_length=36)
    volunteer_id: int
    event: str = Field(max_length=8)  # on | off
    note: str = ""
    summary: str = "{}"  # JSON summary shown at handover (kept as it was shown)
    device_time: float = Field(index=True)


class OutboxLost(SQLModel, table=True):
    """Records this kiosk committed and cannot send (models/hwm.py): `missing` from the file
    (the mark outside it says they were committed) or `damaged` (their payload no longer
    matches its hash). Kept as the problem record; the office is told in the next push."""

    __tablename__ = "outbox_lost"
    __table_args__ = (UniqueConstraint("epoch", "first_seq", "reason", name="uq_outbox_lost_range"),)

    id: int | None = Field(default=None, primary_key=True)
    epoch: int
    first_seq: int
    last_seq: int
    reason: str = Field(max_length=16)  # missing | damaged
    found_at: float
    reported_at: float | None = None  # when the office's signed answer took the claim


class AuditEvent(SQLModel, table=True):
    """Who did what: logins, failed logins, pass issue/revoke, settings, purge."""

    __tablename__ = "audit_event"

    record_id: str = Field(primary_key=True, max_length=36)
    volunteer_id: int | None = None
    action: str = Field(max_length=32)
    detail: str = "{}"
    device_time: float = Field(index=True)


class TrustedKey(SQLModel, table=True):
    """A public key whose passes this kiosk accepts (its own, the office's, other kiosks')."""

    __tablename__ = "trusted_key"

    public_key: str = Field(primary_key=True, max_length=64)  # hex
    kid: int = Field(index=True)
    label: str = ""
    issuer: str = Field(default="kiosk", max_length=16)  # kiosk | office
    not_after: int | None = None  # passes valid beyond this are refused
    revoked_after: int | None = None  # passes starting after this are refused (stolen kiosk)
    source: str = Field(default="local", max_length=16)  # local | office
    # The community of the kiosk that holds this key (from the office's trust list): its passes
    # open only that community's gates. NULL for the office's key (street-wide) and before enrolment.
    community_id: int | None = None
    community: str | None = None
    checkpoint: int | None = None  # that kiosk's checkpoint number (the office's): a pass's scope names it
    # A revoked kiosk's key: the JSON list of pass ids the office saw it issue before the
    # revocation; only those stay valid (None: an office that sends no list, revoked_after rules).
    vouched: str | None = None
