"""OpenAPI declarations of the error statuses a route can return (all as `ErrorResponse`)."""

from __future__ import annotations

from typing import Any

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
    504: "ACE took too long",
}

# Statuses of a route that calls ACE with the caller's session.
ACE_CALL_ERRORS = (401, 403, 502, 503, 504)

# Statuses any route can return: bad input, oversized body, unexpected error, database down.
COMMON_ERRORS = (413, 422, 500, 503)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for the given statuses plus the common ones."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in sorted({*statuses, *COMMON_ERRORS})
    }
