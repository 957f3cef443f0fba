"""`GET /metrics`: Prometheus' text format, on the API's port (docs/metrics.md). Also the
HTTP instrumentation `main.create_app` installs."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.metrics import Info

from app import metrics
from app.config import Settings
from app.dependencies.get_db import ReadConnection
from app.errors import AppError, ErrorCode
from app.services import metrics_service

PATH = "/metrics"


async def require_metrics_token(request: Request) -> None:
    """With METRICS_TOKEN set, the scrape must send it as a bearer token (compared in
    constant time); unset, /metrics is open."""
    settings: Settings = request.app.state.settings
    expected = settings.metrics_token
    if expected is None:
        return
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        raise AppError(
            "Send the metrics token: Authorization: Bearer <token>", code=ErrorCode.TOKEN_MISSING
        )
    if not hmac.compare_digest(sent.strip().encode(), expected.get_secret_value().encode()):
        raise AppError("The metrics token is not valid", code=ErrorCode.TOKEN_INVALID)


router = APIRouter(tags=["metrics"])


# Not in the OpenAPI schema: its answer is Prometheus' text format, not the JSON envelope,
# and its token is METRICS_TOKEN, not a user's.
@router.get(PATH, include_in_schema=False, dependencies=[Depends(require_metrics_token)])
async def get_metrics(request: Request, connection: ReadConnection) -> Response:
    ace = getattr(request.app.state, "ace", None)
    body = await metrics_service.scrape(
        connection, breaker=ace.transport.breaker if ace is not None else None
    )
    return Response(content=body, media_type=metrics.CONTENT_TYPE_LATEST)


def _observe(info: Info) -> None:
    metrics.HTTP_REQUESTS.labels(
        method=info.method, handler=info.modified_handler, status=info.modified_status
    ).inc()
    metrics.HTTP_REQUEST_DURATION.labels(method=info.method, handler=info.modified_handler).observe(
        info.modified_duration
    )


def instrument(app: FastAPI) -> None:
    """Count and time every request by its route template (`/tasks/{user_id}`; paths that
    match no route are `none`), into the metrics of `app.metrics` (defined once per process,
    whatever the number of apps built). Scrapes of /metrics are left out."""
    Instrumentator(
        should_group_status_codes=False,
        should_group_untemplated=True,
        excluded_handlers=[f"^{PATH}$"],
    ).add(_observe).instrument(app)
