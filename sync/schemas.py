"""The messages of the sync protocol (pydantic), shared by the kiosk and the office.

Envelope fields are strict (a malformed batch is refused whole with 422 and nothing is
stored); a record's *payload* is opaque text the office stores as it came, flagging what it
cannot read instead of refusing it (a poison record must never block the queue).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LIST_NAMES = ("trust", "revoked", "quarantine", "watch", "policy")
MAX_BATCH_RECORDS = 2000  # the office refuses bigger batches (the kiosk sends about 500)
MAX_BODY_BYTES = 1 << 20  # 1 MiB as sent (compressed); 413 above, the kiosk halves its batch
MAX_INFLATED_BYTES = 16 << 20  # a gzip body may not inflate beyond this (zip bomb)
# The office stores these in BIGINT / INTEGER columns: a number past them must be a clean 422,
# not a database error (a 5xx makes an honest kiosk retry the same batch forever).
BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


class Strict(BaseModel):
    # NaN and infinity are valid JSON to Python but mean nothing as a clock reading.
    model_config = ConfigDict(extra="ignore", str_max_length=1 << 16, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL cannot store NUL in text, and no JSON encoder writes a raw NUL: one in an
        # envelope field (payload text included) is a malformed batch, refused whole (422),
        # instead of a database error the kiosk would retry for ever. (A NUL escaped inside a
        # payload string is the payload's business: stored, flagged "nul".)
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("NUL character in a text field")
        return value


class Anchor(Strict):
    """The kiosk's clock at the moment it sent: the office corrects record times from it."""

    boot_id: str = Field(max_length=64)
    mono_ns: int = Field(ge=-BIGINT_MAX, le=BIGINT_MAX)
    wall: float


class OutboxItem(Strict):
    record_id: str = Field(min_length=1, max_length=36)
    seq: int = Field(ge=1, le=BIGINT_MAX)
    kind: str = Field(max_length=32)
    payload: str
    payload_hash: str = Field(max_length=64)
    wall_time: float
    hlc: int = Field(ge=0, le=BIGINT_MAX)
    boot_id: str = Field(max_length=64)
    mono_ns: int = Field(ge=-BIGINT_MAX, le=BIGINT_MAX)
    clock_flag: str = Field(default="", max_length=16)
    versions: str = "{}"


MAX_LOST_CLAIMS = 100  # lost ranges one batch may name
MAX_LOST_SPAN = 100_000  # seqs the lost ranges of one batch may cover (a kiosk records a few thousand a day)


class LostClaim(Strict):
    """Records the kiosk committed and can no longer send (models/hwm.py): `missing` from its
    file, or `damaged` (the payload no longer matches its hash). The office keeps the claim as a
    problem record and counts only the seqs it does not hold as lost (sync/office/ingest.py)."""

    epoch: int = Field(ge=1, le=INT_MAX)
    first: int = Field(ge=1, le=BIGINT_MAX)
    last: int = Field(ge=1, le=BIGINT_MAX)
    reason: Literal["missing", "damaged"]

    @model_validator(mode="after")
    def _a_range(self) -> LostClaim:
        if self.last < self.first or self.last - self.first >= MAX_LOST_SPAN:
            raise ValueError(f"a lost range runs from first to last, at most {MAX_LOST_SPAN} seqs")
        return self


class PushBatch(Strict):
    batch_id: str = Field(max_length=64)
    epoch: int = Field(ge=1, le=INT_MAX)
    anchor: Anchor
    backlog: int = Field(default=0, ge=0, le=INT_MAX)  # records still waiting on the kiosk after this batch
    oldest_pending: float | None = None
    list_versions: dict[str, int] = Field(default_factory=dict)
    records: list[OutboxItem] = Field(max_length=MAX_BATCH_RECORDS)
    # Records the kiosk lost, for epochs up to this batch's (an office before this field ignores it).
    lost: list[LostClaim] = Field(default_factory=list, max_length=MAX_LOST_CLAIMS)

    @model_validator(mode="after")
    def _lost_in_known_epochs(self) -> PushBatch:
        if any(c.epoch > self.epoch for c in self.lost):
            raise ValueError("a lost range names an epoch after the batch's")
        # The office reads the seqs it holds in each range: bounded per batch, not per claim.
        if sum(c.last - c.first + 1 for c in self.lost) > MAX_LOST_SPAN:
            raise ValueError(f"the lost ranges of one batch cover at most {MAX_LOST_SPAN} seqs")
        return self


RecordStatus = Literal["stored", "duplicate", "conflict", "seq_taken"]


class PushResult(BaseModel):
    batch_id: str
    epoch: int
    hwm: int  # highest contiguous seq the office holds for (kiosk, epoch), after COMMIT
    statuses: list[RecordStatus]
    flagged: int = 0  # stored, but with a flag (bad hash, unreadable payload, clock)
    lost: int = 0  # seqs of the batch's lost claims the office now counts as lost (it holds the others)
    list_versions: dict[str, int]
    server_time: float


class SyncState(BaseModel):
    kiosk_id: str
    epochs: dict[str, int]  # epoch (as text, JSON keys) -> hwm
    max_epoch: int
    list_versions: dict[str, int]
    server_time: float
    status: str
    tip_ok: bool = True  # False: the office holds another record at the kiosk's newest seq


class KnownQuery(Strict):
    record_ids: list[str] = Field(max_length=20000)


class KnownResult(BaseModel):
    known: dict[str, str]  # record id -> payload hash, for those the office holds


class EnrollRequest(Strict):
    code: str = Field(max_length=32)
    public_key: str = Field(min_length=64, max_length=64)
    kiosk_uuid: str = Field(default="", max_length=64)
    # The private X25519 key the kiosk sealed its pre-enrolment registrations to (hex), handed
    # over so the office can open them; the kiosk destroys it once enrolled. Empty: none made.
    handover_key: str = Field(default="", max_length=64)


class ListItem(BaseModel):
    key: str
    value: Any
    deleted: bool = False


class ListDocument(BaseModel):
    name: str
    version: int
    since: int
    mode: Literal["delta", "snapshot"]
    items: list[ListItem]
    items_hash: str
    issued_at: float
    signature: str


class EnrollResponse(BaseModel):
    kiosk_id: str
    name: str
    community: str
    office_root_key: str
    office_sealing_key: str
    # The community lookup key (hex): the kiosk hashes ID numbers with it, so the office's
    # person lists can name people by hash alone. Empty from an office that has none.
    lookup_key: str = ""
    # The checkpoint's identity, assigned by the office: its number is unique office-wide (a
    # pass scoped to a gate names it), and its community's passes open only its gates. None from
    # an office that assigns neither.
    checkpoint_number: int | None = Field(default=None, ge=1, le=0xFFFF)
    community_id: int | None = None
    server_time: float
    lists: list[ListDocument]


class Problem(BaseModel):
    """Every 4xx/5xx body: a code and the same words in Chinese and English."""

    code: str
    zh: str
    en: str
