"""Application settings, read from the environment and `.env` files.

The seed's variable names are kept exactly (`DATABASE_URL`, `ACE_API_URL`, `SECRET_KEY`,
`ALGORITHM`, `ACCESS_TOKEN_EXPIRE_MINUTES`, `REFRESH_TOKEN_EXPIRE_DAYS`); everything else
has a safe default and is listed in `.env.example`.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.connection.urls import to_async_url

REPO_ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "secret", "your-secret", "dev"})
MIN_SECRET_BYTES = 32


class AppEnv(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SettingsError(RuntimeError):
    """Raised at start-up when the configuration cannot be used safely."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=(REPO_ROOT / ".env", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    app_env: AppEnv = AppEnv.development
    data_dir: Path = REPO_ROOT / "data"

    # --- seed names -------------------------------------------------------------------------
    database_url: str = ""
    ace_api_url: str = "https://api.aceproject.com/"
    secret_key: SecretStr = SecretStr("")
    algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_expire_minutes: int = Field(default=30, ge=1, le=24 * 60)
    refresh_token_expire_days: int = Field(default=7, ge=1, le=365)

    # --- tokens -----------------------------------------------------------------------------
    jwt_issuer: str = "acehub"
    jwt_audience: str = "acehub-api"
    # A rotated refresh token reused this soon, while its successor is unused, is a client
    # racing itself: refused without revoking the session (see auth_service.refresh).
    refresh_reuse_grace_seconds: int = Field(default=10, ge=0, le=300)

    # --- database ---------------------------------------------------------------------------
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    db_echo: bool = False
    # After a committed write of at least ANALYZE_MIN_ROWS rows to a table, ANALYZE it when it
    # was never analyzed or the change (plus rows modified since its last analyze) reaches
    # ANALYZE_SHARE of its rows: the planner then has statistics for reads right after, instead
    # of waiting for autovacuum (PostgreSQL only; see app/connection/statistics.py). The floor
    # is autovacuum's own (50): a 100-row projects table left unanalyzed is estimated at 1 row
    # and turns a 200k-task page into a nested loop over every task.
    analyze_min_rows: int = Field(default=50, ge=1)
    analyze_share: float = Field(default=1.0, ge=0)
    analyze_lock_timeout_seconds: float = Field(default=1.0, gt=0)
    analyze_statement_timeout_seconds: float = Field(default=10.0, gt=0)

    # --- HTTP -------------------------------------------------------------------------------
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: str = "INFO"
    # When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; unset: open.
    metrics_token: SecretStr | None = None

    # --- ACE client -------------------------------------------------------------------------
    ace_timeout_seconds: float = Field(default=30.0, gt=0)
    ace_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    ace_max_retries: int = Field(default=2, ge=0, le=5)
    ace_retry_base_seconds: float = Field(default=0.25, ge=0)
    ace_max_response_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    ace_breaker_failures: int = Field(default=5, ge=1)
    ace_breaker_reset_seconds: float = Field(default=30.0, gt=0)
    ace_page_size: int = Field(default=500, ge=1, le=1000)

    # --- rate limits (the `limits` notation: "10/15 minutes") --------------------------------
    # Failed sign-ins per (account, username, client address), refused past the limit; per
    # address across usernames (not applied to the address's known-good usernames); refreshes
    # per address.
    login_limit_per_user: str = "10/15 minutes"
    login_limit_per_ip: str = "50/15 minutes"
    refresh_limit_per_ip: str = "60/minute"
    # A username's failures from every address: past these free ones in the window, an
    # address that is not known-good waits base * 2**(failures - free) seconds (capped) after
    # the last failure. The defaults let a guesser rotating addresses about 30 tries an hour.
    login_slowdown_per_user: str = "10/30 minutes"
    login_slowdown_base_seconds: float = Field(default=2.0, gt=0)
    login_slowdown_max_seconds: float = Field(default=900.0, gt=0)
    # A (username, address) that signed in is known-good this long after its last success.
    login_known_good_days: float = Field(default=30.0, gt=0)

    # --- ACE mirror / sync ------------------------------------------------------------------
    # Every N minutes each worker starts an `auto` sync of every account that has a signed-in
    # ACE admin or manager (0 switches the schedule off).
    sync_interval_minutes: float = Field(default=60.0, ge=0)
    # An incremental sync re-reads tasks modified since the last watermark minus this overlap.
    sync_overlap_days: int = Field(default=1, ge=0, le=30)
    # A full pass (which also mirrors deletions as tombstones) runs when the last one is older.
    sync_full_interval_hours: float = Field(default=24.0, gt=0)
    # Time entries mirrored: those worked in the last N days (incremental runs ask ACE only
    # for the ones modified since the watermark).
    sync_time_entries_days: int = Field(default=365, ge=1)
    # A running job whose heartbeat is older than this is taken as dead (its worker died).
    sync_stale_seconds: float = Field(default=120.0, gt=0)
    # Who runs sync jobs: `queue` (procrastinate on PostgreSQL: the API queues, `acehub
    # worker` processes run them), `in_process` (the API process that accepted the job), or
    # `auto`: the queue on PostgreSQL, in process on SQLite.
    sync_runner: Literal["auto", "queue", "in_process"] = "auto"
    # Queue mode: the periodic syncs' schedule as a cron line (5 fields, or a 6th for
    # seconds); unset: every SYNC_INTERVAL_MINUTES.
    sync_schedule_cron: str | None = None
    # Queue mode: a job whose worker stopped beating is run again, at most this many times
    # in all; a worker is taken for dead after WORKER_STALLED_SECONDS without a beat.
    sync_max_attempts: int = Field(default=3, ge=1, le=20)
    worker_stalled_seconds: float = Field(default=30.0, gt=0)
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0)
    # Sync jobs one worker runs at once (each for another account).
    worker_concurrency: int = Field(default=2, ge=1, le=64)

    # --- batch save ---------------------------------------------------------------------------
    # POST /data/save: most items per request (all lists together) and largest body, in bytes.
    save_max_items: int = Field(default=50_000, ge=1)
    save_max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)

    # --- task logs ----------------------------------------------------------------------------
    # The account's time zone (an IANA name): what "today" is for dates worked.
    report_timezone: str = "UTC"
    # How many days after today a date worked may be (0: not in the future).
    log_future_days: int = Field(default=0, ge=0, le=366)
    # Send the time logs of ACE users to ACE (false: every log stays local to acehub).
    ace_write_back: bool = True

    # --- reports ----------------------------------------------------------------------------
    # The reports' "today" (overdue, workload) is today in REPORT_TIMEZONE above. Days worked
    # are dates, so day/week/month buckets never shift with the zone; weeks start on:
    report_week_start: Literal[
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
    ] = "monday"
    # Every statement of a report (JSON or a download) may run this long, then the report
    # answers 504 REPORT_TIMEOUT (PostgreSQL only: SQLite has no statement timeout).
    report_statement_timeout_seconds: float = Field(default=30.0, gt=0)

    # --- shared state -----------------------------------------------------------------------
    redis_url: str | None = None

    @field_validator("report_week_start", mode="before")
    @classmethod
    def _lower_weekday(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        parsed = _split_csv(value)
        if isinstance(parsed, list):
            return [ip_network(str(item), strict=False) for item in parsed]
        return parsed

    @field_validator("report_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"not a known IANA time zone: {value!r}") from exc
        return value

    @field_validator("redis_url", "metrics_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'acehub.db'}"
        self.database_url = to_async_url(self.database_url)
        self.secret_key = SecretStr(self._checked_secret())
        return self

    def _checked_secret(self) -> str:
        key = self.secret_key.get_secret_value()
        # RFC 7518 §3.2: an HMAC key at least as long as the hash (HS384: 48, HS512: 64 bytes).
        needed = max(MIN_SECRET_BYTES, int(self.algorithm[2:]) // 8)
        weak = key.strip().lower() in PLACEHOLDER_SECRETS or len(key.encode()) < needed
        if not weak:
            return key
        if self.app_env is AppEnv.production:
            raise SettingsError(
                "SECRET_KEY is missing, a placeholder or shorter than "
                f"{needed} bytes (for {self.algorithm}); set a random value, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return self._development_secret()

    def _development_secret(self) -> str:
        """A random key generated once and kept in the data folder, so tokens survive restarts."""
        path = self.data_dir / "secret_key"
        if path.exists():
            stored = path.read_text().strip()
            if len(stored.encode()) >= MIN_SECRET_BYTES:
                return stored
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key + "\n")
        path.chmod(0o600)
        return key

    @property
    def is_production(self) -> bool:
        return self.app_env is AppEnv.production

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def syncs_on_queue(self) -> bool:
        """Sync jobs go through the job queue (run by `acehub worker`), not this process."""
        if self.sync_runner == "auto":
            return not self.is_sqlite
        return self.sync_runner == "queue"

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return self.is_production
        return self.log_format == "json"


@lru_cache
def get_settings() -> Settings:
    return Settings()
