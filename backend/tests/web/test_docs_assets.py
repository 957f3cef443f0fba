"""The docs pages load their scripts and styles from acehub's `/static/`, never from a CDN, and
every file they name is there (no browser needed)."""

from __future__ import annotations

import re

import httpx
import pytest

_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
_CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_reference_only_vendored_assets(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert "http://" not in response.text
    assert "https://" not in response.text
    references = _REFERENCES.findall(response.text)
    assert any(ref.endswith(".js") for ref in references), references
    for ref in references:
        assert ref.startswith("/static/vendor/"), ref
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
        suffix = ref[ref.rindex(".") :]
        assert asset.headers["content-type"].startswith(_CONTENT_TYPES[suffix]), ref


async def test_docs_pages_carry_a_policy_that_keeps_the_browser_on_acehub(
    client: httpx.AsyncClient,
) -> None:
    for page in ("/docs", "/redoc"):
        policy = (await client.get(page)).headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "img-src 'self' data:" in policy
        assert "unsafe-eval" not in policy
        # Inline scripts run only by their hash (Swagger UI's start-up script).
        script_src = next(part for part in policy.split("; ") if part.startswith("script-src"))
        assert "'unsafe-inline'" not in script_src


async def test_swagger_ui_oauth2_redirect_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "oauth2" in response.text


async def test_docs_routes_stay_out_of_the_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(paths)
