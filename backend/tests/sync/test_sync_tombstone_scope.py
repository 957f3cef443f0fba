"""What a full pass may tombstone: only the synced account's rows, and only its ACE users.

The sandbox's accounts use the same ACE ids (users 1, 2, projects 1000..., tasks 10000...), so
a tombstone that forgot its account would hit the other account's rows of the same id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ace_sandbox.models import User as AceUser
from app.models import Project, RoleEnum, Task, TaskAssignee, TaskLog, User
from tests.factories import local_user_signed_in
from tests.sync.conftest import SyncEnv, remove_upstream_user


async def _account_rows(env: SyncEnv, account_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the account with the columns a tombstone or a rewrite would change."""
    async with env.database.session() as session:
        users = await session.execute(
            select(
                User.id,
                User.ace_user_id,
                User.auth_source,
                User.is_active,
                User.is_disabled,
                User.deleted_at,
                User.updated_at,
            )
            .where(User.account_id == account_id)
            .order_by(User.id)
        )
        projects = await session.execute(
            select(Project.id, Project.ace_project_id, Project.deleted_at, Project.updated_at)
            .where(Project.account_id == account_id)
            .order_by(Project.id)
        )
        tasks = await session.execute(
            select(Task.id, Task.ace_task_id, Task.deleted_at, Task.updated_at)
            .where(Task.account_id == account_id)
            .order_by(Task.id)
        )
        assignees = await session.execute(
            select(TaskAssignee.task_id, TaskAssignee.user_id, TaskAssignee.is_assignee)
            .join(Task, Task.id == TaskAssignee.task_id)
            .where(Task.account_id == account_id)
            .order_by(TaskAssignee.task_id, TaskAssignee.user_id)
        )
        logs = await session.execute(
            select(TaskLog.id, TaskLog.updated_at)
            .where(TaskLog.account_id == account_id)
            .order_by(TaskLog.id)
        )
        return {
            "users": [tuple(row) for row in users],
            "projects": [tuple(row) for row in projects],
            "tasks": [tuple(row) for row in tasks],
            "task_assignees": [tuple(row) for row in assignees],
            "task_logs": [tuple(row) for row in logs],
        }


async def test_a_full_sync_tombstones_nothing_of_another_account(own_env: SyncEnv) -> None:
    env = own_env
    demo, acme = env.sandbox.store["demo"], env.sandbox.store["acme"]
    # A user of the same ACE id in both accounts, to be deleted in demo only.
    user_id = max(*demo.users, *acme.users) + 1
    for account, name in ((demo, "leaver"), (acme, "stayer")):
        account.add_user(
            AceUser(
                user_id=user_id,
                username=name,
                first_name=name.title(),
                last_name="Same-Id",
                email_alert=f"{name}@example.com",
                password="unused-password",
            )
        )
    demo_admin = await env.sign_in("admin", "demo")
    acme_admin = await env.sign_in("carol", "acme")
    assert (await env.run_sync(demo_admin))["state"] == "succeeded"
    assert (await env.run_sync(acme_admin))["state"] == "succeeded"
    # A project and a task both accounts have: deleting them in demo must not touch acme's.
    project_id = min(acme.projects)
    task_id = min(set(acme.tasks) - demo.tasks_by_project[project_id])
    assert project_id in demo.projects
    assert task_id in demo.tasks
    before = await _account_rows(env, "acme")
    assert all(before.values()), before
    assert project_id in {row[1] for row in before["projects"]}
    assert task_id in {row[1] for row in before["tasks"]}
    assert {row[1] for row in before["tasks"]} & demo.tasks_by_project[project_id]
    assert user_id in {row[1] for row in before["users"]}

    demo.delete_project(project_id)
    demo.delete_task(task_id)
    remove_upstream_user(demo, user_id)
    job = await env.run_sync(demo_admin, kind="full")

    assert job["state"] == "succeeded", job["errors"]
    counts: Any = job["counts"]
    # demo's own rows did become tombstones...
    assert counts["users"]["deleted"] == 1
    assert counts["projects"]["deleted"] == 1
    assert counts["tasks"]["deleted"] >= 2
    # ...and not one row of acme changed.
    after = await _account_rows(env, "acme")
    assert after == before
    assert [row[5] for row in after["users"]] == [None] * len(after["users"])
    assert all(row[2] is None for row in after["projects"] + after["tasks"])
    # acme's people still read their tasks.
    async with env.database.session() as session:
        carol_id = await session.scalar(
            select(User.id).where(User.account_id == "acme", User.username == "carol")
        )
    listed = await env.client.get(f"/tasks/{carol_id}", headers=acme_admin)
    assert listed.status_code == 200, listed.text


async def test_a_full_sync_leaves_the_accounts_local_users_alone(own_env: SyncEnv) -> None:
    env = own_env
    local_admin = await local_user_signed_in(
        env.client, env.database, username="root", role=RoleEnum.admin, account_id="demo"
    )
    ace_admin = await env.sign_in("admin", "demo")
    assert (await env.run_sync(ace_admin))["state"] == "succeeded"
    upstream = env.sandbox.store["demo"]
    upstream.delete_task(min(upstream.tasks))  # something for the full pass to tombstone
    before = await _account_rows(env, "demo")

    job = await env.run_sync(ace_admin, kind="full")

    assert job["state"] == "succeeded", job["errors"]
    counts: Any = job["counts"]
    assert counts["tasks"]["deleted"] == 1
    assert counts["users"]["deleted"] == 0
    async with env.database.session() as session:
        local = await session.get(User, local_admin.user_id)
    assert local is not None
    assert local.auth_source == "local"
    assert local.ace_user_id is None
    assert (local.is_active, local.is_disabled, local.deleted_at) == (True, False, None)
    after = await _account_rows(env, "demo")
    assert after["users"] == before["users"]
    # The local admin still works as one.
    me = await env.client.get("/auth/me", headers=local_admin.headers)
    assert me.status_code == 200, me.text
    users = await env.client.get("/admin/users", headers=local_admin.headers)
    assert users.status_code == 200, users.text
