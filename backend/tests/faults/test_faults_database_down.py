"""The database down at request time: 503 DB_UNAVAILABLE (write and read paths), ready 503,
live 200; once it is back the next requests succeed, with no restart of the app."""

from __future__ import annotations

import pytest

from tests.factories import local_user_signed_in
from tests.faults.conftest import FaultAppFactory

pytestmark = pytest.mark.postgres_only


async def test_down_then_back(fault_app: FaultAppFactory) -> None:
    async with fault_app() as f:
        user = await local_user_signed_in(f.client, f.database, username="down")
        routes = ["/auth/me", f"/tasks/{user.user_id}", "/reports/time?group=user"]
        for path in routes:
            assert (await f.client.get(path, headers=user.headers)).status_code == 200
        f.server.stop()
        try:
            for path in routes:
                down = await f.client.get(path, headers=user.headers)
                assert down.status_code == 503, (path, down.text)
                assert down.json()["error_code"] == "DB_UNAVAILABLE"
                assert down.headers["retry-after"]
                assert "127.0.0.1" not in down.text
                assert str(f.server.port) not in down.text
            ready = await f.client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["error_code"] == "DB_UNAVAILABLE"
            assert (await f.client.get("/health/live")).status_code == 200
        finally:
            f.server.start()
        assert (await f.client.get("/health/ready")).status_code == 200
        for path in routes:
            back = await f.client.get(path, headers=user.headers)
            assert back.status_code == 200, (path, back.text)
