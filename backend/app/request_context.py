"""Per-request (and per-sync-job) context shared by middleware, handlers and log records."""

from __future__ import annotations

from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


# Set where a sync job runs (its own task), so every log line of the job carries its id.
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)


def current_job_id() -> str | None:
    return job_id_var.get()
