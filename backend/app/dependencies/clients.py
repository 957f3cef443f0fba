"""Shared clients made by the lifespan (overridable in tests through `app.state`).

The providers are `async def` so FastAPI calls them inline, not through its thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.ace.client import AceClient
from app.auth.rate_limiter import AuthRateLimiter
from app.auth.security import GuidCipher
from app.config import Settings
from app.connection.database import Database


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


async def get_ace_client(request: Request) -> AceClient:
    client: AceClient = request.app.state.ace
    return client


async def get_guid_cipher(request: Request) -> GuidCipher:
    cipher: GuidCipher = request.app.state.guid_cipher
    return cipher


async def get_rate_limiter(request: Request) -> AuthRateLimiter:
    limiter: AuthRateLimiter = request.app.state.rate_limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]
"""The process's `Database`, for work that runs in transactions of its own (a fetch from ACE
writing page by page, planner statistics, the readiness probe), not in the request's."""
AceClientDep = Annotated[AceClient, Depends(get_ace_client)]
GuidCipherDep = Annotated[GuidCipher, Depends(get_guid_cipher)]
RateLimiterDep = Annotated[AuthRateLimiter, Depends(get_rate_limiter)]
