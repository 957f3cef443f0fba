"""Property: any sequence of batches leaves the database equal to applying their items one at a
time to a plain-Python model, with the counts the model predicts; a batch with a missing
reference changes nothing (Hypothesis; small id pools so items collide often)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from app.connection.database import Database
from app.models import Project, Task, TaskAssignee, TaskLog, User
from tests.save.helpers import manager_headers, post

ENTITIES = ("users", "projects", "tasks", "assignees", "task_logs")
State = dict[str, dict[Any, dict[str, Any]]]
TEXT = st.sampled_from(["a", "b", "Été", "日本", "x y"])
OPTIONAL_TEXT = st.none() | TEXT
HOURS = st.none() | st.sampled_from([0.0, 0.5, 1.25, 8.0, 1e-9, 123456.789])
DATES = st.sampled_from(["2026-11-20", "2026-11-21"])

MISSING = 99  # an ACE id no batch ever creates


def reference(known: set[int]) -> st.SearchStrategy[int]:
    """Mostly an id that exists (stored or in the batch), now and then a missing one."""
    if not known:
        return st.just(MISSING)
    existing = st.sampled_from(sorted(known))
    return st.integers(0, 39).flatmap(lambda roll: st.just(MISSING) if roll == 0 else existing)


def user_items() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"ace_user_id": st.integers(1, 3), "username": TEXT},
        optional={"first_name": OPTIONAL_TEXT, "email": OPTIONAL_TEXT},
    )


def project_items() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"ace_project_id": st.integers(1, 2), "name": TEXT},
        optional={
            "status": OPTIONAL_TEXT,
            "percent_done": st.none() | st.sampled_from([0.0, 50.0]),
        },
    )


def task_items(projects: set[int]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"ace_task_id": st.integers(1, 3), "ace_project_id": reference(projects), "title": TEXT},
        optional={
            "estimated_hours": HOURS,
            "status_type": st.none() | st.sampled_from(["waiting", "completed"]),
            "expected_end": st.none() | DATES,
        },
    )


def assignee_items(tasks: set[int], users: set[int]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"ace_task_id": reference(tasks), "ace_user_id": reference(users)},
        optional={
            "is_assignee": st.booleans(),
            "is_reviewer": st.booleans(),
            "assigned_hours": HOURS,
        },
    )


def log_items(tasks: set[int], users: set[int]) -> st.SearchStrategy[dict[str, Any]]:
    body = {
        "ace_task_id": reference(tasks),
        "ace_user_id": reference(users),
        "kind": st.just("time"),
        "date_worked": DATES,
        "hours": st.sampled_from([0.0, 1.5, 8.0]),
    }
    by_client_id = {"client_id": st.sampled_from(["l-1", "l-2"]), **body}
    by_ace_line = {"ace_timesheet_line_id": st.integers(1, 2), **body}
    optional = {"comment": TEXT}
    return st.fixed_dictionaries(by_client_id, optional=optional) | st.fixed_dictionaries(
        by_ace_line, optional=optional
    )


KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "users": lambda item: item["ace_user_id"],
    "projects": lambda item: item["ace_project_id"],
    "tasks": lambda item: item["ace_task_id"],
    "assignees": lambda item: (item["ace_task_id"], item["ace_user_id"]),
    "task_logs": lambda item: (
        ("client", item["client_id"])
        if "client_id" in item
        else ("ace", item["ace_timesheet_line_id"], item["date_worked"])
    ),
}


def unique(entity: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per key (the last wins): duplicates are a tested error of their own."""
    return list({KEYS[entity](item): item for item in items}.values())


def draw_batch(data: st.DataObject, state: State) -> dict[str, list[dict[str, Any]]]:
    """A batch whose references mostly exist, given what the model holds already."""

    def items(entity: str, strategy: st.SearchStrategy[dict[str, Any]]) -> list[dict[str, Any]]:
        return unique(entity, data.draw(st.lists(strategy, max_size=3), label=entity))

    batch = {"users": items("users", user_items()), "projects": items("projects", project_items())}
    known = {entity: set(state[entity]) for entity in ("users", "projects", "tasks")}
    for entity in ("users", "projects"):
        known[entity] |= {KEYS[entity](item) for item in batch[entity]}
    # Items referring to a kind of row none exists of yet are left out (they could only fail).
    if known["projects"]:
        batch["tasks"] = items("tasks", task_items(known["projects"]))
        known["tasks"] |= {item["ace_task_id"] for item in batch["tasks"]}
    if known["tasks"] and known["users"]:
        batch["assignees"] = items("assignees", assignee_items(known["tasks"], known["users"]))
        batch["task_logs"] = items("task_logs", log_items(known["tasks"], known["users"]))
    return {entity: listed for entity, listed in batch.items() if listed}


# --- the model --------------------------------------------------------------------------------

DEFAULTS: dict[str, dict[str, Any]] = {
    "users": {"first_name": None, "email": None},
    "projects": {"status": None, "percent_done": None},
    "tasks": {"estimated_hours": None, "status_type": None, "expected_end": None},
    "assignees": {"is_assignee": True, "is_reviewer": False, "assigned_hours": None},
    "task_logs": {"comment": None},
}


