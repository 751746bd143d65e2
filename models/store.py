"""The kiosk's store: its data directory, database, keys, and the state verdicts need.

`KioskStore.open(data_dir)` is the one way in, for the duty desk, the commands and the tests.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col
from sqlmodel import select as _select

from models import keys
from models.clock import PLAUSIBLE_SINCE, hlc_wall_ms
from models.engine import open_engine, writer
from models.errors import StoreError
from models.hwm import LostRange, OutboxMark
from models.policy import Policy
from models.tables import (
    STATE_ROW_ID,
    Checkpoint,
    KioskState,
    ListEntry,
    ListVersion,
    PolicySetting,
    Revocation,
    TrustedKey,
)
from models.verdict import GateState, TrustEntry
from models.words import Words

if TYPE_CHECKING:
    from collections.abc import Callable

    from nacl.signing import SigningKey
    from sqlmodel import Session

    from models.privacy import LookupCost

DB_FILE = "kakou.db"
_WROTE = "kakou_wrote"  # on a pooled connection's info: a write transaction ran on it
_log = logging.getLogger("kakou.models.store")


def _note_writer(conn: Connection) -> None:
    if conn.get_execution_options().get("immediate"):
        conn.info[_WROTE] = True


ENV_DATA_DIR = "KAKOU_DATA_DIR"


def default_data_dir() -> Path:
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("kakou", appauthor=False))


@dataclass
class CheckpointInfo:
    id: int
    name: str
    community: str
    street: str
    number: int


def vouched_set(stored: str | None) -> frozenset[str] | None:
    """A revoked key's vouched pass ids as stored (JSON list); a damaged list vouches for nothing."""
    if stored is None:
        return None
    try:
        ids = json.loads(stored)
    except ValueError:
        return frozenset()
    return frozenset(str(i) for i in ids) if isinstance(ids, list) else frozenset()


_LISTS_STAMP = text(
    "SELECT"
    " (SELECT count(*) || ':' || coalesce(max(revoked_at), 0) FROM revocation),"
    " (SELECT count(*) || ':' || coalesce(max(id), 0) || ':' || coalesce(sum(coalesce(until, 0)), 0)"
    "  || ':' || coalesce(sum(length(note)), 0) FROM list_entry),"
    " (SELECT coalesce(group_concat(key || '=' || value, ';'), '') FROM policy),"
    " (SELECT coalesce(group_concat(name || '=' || version || '@' || updated_at, ';'), '') FROM list_version),"
    " (SELECT count(*) || ':' || coalesce(sum(coalesce(revoked_after, 0)), 0) || ':'"
    "  || coalesce(sum(coalesce(not_after, 0)), 0) || ':' || coalesce(sum(length(coalesce(vouched, ''))), 0)"
    "  FROM trusted_key),"
    " (SELECT coalesce(group_concat(number || ':' || coalesce(community_id, ''), ';'), '') FROM checkpoint),"
    " (SELECT coalesce(enrolled_at, 0) FROM kiosk_state)"
)


