"""Strict validation of the batch: every problem listed as {entity, index, field, message},
nothing written, never a 500 (reliability B5, C1, C2, C5, C6, C7)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.connection.database import Database
from tests.save.helpers import SAVE, example_batch, manager_headers, post, snapshot

# Items the cases below break one field of.
USER: dict[str, Any] = {"ace_user_id": 501, "username": "carol"}
PROJECT: dict[str, Any] = {"ace_project_id": 9001, "name": "Website"}
TASK: dict[str, Any] = {"ace_task_id": 70001, "ace_project_id": 9001, "title": "Landing page"}
ASSIGNEE: dict[str, Any] = {"ace_task_id": 70001, "ace_user_id": 501}
LOG: dict[str, Any] = {
    "client_id": "c-1",
    "ace_task_id": 70001,
    "ace_user_id": 501,
    "kind": "time",
    "date_worked": "2026-11-20",
    "hours": 2.5,
}
BASE: dict[str, dict[str, Any]] = {
    "users": USER,
    "projects": PROJECT,
    "tasks": TASK,
    "assignees": ASSIGNEE,
    "task_logs": LOG,
}
INT64_MAX = 2**63 - 1


def batch_with(entity: str, **changes: Any) -> dict[str, list[dict[str, Any]]]:
    """A valid batch of one item per entity, with `changes` applied to `entity`'s item."""
    batch = {name: [dict(item)] for name, item in BASE.items()}
    batch[entity][0].update(changes)
    return batch


async def assert_refused(
    client: httpx.AsyncClient,
    database: Database,
    headers: dict[str, str],
    *,
    content: bytes | None = None,
    batch: Any = None,
    content_type: str = "application/json",
) -> list[dict[str, Any]]:
    """Posts, expects 422 VALIDATION_ERROR with every table unchanged; returns the problems."""
    before = await snapshot(database)
    if content is None:
        response = await client.post(SAVE, json=batch, headers=headers)
    else:
        response = await client.post(
            SAVE, content=content, headers={**headers, "Content-Type": content_type}
        )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert body["message"].startswith("The batch was not saved")
    problems: list[dict[str, Any]] = body["data"]
    assert problems
    for problem in problems:
        assert set(problem) == {"entity", "index", "field", "message"}
    assert await snapshot(database) == before
    return problems


@pytest.fixture
async def headers(client: httpx.AsyncClient, database: Database) -> dict[str, str]:
    return await manager_headers(client, database)


# --- C1, C2: not JSON -------------------------------------------------------------------------


MALFORMED = [
    b'{"tasks": [{"ace_task_id": 1,',  # truncated
    b"{'tasks': []}",  # not JSON
    b"",
    b'{"tasks": [] } trailing',
    b"\xff\xfe{}",
    b'{"tasks": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # nested past any parser's limit
    b'{"tasks": ' + b"[" * 900 + b"]" * 900 + b"}",
]


