"""The tasks page's plans on a database of realistic shape: no filter, sort or cursor reads a
large table whole, with the plan made for the values or with the generic one the driver's
prepared statement may settle on. `make bench` runs the same check on a million tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from app.connection import migrations
from bench import tasks_read_bench
from bench.task_plans_bench import LARGE_TABLES, measure_plans
from tests.conftest import POSTGRES_URL, recreate_postgres_database, run_in_thread

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def loaded_url(postgres_url: str) -> Iterator[str]:
    """A scratch database with 50,000 tasks of 500 users (about 130 each), as the bench loads."""
    name = f"{make_url(POSTGRES_URL).database}_plans"
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    run_in_thread(asyncio.run, recreate_postgres_database(url))
    run_in_thread(migrations.upgrade, url)
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    load = tasks_read_bench.load_data(plain, tasks=50_000, users=500, projects=50, quiet=True)
    run_in_thread(asyncio.run, load)
    yield plain
    run_in_thread(asyncio.run, recreate_postgres_database(url, drop_only=True))


def test_no_filter_shape_scans_a_large_table(loaded_url: str) -> None:
    guid = run_in_thread(asyncio.run, tasks_read_bench.create_manager(loaded_url))
    figures = run_in_thread(asyncio.run, measure_plans(loaded_url, guid))

    scans = {name: shape["sequential_scans"] for name, shape in figures["shapes"].items()}
    assert len(scans) > 30  # every filter, sort both ways, cursors
    assert {name: tables for name, tables in scans.items() if LARGE_TABLES & set(tables)} == {}
    assert figures["passed"]
