"""Base classes of the request and response models."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no legitimate input contains it.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


SafeStr = Annotated[str, AfterValidator(_no_nul)]


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
