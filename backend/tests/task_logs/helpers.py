"""Shared steps of the task-log tests: a mirrored demo account and its tasks and logs."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from app.models import Task, TaskAssignee, TaskLog, User
from tests.sync.conftest import SyncEnv


async def ready(env: SyncEnv) -> tuple[dict[str, str], dict[str, str]]:
    """The demo account mirrored (by its admin); alice's and the admin's headers."""
    admin = await env.sign_in("admin")
    assert (await env.run_sync(admin, kind="full"))["state"] == "succeeded"
    return await env.sign_in("alice"), admin


async def user_named(env: SyncEnv, username: str, account_id: str = "demo") -> User:
    async with env.database.session() as session:
        user = await session.scalar(
            select(User).where(User.account_id == account_id, User.username == username)
        )
    assert user is not None
    return user


async def task_of(env: SyncEnv, username: str, *, mine: bool = True) -> Task:
    """A task `username` is (or, with `mine=False`, is not) assignee or reviewer of."""
    user = await user_named(env, username)
    async with env.database.session() as session:
        theirs = select(TaskAssignee.task_id).where(TaskAssignee.user_id == user.id)
        condition = Task.id.in_(theirs) if mine else Task.id.not_in(theirs)
        task = await session.scalar(
            select(Task).where(Task.account_id == "demo", condition).order_by(Task.id)
        )
    assert task is not None
    return task


async def all_logs(env: SyncEnv, **where: object) -> list[TaskLog]:
    async with env.database.session() as session:
        query = select(TaskLog).order_by(TaskLog.id)
        for name, value in where.items():
            query = query.where(getattr(TaskLog, name) == value)
        return list(await session.scalars(query))


def a_day_without_time(offset: int = 3) -> date:
    """A past day, far from the demo data's own entries (they are dated long before)."""
    return date.today() - timedelta(days=offset)
