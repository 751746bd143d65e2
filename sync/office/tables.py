"""The street office's tables, on their own MetaData (never the kiosk's SQLModel.metadata).

Every office table is declared here and nowhere else: this metadata is what the migrations in
`sync/office/migrations` must build (tests/test_migrations.py compares the two).

Every record a kiosk pushes is kept (`office_record`), never refused for age or content: what
the office cannot read is stored with a flag. A second copy of a record id with a different
hash is a conflict: the original stays, the copy goes to `office_conflict`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# One row per checkpoint kiosk. Made by `kakou office add-checkpoint` (status "pending"),
# activated by enrolment, revoked by the office (its key stops being accepted).
kiosk = Table(
    "office_kiosk",
    metadata,
    Column("kiosk_id", String(36), primary_key=True),
    Column("name", Text, nullable=False),
    Column("community", Text, nullable=False, server_default=""),
    Column("public_key", String(64), unique=True),
    Column("kid", Integer),
    Column("status", String(16), nullable=False, server_default="pending"),  # pending|active|revoked
    Column("created_at", Float, nullable=False),
    Column("enrolled_at", Float),
    Column("revoked_at", Float),
    Column("last_seen", Float),
    Column("last_push", Float),
    Column("backlog", Integer, nullable=False, server_default="0"),
    Column("oldest_pending", Float),
    Column("clock_skew", Float),  # kiosk wall clock minus office clock at the last contact, seconds
    Column("list_versions", Text, nullable=False, server_default="{}"),
    Column("max_epoch", Integer, nullable=False, server_default="1"),
    # The checkpoint's identity (migration 0011_checkpoint_identity): its community, and its
    # number, unique office-wide and never reused (a pass scoped to a gate names it: u16).
    Column("community_id", Integer),
    Column("checkpoint_number", Integer),
    # The last request stamp the office took from this kiosk (sync/office/replay.py); NULL: none yet.
    Column("last_stamp", BigInteger),
    # The kiosk's hand-over key (migration 0015): it sealed the registrations it made before
    # enrolment to this X25519 key and gave it up at enrolment. Kept sealed to the office's own
    # sealing key (hex); NULL when the kiosk registered nobody before enrolment.
    Column("handover_sealed", Text),
    UniqueConstraint("checkpoint_number", name="uq_office_kiosk_checkpoint_number"),
)

# The communities of the street, one row per name a checkpoint was added with: a kiosk's passes
# open the gates of its own community only (the office's own passes open every gate).
community = Table(
    "office_community",
    metadata,
    Column("community_id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

enrol_code = Table(
    "office_enrol_code",
    metadata,
    Column("code_hash", String(64), primary_key=True),  # sha256 of the normalised code
    Column("kiosk_id", String(36), nullable=False, index=True),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
    # Migration 0012_enrol_tries (`sync.office.tries`): the hashes of the code's two halves, so a
    # wrong try that gets one half right (a near miss: typed wrong, or half guessed) counts
    # against this code, and the code is locked after a few of them.
    Column("head_hash", String(64), index=True),
    Column("tail_hash", String(64), index=True),
    Column("wrong_tries", Integer, nullable=False, server_default="0"),
    Column("locked_at", Float),
)

# Office-wide budgets that every worker process shares (`sync.office.tries`): one row per
# budget, the tries counted in the window that started at `window_start`.
throttle = Table(
    "office_throttle",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("window_start", Float, nullable=False, server_default="0"),
    Column("tries", Integer, nullable=False, server_default="0"),
)

# The contiguous mark per (kiosk, epoch): every seq up to `hwm` is stored. The row is also the
# lock that serialises concurrent pushes of one kiosk's epoch (SELECT ... FOR UPDATE).
kiosk_epoch = Table(
    "office_kiosk_epoch",
    metadata,
    Column("kiosk_id", String(36), primary_key=True),
    Column("epoch", Integer, primary_key=True),
    Column("hwm", BigInteger, nullable=False, server_default="0"),
    # The highest seq ever stored in this epoch (migration 0023): a batch wholly above it holds
    # no slot the office has, so PostgreSQL's ingest need not look for one in every day's partition.
    Column("max_seq", BigInteger, nullable=False, server_default="0"),
)

# The kiosk's monotonic clock seen against the office clock, per boot: a record's time is
# corrected from the anchor of the boot it was written in.
boot_anchor = Table(
    "office_boot_anchor",
    metadata,
    Column("kiosk_id", String(36), primary_key=True),
    Column("boot_id", String(64), primary_key=True),
    Column("mono_ns", BigInteger, nullable=False),
    Column("server_time", Float, nullable=False),
    Column("wall", Float, nullable=False),
)

# PostgreSQL keeps the records in one partition per day (migration 0023_records_by_day,
# `sync.office.partitions`), so a day past retention goes by dropping its partition. A unique
# constraint of a partitioned table must hold its partition key: there the primary key is
# (record_id, day) and the slot (kiosk_id, epoch, seq, day); the ingest checks the record id and
# the slot across every day itself (`ingest._held_pg`). SQLite keeps the plain table below.
RECORD_PARTITION_KEY = "day"


PEOPLE_WHERE = "kind = 'registration' OR (kind = 'passage' AND ref IS NOT NULL)"
PASS_REF_WHERE = "kind = 'passage' AND ref IS NOT NULL AND verdict = 'allow'"
UNIT_WHERE = "unit IS NOT NULL"
OUTCOME_WHERE = "kind = 'fever_outcome'"
PASS_KIND_WHERE = "pass_kind IS NOT NULL"


def _record_table(into: MetaData, *, partitioned: bool) -> Table:
    key = (RECORD_PARTITION_KEY,) if partitioned else ()
    dialect_kw: dict[str, Any] = {"postgresql_partition_by": f"LIST ({RECORD_PARTITION_KEY})"} if partitioned else {}
    table = Table(
        "office_record",
        into,
        Column("record_id", String(36), nullable=False),
        Column("kiosk_id", String(36), nullable=False),
        Column("epoch", Integer, nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("kind", String(32), nullable=False),
        Column("payload", Text, nullable=False),
        Column("payload_hash", String(64), nullable=False),
        Column("device_time", Float, nullable=False),
        Column("corrected_time", Float, nullable=False),
        Column("received_at", Float, nullable=False),
        Column("time_quality", String(16), nullable=False),  # anchored | device | received
        Column("day", String(10), nullable=False),  # office-local date of corrected_time
        Column("hlc", BigInteger, nullable=False),
        Column("boot_id", String(64), nullable=False),
        Column("mono_ns", BigInteger, nullable=False),
        Column("clock_flag", String(16), nullable=False, server_default=""),
        Column("versions", Text, nullable=False, server_default="{}"),
        Column("flags", String(64), nullable=False, server_default=""),  # bad_hash, unreadable, ...
        # Read out of the payload at ingest, so the day report is a GROUP BY and not a JSON scan.
        Column("direction", String(3)),
        Column("verdict", String(8)),
        Column("reasons", Text),
        Column("detail", String(32)),  # registration kind, fever outcome
        Column("ref", String(36)),  # pass id of pass_issued / pass_revoked, case id of an outcome
        # The household unit a record names (a pass's, a registration's "to unit"), read out at ingest
        # from migration 0024 on, so the Records page finds a unit's records by index (contact tracing).
        Column("unit", String(32)),
        # A passage's pass kind (models/kinds.py PassKind's number), read out at ingest from
        # migration 0027 on (which fills the rows stored before): the passages' pass-kind filter.
        Column("pass_kind", Integer),
        PrimaryKeyConstraint("record_id", *key, name="office_record_pkey"),
        UniqueConstraint("kiosk_id", "epoch", "seq", *key, name="uq_office_record_slot"),
        **dialect_kw,
    )
    Index("ix_office_record_day_kiosk", table.c.day, table.c.kiosk_id)
    # Who is inside / out (sync/office/inside.py): registrations and the passages naming a pass or a
    # registration, without reading the day's other records (migration 0022).
    Index(
        "ix_office_record_people",
        table.c.kiosk_id,
        table.c.corrected_time,
        postgresql_where=text(PEOPLE_WHERE),
        sqlite_where=text(PEOPLE_WHERE),
    )
    # What one pass did just before and after a passage, at any gate (the "same pass out twice"
    # alert, sync/office/alerts.py; migration 0025).
    Index(
        "ix_office_record_pass_ref",
        table.c.ref,
        table.c.corrected_time,
        table.c.record_id,
        postgresql_where=text(PASS_REF_WHERE),
        sqlite_where=text(PASS_REF_WHERE),
    )
    # The console's Records pages (sync/office/records.py): newest first, paged by (corrected_time,
    # record_id) - a keyset, never an OFFSET - per kind, per gate and kind, and per unit (migration 0024).
    Index("ix_office_record_kind_time", table.c.kind, table.c.corrected_time, table.c.record_id)
    Index("ix_office_record_kiosk_kind_time", table.c.kiosk_id, table.c.kind, table.c.corrected_time, table.c.record_id)
    Index(
        "ix_office_record_unit_time",
        table.c.unit,
        table.c.corrected_time,
        table.c.record_id,
        postgresql_where=text(UNIT_WHERE),
        sqlite_where=text(UNIT_WHERE),
    )
    # The passages of one pass kind, newest first (the Records page's pass-kind filter; migration 0027).
    Index(
        "ix_office_record_pass_kind_time",
        table.c.pass_kind,
        table.c.corrected_time,
        table.c.record_id,
        postgresql_where=text(PASS_KIND_WHERE),
        sqlite_where=text(PASS_KIND_WHERE),
    )
    # A fever case's outcome, found by its case id (the outcome's ref).
    Index(
        "ix_office_record_outcome", table.c.ref, postgresql_where=text(OUTCOME_WHERE), sqlite_where=text(OUTCOME_WHERE)
    )
    return table


record = _record_table(metadata, partitioned=False)

conflict = Table(
    "office_conflict",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("record_id", String(36), nullable=False, index=True),
    Column("kiosk_id", String(36), nullable=False, index=True),
    Column("epoch", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("reason", String(16), nullable=False),  # conflict | seq_taken
    Column("received_at", Float, nullable=False),
)

# Records a kiosk said it lost (its file lost them, or they no longer match their hash: the kiosk's
# models/hwm.py), as the problem record. Rows of status "lost" cover only seqs the office does not
# hold (the contiguous mark walks past them); a claim over seqs the office holds is kept as
# "refused" with how many it holds (those records stay): a kiosk cannot unsay what it sent.
lost_range = Table(
    "office_lost_range",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kiosk_id", String(36), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("reason", String(16), nullable=False),  # missing | damaged (as the kiosk said)
    Column("status", String(16), nullable=False),  # lost | refused
    Column("held", BigInteger, nullable=False, server_default="0"),  # refused: seqs of the claim the office holds
    Column("received_at", Float, nullable=False),
    Index("ix_office_lost_range_kiosk_epoch", "kiosk_id", "epoch", "first_seq"),
)

# The office's lists: one version counter per list, bumped in the transaction that changes it.
office_list = Table(
    "office_list",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("updated_at", Float, nullable=False, server_default="0"),
)

# The current items of every list; a removed item stays as a tombstone (deleted) so a delta
# since an older version can tell the kiosk to remove it.
list_item = Table(
    "office_list_item",
    metadata,
    Column("list_name", String(32), primary_key=True),
    Column("item_key", String(128), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("version", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False, server_default="0"),
    # A unit entry's community (unit codes are unique inside a community only): only that
    # community's kiosks take it. NULL: street-wide (a person entry, every other list's items, a
    # unit entry from before communities that a clerk has not placed yet).
    Column("community_id", Integer),
)
Index("ix_office_list_item_version", list_item.c.list_name, list_item.c.version)

# The office's administrators: a name and the sha256 of their bearer token. The token itself is
# shown once when it is made and never stored (a stolen database hands out no admin rights).
# A removed admin keeps the row (removed_at), so the audit trail still names a real person.
admin = Table(
    "office_admin",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("removed_at", Float),
)

# Who did what at the office, and why: every opening of sealed personal data, every purge, every
# change made through the admin API. Rows are only ever added.
audit = Table(
    "office_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("admin", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("record_id", String(36)),
    Column("reason", Text, nullable=False, server_default=""),
    Column("outcome", String(16), nullable=False, server_default="ok"),
    Column("via", String(8), nullable=False, server_default="cli"),  # cli | http
    Column("detail", Text, nullable=False, server_default="{}"),  # JSON
)
Index("ix_office_audit_at", audit.c.at)

# The office's own settings (not sent to kiosks), e.g. how long it keeps personal data.
setting = Table(
    "office_setting",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# The day report's counts (migration 0009_office_day_counts), one row per group of records, kept
# up to date by the ingest in the transaction that stores a batch (`ingest.count_days`).
# Grouping values are '' instead of NULL (they are part of the primary key), and `reasons` is cut
# to REASONS_KEY_CHARS so a poison payload can never make the key too long and block a batch.
REASONS_KEY_CHARS = 256
day_count = Table(
    "office_day_count",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("kiosk_id", String(36), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("direction", String(3), primary_key=True, server_default=""),
    Column("verdict", String(8), primary_key=True, server_default=""),
    Column("reasons", String(REASONS_KEY_CHARS), primary_key=True, server_default=""),
    Column("detail", String(32), primary_key=True, server_default=""),
    Column("n", BigInteger, nullable=False),
)

# Each pass's last allowed passage at each checkpoint (migration 0028_last_passages), and each
# registration's (its sign-out): who is inside now, without reading two days of passages at report
# time (sync/office/inside.py). One row per (kiosk, pass or registration id), kept by the ingest in
# the transaction that stores a batch, replaced only by a passage the kiosk wrote later (its hybrid
# logical clock, then its seq, then the record id), so late and out-of-order batches leave the right
# one. The columns are the record's own (ingest.build_row). A purge that drops a day drops its rows.
last_passage = Table(
    "office_last_passage",
    metadata,
    Column("kiosk_id", String(36), primary_key=True),
    Column("ref", String(36), primary_key=True),  # the pass id, or the registration id it signs out
    Column("hlc", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("record_id", String(36), nullable=False),
    Column("corrected_time", Float, nullable=False),
    Column("day", String(10), nullable=False),
    Column("direction", String(3)),
    Column("unit", String(32)),
    Column("pass_kind", Integer),
)
# The day report reads the rows of its checkpoints in a two-day window; a purge, the old days.
Index("ix_office_last_passage_kiosk_time", last_passage.c.kiosk_id, last_passage.c.corrected_time)
Index("ix_office_last_passage_day", last_passage.c.day)

# Every pass a kiosk issued and synced (its `pass_issued` records): which kiosk, and when the
# office first heard of it. The office vouches for these alone once that kiosk is revoked, and
# knows from them whose community a revoked pass belongs to (sync/office/vouch.py).
office_pass = Table(
    "office_pass",
    metadata,
    Column("pass_id", String(36), primary_key=True),
    Column("kiosk_id", String(36), nullable=False, index=True),
    Column("record_id", String(36), nullable=False),
    Column("valid_to", BigInteger),
    Column("received_at", Float, nullable=False),
)

# Every revocation a kiosk pushed (its `pass_revoked` records) and what the office made of it:
# published in the revoked list, held for the clerk (a pass the office never saw issued, or past
# the kiosk's daily rate), refused (another community's pass), rejected by the clerk, or
# withdrawn because the kiosk was revoked after it sent it.
revocation = Table(
    "office_revocation",
    metadata,
    Column("record_id", String(36), primary_key=True),
    Column("kiosk_id", String(36), nullable=False),
    Column("pass_id", String(36), nullable=False, index=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("expires", BigInteger),
    Column("received_at", Float, nullable=False),
    Column("status", String(16), nullable=False),  # published | held | refused | rejected | withdrawn
    Column("why", String(16), nullable=False, server_default=""),  # unknown_pass | rate | other_community
    Column("decided_by", String(64)),
    Column("decided_at", Float),
)
Index("ix_office_revocation_kiosk_status", revocation.c.kiosk_id, revocation.c.status, revocation.c.received_at)

# The console's accounts (`kakou office user add`, sync/office/users.py): a clerk of the street,
# of one community, or one who only reads. Only the argon2id hash of the password is kept. A
# disabled account keeps its row, so the audit trail still names a real person.
user = Table(
    "office_user",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # street | community | viewer
    Column("community", Text),  # the community a `community` account sees; NULL for the others
    Column("password_hash", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("password_at", Float, nullable=False),  # sessions begun before it are over
    Column("disabled_at", Float),
)

# The console's sessions: the sha256 of the cookie's token (the cookie itself is never stored),
# the account, its CSRF token, and when it was last used (the idle timeout).
session = Table(
    "office_session",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_name", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)

# What the office must be told at once (sync/office/alerts.py): made as records arrive (ingest)
# and by the sweep (a silent gate, a fever not rechecked). `key` makes each alert once however
# often the same record or the same silence is seen. Acknowledged by a clerk: who, when, a note.
alert = Table(
    "office_alert",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(128), nullable=False, unique=True),
    Column("at", Float, nullable=False),  # when it happened (the record's corrected time, or the sweep's)
    Column("made_at", Float, nullable=False),  # when the office made it
    Column("kiosk_id", String(36), nullable=False, index=True),
    Column("kind", String(24), nullable=False),  # see alerts.KINDS
    Column("reason", String(32), nullable=False, server_default=""),  # a models.reasons code, or ''
    Column("record_id", String(36)),
    Column("detail", Text, nullable=False, server_default="{}"),  # JSON
    Column("ack_by", String(64)),
    Column("ack_at", Float),
    Column("ack_note", Text),
    # Withdrawn by the office when a record reaching it later shows the alert was wrong (alerts.py):
    # when, by whom ('office'), why (JSON {"zh": ..., "en": ...}). An acknowledgement stays.
    Column("withdrawn_at", Float),
    Column("withdrawn_by", String(64)),
    Column("withdrawn_why", Text),
)
Index(
    "ix_office_alert_withdrawn_at",
    alert.c.withdrawn_at,
    postgresql_where=text("withdrawn_at IS NOT NULL"),
    sqlite_where=text("withdrawn_at IS NOT NULL"),
)


def postgresql_metadata() -> MetaData:
    """The tables as the migrations build them on PostgreSQL: `metadata`, with office_record
    partitioned by day (its keys holding the day, above)."""
    pg = MetaData()
    for table in metadata.sorted_tables:
        if table.name != record.name:
            table.to_metadata(pg)
    _record_table(pg, partitioned=True)
    return pg