class KioskStore:
    """One kiosk's data: the SQLite file, its keys, and cached lists/policy."""

    mark: OutboxMark  # the outbox's mark outside the file, opened by `open` (models/hwm.py)

    def __init__(self, data_dir: Path, engine: Engine):
        self.data_dir = data_dir
        self.engine = engine
        self.writer = writer(engine)  # transactions that write: BEGIN IMMEDIATE
        self._lock = threading.Lock()
        self._gate: GateState | None = None
        self._gate_stamp: tuple[Any, ...] | None = None
        self._policy: Policy | None = None
        self._signing_key: SigningKey | None = None
        self._lookup_key: bytes | None = None
        self._lookup_costs: list[LookupCost] | None = None
        self._hlc_ms = 0
        self._opened_tip = (1, 0)

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, data_dir: Path | str | None = None, *, check: bool = True) -> KioskStore:
        """`check=False` skips the start-up quick_check, which reads the whole file (about 1 s
        per GB warm, 12 s cold on the benchmark box with 1M passages); the duty desk then runs
        `check_integrity()` in a worker after the duty screen is up."""
        data_dir = Path(data_dir) if data_dir else default_data_dir()
        engine = open_engine(data_dir / DB_FILE, check=check)
        store = cls(data_dir, engine)
        store._ensure_state()
        store._check_mark()
        return store

    # -- the outbox's mark outside the file (models/hwm.py) ------------------------------------
    def _check_mark(self) -> None:
        """Compare the file's newest (epoch, seq) with the mark kept outside it. Records the
        mark says were committed and the file no longer holds are kept as lost (outbox_lost:
        the words, and the office is told at the next push), and the numbering goes on after
        the mark's, so no `seq` is ever handed out twice. Then every write transaction moves
        the mark (`_after_write`)."""
        from sqlalchemy import event

        from models.hwm import compare
        from models.outbox import note_lost

        try:
            self.mark = OutboxMark(self.data_dir)
        except OSError as exc:
            raise StoreError(
                f"无法打开记录编号文件 {self.data_dir}：{exc.strerror}",
                f"cannot open the record mark file in {self.data_dir}: {exc.strerror}",
                code="mark_unreadable",
            ) from exc
        db = self._opened_tip  # read by _ensure_state: the file's tip as opened
        lost = compare(db, self.mark.current)
        if lost:
            assert self.mark.current is not None  # compare finds nothing without a mark
            mark_epoch, mark_seq = self.mark.current
            now = time.time()
            with self.writer.begin() as conn:
                for epoch, first, last in lost:
                    note_lost(conn, epoch, first, last, "missing", now)
                if mark_epoch == db[0]:
                    # The next record takes the number after the last one ever committed.
                    conn.execute(
                        text("UPDATE kiosk_state SET last_seq = :m WHERE id = :id AND last_seq < :m"),
                        {"m": mark_seq, "id": STATE_ROW_ID},
                    )
            _log.error("records missing from the kiosk file: %s (mark %s, file %s)", lost, self.mark.current, db)
            self.mark.reset(*self._file_tip())
        # A mark behind the file (new, or a cut between a commit and its mark) is left as it is:
        # the next commit moves it, and the open does not pay an fsync for it.
        event.listen(self.engine, "begin", _note_writer)
        event.listen(self.engine.pool, "checkin", self._after_write)

    def _file_tip(self) -> tuple[int, int]:
        with self.engine.connect() as conn:
            epoch, last = conn.execute(
                text("SELECT epoch, last_seq FROM kiosk_state WHERE id = :id"), {"id": STATE_ROW_ID}
            ).one()
            conn.rollback()
        return int(epoch), int(last)

    def _after_write(self, dbapi_conn: Any, record: Any) -> None:
        """Pool check-in after a write transaction ended: the mark takes what the file now holds
        as committed (read back, so a failed or rolled-back commit never moves it)."""
        if not record.info.pop(_WROTE, False) or dbapi_conn is None:
            return
        try:
            row = dbapi_conn.execute("SELECT epoch, last_seq FROM kiosk_state WHERE id = 1").fetchone()
            if row is not None:
                self.mark.write_soon(int(row[0]), int(row[1]))
        except Exception:  # the record is saved; a mark that lags only weakens the next check
            _log.exception("the outbox mark could not be written")

    def lost_ranges(self) -> list[LostRange]:
        from models.outbox import lost_ranges

        with self.engine.connect() as conn:
            ranges = lost_ranges(conn)
            conn.rollback()
        return ranges

    def lost_notice(self) -> Words | None:
        """The words for records this kiosk lost (None: none): the duty screen, every command."""
        from models.hwm import lost_words

        return lost_words(self.lost_ranges())

    def check_integrity(self, pause: Callable[[], None] | None = None) -> None:
        """The whole file, on its own connection (safe from a worker thread while the desk
        records; a read never blocks the writer in WAL mode): SQLite's full integrity_check, then
        every outbox record against the hash written with it, `pause` called between slices
        (models/outbox.py damaged_records). StoreError(code="store_damaged") with the plain words
        when either fails."""
        from models.engine import damaged_error, integrity_check
        from models.outbox import damaged_records

        integrity_check(self.engine)
        with self.engine.connect() as conn:
            bad = damaged_records(conn, pause=pause)
            conn.rollback()
        if bad:
            raise damaged_error(f"{len(bad)} records do not match their hash", self.data_dir / DB_FILE)

    def close(self) -> None:
        from models.engine import checkpoint_and_close

        checkpoint_and_close(self.engine)
        mark = getattr(self, "mark", None)
        if mark is not None:
            mark.close()

    def _ensure_state(self) -> None:
        with self.writer.begin() as conn:
            row = conn.execute(
                select(col(KioskState.hlc_last), col(KioskState.epoch), col(KioskState.last_seq)).where(
                    col(KioskState.id) == STATE_ROW_ID
                )
            ).first()
            self._opened_tip = (int(row[1]), int(row[2])) if row is not None else (1, 0)
            if row is None:
                # A new kiosk file: its signing key is made now, before the row that says the
                # kiosk exists (a power cut between the two leaves a key and no row, which the
                # next open takes up). Afterwards a missing key is refused, never replaced.
                self._signing_key = keys.load_signing_key(self.data_dir, create=True)
                conn.execute(
                    insert(KioskState).values(
                        id=STATE_ROW_ID,
                        kiosk_id=str(uuid.uuid4()),
                        epoch=1,
                        last_seq=0,
                        acked_seq=0,
                        hlc_last=0,
                        created_at=time.time(),
                        pin_failures=0,
                        pin_locked_until=0.0,
                    )
                )
                self._hlc_ms = 0
            else:
                self._hlc_ms = hlc_wall_ms(row[0])
        # The kiosk's own issuing key is made at setup and trusted from the start (a kiosk
        # not yet enrolled trusts its own key only).
        self.trust_own_key()
        self.destroy_spent_handover_key()

    def destroy_spent_handover_key(self) -> bool:
        """Once enrolled, the hand-over key has been given to the office and must not stay here:
        with it, whoever copies the data dir opens every registration sealed before enrolment.
        Enrolment removes it after its transaction commits; this catches a power cut in between."""
        from models.privacy import HANDOVER_KEY

        path = self.data_dir / keys.KEY_DIR / HANDOVER_KEY
        if not path.exists():
            return False
        with self.engine.connect() as conn:
            enrolled = conn.execute(
                select(col(KioskState.enrolled_at)).where(col(KioskState.id) == STATE_ROW_ID)
            ).scalar()
            conn.rollback()
        if not enrolled:
            return False
        from models.privacy import destroy_key_file

        destroy_key_file(path)
        return True

    # -- keys --------------------------------------------------------------------------------
    @property
    def signing_key(self) -> SigningKey:
        if self._signing_key is None:
            self._signing_key = keys.load_signing_key(self.data_dir)
        return self._signing_key

    @property
    def lookup_key(self) -> bytes:
        if self._lookup_key is None:
            self._lookup_key = keys.load_or_create_secret(self.data_dir, keys.LOOKUP_KEY)
        return self._lookup_key

    def reset_keys(self) -> None:
        """Forget cached keys so the next use reads the files again (after enrolment
        replaced the lookup key with the office's community key)."""
        self._signing_key = None
        self._lookup_key = None

    def lookup_cost(self) -> LookupCost:
        """The parameters of new look-up hashes (the office's policy, within the kiosk's floor)."""
        from models.privacy import LookupCost

        return LookupCost.from_policy(self.policy())

    def lookup_costs(self) -> list[LookupCost]:
        """Every parameter set a look-up must try: the current one first, then any other found
        on stored registrations or list entries (made before the office changed its policy;
        retention purges them). Cached until the next `invalidate`."""
        from models.privacy import costs_in

        with self._lock:
            if self._lookup_costs is not None:
                return self._lookup_costs
        current = self.lookup_cost()
        with self.engine.connect() as conn:
            # One hash per parameter tag ("t2m16384:") of each column: what the tags are is all we need.
            tags = conn.execute(
                text(
                    " UNION ".join(
                        f"SELECT min({c}) FROM {t} WHERE {c} IS NOT NULL GROUP BY substr({c}, 1, instr({c}, ':'))"
                        for t, c in (
                            ("registration", "id_hash"),
                            ("registration", "phone_hash"),
                            ("list_entry", "person_hash"),
                        )
                    )
                )
            ).scalars()
            found = costs_in(tags)
            conn.rollback()
        costs = [current, *sorted(found - {current})]
        with self._lock:
            self._lookup_costs = costs
        return costs

    def registration_sealing_key(self) -> bytes:
        """Where a registration's full numbers are sealed: the office's key once enrolled; before,
        this kiosk's hand-over key (made now if need be), which enrolment hands to the office and
        then destroys (`sync.kiosk.apply_enrolment`)."""
        office = self.office_sealing_key()
        if office is not None:
            return office
        from models.privacy import HANDOVER_KEY, handover_public

        return handover_public(keys.load_or_create_secret(self.data_dir, HANDOVER_KEY))

    def handover_key(self) -> bytes | None:
        """The private hand-over key, while it exists (before enrolment, or a power cut after it)."""
        from models.privacy import HANDOVER_KEY

        path = self.data_dir / keys.KEY_DIR / HANDOVER_KEY
        if not path.exists():
            return None
        return keys.load_or_create_secret(self.data_dir, HANDOVER_KEY, create=False)

    def office_sealing_key(self) -> bytes | None:
        """The office's public sealing key, known once the kiosk is enrolled."""
        path = self.data_dir / keys.KEY_DIR / keys.OFFICE_SEALING_PUBLIC
        if not path.exists():
            return None
        try:
            key = bytes.fromhex(path.read_text("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            key = b""
        return key if len(key) == 32 else None

    def trust_own_key(self) -> None:
        from models.passtoken import kid_for

        public = bytes(self.signing_key.verify_key)
        with self.writer.begin() as conn:
            exists = conn.execute(select(col(TrustedKey.kid)).where(col(TrustedKey.public_key) == public.hex())).first()
            if exists is None:
                conn.execute(
                    insert(TrustedKey).values(
                        public_key=public.hex(),
                        kid=kid_for(public),
                        label="本机 this kiosk",
                        issuer="kiosk",
                        source="local",
                    )
                )

    # -- identity ----------------------------------------------------------------------------
    def session(self) -> Session:
        """An ORM session (read what it returns before it closes; writes go through facts)."""
        from sqlmodel import Session

        return Session(self.engine, expire_on_commit=False)

    def kiosk_state(self) -> KioskState:
        with self.session() as s:
            state = s.get(KioskState, STATE_ROW_ID)
        assert state is not None, "the state row is made when the store opens"
        return state

    def checkpoint(self) -> CheckpointInfo | None:
        with self.session() as s:
            row = s.exec(_select(Checkpoint).order_by(col(Checkpoint.id))).first()
        if row is None:
            return None
        assert row.id is not None  # read back from the table: the primary key is set
        return CheckpointInfo(row.id, row.name, row.community, row.street, row.number)

    def is_set_up(self) -> bool:
        return self.checkpoint() is not None

    def set_up(self, name: str, community: str, street: str = "", number: int = 1) -> CheckpointInfo:
        with self.writer.begin() as conn:
            conn.execute(insert(Checkpoint).values(name=name, community=community, street=street, number=number))
        self.invalidate()
        info = self.checkpoint()
        assert info is not None
        return info

    # -- time --------------------------------------------------------------------------------
    def trusted_now(self) -> float:
        """The time verdicts are judged at.

        A kiosk without an RTC may read 1970 (or its build date) after a power cut until NTP
        answers; a pass must not turn "not yet valid" because of that, so an implausible wall
        clock is replaced by the newest record's time. A plausible wall clock is used as it is,
        even when it is behind the newest record: flooring at the HLC would let one bad NTP
        answer a year ahead expire every pass until that date, long after the clock is fixed.
        """
        wall = time.time()
        if wall < PLAUSIBLE_SINCE:
            return max(wall, self._hlc_ms / 1000)
        return wall

    def note_hlc(self, hlc: int) -> None:
        self._hlc_ms = max(self._hlc_ms, hlc_wall_ms(hlc))

    def newest_record_time(self) -> float | None:
        """Wall seconds of the newest record's HLC (read at open, kept by every record this
        process makes); None before the first record. For models.clock_health."""
        return self._hlc_ms / 1000 if self._hlc_ms else None

    # -- policy and lists ----------------------------------------------------------------------
    def policy(self) -> Policy:
        if self._policy is None:
            self._take_stamp()
            with self.engine.connect() as conn:
                rows = conn.execute(select(col(PolicySetting.key), col(PolicySetting.value))).all()
                conn.rollback()
            self._policy = Policy.from_settings({k: json.loads(v) for k, v in rows})
        return self._policy

    def set_policy(self, **values: Any) -> Policy:
        from models.policy import coerce

        clean = {k: coerce(k, v) for k, v in values.items()}
        with self.writer.begin() as conn:
            for key, value in clean.items():
                conn.execute(
                    text("INSERT INTO policy (key, value) VALUES (:k, :v) ON CONFLICT(key) DO UPDATE SET value = :v"),
                    {"k": key, "v": json.dumps(value)},
                )
        self.invalidate()
        return self.policy()

    def gate_state(self) -> GateState:
        with self._lock:
            if self._gate is None:
                self._take_stamp()
                self._gate = self._load_gate_state()
            return self._gate

    def invalidate(self) -> None:
        with self._lock:
            self._gate = None
            self._policy = None
            self._lookup_costs = None
            self._gate_stamp = None

    def _take_stamp(self) -> None:
        # Before the first of the cached copies is read: a change committed while they load
        # differs from it, and shows at the next look.
        if self._gate_stamp is None:
            self._gate_stamp = self.lists_stamp()

    def lists_stamp(self) -> tuple[Any, ...]:
        """A cheap fingerprint of what the gate state and policy are read from (revocations, the
        lists, policy, trusted keys, the checkpoint): another process that changes any of them
        (`kakou pass revoke`, `kakou sync`, a list pulled by the command line) changes it."""
        with self.engine.connect() as conn:
            row = conn.execute(_LISTS_STAMP).one()
            conn.rollback()
        return tuple(row)

    def reload_if_changed(self) -> bool:
        """Drop the cached gate state and policy if another process changed what they are read
        from since they were loaded (the open desk calls this every few seconds). True if so."""
        loaded = self._gate_stamp
        if loaded is None:
            return False
        if self.lists_stamp() == loaded:
            return False
        self.invalidate()
        return True

    def _load_gate_state(self) -> GateState:
        with self.session() as conn:
            cp_row = conn.exec(_select(Checkpoint.number, Checkpoint.community_id).order_by(col(Checkpoint.id))).first()
            cp, community_id = cp_row if cp_row else (None, None)
            trust: dict[int, list[TrustEntry]] = {}
            for key in conn.exec(_select(TrustedKey)):
                trust.setdefault(key.kid, []).append(
                    TrustEntry(
                        bytes.fromhex(key.public_key),
                        key.label,
                        key.not_after,
                        key.revoked_after,
                        key.issuer,
                        key.community_id,
                        key.community or "",
                        key.checkpoint,
                        vouched=vouched_set(key.vouched),
                    )
                )
            revoked = dict(conn.exec(_select(Revocation.pass_id, Revocation.reason)).all())
            q_units: dict[str, float | None] = {}
            q_persons: dict[str, float | None] = {}
            w_units: dict[str, str] = {}
            w_persons: dict[str, str] = {}
            for e in conn.exec(_select(ListEntry)):
                if e.list_name == "quarantine":
                    if e.unit_code:
                        q_units[e.unit_code] = e.until
                    if e.person_hash:
                        q_persons[e.person_hash] = e.until
                elif e.list_name == "watch":
                    if e.unit_code:
                        w_units[e.unit_code] = e.note
                    if e.person_hash:
                        w_persons[e.person_hash] = e.note
            lists = list(conn.exec(_select(ListVersion)))
            versions = {v.name: v.version for v in lists}
            updated = [v.updated_at for v in lists if v.updated_at]
            enrolled = conn.exec(_select(KioskState.enrolled_at)).first()
        return GateState(
            checkpoint_number=cp if cp else 1,
            community_id=community_id if enrolled else None,
            trust=trust,
            revoked=revoked,
            quarantine_units=q_units,
            quarantine_persons=q_persons,
            watch_units=w_units,
            watch_persons=w_persons,
            # A kiosk that is not enrolled keeps its own lists: there is nothing to be stale.
            lists_updated_at=(min(updated) if updated else enrolled) if enrolled else None,
            versions=versions,
        )

    def add_list_entry(
        self,
        list_name: str,
        unit_code: str | None = None,
        person_hash: str | None = None,
        until: float | None = None,
        note: str = "",
    ) -> None:
        with self.writer.begin() as conn:
            conn.execute(
                insert(ListEntry).values(
                    list_name=list_name,
                    unit_code=unit_code,
                    person_hash=person_hash,
                    until=until,
                    note=note,
                    source="local",
                )
            )
        self.invalidate()

    def pending(self) -> tuple[int, float | None]:
        from models.outbox import pending_count

        with self.engine.connect() as conn:
            result = pending_count(conn)
            conn.rollback()
        return result

    def set_acked(self, seq: int) -> None:
        with self.writer.begin() as conn:
            conn.execute(update(KioskState).where(col(KioskState.id) == STATE_ROW_ID).values(acked_seq=seq))
