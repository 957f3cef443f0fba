"""Mirroring ACE: whole-account sync jobs, and the seed's fetch endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, status

from app.dependencies.auth_dependencies import CurrentUser, ManagerUser
from app.dependencies.clients import AceClientDep, GuidCipherDep, SettingsDep
from app.dependencies.get_db import DatabaseDep, DbSession
from app.dto.response import SuccessResponse
from app.dto.sync_dto import FetchResult, SyncJobList, SyncJobRead, SyncJobRequest
from app.models import SyncJob
from app.routes.openapi import error_responses
from app.services import ace_session_service, sync_service
from app.services.job_runner import JobRunner

router = APIRouter(tags=["sync"], responses=error_responses(401))
_ACE_ERRORS = (401, 403, 502, 503, 504)


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

    async def credentials(_: SyncJob) -> sync_service.SyncCredentials:
        return await sync_service.credentials_for(ace, guid=guid, ace_user_id=user.ace_user_id)

    async def start() -> None:
        runner.spawn(
            sync_service.run_job(
                job.id,
                database=database,
                ace=ace,
                settings=settings,
                resolve_credentials=credentials,
            ),
            name=f"sync-{job.id}",
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


@router.post(
    "/projects/fetch-projects",
    response_model=SuccessResponse[FetchResult],
    responses=error_responses(*_ACE_ERRORS),
)
async def fetch_projects(
    user: CurrentUser, session: DbSession, ace: AceClientDep, cipher: GuidCipherDep
) -> SuccessResponse[FetchResult]:
    """Fetch the projects the caller can see in ACE (with the caller's ACE session) and store
    them; `counts` says how many were inserted, updated and unchanged."""
    guid = await ace_session_service.guid_for(session, cipher=cipher, user=user)
    counts = await sync_service.fetch_projects(
        session,
        ace=ace,
        creds=sync_service.SyncCredentials(guid=guid, is_admin=False),
        account_id=user.account_id,
    )
    return SuccessResponse(
        message="Projects fetched", data=FetchResult.model_validate({"counts": counts})
    )


@router.post(
    "/tasks/fetch-tasks",
    response_model=SuccessResponse[FetchResult],
    responses=error_responses(*_ACE_ERRORS),
)
async def fetch_tasks(
    user: CurrentUser,
    session: DbSession,
    settings: SettingsDep,
    ace: AceClientDep,
    cipher: GuidCipherDep,
) -> SuccessResponse[FetchResult]:
    """Fetch the tasks the caller can see in ACE (changed since the account's last sync, with
    a safety overlap), their projects and assignees, and store them."""
    guid = await ace_session_service.guid_for(session, cipher=cipher, user=user)
    counts = await sync_service.fetch_tasks(
        session,
        ace=ace,
        settings=settings,
        creds=sync_service.SyncCredentials(guid=guid, is_admin=False),
        account_id=user.account_id,
    )
    return SuccessResponse(
        message="Tasks fetched", data=FetchResult.model_validate({"counts": counts})
    )
