"""Mirroring ACE: whole-account sync jobs (the seed's fetch endpoints live with their
resources, in project_routes and task_routes)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, status

from app.dependencies.auth_dependencies import ManagerUser
from app.dependencies.clients import AceClientDep, GuidCipherDep, SettingsDep
from app.dependencies.get_db import DatabaseDep, DbSession
from app.dto.response import SuccessResponse
from app.dto.sync_dto import SyncJobList, SyncJobRead, SyncJobRequest
from app.routes.openapi import error_responses
from app.services import ace_session_service, sync_service
from app.services.job_runner import JobRunner

router = APIRouter(tags=["sync"], responses=error_responses(401))


@router.post(
    "/sync/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SuccessResponse[SyncJobRead],
    responses=error_responses(403, 409),
)
async def start_sync(
    request: Request,
    user: ManagerUser,
    session: DbSession,
    database: DatabaseDep,
    settings: SettingsDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
    background: BackgroundTasks,
    body: SyncJobRequest | None = None,
) -> SuccessResponse[SyncJobRead]:
    """Queue a sync of the caller's account with the caller's ACE session; it runs in the
    background (poll `GET /sync/jobs/{id}`). 409 `CONFLICT` while another one is active."""
    guid = await ace_session_service.guid_for(session, cipher=cipher, user=user)
    job = await sync_service.request_job(
        session,
        database=database,
        settings=settings,
        account_id=user.account_id,
        requested_by=user.id,
        kind=(body or SyncJobRequest()).kind,
    )
    runner: JobRunner = request.app.state.jobs

    async def start() -> None:
        sync_service.spawn_job(
            runner,
            job.id,
            database=database,
            ace=ace,
            settings=settings,
            guid=guid,
            ace_user_id=user.ace_user_id,
        )

    # Runs once the response is sent, i.e. after the commit: the job row exists by then.
    background.add_task(start)
    return SuccessResponse(message="Sync queued", data=SyncJobRead.model_validate(job))


@router.get(
    "/sync/jobs/{job_id}",
    response_model=SuccessResponse[SyncJobRead],
    responses=error_responses(403, 404),
)
async def get_sync_job(
    job_id: uuid.UUID, user: ManagerUser, session: DbSession
) -> SuccessResponse[SyncJobRead]:
    """A sync job of the caller's account: state, phase, counts per entity, errors, duration."""
    job = await sync_service.get_job(session, account_id=user.account_id, job_id=job_id)
    return SuccessResponse(data=SyncJobRead.model_validate(job))


@router.get(
    "/sync/jobs", response_model=SuccessResponse[SyncJobList], responses=error_responses(403)
)
async def list_sync_jobs(
    user: ManagerUser,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SuccessResponse[SyncJobList]:
    """The account's most recent sync jobs, newest first."""
    jobs = await sync_service.list_jobs(session, account_id=user.account_id, limit=limit)
    return SuccessResponse(data=SyncJobList(items=[SyncJobRead.model_validate(j) for j in jobs]))
