"""Whole-account sync against the sandbox as a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from app.models import Project, SyncJob, SyncState, Task, TaskAssignee, TaskLog, User
from app.services.sync.account_sync import PHASES
from app.services.sync.jobs import last_watermark
from tests.sync.conftest import SyncEnv

PHASE_NAMES = tuple(phase.name for phase in PHASES)


async def _count(env: SyncEnv, model: Any, *where: Any) -> int:
    async with env.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _upstream(env: SyncEnv, account: str = "demo") -> Any:
    return env.sandbox.store[account]


async def test_full_sync_mirrors_the_account(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    job = await env.run_sync(headers)
    assert job["state"] == "succeeded", job
    assert job["kind"] == "full"
    assert job["phase"] == "done"
    assert job["duration_seconds"] is not None
    upstream = _upstream(env)
    counts: Any = job["counts"]
    assert counts["projects"]["inserted"] == len(upstream.projects)
    assert counts["tasks"]["inserted"] == len(upstream.tasks)
    assert await _count(env, Project, Project.account_id == "demo") == len(upstream.projects)
    assert await _count(env, Task, Task.account_id == "demo") == len(upstream.tasks)
    pairs = sum(len(a) for a in upstream.assignments.values())
    assert await _count(env, TaskAssignee) == pairs
    assert await _count(env, TaskLog, TaskLog.account_id == "demo") == len(upstream.time_entries)
    assert await _count(env, User, User.account_id == "demo") == len(upstream.users)
    # Users mirrored but never signed in are inactive placeholders.
    assert await _count(env, User, User.account_id == "demo", User.is_active.is_(False)) == 2


async def test_mirrored_task_matches_upstream(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    upstream_task = next(iter(_upstream(env).tasks.values()))
    async with env.database.session() as session:
        task = await session.scalar(
            select(Task).where(Task.account_id == "demo", Task.ace_task_id == upstream_task.task_id)
        )
        project = await session.get(Project, task.project_id if task else -1)
    assert task is not None
    assert project is not None
    assert task.title == upstream_task.task_resume
    assert project.ace_project_id == upstream_task.project_id
    assert task.estimated_hours == upstream_task.estimated_time
    assert task.synced_at is not None
    assert task.ace_modified_at is not None
    assert task.ace_modified_at.tzinfo is not None


async def _mirror_snapshot(env: SyncEnv) -> dict[str, list[tuple[Any, ...]]]:
    """Every mirrored row's identity and write stamps: a sync that writes nothing keeps them."""
    async with env.database.session() as session:
        snapshot: dict[str, list[tuple[Any, ...]]] = {
            model.__tablename__: [
                tuple(row)
                for row in await session.execute(
                    select(
                        model.id,
                        model.account_id,
                        ace_id,
                        model.updated_at,
                        model.synced_at,
                        model.deleted_at,
                    ).order_by(model.id)
                )
            ]
            for model, ace_id in (
                (User, User.ace_user_id),
                (Project, Project.ace_project_id),
                (Task, Task.ace_task_id),
            )
        }
        assignees = await session.execute(
            select(
                TaskAssignee.task_id,
                TaskAssignee.user_id,
                TaskAssignee.is_assignee,
                TaskAssignee.is_reviewer,
                TaskAssignee.assigned_hours,
                TaskAssignee.synced_at,
            ).order_by(TaskAssignee.task_id, TaskAssignee.user_id)
        )
        snapshot["task_assignees"] = [tuple(row) for row in assignees]
        return snapshot


def _assert_nothing_written(job: dict[str, Any], phases: tuple[str, ...]) -> None:
    """The job succeeded, reports (at least) `phases`, and wrote nothing in any of them."""
    assert job["state"] == "succeeded", job["errors"]
    counts = job["counts"]
    assert set(phases) <= set(counts) <= set(PHASE_NAMES), counts
    for entity, figures in counts.items():
        assert figures["inserted"] == figures["updated"] == figures["deleted"] == 0, entity


