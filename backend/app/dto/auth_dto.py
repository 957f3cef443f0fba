from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.dto.base import InputModel, OutputModel


class RefreshRequest(InputModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class TokenPair(OutputModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class LogoutResult(OutputModel):
    revoked_sessions: int
