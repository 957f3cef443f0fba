"""Steps of the dashboard page tests: sign in through the form, read tokens off the page."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


async def sign_in_form(
    client: httpx.AsyncClient,
    username: str,
    *,
    password: str = "demo-password",
    account_id: str = "demo",
    local: bool = False,
) -> httpx.Response:
    """Open the sign-in page and post its form (the client keeps the cookies)."""
    page = await client.get("/dashboard/login")
    assert page.status_code == 200, page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "account_id": account_id,
        "username": username,
        "password": password,
    }
    if local:
        form["local"] = "1"
    return await client.post("/dashboard/login", data=form)


async def signed_in(client: httpx.AsyncClient, username: str, **options: object) -> str:
    """Sign in; the dashboard's HTML."""
    response = await sign_in_form(client, username, **options)  # type: ignore[arg-type]
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard"
    page = await client.get("/dashboard")
    assert page.status_code == 200, page.text
    return page.text