def stored_form(entity: str, item: dict[str, Any]) -> dict[str, Any]:
    """What the row holds for an item: every settable field (omitted ones at their default)."""
    row = {**DEFAULTS[entity], **item}
    row.pop("client_id", None)
    row.pop("ace_timesheet_line_id", None)
    return row


def apply(state: State, batch: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, int]] | None:
    """Apply the batch item by item; None when a reference is missing (nothing applies)."""
    ids = {
        "projects": set(state["projects"])
        | {KEYS["projects"](i) for i in batch.get("projects", [])},
        "tasks": set(state["tasks"]) | {KEYS["tasks"](i) for i in batch.get("tasks", [])},
        "users": set(state["users"]) | {KEYS["users"](i) for i in batch.get("users", [])},
    }
    for item in batch.get("tasks", []):
        if item["ace_project_id"] not in ids["projects"]:
            return None
    for item in batch.get("assignees", []) + batch.get("task_logs", []):
        if item["ace_task_id"] not in ids["tasks"] or item["ace_user_id"] not in ids["users"]:
            return None
    result = {}
    for entity in ENTITIES:
        count = {"inserted": 0, "updated": 0, "unchanged": 0}
        for item in batch.get(entity, []):
            key, row = KEYS[entity](item), stored_form(entity, item)
            previous = state[entity].get(key)
            if previous is None:
                count["inserted"] += 1
            elif previous == row:
                count["unchanged"] += 1
            else:
                count["updated"] += 1
            state[entity][key] = row
        result[entity] = count
    return result


# --- the database, read back in the model's shape ---------------------------------------------


async def read_state(database: Database) -> State:
    state: State = {entity: {} for entity in ENTITIES}
    async with database.session() as session:
        for user in await session.scalars(select(User).where(User.ace_user_id.is_not(None))):
            assert (user.role, user.is_active, user.auth_source) == ("member", False, "ace")
            state["users"][user.ace_user_id] = {
                "ace_user_id": user.ace_user_id,
                "username": user.username,
                "first_name": user.first_name,
                "email": user.email,
            }
        project_ids = {}
        for project in await session.scalars(select(Project)):
            project_ids[project.id] = project.ace_project_id
            state["projects"][project.ace_project_id] = {
                "ace_project_id": project.ace_project_id,
                "name": project.name,
                "status": project.status,
                "percent_done": project.percent_done,
            }
        task_ids = {}
        for task in await session.scalars(select(Task)):
            task_ids[task.id] = task.ace_task_id
            state["tasks"][task.ace_task_id] = {
                "ace_task_id": task.ace_task_id,
                "ace_project_id": project_ids[task.project_id],
                "title": task.title,
                "estimated_hours": task.estimated_hours,
                "status_type": task.status_type,
                "expected_end": task.expected_end and task.expected_end.isoformat(),
            }
        user_ids = dict((await session.execute(select(User.id, User.ace_user_id))).all())
        for assignee in await session.scalars(select(TaskAssignee)):
            ace_task, ace_user = task_ids[assignee.task_id], user_ids[assignee.user_id]
            state["assignees"][(ace_task, ace_user)] = {
                "ace_task_id": ace_task,
                "ace_user_id": ace_user,
                "is_assignee": assignee.is_assignee,
                "is_reviewer": assignee.is_reviewer,
                "assigned_hours": assignee.assigned_hours,
            }
        for log in await session.scalars(select(TaskLog)):
            date_worked = log.date_worked.isoformat()
            key = (
                ("client", log.client_id)
                if log.client_id is not None
                else ("ace", log.ace_timesheet_line_id, date_worked)
            )
            assert log.source == ("local" if log.client_id is not None else "ace")
            state["task_logs"][key] = {
                "ace_task_id": task_ids[log.task_id],
                "ace_user_id": user_ids[log.user_id],
                "kind": log.kind,
                "date_worked": date_worked,
                "hours": log.hours,
                "comment": log.comment,
            }
    return state


async def clear_saved_rows(database: Database) -> None:
    """Empty what batches write; the signed-in manager (a local user) stays."""
    async with database.engine.begin() as conn:
        for table in (TaskLog, TaskAssignee, Task, Project):
            await conn.execute(delete(table))
        await conn.execute(delete(User).where(User.ace_user_id.is_not(None)))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_batches_equal_item_by_item_application(
    client: httpx.AsyncClient, database: Database, data: st.DataObject
) -> None:
    if not hasattr(client, "_save_headers"):
        client._save_headers = await manager_headers(client, database)  # type: ignore[attr-defined]
    headers: dict[str, str] = client._save_headers  # type: ignore[attr-defined]
    await clear_saved_rows(database)
    model: State = {entity: {} for entity in ENTITIES}
    for _ in range(data.draw(st.integers(1, 4), label="batches")):
        batch = draw_batch(data, model)
        response = await post(client, headers, batch)
        predicted = apply(model, batch)
        event("refused: missing reference" if predicted is None else "saved")
        if predicted is None:
            assert response.status_code == 422, response.text
        else:
            assert response.status_code == 200, response.text
            assert response.json()["data"] == predicted
        assert await read_state(database) == model
