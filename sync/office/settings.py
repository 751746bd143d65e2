"""The office's settings: one object, from `KAKOU_OFFICE_*` environment variables and the command line.

`kakou office serve` fills it from its flags and hands it to its uvicorn workers through the
same environment variables (`as_environ`), so a worker process reads exactly what the command
was given. Tests build it from keyword arguments (`create_app(office_dir, database_url, ...)`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.errors import KakouError

ENV_PREFIX = "KAKOU_OFFICE_"
ENV_OFFICE_DIR = "KAKOU_OFFICE_DIR"
ENV_DATABASE_URL = "KAKOU_OFFICE_DATABASE_URL"
ENV_READ_DATABASE_URL = "KAKOU_OFFICE_READ_DATABASE_URL"


def default_office_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("kakou-office", appauthor=False))


class OfficeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, populate_by_name=True, extra="ignore", frozen=True)

    # KAKOU_OFFICE_DIR (not ..._OFFICE_DIR): the name the office has always read.
    office_dir: Path = Field(
        default_factory=default_office_dir, validation_alias=AliasChoices("office_dir", ENV_OFFICE_DIR)
    )
    database_url: str | None = None  # KAKOU_OFFICE_DATABASE_URL; unset: SQLite in the office dir
    # KAKOU_OFFICE_READ_DATABASE_URL: a PostgreSQL streaming replica of database_url for the reads
    # that need not see the newest commit (reports, status, the console's pages, exports):
    # `sync.office.replica`. Unset: every read goes to the primary.
    read_database_url: str | None = None
    # A replica that did not answer is left alone this many seconds (doubling while it stays
    # away, up to read_retry_max) before a read tries it again: until then reads go to the
    # primary at once, so a dead replica does not cost every request a connect timeout.
    read_retry: float = Field(default=5.0, gt=0, le=3600)
    read_retry_max: float = Field(default=60.0, gt=0, le=86400)
    read_connect_timeout: int = Field(default=2, ge=1, le=60)  # seconds (libpq's least is 2)
    # A replica further behind than this (seconds) is not read from: the primary is. 0: no limit.
    read_max_lag: float = Field(default=300.0, ge=0)
    # Pushes in flight at once per worker process; one more is answered 429 with Retry-After.
    max_inflight: int = Field(default=16, ge=1)
    # Of those, how many one kiosk may hold (a kiosk pushes one batch at a time; a rogue kiosk
    # with its real key must not take every slot).
    max_inflight_per_kiosk: int = Field(default=2, ge=1)
    # Seconds a request's whole body may take to arrive (408 after, the connection closed). A
    # push holds no upload slot while its body arrives; this bounds what a slow client holds.
    body_timeout: float = Field(default=30.0, gt=0, le=3600)
    retry_after: int = Field(default=2, ge=0)  # seconds, in every 429 and 503 answer
    # Guessing enrolment codes and admin tokens (`sync.office.tries`): failed tries per client
    # address, refilled over tries_window seconds (per worker process); wrong enrolment codes
    # an hour office-wide (in the database); near misses that lock a code.
    tries_per_address: int = Field(default=10, ge=1)
    tries_window: float = Field(default=600.0, gt=0)
    enrol_wrong_per_hour: int = Field(default=100, ge=1)
    code_wrong_tries: int = Field(default=5, ge=1)
    # The API docs page at /v1/docs (Swagger UI, served from the package: `sync.office.docs`).
    # Off unless asked for (`kakou office serve --docs`, KAKOU_OFFICE_DOCS=1).
    docs: bool = False
    # The console (sync/office/console): a session unused for this many minutes is over.
    console_idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    # How often each office process sweeps for the alerts no record brings (sync/office/sweeper.py).
    sweep_seconds: float = Field(default=30.0, gt=0, le=3600)
    migrate: bool = True  # bring the database schema up to date at start (workers: already done)
    # Test hook: seconds to wait inside the push transaction, before COMMIT, so a fault test can
    # kill the server mid-transaction. Unset in real use.
    test_commit_delay: float = Field(default=0.0, ge=0)

    @field_validator("office_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return Path(value).expanduser()

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @classmethod
    def from_values(cls, **values: Any) -> OfficeSettings:
        """Given values win, values left None come from the environment or the defaults; a bad
        value (say KAKOU_OFFICE_MAX_INFLIGHT=lots) is one clear `KakouError`, not a traceback."""
        try:
            return cls(**{k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "?"
            raise KakouError(
                f"街道服务器的设置不对：{where}（{first.get('msg', '')}）。请检查 {ENV_PREFIX}* 环境变量。",
                f"bad office setting {where}: {first.get('msg', '')}. Check the {ENV_PREFIX}* environment variables.",
                code="settings",
            ) from None

    def as_environ(self) -> dict[str, str]:
        """The environment that makes `OfficeSettings()` in another process equal to this one."""
        env = {
            ENV_OFFICE_DIR: str(self.office_dir),
            f"{ENV_PREFIX}MAX_INFLIGHT": str(self.max_inflight),
            f"{ENV_PREFIX}MAX_INFLIGHT_PER_KIOSK": str(self.max_inflight_per_kiosk),
            f"{ENV_PREFIX}BODY_TIMEOUT": str(self.body_timeout),
            f"{ENV_PREFIX}RETRY_AFTER": str(self.retry_after),
            f"{ENV_PREFIX}DOCS": "1" if self.docs else "0",
            f"{ENV_PREFIX}TRIES_PER_ADDRESS": str(self.tries_per_address),
            f"{ENV_PREFIX}TRIES_WINDOW": str(self.tries_window),
            f"{ENV_PREFIX}ENROL_WRONG_PER_HOUR": str(self.enrol_wrong_per_hour),
            f"{ENV_PREFIX}CODE_WRONG_TRIES": str(self.code_wrong_tries),
            f"{ENV_PREFIX}READ_RETRY": str(self.read_retry),
            f"{ENV_PREFIX}READ_RETRY_MAX": str(self.read_retry_max),
            f"{ENV_PREFIX}READ_CONNECT_TIMEOUT": str(self.read_connect_timeout),
            f"{ENV_PREFIX}READ_MAX_LAG": str(self.read_max_lag),
            f"{ENV_PREFIX}CONSOLE_IDLE_MINUTES": str(self.console_idle_minutes),
        }
        if self.database_url:
            env[ENV_DATABASE_URL] = self.database_url
        if self.read_database_url:
            env[ENV_READ_DATABASE_URL] = self.read_database_url
        return env
