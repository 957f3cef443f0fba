"""The response envelopes every route answers with (the seed's `dto/response.py`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class ErrorCode(StrEnum):
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_ACCOUNT_ID = "INVALID_ACCOUNT_ID"
    ACCOUNT_INACTIVE = "ACCOUNT_INACTIVE"
    TOKEN_MISSING = "TOKEN_MISSING"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_WRONG_TYPE = "TOKEN_WRONG_TYPE"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    ACE_SESSION_EXPIRED = "ACE_SESSION_EXPIRED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    ACE_BAD_RESPONSE = "ACE_BAD_RESPONSE"
    ACE_UNAVAILABLE = "ACE_UNAVAILABLE"
    ACE_TIMEOUT = "ACE_TIMEOUT"
    DB_UNAVAILABLE = "DB_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class SuccessResponse(BaseModel, Generic[T]):
    """`{"success": true, "message": ..., "data": <typed>, "error": null}`."""

    success: bool = True
    message: str = "OK"
    data: T
    error: str | None = None


class ErrorResponse(BaseModel):
    """`{"error": ..., "error_code": ..., "message": ..., "data": ...}`."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "error": "Invalid Credentials",
                "error_code": "INVALID_CREDENTIALS",
                "message": "The provided username or password is incorrect",
                "data": None,
            }
        }
    )

    error: str = Field(description="Short human title of the error")
    error_code: ErrorCode
    message: str = Field(description="What went wrong and, where useful, what to do")
    data: Any | None = None
