"""OpenAPI declarations: the error statuses a route can return (all as `ErrorResponse`), the
links of the sign-in answers, and the request bodies routes declare by hand."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.dto.response import ErrorResponse

_DESCRIPTIONS = {
    401: "Not signed in, or the token is missing, invalid, expired or revoked",
    403: "Signed in, but not allowed",
    404: "Not found, or not visible to the caller",
    405: "Method not allowed",
    409: "Conflicts with the stored state",
    413: "Body or batch over its cap",
    422: "The request body or parameters are not valid",
    429: "Too many attempts; see Retry-After",
    500: "Unexpected error (the body carries a request id)",
    502: "ACE answered something unusable",
    503: "A dependency (database, Redis or ACE) is unavailable",
    504: "ACE, or a report's query, took too long",
}

# Statuses of a route that calls ACE with the caller's session.
ACE_CALL_ERRORS = (401, 403, 502, 503, 504)

# Statuses any route can return: bad input, oversized body, unexpected error, database down.
COMMON_ERRORS = (413, 422, 500, 503)


# OpenAPI links of a sign-in's answer (its tokens and user id feed the next calls), read by
# clients and by the stateful fuzz tests: sign in -> refresh, sign in -> the user's tasks.
_REFRESH = {"operationRef": "#/paths/~1auth~1refresh/patch"}
_BEARER = "Bearer {$response.body#/data/access_token}"
SIGN_IN_LINKS: dict[str, Any] = {
    "Refresh": {
        **_REFRESH,
        "requestBody": {"refresh_token": "$response.body#/data/refresh_token"},
        "description": "Trade the refresh token for a new pair",
    },
    "UserTasks": {
        "operationRef": "#/paths/~1tasks~1{user_id}/get",
        "parameters": {
            "path.user_id": "$response.body#/data/user_id",
            "header.Authorization": _BEARER,
        },
        "description": "The signed-in user's tasks, with the new access token",
    },
}
# A refresh's answer: refresh again (rotation), or use the new access token.
REFRESH_LINKS: dict[str, Any] = {
    "RefreshAgain": {
        **_REFRESH,
        "requestBody": {"refresh_token": "$response.body#/data/refresh_token"},
        "description": "Rotate again with the new refresh token",
    },
    "Me": {
        "operationRef": "#/paths/~1auth~1me/get",
        "parameters": {"header.Authorization": _BEARER},
        "description": "The caller, with the new access token",
    },
}


def with_links(
    responses: dict[int | str, dict[str, Any]], links: dict[str, Any], status: int = 200
) -> dict[int | str, dict[str, Any]]:
    """`responses` with OpenAPI `links` on the success status (FastAPI merges the entry into
    the response it generates from `response_model`)."""
    return {**responses, status: {"links": links}}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for the given statuses plus the common ones."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in sorted({*statuses, *COMMON_ERRORS})
    }


def keep_declared_request_bodies(app: FastAPI) -> None:
    """Publish the request bodies routes declare in `openapi_extra` exactly as written.

    FastAPI passes an operation without parameters through its OpenAPI models, which hold
    `maximum` and `minimum` as floats: the batch save's id bound 2^63 - 1 came out as 2^63,
    and every integer bound as a float, so a client generating from the schema sent ids the
    strict batch refuses (`700.0`, 2^63). The declared body is put back after generation.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # FastAPI keeps it as app.openapi_schema: patched once
        for context in iter_route_contexts(app.routes):  # with the routers' prefixes
            route = context.original_route
            if not isinstance(route, APIRoute) or not route.openapi_extra:
                continue
            body = route.openapi_extra.get("requestBody")
            if body and context.path_format:
                for method in context.methods or ():
                    operation = schema["paths"][context.path_format][method.lower()]
                    operation["requestBody"] = copy.deepcopy(body)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
