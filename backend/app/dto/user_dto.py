"""Sign-in requests and user representations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from app.dto.base import InputModel, OutputModel, SafeStr, canonical_account_id
from app.models.enums import AuthSource, RoleEnum


class UserRequest(InputModel):
    """Credentials of an ACE user (`POST /user/login`) or a local account (`POST /auth/login`)."""

    account_id: Annotated[SafeStr, AfterValidator(canonical_account_id)] = Field(
        min_length=1, max_length=50, examples=["demo"]
    )
    username: SafeStr = Field(min_length=1, max_length=100, examples=["alice"])
    password: SafeStr = Field(min_length=1, max_length=128, examples=["demo-password"])


class LoginData(OutputModel):
    """What a successful sign-in returns (`data` of the envelope)."""

    guid: uuid.UUID = Field(description="The user's public id (the token subject)")
    user_id: int = Field(description="acehub's user id, as used by GET /tasks/{user_id}")
    ace_user_id: int | None
    username: str
    account_id: str
    role: RoleEnum
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class UserRead(OutputModel):
    id: int
    guid: uuid.UUID
    account_id: str
    ace_user_id: int | None
    username: str
    first_name: str | None
    last_name: str | None
    email: str | None
    role: RoleEnum
    auth_source: AuthSource
    is_active: bool
    is_disabled: bool
    last_login_at: datetime | None


class RoleUpdate(InputModel):
    role: RoleEnum


class UserList(OutputModel):
    items: list[UserRead]
    total: int
    limit: int
    offset: int
