"""Token decoding refuses every forged, stale or misused token (reliability A2-A10)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from app.auth.jwt_handler import create_access_token, create_refresh_token, decode_token
from app.config import Settings
from app.errors import AppError, ErrorCode
from tests.conftest import TEST_SECRET, make_settings


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return make_settings(f"sqlite+aiosqlite:///{tmp_path}/jwt.db")


def _claims(settings: Settings, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "0b7c6f0e-8f43-4c5e-9a55-1c2a1d1e7f00",
        "role": "member",
        "type": "access",
        "jti": "abc",
        "iat": now,
        "exp": now + 600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sid": "0b7c6f0e-8f43-4c5e-9a55-1c2a1d1e7f01",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: str = TEST_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _expect(code: ErrorCode, token: str, settings: Settings, expected: str = "access") -> None:
    with pytest.raises(AppError) as caught:
        decode_token(token, settings=settings, expected=expected)  # type: ignore[arg-type]
    assert caught.value.code is code
    assert caught.value.status_code == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_round_trip(settings: Settings) -> None:
    issued = create_access_token(settings=settings, sub="s", role="admin", sid="f")
    claims = decode_token(issued.token, settings=settings, expected="access")
    assert (claims.sub, claims.role, claims.type, claims.sid) == ("s", "admin", "access", "f")


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c", "!!!.###.$$$", _b64({"alg": "HS256"}) + ".e30.", "x" * 500]
)
def test_garbage_is_invalid(settings: Settings, token: str) -> None:
    _expect(ErrorCode.TOKEN_INVALID, token, settings)


def test_edited_payload_keeps_old_signature_is_invalid(settings: Settings) -> None:
    header, _, signature = _sign(_claims(settings)).split(".")
    forged = ".".join([header, _b64(_claims(settings, role="admin", sub="other")), signature])
    _expect(ErrorCode.TOKEN_INVALID, forged, settings)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_unsigned_tokens_are_invalid(settings: Settings, alg: str) -> None:
    unsigned = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(_claims(settings))}."
    _expect(ErrorCode.TOKEN_INVALID, unsigned, settings)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_algorithms_are_refused(settings: Settings, alg: str) -> None:
    _expect(ErrorCode.TOKEN_INVALID, _sign(_claims(settings), alg=alg), settings)


def test_wrong_key_is_invalid(settings: Settings) -> None:
    _expect(ErrorCode.TOKEN_INVALID, _sign(_claims(settings), key="k" * 64), settings)


def test_expired_beyond_leeway(settings: Settings) -> None:
    past = int(time.time()) - 60
    _expect(ErrorCode.TOKEN_EXPIRED, _sign(_claims(settings, exp=past)), settings)


@pytest.mark.parametrize("missing", ["exp", "sub", "type", "jti", "iat", "iss", "aud", "role"])
def test_missing_claims_are_invalid(settings: Settings, missing: str) -> None:
    claims = _claims(settings)
    del claims[missing]
    _expect(ErrorCode.TOKEN_INVALID, _sign(claims), settings)


def test_access_token_without_session_id_is_invalid(settings: Settings) -> None:
    _expect(ErrorCode.TOKEN_INVALID, _sign(_claims(settings, sid=None)), settings)


@pytest.mark.parametrize("field", ["iat", "nbf"])
def test_issued_or_valid_in_the_future_is_invalid(settings: Settings, field: str) -> None:
    future = int(time.time()) + 3600
    _expect(ErrorCode.TOKEN_INVALID, _sign(_claims(settings, **{field: future})), settings)


def test_refresh_token_as_access_is_wrong_type(settings: Settings) -> None:
    refresh = create_refresh_token(settings=settings, sub="s", role="member")
    _expect(ErrorCode.TOKEN_WRONG_TYPE, refresh.token, settings, expected="access")


def test_access_token_as_refresh_is_wrong_type(settings: Settings) -> None:
    access = create_access_token(settings=settings, sub="s", role="member", sid="f")
    _expect(ErrorCode.TOKEN_WRONG_TYPE, access.token, settings, expected="refresh")


@pytest.mark.parametrize("token_type", ["", "id", "ACCESS", None])
def test_unknown_or_missing_type_is_invalid(settings: Settings, token_type: str | None) -> None:
    _expect(ErrorCode.TOKEN_INVALID, _sign(_claims(settings, type=token_type)), settings)


def test_type_claim_must_match_its_audience(settings: Settings) -> None:
    # An access-audience token that claims to be a refresh token is a forgery attempt.
    claims = _claims(settings, type="refresh")
    _expect(ErrorCode.TOKEN_INVALID, _sign(claims), settings, expected="refresh")


@pytest.mark.parametrize(
    "override", [{"aud": "another-service"}, {"iss": "someone-else"}, {"iss": "aceh"}]
)
def test_wrong_audience_or_issuer_is_invalid(settings: Settings, override: dict[str, str]) -> None:
    _expect(ErrorCode.TOKEN_INVALID, _sign(_claims(settings, **override)), settings)
