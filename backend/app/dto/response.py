"""The response envelopes every route answers with (the seed's `dto/response.py`)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from app.errors import ErrorCode

T = TypeVar("T")


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
