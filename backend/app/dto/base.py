"""Base classes of the request and response models."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no legitimate input contains it.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


SafeStr = Annotated[str, AfterValidator(_no_nul)]

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    # pydantic's `date` also reads a number, or a numeric string, as a Unix timestamp:
    # `date_to=0` was 1970-01-01 and `date_to=86400` the day after. A day is YYYY-MM-DD.
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        return value
    raise PydanticCustomError("date_format", "a day as YYYY-MM-DD")


Day = Annotated[date, BeforeValidator(_iso_day)]
"""A day in a request (query or body): `YYYY-MM-DD` only."""


def canonical_account_id(value: str) -> str:
    """ACE account ids (sub-domains) are case-insensitive: `Demo ` and `demo` are one account."""
    canonical = value.strip().lower()
    if not canonical:
        raise ValueError("must not be blank")
    return canonical


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused, so nothing server-owned can be set."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
