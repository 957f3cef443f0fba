"""The API docs work in a real browser with nothing but acehub to talk to: Swagger UI shows
every operation and can call the API with a token; ReDoc renders."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from app.connection.database import Database
from tests.factories import create_user, sign_in_local
from tests.web.conftest import LiveServer, save_screenshot

_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# Swagger UI and ReDoc fetch and render a large schema; allow for a slow CI machine.
TIMEOUT_MS = 20_000
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"

# A browser run is slow and the pages do not depend on the database: once, on SQLite.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _operation_count(schema: dict[str, Any]) -> int:
    return sum(1 for item in schema["paths"].values() for method in item if method in _METHODS)


async def test_swagger_ui_shows_every_operation_and_calls_the_api_offline(
    live_server: LiveServer,
    database: Database,
    page: Page,
    blocked_requests: list[str],
    refused_by_policy: list[str],
    page_errors: list[str],
    request: pytest.FixtureRequest,
) -> None:
    await create_user(database, username="docs-reader")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        signed_in = await sign_in_local(http, account_id="acme", username="docs-reader")
        # Over HTTP, not `app.openapi()`: FastAPI builds the schema unlocked, and the server
        # thread may be building it at the same time.
        schema = (await http.get("/openapi.json")).json()

    await page.goto(f"{live_server.url}/docs")
    operations = page.locator(".opblock")
    expected = _operation_count(schema)
    assert expected >= 20  # the schema is the app's, not an empty one
    await expect(operations).to_have_count(expected, timeout=TIMEOUT_MS)
    backend = request.node.callspec.id
    await save_screenshot(page, f"docs-1440-{backend}")

    await page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".dialog-ux")
    await dialog.locator("input").fill(signed_in.access_token)
    await dialog.locator(".auth-btn-wrapper .authorize").click()
    await dialog.locator(".btn-done").click()
    await expect(dialog).to_have_count(0)

    me = page.locator("#operations-auth-me_auth_me_get")
    await me.locator(".opblock-summary").click()
    await me.locator(".try-out__btn").click()
    await me.locator(".execute").click()
    status = me.locator(".live-responses-table .response .response-col_status")
    await expect(status).to_have_text("200", timeout=TIMEOUT_MS)
    await expect(me.locator(".live-responses-table")).to_contain_text("docs-reader")
    await me.scroll_into_view_if_needed()
    await save_screenshot(page, f"docs-1440-try-it-out-{backend}")

    assert blocked_requests == []
    assert refused_by_policy == []
    assert page_errors == []


async def test_redoc_renders_offline(
    live_server: LiveServer,
    page: Page,
    blocked_requests: list[str],
    refused_by_policy: list[str],
    page_errors: list[str],
) -> None:
    await page.goto(f"{live_server.url}/redoc")
    # An operation's summary in the side menu and a heading in the content: ReDoc fetched
    # the schema and rendered it.
    await expect(page.locator("[data-role='redoc-summary']").first).to_be_visible(
        timeout=TIMEOUT_MS
    )
    await expect(page.locator(".api-content h2").first).to_be_visible(timeout=TIMEOUT_MS)
    assert blocked_requests == []
    # ReDoc's footer logo comes from its CDN in every build; the page's policy refuses it
    # in the browser. Anything else refused would be a part of the page that is broken.
    assert all(REDOC_LOGO in message for message in refused_by_policy), refused_by_policy
    assert page_errors == []
