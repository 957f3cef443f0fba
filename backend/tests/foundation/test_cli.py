"""The `acehub` command line: migrate, create-admin and sync (with a real sandbox), and the
server's entry point."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from ace_sandbox.testing import SandboxServer
from app.cli import cli
from app.config import get_settings
from app.connection.database import Database
from app.models import AceSession, AuthSource, RoleEnum, SyncJob, SyncState, Task, User
from app.services.sync.account_sync import PHASES
from tests.conftest import TEST_SECRET

runner = CliRunner()


@pytest.fixture
def cli_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_server: SandboxServer
) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("ACE_API_URL", sandbox_server.url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SYNC_TIME_ENTRIES_DAYS", "800")
    get_settings.cache_clear()
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    yield url
    get_settings.cache_clear()


def _query(url: str, statement: object) -> list[object]:
    async def run() -> list[object]:
        database = Database(get_settings())
        try:
            async with database.session() as session:
                return list(await session.scalars(statement))  # type: ignore[call-overload]
        finally:
            await database.dispose()

    return asyncio.run(run())


def test_create_admin_makes_a_local_admin_once(cli_env: str) -> None:
    args = ["create-admin", "--account-id", "demo", "--username", "root"]
    env = {"ACEHUB_ADMIN_PASSWORD": "a long enough password"}
    created = runner.invoke(cli, args, env=env)
    assert created.exit_code == 0, created.output
    again = runner.invoke(cli, args, env=env)
    assert again.exit_code == 1
    assert "already exists" in again.output
    users = _query(cli_env, select(User))
    assert len(users) == 1
    user = users[0]
    assert isinstance(user, User)
    assert (user.role, user.auth_source) == (RoleEnum.admin, AuthSource.local)
    assert user.password_hash is not None
    assert "a long enough password" not in user.password_hash


def test_create_admin_refuses_a_short_password(cli_env: str) -> None:
    result = runner.invoke(
        cli,
        ["create-admin", "--account-id", "demo", "--username", "root"],
        env={"ACEHUB_ADMIN_PASSWORD": "short"},
    )
    assert result.exit_code == 2
    assert _query(cli_env, select(User)) == []


def test_sync_mirrors_an_account_and_reports_counts(cli_env: str) -> None:
    result = runner.invoke(
        cli,
        ["sync", "--account-id", "demo", "--username", "admin"],
        env={"ACE_PASSWORD": "demo-password"},
    )
    assert result.exit_code == 0, result.output
    assert "succeeded (full)" in result.output
    assert "tasks" in result.output
    jobs = _query(cli_env, select(SyncJob.state))
    assert jobs == [SyncState.succeeded]
    assert len(_query(cli_env, select(Task.id))) == 24


def test_sync_progress_ends_on_done_and_reports_the_phases_in_order(cli_env: str) -> None:
    result = runner.invoke(
        cli,
        ["sync", "--account-id", "demo", "--username", "admin"],
        env={"ACE_PASSWORD": "demo-password"},
    )
    assert result.exit_code == 0, result.output
    # Off a terminal each phase prints a line as it starts, then the bar its last state.
    progress, summary = result.output.split("\nsync ", 1)
    started = [
        line.split(": ", 1)[1].split(" (")[0]
        for line in progress.splitlines()
        if line.startswith("full sync of demo: ")
    ]
    assert started[:-1] == [*(phase.name for phase in PHASES), "done"]
    assert "full sync of demo: done (users 3, projects 4, tasks 24" in progress
    lines = summary.splitlines()
    assert lines[0].endswith(": succeeded (full)")
    assert [line.split()[0] for line in lines[1:]] == [phase.name for phase in PHASES]


def test_sync_refused_while_another_runs_exits_non_zero(cli_env: str) -> None:
    async def add_running_job() -> None:
        database = Database(get_settings())
        try:
            async with database.session() as session:
                session.add(
                    SyncJob(
                        account_id="demo",
                        kind="full",
                        state=SyncState.running,
                        counts={},
                        errors=[],
                        heartbeat_at=datetime.now(UTC),
                    )
                )
                await session.commit()
        finally:
            await database.dispose()

    asyncio.run(add_running_job())
    result = runner.invoke(
        cli,
        ["sync", "--account-id", "demo", "--username", "admin"],
        env={"ACE_PASSWORD": "demo-password"},
    )
    assert result.exit_code == 1
    assert "error: CONFLICT: A sync of this account is already queued or running" in result.output
    assert _query(cli_env, select(SyncJob.state)) == [SyncState.running]
    assert _query(cli_env, select(Task.id)) == []


def _write(statement: object) -> None:
    async def run() -> None:
        database = Database(get_settings())
        try:
            async with database.session() as session, session.begin():
                if isinstance(statement, User):
                    session.add(statement)
                else:
                    await session.execute(statement)  # type: ignore[call-overload]
        finally:
            await database.dispose()

    asyncio.run(run())


def test_sync_signs_in_like_post_user_login(cli_env: str, sandbox_server: SandboxServer) -> None:
    """`acehub sync` signs in through the service of `POST /user/login`: a user deactivated
    in acehub is refused before any job is queued, and a sign-in keeps the ACE session."""
    ace_admin = next(
        user for user in sandbox_server.store["demo"].users.values() if user.username == "admin"
    )
    _write(
        User(
            account_id="demo",
            ace_user_id=ace_admin.user_id,
            username="admin",
            auth_source=AuthSource.ace,
            is_disabled=True,
        )
    )
    args = ["sync", "--account-id", "demo", "--username", "admin"]

    refused = runner.invoke(cli, args, env={"ACE_PASSWORD": "demo-password"})

    assert refused.exit_code == 1
    assert "error: ACCOUNT_INACTIVE: " in refused.output
    assert _query(cli_env, select(SyncJob.id)) == []
    assert _query(cli_env, select(AceSession.user_id)) == []

    _write(update(User).values(is_disabled=False))
    synced = runner.invoke(cli, args, env={"ACE_PASSWORD": "demo-password"})

    assert synced.exit_code == 0, synced.output
    admin = select(User.id).where(User.account_id == "demo", User.username == "admin")
    assert _query(cli_env, select(AceSession.user_id)) == _query(cli_env, admin)


def test_sync_with_a_wrong_password_fails_cleanly(cli_env: str) -> None:
    result = runner.invoke(
        cli,
        ["sync", "--account-id", "demo", "--username", "admin"],
        env={"ACE_PASSWORD": "wrong"},
    )
    assert result.exit_code == 1
    assert "INVALID_CREDENTIALS" in result.output
    assert "wrong" not in result.output.replace("INVALID_CREDENTIALS", "")
    assert _query(cli_env, select(SyncJob.id)) == []


def test_server_entry_point_moves_start_up_objects_out_of_the_collector(cli_env: str) -> None:
    """`acehub serve` builds each worker's app with `app_factory`, which freezes what start-up
    left alive, so full collections do not walk it (a subprocess: freezing is per process)."""
    code = (
        "import gc, app.main; app.main.app_factory(); "
        "print(gc.get_threshold()[0], gc.get_freeze_count())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=os.environ.copy(),
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    threshold, frozen = map(int, result.stdout.split()[-2:])
    assert frozen > 10_000
    assert threshold == 20_000
