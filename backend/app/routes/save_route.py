from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request

from app.dependencies.auth_dependencies import ManagerUser, release_caller_check
from app.dependencies.clients import DatabaseDep, SettingsDep
from app.dependencies.get_db import UnitOfWork
from app.dto.response import ErrorResponse, SuccessResponse
from app.dto.save_dto import SaveBatch, SaveResult
from app.errors import AppError, ErrorCode
from app.routes.openapi import error_responses
from app.services import data_service

router = APIRouter(prefix="/data", tags=["data"])


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The payload's JSON schema with its `$defs` inlined, for the OpenAPI request body (the
    body is read by hand, so FastAPI does not document it by itself)."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inlined(SaveBatch.model_json_schema())}},
    }
}


def _require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise AppError(
            "Send the batch as JSON (Content-Type: application/json)",
            code=ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        )


@router.post(
    "/save",
    response_model=SuccessResponse[SaveResult],
    responses={
        **error_responses(401, 403, 409),
        415: {"model": ErrorResponse, "description": "The body is not JSON"},
    },
    openapi_extra=_REQUEST_BODY,
    # The connection goes back while the body is read and validated (on SQLite it holds the
    # write lock): the write transaction starts once the batch is known to be well-formed.
    dependencies=[Depends(release_caller_check)],
)
async def save(
    request: Request,
    user: ManagerUser,
    session: UnitOfWork,
    database: DatabaseDep,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> SuccessResponse[SaveResult]:
    """Save users, projects, tasks, assignees and task logs in one go (admins and managers).

    Items are keyed by ACE ids in your account and refer to each other by ACE ids, in this
    batch or already stored. All or nothing: any problem answers 422 listing each one as
    `{entity, index, field, message}` and nothing is written. Saving the same batch again
    changes nothing. `data` counts, per entity, the items inserted, updated and unchanged.
    Over `SAVE_MAX_BODY_BYTES` or `SAVE_MAX_ITEMS` the answer is 413.
    """
    _require_json(request)
    result = await data_service.save(
        session,
        database,
        account_id=user.account_id,
        raw=await request.body(),
        max_items=settings.save_max_items,
    )
    background.add_task(data_service.after_response)
    return SuccessResponse(message=f"Saved {result.item_count} item(s)", data=result)
