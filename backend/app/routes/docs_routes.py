"""The API docs (`/docs`, `/redoc`), served with the vendored Swagger UI and ReDoc files under
`/static/vendor/` instead of FastAPI's CDN defaults, so they work with no internet access and
the browser asks no third party for anything.

Each page carries its own Content-Security-Policy: only acehub's origin, plus what the two UIs
need (inline styles, `data:` images, a `blob:` worker for ReDoc's search, and for Swagger UI
the hash of FastAPI's inline start-up script). ReDoc 2 always renders its footer logo from
cdn.redoc.ly; the policy stops that request in the browser."""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

SWAGGER_UI = "/static/vendor/swagger-ui-dist"
REDOC = "/static/vendor/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# Swagger UI's default validator badge is an image from validator.swagger.io.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _with_policy(response: HTMLResponse) -> HTMLResponse:
    scripts = ["'self'"] + [
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(response.body).decode())
    ]
    response.headers["Content-Security-Policy"] = "; ".join(
        (
            "default-src 'self'",
            f"script-src {' '.join(scripts)}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        )
    )
    return response


def _root_path(request: Request) -> str:
    # Behind a proxy that mounts the app under a prefix, as FastAPI's own docs routes do.
    root_path: str = request.scope.get("root_path", "").rstrip("/")
    return root_path


def _openapi_url(request: Request) -> str:
    return _root_path(request) + (request.app.openapi_url or "/openapi.json")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root_path(request)
    html = get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{root}{SWAGGER_UI}/favicon-32x32.png",
        oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
        init_oauth=request.app.swagger_ui_init_oauth,
        swagger_ui_parameters={
            **SWAGGER_UI_PARAMETERS,
            **(request.app.swagger_ui_parameters or {}),
        },
    )
    return _with_policy(html)


@router.get(OAUTH2_REDIRECT_URL)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = _root_path(request)
    html = get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{REDOC}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{SWAGGER_UI}/favicon-32x32.png",
        with_google_fonts=False,  # fonts.googleapis.com; ReDoc falls back to local fonts
    )
    return _with_policy(html)
