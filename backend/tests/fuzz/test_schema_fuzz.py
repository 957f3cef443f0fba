"""Fuzz every operation of acehub's OpenAPI schema as a member and as an admin, and follow
the schema's links statefully (sign in -> refresh -> tasks)."""

from __future__ import annotations

import asyncio

import pytest

from tests.fuzz.conftest import (
    FUZZ_EXAMPLES,
    STATEFUL_STEPS,
    Fuzzer,
    fuzz_settings,
    stateful_machine,
)
from tests.sync.conftest import SyncEnv
from tests.task_logs.helpers import ready

# The schema is the same on both databases; SQLite keeps the run short.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_every_operation_conforms_for_a_member(own_env: SyncEnv) -> None:
    alice, _admin = await ready(own_env)
    fuzzer = Fuzzer(own_env, asyncio.get_running_loop())
    failures = await asyncio.to_thread(fuzzer.fuzz_all, alice)
    await own_env.app.state.jobs.wait_idle()
    assert not failures, "\n\n".join(failures)
    # The token was real: the member's reads answered, the admin routes refused them.
    assert ("GET /auth/me", 200) in fuzzer.seen
    assert ("GET /projects", 200) in fuzzer.seen
    assert ("GET /admin/users", 403) in fuzzer.seen


async def test_every_operation_conforms_for_an_admin(own_env: SyncEnv) -> None:
    _alice, admin = await ready(own_env)
    fuzzer = Fuzzer(own_env, asyncio.get_running_loop())
    failures = await asyncio.to_thread(fuzzer.fuzz_all, admin)
    await own_env.app.state.jobs.wait_idle()
    assert not failures, "\n\n".join(failures)
    assert ("GET /admin/users", 200) in fuzzer.seen
    assert ("POST /data/save", 200) in fuzzer.seen


async def test_sign_in_links_lead_to_refresh_and_tasks(own_env: SyncEnv) -> None:
    """Sign-in -> refresh (its refresh token) -> refresh again or GET /auth/me (the new access
    token), and sign-in -> GET /tasks/{user_id} (its user id and access token): every answer
    as declared."""
    await ready(own_env)
    fuzzer = Fuzzer(own_env, asyncio.get_running_loop())
    credentials = {"account_id": "demo", "username": "alice", "password": "demo-password"}
    machine = stateful_machine(fuzzer, credentials)
    settings = fuzz_settings(FUZZ_EXAMPLES, stateful_step_count=STATEFUL_STEPS)
    await asyncio.to_thread(machine.run, settings=settings)
    # Only a followed link can succeed here: a generated refresh token or a call to
    # GET /tasks/{user_id} without the sign-in's token is refused.
    assert ("PATCH /auth/refresh", 200) in fuzzer.seen
    assert ("GET /tasks/{user_id}", 200) in fuzzer.seen