async def test_malformed_json_is_refused(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    for content in MALFORMED:
        problems = await assert_refused(client, database, headers, content=content)
        assert problems[0]["entity"] is None, content
        assert "JSON" in problems[0]["message"], content


async def test_a_body_that_is_not_an_object_of_lists_is_refused(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    for content in (b"[]", b'"tasks"', b"42", b"null", b'{"tasks": {}}'):
        await assert_refused(client, database, headers, content=content)


async def test_only_json_is_accepted(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    before = await snapshot(database)
    json_body = b'{"projects": [{"ace_project_id": 1, "name": "P"}]}'
    for content_type, content in (
        ("text/plain", json_body),
        ("application/x-www-form-urlencoded", b"projects=1"),
        ("multipart/form-data; boundary=x", b"--x--"),
        ("", json_body),
    ):
        response = await client.post(
            SAVE, content=content, headers={**headers, "Content-Type": content_type}
        )
        assert response.status_code == 415, content_type
        assert response.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert await snapshot(database) == before


async def test_json_with_a_charset_or_a_json_suffix_is_accepted(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.acehub+json"):
        response = await client.post(
            SAVE, content=b"{}", headers={**headers, "Content-Type": content_type}
        )
        assert response.status_code == 200, response.text


# --- C5: field values -------------------------------------------------------------------------

INVALID_FIELDS = [
    ("users", "username", "x" * 101),
    ("users", "username", ""),
    ("users", "email", "e" * 256),
    ("users", "first_name", 7),
    ("projects", "name", "n" * 256),
    ("projects", "number", "9" * 101),
    ("projects", "percent_done", 100.5),
    ("projects", "ace_modified_at", "yesterday"),
    ("tasks", "title", "t" * 501),
    ("tasks", "number", "n" * 51),
    ("tasks", "status_type", "doing"),
    ("tasks", "estimated_hours", -1),
    ("tasks", "estimated_hours", "6.5"),
    ("tasks", "actual_hours", True),
    ("tasks", "expected_end", "2026-02-30"),
    ("tasks", "expected_start", "20/11/2026"),
    ("tasks", "expected_start", "2026-11-20T10:00:00"),
    ("tasks", "ace_task_id", INT64_MAX + 1),
    ("tasks", "ace_task_id", 0),
    ("tasks", "ace_task_id", -5),
    ("tasks", "ace_task_id", "70001"),
    ("tasks", "ace_task_id", 70001.0),
    ("tasks", "ace_project_id", 10**30),
    ("assignees", "is_assignee", "yes"),
    ("assignees", "is_reviewer", 1),
    ("assignees", "assigned_hours", -0.5),
    ("task_logs", "kind", "holiday"),
    ("task_logs", "hours", 24.5),
    ("task_logs", "hours", -2),
    ("task_logs", "date_worked", "2026-13-01"),
    ("task_logs", "date_worked", None),
    ("task_logs", "client_id", "c" * 101),
    ("task_logs", "comment", ["not", "text"]),
]


def path_of(problems: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    return [(p["entity"], p["index"], p["field"]) for p in problems]


async def test_invalid_field_values_are_refused_with_their_path(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    for entity, field, value in INVALID_FIELDS:
        batch = batch_with(entity, **{field: value})
        problems = await assert_refused(client, database, headers, batch=batch)
        assert path_of(problems) == [(entity, 0, field)], (entity, field, value, problems)


NON_FINITE = [
    ("tasks", "estimated_hours", "NaN"),
    ("tasks", "actual_hours", "Infinity"),
    ("assignees", "assigned_hours", "-Infinity"),
    ("task_logs", "hours", "NaN"),
    ("projects", "percent_done", "1e400"),
]


async def test_non_finite_numbers_are_refused(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    """JSON has no NaN or Infinity, but lenient encoders write them (and 1e400 overflows)."""
    marker = 123456.25
    for entity, field, literal in NON_FINITE:
        content = httpx.Request(
            "POST", "http://x", json=batch_with(entity, **{field: marker})
        ).content.replace(str(marker).encode(), literal.encode())
        problems = await assert_refused(client, database, headers, content=content)
        assert path_of(problems) == [(entity, 0, field)], (literal, problems)
        assert "finite" in problems[0]["message"]


CROSS_FIELD: list[tuple[str, dict[str, Any], str]] = [
    ("tasks", {"expected_start": "2026-11-20", "expected_end": "2026-11-19"}, "expected_end"),
    ("tasks", {"actual_start": "2026-11-20", "actual_end": "2026-01-01"}, "actual_end"),
    ("task_logs", {"ace_timesheet_line_id": 5}, "client_id"),  # both keys
    ("task_logs", {"client_id": None}, "client_id"),  # neither key
    ("task_logs", {"hours": None}, "hours"),  # a time log without hours
]


async def test_cross_field_rules_name_their_field(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    for entity, changes, field in CROSS_FIELD:
        batch = batch_with(entity, **changes)
        problems = await assert_refused(client, database, headers, batch=batch)
        assert path_of(problems) == [(entity, 0, field)], (changes, problems)


async def test_equal_start_and_end_and_a_note_without_hours_are_fine(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    batch = batch_with("tasks", expected_start="2026-11-20", expected_end="2026-11-20")
    batch["task_logs"][0].update(kind="note", hours=None, comment="call the client")
    response = await post(client, headers, batch)
    assert response.status_code == 200, response.text


async def test_timestamps_without_an_offset_are_taken_as_utc(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    batch = batch_with("tasks", ace_modified_at="2026-11-20T10:00:00")
    batch["projects"][0]["ace_modified_at"] = "2026-11-20T12:00:00+02:00"
    assert (await post(client, headers, batch)).status_code == 200
    again = await post(client, headers, batch)
    assert again.json()["data"]["tasks"]["unchanged"] == 1
    assert again.json()["data"]["projects"]["unchanged"] == 1
    out_of_range = batch_with("projects", ace_modified_at="0001-01-01T00:00:00+01:00")
    response = await post(client, headers, out_of_range)
    assert response.status_code == 422
    assert response.json()["data"][0]["field"] == "ace_modified_at"


# --- C6: NUL and lone surrogates ------------------------------------------------------------------


async def test_nul_characters_are_refused(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    for entity, field in (
        ("users", "username"),
        ("projects", "description"),
        ("tasks", "title"),
        ("task_logs", "comment"),
    ):
        batch = batch_with(entity, **{field: "bad\x00value"})
        problems = await assert_refused(client, database, headers, batch=batch)
        assert path_of(problems) == [(entity, 0, field)], problems
        assert "NUL" in problems[0]["message"]


async def test_lone_surrogates_are_refused_naming_the_field(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    template = httpx.Request("POST", "http://x", json=batch_with("tasks", title="MARK")).content
    for escape in (b"\\ud800", b"\\udfff", b"a\\ud83dz", b"\\ude00\\ud83d"):
        content = template.replace(b"MARK", escape)
        problems = await assert_refused(client, database, headers, content=content)
        assert path_of(problems) == [("tasks", 0, "title")], (escape, problems)
        assert "surrogate" in problems[0]["message"]


async def test_a_surrogate_pair_is_a_valid_character(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    content = httpx.Request("POST", "http://x", json=batch_with("tasks", title="MARK")).content
    content = content.replace(b"MARK", b"launch \\ud83d\\ude80")
    response = await client.post(
        SAVE, content=content, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


# --- B5: server-owned fields --------------------------------------------------------------------

SERVER_OWNED = [
    ("users", "id", 1),
    ("users", "guid", "5f0e7a1c-0000-4000-8000-000000000000"),
    ("users", "role", "admin"),
    ("users", "is_active", True),
    ("users", "is_disabled", False),
    ("users", "auth_source", "local"),
    ("users", "password_hash", "x"),
    ("users", "account_id", "other"),
    ("users", "created_at", "2026-01-01T00:00:00Z"),
    ("projects", "id", 5),
    ("projects", "account_id", "other"),
    ("projects", "synced_at", "2026-01-01T00:00:00Z"),
    ("projects", "deleted_at", None),
    ("tasks", "project_id", 1),
    ("tasks", "updated_at", "2026-01-01T00:00:00Z"),
    ("assignees", "task_id", 1),
    ("assignees", "user_id", 1),
    ("task_logs", "source", "ace"),
    ("task_logs", "task_id", 1),
    ("task_logs", "owner_id", 1),
]


async def test_server_owned_fields_cannot_be_set(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    for entity, field, value in SERVER_OWNED:
        batch = batch_with(entity, **{field: value})
        problems = await assert_refused(client, database, headers, batch=batch)
        assert problems == [
            {
                "entity": entity,
                "index": 0,
                "field": field,
                "message": "is not a field that can be set here",
            }
        ], (entity, field)


async def test_unknown_top_level_lists_are_refused(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    problems = await assert_refused(
        client, database, headers, batch={**example_batch(), "sync_jobs": []}
    )
    assert problems == [
        {
            "entity": None,
            "index": None,
            "field": "sync_jobs",
            "message": "is not a field that can be set here",
        }
    ]


# --- every problem at once -----------------------------------------------------------------


async def test_every_problem_is_listed_with_its_index(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    batch = example_batch()
    batch["tasks"] = [
        dict(TASK, ace_task_id=1),
        dict(TASK, ace_task_id=2, title=""),
        dict(TASK, ace_task_id=3),
        dict(TASK, ace_task_id=4, estimated_hours=-1, status_type="nope"),
    ]
    batch["assignees"].append({"ace_task_id": 1, "ace_user_id": "501"})
    problems = await assert_refused(client, database, headers, batch=batch)
    assert sorted((p["entity"], p["index"], p["field"]) for p in problems) == [
        ("assignees", 1, "ace_user_id"),
        ("tasks", 1, "title"),
        ("tasks", 3, "estimated_hours"),
        ("tasks", 3, "status_type"),
    ]


async def test_item_not_an_object(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    problems = await assert_refused(client, database, headers, batch={"tasks": [TASK, 5]})
    assert [(p["entity"], p["index"], p["field"]) for p in problems] == [("tasks", 1, None)]


async def test_missing_required_fields(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str]
) -> None:
    problems = await assert_refused(client, database, headers, batch={"tasks": [{"title": "x"}]})
    assert sorted(p["field"] for p in problems) == ["ace_project_id", "ace_task_id"]
