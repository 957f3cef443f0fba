"""Time report downloads: CSV (header, BOM, formula escaping, totals) and XLSX (read back with
openpyxl) hold the same numbers as the JSON, within the caller's scope, on both databases."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from app.connection.database import Database
from app.services.reports.export import escape_cell
from tests.reports.helpers import World, build_world

TIME = "/reports/time"


@pytest.fixture
async def world(client: httpx.AsyncClient, database: Database) -> World:
    return await build_world(client, database)


async def _json(client: httpx.AsyncClient, world: World, **params: Any) -> dict[str, Any]:
    response = await client.get(TIME, headers=world.boss.headers, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _leaves(report: dict[str, Any]) -> dict[tuple[str, str], tuple[float, int]]:
    return {
        (str(node["key"]), str(child["key"])): (child["hours"], child["entries"])
        for node in report["groups"]
        for child in node["groups"]
    }


def _same(got: dict[Any, tuple[float, int]], want: dict[Any, tuple[float, int]]) -> None:
    assert set(got) == set(want)
    for key, (hours, entries) in want.items():
        assert got[key][0] == pytest.approx(hours, abs=1e-6), key
        assert got[key][1] == entries, key


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (1.5, 1.5),
    ],
)
def test_formula_starts_are_escaped(value: Any, escaped: Any) -> None:
    assert escape_cell(value) == escaped


async def test_csv_holds_the_json_numbers_with_escaping_and_a_totals_row(
    client: httpx.AsyncClient, world: World
) -> None:
    params = {"group": "project", "sub_group": "task", "date_from": "2026-11-01"}
    report = await _json(client, world, **params)
    response = await client.get(
        TIME, headers=world.boss.headers, params={**params, "format": "csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="time-report_2026-11-01_end.csv"'
    )
    assert not response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert rows[0] == ["project", "project_label", "task", "task_label", "hours", "entries"]
    body, total = rows[1:-1], rows[-1]
    _same({(row[0], row[2]): (float(row[4]), int(row[5])) for row in body}, _leaves(report))
    assert total[0] == "Total"
    assert float(total[4]) == pytest.approx(report["hours"])
    assert int(total[5]) == report["entries"]
    labels = {row[1] for row in body} | {row[3] for row in body}
    assert "'=App" in labels
    assert "'-Legal" in labels
    assert "=App" not in labels


async def test_csv_can_start_with_a_bom(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        TIME,
        headers=world.boss.headers,
        params={"group": "user", "format": "csv", "bom": "true"},
    )
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbfuser,user_label,hours,entries\r\n")


async def test_xlsx_opens_and_holds_the_json_numbers(
    client: httpx.AsyncClient, world: World
) -> None:
    params: dict[str, Any] = {
        "group": "user",
        "sub_group": "week",
        "rounding": "up",
        "rounding_minutes": 15,
        "date_from": "2026-11-01",
        "date_to": "2026-12-31",
    }
    report = await _json(client, world, **params)
    response = await client.get(
        TIME, headers=world.boss.headers, params={**params, "format": "xlsx"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["content-disposition"] == (
        'attachment; filename="time-report_2026-11-01_2026-12-31.xlsx"'
    )
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    assert sheet is not None
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["user", "user_label", "week", "week_label", "hours", "entries"]
    body, total = rows[1:-1], rows[-1]
    assert all(isinstance(row[4], float | int) and isinstance(row[5], int) for row in body)
    _same(
        {(str(row[0]), str(row[2])): (float(str(row[4])), int(str(row[5]))) for row in body},
        _leaves(report),
    )
    assert total[0] == "Total"
    assert total[4] == pytest.approx(report["hours"])
    assert total[5] == report["entries"]


async def test_a_members_download_holds_only_their_rows(
    client: httpx.AsyncClient, world: World
) -> None:
    for file_format in ("csv", "xlsx"):
        response = await client.get(
            TIME, headers=world.alice.headers, params={"group": "user", "format": file_format}
        )
        assert response.status_code == 200
        if file_format == "csv":
            rows = list(csv.reader(io.StringIO(response.content.decode())))
        else:
            sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
            assert sheet is not None
            rows = [[str(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
        assert [row[0] for row in rows[1:-1]] == [str(world.alice.user_id)]
        mine = sum(log.hours for log in world.visible if log.user == world.alice.user_id)
        assert float(rows[-1][2]) == pytest.approx(float(mine))


async def test_an_empty_download_has_a_header_and_a_zero_total(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(
        TIME,
        headers=world.boss.headers,
        params={"group": "day", "format": "csv", "date_from": "2030-01-01"},
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [["day", "day_label", "hours", "entries"], ["Total", "", "0.0", "0"]]
