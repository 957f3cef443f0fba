"""The mirror reads what ACE documents, against a sandbox that answers the ways the real
service could: per-project status lists whose ids line up with no guess, percent done in
tenths, pages capped below `rowsperpage`, XML for `format=iso8601`, and task rows without a
status id. On both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from ace_sandbox.app import SandboxConfig
from ace_sandbox.testing import SandboxServer
from app.connection.database import Database
from app.models import Project, Task, TaskAssignee, TaskLog, User
from tests.sync.conftest import SyncEnv, open_env

_TYPES = {0: "waiting", 1: "completed", 2: "in_progress"}


def _expected_types(upstream: Any) -> dict[int, str | None]:
    expected: dict[int, str | None] = {}
    for task_id, task in upstream.tasks.items():
        listed = {s.task_status_id: s for s in upstream.task_status_list(task.project_id)}
        status = listed.get(task.task_status_id)
        expected[task_id] = _TYPES.get(status.completed_status) if status else None
    return expected


async def _mirrored(env: SyncEnv) -> dict[int, tuple[str | None, float | None]]:
    async with env.database.session() as session:
        rows = await session.execute(select(Task.ace_task_id, Task.status_type, Task.percent_done))
        return {ace_id: (kind and str(kind), percent) for ace_id, kind, percent in rows.all()}


async def _mirror_keys(env: SyncEnv) -> dict[str, set[Any]]:
    async with env.database.session() as session:
        users = set(
            await session.scalars(select(User.ace_user_id).where(User.account_id == "demo"))
        )
        projects = set(await session.scalars(select(Project.ace_project_id)))
        tasks = set(await session.scalars(select(Task.ace_task_id)))
        pairs = (
            await session.execute(
                select(Task.ace_task_id, User.ace_user_id)
                .join(TaskAssignee, TaskAssignee.task_id == Task.id)
                .join(User, User.id == TaskAssignee.user_id)
            )
        ).all()
        logs = (
            await session.execute(select(TaskLog.ace_timesheet_line_id, TaskLog.date_worked))
        ).all()
    return {
        "users": users,
        "projects": projects,
        "tasks": tasks,
        "assignees": {tuple(p) for p in pairs},
        "time_entries": {tuple(log) for log in logs},
    }


def _upstream_keys(upstream: Any) -> dict[str, set[Any]]:
    return {
        "users": set(upstream.users),
        "projects": {p for p, project in upstream.projects.items() if not project.deleted},
        "tasks": set(upstream.tasks),
        "assignees": {(t, u) for t, by_user in upstream.assignments.items() for u in by_user},
        "time_entries": {
            (e.timesheet_line_id, e.date_worked.date()) for e in upstream.time_entries.values()
        },
    }


@pytest.fixture
def capped_sandbox() -> Iterator[SandboxServer]:
    """ACE giving at most 5 rows a page (acehub asks for 500), answering `iso8601` in XML,
    and leaving the status id off task rows."""
    config = SandboxConfig(max_rows_per_page=5, task_rows_without_status_id=True)
    with SandboxServer(config=config) as server:
        server.faults.set(iso8601_as_xml=True)
        yield server


@pytest.fixture
async def capped_env(
    database_url: str, database: Database, capped_sandbox: SandboxServer
) -> AsyncIterator[SyncEnv]:
    async for env in open_env(database_url, database, capped_sandbox):
        yield env


async def test_status_types_and_percent_from_each_projects_list(own_env: SyncEnv) -> None:
    env = own_env
    upstream = env.sandbox.store["demo"]
    unknown = sorted(upstream.tasks)[0]
    upstream.give_task_unknown_status(unknown, name="Completed")  # an English name: no guess
    headers = await env.sign_in("admin")

    job = await env.run_sync(headers, kind="full")

    assert job["state"] == "succeeded", job["errors"]
    mirrored = await _mirrored(env)
    expected = _expected_types(upstream)
    assert expected[unknown] is None
    assert {t: kind for t, (kind, _) in mirrored.items()} == expected
    assert set(expected.values()) >= {"waiting", "in_progress", "completed"}
    assert {t: p for t, (_, p) in mirrored.items()} == {
        t: task.pourcentage_done * 10 for t, task in upstream.tasks.items()
    }
    warnings: Any = job["errors"]
    assert [w["code"] for w in warnings] == ["UNKNOWN_STATUS"]
    assert warnings[0]["message"].startswith("1 tasks")
    # one status list per project, read once
    calls = env.sandbox.stats.recent()
    lists = [c["params"]["projectid"] for c in calls if c["fct"] == "gettaskstatuses"]
    assert sorted(lists) == sorted({str(t.project_id) for t in upstream.tasks.values()})


async def test_a_capped_xml_answering_service_is_mirrored_completely(
    capped_env: SyncEnv,
) -> None:
    env = capped_env
    headers = await env.sign_in("admin")

    job = await env.run_sync(headers, kind="full")

    assert job["state"] == "succeeded", job["errors"]
    upstream = env.sandbox.store["demo"]
    assert await _mirror_keys(env) == _upstream_keys(upstream)
    assert len(upstream.tasks) > 5 * 2  # several capped pages
    mirrored = await _mirrored(env)
    assert {t: kind for t, (kind, _) in mirrored.items()} == _expected_types(upstream)
    calls = env.sandbox.stats.recent()
    task_calls = [c["params"] for c in calls if c["fct"] == "gettasks"]
    # one iso8601 call answered in XML, then JSON for the rest of the process
    assert [p["format"] for p in task_calls].count("iso8601") == 1
    assert task_calls[-1]["format"] == "JSON"
    assert all(p["rowsperpage"] in {"500", "5"} for p in task_calls)


async def test_incremental_runs_reuse_status_lists_until_a_status_is_new(
    own_env: SyncEnv,
) -> None:
    env = own_env
    upstream = env.sandbox.store["demo"]
    headers = await env.sign_in("admin")
    assert (await env.run_sync(headers, kind="full"))["state"] == "succeeded"
    task_id = sorted(upstream.tasks)[0]
    project_id = upstream.tasks[task_id].project_id
    added = upstream.add_task_status(project_id, "Blocked", 0)
    upstream.set_task_status(task_id, added.task_status_id, at=datetime.now())
    other = next(t for t, task in upstream.tasks.items() if task.project_id != project_id)
    upstream.update_task(other, task_resume="Renamed", at=datetime.now())
    env.sandbox.stats.reset()

    job = await env.run_sync(headers, kind="incremental")

    assert job["state"] == "succeeded", job["errors"]
    lists = [
        c["params"]["projectid"]
        for c in env.sandbox.stats.recent()
        if c["fct"] == "gettaskstatuses"
    ]
    assert lists == [str(project_id)]  # the other project's cached list was enough
    mirrored = await _mirrored(env)
    assert mirrored[task_id][0] == "waiting"
    assert mirrored[other][0] == _expected_types(upstream)[other]