async def test_second_sync_changes_nothing(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    first = await env.run_sync(headers)
    assert first["state"] == "succeeded"
    before = await _mirror_snapshot(env)
    assert all(before.values())

    full_again = await env.run_sync(headers, kind="full")
    _assert_nothing_written(full_again, PHASE_NAMES)
    counts: Any = full_again["counts"]
    assert counts["tasks"]["unchanged"] == len(_upstream(env).tasks)
    assert await _mirror_snapshot(env) == before

    again = await env.run_sync(headers, kind="incremental")
    assert again["kind"] == "incremental"
    # ACE lists no changed task: the tasks and assignees phases read nothing.
    _assert_nothing_written(again, PHASE_NAMES)
    assert await _mirror_snapshot(env) == before


async def test_an_incremental_job_reports_every_phase(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    again = await env.run_sync(headers, kind="incremental")
    _assert_nothing_written(again, PHASE_NAMES)


async def test_incremental_sync_picks_up_upstream_changes(own_env: SyncEnv) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    upstream = _upstream(env)
    task_id = next(iter(upstream.tasks))
    upstream.update_task(task_id, task_resume="Renamed upstream", at=datetime.now())
    job = await env.run_sync(headers, kind="incremental")
    assert job["counts"]["tasks"]["updated"] == 1  # type: ignore[index]
    async with env.database.session() as session:
        title = await session.scalar(select(Task.title).where(Task.ace_task_id == task_id))
    assert title == "Renamed upstream"


async def test_deleted_upstream_rows_become_tombstones(own_env: SyncEnv) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    await env.run_sync(headers)
    upstream = _upstream(env)
    task_id = next(iter(upstream.tasks))
    upstream.delete_task(task_id)
    job = await env.run_sync(headers, kind="full")
    assert job["counts"]["tasks"]["deleted"] == 1  # type: ignore[index]
    async with env.database.session() as session:
        deleted_at = await session.scalar(
            select(Task.deleted_at).where(Task.ace_task_id == task_id)
        )
    assert deleted_at is not None


async def test_non_admin_full_sync_never_tombstones(own_env: SyncEnv) -> None:
    env = own_env
    admin = await env.sign_in("admin")
    await env.run_sync(admin)
    member_headers = await env.sign_in("alice")
    async with env.database.session() as session:
        await session.execute(update(User).where(User.username == "alice").values(role="manager"))
        await session.commit()
    job = await env.run_sync(member_headers, kind="full")
    assert job["state"] == "succeeded"
    assert await _count(env, Task, Task.deleted_at.is_not(None)) == 0


async def test_accounts_stay_apart(env: SyncEnv) -> None:
    await env.run_sync(await env.sign_in("admin", "demo"))
    await env.run_sync(await env.sign_in("carol", "acme"))
    demo, acme = _upstream(env, "demo"), _upstream(env, "acme")
    assert await _count(env, Task, Task.account_id == "demo") == len(demo.tasks)
    assert await _count(env, Task, Task.account_id == "acme") == len(acme.tasks)
    # ACE ids overlap between accounts; each account keeps its own rows.
    overlap = set(demo.projects) & set(acme.projects)
    assert overlap
    assert await _count(env, Project, Project.ace_project_id.in_(overlap)) == 2 * len(overlap)


async def test_one_sync_runs_one_waits_and_a_third_conflicts(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    # The first job is still running when the others ask.
    env.sandbox.faults.set(latency=0.5, latency_fcts=["getprojects"])
    first = await env.client.post("/sync/jobs", json={}, headers=headers)
    assert first.status_code == 202
    for _ in range(100):  # until it runs: then the waiting place is free
        polled = await env.client.get(f"/sync/jobs/{first.json()['data']['id']}", headers=headers)
        if polled.json()["data"]["state"] == "running":
            break
        await asyncio.sleep(0.02)
    responses = await asyncio.gather(
        *(env.client.post("/sync/jobs", json={}, headers=headers) for _ in range(2))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202, 409]
    accepted = [r.json()["data"]["id"] for r in responses if r.status_code == 202]
    [conflict] = [r.json() for r in responses if r.status_code == 409]
    assert conflict["error_code"] == "CONFLICT"
    assert conflict["data"]["job_id"] in accepted  # the job waiting already
    await env.app.state.jobs.wait_idle()
    async with env.database.session() as session:
        done = list(await session.scalars(select(SyncJob).order_by(SyncJob.started_at)))
    assert [job.state for job in done] == [SyncState.succeeded, SyncState.succeeded]
    earlier, later = done
    assert earlier.finished_at is not None
    assert later.started_at is not None
    assert later.started_at >= earlier.finished_at  # one after the other, never together


async def test_ace_failure_mid_sync_fails_the_job_and_keeps_data_consistent(
    own_env: SyncEnv,
) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    env.sandbox.faults.set(error_rate=1.0, fcts=["gettimereport"])
    job = await env.run_sync(headers)
    assert job["state"] == "failed"
    errors: Any = job["errors"]
    assert errors[-1]["phase"] == "time_entries"
    assert errors[-1]["code"] == "ACE_UNAVAILABLE"
    # The phases before the failure were committed whole; the watermark did not move.
    assert await _count(env, Task) == len(_upstream(env).tasks)
    async with env.database.session() as session:
        assert await last_watermark(session, account_id="demo") is None
    env.sandbox.faults.reset()
    await asyncio.sleep(0.4)  # the circuit breaker opened on the failures; let it half-open
    retry = await env.run_sync(headers)
    assert retry["state"] == "succeeded"
    assert retry["kind"] == "full"


async def test_stale_job_is_failed_and_does_not_block(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    async with env.database.session() as session:
        session.add(
            SyncJob(
                account_id="demo",
                kind="full",
                state=SyncState.running,
                counts={},
                errors=[],
                heartbeat_at=datetime.now(UTC) - timedelta(hours=1),
            )
        )
        await session.commit()
    job = await env.run_sync(headers)
    assert job["state"] == "succeeded"
    async with env.database.session() as session:
        jobs = list(await session.scalars(select(SyncJob)))
    assert sorted(j.state.value for j in jobs) == ["failed", "succeeded"]
    [lost] = [j for j in jobs if j.state is SyncState.failed]
    assert [e["code"] for e in lost.errors] == ["WORKER_LOST"]
    assert lost.finished_at is not None


async def test_member_cannot_start_a_sync(env: SyncEnv) -> None:
    headers = await env.sign_in("alice")
    response = await env.client.post("/sync/jobs", json={}, headers=headers)
    assert response.status_code == 403
    assert response.json()["error_code"] == "FORBIDDEN"
    assert await _count(env, SyncJob) == 0


async def test_member_cannot_read_a_sync_job(env: SyncEnv) -> None:
    job = await env.run_sync(await env.sign_in("admin"))
    alice = await env.sign_in("alice")
    for path in (f"/sync/jobs/{job['id']}", "/sync/jobs"):
        response = await env.client.get(path, headers=alice)
        assert response.status_code == 403, path
        assert response.json()["error_code"] == "FORBIDDEN"


async def test_jobs_of_another_account_are_not_visible(env: SyncEnv) -> None:
    job = await env.run_sync(await env.sign_in("admin", "demo"))
    carol = await env.sign_in("carol", "acme")
    response = await env.client.get(f"/sync/jobs/{job['id']}", headers=carol)
    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"
    listed = await env.client.get("/sync/jobs", headers=carol)
    assert listed.json()["data"]["items"] == []


async def test_unknown_job_kind_is_422(env: SyncEnv) -> None:
    headers = await env.sign_in("admin")
    response = await env.client.post("/sync/jobs", json={"kind": "everything"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["data"][0]["loc"] == ["body", "kind"]


async def test_nul_characters_from_ace_are_dropped_not_fatal(own_env: SyncEnv) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    upstream = _upstream(env)
    task_id = next(iter(upstream.tasks))
    upstream.update_task(task_id, task_resume="Bad\x00title", at=datetime.now())
    job = await env.run_sync(headers)
    assert job["state"] == "succeeded", job["errors"]
    async with env.database.session() as session:
        title = await session.scalar(select(Task.title).where(Task.ace_task_id == task_id))
    assert title == "Badtitle"


async def test_a_slow_running_job_is_not_taken_for_dead(own_env: SyncEnv) -> None:
    env = own_env
    env.settings.sync_stale_seconds = 1.0  # its heartbeat beats every 0.5 s meanwhile
    headers = await env.sign_in("admin")
    env.sandbox.faults.set(latency=2.5, latency_fcts=["getprojects"])
    first = await env.client.post("/sync/jobs", json={}, headers=headers)
    await asyncio.sleep(1.8)  # longer than the stale limit, inside one slow ACE call
    second = await env.client.post("/sync/jobs", json={}, headers=headers)
    third = await env.client.post("/sync/jobs", json={}, headers=headers)
    await env.app.state.jobs.wait_idle()
    assert first.status_code == 202
    assert second.status_code == 202  # waits behind the running one, which is not failed
    assert third.status_code == 409
    async with env.database.session() as session:
        states = [s.value for s in await session.scalars(select(SyncJob.state))]
    assert states == ["succeeded", "succeeded"]


async def test_a_job_marked_failed_while_running_stays_failed(own_env: SyncEnv) -> None:
    env = own_env
    headers = await env.sign_in("admin")
    env.sandbox.faults.set(latency=1.0, latency_fcts=["getprojects"])
    started = await env.client.post("/sync/jobs", json={}, headers=headers)
    await asyncio.sleep(0.3)
    async with env.database.session() as session:
        await session.execute(
            update(SyncJob).values(state=SyncState.failed, errors=[{"code": "WORKER_LOST"}])
        )
        await session.commit()
    await env.app.state.jobs.wait_idle()
    job = await env.client.get(f"/sync/jobs/{started.json()['data']['id']}", headers=headers)
    assert job.json()["data"]["state"] == "failed"
    assert job.json()["data"]["errors"] == [{"code": "WORKER_LOST"}]
